//! `/api/v1/leaderboards*` (`rest.md` §5.7), over [`asobi_services::leaderboards`]: top,
//! around a player, client submit (off unless the operator opens the board), and, beyond
//! the contract, `?period=previous|<start ms>` on reads and `GET /leaderboards/:id/periods`.

use std::collections::HashMap;

use asobi_services::leaderboards::{LeaderboardError, Period};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

fn period(q: &HashMap<String, String>) -> Result<Period, ApiError> {
    Ok(Period::parse(q.get("period").map_or("", String::as_str))?)
}

fn entries(list: &[asobi_services::leaderboards::Entry]) -> Json<Value> {
    let list: Vec<Value> = list.iter().map(|e| e.to_json()).collect();
    Json(json!({ "entries": list }))
}

/// `GET /leaderboards/:id?limit=1..100`: best first.
pub async fn top(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 100, 100) as usize;
    let list = app.leaderboards().top(&id, limit, period(&q)?).await?;
    Ok(entries(&list))
}

/// `GET /leaderboards/:id/around/:player_id?range=1..50`.
pub async fn around(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path((id, player)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let range = q
        .get("range")
        .and_then(|r| r.parse::<i64>().ok())
        .map_or(5, |r| r.clamp(1, 50)) as usize;
    let list = app
        .leaderboards()
        .around(&id, &player, range, period(&q)?)
        .await?;
    Ok(entries(&list))
}

/// `POST /leaderboards/:id` with `score` (a non-number reads as 0) and `sub_score`.
pub async fn submit(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let boards = app.leaderboards();
    if !boards.client_may_submit(&id) {
        return Err(LeaderboardError::ClientSubmitDisabled(id).into());
    }
    let number = |k: &str| body.0.get(k).and_then(Value::as_f64).unwrap_or(0.0) as i64;
    let entry = boards
        .submit(&id, &me.player_id, number("score"), number("sub_score"))
        .await?;
    Ok(Json(entry.to_json()))
}

/// `GET /leaderboards/:id/periods`: `{"current": span, "finished": [span]}`, newest first.
pub async fn periods(
    State(app): State<AppState>,
    Authed(_): Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (current, finished) = app.leaderboards().periods(&id).await?;
    let finished: Vec<Value> = finished.iter().map(|p| p.to_json()).collect();
    Ok(Json(
        json!({ "current": current.to_json(), "finished": finished }),
    ))
}
