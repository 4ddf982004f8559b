//! **world**: P players in one world, each moving randomly (a position input at I Hz),
//! interest management on (each player receives the zones in its view ring). Figures:
//! zone tick and world tick percentiles from the server, `world.tick` messages and bytes,
//! bytes per entity update (compact binary deltas on QUIC, JSON on WebSocket), and
//! input → `world.ack` latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asobi_core::protocol::{ClientMessage, ServerMessage};
use asobi_core::world::compact;
use serde_json::Map;
use tokio::sync::watch;

use super::{Ctx, Pending, Shared, finish, latency, splitmix, stop_signal, ticker};
use crate::conn::{Conn, Incoming};
use crate::error::BenchError;
use crate::probe::window_quantiles;
use crate::report::Row;
use crate::setup::{Account, in_parallel, session};
use crate::stats::Counters;

/// Settings.
#[derive(Debug, Clone, clap::Args)]
pub struct World {
    /// Players.
    #[arg(long, default_value_t = 5000)]
    pub players: usize,
    /// The world mode (one world; its `max_players` must hold them all).
    #[arg(long, default_value = "field")]
    pub mode: String,
    /// Position inputs per second per player.
    #[arg(long, default_value_t = 2.0)]
    pub input_hz: f64,
    /// The mode's `grid_size` (zones per side).
    #[arg(long, default_value_t = 32)]
    pub grid_size: u32,
    /// The mode's `zone_size` (units per zone side).
    #[arg(long, default_value_t = 64)]
    pub zone_size: u32,
}

/// Runs the scenario.
pub async fn run(ctx: &Ctx, args: &World) -> Result<Row, BenchError> {
    let accounts = ctx.guests(args.players).await?;
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop) = stop_signal();
    eprintln!("world: joining {} players…", args.players);
    let started = Instant::now();
    let extent = f64::from(args.grid_size * args.zone_size);
    let period = Duration::from_secs_f64(1.0 / args.input_hz.max(0.01));
    let (tasks, failures) = in_parallel(accounts.len(), &ctx.setup, |i| {
        let account = accounts[i].clone();
        let mode = args.mode.clone();
        let (shared, stop) = (shared.clone(), stop.clone());
        async move {
            let (conn, world) = join(ctx, &account, &mode).await?;
            Counters::add(&shared.counters.live, 1);
            let task = tokio::spawn(walk(conn, shared, stop, period, extent, i as u64));
            Ok((world, task))
        }
    })
    .await;
    Counters::add(&shared.counters.failures, failures);
    let worlds: std::collections::BTreeSet<&String> = tasks.iter().map(|(id, _)| id).collect();
    eprintln!(
        "world: {} players in {} world(s) after {:.1} s",
        tasks.len(),
        worlds.len(),
        started.elapsed().as_secs_f64()
    );
    let window = shared
        .measure_then_stop(
            ctx,
            Duration::from_secs(30),
            stop_tx,
            tasks.into_iter().map(|(_, task)| task),
        )
        .await;
    let mut row = window.row(
        "world",
        ctx.transport.name(),
        format!(
            "{} players, 1 world, input {} Hz",
            args.players, args.input_hz
        ),
        args.players as u64,
    );
    row.latency_of = "input→ack";
    row.latency = latency(&shared.latency);
    row.tick = window_quantiles(&window.start, &window.end, &["worlds", "zone_tick"])
        .map(|(_, p50, p99)| ("zone", p50, p99));
    if let Some((_, p50, p99)) = window_quantiles(&window.start, &window.end, &["worlds", "tick"]) {
        eprintln!("world tick (all zones) p50 ≤ {p50} µs, p99 ≤ {p99} µs");
    }
    Ok(row)
}

async fn join(ctx: &Ctx, account: &Account, mode: &str) -> Result<(Conn, String), BenchError> {
    let mut conn = session(&ctx.dialer, ctx.transport, account).await?;
    let join = ClientMessage::WorldFindOrCreate {
        mode: mode.to_owned(),
    };
    match conn.request(&join, 2, Duration::from_secs(60)).await? {
        ServerMessage::WorldJoined(info) => Ok((conn, info.world_id)),
        other => Err(BenchError::unexpected("world.find_or_create", &other)),
    }
}

async fn walk(
    mut conn: Conn,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    period: Duration,
    extent: f64,
    salt: u64,
) {
    let c = &shared.counters;
    let mut rng = splitmix(salt ^ 0x5eed);
    let mut next = move || {
        rng = splitmix(rng);
        (rng % 1_000_000) as f64 / 1_000_000.0
    };
    let (mut x, mut y) = (next() * extent, next() * extent);
    let mut seq: u64 = 0;
    let mut pending = Pending::new(256);
    let mut ticker = ticker(period, salt);
    let lost = loop {
        tokio::select! {
            _ = stop.changed() => break false,
            _ = ticker.tick() => {
                // A step of up to 4 units each way, on the 1/256 grid the compact encoding
                // prices cheaply, kept inside the world.
                x = ((x + (next() - 0.5) * 8.0).clamp(1.0, extent - 1.0) * 256.0).round() / 256.0;
                y = ((y + (next() - 0.5) * 8.0).clamp(1.0, extent - 1.0) * 256.0).round() / 256.0;
                seq += 1;
                let mut input = Map::new();
                input.insert("x".into(), x.into());
                input.insert("y".into(), y.into());
                match conn.send(&ClientMessage::WorldInput { input, seq: Some(seq) }, None).await {
                    Ok(bytes) => c.sent(bytes),
                    Err(_) => break true,
                }
                pending.push(seq);
            }
            incoming = conn.recv() => match incoming {
                Ok(Incoming::Message { message, wire, .. }) => {
                    c.received(wire);
                    match message {
                        ServerMessage::WorldTick(t) if t.kf == Some(false) => {
                            c.state(wire, t.updates.len() as u64);
                        }
                        ServerMessage::WorldAck(ack) => pending.through(ack.seq, &shared.latency),
                        ServerMessage::Error(e) => c.error(&e),
                        ServerMessage::WorldFinished(_) => break true,
                        _ => {}
                    }
                }
                Ok(Incoming::Compact { payload, wire }) => {
                    c.received(wire);
                    if compact::header(&payload).is_ok_and(|h| !h.kf && h.frame_seq.is_some()) {
                        c.state(wire, compact::record_count(&payload).unwrap_or(0));
                    }
                }
                Err(_) => break true,
            }
        }
    };
    finish(conn, c, true, lost).await;
}
