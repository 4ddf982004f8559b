//! Cloud saves (`rest.md` §5.13): up to [`MAX_SLOTS`] named slots per player, each a JSON
//! document of at most [`MAX_DATA_BYTES`] with a version that every write raises by one.
//!
//! Owns the `saves` table. A write that names a version is one conditional `UPDATE … WHERE
//! version = $v`: of several writers presenting the same version exactly one matches, and the
//! others get [`SaveError::VersionConflict`] with the version that beat them (the original
//! read, then wrote, so two devices could both win). Creating a slot counts the player's
//! slots inside [`Db::serialized`], so concurrent creations never exceed the cap.

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Coded;
use crate::time::iso8601;

/// Slots one player may hold.
pub const MAX_SLOTS: i64 = 10;
/// Largest save, as encoded JSON.
pub const MAX_DATA_BYTES: usize = 256 * 1024;
/// Longest slot name, bytes.
pub const MAX_SLOT_BYTES: usize = 128;

/// Why a save operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// No save in that slot (or the slot name cannot exist).
    #[error("no save in this slot")]
    NotFound,
    /// The data is over [`MAX_DATA_BYTES`] encoded.
    #[error("save data is {0} bytes encoded; the limit is {MAX_DATA_BYTES}")]
    TooLarge(usize),
    /// The version given is not the slot's.
    #[error("slot was written by someone else (now at version {current})")]
    VersionConflict {
        /// The slot's version now.
        current: i64,
    },
    /// The player already has [`MAX_SLOTS`] slots.
    #[error("already {MAX_SLOTS} save slots")]
    SlotLimitReached,
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Coded for SaveError {
    fn code(&self) -> ErrorCode {
        match self {
            SaveError::NotFound => ErrorCode::SaveNotFound,
            SaveError::TooLarge(_) => ErrorCode::SaveTooLarge,
            SaveError::VersionConflict { .. } => ErrorCode::SaveVersionConflict,
            SaveError::SlotLimitReached => ErrorCode::SaveSlotLimitReached,
            SaveError::Db(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            SaveError::VersionConflict { current } => {
                d.insert("current_version".into(), json!(current));
            }
            SaveError::TooLarge(bytes) => {
                d.insert("bytes".into(), json!(bytes));
                d.insert("max_bytes".into(), json!(MAX_DATA_BYTES));
            }
            _ => {}
        }
        d
    }
}

/// One slot as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Save {
    /// Row id.
    pub id: String,
    /// Owner.
    pub player_id: String,
    /// Slot name.
    pub slot: String,
    /// The document.
    pub data: Value,
    /// Raised by one per write; 1 when created.
    pub version: i64,
    /// Last write, Unix ms.
    pub updated_at: i64,
}

impl Save {
    /// The REST row `{id, player_id, slot, data, version, updated_at}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "player_id": self.player_id,
            "slot": self.slot,
            "data": self.data,
            "version": self.version,
            "updated_at": iso8601(self.updated_at),
        })
    }
}

/// A slot in a listing: `{slot, version, updated_at}`.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSummary {
    /// Slot name.
    pub slot: String,
    /// Its version.
    pub version: i64,
    /// Last write, Unix ms.
    pub updated_at: i64,
}

impl SlotSummary {
    /// The REST listing entry.
    pub fn to_json(&self) -> Value {
        json!({"slot": self.slot, "version": self.version, "updated_at": iso8601(self.updated_at)})
    }
}

/// The saves service.
#[derive(Clone, Debug)]
pub struct Saves {
    db: Db,
    clock: Clock,
}

/// The columns every query returns, in [`decode`]'s order.
macro_rules! columns {
    () => {
        "id, player_id, slot, data, version, updated_at"
    };
}

impl Saves {
    /// The service over `db`.
    pub fn new(db: Db, clock: Clock) -> Saves {
        Saves { db, clock }
    }

    /// The player's slots, by name.
    pub async fn list(&self, player_id: &str) -> Result<Vec<SlotSummary>, SaveError> {
        let rows = sqlx::query(
            "SELECT slot, version, updated_at FROM saves WHERE player_id = $1 ORDER BY slot",
        )
        .bind(player_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlotSummary {
                    slot: r.try_get(0)?,
                    version: r.try_get(1)?,
                    updated_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// One slot.
    pub async fn get(&self, player_id: &str, slot: &str) -> Result<Save, SaveError> {
        if !valid_slot(slot) {
            return Err(SaveError::NotFound);
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM saves WHERE player_id = $1 AND slot = $2"
        ))
        .bind(player_id)
        .bind(slot)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref()
            .map(decode)
            .transpose()?
            .ok_or(SaveError::NotFound)
    }

    /// Writes a slot. With `version`, the write happens only if the slot is at that version
    /// (else [`SaveError::VersionConflict`]); without, it always happens. A new slot starts
    /// at version 1 whatever `version` says, as in the original.
    pub async fn put(
        &self,
        player_id: &str,
        slot: &str,
        data: &Value,
        version: Option<i64>,
    ) -> Result<Save, SaveError> {
        if !valid_slot(slot) {
            return Err(SaveError::NotFound);
        }
        let encoded = data.to_string();
        if encoded.len() > MAX_DATA_BYTES {
            return Err(SaveError::TooLarge(encoded.len()));
        }
        // A concurrent creation of the same slot can make the insert find the row: then the
        // update path runs again, once.
        for _ in 0..2 {
            if let Some(save) = self.update(player_id, slot, &encoded, version).await? {
                return Ok(save);
            }
            if let Some(save) = self.create(player_id, slot, &encoded).await? {
                return Ok(save);
            }
        }
        Err(SaveError::VersionConflict {
            current: self.current_version(player_id, slot).await?.unwrap_or(0),
        })
    }

    /// The conditional write to an existing slot: `None` if the slot does not exist.
    async fn update(
        &self,
        player_id: &str,
        slot: &str,
        encoded: &str,
        version: Option<i64>,
    ) -> Result<Option<Save>, SaveError> {
        let now = self.clock.now_ms();
        let row = sqlx::query(concat!(
            "UPDATE saves SET data = $1, version = version + 1, updated_at = $2 \
             WHERE player_id = $3 AND slot = $4 AND ($5 < 0 OR version = $5) RETURNING ",
            columns!(),
            ""
        ))
        .bind(encoded)
        .bind(now)
        .bind(player_id)
        .bind(slot)
        .bind(version.unwrap_or(-1))
        .fetch_optional(self.db.pool())
        .await?;
        if let Some(row) = row {
            return Ok(Some(decode(&row)?));
        }
        match (version, self.current_version(player_id, slot).await?) {
            (_, None) => Ok(None),
            (Some(_), Some(current)) => Err(SaveError::VersionConflict { current }),
            // Deleted and re-created between the two statements: try again.
            (None, Some(_)) => Ok(None),
        }
    }

    /// Creates the slot at version 1 if the player has room: `None` if it exists by now.
    async fn create(
        &self,
        player_id: &str,
        slot: &str,
        encoded: &str,
    ) -> Result<Option<Save>, SaveError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("saves:{player_id}")).await?;
        let row = sqlx::query(concat!(
            "INSERT INTO saves (id, player_id, slot, data, version, inserted_at, updated_at) \
             SELECT $1, $2, $3, $4, 1, $5, $5 \
             WHERE (SELECT COUNT(*) FROM saves WHERE player_id = $2) < $6 \
             ON CONFLICT (player_id, slot) DO NOTHING RETURNING ",
            columns!(),
            ""
        ))
        .bind(crate::new_id())
        .bind(player_id)
        .bind(slot)
        .bind(encoded)
        .bind(now)
        .bind(MAX_SLOTS)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists = sqlx::query("SELECT 1 FROM saves WHERE player_id = $1 AND slot = $2")
                .bind(player_id)
                .bind(slot)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            tx.commit().await?;
            return if exists {
                Ok(None)
            } else {
                Err(SaveError::SlotLimitReached)
            };
        };
        let save = decode(&row)?;
        tx.commit().await?;
        Ok(Some(save))
    }

    async fn current_version(&self, player_id: &str, slot: &str) -> Result<Option<i64>, SaveError> {
        let row = sqlx::query("SELECT version FROM saves WHERE player_id = $1 AND slot = $2")
            .bind(player_id)
            .bind(slot)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

/// 1–128 bytes without NUL (PostgreSQL text cannot hold one).
fn valid_slot(slot: &str) -> bool {
    !slot.is_empty() && slot.len() <= MAX_SLOT_BYTES && !slot.contains('\0')
}

fn decode(row: &sqlx::any::AnyRow) -> Result<Save, sqlx::Error> {
    let data: String = row.try_get(3)?;
    Ok(Save {
        id: row.try_get(0)?,
        player_id: row.try_get(1)?,
        slot: row.try_get(2)?,
        data: serde_json::from_str(&data).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        version: row.try_get(4)?,
        updated_at: row.try_get(5)?,
    })
}

/// A player's cloud saves, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[crate::export::PlayerData {
    section: "saves",
    sql: "SELECT slot, data AS data_json, version, inserted_at, updated_at FROM saves WHERE player_id = $1 ORDER BY slot",
}];
