//! `asobi-server`: an authoritative multiplayer game server that speaks Asobi's WebSocket and
//! REST protocol.
//!
//! ```text
//! socket ─ gateway (ws) ─ session ─ services (accounts, …) ─ storage (sqlx: SQLite | PostgreSQL)
//! REST (axum) ─ middleware (request id, CORS, body cap, rate limit, bearer) ─ services
//! ```
//!
//! - [`config`]: `asobi.toml` < `ASOBI_*` env < flags;
//! - [`db`]: the pool and the embedded migrations;
//! - [`auth`]: players, credentials, token families, provider identities, bans (tokens from
//!   providers are verified by `asobi_services::signin`);
//! - [`erasure`] and [`export`]: the one erase and the one export of a player, across every
//!   service;
//! - [`game`]: the Rust game-mode API (start there to write a mode);
//! - [`matches`]: live matches as bevy Apps on the simulation runtime, and their records;
//! - [`matchmaker`]: database-backed tickets, strategies, and starting matched groups;
//! - [`worlds`]: persistent worlds — zone grids of bevy Apps, interest rings, deltas, terrain;
//! - [`lua`]: Lua game modes — discovery, the sandbox, the `game` API, hot reload;
//! - [`http`]: REST routes, health, the middleware pipeline;
//! - [`gateway`]: transports (WebSocket today) feeding [`session`]s;
//! - [`server`]: start, serve, drain and stop.
//!
//! Embed a node with [`server::start`], or [`server::start_game`] with a Rust [`Game`] (modes
//! and sign-in hooks); `tests/` does exactly that on ephemeral ports.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod chat;
pub mod config;
pub use asobi_services::db;
pub mod economy_sync;
pub mod erasure;
pub mod error;
pub mod export;
pub mod forwarded;
pub mod game;
pub mod gateway;
pub mod http;
pub mod iap;
pub mod instances;
pub mod logging;
pub mod lua;
pub mod matches;
pub mod matchmaker;
pub mod modes;
pub mod parties;
pub mod phases;
pub mod presence;
pub mod ratelimit;
pub mod server;
pub mod session;
pub mod social;
pub mod state;
pub mod stats;
pub use asobi_services::time;
pub mod worlds;

pub use config::Config;
pub use server::{
    Game, RunningServer, StartError, start, start_game, start_with_game, start_with_modes,
};
