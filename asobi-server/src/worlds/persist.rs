//! Zone snapshots of persistent worlds (`worlds.md` §11, doing better): what is stored, and
//! the rows behind it.
//!
//! A snapshot holds a zone's entities except players and entities with `persistent = false`,
//! and its host-side state ([`ZoneState`](super::mode::ZoneState)). Zones are snapshotted on
//! unload, every `snapshot_interval` ticks, and at shutdown, and are restored with both
//! whenever they load again — also after a node restart, since persistent worlds are
//! re-created under their ids when the node starts.

use asobi_core::world::delta::Entities;
use asobi_core::world::grid::ZoneCoord;
use serde_json::Value;
use sqlx::Row;

use crate::db::Db;
use crate::time::now_ms;

/// What a zone snapshot holds.
#[derive(Debug, Clone, Default)]
pub struct ZoneSnapshot {
    /// Entities, as [`persisted`] filters them.
    pub entities: Entities,
    /// The zone's host-side state.
    pub state: Option<Value>,
    /// The world tick it was taken at.
    pub tick: u64,
}

/// The entities of a zone that a snapshot keeps.
pub fn persisted(entities: &Entities) -> Entities {
    entities
        .iter()
        .filter(|(_, f)| f.get("type").and_then(Value::as_str) != Some("player"))
        .filter(|(_, f)| f.get("persistent") != Some(&Value::Bool(false)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Registers a persistent world.
pub async fn register_world(db: &Db, id: &str, mode: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO persistent_worlds (id, mode, inserted_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(mode)
        .bind(now_ms())
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// Every persistent world: `(id, mode)`.
pub async fn worlds(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, mode FROM persistent_worlds ORDER BY inserted_at, id")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("mode")?)))
        .collect()
}

/// Writes one zone's snapshot (insert or replace).
pub async fn save(
    db: &Db,
    world_id: &str,
    zone: ZoneCoord,
    snapshot: &ZoneSnapshot,
) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(&snapshot.entities).unwrap_or_else(|_| "{}".into());
    let state = snapshot.state.as_ref().map(Value::to_string);
    sqlx::query(
        "INSERT INTO zone_snapshots (world_id, zone_x, zone_y, entities, zone_state, tick, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (world_id, zone_x, zone_y) \
         DO UPDATE SET entities = $4, zone_state = $5, tick = $6, updated_at = $7",
    )
    .bind(world_id)
    .bind(i64::from(zone.0))
    .bind(i64::from(zone.1))
        .bind(json)
    .bind(state)
        .bind(snapshot.tick as i64)
    .bind(now_ms())
    .execute(db.pool())
    .await
    .map(|_| ())
}

/// Every zone snapshot of a world.
pub async fn load(db: &Db, world_id: &str) -> Result<Vec<(ZoneCoord, ZoneSnapshot)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT zone_x, zone_y, entities, zone_state, tick FROM zone_snapshots WHERE world_id = $1",
    )
    .bind(world_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (x, y): (i64, i64) = (r.try_get("zone_x")?, r.try_get("zone_y")?);
        let text: String = r.try_get("entities")?;
        let entities: Entities = serde_json::from_str(&text).unwrap_or_default();
        let state: Option<String> = r.try_get("zone_state")?;
        let state = state.and_then(|s| serde_json::from_str(&s).ok());
        let tick: i64 = r.try_get("tick")?;
        let snapshot = ZoneSnapshot {
            entities,
            state,
            tick: tick.max(0) as u64,
        };
        out.push(((x as i32, y as i32), snapshot));
    }
    Ok(out)
}
