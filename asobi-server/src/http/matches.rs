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
use crate::time::iso8601;

/// `limit` clamped into `lo..=hi`; a non-numeric value falls back to the default.
pub fn clamp_limit(q: &HashMap<String, String>, lo: i64, hi: i64, default: i64) -> i64 {
    q.get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .map_or(default, |l| l.clamp(lo, hi))
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
    let rows = record::list(
        app.db(),
        q.get("mode").map(String::as_str),
        q.get("status").map(String::as_str),
        limit,
    )
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
    let handle = app
        .matches()
        .get(&id)
        .ok_or(ApiError::new(ErrorCode::MatchNotFound))?;
    let s = handle.snapshot();
    let ts = |ms: Option<i64>| ms.map(iso8601).map(Value::from).unwrap_or(Value::Null);
    let (finished_at, result) = match s.finished {
        Some((at, result)) => (Some(at), Value::Object(result)),
        None => (None, Value::Null),
    };
    Ok(Json(json!({
        "id": handle.id,
        "mode": handle.mode.descriptor.name,
        "status": s.status.as_str(),
        "result": result,
        "started_at": ts(s.started_at),
        "finished_at": ts(finished_at),
        "inserted_at": Value::Null,
    })))
}
