//! **heartbeat**: C connections, each sending `session.heartbeat` at R per second (open
//! loop, so a slow server shows as latency, not as a lower offered rate). Figures: round
//! trips per second and the round-trip latency.
//!
//! The same client loop serves **idle**, which holds many sessions with a heartbeat every
//! few seconds; see [`hold`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use asobi_core::protocol::{ClientMessage, ServerMessage};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Ctx, Pending, Shared, finish, latency, stop_signal, ticker};
use crate::conn::{Conn, Incoming};
use crate::error::BenchError;
use crate::report::Row;
use crate::setup::{in_parallel, session};
use crate::stats::Counters;

/// Settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Heartbeat {
    /// Connections.
    #[arg(long, default_value_t = 3500)]
    pub connections: usize,
    /// Heartbeats per second per connection (the server allows 60 frames/s per connection).
    #[arg(long, default_value_t = 24.0)]
    pub rate: f64,
    /// Accounts the connections sign in as (several sessions may share one).
    #[arg(long, default_value_t = 3500)]
    pub accounts: usize,
}

/// Opens `sessions` authenticated sessions over `accounts` guest accounts and starts a
/// heartbeat loop at `rate` per second on each as soon as it is up. Returns the tasks; they
/// stop on `stop`.
pub async fn hold(
    ctx: &Ctx,
    shared: &Arc<Shared>,
    sessions: usize,
    accounts: usize,
    rate: f64,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, BenchError> {
    let accounts = ctx.guests(accounts.clamp(1, sessions.max(1))).await?;
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let (tasks, failures) = in_parallel(sessions, &ctx.setup, |i| {
        let account = accounts[i % accounts.len()].clone();
        let (shared, stop) = (shared.clone(), stop.clone());
        async move {
            let conn = session(&ctx.dialer, ctx.transport, &account).await?;
            if i > 0 && i % 10_000 == 0 {
                eprintln!(
                    "  {i} sessions after {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            Counters::add(&shared.counters.live, 1);
            Ok(tokio::spawn(beat(conn, shared, stop, period, i as u64)))
        }
    })
    .await;
    Counters::add(&shared.counters.failures, failures);
    eprintln!(
        "{} sessions up in {:.1} s ({failures} failed)",
        tasks.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(tasks)
}

/// Runs the scenario.
pub async fn run(ctx: &Ctx, args: &Heartbeat) -> Result<Row, BenchError> {
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop) = stop_signal();
    let tasks = hold(
        ctx,
        &shared,
        args.connections,
        args.accounts,
        args.rate,
        &stop,
    )
    .await?;
    let window = shared
        .measure_then_stop(ctx, Duration::from_secs(30), stop_tx, tasks)
        .await;
    let mut row = window.row(
        "heartbeat",
        ctx.transport.name(),
        format!("{} conns × {} Hz", args.connections, args.rate),
        args.connections as u64,
    );
    row.latency_of = "round trip";
    row.latency = latency(&shared.latency);
    Ok(row)
}

async fn beat(
    mut conn: Conn,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    period: Duration,
    salt: u64,
) {
    let c = &shared.counters;
    let mut cid: u64 = 10;
    let mut pending = Pending::new(1024);
    let mut ticker = ticker(period, salt);
    let lost = loop {
        tokio::select! {
            _ = stop.changed() => break false,
            _ = ticker.tick() => {
                cid += 1;
                match conn.send(&ClientMessage::SessionHeartbeat, Some(cid)).await {
                    Ok(bytes) => c.sent(bytes),
                    Err(_) => break true,
                }
                pending.push(cid);
            }
            incoming = conn.recv() => match incoming {
                Ok(Incoming::Message { cid: answered, message, wire }) => {
                    c.received(wire);
                    match message {
                        ServerMessage::Heartbeat(_) => {
                            if let Some(k) = answered {
                                pending.answered(k, &shared.latency);
                            }
                        }
                        ServerMessage::Error(e) => c.error(&e),
                        _ => {}
                    }
                }
                Ok(Incoming::Compact { wire, .. }) => c.received(wire),
                Err(_) => break true,
            }
        }
    };
    finish(conn, c, true, lost).await;
}
