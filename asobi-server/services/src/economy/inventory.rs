//! Inventories: the items players hold. Owns `player_items`.
//!
//! A stackable item is one row per player whose quantity grows with each grant (up to its
//! definition's `max_stack`, in one conditional upsert); an item that does not stack is a row
//! per copy, each with its own id and metadata. Consuming is one conditional `UPDATE … WHERE
//! quantity >= $n`, and the row is deleted when it reaches zero.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use super::{Economy, EconomyError};
use crate::time::iso8601;

/// The most copies of an item that does not stack one grant may create.
pub const MAX_UNIQUE_PER_GRANT: i64 = 100;
/// The largest quantity one consume takes (`rest.md` §5.8).
pub const MAX_CONSUME: i64 = 1_000_000;

/// Currencies and items to hand a player (a reward, a store product).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Amount per currency.
    #[serde(default)]
    pub currencies: BTreeMap<String, i64>,
    /// Quantity per item definition.
    #[serde(default)]
    pub items: BTreeMap<String, i64>,
}

impl Grants {
    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        self.currencies.is_empty() && self.items.is_empty()
    }

    /// Checks amounts are positive.
    pub fn validate(&self) -> Result<(), String> {
        for (c, a) in &self.currencies {
            if !(1..=super::MAX_BALANCE).contains(a) {
                return Err(format!("currency {c}: amount must be positive"));
            }
        }
        for (i, q) in &self.items {
            if *q < 1 {
                return Err(format!("item {i}: quantity must be positive"));
            }
        }
        Ok(())
    }
}

/// An inventory row: `{id, item_def_id, player_id, quantity, metadata, acquired_at,
/// updated_at}` (timestamps Unix ms here, ISO-8601 in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerItem {
    /// Row id.
    pub id: String,
    /// The definition.
    pub item_def_id: String,
    /// Owner.
    pub player_id: String,
    /// Copies held.
    pub quantity: i64,
    /// Free-form.
    pub metadata: Value,
    /// First acquired, Unix ms.
    pub acquired_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

impl PlayerItem {
    /// The REST player item row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "item_def_id": self.item_def_id,
            "player_id": self.player_id,
            "quantity": self.quantity,
            "metadata": self.metadata,
            "acquired_at": iso8601(self.acquired_at),
            "updated_at": iso8601(self.updated_at),
        })
    }
}

macro_rules! columns {
    () => {
        "id, item_def_id, player_id, quantity, metadata, acquired_at, updated_at"
    };
}

fn decode(r: &sqlx::any::AnyRow) -> Result<PlayerItem, EconomyError> {
    let metadata: String = r.try_get(4)?;
    Ok(PlayerItem {
        id: r.try_get(0)?,
        item_def_id: r.try_get(1)?,
        player_id: r.try_get(2)?,
        quantity: r.try_get(3)?,
        metadata: serde_json::from_str(&metadata)?,
        acquired_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

/// Grants `quantity` of `item_def_id` inside `conn`; returns the row (the last new copy of
/// an item that does not stack).
pub(super) async fn grant_in(
    conn: &mut AnyConnection,
    player_id: &str,
    item_def_id: &str,
    quantity: i64,
    now: i64,
) -> Result<PlayerItem, EconomyError> {
    let def = sqlx::query("SELECT stackable, max_stack FROM item_definitions WHERE id = $1")
        .bind(item_def_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| EconomyError::UnknownItem(item_def_id.to_owned()))?;
    let stackable: i64 = def.try_get(0)?;
    let max_stack: i64 = def.try_get(1)?;
    if stackable == 0 {
        if !(1..=MAX_UNIQUE_PER_GRANT).contains(&quantity) {
            return Err(EconomyError::InvalidQuantity);
        }
        let mut last = None;
        for _ in 0..quantity {
            let id = crate::new_id();
            last = Some(insert(conn, &id, player_id, item_def_id, &id, 1, now).await?);
        }
        return last.ok_or(EconomyError::InvalidQuantity);
    }
    if !(1..=max_stack).contains(&quantity) {
        return Err(EconomyError::StackFull {
            item_def_id: item_def_id.to_owned(),
            max_stack,
        });
    }
    let row = sqlx::query(concat!(
        "INSERT INTO player_items (id, item_def_id, player_id, stack_key, quantity, metadata, \
         acquired_at, updated_at) VALUES ($1, $2, $3, $2, $4, '{}', $5, $5) \
         ON CONFLICT (player_id, stack_key) DO UPDATE \
         SET quantity = player_items.quantity + excluded.quantity, updated_at = excluded.updated_at \
         WHERE player_items.quantity <= $6 - excluded.quantity RETURNING ",
        columns!(),
        ""
    ))
    .bind(crate::new_id())
    .bind(item_def_id)
    .bind(player_id)
    .bind(quantity)
    .bind(now)
    .bind(max_stack)
    .fetch_optional(&mut *conn)
    .await;
    let row = match row {
        Err(e) if crate::error::is_foreign_key_violation(&e) => {
            return Err(EconomyError::PlayerNotFound);
        }
        r => r?,
    };
    match row {
        Some(r) => decode(&r),
        None => Err(EconomyError::StackFull {
            item_def_id: item_def_id.to_owned(),
            max_stack,
        }),
    }
}

async fn insert(
    conn: &mut AnyConnection,
    id: &str,
    player_id: &str,
    item_def_id: &str,
    stack_key: &str,
    quantity: i64,
    now: i64,
) -> Result<PlayerItem, EconomyError> {
    let r = sqlx::query(concat!(
        "INSERT INTO player_items (id, item_def_id, player_id, stack_key, quantity, metadata, \
         acquired_at, updated_at) VALUES ($1, $2, $3, $4, $5, '{}', $6, $6) RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(item_def_id)
    .bind(player_id)
    .bind(stack_key)
    .bind(quantity)
    .bind(now)
    .fetch_one(&mut *conn)
    .await;
    match r {
        Err(e) if crate::error::is_foreign_key_violation(&e) => Err(EconomyError::PlayerNotFound),
        r => decode(&r?),
    }
}

impl Economy {
    /// A check of grants against the item definitions stored now: every item defined, a
    /// unique item at most [`MAX_UNIQUE_PER_GRANT`] per grant, a stackable one within its
    /// `max_stack`, currencies well-formed. Rewards and store products are checked with it
    /// at start, so a payout or a claim does not first fail when it is due.
    pub async fn grant_checker(
        &self,
    ) -> Result<impl Fn(&Grants) -> Result<(), String> + use<>, EconomyError> {
        let defs: BTreeMap<String, (bool, i64)> = self
            .items()
            .await?
            .into_iter()
            .map(|i| {
                let max = i.def.max_stack.unwrap_or(super::catalog::MAX_STACK);
                (i.id, (i.def.stackable, max))
            })
            .collect();
        Ok(move |g: &Grants| {
            g.validate()?;
            for c in g.currencies.keys() {
                if !super::printable(c, super::MAX_CURRENCY_BYTES) {
                    return Err(format!("currency {c:?} is not 1-64 printable bytes"));
                }
            }
            for (item, q) in &g.items {
                match defs.get(item) {
                    None => return Err(format!("item {item} is not defined")),
                    Some((false, _)) if *q > MAX_UNIQUE_PER_GRANT => {
                        return Err(format!(
                            "item {item} does not stack: at most {MAX_UNIQUE_PER_GRANT} per grant"
                        ));
                    }
                    Some((true, max)) if q > max => {
                        return Err(format!("item {item}: {q} is over its max_stack {max}"));
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// The player's items, newest acquired first.
    pub async fn inventory(
        &self,
        player_id: &str,
        limit: i64,
    ) -> Result<Vec<PlayerItem>, EconomyError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM player_items WHERE player_id = $1 ORDER BY acquired_at DESC, id DESC LIMIT $2"
        ))
        .bind(player_id)
        .bind(limit)
        .fetch_all(self.db().pool())
        .await?;
        rows.iter().map(decode).collect()
    }

    /// Takes `quantity` from one of the player's items; returns what remains (the row is
    /// deleted at zero).
    pub async fn consume(
        &self,
        player_id: &str,
        item_id: &str,
        quantity: i64,
    ) -> Result<i64, EconomyError> {
        if !(1..=MAX_CONSUME).contains(&quantity) {
            return Err(EconomyError::InvalidQuantity);
        }
        // Two single statements, each atomic: the last copies go with the row, fewer come
        // off the stack. A concurrent consume between them can make both miss while the
        // stack still covers the request: then look again.
        for _ in 0..3 {
            let now = self.clock().now_ms();
            let deleted = sqlx::query(
                "DELETE FROM player_items WHERE id = $1 AND player_id = $2 AND quantity = $3",
            )
            .bind(item_id)
            .bind(player_id)
            .bind(quantity)
            .execute(self.db().pool())
            .await?;
            if deleted.rows_affected() == 1 {
                return Ok(0);
            }
            let row = sqlx::query(
                "UPDATE player_items SET quantity = quantity - $1, updated_at = $2 \
                 WHERE id = $3 AND player_id = $4 AND quantity > $1 RETURNING quantity",
            )
            .bind(quantity)
            .bind(now)
            .bind(item_id)
            .bind(player_id)
            .fetch_optional(self.db().pool())
            .await?;
            if let Some(row) = row {
                return Ok(row.try_get(0)?);
            }
            let owner = sqlx::query("SELECT player_id, quantity FROM player_items WHERE id = $1")
                .bind(item_id)
                .fetch_optional(self.db().pool())
                .await?;
            let Some(r) = owner else {
                return Err(EconomyError::ItemNotFound);
            };
            let owner: String = r.try_get(0)?;
            if owner != player_id {
                return Err(EconomyError::NotYours);
            }
            let remaining: i64 = r.try_get(1)?;
            if remaining < quantity {
                return Err(EconomyError::InsufficientQuantity { remaining });
            }
        }
        Err(EconomyError::InsufficientQuantity { remaining: 0 })
    }
}
