//! What we hold about a player, as one JSON document (an operator's export, a player's
//! access request). Each module that owns tables declares the queries reading a player's
//! rows of them ([`PlayerData`], `$1` the player id); this module runs them and renders the
//! rows without knowing their tables:
//!
//! - a column named `…_json` holds JSON text and is parsed, under its name without the
//!   suffix;
//! - an integer column named `…_at` is a Unix-ms timestamp and is rendered ISO-8601;
//! - anything else is rendered as the number, text or null it is.
//!
//! Secrets (password hashes, token hashes, device secrets) are never selected.

use base64::Engine;
use serde_json::{Map, Value};
use sqlx::{Column, Row};

use crate::db::Db;
use crate::time::iso8601;

/// One section of the export: a name and the query listing a player's rows.
#[derive(Debug, Clone, Copy)]
pub struct PlayerData {
    /// The key in the export document.
    pub section: &'static str,
    /// A query with `$1` = the player id.
    pub sql: &'static str,
}

/// Runs every query of every part and returns `{section: [rows]}`.
pub async fn collect(
    db: &Db,
    player: &str,
    parts: &[&[PlayerData]],
) -> Result<Map<String, Value>, sqlx::Error> {
    let mut doc = Map::new();
    for part in parts {
        for data in *part {
            let rows = sqlx::query(data.sql)
                .bind(player)
                .fetch_all(db.pool())
                .await?;
            doc.insert(
                data.section.to_owned(),
                Value::Array(rows.iter().map(|r| Value::Object(row_json(r))).collect()),
            );
        }
    }
    Ok(doc)
}

/// One row as an object, by the column conventions of the module doc.
fn row_json(row: &sqlx::any::AnyRow) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            match v {
                Some(ms) if name.ends_with("_at") => Value::String(iso8601(ms)),
                Some(n) => Value::from(n),
                None => Value::Null,
            }
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            match v {
                Some(text) if name.ends_with("_json") => {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                }
                Some(text) => Value::String(text),
                None => Value::Null,
            }
        } else if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
            v.map_or(Value::Null, Value::Bool)
        } else if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(i) {
            v.map_or(Value::Null, |b| {
                Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            })
        } else {
            Value::Null
        };
        let key = name.strip_suffix("_json").unwrap_or(name);
        out.insert(key.to_owned(), value);
    }
    out
}
