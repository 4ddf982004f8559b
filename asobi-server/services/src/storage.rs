//! Storage (`rest.md` §5.13, `lua.md` §6.2): collections of keyed JSON values.
//!
//! Owns the `storage_objects` table, which holds two namespaces:
//! - **player rows** (`player_id` set): what REST reads and writes, and Lua's
//!   `game.storage.player_get/player_set`. For REST a key is global per `(collection, key)`:
//!   the first player to write it owns it; others read it if `read_perm` is `public` and
//!   write it if `write_perm` is `public`. Only the owner changes the permissions.
//! - **global rows** (`player_id` NULL): Lua's `game.storage.get/set`, invisible to REST.
//!
//! Beyond the original: a PUT may name the `version` it read, making the write conditional
//! ([`StorageError::VersionConflict`], 409 with `details.current_version`; `0` means "only if
//! absent"); listings are paginated by an opaque cursor over `(key, player_id)`, stable under
//! concurrent writes. REST writes decide ownership inside [`Db::serialized`] on the key.

use asobi_core::protocol::ErrorCode;
use base64::Engine;
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Coded, is_foreign_key_violation};
use crate::time::iso8601;

/// Largest value, as encoded JSON.
pub const MAX_VALUE_BYTES: usize = 256 * 1024;
/// Longest collection or key, bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// The permissions deny it.
    #[error("permission denied")]
    Forbidden,
    /// The value is over [`MAX_VALUE_BYTES`] encoded.
    #[error("value is {0} bytes encoded; the limit is {MAX_VALUE_BYTES}")]
    TooLarge(usize),
    /// A permission other than `owner` or `public`.
    #[error("permission must be \"owner\" or \"public\"")]
    InvalidPerm,
    /// The request is malformed (body not an object, bad cursor, bad name).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The version given is not the object's.
    #[error("object was written by someone else (now at version {current})")]
    VersionConflict {
        /// The object's version now (0: absent).
        current: i64,
    },
    /// Several players own rows under this key (Lua's `player_set` wrote them).
    #[error("key resolves to several rows")]
    Conflict,
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Coded for StorageError {
    fn code(&self) -> ErrorCode {
        match self {
            StorageError::NotFound => ErrorCode::StorageNotFound,
            StorageError::Forbidden => ErrorCode::StorageForbidden,
            StorageError::TooLarge(_) => ErrorCode::StorageValueTooLarge,
            StorageError::InvalidPerm => ErrorCode::StorageInvalidPerm,
            StorageError::InvalidRequest(_) => ErrorCode::StorageInvalidRequest,
            // The closed set's one version-conflict code (409, `current_version`).
            StorageError::VersionConflict { .. } => ErrorCode::SaveVersionConflict,
            StorageError::Conflict => ErrorCode::StorageConflict,
            StorageError::Db(_) => ErrorCode::StorageQueryFailed,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            StorageError::VersionConflict { current } => {
                d.insert("current_version".into(), json!(current));
            }
            StorageError::InvalidRequest(why) => {
                d.insert("reason".into(), json!(why));
            }
            _ => {}
        }
        d
    }

    fn reason(&self) -> &'static str {
        match self {
            StorageError::VersionConflict { .. } => "version_conflict",
            _ => crate::error::without_domain(self.code()),
        }
    }
}

/// Who may read or write a player row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Its owner only.
    Owner,
    /// Every player.
    Public,
}

impl Perm {
    /// Parses `owner` / `public`.
    pub fn parse(s: &str) -> Result<Perm, StorageError> {
        match s {
            "owner" => Ok(Perm::Owner),
            "public" => Ok(Perm::Public),
            _ => Err(StorageError::InvalidPerm),
        }
    }

    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::Owner => "owner",
            Perm::Public => "public",
        }
    }
}

/// One stored object.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Row id.
    pub id: String,
    /// Collection.
    pub collection: String,
    /// Key.
    pub key: String,
    /// Owner; `None` for a global (Lua) row.
    pub player_id: Option<String>,
    /// The value.
    pub value: Value,
    /// Raised by one per write; 1 when created.
    pub version: i64,
    /// Read permission.
    pub read_perm: Perm,
    /// Write permission.
    pub write_perm: Perm,
    /// First write, Unix ms.
    pub inserted_at: i64,
    /// Last write, Unix ms.
    pub updated_at: i64,
}

impl Object {
    /// The REST row `{id, collection, key, player_id, value, version, read_perm,
    /// write_perm, updated_at}`.
    pub fn to_json(&self) -> Value {
        let mut row = self.fields();
        row.insert("id".into(), json!(self.id));
        row.insert("updated_at".into(), json!(iso8601(self.updated_at)));
        Value::Object(row)
    }

    /// The fields Lua's wrapped results carry: the row without `id` and timestamps.
    pub fn fields(&self) -> Map<String, Value> {
        let mut row = Map::new();
        row.insert("collection".into(), json!(self.collection));
        row.insert("key".into(), json!(self.key));
        row.insert("player_id".into(), json!(self.player_id));
        row.insert("value".into(), self.value.clone());
        row.insert("version".into(), json!(self.version));
        row.insert("read_perm".into(), json!(self.read_perm.as_str()));
        row.insert("write_perm".into(), json!(self.write_perm.as_str()));
        row
    }

    fn readable_by(&self, player_id: &str) -> bool {
        self.read_perm == Perm::Public || self.player_id.as_deref() == Some(player_id)
    }
}

/// A REST write: the value and, for the owner, the permissions.
#[derive(Debug, Clone)]
pub struct Write {
    /// The value (`{}` when the body has none).
    pub value: Value,
    /// Read permission to set (owner only; default `owner` on creation).
    pub read_perm: Option<Perm>,
    /// Write permission to set (owner only; default `owner` on creation).
    pub write_perm: Option<Perm>,
    /// Write only if the object is at this version (`0`: only if absent).
    pub version: Option<i64>,
}

/// A page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The objects, by key then owner.
    pub objects: Vec<Object>,
    /// Where the next page starts, when there may be one.
    pub cursor: Option<String>,
}

/// The storage service.
#[derive(Clone, Debug)]
pub struct Storage {
    db: Db,
    clock: Clock,
}

/// The columns every query returns, in [`decode`]'s order.
macro_rules! columns {
    () => {
        "id, collection, key, player_id, value, version, read_perm, write_perm, inserted_at, updated_at"
    };
}

impl Storage {
    /// The service over `db`.
    pub fn new(db: Db, clock: Clock) -> Storage {
        Storage { db, clock }
    }

    /// The player rows of `collection` that `reader` may read, `limit` at a time from
    /// `cursor` (a previous page's).
    pub async fn list(
        &self,
        reader: &str,
        collection: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StorageError> {
        check_names(collection, "-")?;
        let (after_key, after_owner) = match cursor {
            Some(c) => decode_cursor(c)?,
            None => (String::new(), String::new()),
        };
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM storage_objects \
             WHERE collection = $1 AND player_id IS NOT NULL \
               AND (read_perm = 'public' OR player_id = $2) \
               AND (key > $3 OR (key = $3 AND player_id > $4)) \
             ORDER BY key, player_id LIMIT $5"
        ))
        .bind(collection)
        .bind(reader)
        .bind(&after_key)
        .bind(&after_owner)
        .bind(i64::from(limit) + 1)
        .fetch_all(self.db.pool())
        .await?;
        let mut objects = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let cursor = if objects.len() > limit as usize {
            objects.truncate(limit as usize);
            objects
                .last()
                .map(|o| encode_cursor(&o.key, o.player_id.as_deref().unwrap_or_default()))
        } else {
            None
        };
        Ok(Page { objects, cursor })
    }

    /// The player row under `(collection, key)`, as `reader` may see it.
    pub async fn get(
        &self,
        reader: &str,
        collection: &str,
        key: &str,
    ) -> Result<Object, StorageError> {
        check_names(collection, key)?;
        let object = owned_row(&mut *self.db.pool().acquire().await?, collection, key)
            .await?
            .ok_or(StorageError::NotFound)?;
        if object.readable_by(reader) {
            Ok(object)
        } else {
            Err(StorageError::Forbidden)
        }
    }

    /// Writes the player row under `(collection, key)` as `writer`: creates it (owned by
    /// `writer`) or overwrites it if `writer` owns it or its write permission is public.
    pub async fn put(
        &self,
        writer: &str,
        collection: &str,
        key: &str,
        write: Write,
    ) -> Result<Object, StorageError> {
        check_names(collection, key)?;
        let encoded = encode_value(&write.value)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&lock_key(collection, key)).await?;
        let existing = owned_row(&mut tx, collection, key).await?;
        let object = match existing {
            None => {
                if write.version.is_some_and(|v| v != 0) {
                    return Err(StorageError::VersionConflict { current: 0 });
                }
                let row = sqlx::query(concat!(
                    "INSERT INTO storage_objects (",
                    columns!(),
                    ") \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8) RETURNING ",
                    columns!()
                ))
                .bind(crate::new_id())
                .bind(collection)
                .bind(key)
                .bind(writer)
                .bind(&encoded)
                .bind(write.read_perm.unwrap_or(Perm::Owner).as_str())
                .bind(write.write_perm.unwrap_or(Perm::Owner).as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                decode(&row)?
            }
            Some(current) => {
                let owner = current.player_id.as_deref() == Some(writer);
                if !owner && current.write_perm != Perm::Public {
                    return Err(StorageError::Forbidden);
                }
                if write.version.is_some_and(|v| v != current.version) {
                    return Err(StorageError::VersionConflict {
                        current: current.version,
                    });
                }
                let (read_perm, write_perm) = if owner {
                    (
                        write.read_perm.unwrap_or(current.read_perm),
                        write.write_perm.unwrap_or(current.write_perm),
                    )
                } else {
                    (current.read_perm, current.write_perm)
                };
                let row = sqlx::query(concat!(
                    "UPDATE storage_objects SET value = $1, version = version + 1, \
                     read_perm = $2, write_perm = $3, updated_at = $4 \
                     WHERE id = $5 RETURNING ",
                    columns!()
                ))
                .bind(&encoded)
                .bind(read_perm.as_str())
                .bind(write_perm.as_str())
                .bind(now)
                .bind(&current.id)
                .fetch_one(&mut *tx)
                .await?;
                decode(&row)?
            }
        };
        tx.commit().await?;
        Ok(object)
    }

    /// Deletes the player row under `(collection, key)` if `writer` may write it.
    pub async fn delete(
        &self,
        writer: &str,
        collection: &str,
        key: &str,
    ) -> Result<(), StorageError> {
        check_names(collection, key)?;
        let mut tx = self.db.serialized(&lock_key(collection, key)).await?;
        let current = owned_row(&mut tx, collection, key)
            .await?
            .ok_or(StorageError::NotFound)?;
        if current.player_id.as_deref() != Some(writer) && current.write_perm != Perm::Public {
            return Err(StorageError::Forbidden);
        }
        sqlx::query("DELETE FROM storage_objects WHERE id = $1")
            .bind(&current.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `game.storage.get` / `player_get`: the value of the global row (`player_id` None)
    /// or of that player's row.
    pub async fn value(
        &self,
        player_id: Option<&str>,
        collection: &str,
        key: &str,
    ) -> Result<Value, StorageError> {
        check_names(collection, key)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM storage_objects WHERE collection = $1 AND key = $2 \
             AND (player_id = $3 OR ($3 IS NULL AND player_id IS NULL))"
        ))
        .bind(collection)
        .bind(key)
        .bind(player_id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row
            .as_ref()
            .map(decode)
            .transpose()?
            .ok_or(StorageError::NotFound)?
            .value)
    }

    /// `game.storage.set` / `player_set`: writes the global row (`player_id` None) or that
    /// player's row in one upsert; the version rises by one. A new player row is `owner`
    /// read and write.
    pub async fn set_value(
        &self,
        player_id: Option<&str>,
        collection: &str,
        key: &str,
        value: &Value,
    ) -> Result<Object, StorageError> {
        check_names(collection, key)?;
        let encoded = encode_value(value)?;
        macro_rules! upsert {
            ($target:literal) => {
                concat!(
                    "INSERT INTO storage_objects (", columns!(), ") \
                     VALUES ($1, $2, $3, $4, $5, 1, 'owner', 'owner', $6, $6) \
                     ON CONFLICT ", $target, " DO UPDATE SET value = excluded.value, \
                     version = storage_objects.version + 1, updated_at = excluded.updated_at \
                     RETURNING ", columns!()
                )
            };
        }
        let sql = if player_id.is_some() {
            upsert!("(collection, key, player_id)")
        } else {
            upsert!("(collection, key) WHERE player_id IS NULL")
        };
        let row = sqlx::query(sql)
            .bind(crate::new_id())
            .bind(collection)
            .bind(key)
            .bind(player_id)
            .bind(&encoded)
            .bind(self.clock.now_ms())
            .fetch_one(self.db.pool())
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StorageError::NotFound
                } else {
                    e.into()
                }
            })?;
        Ok(decode(&row)?)
    }
}

/// The one player row under `(collection, key)`, if any.
async fn owned_row(
    conn: &mut sqlx::AnyConnection,
    collection: &str,
    key: &str,
) -> Result<Option<Object>, StorageError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM storage_objects \
         WHERE collection = $1 AND key = $2 AND player_id IS NOT NULL LIMIT 2"
    ))
    .bind(collection)
    .bind(key)
    .fetch_all(&mut *conn)
    .await?;
    match rows.as_slice() {
        [] => Ok(None),
        [row] => Ok(Some(decode(row)?)),
        _ => Err(StorageError::Conflict),
    }
}

/// The [`Db::serialized`] key of `(collection, key)`: the collection's length keeps it
/// unambiguous (PostgreSQL text holds no NUL to separate them with).
fn lock_key(collection: &str, key: &str) -> String {
    format!("storage:{}:{collection}:{key}", collection.len())
}

fn check_names(collection: &str, key: &str) -> Result<(), StorageError> {
    for name in [collection, key] {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains('\0') {
            return Err(StorageError::InvalidRequest(
                "collection and key must be 1-128 bytes, without NUL",
            ));
        }
    }
    Ok(())
}

fn encode_value(value: &Value) -> Result<String, StorageError> {
    let encoded = value.to_string();
    if encoded.len() > MAX_VALUE_BYTES {
        return Err(StorageError::TooLarge(encoded.len()));
    }
    Ok(encoded)
}

fn encode_cursor(key: &str, owner: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!([key, owner]).to_string())
}

fn decode_cursor(cursor: &str) -> Result<(String, String), StorageError> {
    let bad = || StorageError::InvalidRequest("invalid cursor");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let (key, owner): (String, String) = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((key, owner))
}

fn decode(row: &AnyRow) -> Result<Object, sqlx::Error> {
    let value: String = row.try_get(4)?;
    let perm = |i: usize| -> Result<Perm, sqlx::Error> {
        let s: String = row.try_get(i)?;
        Perm::parse(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(Object {
        id: row.try_get(0)?,
        collection: row.try_get(1)?,
        key: row.try_get(2)?,
        player_id: row.try_get(3)?,
        value: serde_json::from_str(&value).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        version: row.try_get(5)?,
        read_perm: perm(6)?,
        write_perm: perm(7)?,
        inserted_at: row.try_get(8)?,
        updated_at: row.try_get(9)?,
    })
}

/// A player's storage objects, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[crate::export::PlayerData {
    section: "storage",
    sql: "SELECT collection, key, value AS value_json, version, read_perm, write_perm, inserted_at, updated_at FROM storage_objects WHERE player_id = $1 ORDER BY collection, key",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor("k\u{1}é", "0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            (
                "k\u{1}é".into(),
                "0198f3a2-7c41-7d10-9a2b-5f0c1e2d3a4b".into()
            )
        );
        for bad in ["!!", "e30", ""] {
            assert!(matches!(
                decode_cursor(bad),
                Err(StorageError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn reasons_are_the_code_without_its_domain() {
        assert_eq!(StorageError::NotFound.reason(), "not_found");
        assert_eq!(
            StorageError::VersionConflict { current: 2 }.reason(),
            "version_conflict"
        );
    }
}
