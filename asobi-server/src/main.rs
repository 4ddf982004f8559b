//! The `asobi-server` binary: read the configuration, start a node, serve until SIGINT or
//! SIGTERM, then drain and exit.

use std::process::ExitCode;

use asobi_server::server::shutdown_signal;
use asobi_server::{Config, db::redact, logging, start};

fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("asobi-server: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("asobi-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let database = redact(&config.database_url);
        let (http, ws) = if config.tls_cert.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        let server = match start(config).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                eprintln!("asobi-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = server.addr();
        tracing::info!(%addr, %database, "asobi-server listening");
        println!("asobi-server listening on {http}://{addr} (WebSocket {ws}://{addr}/ws), database {database}");
        if let (Some(quic), Some(fingerprint)) = (server.quic_addr(), server.quic_fingerprint()) {
            println!("QUIC (asobi/1) on udp://{quic}, certificate sha256 {fingerprint}");
        }
        shutdown_signal().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
