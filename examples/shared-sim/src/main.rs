//! `cargo run -p shared-sim`: an Asobi server with the `glide` world mode, whose movement
//! system is the one `shared_sim::client::Predictor` runs for prediction. Takes the same
//! flags and `ASOBI_*` variables as `asobi-server`.

use std::process::ExitCode;

use asobi_server::server::shutdown_signal;
use asobi_server::{Config, logging, start_with_game};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shared-sim: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config);
    let server = match start_with_game(config, Vec::new(), vec![shared_sim::server::mode()]).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shared-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "shared-sim listening on http://{}; world mode \"glide\"",
        server.addr()
    );
    if let (Some(quic), Some(fp)) = (server.quic_addr(), server.quic_fingerprint()) {
        println!("QUIC on udp://{quic}, certificate sha256 {fp}");
    }
    shutdown_signal().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
