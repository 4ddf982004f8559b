//! The generator's side of the machine: loopback-only targets, the file-descriptor limit,
//! and the source addresses that spread connections past one address's ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::error::BenchError;

/// Parses `host:port` and refuses anything that is not a loopback address: the generator
/// is a load tool for this machine's own server, never for someone else's.
pub fn loopback(addr: &str) -> Result<SocketAddr, BenchError> {
    let parsed: SocketAddr = addr
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|_| BenchError::Config(format!("not an ip:port address: {addr}")))?;
    if parsed.ip().is_loopback() {
        Ok(parsed)
    } else {
        Err(BenchError::Config(format!(
            "{addr} is not a loopback address; the generator only loads this machine"
        )))
    }
}

/// Raises this process's open-file limit to its hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}

/// Source addresses handed out round-robin: 127.0.0.2, 127.0.0.3, … Each has its own
/// ephemeral port range (about 28,000 ports on Linux), so N of them carry N times as many
/// connections to one server port.
#[derive(Debug)]
pub struct Sources {
    addrs: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Sources {
    /// `count` addresses on the target's loopback family (IPv6 has only `::1`).
    pub fn new(target: SocketAddr, count: usize) -> Self {
        let addrs = match target.ip() {
            IpAddr::V4(_) => (0..count.clamp(1, 250))
                .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
                .collect(),
            IpAddr::V6(v6) => vec![IpAddr::V6(v6)],
        };
        Sources {
            addrs,
            next: AtomicUsize::new(0),
        }
    }

    /// The next address to bind.
    pub fn next(&self) -> IpAddr {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.addrs[i % self.addrs.len()]
    }

    /// All of them.
    pub fn all(&self) -> &[IpAddr] {
        &self.addrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback("127.0.0.1:8080").is_ok());
        assert!(loopback("http://127.0.0.1:8080/").is_ok());
        assert!(loopback("[::1]:8443").is_ok());
        assert!(matches!(
            loopback("10.0.0.1:80"),
            Err(BenchError::Config(_))
        ));
        assert!(matches!(
            loopback("example.com:80"),
            Err(BenchError::Config(_))
        ));
    }

    #[test]
    fn sources_rotate_over_distinct_loopback_addresses() {
        let s = Sources::new(loopback("127.0.0.1:1").unwrap(), 3);
        let got: Vec<IpAddr> = (0..4).map(|_| s.next()).collect();
        assert_eq!(got[0], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(got[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(got[3], got[0]);
    }
}
