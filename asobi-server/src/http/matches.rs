//! `/api/v1/matches*` (`rest.md` §5.5): finished-match history, live listing, one match.

use std::collections::HashMap;

use asobi_core::protocol::{ErrorCode, ListFilter};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::extract::Authed;
use crate::error::ApiError;
use crate::matches::record;
use crate::state::AppState;

/// `limit` clamped into `lo..=hi`; a non-numeric value falls back to the default.
pub fn clamp_limit(q: &HashMap<String, String>, lo: i64, hi: i64, default: i64) -> i64 {
    q.get("limit").and_then(|l| l.parse::<i64>().ok()).map_or(default, |l| l.clamp(lo, hi))
}

/// `true` / `false` query booleans; anything else is absent.
fn flag(q: &HashMap<String, String>, key: &str) -> Option<bool> {
    match q.get(key).map(String::as_str) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// `GET /matches`: newest first.
pub async fn history(
    State(app): State<AppState>,
    Authed(_): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let rows = record::list(app.db(), q.get("mode").map(String::as_str), q.get("status").map(String::as_str), limit)
        .await?;
    Ok(Json(json!({ "matches": rows })))
}

/// `GET /matches/live`.
pub async fn live(
    State(app): State<AppState>,
    Authed(_): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let filter = ListFilter {
        mode: q.get("mode").filter(|m| m.len() <= 64).cloned(),
        has_capacity: flag(&q, "has_capacity"),
        joinable: flag(&q, "joinable"),
    };
    Json(json!({ "matches": app.matches().list(&filter) }))
}

/// `GET /matches/:id`: the record, or a live match in the record's shape.
pub async fn one(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some(row) = record::get(app.db(), &id).await? {
        return Ok(Json(row));
    }
    let handle = app.matches().get(&id).ok_or(ApiError::new(ErrorCode::MatchNotFound))?;
    let listing = handle.listing();
    Ok(Json(json!({
        "id": handle.id,
        "mode": listing.mode,
        "status": listing.status,
        "result": Value::Null,
        "started_at": Value::Null,
        "finished_at": Value::Null,
        "inserted_at": Value::Null,
    })))
}
