//! What the simulated clients count: messages and bytes each way, state updates and what
//! they carried, failures and drops, and latency histograms (microseconds, about 3 %
//! resolution, lock-free so thousands of tasks record without contention).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Values below this are exact; above, each power of two splits into [`SUB`] buckets.
const LINEAR: u64 = 64;
const SUB: usize = 32;
const BUCKETS: usize = LINEAR as usize + 59 * SUB;

fn index(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as usize; // ≥ 6
    let shift = exp - 5;
    let top = (us >> shift) as usize; // 32..=63
    LINEAR as usize + (shift - 1) * SUB + (top - SUB)
}

/// The largest value that lands in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let shift = (i - LINEAR as usize) / SUB + 1;
    let top = ((i - LINEAR as usize) % SUB + SUB) as u64;
    ((top + 1) << shift) - 1
}

/// A latency histogram.
pub struct Latency {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl Latency {
    /// Records one sample.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(us).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// Forgets everything (start of the measured window).
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The value below which a fraction `q` of samples fall (bucket upper bound, capped at
    /// the largest sample), in microseconds.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let max = self.max.load(Ordering::Relaxed);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                return Some(upper(i).min(max));
            }
        }
        Some(max)
    }

    /// Largest sample, microseconds.
    pub fn max_us(&self) -> Option<u64> {
        (self.count() > 0).then(|| self.max.load(Ordering::Relaxed))
    }
}

/// Counters every scenario shares. "In" and "out" are from the server's side: `msgs_in` is
/// what the clients sent.
#[derive(Default)]
pub struct Counters {
    /// Messages the clients sent.
    pub msgs_in: AtomicU64,
    /// Their bytes.
    pub bytes_in: AtomicU64,
    /// Messages the clients received.
    pub msgs_out: AtomicU64,
    /// Their bytes.
    pub bytes_out: AtomicU64,
    /// State messages received (`match.state`, `world.tick`).
    pub states: AtomicU64,
    /// Their bytes.
    pub state_bytes: AtomicU64,
    /// Player or entity entries those states carried (the "per player" denominator).
    pub state_entries: AtomicU64,
    /// Clients that never got going (connect, sign-in, join).
    pub failures: AtomicU64,
    /// Established clients whose connection ended or that got an error frame.
    pub drops: AtomicU64,
    /// Error frames received.
    pub errors: AtomicU64,
    /// Clients established and running.
    pub live: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// See [`Counters`].
    pub msgs_in: u64,
    /// See [`Counters`].
    pub bytes_in: u64,
    /// See [`Counters`].
    pub msgs_out: u64,
    /// See [`Counters`].
    pub bytes_out: u64,
    /// See [`Counters`].
    pub states: u64,
    /// See [`Counters`].
    pub state_bytes: u64,
    /// See [`Counters`].
    pub state_entries: u64,
    /// See [`Counters`].
    pub failures: u64,
    /// See [`Counters`].
    pub drops: u64,
    /// See [`Counters`].
    pub errors: u64,
    /// See [`Counters`].
    pub live: u64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A sent message of `bytes`.
    pub fn sent(&self, bytes: usize) {
        Self::add(&self.msgs_in, 1);
        Self::add(&self.bytes_in, bytes as u64);
    }

    /// A received message of `bytes`.
    pub fn received(&self, bytes: usize) {
        Self::add(&self.msgs_out, 1);
        Self::add(&self.bytes_out, bytes as u64);
    }

    /// A received state message of `bytes` carrying `entries` players or entities.
    pub fn state(&self, bytes: usize, entries: u64) {
        Self::add(&self.states, 1);
        Self::add(&self.state_bytes, bytes as u64);
        Self::add(&self.state_entries, entries);
    }

    /// An error frame; the first few distinct ones are printed so a run says what went wrong.
    pub fn error(&self, what: &impl std::fmt::Debug) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < 5 {
            let mut text = format!("{what:?}");
            text.truncate(300);
            eprintln!("error frame: {text}");
        }
    }

    /// Reads them all.
    pub fn snapshot(&self) -> Counts {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            msgs_in: r(&self.msgs_in),
            bytes_in: r(&self.bytes_in),
            msgs_out: r(&self.msgs_out),
            bytes_out: r(&self.bytes_out),
            states: r(&self.states),
            state_bytes: r(&self.state_bytes),
            state_entries: r(&self.state_entries),
            failures: r(&self.failures),
            drops: r(&self.drops),
            errors: r(&self.errors),
            live: r(&self.live),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for us in [
            0,
            1,
            63,
            64,
            65,
            100,
            1_000,
            4_999,
            5_000,
            123_456,
            10_000_000,
            u64::MAX / 2,
        ] {
            let i = index(us);
            assert!(i < BUCKETS, "{us}");
            assert!(i >= last, "{us}");
            assert!(upper(i) >= us, "{us} ≤ upper {}", upper(i));
            // About 3 % resolution.
            assert!(upper(i) - us <= us / 32 + 1, "{us} vs {}", upper(i));
            last = i;
        }
    }

    #[test]
    fn quantiles_come_from_the_recorded_samples() {
        let h = Latency::default();
        assert_eq!(h.quantile_us(0.5), None);
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile_us(0.5).unwrap();
        assert!((50_000..=51_600).contains(&p50), "{p50}");
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((99_000..=102_000).contains(&p99), "{p99}");
        assert_eq!(h.max_us(), Some(100_000));
        h.reset();
        assert_eq!(h.count(), 0);
    }
}
