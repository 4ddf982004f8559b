//! Lua game modes: Asobi's Lua API on a sandboxed Lua 5.4, hot-reloaded on the next tick
//! (`lua.md`).

pub mod api;
pub mod convert;
pub mod discovery;
pub mod match_mode;
pub mod sandbox;
