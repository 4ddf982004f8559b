//! **chat**: N players over WebSocket in M `global:` channels (player i in channel i mod M),
//! sending R messages per second in all, for a measured window, against a server started in
//! this process (SQLite in a temp dir, the release build's code). Every message is stored
//! and fanned out to the channel's connections. Prints sends/s, deliveries/s (the fan-out)
//! and send → delivery latency p50/p99/max.
//!
//! ```text
//! cargo run --release -p asobi-bench --bin chat -- --players 1000 --channels 10 --rate 200
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Settings.
#[derive(Debug, Parser)]
struct Args {
    /// Connected players.
    #[arg(long, default_value_t = 1000)]
    players: usize,
    /// Channels they are spread over.
    #[arg(long, default_value_t = 10)]
    channels: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("asobi-bench-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut config = asobi_server::config::Config {
        http_addr: "127.0.0.1:0".parse()?,
        quic: false,
        database_url: format!("sqlite://{}/chat.db", dir.display()),
        chat_global_channels: (0..args.channels).map(|c| format!("c{c}")).collect(),
        ..Default::default()
    };
    // Sign-up is not what is measured: cheap hashing, no limits in the way.
    config.password_hashing.memory_kib = 1024;
    config.password_hashing.iterations = 1;
    let generous = asobi_server::config::Limit::new(1_000_000, 1000);
    config.rate_limits.register = generous;
    config.rate_limits.auth = generous;
    config.rate_limits.api = generous;
    config.rate_limits.ws_connect = generous;
    config.max_sockets_per_address = 1_000_000;
    let server = asobi_server::start(config).await?;
    let base = format!("http://{}", server.addr());
    let ws_url = format!("ws://{}/ws", server.addr());
    let http = reqwest::Client::new();

    // Connect and join.
    let started = Instant::now();
    let mut sinks = Vec::new();
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let epoch = Instant::now();
    let mut readers = tokio::task::JoinSet::new();
    for i in 0..args.players {
        let reg: Value = http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"username": format!("chatter-{i}"), "password": "password-123"}))
            .send()
            .await?
            .json()
            .await?;
        let token = reg["access_token"].as_str().unwrap_or_default().to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(&ws_url).await?;
        let (mut tx, mut rx) = ws.split();
        let channel = format!("global:c{}", i % args.channels);
        tx.send(Message::text(
            json!({"type": "session.connect", "cid": "c", "payload": {"token": token}}).to_string(),
        ))
        .await?;
        tx.send(Message::text(
            json!({"type": "chat.join", "cid": "j", "payload": {"channel_id": channel}})
                .to_string(),
        ))
        .await?;
        // Wait for the join's answer, then read chat for the rest of the run.
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m
                && t.contains("chat.joined")
            {
                break;
            }
        }
        let latencies = latencies.clone();
        readers.spawn(async move {
            let mut local = Vec::new();
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(t) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if v["type"] == "chat.message"
                    && let Some(sent) = v["payload"]["content"]
                        .as_str()
                        .and_then(|c| c.parse::<u64>().ok())
                {
                    let now = epoch.elapsed().as_micros() as u64;
                    local.push(Duration::from_micros(now.saturating_sub(sent)));
                }
            }
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(local);
        });
        sinks.push((tx, channel));
    }
    println!(
        "{} players connected and joined {} channels in {:.1} s",
        args.players,
        args.channels,
        started.elapsed().as_secs_f64()
    );

    // Send at the rate, round-robin over players; the content is the send time (µs).
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut sent = 0u64;
    let mut i = 0usize;
    while Instant::now() < deadline {
        tick.tick().await;
        let (tx, channel) = &mut sinks[i % args.players];
        let at = epoch.elapsed().as_micros() as u64;
        tx.send(Message::text(
            json!({"type": "chat.send", "payload": {"channel_id": channel, "content": at.to_string()}})
                .to_string(),
        ))
        .await?;
        sent += 1;
        i += 1;
    }
    // Let the last messages land, then close every socket so the readers finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (mut tx, _) in sinks {
        let _ = tx.close().await;
    }
    while readers.join_next().await.is_some() {}
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort();
    let q = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let expected = sent * (args.players / args.channels) as u64;
    println!(
        "\n| players | channels | sends/s | deliveries/s | delivered / due | p50 | p99 | max |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.0} | {:.0} | {} / {} | {:.2} ms | {:.2} ms | {:.2} ms |",
        args.players,
        args.channels,
        sent as f64 / args.seconds as f64,
        lat.len() as f64 / args.seconds as f64,
        lat.len(),
        expected,
        ms(q(0.5)),
        ms(q(0.99)),
        ms(lat.last())
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
