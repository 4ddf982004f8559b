//! `/api/v1/saves*` (`rest.md` §5.13): a player's cloud save slots, over
//! [`asobi_services::saves`]. With storage off every route answers 404 `save.not_found`.

use asobi_core::protocol::ErrorCode;
use asobi_services::saves::Saves;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;

fn saves(app: &AppState) -> Result<&Saves, ApiError> {
    app.saves().ok_or(ApiError::new(ErrorCode::SaveNotFound))
}

/// `GET /saves`: `{"saves": [{slot, version, updated_at}]}`.
pub async fn list(
    State(app): State<AppState>,
    Authed(me): Authed,
) -> Result<Json<Value>, ApiError> {
    let slots = saves(&app)?.list(&me.player_id).await?;
    let slots: Vec<Value> = slots.iter().map(|s| s.to_json()).collect();
    Ok(Json(json!({ "saves": slots })))
}

/// `GET /saves/:slot`.
pub async fn get(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(slot): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        saves(&app)?.get(&me.player_id, &slot).await?.to_json(),
    ))
}

/// `PUT /saves/:slot` with `data` (default `{}`) and an optional `version`.
pub async fn put(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(slot): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let data = body.0.get("data").cloned().unwrap_or_else(|| json!({}));
    let version = version(&body.0)?;
    let save = saves(&app)?
        .put(&me.player_id, &slot, &data, version)
        .await?;
    Ok(Json(save.to_json()))
}

/// The optional `version` field: absent or null → None; not an integer → 400.
pub fn version(body: &serde_json::Map<String, Value>) -> Result<Option<i64>, ApiError> {
    match body.get("version") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidPayload)
                .message("version must be an integer")
                .detail("field", "version")
        }),
    }
}
