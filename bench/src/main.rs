//! `asobi-bench`: the load generator. It drives many simulated clients over WebSocket
//! (JSON) or QUIC (binary) in one process, only against loopback addresses, and prints one
//! Markdown table row of figures per scenario: server CPU and memory (from the server
//! process's own accounting), messages and bytes per second each way, bytes per player per
//! state update, latency percentiles, the server's tick percentiles, failures and drops.
//!
//! ```text
//! asobi-bench --server-pid 1234 rooms --clients 2000
//! asobi-bench --transport quic --pin <sha256> world --players 5000
//! ```
//!
//! `bench/run` builds a release server, starts it on `bench/game`, and runs the scenarios.

mod conn;
mod error;
mod net;
mod probe;
mod report;
mod scenarios;
mod setup;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use conn::{Dialer, Transport};
use error::BenchError;
use scenarios::Ctx;

/// Load generator for asobi-server. Options may come before or after the scenario.
#[derive(Debug, Parser)]
#[command(name = "asobi-bench", version, about)]
struct Cli {
    /// The server's HTTP/WebSocket address (loopback only).
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    http: String,
    /// The server's QUIC address (loopback only).
    #[arg(long, global = true, default_value = "127.0.0.1:8443")]
    quic: String,
    /// SHA-256 fingerprint of the server's QUIC certificate (printed at start-up).
    #[arg(long, global = true)]
    pin: Option<String>,
    /// The server's process id, for CPU and memory figures.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Realtime transport of the simulated clients.
    #[arg(long, global = true, value_enum, default_value_t = Transport::Ws)]
    transport: Transport,
    /// Measured window in seconds [default: per scenario: 30, idle 300].
    #[arg(long, global = true)]
    duration: Option<u64>,
    /// Seconds between all clients running and the measured window.
    #[arg(long, global = true, default_value_t = 5)]
    warmup: u64,
    /// Source addresses 127.0.0.2… to spread connections over.
    #[arg(long, global = true, default_value_t = 8)]
    sources: usize,
    /// UDP sockets per source address for QUIC connections.
    #[arg(long, global = true, default_value_t = 2)]
    quic_sockets: usize,
    /// Clients set up concurrently [default: 256 over WebSocket, 64 over QUIC, whose
    /// handshakes cost both processes more].
    #[arg(long, global = true)]
    setup_concurrency: Option<usize>,
    /// Seconds allowed for setting clients up; the run goes on with those that made it and
    /// counts the rest as failed.
    #[arg(long, global = true, default_value_t = 300)]
    setup_timeout: u64,
    /// Append the row(s) to this Markdown file (header written when new).
    #[arg(long, global = true)]
    table: Option<PathBuf>,
    /// Exit non-zero unless every client ran to the end without failures, drops or error
    /// frames (the smoke test's check).
    #[arg(long, global = true)]
    strict: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Clients in matches of K players sending positions.
    Rooms(scenarios::rooms::Rooms),
    /// Many authenticated sessions held with heartbeats.
    Idle(scenarios::idle::Idle),
    /// Heartbeat round trips at many connections.
    Heartbeat(scenarios::heartbeat::Heartbeat),
    /// Many players moving in one world.
    World(scenarios::world::World),
    /// Register and login at a concurrency.
    Rest(scenarios::rest::Rest),
}

async fn run(cli: Cli) -> Result<(), BenchError> {
    let http = net::loopback(&cli.http)?;
    let quic = net::loopback(&cli.quic)?;
    let fds = net::raise_fd_limit();
    let pin = cli
        .pin
        .as_deref()
        .map(asobi_client::Fingerprint::parse)
        .transpose()
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let dialer = Dialer::new(http, quic, pin.as_ref(), cli.sources, cli.quic_sockets)?;
    let probe = probe::Probe::new(cli.server_pid, &dialer.http_url());
    eprintln!(
        "asobi-bench: {http} (QUIC {quic}), {} wire, fd limit {fds}, server pid {}",
        cli.transport.name(),
        cli.server_pid
            .map_or_else(|| "unknown (no CPU/RSS figures)".into(), |p| p.to_string()),
    );
    let ctx = Ctx {
        dialer: Arc::new(dialer),
        probe,
        transport: cli.transport,
        warmup: Duration::from_secs(cli.warmup),
        duration: cli.duration.map(Duration::from_secs),
        setup: setup::Setup {
            concurrency: cli.setup_concurrency.unwrap_or(match cli.transport {
                Transport::Ws => 256,
                Transport::Quic => 64,
            }),
            timeout: Duration::from_secs(cli.setup_timeout),
        },
        run: setup::run_id(),
    };
    let rows = match &cli.scenario {
        Scenario::Rooms(a) => vec![scenarios::rooms::run(&ctx, a).await?],
        Scenario::Idle(a) => vec![scenarios::idle::run(&ctx, a).await?],
        Scenario::Heartbeat(a) => vec![scenarios::heartbeat::run(&ctx, a).await?],
        Scenario::World(a) => vec![scenarios::world::run(&ctx, a).await?],
        Scenario::Rest(a) => scenarios::rest::run(&ctx, a).await?,
    };
    for row in &rows {
        row.emit(cli.table.as_deref())
            .map_err(|e| BenchError::Config(format!("writing the table: {e}")))?;
    }
    if cli.strict {
        for row in &rows {
            if let Some(problem) = row.shortfall() {
                return Err(BenchError::Incomplete(format!(
                    "{}: {problem}",
                    row.scenario
                )));
            }
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("asobi-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asobi-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
