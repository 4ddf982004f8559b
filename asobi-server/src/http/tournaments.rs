//! `/api/v1/tournaments*` (`rest.md` §5.12), over [`asobi_services::tournaments`].

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::extract::Authed;
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /tournaments?status=&limit=`: `{"tournaments": [row]}` by start.
pub async fn list(
    State(app): State<AppState>,
    Authed(_): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let t = app.tournaments();
    let rows = t.list(q.get("status").map(String::as_str), limit).await?;
    let now = t.now_ms();
    let rows: Vec<Value> = rows.iter().map(|r| r.to_json(now)).collect();
    Ok(Json(json!({ "tournaments": rows })))
}

/// `GET /tournaments/:id`.
pub async fn one(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = app.tournaments();
    Ok(Json(t.get(&id).await?.to_json(t.now_ms())))
}

/// `POST /tournaments/:id/join`: `{"success": true, "tournament_id"}`; charges the fee.
pub async fn join(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.tournaments().join(&me.player_id, &id).await?;
    Ok(Json(json!({"success": true, "tournament_id": id})))
}
