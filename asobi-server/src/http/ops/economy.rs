//! `/api/v1/ops/economy/*`: the operator's view of item definitions and store listings, and
//! the writes that change them live. An operator's row wins over the game's declaration of
//! the same id from then on (the sync leaves it alone; see `asobi_services::economy`).

use std::collections::HashMap;

use asobi_core::protocol::ErrorCode;
use asobi_services::economy::{ItemDef, ListingDef};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::{Operator, Page};
use crate::error::ApiError;
use crate::http::extract::JsonBody;
use crate::state::AppState;

async fn item_rows(app: &AppState) -> Result<Vec<Value>, ApiError> {
    Ok(app
        .economy()
        .items()
        .await?
        .iter()
        .map(|i| i.to_json())
        .collect())
}

async fn listing_rows(app: &AppState) -> Result<Vec<Value>, ApiError> {
    Ok(app
        .economy()
        .listings()
        .await?
        .iter()
        .map(|l| l.to_json())
        .collect())
}

fn one(rows: Vec<Value>, id: &str) -> Result<Json<Value>, ApiError> {
    rows.into_iter()
        .find(|r| r["id"] == id)
        .map(|r| Json(json!({ "data": r })))
        .ok_or(ApiError::new(ErrorCode::OpsNotFound))
}

/// A body that does not describe a definition or listing: 400 `invalid_payload`, the reason
/// in `details.reason`.
fn invalid(reason: impl Into<String>) -> ApiError {
    let reason = reason.into();
    ApiError::new(ErrorCode::InvalidPayload)
        .message(reason.clone())
        .detail("reason", reason)
}

/// `GET /ops/economy/items`.
pub async fn items(
    State(app): State<AppState>,
    _: Operator,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::from_query(&q, &["id", "name", "source"])?;
    Ok(Json(page.apply(item_rows(&app).await?, &["id", "name"])))
}

/// `GET /ops/economy/items/:id`.
pub async fn item(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    one(item_rows(&app).await?, &id)
}

/// `PUT /ops/economy/items/:id` with an item definition (`name`, `description`,
/// `stackable`, `max_stack`, `metadata`).
pub async fn put_item(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let def: ItemDef =
        serde_json::from_value(Value::Object(body.0)).map_err(|e| invalid(e.to_string()))?;
    app.economy().put_item(&id, &def).await.map_err(invalid)?;
    one(item_rows(&app).await?, &id)
}

/// `GET /ops/economy/listings`.
pub async fn listings(
    State(app): State<AppState>,
    _: Operator,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::from_query(&q, &["id", "item_def_id", "currency", "price"])?;
    Ok(Json(page.apply(
        listing_rows(&app).await?,
        &["id", "item_def_id", "currency"],
    )))
}

/// `GET /ops/economy/listings/:id`.
pub async fn listing(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    one(listing_rows(&app).await?, &id)
}

/// `PUT /ops/economy/listings/:id` with a listing (`item`, `quantity`, `currency`, `price`,
/// `active`, `valid_from`, `valid_until`, `metadata`): a price change or a sale takes effect
/// on the next purchase.
pub async fn put_listing(
    State(app): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let def: ListingDef =
        serde_json::from_value(Value::Object(body.0)).map_err(|e| invalid(e.to_string()))?;
    app.economy()
        .put_listing(&id, &def)
        .await
        .map_err(invalid)?;
    one(listing_rows(&app).await?, &id)
}
