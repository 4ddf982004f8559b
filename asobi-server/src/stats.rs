//! Duration histograms shared by simulation tasks and read by `/health` and the benchmarks:
//! lock-free counters over fixed microsecond buckets. Percentiles are reported as the upper
//! bound of the bucket they fall in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds, in microseconds; the last bucket is open-ended.
const BOUNDS_US: [u64; 16] = [
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    u64::MAX,
];

/// A histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 16],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(BOUNDS_US.len() - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The bucket bound below which a fraction `q` of samples fall.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                return BOUNDS_US[i].min(self.max_us.load(Ordering::Relaxed));
            }
        }
        self.max_us.load(Ordering::Relaxed)
    }

    /// `{count, mean_us, p50_us, p99_us, max_us, buckets}`: `buckets` holds
    /// `[upper_bound_us, count]` pairs (the last bound is open-ended, shown as `null`), so a
    /// reader can take two summaries and compute the percentiles of the time between them.
    pub fn summary(&self) -> serde_json::Value {
        let buckets: Vec<serde_json::Value> = BOUNDS_US
            .iter()
            .zip(&self.buckets)
            .map(|(bound, n)| {
                let bound = (*bound != u64::MAX).then_some(*bound);
                serde_json::json!([bound, n.load(Ordering::Relaxed)])
            })
            .collect();
        let count = self.count();
        let mean = self
            .sum_us
            .load(Ordering::Relaxed)
            .checked_div(count)
            .unwrap_or(0);
        serde_json::json!({
            "count": count,
            "mean_us": mean,
            "p50_us": self.quantile_us(0.50),
            "p99_us": self.quantile_us(0.99),
            "max_us": self.max_us.load(Ordering::Relaxed),
            "buckets": buckets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_buckets() {
        let h = Histogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(80));
        }
        h.record(Duration::from_millis(3));
        h.record(Duration::from_millis(40));
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_us(0.5), 100);
        assert_eq!(h.quantile_us(0.99), 5_000);
        assert_eq!(h.quantile_us(1.0), 40_000);
    }
}
