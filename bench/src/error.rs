//! The generator's errors.

use asobi_core::protocol::ServerMessage;

/// What stopped a simulated client or a scenario.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad arguments.
    #[error("configuration: {0}")]
    Config(String),
    /// Could not connect.
    #[error("connect: {0}")]
    Connect(String),
    /// The connection ended.
    #[error("connection closed: {0}")]
    Closed(String),
    /// The server answered something unexpected.
    #[error("unexpected answer to {request}: {got}")]
    Unexpected {
        /// What was asked.
        request: &'static str,
        /// What came back (type and short payload).
        got: String,
    },
    /// A REST call failed.
    #[error("http: {0}")]
    Http(String),
    /// The run finished short of what was asked (`--strict`).
    #[error("incomplete run: {0}")]
    Incomplete(String),
    /// Waited too long.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

impl BenchError {
    /// An unexpected server message, summarised.
    pub fn unexpected(request: &'static str, got: &ServerMessage) -> Self {
        let mut payload = Vec::new();
        got.write_payload(&mut payload);
        let mut text = format!("{} {}", got.type_name(), String::from_utf8_lossy(&payload));
        if let Some((cut, _)) = text.char_indices().nth(200) {
            text.truncate(cut);
        }
        BenchError::Unexpected { request, got: text }
    }
}
