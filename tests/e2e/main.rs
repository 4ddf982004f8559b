//! End-to-end tests: one binary (it links once) with a module per area. Every test boots its
//! own server on an ephemeral port and talks to it over real sockets, so they run in parallel.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

mod arena;
mod auth;
mod economy;
mod iap;
mod leaderboards;
mod lifecycle;
mod lua;
mod matches;
mod matchmaker;
mod modes;
mod native;
mod oauth;
mod objects;
mod ops_players;
mod players;
mod prediction;
mod saves;
mod social;
mod storage;
mod tls;
mod tournaments;
mod world_modes;
mod worlds;
mod ws;
