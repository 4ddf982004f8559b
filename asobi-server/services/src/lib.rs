//! Asobi's backend services: each owns its tables and exposes async functions with typed
//! errors that map to the contract's codes (`rest.md` §3). REST handlers, the WebSocket, the
//! Lua `game.*` API, Rust game modes and the ops API all call these functions; none of them
//! keeps a second implementation.
//!
//! This crate knows nothing of sessions, instances or transports: it sees a [`db::Db`] and a
//! [`clock::Clock`]. The pattern every service here follows, and every later one copies:
//!
//! - one module per service (`saves`, `storage`, `leaderboards`, `economy`, …), owning its tables (created
//!   by the migrations under `migrations/{sqlite,postgres}`; nothing else touches them);
//! - a service handle that is cheap to clone, built once at start;
//! - an error enum (`thiserror`) per service implementing [`error::Coded`]: the code of the
//!   closed set, the `details` object, and (through the code) the short reason Lua sees;
//! - writes that race are settled by the database in one statement (a conditional `UPDATE`
//!   or an upsert), or inside [`db::Db::serialized`] where a decision needs a read first;
//! - timestamps as Unix milliseconds in the database, rendered ISO-8601 on the way out
//!   ([`time::iso8601`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod chat;
pub mod clock;
pub mod db;
pub mod economy;
pub mod error;
pub mod export;
pub mod iap;
pub mod leaderboards;
pub mod notifications;
pub mod outbound;
pub mod parties;
pub mod saves;
pub mod signin;
pub mod social;
pub mod storage;
pub mod time;
pub mod tournaments;

pub use error::Coded;

/// A new row id: UUIDv7, lowercase and hyphenated (`rest.md` §2.3).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is an id as [`new_id`] writes them: a lowercase hyphenated UUID.
pub fn is_canonical_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_canonical_uuids() {
        assert!(super::is_canonical_id(&super::new_id()));
        assert!(super::is_canonical_id(
            "0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b"
        ));
        assert!(!super::is_canonical_id(
            "0198F3A2-7C41-7D10-9A2B-5F0C1E2D3A4B"
        ));
        assert!(!super::is_canonical_id("0198f3a27c417d109a2b5f0c1e2d3a4b"));
    }
}
