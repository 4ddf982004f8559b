//! What `asobi_client_poll` hands out: the event struct, its kinds, and the strings behind
//! its pointers, which the client keeps until the next poll.

use std::ffi::{CString, c_char};

use asobi_client::Event;
use serde_json::{Value, json};

use crate::client::{Outcome, failure_code};
use crate::cstr::to_cstring;

/// What an [`AsobiEvent`] reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsobiEventKind {
    /// Nothing to report: the queue is empty.
    None = 0,
    /// A request finished: `request_id`, `type_name` (the reply's type, e.g. `auth.login`,
    /// `match.joined`), `payload` (its JSON).
    Response = 1,
    /// A request failed: `request_id`, `code` (stable, e.g. `auth.invalid_credentials`,
    /// `client.timeout`), `message`, `status` (HTTP status for REST calls, else 0),
    /// `payload` (the server's error body, or `null`).
    Failure = 2,
    /// The realtime session is authenticated: `payload` is `{"player_id", "resumed"}`,
    /// `flag` is true after an automatic reconnect.
    Connected = 3,
    /// The realtime connection dropped: `status` is the close code (0 if none), `message`
    /// the reason, `flag` true when the client is reconnecting by itself.
    Disconnected = 4,
    /// A server push: `type_name` (e.g. `match.state`, `match.matched`, `world.tick`) and
    /// `payload` (its JSON).
    Message = 5,
    /// The realtime session has ended for good (closed, or ended by the server); connect
    /// again to start a new one.
    Closed = 6,
}

/// One polled event. Every pointer is non-NULL (empty string or `null` when unused) and
/// stays valid until the next `asobi_client_poll` on the same client or until the client is
/// freed; copy what you keep.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AsobiEvent {
    /// What happened.
    pub kind: AsobiEventKind,
    /// The request this answers (`Response`, `Failure`), else 0.
    pub request_id: u64,
    /// The message or reply type.
    pub type_name: *const c_char,
    /// JSON.
    pub payload: *const c_char,
    /// The stable error code (`Failure`), or the close reason (`Disconnected`).
    pub code: *const c_char,
    /// Human-readable text.
    pub message: *const c_char,
    /// HTTP status (`Failure` of a REST call) or close code (`Disconnected`), else 0.
    pub status: i32,
    /// `resumed` (`Connected`) or `reconnecting` (`Disconnected`).
    pub flag: bool,
}

/// The strings of the last polled event and the last polled `match.state`.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    type_name: CString,
    payload: CString,
    code: CString,
    message: CString,
    /// The last `match.state` payload handed out, for `asobi_match_state_*`.
    pub(crate) match_state: Option<Value>,
}

impl Polled {
    /// Keeps the strings of `outcome` (or of "nothing") and returns the event pointing at them.
    pub(crate) fn hand_out(&mut self, outcome: Option<Outcome>) -> AsobiEvent {
        let mut kind = AsobiEventKind::None;
        let (mut request_id, mut status, mut flag) = (0, 0, false);
        let (mut ty, mut payload, mut code, mut message) = (
            String::new(),
            "null".to_owned(),
            String::new(),
            String::new(),
        );
        match outcome {
            None => {}
            Some(Outcome::Reply {
                id,
                ty: t,
                payload: p,
            }) => {
                (kind, request_id, ty, payload) = (AsobiEventKind::Response, id, t, p);
            }
            Some(Outcome::Failure { id, error }) => {
                kind = AsobiEventKind::Failure;
                request_id = id;
                code = failure_code(&error).to_owned();
                message = error.to_string();
                if let asobi_client::ClientError::Server {
                    status: s, body, ..
                } = &error
                {
                    status = s.map(i32::from).unwrap_or(0);
                    payload = body.to_string();
                }
            }
            Some(Outcome::Push {
                ty: t,
                payload: p,
                state,
            }) => {
                (kind, ty, payload) = (AsobiEventKind::Message, t, p);
                if state.is_some() {
                    self.match_state = state;
                }
            }
            Some(Outcome::Connection(Event::Connected { player_id, resumed })) => {
                kind = AsobiEventKind::Connected;
                ty = "session.connected".into();
                payload = json!({ "player_id": player_id, "resumed": resumed }).to_string();
                flag = resumed;
            }
            Some(Outcome::Connection(Event::Disconnected {
                code: close,
                reason,
                reconnecting,
            })) => {
                kind = AsobiEventKind::Disconnected;
                ty = "session.disconnected".into();
                status = close.map(i32::from).unwrap_or(0);
                payload = json!({ "code": close, "reason": reason, "reconnecting": reconnecting })
                    .to_string();
                code.clone_from(&reason);
                message = reason;
                flag = reconnecting;
            }
            Some(Outcome::Connection(Event::Message(_))) => {
                // Messages are queued as `Push`; nothing else produces this.
            }
            Some(Outcome::Ended) => {
                kind = AsobiEventKind::Closed;
                ty = "session.closed".into();
            }
        }
        self.type_name = to_cstring(&ty);
        self.payload = to_cstring(&payload);
        self.code = to_cstring(&code);
        self.message = to_cstring(&message);
        AsobiEvent {
            kind,
            request_id,
            type_name: self.type_name.as_ptr(),
            payload: self.payload.as_ptr(),
            code: self.code.as_ptr(),
            message: self.message.as_ptr(),
            status,
            flag,
        }
    }
}
