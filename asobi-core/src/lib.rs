//! Code shared by the Asobi server and its clients: the wire protocol today; the shared
//! simulation, replication and world math as they arrive.
//!
//! This crate does no I/O and depends on no runtime: it turns bytes into typed messages and
//! back, so the server, the Rust client and the C ABI agree on the wire by construction.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod protocol;
pub mod sim;
pub mod world;
