//! The JSON envelope `{type, payload, cid?}` (`websocket.md` §2): decoding an inbound text
//! frame in the contract's order, and encoding outbound frames.
//!
//! The gateway checks the frame size and the message rate first (§2.1 steps 1–2); this module
//! does steps 3–5: JSON syntax, a string `type`, and the typed payload.

use serde_json::{Map, Value};

use super::client::{ClientMessage, ClientType, DecodeFailure};
use super::error::{ErrorPayload, Reason};
use super::server::ServerMessage;

/// A correlation id: any JSON value, echoed verbatim.
pub type Cid = Value;

/// Largest inbound text frame, in bytes (`websocket.md` §5).
pub const MAX_TEXT_FRAME: usize = 65_536;

/// An envelope whose `type` is known but whose payload is not decoded yet. Lets the session
/// apply the pre-authentication rule before looking at the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The message type.
    pub ty: ClientType,
    /// The correlation id, if the client sent one.
    pub cid: Option<Cid>,
    /// The raw payload, `None` when the key was absent.
    pub payload: Option<Value>,
    /// The top-level `seq` (only meaningful for `world.input`).
    pub seq: Option<Value>,
}

/// A fully decoded inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The correlation id, if any.
    pub cid: Option<Cid>,
    /// The message.
    pub message: ClientMessage,
}

/// An inbound frame that must be answered with an `error` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundError {
    /// Why.
    pub reason: Reason,
    /// The request's `cid`, when the frame got far enough to have one.
    pub cid: Option<Cid>,
    /// The extra `"type"` key some errors carry.
    pub request_type: Option<ClientType>,
}

impl InboundError {
    /// An error before the envelope was understood: no `cid`.
    pub fn bare(reason: Reason) -> Self {
        InboundError {
            reason,
            cid: None,
            request_type: None,
        }
    }

    /// The `error` frame payload for this failure.
    pub fn to_payload(&self) -> ErrorPayload {
        let payload = ErrorPayload::from_reason(self.reason);
        match self.request_type {
            Some(t) => payload.with_request_type(t.as_str()),
            None => payload,
        }
    }
}

/// Parses a text frame into an [`Envelope`]: invalid JSON → `invalid_json`; not an object with
/// a string `type` → `invalid_message`; an unknown type → `unknown_type` (with `cid`).
pub fn parse_envelope(text: &str) -> Result<Envelope, InboundError> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| InboundError::bare(Reason::InvalidJson))?;
    let Value::Object(mut obj) = value else {
        return Err(InboundError::bare(Reason::InvalidMessage));
    };
    let Some(Value::String(ty)) = obj.remove("type") else {
        return Err(InboundError::bare(Reason::InvalidMessage));
    };
    let cid = obj.remove("cid");
    let Some(ty) = ClientType::parse(&ty) else {
        return Err(InboundError {
            reason: Reason::UnknownType,
            cid,
            request_type: None,
        });
    };
    Ok(Envelope {
        ty,
        cid,
        payload: obj.remove("payload"),
        seq: obj.remove("seq"),
    })
}

impl Envelope {
    /// Decodes the payload into a typed message.
    pub fn decode(self) -> Result<Inbound, InboundError> {
        match ClientMessage::decode(self.ty, self.payload, self.seq.as_ref()) {
            Ok(message) => Ok(Inbound {
                cid: self.cid,
                message,
            }),
            Err(DecodeFailure {
                reason,
                request_type,
            }) => Err(InboundError {
                reason,
                cid: self.cid,
                request_type,
            }),
        }
    }
}

/// Decodes a whole inbound text frame.
pub fn decode_text(text: &str) -> Result<Inbound, InboundError> {
    parse_envelope(text)?.decode()
}

/// Encodes a server message as a JSON text frame, with `cid` when it is a reply.
pub fn encode_text(msg: &ServerMessage, cid: Option<&Cid>) -> String {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"type\":");
    write_json_string(&mut out, &msg.type_name());
    if let Some(cid) = cid {
        out.extend_from_slice(b",\"cid\":");
        // A JSON value always serialises.
        let _ = serde_json::to_writer(&mut out, cid);
    }
    out.extend_from_slice(b",\"payload\":");
    msg.write_payload(&mut out);
    out.push(b'}');
    // serde_json only writes UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Encodes a client message as a JSON text frame (used by Rust clients and tests).
pub fn encode_client_text(msg: &ClientMessage, cid: Option<&Cid>) -> String {
    let mut obj = Map::new();
    obj.insert("type".into(), msg.client_type().as_str().into());
    if let Some(cid) = cid {
        obj.insert("cid".into(), cid.clone());
    }
    if let Some(seq) = msg.seq() {
        obj.insert("seq".into(), seq.into());
    }
    obj.insert("payload".into(), msg.payload());
    Value::Object(obj).to_string()
}

/// Reads an outbound text frame back into `(message, cid)` (used by Rust clients and tests).
pub fn decode_server_text(
    text: &str,
) -> Result<(ServerMessage, Option<Cid>), super::server::ServerDecodeError> {
    use super::server::ServerDecodeError as E;
    let bad = |e| E::Payload {
        ty: String::new(),
        source: e,
    };
    let Value::Object(mut obj) = serde_json::from_str(text).map_err(bad)? else {
        return Err(E::UnknownType(String::new()));
    };
    let Some(Value::String(ty)) = obj.remove("type") else {
        return Err(E::UnknownType(String::new()));
    };
    let payload = obj.remove("payload").unwrap_or(Value::Object(Map::new()));
    Ok((ServerMessage::from_parts(&ty, payload)?, obj.remove("cid")))
}

fn write_json_string(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::server::Heartbeat;
    use serde_json::json;

    #[test]
    fn pipeline_order() {
        assert_eq!(
            decode_text("{").unwrap_err(),
            InboundError::bare(Reason::InvalidJson)
        );
        assert_eq!(
            decode_text("[]").unwrap_err(),
            InboundError::bare(Reason::InvalidMessage)
        );
        assert_eq!(
            decode_text(r#"{"type": 3, "cid": "1"}"#).unwrap_err(),
            InboundError::bare(Reason::InvalidMessage)
        );
        let e = decode_text(r#"{"type": "nope", "cid": 7}"#).unwrap_err();
        assert_eq!((e.reason, e.cid), (Reason::UnknownType, Some(json!(7))));
        let e =
            decode_text(r#"{"type": "match.join", "cid": {"a": 1}, "payload": {}}"#).unwrap_err();
        assert_eq!(
            (e.reason, e.cid),
            (Reason::MissingField, Some(json!({"a": 1})))
        );
    }

    #[test]
    fn outbound_cid_is_echoed_verbatim_or_absent() {
        let msg = ServerMessage::Heartbeat(Heartbeat { ts: 5 });
        assert_eq!(
            encode_text(&msg, None),
            r#"{"type":"session.heartbeat","payload":{"ts":5}}"#
        );
        let with = encode_text(&msg, Some(&json!(["x", 1])));
        let v: Value = serde_json::from_str(&with).unwrap();
        assert_eq!(
            v,
            json!({"type": "session.heartbeat", "cid": ["x", 1], "payload": {"ts": 5}})
        );
    }

    #[test]
    fn error_payload_carries_request_type() {
        let e = decode_text(r#"{"type":"matchmaker.add","payload":{"mode":false}}"#).unwrap_err();
        let p = serde_json::to_value(e.to_payload()).unwrap();
        assert_eq!(p["type"], "matchmaker.add");
        assert_eq!(p["reason"], "unknown_mode");
        assert_eq!(p["error"]["code"], "matchmaker.unknown_mode");
    }
}
