//! The wire protocol: one source of truth for every message the server and its clients
//! exchange.
//!
//! - [`client`]: the 24 client → server types and their payload rules;
//! - [`server`]: every server → client type, including game events;
//! - [`envelope`]: the JSON `{type, payload, cid?}` envelope of the WebSocket path;
//! - [`binary`]: the length-prefixed bincode frames of the native path;
//! - [`error`]: the closed set of error codes, legacy reasons and the error payloads;
//! - [`event`]: name rules for game-defined events.
//!
//! Nothing here does I/O: bytes in, typed messages out, and back.

pub mod binary;
pub mod client;
pub mod envelope;
pub mod error;
pub mod event;
pub mod server;

pub use client::{ClientMessage, ClientType, ListFilter, longest_string};
pub use envelope::{Cid, Envelope, Inbound, InboundError, MAX_TEXT_FRAME};
pub use error::{ErrorCode, ErrorObject, ErrorPayload, Reason};
pub use server::ServerMessage;
