//! `/api/v1/worlds*` (`rest.md` §5.4). Creating here records the caller as the creator but does
//! not join them (joining is WebSocket only); a world nobody joins finishes after 60 s.

use std::collections::HashMap;

use asobi_core::protocol::{ErrorCode, ListFilter};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;
use crate::worlds::WorldError;

/// `GET /worlds`.
pub async fn list(
    State(app): State<AppState>,
    Authed(_): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let filter = ListFilter {
        mode: q.get("mode").filter(|m| m.len() <= 64).cloned(),
        has_capacity: (q.get("has_capacity").map(String::as_str) == Some("true")).then_some(true),
        joinable: None,
    };
    Json(json!({ "worlds": app.worlds().list(&filter) }))
}

/// `GET /worlds/:id` (unlisted worlds too).
pub async fn one(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = app
        .worlds()
        .get(&id)
        .ok_or(ApiError::new(ErrorCode::WorldNotFound))?;
    Ok(Json(json!(w.listing())))
}

/// `POST /worlds`: 201 with the listing.
pub async fn create(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Some(Value::String(mode)) = body.0.get("mode") else {
        return Err(ApiError::new(ErrorCode::InvalidPayload).message("`mode` must be a string."));
    };
    match app.worlds().create(mode, Some(&me.player_id)).await {
        Ok(w) => Ok((StatusCode::CREATED, Json(json!(w.listing())))),
        Err(WorldError::PlayerLimitReached) => {
            Err(ApiError::new(ErrorCode::WorldPlayerLimitReached))
        }
        Err(WorldError::CapacityReached) => Err(ApiError::new(ErrorCode::WorldCapacityReached)),
        Err(e) => {
            Err(ApiError::new(ErrorCode::WorldCreateFailed).detail("reason", e.reason().as_str()))
        }
    }
}
