//! `/api/v1/friends*`, `/groups*`, `/chat/*`, `/dm*` (`rest.md` §5.10–5.11), over
//! [`asobi_services::social`] and [`asobi_services::chat`].

use std::collections::HashMap;

use asobi_core::protocol::ErrorCode;
use asobi_services::social::GroupPatch;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

/// A required string field; absent or not a string → 400 `invalid_payload`.
fn string_field(body: &JsonBody, key: &str) -> Result<String, ApiError> {
    body.opt_string(key).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidPayload)
            .message(format!("{key} must be a string"))
            .detail("field", key)
    })
}

/// `GET /friends?status=&limit=&presence=true`: the caller's rows (with each accepted
/// friend's `presence` when asked).
pub async fn friends(
    State(app): State<AppState>,
    Authed(me): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let status = q
        .get("status")
        .map(String::as_str)
        .filter(|s| !s.is_empty());
    let rows = app.social().friends(&me.player_id, status, limit).await?;
    // `?presence=true` (ours): each accepted friend's presence on this node.
    let with_presence = q.get("presence").is_some_and(|p| p == "true");
    let rows: Vec<Value> = rows
        .iter()
        .map(|f| {
            let mut row = f.to_json();
            if with_presence && f.status == "accepted" {
                let p = crate::presence::presence_of(&app, &f.friend_id);
                row["presence"] = json!({"online": p.online, "status": p.status});
            }
            row
        })
        .collect();
    Ok(Json(json!({ "friends": rows })))
}

/// `POST /friends` with `friend_id`.
pub async fn request(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let friend = string_field(&body, "friend_id")?;
    Ok(Json(
        app.social()
            .request(&me.player_id, &friend)
            .await?
            .to_json(),
    ))
}

/// `PUT /friends/:friend_id` with `status`.
pub async fn respond(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(friend): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let status = body.opt_string("status").unwrap_or_default();
    let row = app
        .social()
        .respond(&me.player_id, &friend, &status)
        .await?;
    Ok(Json(row.to_json()))
}

/// `DELETE /friends/:friend_id`.
pub async fn unfriend(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(friend): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.social().unfriend(&me.player_id, &friend).await?;
    Ok(Json(json!({"success": true})))
}

/// `POST /groups`.
pub async fn create_group(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = GroupPatch::from_json(&body.0)?;
    Ok(Json(
        app.social()
            .create_group(&me.player_id, &patch)
            .await?
            .to_json(),
    ))
}

/// `GET /groups/:id`.
pub async fn group(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.social().group(&id).await?.to_json()))
}

/// `PUT /groups/:id`.
pub async fn update_group(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = GroupPatch::from_json(&body.0)?;
    let g = app
        .social()
        .update_group(&me.player_id, &id, &patch)
        .await?;
    Ok(Json(g.to_json()))
}

/// `POST /groups/:id/join`.
pub async fn join_group(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.social().join_group(&me.player_id, &id).await?;
    Ok(Json(json!({"success": true, "group_id": id})))
}

/// `POST /groups/:id/leave`.
pub async fn leave_group(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.social().leave_group(&me.player_id, &id).await?;
    leave_room(&app, &id, &me.player_id);
    Ok(Json(json!({"success": true})))
}

/// A player out of a group is out of its `room:` channel too, on every socket.
fn leave_room(app: &AppState, group: &str, player: &str) {
    app.channels().leave_sessions(
        &format!("room:{group}"),
        &app.sessions().session_ids_of(player),
    );
}

/// `GET /groups/:id/members`.
pub async fn members(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rows = app.social().members(&id).await?;
    let rows: Vec<Value> = rows.iter().map(|m| m.to_json()).collect();
    Ok(Json(json!({ "members": rows })))
}

/// `PUT /groups/:id/members/:player_id/role` with `role`.
pub async fn set_role(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path((id, player)): Path<(String, String)>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let role = body.opt_string("role").unwrap_or_default();
    let m = app
        .social()
        .set_role(&me.player_id, &id, &player, &role)
        .await?;
    Ok(Json(m.to_json()))
}

/// `DELETE /groups/:id/members/:player_id`.
pub async fn kick(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path((id, player)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.social().kick(&me.player_id, &id, &player).await?;
    leave_room(&app, &id, &player);
    Ok(Json(json!({"success": true})))
}

/// `GET /chat/:channel_id/history?limit=`: `{"messages": [row]}`, the newest `limit`
/// oldest first; 403 `forbidden` for a malformed channel or one the player may not use.
pub async fn chat_history(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(channel): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    crate::chat::authorize(&app, &me.player_id, &channel)
        .await
        .map_err(|_| ApiError::new(ErrorCode::Forbidden))?;
    let rows = app.chat().history(&channel, limit).await?;
    let rows: Vec<Value> = rows.iter().map(|m| m.to_json()).collect();
    Ok(Json(json!({ "messages": rows })))
}

/// `POST /dm` with `recipient_id` and `content`: `{"success": true, "channel_id"}`.
pub async fn dm(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let recipient = string_field(&body, "recipient_id")?;
    let content = string_field(&body, "content")?;
    let m = crate::social::send_dm(&app, &me.player_id, &recipient, &content).await?;
    Ok(Json(json!({"success": true, "channel_id": m.channel_id})))
}

/// `GET /dm/:player_id/history?limit=`: `{"messages": [{sender_id, content, sent_at}],
/// "channel_id"}`, oldest first, from the database.
pub async fn dm_history(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(other): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let channel = asobi_services::chat::dm_channel(&me.player_id, &other);
    let rows = app.chat().history(&channel, limit).await?;
    let rows: Vec<Value> = rows.iter().map(|m| m.to_dm_json()).collect();
    Ok(Json(json!({ "messages": rows, "channel_id": channel })))
}
