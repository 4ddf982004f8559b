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
