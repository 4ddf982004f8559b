//! `cargo run -p world-demo`: an Asobi server with the overworld mode and its page at `/`.
//! Takes the same flags and `ASOBI_*` variables as `asobi-server`.

use std::process::ExitCode;

use asobi_server::server::shutdown_signal;
use asobi_server::{Config, logging, start_with_game};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = match Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("world-demo: {e}");
            return ExitCode::from(2);
        }
    };
    if config.static_dir.is_none() {
        config.static_dir = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/public").into());
    }
    logging::init(&config);
    let server = match start_with_game(config, Vec::new(), vec![world_demo::mode(20_261_122)]).await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("world-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "world-demo listening on http://{0}/ (WebSocket ws://{0}/ws); world mode \"overworld\"",
        server.addr()
    );
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
