//! The engine-free part of the Godot extension: a polled client (the same core as libasobi's
//! C ABI, [`asobi::ClientInner`]) and the translation of each polled outcome into a signal
//! name and plain arguments. The `#[godot_api]` layer in `lib.rs` only turns these into
//! Variants, so everything with behaviour here is tested by `cargo test` against a server.

use asobi::status::FfiError;
use asobi::{ClientInner, Outcome, failure_code, json_text, message};
use asobi_client::Event;

/// A signal argument before it becomes a Godot Variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// JSON text, parsed into a Dictionary/Array by the Godot layer.
    Json(String),
}

/// One signal to emit on the `AsobiClient` node.
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    /// The signal's name.
    pub signal: &'static str,
    /// Its arguments.
    pub args: Vec<Arg>,
}

/// The signals `AsobiClient` declares, with their argument names.
pub const SIGNALS: &[(&str, &[&str])] = &[
    ("request_completed", &["request_id", "type", "result"]),
    ("request_failed", &["request_id", "code", "message"]),
    ("connected", &["resumed"]),
    ("disconnected", &["code", "reason", "reconnecting"]),
    ("closed", &[]),
    ("match_state", &["state"]),
    ("matched", &["match"]),
    ("message", &["type", "payload"]),
];

/// A client plus its signal translation.
pub struct Core {
    inner: ClientInner,
}

impl Core {
    /// A client for the server at `http_url`.
    pub fn new(http_url: &str) -> Result<Self, FfiError> {
        Ok(Core {
            inner: ClientInner::new(http_url)?,
        })
    }

    /// Realtime over QUIC.
    pub fn use_quic(&self, addr: &str, pin: Option<&str>) -> Result<(), FfiError> {
        self.inner.use_quic(addr, pin)
    }

    /// `auth.register`.
    pub fn register(&self, username: &str, password: &str) -> u64 {
        self.inner.register(username, password)
    }

    /// `auth.login`.
    pub fn login(&self, username: &str, password: &str) -> u64 {
        self.inner.login(username, password)
    }

    /// Opens the realtime session.
    pub fn connect(&self) -> Result<u64, FfiError> {
        self.inner.connect()
    }

    /// A realtime request from its type and JSON payload (empty: none).
    pub fn request(&self, ty: &str, payload_json: &str) -> Result<u64, FfiError> {
        self.inner
            .request(message(ty, json_text(payload_json, "payload")?)?)
    }

    /// A realtime message without a reply.
    pub fn send(&self, ty: &str, payload_json: &str) -> Result<(), FfiError> {
        self.inner
            .send(message(ty, json_text(payload_json, "payload")?)?)
    }

    /// Queues for a match of `mode`.
    pub fn matchmaker_add(&self, mode: &str) -> Result<u64, FfiError> {
        self.inner.matchmaker_add(mode, None)
    }

    /// Closes the realtime session.
    pub fn close(&self) -> Result<u64, FfiError> {
        self.inner.close_realtime()
    }

    /// The next signal to emit, if any.
    pub fn poll(&self) -> Option<Emit> {
        use Arg::*;
        let (signal, args) = match self.inner.next_outcome()? {
            Outcome::Reply { id, ty, payload } => (
                "request_completed",
                vec![Int(id as i64), Str(ty), Json(payload)],
            ),
            Outcome::Failure { id, error } => (
                "request_failed",
                vec![
                    Int(id as i64),
                    Str(failure_code(&error).into()),
                    Str(error.to_string()),
                ],
            ),
            Outcome::Push { ty, payload, .. } => match ty.as_str() {
                "match.state" => ("match_state", vec![Json(payload)]),
                "match.matched" => ("matched", vec![Json(payload)]),
                _ => ("message", vec![Str(ty), Json(payload)]),
            },
            Outcome::Connection(Event::Connected { resumed, .. }) => {
                ("connected", vec![Bool(resumed)])
            }
            Outcome::Connection(Event::Disconnected {
                code,
                reason,
                reconnecting,
            }) => (
                "disconnected",
                vec![
                    Int(code.map(i64::from).unwrap_or(0)),
                    Str(reason),
                    Bool(reconnecting),
                ],
            ),
            Outcome::Connection(Event::Message(_)) => return self.poll(),
            Outcome::Ended => ("closed", vec![]),
        };
        Some(Emit { signal, args })
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}
