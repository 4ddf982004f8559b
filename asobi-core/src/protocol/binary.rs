//! The binary frame format of the native (QUIC) path.
//!
//! ```text
//! frame  = version:u8 (= 1) | length:u32 LE | header | payload
//! header = bincode (standard config: little-endian varints) of FrameHeader
//! ```
//!
//! `length` counts `header + payload` and is checked against the caller's limit before
//! anything is allocated; the header is decoded with a small fixed bincode limit, so no field
//! can claim more memory than the frame holds. The payload is the message's JSON payload in
//! version 1; kinds with compact typed bodies (state deltas, inputs) are added by kind id,
//! never by changing an existing kind. Kind ids are append-only, like the enums in
//! [`super::client`] and [`super::server`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{ClientMessage, ClientType};
use super::envelope::{Inbound, InboundError};
use super::error::Reason;
use super::server::{GameEvent, KIND_MATCH_EVENT, KIND_WORLD_EVENT, ServerMessage};

/// The only frame version this build speaks.
pub const FRAME_VERSION: u8 = 1;
/// Bytes before the header: version and length.
pub const PREFIX_LEN: usize = 5;
/// Largest client → server frame body (same as the WebSocket text limit).
pub const MAX_CLIENT_FRAME: usize = 65_536;
/// Largest server → client frame body.
pub const MAX_SERVER_FRAME: usize = 4 * 1024 * 1024;
/// Bound on an encoded header: kind, cid, seq varints and an event name of at most 64 bytes.
const MAX_HEADER: usize = 128;

/// Why bytes could not be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte is not one this build speaks.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The declared length exceeds the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header is malformed.
    #[error("malformed frame header: {0}")]
    Header(String),
    /// A datagram held more or fewer bytes than its length prefix says.
    #[error("datagram length mismatch")]
    LengthMismatch,
}

impl FrameError {
    /// The protocol error reason to answer a client with.
    pub fn reason(&self) -> Reason {
        match self {
            FrameError::TooLarge { .. } => Reason::PayloadTooLarge,
            _ => Reason::InvalidMessage,
        }
    }
}

/// The bincode-encoded part of a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FrameHeader {
    kind: u16,
    cid: Option<u64>,
    seq: Option<u64>,
    event: Option<String>,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Message kind id.
    pub kind: u16,
    /// Request correlation id (the native path uses integers).
    pub cid: Option<u64>,
    /// Input sequence (`world.input`).
    pub seq: Option<u64>,
    /// Leaf name of a game event kind.
    pub event: Option<String>,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_HEADER>()
}

impl Frame {
    /// Encodes the frame, prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let header = FrameHeader {
            kind: self.kind,
            cid: self.cid,
            seq: self.seq,
            event: self.event.clone(),
        };
        // The header holds only integers and a short string; encoding into a Vec cannot fail.
        let header =
            bincode::serde::encode_to_vec(&header, bincode::config::standard()).unwrap_or_default();
        let len = header.len() + self.payload.len();
        let mut out = Vec::with_capacity(PREFIX_LEN + len);
        out.push(FRAME_VERSION);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes one frame from the front of a stream buffer. `Ok(None)` means more bytes are
    /// needed; on success the number of bytes consumed is returned with the frame.
    pub fn decode(buf: &[u8], max_len: usize) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(&version) = buf.first() else {
            return Ok(None);
        };
        if version != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let Some(len_bytes) = buf.get(1..PREFIX_LEN) else {
            return Ok(None);
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(len_bytes);
        let len = u32::from_le_bytes(len) as usize;
        if len > max_len {
            return Err(FrameError::TooLarge { len, max: max_len });
        }
        let Some(body) = buf.get(PREFIX_LEN..PREFIX_LEN + len) else {
            return Ok(None);
        };
        let probe = &body[..body.len().min(MAX_HEADER)];
        let (header, used): (FrameHeader, usize) =
            bincode::serde::decode_from_slice(probe, config())
                .map_err(|e| FrameError::Header(e.to_string()))?;
        let frame = Frame {
            kind: header.kind,
            cid: header.cid,
            seq: header.seq,
            event: header.event,
            payload: body[used..].to_vec(),
        };
        Ok(Some((frame, PREFIX_LEN + len)))
    }

    /// Decodes a datagram, which must hold exactly one frame.
    pub fn decode_datagram(buf: &[u8], max_len: usize) -> Result<Frame, FrameError> {
        match Frame::decode(buf, max_len)? {
            Some((frame, used)) if used == buf.len() => Ok(frame),
            _ => Err(FrameError::LengthMismatch),
        }
    }

    /// The frame for a server message.
    pub fn from_server(msg: &ServerMessage, cid: Option<u64>) -> Frame {
        let mut payload = Vec::new();
        msg.write_payload(&mut payload);
        let event = match msg {
            ServerMessage::MatchEvent(e) | ServerMessage::WorldEvent(e) => {
                Some(e.name().to_owned())
            }
            _ => None,
        };
        Frame {
            kind: msg.kind(),
            cid,
            seq: None,
            event,
            payload,
        }
    }

    /// Reads a server message back.
    pub fn to_server(&self) -> Result<ServerMessage, FrameError> {
        let payload: Value = serde_json::from_slice(&self.payload)
            .map_err(|e| FrameError::Header(format!("payload: {e}")))?;
        let ty = match (self.kind, &self.event) {
            (KIND_MATCH_EVENT, Some(name)) => format!("match.{name}"),
            (KIND_WORLD_EVENT, Some(name)) => format!("world.{name}"),
            (kind, _) => ServerMessage::name_of_kind(kind)
                .ok_or_else(|| FrameError::Header(format!("unknown kind {kind}")))?
                .to_owned(),
        };
        if let Some(name) = &self.event {
            GameEvent::new(name, Value::Null).map_err(|e| FrameError::Header(e.to_string()))?;
        }
        ServerMessage::from_parts(&ty, payload).map_err(|e| FrameError::Header(e.to_string()))
    }

    /// The frame for a client message.
    pub fn from_client(msg: &ClientMessage, cid: Option<u64>) -> Frame {
        let payload = serde_json::to_vec(&msg.payload()).unwrap_or_default();
        Frame {
            kind: msg.client_type().kind(),
            cid,
            seq: msg.seq(),
            event: None,
            payload,
        }
    }

    /// Reads a client message, with the same error reasons as the JSON path: an unknown kind
    /// is `unknown_type`, an unreadable payload `invalid_json`, a bad shape its own reason.
    pub fn to_client(&self) -> Result<Inbound, InboundError> {
        let cid = self.cid.map(Value::from);
        let fail = |reason| InboundError {
            reason,
            cid: cid.clone(),
            request_type: None,
        };
        let ty = ClientType::from_kind(self.kind).ok_or_else(|| fail(Reason::UnknownType))?;
        let payload = if self.payload.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&self.payload).map_err(|_| fail(Reason::InvalidJson))?)
        };
        let seq = self.seq.map(Value::from);
        match ClientMessage::decode(ty, payload, seq.as_ref()) {
            Ok(message) => Ok(Inbound { cid, message }),
            Err(f) => Err(InboundError {
                reason: f.reason,
                cid,
                request_type: f.request_type,
            }),
        }
    }
}
