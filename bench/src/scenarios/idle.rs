//! **idle**: N authenticated sessions held for a duration, each sending a heartbeat every
//! few seconds. Figures: sessions held, server memory (RSS and peak), CPU, drops.

use std::sync::Arc;
use std::time::Duration;

use super::heartbeat::hold;
use super::{Ctx, Shared, latency, stop_signal};
use crate::error::BenchError;
use crate::report::Row;

/// Settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Idle {
    /// Sessions.
    #[arg(long, default_value_t = 100_000)]
    pub sessions: usize,
    /// Accounts the sessions sign in as (round-robin).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Seconds between heartbeats on each session.
    #[arg(long, default_value_t = 15.0)]
    pub heartbeat_secs: f64,
}

/// Runs the scenario (default window: 5 minutes).
pub async fn run(ctx: &Ctx, args: &Idle) -> Result<Row, BenchError> {
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop) = stop_signal();
    let rate = 1.0 / args.heartbeat_secs.max(0.1);
    let tasks = hold(ctx, &shared, args.sessions, args.accounts, rate, &stop).await?;
    let window = shared
        .measure_then_stop(ctx, Duration::from_secs(300), stop_tx, tasks)
        .await;
    let mut row = window.row(
        "idle",
        ctx.transport.name(),
        format!(
            "{} sessions / {} accounts, heartbeat {} s, held {:.0} s",
            args.sessions, args.accounts, args.heartbeat_secs, window.secs
        ),
        args.sessions as u64,
    );
    row.latency_of = "heartbeat";
    row.latency = latency(&shared.latency);
    Ok(row)
}
