//! `/api/v1/ops/players/:id…`: what the console does to one player — look them up, export
//! everything we hold about them, erase them (the username echoed back as confirmation),
//! ban and unban. A ban ends the player's sessions at once: their token families are
//! deleted and their sockets closed with `banned`; every sign-in is then refused with
//! `account.banned` until the ban ends.

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::Operator;
use crate::auth::{AuthError, Consent};
use crate::error::ApiError;
use crate::export::ExportError;
use crate::http::extract::JsonBody;
use crate::session::CloseReason;
use crate::state::AppState;

/// The longest ban reason kept.
const MAX_REASON_BYTES: usize = 512;

/// The player id of the path, checked: `ops.invalid_id` unless it is an id as we write them.
pub struct PlayerId(String);

impl FromRequestParts<AppState> for PlayerId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|_| ApiError::new(ErrorCode::OpsInvalidId))?;
        if asobi_services::is_canonical_id(&id) {
            Ok(PlayerId(id))
        } else {
            Err(ApiError::new(ErrorCode::OpsInvalidId).detail("id", id))
        }
    }
}

/// `PlayerNotFound` is the ops plane's `ops.not_found`; the rest as elsewhere.
fn ops_error(e: AuthError) -> ApiError {
    match e {
        AuthError::PlayerNotFound => ApiError::new(ErrorCode::OpsNotFound),
        e => e.into(),
    }
}

/// `GET /ops/players/:id`: the profile, sign-in methods and ban.
pub async fn one(
    State(app): State<AppState>,
    _: Operator,
    PlayerId(id): PlayerId,
) -> Result<Json<Value>, ApiError> {
    let accounts = app.accounts();
    let player = accounts
        .player(&id)
        .await
        .map_err(ops_error)?
        .ok_or(ApiError::new(ErrorCode::OpsNotFound))?;
    let mut data = player.to_json();
    data["identities"] = accounts
        .identities(&id)
        .await
        .map_err(ops_error)?
        .iter()
        .map(|i| i.to_json())
        .collect();
    data["has_password"] = json!(accounts.has_password(&id).await.map_err(ops_error)?);
    data["ban"] = accounts
        .ban_of(&id)
        .await
        .map_err(ops_error)?
        .map_or(Value::Null, |b| b.to_json());
    data["online"] = json!(!app.sessions().handles_of_player(&id).is_empty());
    Ok(Json(json!({ "data": data })))
}

/// `GET /ops/players/:id/export`: everything we hold about the player, one document.
pub async fn export(
    State(app): State<AppState>,
    _: Operator,
    PlayerId(id): PlayerId,
) -> Result<Json<Value>, ApiError> {
    match crate::export::export(&app, &id).await {
        Ok(doc) => Ok(Json(json!({ "data": doc }))),
        Err(ExportError::NotFound) => Err(ApiError::new(ErrorCode::OpsNotFound)),
        Err(e @ ExportError::Incomplete(_)) => {
            tracing::error!(player = %id, error = %e, "export failed");
            Err(ApiError::new(ErrorCode::OpsExportIncomplete))
        }
    }
}

/// `POST /ops/players/:id/erase` with `{"username"}`, which must be the player's.
pub async fn erase(
    State(app): State<AppState>,
    _: Operator,
    PlayerId(id): PlayerId,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let player = app
        .accounts()
        .player(&id)
        .await
        .map_err(ops_error)?
        .ok_or(ApiError::new(ErrorCode::OpsNotFound))?;
    let Some(echo) = body.0.get("username").and_then(Value::as_str) else {
        return Err(ApiError::new(ErrorCode::OpsConfirmationRequired).detail("field", "username"));
    };
    if echo != player.username {
        return Err(ApiError::new(ErrorCode::OpsConfirmationMismatch).detail("field", "username"));
    }
    match crate::erasure::erase(&app, &id, &Consent::Operator).await {
        Ok(true) => {}
        Ok(false) | Err(crate::erasure::EraseError::Auth(AuthError::PlayerNotFound)) => {
            return Err(ApiError::new(ErrorCode::OpsNotFound));
        }
        Err(e) => {
            tracing::error!(player = %id, error = %e, "operator erase failed");
            return Err(ApiError::new(ErrorCode::OpsEraseFailed));
        }
    }
    tracing::warn!(player = %id, username = %player.username, "player erased by an operator");
    Ok(Json(json!({"data": {"id": id, "deleted": true}})))
}

/// `POST /ops/players/:id/ban` with optional `reason` (≤ 512 bytes) and `duration_secs`
/// (absent: for ever).
pub async fn ban(
    State(app): State<AppState>,
    _: Operator,
    PlayerId(id): PlayerId,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut errors = serde_json::Map::new();
    let reason = match body.0.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.len() <= MAX_REASON_BYTES => Some(r.clone()),
        Some(_) => {
            errors.insert(
                "reason".into(),
                json!([format!(
                    "must be a string of at most {MAX_REASON_BYTES} bytes"
                )]),
            );
            None
        }
    };
    let until = match body.0.get("duration_secs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|d| (1..=10 * 365 * 86_400).contains(d)) {
            Some(secs) => Some(crate::time::now_ms().saturating_add(secs * 1000)),
            None => {
                errors.insert(
                    "duration_secs".into(),
                    json!(["must be a whole number of seconds, 1 to ten years"]),
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation("errors", errors));
    }
    app.accounts()
        .ban(&id, until, reason.as_deref())
        .await
        .map_err(ops_error)?;
    app.sessions().close_player(&id, CloseReason::BANNED);
    tracing::warn!(player = %id, ?until, reason = reason.as_deref().unwrap_or(""), "player banned");
    let ban = crate::auth::bans::Ban { until, reason };
    let mut data = ban.to_json();
    data["id"] = json!(id);
    data["banned"] = json!(true);
    Ok(Json(json!({ "data": data })))
}

/// `DELETE /ops/players/:id/ban`.
pub async fn unban(
    State(app): State<AppState>,
    _: Operator,
    PlayerId(id): PlayerId,
) -> Result<Json<Value>, ApiError> {
    app.accounts().unban(&id).await.map_err(ops_error)?;
    tracing::warn!(player = %id, "player unbanned");
    Ok(Json(json!({"data": {"id": id, "banned": false}})))
}
