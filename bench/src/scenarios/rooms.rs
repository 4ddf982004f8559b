//! **rooms**: N clients matchmade into matches of K players; each client sends a position
//! input at I Hz and the match echoes every player's position in `match.state` at the mode's
//! tick rate. Latency is input → the first state showing that input applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use asobi_core::protocol::{ClientMessage, ServerMessage};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::{Ctx, Pending, Shared, finish, latency, stop_signal, ticker};
use crate::conn::{Conn, Incoming};
use crate::error::BenchError;
use crate::report::Row;
use crate::setup::{Account, in_parallel, session};
use crate::stats::Counters;

/// Settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Rooms {
    /// Clients.
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Players per match (the mode's `match_size`; reported, not sent).
    #[arg(long, default_value_t = 10)]
    pub room_size: usize,
    /// The match mode.
    #[arg(long, default_value = "room")]
    pub mode: String,
    /// Inputs per second per client.
    #[arg(long, default_value_t = 10.0)]
    pub input_hz: f64,
}

/// Runs the scenario.
pub async fn run(ctx: &Ctx, args: &Rooms) -> Result<Row, BenchError> {
    let accounts = ctx.guests(args.clients).await?;
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop) = stop_signal();
    eprintln!(
        "rooms: connecting {} clients and queueing them…",
        args.clients
    );
    let period = Duration::from_secs_f64(1.0 / args.input_hz.max(0.01));
    // Each client starts reading as soon as it is queued: a connection left unread while
    // the others are set up would be a slow consumer, not a player.
    let (tasks, failures) = in_parallel(accounts.len(), &ctx.setup, |i| {
        let account = accounts[i].clone();
        let mode = args.mode.clone();
        let (shared, stop) = (shared.clone(), stop.clone());
        async move {
            let conn = queue(ctx, &account, &mode).await?;
            Ok(tokio::spawn(play(
                conn, account, shared, stop, period, i as u64,
            )))
        }
    })
    .await;
    Counters::add(&shared.counters.failures, failures);
    wait_matched(&shared, args.clients as u64).await;
    let window = shared
        .measure_then_stop(ctx, Duration::from_secs(30), stop_tx, tasks)
        .await;
    let mut row = window.row(
        "rooms",
        ctx.transport.name(),
        format!(
            "{} clients, {}×{}, input {} Hz",
            args.clients,
            args.clients / args.room_size.max(1),
            args.room_size,
            args.input_hz
        ),
        args.clients as u64,
    );
    row.latency_of = "input→state";
    row.latency = latency(&shared.latency);
    row.tick = crate::probe::window_quantiles(&window.start, &window.end, &["matches", "tick"])
        .map(|(_, p50, p99)| ("match", p50, p99));
    Ok(row)
}

async fn queue(ctx: &Ctx, account: &Account, mode: &str) -> Result<Conn, BenchError> {
    let mut conn = session(&ctx.dialer, ctx.transport, account).await?;
    let add = ClientMessage::MatchmakerAdd {
        mode: mode.to_owned(),
        properties: json!({}),
        party: Vec::new(),
    };
    match conn.request(&add, 2, Duration::from_secs(30)).await? {
        ServerMessage::MatchmakerQueued(_) => Ok(conn),
        other => Err(BenchError::unexpected("matchmaker.add", &other)),
    }
}

/// Waits (up to two minutes) until every client is in a running match.
async fn wait_matched(shared: &Shared, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = shared.counters.snapshot().live;
        if live >= want || Instant::now() >= deadline {
            eprintln!("rooms: {live}/{want} clients in running matches");
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// This player's `x` in a `match.state` of the form `{players: {id: {x, y}}}`.
fn own_x(state: &Map<String, Value>, player_id: &str) -> Option<f64> {
    state.get("players")?.get(player_id)?.get("x")?.as_f64()
}

fn players_in(state: &Map<String, Value>) -> u64 {
    state
        .get("players")
        .and_then(Value::as_object)
        .map_or(0, |p| p.len() as u64)
}

async fn play(
    mut conn: Conn,
    account: Account,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    period: Duration,
    salt: u64,
) {
    let c = &shared.counters;
    let mut running = false;
    let mut sent: u64 = 0;
    let mut pending = Pending::new(256);
    let mut ticker = ticker(period, salt);
    let lost = loop {
        tokio::select! {
            _ = stop.changed() => break false,
            _ = ticker.tick(), if running => {
                sent += 1;
                let mut input = Map::new();
                input.insert("x".into(), sent.into());
                input.insert("y".into(), (sent % 100).into());
                match conn.send(&ClientMessage::MatchInput(input), None).await {
                    Ok(bytes) => c.sent(bytes),
                    Err(_) => break true,
                }
                pending.push(sent);
            }
            incoming = conn.recv() => match incoming {
                Ok(Incoming::Message { message, wire, .. }) => {
                    c.received(wire);
                    match message {
                        ServerMessage::MatchState(state) => {
                            c.state(wire, players_in(&state));
                            if !running {
                                running = true;
                                Counters::add(&c.live, 1);
                            }
                            // Inputs carry x = 1, 2, 3…: the state shows the last applied.
                            if let Some(x) = own_x(&state, &account.player_id).filter(|x| *x >= 0.0) {
                                pending.through(x.floor() as u64, &shared.latency);
                            }
                        }
                        ServerMessage::Error(e) => c.error(&e),
                        ServerMessage::MatchFinished(f) => {
                            c.error(&f);
                            break true;
                        }
                        _ => {}
                    }
                }
                Ok(Incoming::Compact { wire, .. }) => c.received(wire),
                Err(_) => break true,
            }
        }
    };
    finish(conn, c, running, lost).await;
}
