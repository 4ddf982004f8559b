//! `/api/v1/players/*` (`rest.md` §5.3): read and update a profile, erase your account.

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::extract::{Authed, JsonBody};
use crate::auth::{Consent, PlayerUpdate};
use crate::error::ApiError;
use crate::state::AppState;

/// Largest encoded `metadata` object.
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// `GET /players/:id`.
pub async fn get(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let player = app
        .accounts()
        .player(&id)
        .await?
        .ok_or(ApiError::new(ErrorCode::PlayerNotFound))?;
    Ok(Json(player.to_json()))
}

/// `PUT /players/:id`: yourself only.
pub async fn update(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    if me.player_id != id {
        return Err(ApiError::new(ErrorCode::Forbidden).message("You can only update yourself."));
    }
    let mut errors = Map::new();
    let mut update = PlayerUpdate::default();
    match body.0.get("display_name") {
        None => {}
        Some(Value::String(s)) if s.chars().count() <= 64 => update.display_name = Some(s.clone()),
        Some(_) => {
            errors.insert(
                "display_name".into(),
                json!(["must be a string of at most 64 characters"]),
            );
        }
    }
    match body.0.get("avatar_url") {
        None => {}
        Some(Value::Null) => update.avatar_url = Some(None),
        Some(Value::String(s)) if s.len() <= 2048 => update.avatar_url = Some(Some(s.clone())),
        Some(_) => {
            errors.insert(
                "avatar_url".into(),
                json!(["must be a string of at most 2048 bytes"]),
            );
        }
    }
    match body.0.get("metadata") {
        None => {}
        Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_METADATA_BYTES => {
            update.metadata = Some(v.clone());
        }
        Some(Value::Object(_)) => {
            errors.insert("metadata".into(), json!(["must encode to at most 16 KiB"]));
        }
        Some(_) => {
            errors.insert("metadata".into(), json!(["must be an object"]));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation("errors", errors));
    }
    let player = app.accounts().update_player(&id, update).await?;
    Ok(Json(player.to_json()))
}

/// `POST /players/me/erase`: deletes the account and everything it owns; its sockets close.
pub async fn erase(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let password = body.opt_string("password");
    if password.is_none() && app.accounts().has_password(&me.player_id).await? {
        return Err(ApiError::missing("password"));
    }
    crate::erasure::erase(&app, &me.player_id, &Consent::Player { password }).await?;
    Ok(Json(json!({"deleted": true})))
}
