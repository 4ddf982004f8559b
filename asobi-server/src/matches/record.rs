//! Finished-match records: written once per match in one transaction (the record, the roster
//! with outcomes, and each player's games/wins/losses), and read by the REST routes.
//!
//! Outcomes follow the result: a `winner` player id or a `winners` list wins; every other
//! player on the roster loses; a result naming no winner counts as played only.

use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::db::Db;
use crate::time::iso8601;

/// A match to record.
#[derive(Debug, Clone)]
pub struct MatchRecord {
    /// Match id.
    pub id: String,
    /// Mode.
    pub mode: String,
    /// Final status.
    pub status: String,
    /// The game's result.
    pub result: Map<String, Value>,
    /// Roster at the end.
    pub players: Vec<String>,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Unix ms.
    pub finished_at: i64,
}

impl MatchRecord {
    fn winners(&self) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        if let Some(Value::String(p)) = self.result.get("winner") {
            w.push(p.clone());
        }
        if let Some(Value::Array(list)) = self.result.get("winners") {
            w.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        w
    }
}

/// Writes a record on the I/O runtime (where the pool lives), logging a failure; used by the
/// simulation tasks, which must not wait on storage.
pub fn spawn_write(io: &tokio::runtime::Handle, db: &Db, record: MatchRecord) {
    let db = db.clone();
    io.spawn(async move {
        if let Err(e) = write(&db, &record).await {
            tracing::error!(id = %record.id, mode = %record.mode, error = %e, "cannot record a finished match or world");
        }
    });
}

/// Writes a record, its roster and the players' stats atomically.
pub async fn write(db: &Db, record: &MatchRecord) -> Result<(), sqlx::Error> {
    let winners = record.winners();
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO match_records (id, mode, status, result, started_at, finished_at, inserted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&record.id)
    .bind(&record.mode)
    .bind(&record.status)
    .bind(Value::Object(record.result.clone()).to_string())
    .bind(record.started_at)
    .bind(record.finished_at)
    .execute(&mut *tx)
    .await?;
    for player in &record.players {
        let (outcome, win, loss) = match (winners.is_empty(), winners.contains(player)) {
            (true, _) => ("played", 0i64, 0i64),
            (false, true) => ("win", 1, 0),
            (false, false) => ("loss", 0, 1),
        };
        sqlx::query("INSERT INTO match_players (match_id, player_id, outcome) VALUES ($1, $2, $3)")
            .bind(&record.id)
            .bind(player)
            .bind(outcome)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO player_stats (player_id, games_played, wins, losses, updated_at) VALUES ($1, 1, $2, $3, $4) \
             ON CONFLICT (player_id) DO UPDATE SET games_played = player_stats.games_played + 1, \
             wins = player_stats.wins + $2, losses = player_stats.losses + $3, updated_at = $4",
        )
        .bind(player)
        .bind(win)
        .bind(loss)
        .bind(record.finished_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

fn row_json(row: &sqlx::any::AnyRow) -> Result<Value, sqlx::Error> {
    let result: String = row.try_get("result")?;
    let ts = |name: &str| -> Result<Value, sqlx::Error> {
        Ok(row
            .try_get::<Option<i64>, _>(name)?
            .map(iso8601)
            .map(Value::from)
            .unwrap_or(Value::Null))
    };
    Ok(json!({
        "id": row.try_get::<String, _>("id")?,
        "mode": row.try_get::<String, _>("mode")?,
        "status": row.try_get::<String, _>("status")?,
        "result": serde_json::from_str::<Value>(&result).unwrap_or(Value::Null),
        "started_at": ts("started_at")?,
        "finished_at": ts("finished_at")?,
        "inserted_at": ts("inserted_at")?,
    }))
}

/// `GET /matches`: newest first, filtered by mode and status.
pub async fn list(
    db: &Db,
    mode: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Value>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, mode, status, result, started_at, finished_at, inserted_at FROM match_records \
         WHERE ($1 IS NULL OR mode = $1) AND ($2 IS NULL OR status = $2) \
         ORDER BY inserted_at DESC, id DESC LIMIT $3",
    )
    .bind(mode)
    .bind(status)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(row_json).collect()
}

/// `GET /matches/:id`.
pub async fn get(db: &Db, id: &str) -> Result<Option<Value>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, mode, status, result, started_at, finished_at, inserted_at FROM match_records WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(row_json).transpose()
}

/// A player's totals: `(games_played, wins, losses)`.
pub async fn stats(db: &Db, player_id: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    let row =
        sqlx::query("SELECT games_played, wins, losses FROM player_stats WHERE player_id = $1")
            .bind(player_id)
            .fetch_optional(db.pool())
            .await?;
    match row {
        Some(r) => Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        None => Ok((0, 0, 0)),
    }
}

/// A player's match history and stats, for the export ([`crate::export`]).
pub const EXPORT: &[asobi_services::export::PlayerData] = &[
    asobi_services::export::PlayerData {
        section: "matches",
        sql: "SELECT p.match_id, r.mode, r.status, p.outcome, r.started_at, r.finished_at FROM match_players p JOIN match_records r ON r.id = p.match_id WHERE p.player_id = $1 ORDER BY r.inserted_at, r.id",
    },
    asobi_services::export::PlayerData {
        section: "stats",
        sql: "SELECT games_played, wins, losses, updated_at FROM player_stats WHERE player_id = $1",
    },
];
