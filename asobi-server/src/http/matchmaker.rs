//! `/api/v1/matchmaker*` (`rest.md` §5.6). Outcomes arrive on the WebSocket only.

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use crate::error::ApiError;
use crate::matchmaker::MatchmakerError;
use crate::state::AppState;

impl From<MatchmakerError> for ApiError {
    fn from(e: MatchmakerError) -> Self {
        match e {
            MatchmakerError::UnknownMode => ApiError::new(ErrorCode::MatchmakerUnknownMode),
            MatchmakerError::QueueFull => ApiError::new(ErrorCode::MatchmakerQueueFull),
            MatchmakerError::NotFound => ApiError::new(ErrorCode::MatchmakerTicketNotFound),
            MatchmakerError::NotOwner => ApiError::new(ErrorCode::Forbidden),
            MatchmakerError::InvalidParty
            | MatchmakerError::PartyMemberQueued
            | MatchmakerError::PartyNotAccepted
            | MatchmakerError::InvalidProperties => {
                ApiError::new(ErrorCode::InvalidPayload).detail("reason", e.reason().as_str())
            }
            MatchmakerError::Db(e) => ApiError::internal(e),
        }
    }
}

/// `POST /matchmaker`.
pub async fn add(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mode = match body.0.get("mode") {
        None => "default".to_owned(),
        Some(Value::String(m)) if m.len() <= 64 => m.clone(),
        Some(_) => return Err(ApiError::new(ErrorCode::MatchmakerUnknownMode)),
    };
    let properties = body
        .0
        .get("properties")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let party: Vec<String> = body
        .0
        .get("party")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let q = crate::parties::queue(&app, &me.player_id, &mode, properties, &party).await?;
    Ok(Json(json!({
        "ticket_id": q.ticket_id,
        "status": "pending",
        "players_needed": q.players_needed,
        "already_queued": q.already_queued,
    })))
}

/// `GET /matchmaker/:ticket_id`.
pub async fn get(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        app.matchmaker().get(&me.player_id, &id).await?.to_json(),
    ))
}

/// `DELETE /matchmaker/:ticket_id`.
pub async fn remove(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.matchmaker().remove(&me.player_id, &id).await?;
    Ok(Json(json!({"success": true})))
}
