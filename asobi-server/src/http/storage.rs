//! `/api/v1/storage*` (`rest.md` §5.13): player-owned storage objects, over
//! [`asobi_services::storage`]. With storage off every route answers 404 `storage.not_found`.

use std::collections::HashMap;

use asobi_core::protocol::ErrorCode;
use asobi_services::storage::{Perm, Storage, StorageError, Write};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::extract::Authed;
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

fn storage(app: &AppState) -> Result<&Storage, ApiError> {
    app.storage()
        .ok_or(ApiError::new(ErrorCode::StorageNotFound))
}

/// `GET /storage/:collection?limit=&cursor=`: `{"objects": [row], "cursor": next|null}`.
pub async fn list(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(collection): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50) as u32;
    let cursor = q.get("cursor").filter(|c| !c.is_empty());
    let page = storage(&app)?
        .list(
            &me.player_id,
            &collection,
            limit,
            cursor.map(String::as_str),
        )
        .await?;
    let objects: Vec<Value> = page.objects.iter().map(|o| o.to_json()).collect();
    Ok(Json(json!({ "objects": objects, "cursor": page.cursor })))
}

/// `GET /storage/:collection/:key`.
pub async fn get(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path((collection, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let object = storage(&app)?.get(&me.player_id, &collection, &key).await?;
    Ok(Json(object.to_json()))
}

/// `PUT /storage/:collection/:key` with `value`, `read_perm`, `write_perm` and an optional
/// `version` (the write happens only at that version; `0`: only if absent).
pub async fn put(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path((collection, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let storage = storage(&app)?;
    let body = object_body(&body)?;
    let perm = |field: &str| -> Result<Option<Perm>, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(Perm::parse(s)?)),
            Some(_) => Err(StorageError::InvalidPerm.into()),
        }
    };
    let write = Write {
        value: body.get("value").cloned().unwrap_or_else(|| json!({})),
        read_perm: perm("read_perm")?,
        write_perm: perm("write_perm")?,
        version: super::saves::version(&body)?,
    };
    let object = storage.put(&me.player_id, &collection, &key, write).await?;
    Ok(Json(object.to_json()))
}

/// `DELETE /storage/:collection/:key`: `{"success": true}`.
pub async fn delete(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path((collection, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    storage(&app)?
        .delete(&me.player_id, &collection, &key)
        .await?;
    Ok(Json(json!({ "success": true })))
}

/// The body as a JSON object: invalid JSON → 400 `invalid_json`; anything but an object →
/// 400 `storage.invalid_request`; empty → `{}`.
fn object_body(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(StorageError::InvalidRequest("the body must be a JSON object").into()),
        Err(_) => Err(ApiError::new(ErrorCode::InvalidJson)),
    }
}
