//! Rate limiting: sliding windows per (bucket, key) for REST and WebSocket upgrades
//! (`rest.md` §1.3, `websocket.md` §5), and the node-wide guest-creation window.
//!
//! Each window is a sliding-window counter: the previous fixed window's count, weighted by how
//! much of it still overlaps the sliding window, plus the current count. O(1) memory per key,
//! and within one request of an exact sliding log. Keys are player ids or client IPs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Limit, RateLimits};

/// The REST and upgrade buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// `POST /auth/register`.
    Register,
    /// Other `/auth/*` routes.
    Auth,
    /// `POST /players/me/erase`.
    Erase,
    /// Everything else.
    Api,
    /// WebSocket upgrades per IP.
    WsConnect,
    /// Match and world joins per player.
    Join,
}

/// An allowed request: what is left in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// Requests left.
    pub remaining: u32,
    /// Seconds until the window has fully slid.
    pub reset_secs: u64,
}

/// A refused request: whole seconds to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// One sliding window (also used on its own, e.g. for zone crossings).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    start: Instant,
    previous: u32,
    current: u32,
}

impl Window {
    /// An empty window starting at `now`.
    pub fn new(now: Instant) -> Self {
        Window {
            start: now,
            previous: 0,
            current: 0,
        }
    }

    /// Counts one request at `now` if `limit` allows it.
    pub fn admit(&mut self, limit: Limit, now: Instant) -> Result<Allowance, RetryAfter> {
        let w = limit.window().max(Duration::from_millis(1));
        let mut elapsed = now.saturating_duration_since(self.start);
        if elapsed >= w * 2 {
            *self = Window::new(now);
            elapsed = Duration::ZERO;
        } else if elapsed >= w {
            self.previous = self.current;
            self.current = 0;
            self.start += w;
            elapsed -= w;
        }
        let overlap = 1.0 - elapsed.as_secs_f64() / w.as_secs_f64();
        let estimate = f64::from(self.previous) * overlap + f64::from(self.current);
        let left_in_window = w - elapsed;
        if estimate + 1.0 > f64::from(limit.count) {
            return Err(RetryAfter(
                left_in_window.as_secs_f64().ceil().max(1.0) as u64
            ));
        }
        self.current += 1;
        Ok(Allowance {
            remaining: (f64::from(limit.count) - (estimate + 1.0)).floor().max(0.0) as u32,
            reset_secs: left_in_window.as_secs_f64().ceil() as u64,
        })
    }
}

/// All limiters of one node.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    windows: Mutex<HashMap<(Bucket, String), Window>>,
    guest: Mutex<Window>,
}

/// Entries kept before stale windows are swept.
const SWEEP_AT: usize = 50_000;

impl RateLimiter {
    /// A limiter with the configured limits.
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            windows: Mutex::new(HashMap::new()),
            guest: Mutex::new(Window::new(Instant::now())),
        }
    }

    fn limit(&self, bucket: Bucket) -> Limit {
        match bucket {
            Bucket::Register => self.limits.register,
            Bucket::Auth => self.limits.auth,
            Bucket::Erase => self.limits.erase,
            Bucket::Api => self.limits.api,
            Bucket::WsConnect => self.limits.ws_connect,
            Bucket::Join => self.limits.join,
        }
    }

    /// Counts one request of `key` in `bucket`.
    pub fn check(&self, bucket: Bucket, key: &str) -> Result<Allowance, RetryAfter> {
        let limit = self.limit(bucket);
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let horizon = self.longest_window() * 2;
            windows.retain(|_, w| now.saturating_duration_since(w.start) < horizon);
        }
        windows
            .entry((bucket, key.to_owned()))
            .or_insert_with(|| Window::new(now))
            .admit(limit, now)
    }

    /// Counts one guest creation node-wide.
    pub fn check_guest_creation(&self) -> Result<Allowance, RetryAfter> {
        let mut w = self.guest.lock().unwrap_or_else(|p| p.into_inner());
        w.admit(self.limits.guest_global, Instant::now())
    }

    fn longest_window(&self) -> Duration {
        let l = &self.limits;
        [l.register, l.auth, l.erase, l.api, l.ws_connect, l.join]
            .iter()
            .map(Limit::window)
            .max()
            .unwrap_or(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_count_then_refuses() {
        let limit = Limit {
            count: 3,
            window_ms: 1000,
        };
        let t0 = Instant::now();
        let mut w = Window::new(t0);
        for left in [2, 1, 0] {
            assert_eq!(w.admit(limit, t0).map(|a| a.remaining), Ok(left));
        }
        assert_eq!(w.admit(limit, t0), Err(RetryAfter(1)));
        // Half-way through the next window, half of the previous count still weighs in.
        let later = t0 + Duration::from_millis(1500);
        assert!(w.admit(limit, later).is_ok());
        assert!(w.admit(limit, later).is_err());
        // Two windows later everything is forgotten.
        let much_later = t0 + Duration::from_millis(3100);
        assert_eq!(w.admit(limit, much_later).map(|a| a.remaining), Ok(2));
    }

    #[test]
    fn keys_and_buckets_are_independent() {
        let limits = RateLimits {
            register: Limit {
                count: 1,
                window_ms: 60_000,
            },
            ..RateLimits::default()
        };
        let r = RateLimiter::new(limits);
        assert!(r.check(Bucket::Register, "a").is_ok());
        assert!(r.check(Bucket::Register, "a").is_err());
        assert!(r.check(Bucket::Register, "b").is_ok());
        assert!(r.check(Bucket::Auth, "a").is_ok());
        assert_eq!(r.check(Bucket::Register, "a"), Err(RetryAfter(60)));
    }
}
