//! REST errors: an [`ApiError`] carries a code from the closed set and becomes the contract's
//! body (`rest.md` §2.1): `{"error": {code, message, details}}` plus the legacy top-level keys
//! a route used to send (`fields`, `errors`, `retry_after`), duplicated into `details`.

use asobi_core::protocol::{ErrorCode, ErrorObject};
use asobi_services::Coded;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// A failed request.
#[derive(Debug, Clone)]
pub struct ApiError {
    error: ErrorObject,
    /// Keys that also appear at the top level of the body, for older clients.
    legacy: Vec<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            error: ErrorObject::new(code),
            legacy: Vec::new(),
            retry_after: None,
        }
    }

    /// Replaces the message.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.error.message = message.into();
        self
    }

    /// Adds a `details` entry.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.error.details.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a `details` entry that is also sent at the top level (legacy clients read it there).
    pub fn legacy_detail(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.legacy.push(key);
        self.detail(key, value)
    }

    /// 429 with `retry-after` (header, top-level and details).
    pub fn rate_limited(code: ErrorCode, retry_after_secs: u64) -> Self {
        let mut e = ApiError::new(code).legacy_detail("retry_after", retry_after_secs);
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// `422 validation_failed` with field errors under the given legacy key
    /// (`fields` for registration, `errors` for updates).
    pub fn validation(key: &'static str, fields: Map<String, Value>) -> Self {
        ApiError::new(ErrorCode::ValidationFailed).legacy_detail(key, Value::Object(fields))
    }

    /// `400 missing_field` naming the field.
    pub fn missing(field: &str) -> Self {
        ApiError::new(ErrorCode::MissingField).detail("field", field)
    }

    /// `500 internal`, logging the cause (which never reaches the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(ErrorCode::Internal)
    }

    /// The code.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.known_code()
    }
}

impl ApiError {
    /// A service failure: its code, details and message; the cause of a 5xx is logged.
    pub fn coded(e: &dyn Coded) -> Self {
        let code = e.code();
        if code.http_status() >= 500 {
            tracing::error!(error = %e, code = code.as_str(), "service failure");
        }
        let mut api = ApiError::new(code);
        if code.http_status() < 500 {
            api = api.message(e.to_string());
        }
        api.error.details = e.details();
        api
    }
}

macro_rules! from_coded {
    ($($t:ty),*) => {
        $(impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                ApiError::coded(&e)
            }
        })*
    };
}

from_coded!(
    asobi_services::saves::SaveError,
    asobi_services::storage::StorageError,
    asobi_services::leaderboards::LeaderboardError,
    asobi_services::economy::EconomyError,
    asobi_services::economy::ClaimError,
    asobi_services::tournaments::TournamentError,
    asobi_services::notifications::NotificationError,
    asobi_services::iap::VerifyError,
    asobi_services::chat::ChatError,
    asobi_services::parties::PartyError
);

impl From<asobi_services::social::SocialError> for ApiError {
    /// Validation failures keep the legacy top-level `errors` key (`rest.md` §2.1).
    fn from(e: asobi_services::social::SocialError) -> Self {
        match e {
            asobi_services::social::SocialError::Invalid(errors) => {
                ApiError::validation("errors", errors)
            }
            e => ApiError::coded(&e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self
            .error
            .known_code()
            .and_then(|c| StatusCode::from_u16(c.http_status()).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = Map::new();
        for key in &self.legacy {
            if let Some(v) = self.error.details.get(*key) {
                body.insert((*key).to_owned(), v.clone());
            }
        }
        body.insert(
            "error".into(),
            serde_json::to_value(&self.error).unwrap_or(Value::Null),
        );
        let mut response = (status, axum::Json(Value::Object(body))).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
