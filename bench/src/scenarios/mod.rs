//! The scenarios. Each sets its clients going, lets them warm up, measures one window
//! (client counters, latency histograms, and the server's CPU, memory and tick histograms
//! at both ends), stops its clients and returns its table row.

pub mod heartbeat;
pub mod idle;
pub mod rest;
pub mod rooms;
pub mod world;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

use crate::conn::{Conn, Dialer, Transport};
use crate::error::BenchError;
use crate::probe::{Probe, Sample};
use crate::report::Row;
use crate::stats::{Counters, Counts, Latency};

/// What every scenario needs.
pub struct Ctx {
    /// Opens connections.
    pub dialer: Arc<Dialer>,
    /// Reads the server process.
    pub probe: Probe,
    /// Realtime transport of the simulated clients.
    pub transport: Transport,
    /// Time between "all clients running" and the measured window.
    pub warmup: Duration,
    /// The measured window (the scenario's default when not given).
    pub duration: Option<Duration>,
    /// How clients are set up.
    pub setup: crate::setup::Setup,
    /// Run id (keeps account names apart between runs).
    pub run: String,
}

/// One measured window.
pub struct Window {
    /// Counter differences over the window (failures, drops and live are totals).
    pub counts: Counts,
    /// Its length, seconds.
    pub secs: f64,
    /// Server sample at the start.
    pub start: Sample,
    /// Server sample at the end.
    pub end: Sample,
    /// Server cores over the window.
    pub cores: Option<f64>,
}

impl Window {
    /// A row with the figures every scenario reports filled in.
    pub fn row(
        &self,
        scenario: &'static str,
        transport: &'static str,
        load: String,
        asked: u64,
    ) -> Row {
        let per_sec = |n: u64| n as f64 / self.secs.max(1e-9);
        let c = &self.counts;
        Row {
            scenario,
            transport,
            load,
            clients: (c.live, asked),
            cores: self.cores,
            rss_mib: self.end.rss_kib.map(|k| k as f64 / 1024.0),
            peak_mib: self.end.peak_kib.map(|k| k as f64 / 1024.0),
            msgs_in: per_sec(c.msgs_in),
            msgs_out: per_sec(c.msgs_out),
            bytes_out: per_sec(c.bytes_out),
            bytes_per_entry: (c.state_entries > 0)
                .then(|| c.state_bytes as f64 / c.state_entries as f64),
            failures: c.failures,
            drops: c.drops,
            errors: c.errors,
            ..Row::default()
        }
    }
}

impl Ctx {
    /// Signs in `n` guest players for this run, `setup.concurrency` at a time.
    pub async fn guests(&self, n: usize) -> Result<Vec<crate::setup::Account>, BenchError> {
        crate::setup::guests(
            &self.dialer.http_url(),
            &self.run,
            n,
            self.setup.concurrency,
        )
        .await
    }

    /// Warms up, then measures one window of `default` (or the configured duration).
    pub async fn measure(
        &self,
        counters: &Counters,
        latencies: &[&Latency],
        default: Duration,
    ) -> Window {
        tokio::time::sleep(self.warmup).await;
        for l in latencies {
            l.reset();
        }
        let before = counters.snapshot();
        let start = self.probe.sample().await;
        let duration = self.duration.unwrap_or(default);
        eprintln!("measuring for {} s…", duration.as_secs());
        tokio::time::sleep(duration).await;
        let after = counters.snapshot();
        let end = self.probe.sample().await;
        let cores = self.probe.cores(&start, &end);
        let d = |f: fn(&Counts) -> u64| f(&after).saturating_sub(f(&before));
        let counts = Counts {
            msgs_in: d(|c| c.msgs_in),
            bytes_in: d(|c| c.bytes_in),
            msgs_out: d(|c| c.msgs_out),
            bytes_out: d(|c| c.bytes_out),
            states: d(|c| c.states),
            state_bytes: d(|c| c.state_bytes),
            state_entries: d(|c| c.state_entries),
            errors: d(|c| c.errors),
            failures: after.failures,
            drops: after.drops,
            live: after.live,
        };
        let secs = end.at_secs_since(&start);
        Window {
            counts,
            secs,
            start,
            end,
            cores,
        }
    }
}

/// What the clients of a realtime scenario share: the counters and one latency histogram.
#[derive(Default)]
pub struct Shared {
    /// Counters.
    pub counters: Counters,
    /// The scenario's latency.
    pub latency: Latency,
}

impl Shared {
    /// Measures the clients' window (one latency: this histogram), then stops them through
    /// `stop` and waits for every one to end.
    pub async fn measure_then_stop<T>(
        &self,
        ctx: &Ctx,
        default: Duration,
        stop: watch::Sender<bool>,
        tasks: impl IntoIterator<Item = JoinHandle<T>>,
    ) -> Window {
        let window = ctx.measure(&self.counters, &[&self.latency], default).await;
        let _ = stop.send(true);
        let tasks: Vec<JoinHandle<T>> = tasks.into_iter().collect();
        eprintln!("stopping {} clients…", tasks.len());
        for task in tasks {
            let _ = task.await;
        }
        window
    }
}

/// Messages a client sent and is waiting to see answered, oldest first, with when each left.
/// Bounded: past `cap` the oldest is forgotten (it will not be measured).
pub struct Pending {
    sent: VecDeque<(u64, Instant)>,
    cap: usize,
}

impl Pending {
    /// At most `cap` waiting.
    pub fn new(cap: usize) -> Self {
        Pending {
            sent: VecDeque::new(),
            cap,
        }
    }

    /// `k` was just sent.
    pub fn push(&mut self, k: u64) {
        self.sent.push_back((k, Instant::now()));
        if self.sent.len() > self.cap {
            self.sent.pop_front();
        }
    }

    /// Everything up to and including `k` took effect (a state or ack covering it): records
    /// each one's latency.
    pub fn through(&mut self, k: u64, latency: &Latency) {
        while self.sent.front().is_some_and(|(sent, _)| *sent <= k) {
            if let Some((_, at)) = self.sent.pop_front() {
                latency.record(at.elapsed());
            }
        }
    }

    /// The reply to `k` arrived: records its latency; earlier ones will never be answered
    /// and are forgotten.
    pub fn answered(&mut self, k: u64, latency: &Latency) {
        while let Some((sent, at)) = self.sent.front().copied() {
            if sent > k {
                break;
            }
            self.sent.pop_front();
            if sent == k {
                latency.record(at.elapsed());
            }
        }
    }
}

/// A client's send clock: every `period`, starting at a random part of it (see [`phase`]),
/// skipping ticks it was too busy for rather than bursting.
pub fn ticker(period: Duration, salt: u64) -> Interval {
    let start = tokio::time::Instant::now() + phase(period, salt);
    let mut ticker = tokio::time::interval_at(start, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ticker
}

/// A client's loop ended: it no longer counts as live (if it was), a lost connection counts
/// as a drop, and the connection is closed.
pub async fn finish(conn: Conn, counters: &Counters, was_live: bool, lost: bool) {
    if was_live {
        counters.live.fetch_sub(1, Ordering::Relaxed);
    }
    if lost {
        Counters::add(&counters.drops, 1);
    }
    conn.close().await;
}

/// The stop signal every client task watches.
pub fn stop_signal() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Latency triple of a histogram, when it has samples.
pub fn latency(h: &Latency) -> Option<(u64, u64, u64)> {
    Some((h.quantile_us(0.5)?, h.quantile_us(0.99)?, h.max_us()?))
}

/// A spread start: a client waits a random part of its period before its first send, so
/// thousands of clients do not send in lockstep.
pub fn phase(period: Duration, salt: u64) -> Duration {
    let frac = (splitmix(salt) % 10_000) as f64 / 10_000.0;
    period.mul_f64(frac)
}

/// A small deterministic mixer for per-client randomness.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_records_what_an_answer_covers() {
        let h = Latency::default();
        let mut p = Pending::new(3);
        for k in 1..=4 {
            p.push(k);
        }
        p.through(2, &h);
        assert_eq!(h.count(), 1, "1 fell off the bound, 2 was covered");
        p.answered(4, &h);
        assert_eq!(h.count(), 2, "3 is forgotten unanswered, 4 recorded");
        p.through(9, &h);
        assert_eq!(h.count(), 2);
    }
}
