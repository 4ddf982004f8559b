//! Health endpoints (`rest.md` §4): `/live`, `/ready`, `/health` (and `/api/v1/health`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long `/ready` and `/health` wait for the database.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /live`: the process answers.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

async fn db_ok(app: &AppState) -> Result<Duration, String> {
    match tokio::time::timeout(DB_CHECK_TIMEOUT, app.db().ping()).await {
        Ok(Ok(latency)) => Ok(latency),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// `GET /ready`: 200 once migrated and the database answers; 503 before and while draining.
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    if app.is_ready() && db_ok(&app).await.is_ok() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready"})),
        )
    }
}

/// `GET /health`: a report of dependencies and load.
pub async fn health(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = db_ok(&app).await;
    let status = if db.is_ok() && app.is_ready() {
        "ok"
    } else {
        "degraded"
    };
    let database = match db {
        Ok(latency) => json!({
            "backend": app.db().backend().name(),
            "ok": true,
            "latency_ms": latency.as_secs_f64() * 1000.0,
        }),
        Err(e) => json!({"backend": app.db().backend().name(), "ok": false, "error": e}),
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": app.uptime().as_secs(),
            "draining": app.is_draining(),
            "database": database,
            "sessions": {"open": app.sessions().count(), "players": app.sessions().player_count()},
            "worlds": {
                "live": app.worlds().live_count(),
                "zones_loaded": app.worlds().stats().zones_loaded.load(std::sync::atomic::Ordering::Relaxed),
                "zone_crashes": app.worlds().stats().zone_crashes.load(std::sync::atomic::Ordering::Relaxed),
                "bytes_out": app.worlds().stats().bytes_out.load(std::sync::atomic::Ordering::Relaxed),
                "tick": app.worlds().stats().tick.summary(),
                "zone_tick": app.worlds().stats().zone_tick.summary(),
                "terrain_cache_bytes": app.worlds().terrain_cache_bytes(),
            },
            "matches": {
                "live": app.matches().live_count(),
                "crashed": app.matches().stats().crashes.load(std::sync::atomic::Ordering::Relaxed),
                "tick": app.matches().stats().tick.summary(),
                "encode": app.matches().stats().encode.summary(),
            },
        })),
    )
}
