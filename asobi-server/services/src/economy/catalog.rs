//! The item catalogue and the store: item definitions and store listings, declared by the
//! game (`config.lua`'s `economy` table, the operator's `[economy]` config) and changeable by
//! the operator. Owns `item_definitions` and `store_listings`.
//!
//! Declarations are synced into the tables at start and whenever the game reloads: rows the
//! game declared (`source = 'game'`) follow the declarations, and a listing the game no
//! longer declares is switched off (its item definitions stay, as inventories name them).
//! Rows an operator wrote (`source = 'operator'`) are never touched by the sync.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};

use super::{Economy, EconomyError, MAX_BALANCE, MAX_CURRENCY_BYTES, printable};
use crate::time::iso8601;

/// Longest item or listing id, bytes.
pub const MAX_ID_BYTES: usize = 64;
/// The largest stack a definition may allow.
pub const MAX_STACK: i64 = 1_000_000_000;

/// Who wrote a catalogue row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The game's declarations (re-synced).
    Game,
    /// The operator (kept across syncs).
    Operator,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Game => "game",
            Source::Operator => "operator",
        }
    }
}

/// An item definition as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDef {
    /// Display name (the id when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Whether copies stack into one row (default) or each copy is its own row.
    #[serde(default = "yes")]
    pub stackable: bool,
    /// The largest stack (default [`MAX_STACK`]).
    #[serde(default)]
    pub max_stack: Option<i64>,
    /// Free-form.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

fn yes() -> bool {
    true
}

fn one() -> i64 {
    1
}

/// A store listing as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingDef {
    /// The item definition it sells.
    pub item: String,
    /// Copies per purchase (default 1; 1 for items that do not stack).
    #[serde(default = "one")]
    pub quantity: i64,
    /// The currency it costs.
    pub currency: String,
    /// Its price (0 for a free claim).
    pub price: i64,
    /// On sale (default true).
    #[serde(default = "yes")]
    pub active: bool,
    /// On sale from (Unix ms).
    #[serde(default)]
    pub valid_from: Option<i64>,
    /// On sale until (Unix ms, exclusive).
    #[serde(default)]
    pub valid_until: Option<i64>,
    /// Free-form.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Declared item definitions and listings by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Item definitions.
    #[serde(default)]
    pub items: BTreeMap<String, ItemDef>,
    /// Store listings.
    #[serde(default)]
    pub listings: BTreeMap<String, ListingDef>,
}

impl Catalog {
    /// `other`'s entries over this one's (the operator's config over the game's).
    pub fn extend(&mut self, other: Catalog) {
        self.items.extend(other.items);
        self.listings.extend(other.listings);
    }

    /// Checks ids, quantities and prices, without requiring listings' items to be declared
    /// here (the operator's catalogue may sell the game's items).
    pub fn validate_fields(&self) -> Result<(), String> {
        for (id, item) in &self.items {
            check_item(id, item)?;
        }
        for (id, listing) in &self.listings {
            check_listing(id, listing, self.items.get(&listing.item))?;
        }
        Ok(())
    }

    /// Checks ids, quantities and prices, and that every listing sells a declared item.
    pub fn validate(&self) -> Result<(), String> {
        for (id, item) in &self.items {
            check_item(id, item)?;
        }
        for (id, listing) in &self.listings {
            let item = self
                .items
                .get(&listing.item)
                .ok_or_else(|| format!("listing {id}: item {:?} is not declared", listing.item))?;
            check_listing(id, listing, Some(item))?;
        }
        Ok(())
    }
}

fn check_id(kind: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} id {id:?} must be 1-{MAX_ID_BYTES} characters of A-Z a-z 0-9 _ . : -"
        ))
    }
}

fn check_item(id: &str, item: &ItemDef) -> Result<(), String> {
    check_id("item", id)?;
    if let Some(max) = item.max_stack
        && !(1..=MAX_STACK).contains(&max)
    {
        return Err(format!("item {id}: max_stack must be in 1..={MAX_STACK}"));
    }
    Ok(())
}

fn check_listing(id: &str, l: &ListingDef, item: Option<&ItemDef>) -> Result<(), String> {
    check_id("listing", id)?;
    if !printable(&l.currency, MAX_CURRENCY_BYTES) {
        return Err(format!(
            "listing {id}: currency must be 1-{MAX_CURRENCY_BYTES} printable bytes"
        ));
    }
    if !(0..=MAX_BALANCE).contains(&l.price) {
        return Err(format!("listing {id}: price must be in 0..={MAX_BALANCE}"));
    }
    let max = item.map_or(MAX_STACK, |i| {
        if i.stackable {
            i.max_stack.unwrap_or(MAX_STACK)
        } else {
            1
        }
    });
    if !(1..=max).contains(&l.quantity) {
        return Err(format!("listing {id}: quantity must be in 1..={max}"));
    }
    Ok(())
}

/// A listing row: `{id, item_def_id, quantity, currency, price, active, valid_from,
/// valid_until, metadata}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Id.
    pub id: String,
    /// The item it sells.
    pub item_def_id: String,
    /// Copies per purchase.
    pub quantity: i64,
    /// Currency.
    pub currency: String,
    /// Price.
    pub price: i64,
    /// On sale.
    pub active: bool,
    /// From, Unix ms.
    pub valid_from: Option<i64>,
    /// Until, Unix ms.
    pub valid_until: Option<i64>,
    /// Free-form.
    pub metadata: Value,
}

impl Listing {
    /// The REST store listing row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "item_def_id": self.item_def_id,
            "quantity": self.quantity,
            "currency": self.currency,
            "price": self.price,
            "active": self.active,
            "valid_from": self.valid_from.map(iso8601),
            "valid_until": self.valid_until.map(iso8601),
            "metadata": self.metadata,
        })
    }
}

/// An item definition row.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    /// Id.
    pub id: String,
    /// The definition.
    pub def: ItemDef,
    /// Who wrote it.
    pub source: String,
}

impl ItemRow {
    /// `{id, name, description, stackable, max_stack, metadata, source}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.def.name.as_deref().unwrap_or(&self.id),
            "description": self.def.description,
            "stackable": self.def.stackable,
            "max_stack": self.def.max_stack.unwrap_or(MAX_STACK),
            "metadata": self.def.metadata,
            "source": self.source,
        })
    }
}

macro_rules! listing_columns {
    () => {
        "id, item_def_id, quantity, currency, price, active, valid_from, valid_until, metadata"
    };
}

fn decode_listing(r: &sqlx::any::AnyRow) -> Result<Listing, EconomyError> {
    let metadata: String = r.try_get(8)?;
    let active: i64 = r.try_get(5)?;
    Ok(Listing {
        id: r.try_get(0)?,
        item_def_id: r.try_get(1)?,
        quantity: r.try_get(2)?,
        currency: r.try_get(3)?,
        price: r.try_get(4)?,
        active: active != 0,
        valid_from: r.try_get(6)?,
        valid_until: r.try_get(7)?,
        metadata: serde_json::from_str(&metadata)?,
    })
}

/// The listing if it is on sale at `now`.
pub(super) async fn on_sale(
    conn: &mut AnyConnection,
    listing_id: &str,
    now: i64,
) -> Result<Option<Listing>, EconomyError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        listing_columns!(),
        " FROM store_listings WHERE id = $1 AND active = 1 \
         AND (valid_from IS NULL OR valid_from <= $2) AND (valid_until IS NULL OR valid_until > $2)"
    ))
    .bind(listing_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(decode_listing).transpose()
}

impl Economy {
    /// Listings on sale now (active and inside their window), optionally in one currency,
    /// cheapest first.
    pub async fn store(&self, currency: Option<&str>) -> Result<Vec<Listing>, EconomyError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            listing_columns!(),
            " FROM store_listings WHERE active = 1 AND ($1 = '' OR currency = $1) \
             AND (valid_from IS NULL OR valid_from <= $2) AND (valid_until IS NULL OR valid_until > $2) \
             ORDER BY price, id LIMIT 1000"
        ))
        .bind(currency.unwrap_or(""))
        .bind(self.clock().now_ms())
        .fetch_all(self.db().pool())
        .await?;
        rows.iter().map(decode_listing).collect()
    }

    /// Every listing, on sale or not (the operator's view).
    pub async fn listings(&self) -> Result<Vec<Listing>, EconomyError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            listing_columns!(),
            " FROM store_listings ORDER BY id"
        ))
        .fetch_all(self.db().pool())
        .await?;
        rows.iter().map(decode_listing).collect()
    }

    /// Every item definition.
    pub async fn items(&self) -> Result<Vec<ItemRow>, EconomyError> {
        let rows = sqlx::query(
            "SELECT id, name, description, stackable, max_stack, metadata, source \
             FROM item_definitions ORDER BY id",
        )
        .fetch_all(self.db().pool())
        .await?;
        rows.iter()
            .map(|r| {
                let metadata: String = r.try_get(5)?;
                let stackable: i64 = r.try_get(3)?;
                let Value::Object(metadata) = serde_json::from_str(&metadata)? else {
                    return Err(EconomyError::UnknownItem(r.try_get(0)?));
                };
                Ok(ItemRow {
                    id: r.try_get(0)?,
                    def: ItemDef {
                        name: Some(r.try_get(1)?),
                        description: r.try_get(2)?,
                        stackable: stackable != 0,
                        max_stack: Some(r.try_get(4)?),
                        metadata,
                    },
                    source: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Makes the game's rows match `catalog`; see the module documentation.
    pub async fn sync_catalog(&self, catalog: &Catalog) -> Result<(), EconomyError> {
        let now = self.clock().now_ms();
        let mut tx = self.db().serialized("economy:catalog").await?;
        for (id, item) in &catalog.items {
            put_item(&mut tx, id, item, Source::Game, now).await?;
        }
        for (id, listing) in &catalog.listings {
            put_listing(&mut tx, id, listing, Source::Game, now).await?;
        }
        let declared: Vec<String> =
            sqlx::query("SELECT id FROM store_listings WHERE source = 'game' AND active = 1")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        for id in declared
            .iter()
            .filter(|id| !catalog.listings.contains_key(*id))
        {
            sqlx::query("UPDATE store_listings SET active = 0, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes an item definition as the operator (kept across syncs).
    pub async fn put_item(&self, id: &str, item: &ItemDef) -> Result<(), String> {
        check_item(id, item)?;
        let now = self.clock().now_ms();
        let mut conn = self
            .db()
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        put_item(&mut conn, id, item, Source::Operator, now)
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes a listing as the operator (kept across syncs).
    pub async fn put_listing(&self, id: &str, listing: &ListingDef) -> Result<(), String> {
        check_listing(id, listing, None)?;
        let now = self.clock().now_ms();
        let mut conn = self
            .db()
            .pool()
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        put_listing(&mut conn, id, listing, Source::Operator, now)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Upserts a definition; a game write leaves an operator's row alone.
async fn put_item(
    conn: &mut AnyConnection,
    id: &str,
    item: &ItemDef,
    source: Source,
    now: i64,
) -> Result<(), EconomyError> {
    sqlx::query(
        "INSERT INTO item_definitions (id, name, description, stackable, max_stack, metadata, \
         source, inserted_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, \
         stackable = excluded.stackable, max_stack = excluded.max_stack, \
         metadata = excluded.metadata, source = excluded.source, updated_at = excluded.updated_at \
         WHERE excluded.source = 'operator' OR item_definitions.source = 'game'",
    )
    .bind(id)
    .bind(item.name.as_deref().unwrap_or(id))
    .bind(&item.description)
    .bind(i64::from(item.stackable))
    .bind(item.max_stack.unwrap_or(MAX_STACK))
    .bind(Value::Object(item.metadata.clone()).to_string())
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Upserts a listing; a game write leaves an operator's row alone.
async fn put_listing(
    conn: &mut AnyConnection,
    id: &str,
    l: &ListingDef,
    source: Source,
    now: i64,
) -> Result<(), EconomyError> {
    let r = sqlx::query(
        "INSERT INTO store_listings (id, item_def_id, quantity, currency, price, active, \
         valid_from, valid_until, metadata, source, inserted_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (id) DO UPDATE SET item_def_id = excluded.item_def_id, \
         quantity = excluded.quantity, currency = excluded.currency, price = excluded.price, \
         active = excluded.active, valid_from = excluded.valid_from, \
         valid_until = excluded.valid_until, metadata = excluded.metadata, \
         source = excluded.source, updated_at = excluded.updated_at \
         WHERE excluded.source = 'operator' OR store_listings.source = 'game'",
    )
    .bind(id)
    .bind(&l.item)
    .bind(l.quantity)
    .bind(&l.currency)
    .bind(l.price)
    .bind(i64::from(l.active))
    .bind(l.valid_from)
    .bind(l.valid_until)
    .bind(Value::Object(l.metadata.clone()).to_string())
    .bind(source.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await;
    match r {
        Err(e) if crate::error::is_foreign_key_violation(&e) => {
            Err(EconomyError::UnknownItem(l.item.clone()))
        }
        r => r.map(drop).map_err(EconomyError::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(toml_like: Value) -> Catalog {
        serde_json::from_value(toml_like).unwrap()
    }

    #[test]
    fn listings_must_sell_declared_items_in_range() {
        let ok = catalog(json!({
            "items": {"gem": {}, "sword": {"stackable": false}},
            "listings": {"gems": {"item": "gem", "quantity": 10, "currency": "gold", "price": 5}},
        }));
        ok.validate().unwrap();
        let unknown =
            catalog(json!({"listings": {"x": {"item": "nope", "currency": "g", "price": 1}}}));
        assert!(unknown.validate().unwrap_err().contains("not declared"));
        let many_swords = catalog(json!({
            "items": {"sword": {"stackable": false}},
            "listings": {"x": {"item": "sword", "quantity": 2, "currency": "g", "price": 1}},
        }));
        assert!(many_swords.validate().unwrap_err().contains("quantity"));
        let bad_id = catalog(json!({"items": {"a b": {}}}));
        assert!(bad_id.validate().is_err());
        let negative = catalog(json!({
            "items": {"gem": {}},
            "listings": {"x": {"item": "gem", "currency": "g", "price": -1}},
        }));
        assert!(negative.validate().unwrap_err().contains("price"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<Catalog, _> =
            serde_json::from_value(json!({"items": {"a": {"stackabel": true}}}));
        assert!(r.is_err());
    }
}
