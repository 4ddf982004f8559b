//! `/api/v1/iap/*` (`rest.md` §5.9): store receipts verified ([`crate::iap`]), claimed once
//! and granted ([`asobi_services::economy::Economy::claim_receipt`]).

use asobi_core::protocol::ErrorCode;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::extract::{Authed, JsonBody};
use crate::error::ApiError;
use crate::state::AppState;

/// `POST /iap/apple` with `signed_transaction` (a StoreKit 2 JWS).
pub async fn apple(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let jws = body.string("signed_transaction")?;
    let t = app.iap().verify_apple(&jws, app.tournaments().now_ms())?;
    let transaction_id = t
        .transaction_id
        .clone()
        .ok_or(ApiError::new(ErrorCode::IapMissingTransactionId))?;
    let grants = app.iap().grants(&t.product_id, t.quantity)?;
    let receipt = json!({
        "product_id": t.product_id,
        "transaction_id": transaction_id,
        "original_transaction_id": t.original_transaction_id,
        "purchase_date": t.purchase_date,
        "expires_date": t.expires_date,
        "quantity": t.quantity,
        "type": t.kind,
        "environment": t.environment,
    });
    let duplicate = app
        .economy()
        .claim_receipt(
            &me.player_id,
            "apple",
            &transaction_id,
            &t.product_id,
            &receipt,
            &grants,
        )
        .await?;
    let mut out = receipt;
    out["valid"] = json!(true);
    out["duplicate"] = json!(duplicate);
    Ok(Json(out))
}

/// `POST /iap/google` with `product_id` and `purchase_token`.
pub async fn google(
    State(app): State<AppState>,
    Authed(me): Authed,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let product = body.string("product_id")?;
    let token = body.string("purchase_token")?;
    let p = app.iap().verify_google(&product, &token).await?;
    let order_id = p
        .order_id
        .clone()
        .ok_or(ApiError::new(ErrorCode::IapMissingTransactionId))?;
    let grants = app.iap().grants(&p.product_id, p.quantity)?;
    let receipt = json!({
        "product_id": p.product_id,
        "order_id": order_id,
        "purchase_time": p.purchase_time,
        "consumption_state": p.consumption_state,
        "acknowledged": p.acknowledged,
        "quantity": p.quantity,
    });
    let duplicate = app
        .economy()
        .claim_receipt(
            &me.player_id,
            "google",
            &order_id,
            &p.product_id,
            &receipt,
            &grants,
        )
        .await?;
    if !duplicate && !p.acknowledged {
        app.iap().acknowledge_google(&p.product_id, &token).await;
    }
    let mut out = receipt;
    out["valid"] = json!(true);
    out["duplicate"] = json!(duplicate);
    Ok(Json(out))
}
