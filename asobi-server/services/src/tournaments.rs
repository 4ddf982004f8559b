//! Tournaments (`rest.md` §5.12): declared by the game or the operator, each occurrence on
//! its own leaderboard with a start and an end; joining charges the entry fee through the
//! ledger, and when one ends its rewards table is paid by rank, exactly once. Owns
//! `tournaments`, `tournament_entries` and `tournament_payouts`.
//!
//! - **Occurrences.** A definition with `start_at`/`end_at` has one occurrence; one with a
//!   `schedule` (cron, UTC) and `duration_secs` has one per scheduled start, created when it
//!   is running or next. Each is a row with its own UUIDv7 id; a recurring one's board is
//!   `<leaderboard>:<start ms>`.
//! - **Scores** go to the occurrence's board through the leaderboards service, which
//!   takes them only while the occurrence runs (`Leaderboards::set_window`), so the result
//!   fixed at the end cannot move.
//! - **Joining** runs in [`Db::serialized`] on the tournament: the already-joined check, the
//!   capacity check, the fee debit and the entry row are one transaction.
//! - **Settling** ([`Tournaments::settle_due`]) happens in two steps, each safe to repeat. First
//!   the result is fixed: in one transaction, a `tournament_payouts` row per rewarded
//!   entrant, and the tournament moves to `paying`. Then each row is paid in its own
//!   transaction that marks it paid (`UPDATE … WHERE paid_at IS NULL`), writes the ledger rows
//!   and items, and the winner's notification: a node killed mid-payout resumes after restart
//!   with the unpaid rows, and two nodes never pay one row twice. Settling reads only the
//!   row (its rewards were copied from the definition), so an occurrence whose definition
//!   was since removed still pays. A row that can never be paid (an item since removed, a
//!   wallet at its cap) is settled as failed with its reason, and the others go on. Once a payout commits, the notifier (the
//!   server's `notification.new` push) hears of its notification.

use std::collections::BTreeMap;

use asobi_core::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::economy::{
    Economy, EconomyError, Grants, MAX_BALANCE, MAX_CURRENCY_BYTES, Note, printable,
};
use crate::error::Coded;
use crate::leaderboards::Leaderboards;
use crate::leaderboards::cron::Schedule;
use crate::notifications;
use crate::time::iso8601;

/// One rewards tier: the ranks it covers (inclusive) and what each of them gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardTier {
    /// `[first, last]` rank, 1-based.
    pub ranks: (i64, i64),
    /// Amount per currency.
    #[serde(default)]
    pub currencies: BTreeMap<String, i64>,
    /// Quantity per item definition.
    #[serde(default)]
    pub items: BTreeMap<String, i64>,
}

impl RewardTier {
    fn grants(&self) -> Grants {
        Grants {
            currencies: self.currencies.clone(),
            items: self.items.clone(),
        }
    }
}

/// A tournament as declared (`[tournaments.<id>]`, or `config.lua`'s `tournaments` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TournamentDef {
    /// Display name (the id when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// The board scores go to (default `tournament.<id>`).
    #[serde(default)]
    pub leaderboard: Option<String>,
    /// A one-off tournament's start, Unix ms.
    #[serde(default)]
    pub start_at: Option<i64>,
    /// A one-off tournament's end, Unix ms (or use `duration_secs`).
    #[serde(default)]
    pub end_at: Option<i64>,
    /// A recurring tournament's starts: cron (UTC), as leaderboard resets.
    #[serde(default)]
    pub schedule: Option<String>,
    /// How long each occurrence runs.
    #[serde(default)]
    pub duration_secs: Option<i64>,
    /// Entrants allowed (0: no limit).
    #[serde(default)]
    pub max_entries: i64,
    /// Entry fee (0: free).
    #[serde(default)]
    pub entry_fee: i64,
    /// The fee's currency.
    #[serde(default)]
    pub entry_currency: Option<String>,
    /// Rewards by rank.
    #[serde(default, deserialize_with = "list_or_empty_table")]
    pub rewards: Vec<RewardTier>,
    /// Free-form.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// A list, or an empty table (an empty Lua table arrives as `{}` once converted).
fn list_or_empty_table<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<RewardTier>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrTable {
        List(Vec<RewardTier>),
        Table(Map<String, Value>),
    }
    match ListOrTable::deserialize(d)? {
        ListOrTable::List(l) => Ok(l),
        ListOrTable::Table(t) if t.is_empty() => Ok(Vec::new()),
        ListOrTable::Table(_) => Err(serde::de::Error::custom(
            "rewards must be a list of { ranks = [first, last], currencies, items }",
        )),
    }
}

/// Longest board id a definition names: the leaderboards' 128 bytes less a recurring
/// occurrence's `:<start ms>` suffix.
pub const MAX_BOARD_BYTES: usize = 100;

impl TournamentDef {
    /// Checks every reward with `check` (the item definitions there are, see
    /// `Economy::check_grants`), so a payout cannot fail on one at the end.
    pub fn check_rewards(
        &self,
        id: &str,
        check: impl Fn(&Grants) -> Result<(), String>,
    ) -> Result<(), String> {
        for tier in &self.rewards {
            check(&tier.grants()).map_err(|e| format!("tournament {id}: rewards: {e}"))?;
        }
        Ok(())
    }

    /// Checks the definition is complete and consistent.
    pub fn validate(&self, id: &str) -> Result<(), String> {
        if !printable(id, 64) {
            return Err(format!("tournament id {id:?} must be 1-64 printable bytes"));
        }
        match (&self.schedule, self.start_at) {
            (Some(s), None) => {
                Schedule::parse(s).map_err(|e| format!("tournament {id}: schedule: {e}"))?;
                if self.duration_secs.is_none_or(|d| d <= 0) {
                    return Err(format!(
                        "tournament {id}: a schedule needs a positive duration_secs"
                    ));
                }
            }
            (None, Some(start)) => {
                let end = self.one_off_end(start);
                if end.is_none_or(|e| e <= start) {
                    return Err(format!(
                        "tournament {id}: needs end_at after start_at, or a positive duration_secs"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "tournament {id}: give either start_at (one-off) or schedule (recurring)"
                ));
            }
        }
        if self.max_entries < 0 || !(0..=MAX_BALANCE).contains(&self.entry_fee) {
            return Err(format!(
                "tournament {id}: max_entries must be >= 0 and entry_fee in 0..={MAX_BALANCE}"
            ));
        }
        match &self.entry_currency {
            None if self.entry_fee > 0 => {
                return Err(format!(
                    "tournament {id}: an entry_fee needs an entry_currency"
                ));
            }
            Some(c) if !printable(c, MAX_CURRENCY_BYTES) => {
                return Err(format!(
                    "tournament {id}: entry_currency must be 1-{MAX_CURRENCY_BYTES} printable bytes"
                ));
            }
            _ => {}
        }
        if let Some(board) = &self.leaderboard
            && (board.is_empty() || board.len() > MAX_BOARD_BYTES || board.contains('\0'))
        {
            return Err(format!(
                "tournament {id}: leaderboard must be 1-{MAX_BOARD_BYTES} bytes without NUL"
            ));
        }
        for tier in &self.rewards {
            if tier.ranks.0 < 1 || tier.ranks.1 < tier.ranks.0 {
                return Err(format!(
                    "tournament {id}: reward ranks must be [first >= 1, last >= first]"
                ));
            }
            tier.grants()
                .validate()
                .map_err(|e| format!("tournament {id}: rewards: {e}"))?;
        }
        Ok(())
    }

    fn one_off_end(&self, start: i64) -> Option<i64> {
        self.end_at.or_else(|| {
            self.duration_secs
                .map(|d| start.saturating_add(d.saturating_mul(1000)))
        })
    }

    /// The occurrences that should exist at `now`: (start, end), the running one and the
    /// next for a recurring tournament.
    fn occurrences(&self, now: i64) -> Vec<(i64, i64)> {
        if let Some(start) = self.start_at {
            return self
                .one_off_end(start)
                .map(|e| (start, e))
                .into_iter()
                .collect();
        }
        let (Some(schedule), Some(d)) = (
            self.schedule
                .as_deref()
                .and_then(|s| Schedule::parse(s).ok()),
            self.duration_secs,
        ) else {
            return Vec::new();
        };
        let len = d.saturating_mul(1000);
        let mut out = Vec::new();
        if let Some(last) = schedule.last_at_or_before(now)
            && last.saturating_add(len) > now
        {
            out.push((last, last.saturating_add(len)));
        }
        if let Some(next) = schedule.first_after(now) {
            out.push((next, next.saturating_add(len)));
        }
        out
    }

    fn reward_for(&self, rank: i64) -> Option<&RewardTier> {
        self.rewards
            .iter()
            .find(|t| (t.ranks.0..=t.ranks.1).contains(&rank))
    }
}

/// Why a tournament operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TournamentError {
    /// No such tournament.
    #[error("no such tournament")]
    NotFound,
    /// It has no room.
    #[error("tournament is full")]
    Full,
    /// The player is already in.
    #[error("already joined")]
    AlreadyJoined,
    /// It has ended.
    #[error("tournament has ended")]
    Ended,
    /// The fee could not be charged.
    #[error(transparent)]
    Economy(#[from] EconomyError),
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored column could not be read.
    #[error("stored value unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl Coded for TournamentError {
    fn code(&self) -> ErrorCode {
        match self {
            TournamentError::NotFound => ErrorCode::TournamentNotFound,
            TournamentError::Full => ErrorCode::TournamentFull,
            TournamentError::AlreadyJoined => ErrorCode::TournamentAlreadyJoined,
            TournamentError::Ended => ErrorCode::Forbidden,
            TournamentError::Economy(e) => e.code(),
            TournamentError::Db(_) | TournamentError::Corrupt(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        match self {
            TournamentError::Economy(e) => e.details(),
            TournamentError::Ended => {
                let mut d = Map::new();
                d.insert("reason".into(), json!("tournament_ended"));
                d
            }
            _ => Map::new(),
        }
    }
}

/// A tournament row.
#[derive(Debug, Clone, PartialEq)]
pub struct Tournament {
    /// Id.
    pub id: String,
    /// The definition it is an occurrence of.
    pub definition_id: String,
    /// Name.
    pub name: String,
    /// Its board.
    pub leaderboard_id: String,
    /// Entrants allowed (0: no limit).
    pub max_entries: i64,
    /// Entry fee.
    pub entry_fee: i64,
    /// The fee's currency.
    pub entry_currency: String,
    /// The rewards table.
    pub rewards: Value,
    /// Stored status: `scheduled`, `paying`, `completed`.
    pub stored_status: String,
    /// Start, Unix ms.
    pub start_at: i64,
    /// End, Unix ms.
    pub end_at: i64,
    /// Free-form.
    pub metadata: Value,
    /// Created, Unix ms.
    pub inserted_at: i64,
    /// Entrants so far.
    pub entries: i64,
}

impl Tournament {
    /// What a client sees: `upcoming`, `active`, `ended` (being paid) or `completed`.
    pub fn status(&self, now: i64) -> &'static str {
        match self.stored_status.as_str() {
            "completed" => "completed",
            "paying" => "ended",
            _ if now < self.start_at => "upcoming",
            _ if now < self.end_at => "active",
            _ => "ended",
        }
    }

    /// The REST row `{id, name, leaderboard_id, max_entries, entry_fee, rewards, status,
    /// start_at, end_at, metadata, inserted_at}` plus `entry_currency` and `entries`.
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "leaderboard_id": self.leaderboard_id,
            "max_entries": self.max_entries,
            "entry_fee": self.entry_fee,
            "entry_currency": self.entry_currency,
            "rewards": self.rewards,
            "status": self.status(now),
            "start_at": iso8601(self.start_at),
            "end_at": iso8601(self.end_at),
            "metadata": self.metadata,
            "inserted_at": iso8601(self.inserted_at),
            "entries": self.entries,
        })
    }
}

macro_rules! columns {
    () => {
        "t.id, t.definition_id, t.name, t.leaderboard_id, t.max_entries, t.entry_fee, \
         t.entry_currency, t.rewards, t.status, t.start_at, t.end_at, t.metadata, t.inserted_at, \
         (SELECT COUNT(*) FROM tournament_entries e WHERE e.tournament_id = t.id)"
    };
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Tournament, TournamentError> {
    let rewards: String = r.try_get(7)?;
    let metadata: String = r.try_get(11)?;
    Ok(Tournament {
        id: r.try_get(0)?,
        definition_id: r.try_get(1)?,
        name: r.try_get(2)?,
        leaderboard_id: r.try_get(3)?,
        max_entries: r.try_get(4)?,
        entry_fee: r.try_get(5)?,
        entry_currency: r.try_get(6)?,
        rewards: serde_json::from_str(&rewards)?,
        stored_status: r.try_get(8)?,
        start_at: r.try_get(9)?,
        end_at: r.try_get(10)?,
        metadata: serde_json::from_str(&metadata)?,
        inserted_at: r.try_get(12)?,
        entries: r.try_get(13)?,
    })
}

/// What one settling pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Tournaments whose results were fixed.
    pub fixed: usize,
    /// Payout rows paid.
    pub paid: usize,
    /// Tournaments completed.
    pub completed: usize,
}

/// The tournaments service. Cheap to clone.
#[derive(Clone)]
pub struct Tournaments {
    db: Db,
    clock: Clock,
    leaderboards: Leaderboards,
    definitions: std::sync::Arc<BTreeMap<String, TournamentDef>>,
    notifier: Option<notifications::Notifier>,
}

impl std::fmt::Debug for Tournaments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tournaments")
            .field("definitions", &self.definitions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Tournaments {
    /// The service over `db`, holding `definitions` (validated by the caller).
    pub fn new(
        economy: &Economy,
        leaderboards: Leaderboards,
        definitions: BTreeMap<String, TournamentDef>,
    ) -> Tournaments {
        Tournaments {
            db: economy.db().clone(),
            clock: economy.clock().clone(),
            leaderboards,
            definitions: std::sync::Arc::new(definitions),
            notifier: None,
        }
    }

    /// Tells `notifier` of each winner's notification once its payout committed.
    pub fn with_notifier(mut self, notifier: notifications::Notifier) -> Tournaments {
        self.notifier = Some(notifier);
        self
    }

    /// Tournaments by start, optionally in one client status.
    pub async fn list(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Tournament>, TournamentError> {
        let now = self.clock.now_ms();
        let filter = match status {
            None => "1 = 1",
            Some("upcoming") => "t.status = 'scheduled' AND t.start_at > $2",
            Some("active") => "t.status = 'scheduled' AND t.start_at <= $2 AND t.end_at > $2",
            Some("ended") => "t.status IN ('scheduled', 'paying') AND t.end_at <= $2",
            Some("completed") => "t.status = 'completed'",
            Some(_) => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT {} FROM tournaments t WHERE {filter} AND $2 = $2 ORDER BY t.start_at, t.id LIMIT $1",
            columns!()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .bind(now)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(decode).collect()
    }

    /// One tournament.
    pub async fn get(&self, id: &str) -> Result<Tournament, TournamentError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tournaments t WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref()
            .map(decode)
            .transpose()?
            .ok_or(TournamentError::NotFound)
    }

    /// The clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Enters `player_id`, charging the entry fee.
    pub async fn join(&self, player_id: &str, id: &str) -> Result<Tournament, TournamentError> {
        let mut tx = self.db.serialized(&format!("tournament:{id}")).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tournaments t WHERE t.id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let t = row
            .as_ref()
            .map(decode)
            .transpose()?
            .ok_or(TournamentError::NotFound)?;
        let now = self.clock.now_ms();
        if t.stored_status != "scheduled" || now >= t.end_at {
            return Err(TournamentError::Ended);
        }
        let joined = sqlx::query(
            "SELECT 1 FROM tournament_entries WHERE tournament_id = $1 AND player_id = $2",
        )
        .bind(id)
        .bind(player_id)
        .fetch_optional(&mut *tx)
        .await?;
        if joined.is_some() {
            return Err(TournamentError::AlreadyJoined);
        }
        if t.max_entries > 0 && t.entries >= t.max_entries {
            return Err(TournamentError::Full);
        }
        if t.entry_fee > 0 {
            let note = Note::reason("tournament_entry").reference("tournament", id);
            Economy::debit_in(
                &mut tx,
                player_id,
                &t.entry_currency,
                t.entry_fee,
                &note,
                now,
            )
            .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO tournament_entries (tournament_id, player_id, joined_at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(player_id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(EconomyError::PlayerNotFound.into());
            }
            r => r?,
        };
        tx.commit().await?;
        Ok(t)
    }

    /// Creates the occurrences the definitions call for at `now` (idempotent).
    pub async fn materialize(&self) -> Result<(), TournamentError> {
        let now = self.clock.now_ms();
        for (def_id, def) in self.definitions.iter() {
            for (start, end) in def.occurrences(now) {
                let board = def
                    .leaderboard
                    .clone()
                    .unwrap_or_else(|| format!("tournament.{def_id}"));
                let board = if def.schedule.is_some() {
                    format!("{board}:{start}")
                } else {
                    board
                };
                self.leaderboards.set_window(&board, start, end);
                // A declaration edited before anyone joined updates the occurrence; once
                // someone has, they paid for what it said then.
                sqlx::query(
                    "INSERT INTO tournaments (id, definition_id, name, leaderboard_id, max_entries, \
                     entry_fee, entry_currency, rewards, status, start_at, end_at, metadata, \
                     inserted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $10, $11, $12) \
                     ON CONFLICT (definition_id, start_at) DO UPDATE SET name = excluded.name, \
                     leaderboard_id = excluded.leaderboard_id, max_entries = excluded.max_entries, \
                     entry_fee = excluded.entry_fee, entry_currency = excluded.entry_currency, \
                     rewards = excluded.rewards, end_at = excluded.end_at, metadata = excluded.metadata \
                     WHERE tournaments.status = 'scheduled' AND tournaments.start_at > excluded.inserted_at \
                     AND NOT EXISTS (SELECT 1 FROM tournament_entries e WHERE e.tournament_id = tournaments.id)",
                )
                .bind(crate::new_id())
                .bind(def_id)
                .bind(def.name.as_deref().unwrap_or(def_id))
                .bind(&board)
                .bind(def.max_entries)
                .bind(def.entry_fee)
                .bind(def.entry_currency.as_deref().unwrap_or(""))
                .bind(serde_json::to_string(&def.rewards)?)
                .bind(start)
                .bind(end)
                .bind(Value::Object(def.metadata.clone()).to_string())
                .bind(now)
                .execute(self.db.pool())
                .await?;
            }
        }
        Ok(())
    }

    /// Settles this node's ended tournaments, paying at most `batch` rows: see the module
    /// documentation.
    pub async fn settle_due(&self, batch: usize) -> Result<Settled, TournamentError> {
        let now = self.clock.now_ms();
        let mut settled = Settled::default();
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tournaments t WHERE t.status IN ('scheduled', 'paying') AND t.end_at <= $1 \
             ORDER BY t.end_at LIMIT 100"
        ))
        .bind(now)
        .fetch_all(self.db.pool())
        .await?;
        for row in &rows {
            let t = match decode(row) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "unreadable tournament row skipped");
                    continue;
                }
            };
            let left = batch.saturating_sub(settled.paid);
            if left == 0 {
                break;
            }
            match self.settle(&t, left).await {
                Ok((fixed, paid, done)) => {
                    settled.fixed += usize::from(fixed);
                    settled.paid += paid;
                    settled.completed += usize::from(done);
                }
                // The others still settle; this one is tried again next pass.
                Err(e) => tracing::error!(tournament = %t.id, error = %e, "tournament not settled"),
            }
        }
        Ok(settled)
    }

    /// Fixes `t`'s result if it is not yet, then pays up to `batch` rows.
    async fn settle(
        &self,
        t: &Tournament,
        batch: usize,
    ) -> Result<(bool, usize, bool), TournamentError> {
        let fixed = t.stored_status == "scheduled" && self.fix_result(t).await?;
        let (paid, done) = self.pay(t, batch).await?;
        Ok((fixed, paid, done))
    }

    /// Fixes the ranking and the payout rows in one transaction; false if another pass did.
    async fn fix_result(&self, t: &Tournament) -> Result<bool, TournamentError> {
        let tiers: Vec<RewardTier> = serde_json::from_value(t.rewards.clone())?;
        let def = TournamentDef {
            rewards: tiers,
            ..TournamentDef::default()
        };
        // Under the tournament's lock: a join that checked the clock before the end has
        // committed by now (it holds the same lock), so every paid entrant is ranked.
        let mut tx = self.db.serialized(&format!("tournament:{}", t.id)).await?;
        let status: Option<String> = sqlx::query("SELECT status FROM tournaments WHERE id = $1")
            .bind(&t.id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if status.as_deref() != Some("scheduled") {
            return Ok(false);
        }
        let players: Vec<String> =
            sqlx::query("SELECT player_id FROM tournament_entries WHERE tournament_id = $1")
                .bind(&t.id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
        let standings = self
            .leaderboards
            .standings_of(&t.leaderboard_id, t.end_at - 1, &players)
            .await
            .map_err(|e| match e {
                crate::leaderboards::LeaderboardError::Db(e) => TournamentError::Db(e),
                other => TournamentError::Db(sqlx::Error::Protocol(other.to_string())),
            })?;
        for (i, (player, score)) in standings.iter().enumerate() {
            let rank = i as i64 + 1;
            let Some(tier) = def.reward_for(rank) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO tournament_payouts (tournament_id, player_id, rank, score, rewards, paid_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL)",
            )
            .bind(&t.id)
            .bind(player)
            .bind(rank)
            .bind(*score)
            .bind(serde_json::to_string(&tier.grants())?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE tournaments SET status = 'paying' WHERE id = $1")
            .bind(&t.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(tournament = %t.id, entrants = players.len(), "tournament result fixed");
        Ok(true)
    }

    /// Pays up to `batch` unpaid rows; (rows paid, whether the tournament completed).
    async fn pay(&self, t: &Tournament, batch: usize) -> Result<(usize, bool), TournamentError> {
        let rows = sqlx::query(
            "SELECT player_id, rank, score, rewards FROM tournament_payouts \
             WHERE tournament_id = $1 AND paid_at IS NULL ORDER BY rank LIMIT $2",
        )
        .bind(&t.id)
        .bind(batch as i64 + 1)
        .fetch_all(self.db.pool())
        .await?;
        let mut paid = 0;
        for row in rows.iter().take(batch) {
            let player: String = row.try_get(0)?;
            let rank: i64 = row.try_get(1)?;
            let score: i64 = row.try_get(2)?;
            let grants: String = row.try_get(3)?;
            let grants: Grants = serde_json::from_str(&grants)?;
            match self.pay_one(t, &player, rank, score, &grants).await {
                Ok(true) => paid += 1,
                Ok(false) => {}
                Err(TournamentError::Economy(e)) if !matches!(e, EconomyError::Db(_)) => {
                    // It would fail the same way every pass (an item no longer defined, a
                    // wallet at its cap): settle the row as failed, with the reason, so the
                    // rest are paid; the operator sees it in the log and the row.
                    tracing::error!(tournament = %t.id, player = %player, error = %e, "tournament reward cannot be paid; row marked failed");
                    sqlx::query(
                        "UPDATE tournament_payouts SET paid_at = $1, failure = $2 \
                         WHERE tournament_id = $3 AND player_id = $4 AND paid_at IS NULL",
                    )
                    .bind(self.clock.now_ms())
                    .bind(e.to_string())
                    .bind(&t.id)
                    .bind(&player)
                    .execute(self.db.pool())
                    .await?;
                }
                Err(e) => {
                    // Left unpaid (the database failed): the next pass tries again.
                    tracing::error!(tournament = %t.id, player = %player, error = %e, "tournament reward not paid");
                }
            }
        }
        if rows.len() > batch {
            return Ok((paid, false));
        }
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) FROM tournament_payouts WHERE tournament_id = $1 AND paid_at IS NULL",
        )
        .bind(&t.id)
        .fetch_one(self.db.pool())
        .await?
        .try_get(0)?;
        if left > 0 {
            return Ok((paid, false));
        }
        let done = sqlx::query(
            "UPDATE tournaments SET status = 'completed' WHERE id = $1 AND status = 'paying'",
        )
        .bind(&t.id)
        .execute(self.db.pool())
        .await?
        .rows_affected()
            == 1;
        if done {
            tracing::info!(tournament = %t.id, "tournament paid out");
        }
        Ok((paid, done))
    }

    /// One winner's payout in one transaction; false if it was already paid.
    async fn pay_one(
        &self,
        t: &Tournament,
        player: &str,
        rank: i64,
        score: i64,
        grants: &Grants,
    ) -> Result<bool, TournamentError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("economy:{player}")).await?;
        let marked = sqlx::query(
            "UPDATE tournament_payouts SET paid_at = $1 \
             WHERE tournament_id = $2 AND player_id = $3 AND paid_at IS NULL",
        )
        .bind(now)
        .bind(&t.id)
        .bind(player)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            return Ok(false);
        }
        let exists = sqlx::query("SELECT 1 FROM players WHERE id = $1")
            .bind(player)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let mut sent = None;
        if exists {
            let mut note = Note::reason("tournament_reward").reference("tournament", &t.id);
            note.metadata.insert("rank".into(), json!(rank));
            Economy::apply_grants_in(&mut tx, player, grants, &note, now).await?;
            let content = json!({
                "tournament_id": t.id,
                "name": t.name,
                "rank": rank,
                "score": score,
                "rewards": grants,
            });
            let subject = format!("{}: rank {rank}", t.name);
            let id = notifications::insert_in(
                &mut tx,
                player,
                "tournament_reward",
                &subject,
                &content,
                now,
            )
            .await?;
            sent = Some(notifications::Notification {
                id,
                player_id: player.to_owned(),
                kind: "tournament_reward".into(),
                subject,
                content,
                read: false,
                sent_at: now,
            });
        }
        tx.commit().await?;
        if let (Some(n), Some(notify)) = (&sent, &self.notifier) {
            notify(n);
        }
        Ok(true)
    }
}

/// A player's tournament entries and payouts, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[
    crate::export::PlayerData {
        section: "tournament_entries",
        sql: "SELECT tournament_id, joined_at FROM tournament_entries WHERE player_id = $1 ORDER BY joined_at",
    },
    crate::export::PlayerData {
        section: "tournament_payouts",
        sql: "SELECT tournament_id, rank, score, rewards AS rewards_json, paid_at, failure FROM tournament_payouts WHERE player_id = $1 ORDER BY tournament_id",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn def(v: Value) -> TournamentDef {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn definitions_need_a_time_and_sane_rewards() {
        def(json!({"start_at": 1000, "end_at": 2000}))
            .validate("a")
            .unwrap();
        def(json!({"start_at": 1000, "duration_secs": 60}))
            .validate("a")
            .unwrap();
        def(json!({"schedule": "@daily", "duration_secs": 3600}))
            .validate("a")
            .unwrap();
        assert!(def(json!({})).validate("a").is_err());
        assert!(
            def(json!({"start_at": 1000, "end_at": 1000}))
                .validate("a")
                .is_err()
        );
        assert!(def(json!({"schedule": "@daily"})).validate("a").is_err());
        assert!(
            def(json!({"start_at": 1, "end_at": 2, "entry_fee": 5}))
                .validate("a")
                .is_err()
        );
        let bad_ranks = json!({"start_at": 1, "end_at": 2, "rewards": [{"ranks": [3, 1]}]});
        assert!(def(bad_ranks).validate("a").is_err());
    }

    #[test]
    fn recurring_occurrences_are_the_running_one_and_the_next() {
        let d = def(json!({"schedule": "@hourly", "duration_secs": 600}));
        let hour = 3_600_000;
        // 5 minutes into an hour: the running occurrence and the next.
        let occ = d.occurrences(10 * hour + 300_000);
        assert_eq!(
            occ,
            vec![
                (10 * hour, 10 * hour + 600_000),
                (11 * hour, 11 * hour + 600_000)
            ]
        );
        // 20 minutes in: only the next.
        assert_eq!(
            d.occurrences(10 * hour + 1_200_000),
            vec![(11 * hour, 11 * hour + 600_000)]
        );
    }

    #[test]
    fn rewards_are_found_by_rank() {
        let d = def(json!({"start_at": 1, "end_at": 2, "rewards": [
            {"ranks": [1, 1], "currencies": {"gold": 100}},
            {"ranks": [2, 3], "currencies": {"gold": 10}},
        ]}));
        assert_eq!(d.reward_for(1).unwrap().currencies["gold"], 100);
        assert_eq!(d.reward_for(3).unwrap().currencies["gold"], 10);
        assert!(d.reward_for(4).is_none());
    }
}
