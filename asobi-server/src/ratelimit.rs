//! Rate limiting: sliding windows per (bucket, key) for REST and WebSocket upgrades
//! (`rest.md` §1.3, `websocket.md` §5), and the node-wide guest-creation window.
//!
//! Each window is a sliding-window counter: the previous fixed window's count, weighted by how
//! much of it still overlaps the sliding window, plus the current count. O(1) memory per key,
//! and within one request of an exact sliding log. Keys are player ids or client addresses
//! ([`client_key`]: an IPv6 client is its /64, which is what one subscriber is given).
//!
//! Windows live in [`Generations`] split over [`SHARDS`] locks: an untouched entry is
//! forgotten after two rotations, and a rotation drops a whole generation at once (freed
//! outside the lock), so no request ever pays for a scan of everyone else's windows.
//!
//! Failed password sign-ins back off per username ([`RateLimiter::sign_in_allowed`]): after
//! [`BACKOFF_FREE_FAILURES`] failures in a row each further attempt waits twice as long as
//! the last, up to [`BACKOFF_MAX`], whichever address it comes from.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
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
    /// `/iap/*` (store receipts).
    Iap,
    /// Everything else.
    Api,
    /// WebSocket upgrades per IP.
    WsConnect,
    /// Match and world joins per player.
    Join,
    /// Realtime frames per player, across all their sockets.
    Frames,
    /// World resync requests per player, across all their sockets.
    Resync,
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

/// Locks the windows are spread over.
pub const SHARDS: usize = 16;
/// Failed sign-ins of one username allowed before the back-off starts.
pub const BACKOFF_FREE_FAILURES: u32 = 5;
/// The longest a username's back-off gets.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A username's failure count is forgotten after this long without an attempt (at most
/// twice this).
const BACKOFF_MEMORY: Duration = Duration::from_secs(900);

/// The rate-limit key of a client address: an IPv4 address (or an IPv4-mapped IPv6 one) as
/// itself, any other IPv6 address as its /64 prefix.
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A map whose entries are forgotten when untouched for two rotations: reads look in the
/// current generation, then in the previous one (and promote what they find); a rotation,
/// every `period`, makes the current generation the previous one and hands back the old
/// previous one for the caller to drop outside its lock.
#[derive(Debug)]
pub struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    rotated: Instant,
    period: Duration,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    /// An empty map rotating every `period`.
    pub fn new(period: Duration, now: Instant) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            rotated: now,
            period,
        }
    }

    /// The entry of `key`, created by `make` when it is not remembered. Returns, too, the
    /// generation a due rotation retired (drop it after releasing any lock).
    pub fn entry(
        &mut self,
        key: K,
        now: Instant,
        make: impl FnOnce() -> V,
    ) -> (&mut V, Option<HashMap<K, V>>) {
        let retired = if now.saturating_duration_since(self.rotated) >= self.period {
            self.rotated = now;
            let current = std::mem::take(&mut self.current);
            Some(std::mem::replace(&mut self.previous, current))
        } else {
            None
        };
        let value = match self.previous.remove(&key) {
            Some(v) => self.current.entry(key).or_insert(v),
            None => self.current.entry(key).or_insert_with(make),
        };
        (value, retired)
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.current.remove(key);
        self.previous.remove(key);
    }

    /// Entries remembered (both generations).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`Generations`] over [`SHARDS`] locks, the shard chosen by the key's hash.
#[derive(Debug)]
struct Sharded<K, V> {
    shards: Vec<Mutex<Generations<K, V>>>,
    hasher: std::hash::RandomState,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    fn new(period: Duration) -> Self {
        let now = Instant::now();
        Sharded {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Generations::new(period, now)))
                .collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Runs `f` on the entry of `key`.
    fn with<R>(
        &self,
        key: K,
        now: Instant,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut map = self.shard(&key);
        let (value, retired) = map.entry(key, now, make);
        let out = f(value);
        drop(map);
        drop(retired);
        out
    }

    fn remove(&self, key: &K) {
        self.shard(key).remove(key);
    }

    /// The locked shard `key` lives in.
    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, Generations<K, V>> {
        self.shards[self.hasher.hash_one(key) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// A username's failed sign-ins in a row, and when the next attempt may come.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until: Instant,
}

/// All limiters of one node.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    windows: Sharded<(Bucket, String), Window>,
    sign_ins: Sharded<String, Backoff>,
    guest: Mutex<Window>,
}

impl RateLimiter {
    /// A limiter with the configured limits.
    pub fn new(limits: RateLimits) -> Self {
        let horizon = longest_window(&limits) * 2;
        RateLimiter {
            limits,
            windows: Sharded::new(horizon),
            sign_ins: Sharded::new(BACKOFF_MEMORY),
            guest: Mutex::new(Window::new(Instant::now())),
        }
    }

    fn limit(&self, bucket: Bucket) -> Limit {
        match bucket {
            Bucket::Register => self.limits.register,
            Bucket::Auth => self.limits.auth,
            Bucket::Erase => self.limits.erase,
            Bucket::Iap => self.limits.iap,
            Bucket::Api => self.limits.api,
            Bucket::WsConnect => self.limits.ws_connect,
            Bucket::Join => self.limits.join,
            Bucket::Frames => self.limits.ws_messages,
            // The caller gives the resync budget (`check_with`); this is a fallback.
            Bucket::Resync => Limit::new(2, 10_000),
        }
    }

    /// Counts one request of `key` in `bucket`.
    pub fn check(&self, bucket: Bucket, key: &str) -> Result<Allowance, RetryAfter> {
        self.check_with(bucket, key, self.limit(bucket))
    }

    /// [`check`](Self::check) with an explicit limit (budgets that depend on the caller).
    pub fn check_with(
        &self,
        bucket: Bucket,
        key: &str,
        limit: Limit,
    ) -> Result<Allowance, RetryAfter> {
        let now = Instant::now();
        self.windows.with(
            (bucket, key.to_owned()),
            now,
            || Window::new(now),
            |w| w.admit(limit, now),
        )
    }

    /// Counts one guest creation node-wide.
    pub fn check_guest_creation(&self) -> Result<Allowance, RetryAfter> {
        let mut w = self.guest.lock().unwrap_or_else(|p| p.into_inner());
        w.admit(self.limits.guest_global, Instant::now())
    }

    /// Runs `f` on `username`'s back-off (case-insensitive) at `now`.
    fn backoff<R>(&self, username: &str, now: Instant, f: impl FnOnce(&mut Backoff) -> R) -> R {
        let fresh = || Backoff {
            failures: 0,
            until: now,
        };
        self.sign_ins.with(username.to_lowercase(), now, fresh, f)
    }

    /// Whether a password sign-in of `username` may be tried now.
    pub fn sign_in_allowed(&self, username: &str) -> Result<(), RetryAfter> {
        let now = Instant::now();
        self.backoff(username, now, |b| {
            match b.until.checked_duration_since(now) {
                Some(wait) if !wait.is_zero() => {
                    Err(RetryAfter(wait.as_secs_f64().ceil().max(1.0) as u64))
                }
                _ => Ok(()),
            }
        })
    }

    /// A failed sign-in of `username`: past the free failures, the next attempt waits 1 s,
    /// then 2 s, 4 s, … up to [`BACKOFF_MAX`].
    pub fn sign_in_failed(&self, username: &str) {
        let now = Instant::now();
        self.backoff(username, now, |b| {
            b.failures = b.failures.saturating_add(1);
            if let Some(over) = b.failures.checked_sub(BACKOFF_FREE_FAILURES) {
                let wait = Duration::from_secs(1u64 << over.min(16)).min(BACKOFF_MAX);
                b.until = now + wait;
            }
        });
    }

    /// A successful sign-in of `username` clears its back-off.
    pub fn sign_in_succeeded(&self, username: &str) {
        self.sign_ins.remove(&username.to_lowercase());
    }
}

/// The longest window any bucket uses (the resync window is a fixed 10 s).
fn longest_window(l: &RateLimits) -> Duration {
    [
        l.register,
        l.auth,
        l.erase,
        l.iap,
        l.api,
        l.ws_connect,
        l.ws_messages,
        l.join,
    ]
    .iter()
    .map(Limit::window)
    .chain([Duration::from_secs(10)])
    .max()
    .unwrap_or(Duration::from_secs(60))
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

    /// Issue 15 §11: untouched entries go two rotations later, touched ones stay.
    #[test]
    fn generations_forget_untouched_entries_without_a_scan() {
        let t0 = Instant::now();
        let period = Duration::from_secs(10);
        let mut g: Generations<&str, u32> = Generations::new(period, t0);
        *g.entry("kept", t0, || 0).0 += 1;
        *g.entry("dropped", t0, || 0).0 += 1;
        let (_, retired) = g.entry("kept", t0 + period, || 0);
        assert!(retired.is_some_and(|r| r.is_empty()));
        assert_eq!(
            *g.entry("kept", t0 + period, || 0).0,
            1,
            "promoted, not reset"
        );
        let (_, retired) = g.entry("kept", t0 + period * 2, || 0);
        assert_eq!(
            retired.map(|r| r.len()),
            Some(1),
            "the untouched entry is retired"
        );
        assert_eq!(g.len(), 1);
        assert_eq!(*g.entry("kept", t0 + period * 2, || 0).0, 1);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(key("10.0.0.1"), "10.0.0.1");
    }

    /// Issue 15 §7: failed sign-ins back off per username, whatever the address.
    #[test]
    fn failed_sign_ins_back_off_per_username() {
        let r = RateLimiter::new(RateLimits::default());
        for _ in 0..BACKOFF_FREE_FAILURES - 1 {
            assert!(r.sign_in_allowed("Alice").is_ok());
            r.sign_in_failed("alice");
        }
        assert!(r.sign_in_allowed("ALICE").is_ok());
        r.sign_in_failed("Alice");
        assert_eq!(r.sign_in_allowed("alice"), Err(RetryAfter(1)));
        r.sign_in_failed("Alice");
        assert_eq!(r.sign_in_allowed("alice"), Err(RetryAfter(2)));
        assert!(r.sign_in_allowed("bob").is_ok(), "per username");
        for _ in 0..40 {
            r.sign_in_failed("alice");
        }
        assert_eq!(
            r.sign_in_allowed("alice"),
            Err(RetryAfter(BACKOFF_MAX.as_secs()))
        );
        r.sign_in_succeeded("alice");
        assert!(r.sign_in_allowed("alice").is_ok());
    }
}
