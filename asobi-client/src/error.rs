//! The client's one error type.

use asobi_core::protocol::ErrorPayload;
use serde_json::Value;

/// Why a client call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error: a REST error body or a realtime `error` frame.
    #[error("server error {code}: {reason}")]
    Server {
        /// HTTP status for REST calls; `None` on the realtime path.
        status: Option<u16>,
        /// The stable code (`error.code`, e.g. `auth.invalid_credentials`).
        code: String,
        /// The legacy flat reason (`invalid_credentials`).
        reason: String,
        /// The whole body or payload.
        body: Value,
    },
    /// The HTTP request could not be made or its answer read.
    #[error("HTTP: {0}")]
    Http(String),
    /// The realtime connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The realtime connection dropped before the answer came.
    #[error("disconnected")]
    Disconnected,
    /// The client was closed (or the server ended the session for good).
    #[error("client closed")]
    Closed,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The call needs a signed-in player.
    #[error("not signed in")]
    NotSignedIn,
    /// The server sent something this client cannot read.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The configuration is unusable (bad address, bad fingerprint…).
    #[error("configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The server's stable error code, if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// From a realtime `error` payload.
    pub fn from_payload(payload: &ErrorPayload) -> Self {
        ClientError::Server {
            status: None,
            code: payload.error.code.clone(),
            reason: payload.reason.clone(),
            body: serde_json::to_value(payload).unwrap_or(Value::Null),
        }
    }

    /// From a REST error answer.
    pub fn from_rest(status: u16, body: Value) -> Self {
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("http.error")
            .to_owned();
        let reason = body
            .get("reason")
            .and_then(Value::as_str)
            .or_else(|| body.pointer("/error/message").and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        ClientError::Server {
            status: Some(status),
            code,
            reason,
            body,
        }
    }
}
