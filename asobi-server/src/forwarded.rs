//! The client's address behind a load balancer: the one header the operator names
//! (`forwarded_header`: `X-Forwarded-For`, the default, or `Forwarded`) is believed only
//! when the connection comes from a configured trusted proxy (`trusted_proxies`, addresses
//! or CIDR blocks); the other header is never read, since proxies pass a client's own copy
//! of it through. Everything keyed on "the client's address" (rate limits, connect limits,
//! session spans) goes through [`client_ip`].
//!
//! The header's entries are read right to left, each hop appending the address it saw: the
//! first entry that is not itself a trusted proxy is the client. A client cannot choose its
//! address by sending the header itself, because its own entries are left of the ones the
//! trusted proxies appended.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address block, `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a block did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP address or CIDR block")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Cidr {
    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        // IPv4 sits in the top 32 bits, so one mask serves both families.
        let mask = match u32::from(self.prefix) {
            0 => 0,
            p => u128::MAX << (128 - p.min(128)),
        };
        bits(self.addr) & mask == bits(ip) & mask
    }
}

/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, cloud load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The client's address: `peer` itself unless `peer` is a trusted proxy, then the rightmost
/// untrusted address of the configured header.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
    header: ForwardedHeader,
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_for(headers, header);
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(*ip) => client = *ip,
            Some(ip) => return *ip,
            // An entry we cannot read (obfuscated, `unknown`): stop at the last one we trust.
            None => return client,
        }
    }
    client
}

/// The hops of `header`, left to right; `None` for an entry that is not an address.
fn forwarded_for(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    match header {
        ForwardedHeader::Forwarded => joined("forwarded")
            .map(|v| {
                v.split(',')
                    .map(|element| {
                        element.split(';').find_map(|pair| {
                            let (k, v) = pair.split_once('=')?;
                            k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v))
                        })?
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ForwardedHeader::XForwardedFor => joined("x-forwarded-for")
            .map(|v| v.split(',').map(parse_node).collect())
            .unwrap_or_default(),
    }
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80` → the address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse().ok().or_else(|| {
        node.rsplit_once(':')?
            .0
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn blocks_parse_and_contain() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.9.8.7")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")));
        let one: Cidr = "192.0.2.1".parse().unwrap();
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    /// Issue 15 §15: forwarded headers count only from trusted proxies.
    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        let ip_of = |peer, h: &HeaderMap, t: &[Cidr]| client_ip(peer, h, t, xff);
        let xff = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        // From a stranger: the header is ignored.
        assert_eq!(
            ip_of(ip("198.51.100.1"), &xff, &trusted),
            ip("198.51.100.1")
        );
        // From the proxy: the rightmost untrusted entry, not the client-chosen leftmost one.
        assert_eq!(ip_of(ip("10.0.0.2"), &xff, &trusted), ip("203.0.113.9"));
        let chain = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.5")]);
        assert_eq!(ip_of(ip("10.0.0.2"), &chain, &trusted), ip("203.0.113.9"));
        let fwd = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https",
        )]);
        let rfc = ForwardedHeader::Forwarded;
        assert_eq!(
            client_ip(ip("10.0.0.2"), &fwd, &trusted, rfc),
            ip("2001:db8::7")
        );
        // The header not configured is never read (proxies pass a client's own through).
        assert_eq!(ip_of(ip("10.0.0.2"), &fwd, &trusted), ip("10.0.0.2"));
        let both = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(ip_of(ip("10.0.0.2"), &both, &trusted), ip("203.0.113.9"));
        let port = headers(&[("x-forwarded-for", "192.0.2.4:5555")]);
        assert_eq!(ip_of(ip("10.0.0.2"), &port, &trusted), ip("192.0.2.4"));
        // No header, or nothing trusted configured: the peer.
        assert_eq!(
            ip_of(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(ip_of(ip("10.0.0.2"), &xff, &[]), ip("10.0.0.2"));
        let junk = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(ip_of(ip("10.0.0.2"), &junk, &trusted), ip("10.0.0.2"));
    }
}
