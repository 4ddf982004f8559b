//! Store transactions (`rest.md` §5.9), once verified: each is claimed once, and the claim
//! grants what the product is configured to give in the same transaction. Owns
//! `iap_transactions`. Verification itself is [`crate::iap`]'s.

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value, json};
use sqlx::Row;

use super::{Economy, EconomyError, Grants, Note};
use crate::error::Coded;

/// Why a verified transaction was not claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another player claimed it.
    #[error("transaction already claimed by another player")]
    AlreadyClaimed,
    /// The grant failed (the claim rolled back with it).
    #[error("grant failed: {0}")]
    Grant(#[from] EconomyError),
    /// Recording failed.
    #[error("cannot record the transaction: {0}")]
    Record(#[from] sqlx::Error),
}

impl Coded for ClaimError {
    fn code(&self) -> ErrorCode {
        match self {
            ClaimError::AlreadyClaimed => ErrorCode::IapTransactionAlreadyClaimed,
            ClaimError::Grant(_) | ClaimError::Record(_) => ErrorCode::IapRecordFailed,
        }
    }

    fn details(&self) -> Map<String, Value> {
        match self {
            ClaimError::Grant(e) => {
                let mut d = Map::new();
                d.insert("reason".into(), json!(e.reason()));
                d
            }
            _ => Map::new(),
        }
    }
}

impl Economy {
    /// Claims `(store, transaction_id)` for `player_id` and grants `grants` with it. Ok(true)
    /// when this player had already claimed it (nothing granted again).
    pub async fn claim_receipt(
        &self,
        player_id: &str,
        store: &str,
        transaction_id: &str,
        product_id: &str,
        receipt: &Value,
        grants: &Grants,
    ) -> Result<bool, ClaimError> {
        let now = self.clock().now_ms();
        let mut tx = self
            .db()
            .serialized(&format!("iap:{store}:{transaction_id}"))
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO iap_transactions (store, transaction_id, player_id, product_id, receipt, inserted_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store, transaction_id) DO NOTHING",
        )
        .bind(store)
        .bind(transaction_id)
        .bind(player_id)
        .bind(product_id)
        .bind(receipt.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let owner: Option<String> = sqlx::query(
                "SELECT player_id FROM iap_transactions WHERE store = $1 AND transaction_id = $2",
            )
            .bind(store)
            .bind(transaction_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            return if owner.as_deref() == Some(player_id) {
                Ok(true)
            } else {
                Err(ClaimError::AlreadyClaimed)
            };
        }
        let note = Note::reason("iap").reference(&format!("iap_{store}"), transaction_id);
        Economy::apply_grants_in(&mut tx, player_id, grants, &note, now).await?;
        tx.commit().await?;
        Ok(false)
    }
}
