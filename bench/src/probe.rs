//! The server as seen from outside: its CPU time and memory from the kernel's accounting of
//! the server process (`/proc/<pid>/stat`, `/proc/<pid>/status`), and its tick histograms
//! from `/health`, sampled at both ends of the measured window.

use std::time::{Duration, Instant};

use serde_json::Value;

/// One sample.
#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    cpu_ticks: Option<u64>,
    /// Resident set, KiB.
    pub rss_kib: Option<u64>,
    /// Peak resident set so far, KiB.
    pub peak_kib: Option<u64>,
    health: Option<Value>,
}

impl Sample {
    /// Seconds from `earlier` to this sample.
    pub fn at_secs_since(&self, earlier: &Sample) -> f64 {
        self.at.duration_since(earlier.at).as_secs_f64()
    }
}

/// Reads the server.
pub struct Probe {
    pid: Option<u32>,
    health_url: String,
    http: reqwest::Client,
    clock_ticks: f64,
}

impl Probe {
    /// A probe of process `pid` (when given) serving `/health` under `http_url`.
    pub fn new(pid: Option<u32>, http_url: &str) -> Self {
        let clock_ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .map_or(100.0, |t| t as f64);
        Probe {
            pid,
            health_url: format!("{http_url}/health"),
            http: reqwest::Client::new(),
            clock_ticks,
        }
    }

    /// Takes a sample.
    pub async fn sample(&self) -> Sample {
        let (cpu_ticks, rss_kib, peak_kib) = match self.pid {
            Some(pid) => (
                cpu_ticks(pid),
                status_kib(pid, "VmRSS:"),
                status_kib(pid, "VmHWM:"),
            ),
            None => (None, None, None),
        };
        let health = match self
            .http
            .get(&self.health_url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) => r.json::<Value>().await.ok(),
            Err(_) => None,
        };
        Sample {
            at: Instant::now(),
            cpu_ticks,
            rss_kib,
            peak_kib,
            health,
        }
    }

    /// Cores the server used between two samples.
    pub fn cores(&self, a: &Sample, b: &Sample) -> Option<f64> {
        let ticks = b.cpu_ticks?.checked_sub(a.cpu_ticks?)?;
        let secs = b.at.duration_since(a.at).as_secs_f64();
        (secs > 0.0).then(|| ticks as f64 / self.clock_ticks / secs)
    }
}

/// `utime + stime` of a process, in clock ticks (all its threads).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after it are counted from its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Percentiles of a `/health` histogram (e.g. `["worlds", "zone_tick"]`) over the window
/// between two samples: the difference of their bucket counts. Returns `(count, p50, p99)`
/// in microseconds, each the upper bound of its bucket.
pub fn window_quantiles(a: &Sample, b: &Sample, path: &[&str]) -> Option<(u64, u64, u64)> {
    let buckets = |s: &Sample| -> Option<Vec<(u64, u64)>> {
        let mut v = s.health.as_ref()?;
        for key in path {
            v = v.get(key)?;
        }
        v.get("buckets")?
            .as_array()?
            .iter()
            .map(|pair| {
                let bound = pair.get(0)?.as_u64().unwrap_or(u64::MAX);
                Some((bound, pair.get(1)?.as_u64()?))
            })
            .collect()
    };
    let before = buckets(a)?;
    let after = buckets(b)?;
    let diff: Vec<(u64, u64)> = after
        .iter()
        .zip(&before)
        .map(|((bound, n), (_, m))| (*bound, n.saturating_sub(*m)))
        .collect();
    let total: u64 = diff.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let at = |q: f64| {
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        diff.iter()
            .find(|(_, n)| {
                seen += n;
                seen >= target
            })
            .map_or(u64::MAX, |(bound, _)| *bound)
    };
    Some((total, at(0.5), at(0.99)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(buckets: Value) -> Sample {
        Sample {
            at: Instant::now(),
            cpu_ticks: None,
            rss_kib: None,
            peak_kib: None,
            health: Some(json!({"worlds": {"zone_tick": {"buckets": buckets}}})),
        }
    }

    #[test]
    fn window_percentiles_come_from_bucket_differences() {
        let a = sample(json!([[100, 10], [1000, 0], [null, 0]]));
        let b = sample(json!([[100, 60], [1000, 49], [null, 1]]));
        let (n, p50, p99) = window_quantiles(&a, &b, &["worlds", "zone_tick"]).unwrap();
        assert_eq!((n, p50, p99), (100, 100, 1000));
        assert!(window_quantiles(&a, &a, &["worlds", "zone_tick"]).is_none());
        assert!(window_quantiles(&a, &b, &["matches", "tick"]).is_none());
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(status_kib(pid, "VmRSS:").is_some_and(|kib| kib > 0));
    }
}
