//! `/api/v1/wallets*`, `/store*`, `/inventory*` (`rest.md` §5.8), over
//! [`asobi_services::economy`]. Purchases take an optional idempotency key, from the
//! `Idempotency-Key` header or the body's `idempotency_key`: a retry with the key returns the
//! first answer and charges nothing again.

use std::collections::HashMap;

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use super::matches::clamp_limit;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /wallets`: `{"wallets": [{currency, balance}]}`.
pub async fn wallets(
    State(app): State<AppState>,
    Authed(me): Authed,
) -> Result<Json<Value>, ApiError> {
    let wallets = app.economy().wallets(&me.player_id).await?;
    let wallets: Vec<Value> = wallets
        .iter()
        .map(|w| json!({"currency": w.currency, "balance": w.balance}))
        .collect();
    Ok(Json(json!({ "wallets": wallets })))
}

/// `GET /wallets/:currency/history?limit=`: `{"transactions": [row]}`, newest first.
pub async fn history(
    State(app): State<AppState>,
    Authed(me): Authed,
    Path(currency): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let rows = app
        .economy()
        .history(&me.player_id, &currency, limit)
        .await?;
    let rows: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
    Ok(Json(json!({ "transactions": rows })))
}

/// `GET /store?currency=`: `{"listings": [row]}`, on sale now.
pub async fn store(
    State(app): State<AppState>,
    Authed(_): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let currency = q
        .get("currency")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let listings = app.economy().store(currency).await?;
    let listings: Vec<Value> = listings.iter().map(|l| l.to_json()).collect();
    Ok(Json(json!({ "listings": listings })))
}

/// `POST /store/purchase` with `listing_id`: `{"success": true, "item": row}`.
pub async fn purchase(
    State(app): State<AppState>,
    Authed(me): Authed,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let listing = body.string("listing_id")?;
    let key = idempotency_key(&headers, &body)?;
    let item = app
        .economy()
        .purchase(&me.player_id, &listing, key.as_deref())
        .await?;
    Ok(Json(json!({"success": true, "item": item.to_json()})))
}

/// `GET /inventory?limit=`: `{"items": [row]}`, newest acquired first.
pub async fn inventory(
    State(app): State<AppState>,
    Authed(me): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = clamp_limit(&q, 1, 200, 50);
    let items = app.economy().inventory(&me.player_id, limit).await?;
    let items: Vec<Value> = items.iter().map(|i| i.to_json()).collect();
    Ok(Json(json!({ "items": items })))
}

/// `POST /inventory/consume` with `item_id` and `quantity` (1…1 000 000):
/// `{"success": true, "remaining_quantity": n}`.
pub async fn consume(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InventoryInvalidQuantity);
    let item = body.opt_string("item_id").ok_or_else(invalid)?;
    let quantity = body
        .0
        .get("quantity")
        .and_then(Value::as_i64)
        .ok_or_else(invalid)?;
    let remaining = app
        .economy()
        .consume(&me.player_id, &item, quantity)
        .await?;
    Ok(Json(
        json!({"success": true, "remaining_quantity": remaining}),
    ))
}

/// The request's idempotency key: the `Idempotency-Key` header, else `idempotency_key` in
/// the body; a non-string body value is refused.
fn idempotency_key(headers: &HeaderMap, body: &JsonBody) -> Result<Option<String>, ApiError> {
    if let Some(h) = headers.get("idempotency-key") {
        return h.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::new(ErrorCode::InvalidPayload)
                .message("Idempotency-Key must be printable ASCII")
        });
    }
    match body.0.get("idempotency_key") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::new(ErrorCode::InvalidPayload)
            .message("idempotency_key must be a string")
            .detail("field", "idempotency_key")),
    }
}
