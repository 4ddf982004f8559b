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
use super::envelope::{Envelope, Inbound, InboundError};
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
        let Some(len) = declared_len(buf) else {
            return Ok(None);
        };
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

    /// Reads the envelope of a client frame, with the same error reasons as the JSON path: an
    /// unknown kind is `unknown_type`, an unreadable payload `invalid_json`. The payload's shape
    /// is checked by [`Envelope::decode`], so the session applies one set of rules to both
    /// transports.
    pub fn to_envelope(&self) -> Result<Envelope, InboundError> {
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
        Ok(Envelope {
            ty,
            cid,
            payload,
            seq: self.seq.map(Value::from),
        })
    }

    /// Reads a client message: [`Frame::to_envelope`], then the payload's shape.
    pub fn to_client(&self) -> Result<Inbound, InboundError> {
        self.to_envelope()?.decode()
    }
}

/// What a [`FrameReader`] could not turn into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// One frame was unusable and has been skipped; the stream goes on.
    #[error("{0} (skipped)")]
    Skipped(FrameError),
    /// The stream cannot be read any further (its framing is lost, or a frame is beyond the
    /// hard limit): the connection should be closed after answering.
    #[error("{0}")]
    Fatal(FrameError),
}

impl StreamError {
    /// The underlying frame error.
    pub fn frame_error(&self) -> &FrameError {
        match self {
            StreamError::Skipped(e) | StreamError::Fatal(e) => e,
        }
    }
}

/// Splits a byte stream into frames, sans-IO: the caller pushes what it read and pulls
/// frames. The buffer never holds more than one frame of at most `max` bytes: a frame
/// declared larger than `max` (but within `hard`) is skipped as its bytes arrive, without
/// being buffered, and reported once as [`StreamError::Skipped`].
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max: usize,
    hard: usize,
    skip: usize,
    failed: bool,
}

impl FrameReader {
    /// A reader accepting frames of at most `max` bytes and skipping frames up to `hard`.
    pub fn new(max: usize, hard: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            max,
            hard: hard.max(max),
            skip: 0,
            failed: false,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame, `None` when more bytes are needed. After a fatal error the reader
    /// yields nothing more.
    pub fn next_frame(&mut self) -> Option<Result<Frame, StreamError>> {
        if self.failed || self.skip > 0 {
            return None;
        }
        let fatal = |this: &mut Self, e| {
            this.failed = true;
            this.buf.clear();
            Some(Err(StreamError::Fatal(e)))
        };
        let &version = self.buf.first()?;
        if version != FRAME_VERSION {
            return fatal(self, FrameError::UnsupportedVersion(version));
        }
        let len = declared_len(&self.buf)?;
        if len > self.hard {
            return fatal(self, FrameError::TooLarge { len, max: self.max });
        }
        if len > self.max {
            let total = PREFIX_LEN + len;
            let have = self.buf.len().min(total);
            self.buf.drain(..have);
            self.skip = total - have;
            return Some(Err(StreamError::Skipped(FrameError::TooLarge {
                len,
                max: self.max,
            })));
        }
        match Frame::decode(&self.buf, self.max) {
            Ok(None) => None,
            Ok(Some((frame, used))) => {
                self.buf.drain(..used);
                Some(Ok(frame))
            }
            Err(e) => {
                self.buf.drain(..PREFIX_LEN + len);
                Some(Err(StreamError::Skipped(e)))
            }
        }
    }
}

/// The body length a frame prefix declares, once the prefix is complete.
fn declared_len(buf: &[u8]) -> Option<usize> {
    let bytes: [u8; 4] = buf.get(1..PREFIX_LEN)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes) as usize)
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    fn frame(kind: u16, payload: &[u8]) -> Vec<u8> {
        Frame {
            kind,
            cid: Some(7),
            seq: None,
            event: None,
            payload: payload.to_vec(),
        }
        .encode()
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut bytes = frame(1, b"{}");
        bytes.extend(frame(2, b"{\"a\":1}"));
        for cut in 0..bytes.len() {
            let mut r = FrameReader::new(64, 128);
            r.push(&bytes[..cut]);
            let mut got = Vec::new();
            while let Some(f) = r.next_frame() {
                got.push(f.expect("valid"));
            }
            r.push(&bytes[cut..]);
            while let Some(f) = r.next_frame() {
                got.push(f.expect("valid"));
            }
            assert_eq!(
                got.iter().map(|f| f.kind).collect::<Vec<_>>(),
                [1, 2],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn oversized_frames_are_skipped_without_buffering_and_the_stream_goes_on() {
        let big = frame(1, &[b'x'; 100]);
        let mut r = FrameReader::new(64, 1024);
        r.push(&big[..10]);
        assert!(matches!(
            r.next_frame(),
            Some(Err(StreamError::Skipped(FrameError::TooLarge { .. })))
        ));
        assert!(r.buf.is_empty());
        r.push(&big[10..]);
        r.push(&frame(3, b"{}"));
        assert_eq!(r.next_frame().map(|f| f.map(|f| f.kind)), Some(Ok(3)));
    }

    #[test]
    fn lost_framing_and_absurd_lengths_are_fatal() {
        let mut r = FrameReader::new(64, 1024);
        r.push(&[9, 0, 0, 0, 0]);
        assert!(matches!(r.next_frame(), Some(Err(StreamError::Fatal(_)))));
        assert!(r.next_frame().is_none());
        let mut r = FrameReader::new(64, 1024);
        r.push(&[FRAME_VERSION, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            r.next_frame(),
            Some(Err(StreamError::Fatal(FrameError::TooLarge { .. })))
        ));
    }

    #[test]
    fn a_bad_header_skips_that_frame_only() {
        let mut r = FrameReader::new(64, 1024);
        r.push(&[FRAME_VERSION, 3, 0, 0, 0, 0xff, 0xff, 0xff]);
        r.push(&frame(4, b""));
        assert!(matches!(r.next_frame(), Some(Err(StreamError::Skipped(_)))));
        assert_eq!(r.next_frame().map(|f| f.map(|f| f.kind)), Some(Ok(4)));
    }
}
