//! `/api/v1/parties*` (ours: the original has no parties): create, invite, accept, decline,
//! leave, kick, disband and ready, each telling the members' sessions
//! ([`crate::parties`]).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /parties` with an optional `max_size` (2–16, default 4).
pub async fn create(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let size = body.0.get("max_size").and_then(Value::as_i64);
    let view = app.parties().create(&me.player_id, size).await?;
    Ok(Json(view.to_json()))
}

/// `GET /parties/me`: the caller's party.
pub async fn mine(
    State(app): State<AppState>,
    Authed(me): Authed,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.parties().mine(&me.player_id).await?.to_json()))
}

/// `POST /parties/:id/invite` with `player_id`.
pub async fn invite(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let target = body.string("player_id")?;
    let view = crate::parties::invite(&app, &me.player_id, &id, &target).await?;
    Ok(Json(view.to_json()))
}

/// `POST /parties/:id/accept`.
pub async fn accept(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let view = crate::parties::accept(&app, &me.player_id, &id).await?;
    Ok(Json(view.to_json()))
}

/// `POST /parties/:id/decline`.
pub async fn decline(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::parties::decline(&app, &me.player_id, &id).await?;
    Ok(Json(json!({"success": true})))
}

/// `POST /parties/leave`: the caller leaves their party.
pub async fn leave(
    State(app): State<AppState>,
    Authed(me): Authed,
) -> Result<Json<Value>, ApiError> {
    crate::parties::leave(&app, &me.player_id).await?;
    Ok(Json(json!({"success": true})))
}

/// `POST /parties/:id/kick` with `player_id` (the leader only).
pub async fn kick(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let target = body.string("player_id")?;
    crate::parties::kick(&app, &me.player_id, &id, &target).await?;
    Ok(Json(json!({"success": true})))
}

/// `DELETE /parties/:id` (the leader only).
pub async fn disband(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::parties::disband(&app, &me.player_id, &id).await?;
    Ok(Json(json!({"success": true})))
}

/// `POST /parties/ready` with `ready` (boolean, default true).
pub async fn ready(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let ready = body.0.get("ready").and_then(Value::as_bool).unwrap_or(true);
    let view = crate::parties::ready(&app, &me.player_id, ready).await?;
    Ok(Json(view.to_json()))
}
