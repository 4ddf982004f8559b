//! Code shared by the Asobi server and its clients: the wire protocol, world math (with the
//! native path's compact `world.tick` codec), and the shared simulation with prediction.
//!
//! This crate does no I/O and depends on no runtime: it turns bytes into typed messages and
//! back, so the server, the Rust client and the C ABI agree on the wire by construction.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod fuzzing;
pub mod protocol;
pub mod sim;
pub mod world;
