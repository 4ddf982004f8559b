//! `cargo run -p arena`: an Asobi server with the arena mode registered. Takes the same
//! flags and `ASOBI_*` variables as `asobi-server`; stops cleanly on SIGINT or SIGTERM.

use std::process::ExitCode;

use asobi_server::server::shutdown_signal;
use asobi_server::{Config, logging, start_with_modes};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("arena: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config);
    let server =
        match start_with_modes(config, vec![arena::mode(arena::ArenaPlugin::default())]).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("arena: {e}");
                return ExitCode::FAILURE;
            }
        };
    println!(
        "arena listening on http://{0} (WebSocket ws://{0}/ws); mode \"arena\"",
        server.addr()
    );
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
