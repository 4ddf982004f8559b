//! World math shared by the server and clients: the zone grid and interest rings, the
//! `world.tick` delta model, and terrain chunks. Pure functions, no I/O.

pub mod compact;
pub mod delta;
pub mod grid;
pub mod spatial;
pub mod terrain;
