//! Request extractors with the contract's errors: a JSON object body (400 `invalid_json` /
//! `invalid_payload`), the authenticated player (401 `unauthenticated`), and field helpers
//! (400 `missing_field`).

use asobi_core::protocol::ErrorCode;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::error::ApiError;

/// A JSON object body. An empty body reads as `{}`.
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(_) => {
                Err(ApiError::new(ErrorCode::InvalidPayload)
                    .message("The body must be a JSON object."))
            }
            Err(_) => Err(ApiError::new(ErrorCode::InvalidJson)),
        }
    }
}

impl JsonBody {
    /// A required string field: absent or not a string → 400 `missing_field`.
    pub fn string(&self, key: &str) -> Result<String, ApiError> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ApiError::missing(key))
    }

    /// An optional string field (non-strings read as absent).
    pub fn opt_string(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(Value::as_str).map(str::to_owned)
    }
}

/// The player behind the request's bearer token; 401 without one.
pub struct Authed(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Authed)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))
    }
}

/// Unknown paths: a plain 404 with no body, as `rest.md` §1.1 describes (the framework
/// default). No code of the closed set means "no such route"; `rpc.unknown_method` is for RPC.
pub async fn not_found() -> axum::http::StatusCode {
    axum::http::StatusCode::NOT_FOUND
}
