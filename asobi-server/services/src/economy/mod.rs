//! The economy (`rest.md` §5.8, `lua.md` §6.2): wallets on a ledger, the item catalogue and
//! store, and inventories. Owns `wallets`, `wallet_transactions`, `economy_requests`,
//! `item_definitions`, `store_listings`, `player_items` and `iap_transactions`.
//!
//! - **Ledger.** Every balance change writes a `wallet_transactions` row (`amount`,
//!   `balance_after`, `reason`, reference) in the transaction that changes the balance, so the
//!   rows of a wallet always sum to its balance.
//! - **Never negative.** A debit is one conditional `UPDATE … SET balance = balance - $n WHERE
//!   balance >= $n`: of many concurrent debits only those the balance covers match. The
//!   column's `CHECK (balance >= 0)` refuses anything that slipped past.
//! - **Once per key.** Grant, debit and purchase take an optional idempotency key. The first
//!   request with a key stores its result in `economy_requests` in the same transaction; a
//!   retry finds it and returns the stored result without applying anything again. A player's
//!   economy writes run in [`Db::serialized`] on the player, so the look-up and the write are
//!   one step.
//!
//! Balances are capped at [`MAX_BALANCE`] (2^53 − 1, the largest integer a JavaScript client
//! reads exactly).

mod catalog;
mod inventory;
mod receipts;

pub use catalog::{Catalog, ItemDef, ListingDef};
pub use catalog::{ItemRow, Listing};
pub use inventory::{Grants, PlayerItem};
pub use receipts::ClaimError;

use std::fmt;

use asobi_core::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Coded;
use crate::time::iso8601;

/// The largest balance a wallet holds.
pub const MAX_BALANCE: i64 = (1 << 53) - 1;
/// Longest currency name, bytes.
pub const MAX_CURRENCY_BYTES: usize = 64;
/// Longest ledger reason, bytes (longer ones are cut at a character boundary).
pub const MAX_REASON_BYTES: usize = 256;
/// Longest idempotency key, bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// Why an economy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EconomyError {
    /// The wallet holds less than the debit.
    #[error("{currency} balance {balance} is below {required}")]
    InsufficientFunds {
        /// Currency.
        currency: String,
        /// Balance now.
        balance: i64,
        /// What was asked.
        required: i64,
    },
    /// The listing is unknown, switched off, or outside its sale window.
    #[error("listing {listing_id} is not on sale")]
    ListingInactive {
        /// The listing asked for.
        listing_id: String,
    },
    /// An amount that is not a positive integer up to [`MAX_BALANCE`].
    #[error("amount must be an integer in 1..={MAX_BALANCE}, got {0}")]
    InvalidAmount(i64),
    /// A currency name that is empty, too long or has control characters.
    #[error("currency must be 1-{MAX_CURRENCY_BYTES} printable bytes")]
    InvalidCurrency,
    /// An idempotency key that is empty, too long or has control characters.
    #[error("idempotency key must be 1-{MAX_KEY_BYTES} printable bytes")]
    InvalidKey,
    /// The grant would take the wallet over [`MAX_BALANCE`].
    #[error("{currency} balance would exceed {MAX_BALANCE}")]
    BalanceLimit {
        /// Currency.
        currency: String,
    },
    /// A grant names an item no definition declares.
    #[error("no item definition {0}")]
    UnknownItem(String),
    /// The stack would exceed its definition's `max_stack`.
    #[error("stack of {item_def_id} would exceed {max_stack}")]
    StackFull {
        /// The definition.
        item_def_id: String,
        /// Its cap.
        max_stack: i64,
    },
    /// No such inventory item.
    #[error("no such inventory item")]
    ItemNotFound,
    /// The item is another player's.
    #[error("the item belongs to another player")]
    NotYours,
    /// The stack is smaller than the quantity asked.
    #[error("only {remaining} left")]
    InsufficientQuantity {
        /// What the stack holds.
        remaining: i64,
    },
    /// A quantity outside 1…1 000 000.
    #[error("quantity must be an integer in 1..=1000000")]
    InvalidQuantity,
    /// The idempotency key was first used for another request.
    #[error("idempotency key was used for {operation}")]
    KeyReused {
        /// The request that used it first (`purchase gems10`, `grant 5 gold`).
        operation: String,
    },
    /// No such player.
    #[error("no such player")]
    PlayerNotFound,
    /// A purchase failed in the database.
    #[error("purchase failed: {0}")]
    PurchaseFailed(#[source] sqlx::Error),
    /// A stored result could not be read back.
    #[error("stored result unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Coded for EconomyError {
    fn code(&self) -> ErrorCode {
        match self {
            EconomyError::InsufficientFunds { .. } => ErrorCode::EconomyInsufficientFunds,
            EconomyError::ListingInactive { .. } => ErrorCode::EconomyListingInactive,
            EconomyError::InvalidAmount(_)
            | EconomyError::InvalidCurrency
            | EconomyError::InvalidKey => ErrorCode::InvalidPayload,
            EconomyError::BalanceLimit { .. }
            | EconomyError::StackFull { .. }
            | EconomyError::KeyReused { .. } => ErrorCode::ValidationFailed,
            EconomyError::UnknownItem(_) | EconomyError::PurchaseFailed(_) => {
                ErrorCode::EconomyPurchaseFailed
            }
            EconomyError::ItemNotFound => ErrorCode::InventoryItemNotFound,
            EconomyError::NotYours => ErrorCode::Forbidden,
            EconomyError::InsufficientQuantity { .. } => ErrorCode::InventoryInsufficientQuantity,
            EconomyError::InvalidQuantity => ErrorCode::InventoryInvalidQuantity,
            EconomyError::PlayerNotFound => ErrorCode::PlayerNotFound,
            EconomyError::Corrupt(_) | EconomyError::Db(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            EconomyError::InsufficientFunds {
                currency,
                balance,
                required,
            } => {
                d.insert("currency".into(), json!(currency));
                d.insert("balance".into(), json!(balance));
                d.insert("required".into(), json!(required));
            }
            EconomyError::ListingInactive { listing_id } => {
                d.insert("listing_id".into(), json!(listing_id));
            }
            EconomyError::BalanceLimit { currency } => {
                d.insert("reason".into(), json!("balance_limit"));
                d.insert("currency".into(), json!(currency));
            }
            EconomyError::StackFull {
                item_def_id,
                max_stack,
            } => {
                d.insert("reason".into(), json!("stack_full"));
                d.insert("item_def_id".into(), json!(item_def_id));
                d.insert("max_stack".into(), json!(max_stack));
            }
            EconomyError::KeyReused { operation } => {
                d.insert("reason".into(), json!("idempotency_key_reused"));
                d.insert("operation".into(), json!(operation));
            }
            EconomyError::InsufficientQuantity { remaining } => {
                d.insert("remaining_quantity".into(), json!(remaining));
            }
            EconomyError::UnknownItem(id) => {
                d.insert("item_def_id".into(), json!(id));
            }
            _ => {}
        }
        d
    }
}

/// A wallet: `{player_id, currency, balance}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wallet {
    /// Owner.
    pub player_id: String,
    /// Currency.
    pub currency: String,
    /// Balance.
    pub balance: i64,
}

impl Wallet {
    /// `{player_id, currency, balance}`, the form Lua and REST hand out.
    pub fn to_json(&self) -> Value {
        json!({"player_id": self.player_id, "currency": self.currency, "balance": self.balance})
    }
}

/// One ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    /// Row id.
    pub id: String,
    /// The wallet.
    pub wallet_id: String,
    /// Signed change.
    pub amount: i64,
    /// Balance once applied.
    pub balance_after: i64,
    /// Why.
    pub reason: String,
    /// What caused it (`listing`, `tournament`, `iap_apple`, …).
    pub reference_type: Option<String>,
    /// Which one.
    pub reference_id: Option<String>,
    /// Free-form.
    pub metadata: Value,
    /// When, Unix ms.
    pub inserted_at: i64,
}

impl LedgerRow {
    /// The REST transaction row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "wallet_id": self.wallet_id,
            "amount": self.amount,
            "balance_after": self.balance_after,
            "reason": self.reason,
            "reference_type": self.reference_type,
            "reference_id": self.reference_id,
            "metadata": self.metadata,
            "inserted_at": iso8601(self.inserted_at),
        })
    }
}

/// What a ledger row says about its change.
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// Why (`grant`, `purchase`, `tournament_entry`, …).
    pub reason: String,
    /// What caused it.
    pub reference_type: Option<String>,
    /// Which one.
    pub reference_id: Option<String>,
    /// Free-form object.
    pub metadata: Map<String, Value>,
}

impl Note {
    /// A note with only a reason.
    pub fn reason(reason: impl Into<String>) -> Note {
        Note {
            reason: reason.into(),
            ..Note::default()
        }
    }

    /// The same note naming what caused it.
    pub fn reference(mut self, kind: &str, id: &str) -> Note {
        self.reference_type = Some(kind.to_owned());
        self.reference_id = Some(id.to_owned());
        self
    }
}

/// The operations an idempotency key can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Grant,
    Debit,
    Purchase,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Grant => "grant",
            Operation::Debit => "debit",
            Operation::Purchase => "purchase",
        })
    }
}

/// The economy service.
#[derive(Clone, Debug)]
pub struct Economy {
    db: Db,
    clock: Clock,
}

impl Economy {
    /// The service over `db`.
    pub fn new(db: Db, clock: Clock) -> Economy {
        Economy { db, clock }
    }

    /// The database (tournaments and receipts write through the same transactions).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The player's wallets, by currency.
    pub async fn wallets(&self, player_id: &str) -> Result<Vec<Wallet>, EconomyError> {
        let rows = sqlx::query(
            "SELECT player_id, currency, balance FROM wallets WHERE player_id = $1 ORDER BY currency",
        )
        .bind(player_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Wallet {
                    player_id: r.try_get(0)?,
                    currency: r.try_get(1)?,
                    balance: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The newest `limit` ledger rows of one wallet, newest first (none if no wallet).
    pub async fn history(
        &self,
        player_id: &str,
        currency: &str,
        limit: i64,
    ) -> Result<Vec<LedgerRow>, EconomyError> {
        let rows = sqlx::query(
            "SELECT t.id, t.wallet_id, t.amount, t.balance_after, t.reason, t.reference_type, \
             t.reference_id, t.metadata, t.inserted_at \
             FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id \
             WHERE w.player_id = $1 AND w.currency = $2 \
             ORDER BY t.inserted_at DESC, t.id DESC LIMIT $3",
        )
        .bind(player_id)
        .bind(currency)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let metadata: String = r.try_get(7)?;
                Ok(LedgerRow {
                    id: r.try_get(0)?,
                    wallet_id: r.try_get(1)?,
                    amount: r.try_get(2)?,
                    balance_after: r.try_get(3)?,
                    reason: r.try_get(4)?,
                    reference_type: r.try_get(5)?,
                    reference_id: r.try_get(6)?,
                    metadata: serde_json::from_str(&metadata)?,
                    inserted_at: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Adds `amount` to the player's `currency` wallet (created on demand), once per `key`.
    pub async fn grant(
        &self,
        player_id: &str,
        currency: &str,
        amount: i64,
        note: &Note,
        key: Option<&str>,
    ) -> Result<Wallet, EconomyError> {
        self.change(Operation::Grant, player_id, currency, amount, note, key)
            .await
    }

    /// Takes `amount` from the player's `currency` wallet, once per `key`;
    /// [`EconomyError::InsufficientFunds`] if it holds less.
    pub async fn debit(
        &self,
        player_id: &str,
        currency: &str,
        amount: i64,
        note: &Note,
        key: Option<&str>,
    ) -> Result<Wallet, EconomyError> {
        self.change(Operation::Debit, player_id, currency, amount, note, key)
            .await
    }

    async fn change(
        &self,
        op: Operation,
        player_id: &str,
        currency: &str,
        amount: i64,
        note: &Note,
        key: Option<&str>,
    ) -> Result<Wallet, EconomyError> {
        check_key(key)?;
        if !(1..=MAX_BALANCE).contains(&amount) {
            return Err(EconomyError::InvalidAmount(amount));
        }
        let request = format!("{op} {amount} {currency}");
        let mut tx = self.db.serialized(&player_lock(player_id)).await?;
        if let Some(stored) = recall(&mut tx, player_id, key, &request).await? {
            return Ok(serde_json::from_str(&stored)?);
        }
        let now = self.clock.now_ms();
        let delta = if op == Operation::Debit {
            -amount
        } else {
            amount
        };
        let wallet = apply(&mut tx, player_id, currency, delta, note, now).await?;
        remember(&mut tx, player_id, key, &request, &wallet, now).await?;
        tx.commit().await?;
        Ok(wallet)
    }

    /// Buys a listing: debits its price and grants its item in one transaction, once per
    /// `key`. Returns the player's item row as it is after the grant.
    pub async fn purchase(
        &self,
        player_id: &str,
        listing_id: &str,
        key: Option<&str>,
    ) -> Result<PlayerItem, EconomyError> {
        check_key(key)?;
        let mut tx = self
            .db
            .serialized(&player_lock(player_id))
            .await
            .map_err(EconomyError::PurchaseFailed)?;
        let request = format!("{} {listing_id}", Operation::Purchase);
        if let Some(stored) = recall(&mut tx, player_id, key, &request).await? {
            return Ok(serde_json::from_str(&stored)?);
        }
        let now = self.clock.now_ms();
        let listing = catalog::on_sale(&mut tx, listing_id, now)
            .await?
            .ok_or_else(|| EconomyError::ListingInactive {
                listing_id: listing_id.to_owned(),
            })?;
        if listing.price > 0 {
            let note = Note::reason("purchase").reference("listing", listing_id);
            apply(
                &mut tx,
                player_id,
                &listing.currency,
                -listing.price,
                &note,
                now,
            )
            .await?;
        }
        let item = inventory::grant_in(
            &mut tx,
            player_id,
            &listing.item_def_id,
            listing.quantity,
            now,
        )
        .await?;
        remember(&mut tx, player_id, key, &request, &item, now).await?;
        tx.commit().await.map_err(EconomyError::PurchaseFailed)?;
        Ok(item)
    }

    /// Applies `grants` (currencies and items) to a player inside `conn`, each currency as
    /// a ledger row with `note`: rewards and store receipts pay through this.
    pub(crate) async fn apply_grants_in(
        conn: &mut AnyConnection,
        player_id: &str,
        grants: &Grants,
        note: &Note,
        now: i64,
    ) -> Result<(), EconomyError> {
        for (currency, amount) in &grants.currencies {
            apply(conn, player_id, currency, *amount, note, now).await?;
        }
        for (item, quantity) in &grants.items {
            inventory::grant_in(conn, player_id, item, *quantity, now).await?;
        }
        Ok(())
    }

    /// Debits `amount` inside `conn` (a tournament's entry fee).
    pub(crate) async fn debit_in(
        conn: &mut AnyConnection,
        player_id: &str,
        currency: &str,
        amount: i64,
        note: &Note,
        now: i64,
    ) -> Result<Wallet, EconomyError> {
        apply(conn, player_id, currency, -amount, note, now).await
    }
}

/// The lock every economy write of one player takes.
fn player_lock(player_id: &str) -> String {
    format!("economy:{player_id}")
}

fn check_key(key: Option<&str>) -> Result<(), EconomyError> {
    match key {
        Some(k) if !printable(k, MAX_KEY_BYTES) => Err(EconomyError::InvalidKey),
        _ => Ok(()),
    }
}

/// 1–`max` bytes without control characters.
pub(crate) fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

/// Changes a balance by `delta` and writes its ledger row, inside `conn`. A credit creates
/// the wallet if needed; a debit matches only a balance that covers it.
async fn apply(
    conn: &mut AnyConnection,
    player_id: &str,
    currency: &str,
    delta: i64,
    note: &Note,
    now: i64,
) -> Result<Wallet, EconomyError> {
    if !printable(currency, MAX_CURRENCY_BYTES) {
        return Err(EconomyError::InvalidCurrency);
    }
    if delta == 0 || delta.unsigned_abs() > MAX_BALANCE as u64 {
        return Err(EconomyError::InvalidAmount(delta.saturating_abs()));
    }
    let row = if delta > 0 {
        let r = sqlx::query(
            "INSERT INTO wallets (id, player_id, currency, balance, inserted_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (player_id, currency) DO UPDATE \
             SET balance = wallets.balance + excluded.balance, updated_at = excluded.updated_at \
             WHERE wallets.balance <= $6 - excluded.balance \
             RETURNING id, balance",
        )
        .bind(crate::new_id())
        .bind(player_id)
        .bind(currency)
        .bind(delta)
        .bind(now)
        .bind(MAX_BALANCE)
        .fetch_optional(&mut *conn)
        .await;
        match r {
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(EconomyError::PlayerNotFound);
            }
            r => r?,
        }
    } else {
        sqlx::query(
            "UPDATE wallets SET balance = balance + $1, updated_at = $2 \
             WHERE player_id = $3 AND currency = $4 AND balance >= $5 RETURNING id, balance",
        )
        .bind(delta)
        .bind(now)
        .bind(player_id)
        .bind(currency)
        .bind(-delta)
        .fetch_optional(&mut *conn)
        .await?
    };
    let Some(row) = row else {
        if delta > 0 {
            return Err(EconomyError::BalanceLimit {
                currency: currency.to_owned(),
            });
        }
        let balance: Option<i64> =
            sqlx::query("SELECT balance FROM wallets WHERE player_id = $1 AND currency = $2")
                .bind(player_id)
                .bind(currency)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        return Err(EconomyError::InsufficientFunds {
            currency: currency.to_owned(),
            balance: balance.unwrap_or(0),
            required: -delta,
        });
    };
    let wallet_id: String = row.try_get(0)?;
    let balance: i64 = row.try_get(1)?;
    let reason = cut(&note.reason, MAX_REASON_BYTES);
    sqlx::query(
        "INSERT INTO wallet_transactions (id, wallet_id, amount, balance_after, reason, \
         reference_type, reference_id, metadata, inserted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(crate::new_id())
    .bind(&wallet_id)
    .bind(delta)
    .bind(balance)
    .bind(reason)
    .bind(note.reference_type.as_deref())
    .bind(note.reference_id.as_deref())
    .bind(Value::Object(note.metadata.clone()).to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Wallet {
        player_id: player_id.to_owned(),
        currency: currency.to_owned(),
        balance,
    })
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The stored result of an earlier request with `key`, if any. `request` names the
/// operation and its arguments (`purchase gems10`, `grant 5 gold`): a key first used for
/// another request is refused rather than answered with that request's result.
async fn recall(
    conn: &mut AnyConnection,
    player_id: &str,
    key: Option<&str>,
    request: &str,
) -> Result<Option<String>, EconomyError> {
    let Some(key) = key else { return Ok(None) };
    let row = sqlx::query(
        "SELECT operation, result FROM economy_requests WHERE player_id = $1 AND idempotency_key = $2",
    )
    .bind(player_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let operation: String = row.try_get(0)?;
    if operation != request {
        return Err(EconomyError::KeyReused { operation });
    }
    Ok(Some(row.try_get(1)?))
}

/// Stores the result of the request with `key`, inside its transaction.
async fn remember<T: Serialize>(
    conn: &mut AnyConnection,
    player_id: &str,
    key: Option<&str>,
    request: &str,
    result: &T,
    now: i64,
) -> Result<(), EconomyError> {
    let Some(key) = key else { return Ok(()) };
    sqlx::query(
        "INSERT INTO economy_requests (player_id, idempotency_key, operation, result, inserted_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(player_id)
    .bind(key)
    .bind(request)
    .bind(serde_json::to_string(result)?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A player's wallets, ledger, items and claimed store transactions, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[
    crate::export::PlayerData {
        section: "wallets",
        sql: "SELECT currency, balance, inserted_at, updated_at FROM wallets WHERE player_id = $1 ORDER BY currency",
    },
    crate::export::PlayerData {
        section: "wallet_transactions",
        sql: "SELECT t.id, w.currency, t.amount, t.balance_after, t.reason, t.reference_type, t.reference_id, t.metadata AS metadata_json, t.inserted_at FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id WHERE w.player_id = $1 ORDER BY t.inserted_at, t.id",
    },
    crate::export::PlayerData {
        section: "inventory",
        sql: "SELECT id, item_def_id, quantity, metadata AS metadata_json, acquired_at, updated_at FROM player_items WHERE player_id = $1 ORDER BY acquired_at, id",
    },
    crate::export::PlayerData {
        section: "store_transactions",
        sql: "SELECT store, transaction_id, product_id, inserted_at FROM iap_transactions WHERE player_id = $1 ORDER BY inserted_at, transaction_id",
    },
    crate::export::PlayerData {
        section: "economy_requests",
        sql: "SELECT idempotency_key, operation, result AS result_json, inserted_at FROM economy_requests WHERE player_id = $1 ORDER BY inserted_at",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
    }

    #[test]
    fn codes_follow_the_contract() {
        let e = EconomyError::InsufficientFunds {
            currency: "gold".into(),
            balance: 5,
            required: 10,
        };
        assert_eq!(e.code().http_status(), 402);
        assert_eq!(e.reason(), "insufficient_funds");
        assert_eq!(e.details()["balance"], 5);
        let e = EconomyError::ListingInactive {
            listing_id: "x".into(),
        };
        assert_eq!(e.reason(), "listing_inactive");
    }
}
