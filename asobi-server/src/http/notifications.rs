//! `/api/v1/notifications*` (`rest.md` §5.12), over [`asobi_services::notifications`].

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::extract::Authed;
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /notifications?read=&limit=`: `{"notifications": [row]}`, newest first.
pub async fn list(
    State(app): State<AppState>,
    Authed(me): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let read = match q.get("read").map(String::as_str) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let rows = app.notifications().list(&me.player_id, read, limit).await?;
    let rows: Vec<Value> = rows.iter().map(|n| n.to_json()).collect();
    Ok(Json(json!({ "notifications": rows })))
}

/// `PUT /notifications/:id/read`: the row, `read: true`.
pub async fn read(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = app.notifications().mark_read(&me.player_id, &id).await?;
    Ok(Json(n.to_json()))
}

/// `DELETE /notifications/:id`: `{"success": true}`.
pub async fn delete(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.notifications().delete(&me.player_id, &id).await?;
    Ok(Json(json!({"success": true})))
}
