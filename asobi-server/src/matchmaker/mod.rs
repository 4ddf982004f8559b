//! The matchmaker (`matchmaker.md`): tickets, the 1 s matchmaking tick, and starting what was
//! matched.
//!
//! Owns the `matchmaker_tickets` table. Doing better than Asobi: tickets are rows, so a
//! restart keeps the queue; a party (players queued together) is one unit that strategies
//! never split; a group is claimed by deleting its tickets in one transaction, so a ticket
//! removed at the same moment is never matched; `match.matched` goes only to players whose
//! join succeeded, and its `players` list is the real roster. World modes queue too: a
//! group gets a new world, joined without `world.joined` (`matchmaker.md` §5.2).

pub mod strategy;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use asobi_core::protocol::server::{MatchMatched, MatchmakerExpired, MatchmakerFailed};
use asobi_core::protocol::{Reason, ServerMessage};
use serde_json::{Map, Value, json};
use sqlx::Row;

use crate::db::Db;
use crate::game::MatchmakingStrategy;
use crate::matches::Matches;
use crate::session::{OutFrame, Sessions};
use crate::time::now_ms;
use crate::worlds::Worlds;
use strategy::{DEFAULT_SKILL, Unit};

/// What a mode's queue starts: its group size and strategy, and whether it is a world.
struct Target {
    size: u32,
    strategy: MatchmakingStrategy,
    world: bool,
}

/// The match or world mode `mode` names.
fn target(matches: &Matches, worlds: &Worlds, mode: &str) -> Option<Target> {
    if let Some(m) = matches.mode(mode) {
        return Some(Target {
            size: m.descriptor.match_size,
            strategy: m.descriptor.strategy,
            world: false,
        });
    }
    worlds.mode(mode).map(|w| Target {
        size: w.descriptor.match_size.max(1),
        strategy: MatchmakingStrategy::Fill,
        world: true,
    })
}

/// Start attempts before a group gives up with `match_start_failed`.
pub const MAX_ATTEMPTS: i64 = 3;

/// Matchmaker settings.
#[derive(Debug, Clone, Copy)]
pub struct MatchmakerConfig {
    /// Time between the end of one pass and the start of the next.
    pub tick: Duration,
    /// A ticket older than this expires.
    pub max_wait: Duration,
    /// Node-wide ticket cap.
    pub max_queue: u64,
}

/// Why a ticket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MatchmakerError {
    /// Mode unknown.
    #[error("unknown mode")]
    UnknownMode,
    /// Queue at `max_queue`.
    #[error("queue full")]
    QueueFull,
    /// No such ticket.
    #[error("ticket not found")]
    NotFound,
    /// Someone else's ticket.
    #[error("not the ticket's owner")]
    NotOwner,
    /// A party member is not a player, or the party exceeds the match size.
    #[error("invalid party")]
    InvalidParty,
    /// A party member already has a ticket for the mode.
    #[error("a party member is already queued")]
    PartyMemberQueued,
    /// The caller listed other players who never agreed to be queued with them (a player
    /// is queued only by themselves, or through a party they accepted).
    #[error("party members must accept the party first")]
    PartyNotAccepted,
    /// `properties` is not an object, is over [`MAX_PROPERTIES_BYTES`] or has over
    /// [`MAX_PROPERTIES_KEYS`] keys.
    #[error("invalid properties")]
    InvalidProperties,
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl MatchmakerError {
    /// The WebSocket reason.
    pub fn reason(&self) -> Reason {
        match self {
            MatchmakerError::UnknownMode => Reason::UnknownMode,
            MatchmakerError::QueueFull => Reason::QueueFull,
            MatchmakerError::NotFound => Reason::NotFound,
            MatchmakerError::NotOwner => Reason::NotOwner,
            MatchmakerError::InvalidParty => Reason::InvalidParty,
            MatchmakerError::PartyMemberQueued => Reason::PartyMemberQueued,
            MatchmakerError::PartyNotAccepted => Reason::PartyNotAccepted,
            MatchmakerError::InvalidProperties => Reason::InvalidProperties,
            MatchmakerError::Db(_) => Reason::InternalError,
        }
    }
}

/// The reply to a successful add.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The caller's ticket.
    pub ticket_id: String,
    /// The mode's `match_size`.
    pub players_needed: u32,
    /// The caller already had a ticket for the mode.
    pub already_queued: bool,
}

/// A ticket as `GET /matchmaker/:id` shows it.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Ticket id.
    pub id: String,
    /// Owner.
    pub player_id: String,
    /// Mode.
    pub mode: String,
    /// Free-form properties.
    pub properties: Value,
    /// Party, if queued with others.
    pub party_id: Option<String>,
    /// Unix ms.
    pub submitted_at: i64,
    /// Failed start attempts so far.
    pub attempts: i64,
}

impl Ticket {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Ticket, sqlx::Error> {
        let properties: String = row.try_get("properties")?;
        Ok(Ticket {
            id: row.try_get("id")?,
            player_id: row.try_get("player_id")?,
            mode: row.try_get("mode")?,
            properties: serde_json::from_str(&properties).unwrap_or_else(|_| json!({})),
            party_id: row.try_get("party_id")?,
            submitted_at: row.try_get("submitted_at")?,
            attempts: row.try_get("attempts")?,
        })
    }

    /// The REST projection.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "mode": self.mode,
            "status": "pending",
            "properties": self.properties,
            "submitted_at": self.submitted_at,
        })
    }

    fn skill(&self) -> i64 {
        self.properties
            .get("skill")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_SKILL)
            .clamp(-strategy::MAX_SKILL, strategy::MAX_SKILL)
    }
}

/// The largest `properties` object accepted, serialized.
pub const MAX_PROPERTIES_BYTES: usize = 4096;
/// The most keys `properties` may have.
pub const MAX_PROPERTIES_KEYS: usize = 32;

/// `properties` must be an object within [`MAX_PROPERTIES_BYTES`] and
/// [`MAX_PROPERTIES_KEYS`]: every pass reads every queued ticket's.
fn check_properties(properties: &Value) -> Result<(), MatchmakerError> {
    match properties {
        Value::Null => Ok(()),
        Value::Object(m)
            if m.len() <= MAX_PROPERTIES_KEYS
                && properties.to_string().len() <= MAX_PROPERTIES_BYTES =>
        {
            Ok(())
        }
        _ => Err(MatchmakerError::InvalidProperties),
    }
}

const TICKET_COLUMNS: &str = "id, player_id, mode, properties, party_id, submitted_at, attempts";

/// The matchmaker service.
pub struct Matchmaker {
    db: Db,
    config: MatchmakerConfig,
}

impl Matchmaker {
    /// A matchmaker over `db`.
    pub fn new(db: Db, config: MatchmakerConfig) -> Self {
        Matchmaker { db, config }
    }

    /// Its settings.
    pub fn config(&self) -> MatchmakerConfig {
        self.config
    }

    /// Queues `player_id` for `mode` (`matchmaker.add`, `POST /matchmaker`). `party` may
    /// name only the caller: anyone else would be queued without their consent, so a party
    /// of several is refused ([`MatchmakerError::PartyNotAccepted`]) until parties with
    /// invite and accept exist; [`add_party`](Self::add_party) queues one that did accept.
    pub async fn add(
        &self,
        matches: &Matches,
        worlds: &Worlds,
        player_id: &str,
        mode: &str,
        properties: Value,
        party: &[String],
    ) -> Result<Queued, MatchmakerError> {
        if party.iter().any(|p| p != player_id) {
            return Err(MatchmakerError::PartyNotAccepted);
        }
        self.add_party(matches, worlds, player_id, mode, properties, &[])
            .await
    }

    /// Queues `player_id` with `party`, players who all accepted being queued together (a
    /// server-side caller's promise: the social service's accepted parties, an operator).
    pub async fn add_party(
        &self,
        matches: &Matches,
        worlds: &Worlds,
        player_id: &str,
        mode: &str,
        properties: Value,
        party: &[String],
    ) -> Result<Queued, MatchmakerError> {
        self.add_unit(matches, worlds, player_id, mode, properties, party, None)
            .await
    }

    /// [`add_party`](Self::add_party) with the tickets tagged by `party_id` (a social
    /// party's id), so [`remove_party`](Self::remove_party) can withdraw them when the party
    /// changes.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_unit(
        &self,
        matches: &Matches,
        worlds: &Worlds,
        player_id: &str,
        mode: &str,
        properties: Value,
        party: &[String],
        party_id: Option<&str>,
    ) -> Result<Queued, MatchmakerError> {
        check_properties(&properties)?;
        let players_needed = target(matches, worlds, mode)
            .ok_or(MatchmakerError::UnknownMode)?
            .size;
        if let Some(existing) = self.ticket_of(player_id, mode).await? {
            return Ok(Queued {
                ticket_id: existing.id,
                players_needed,
                already_queued: true,
            });
        }
        let mut members = vec![player_id.to_owned()];
        for p in party {
            if !members.contains(p) {
                members.push(p.clone());
            }
        }
        if members.len() as u32 > players_needed {
            return Err(MatchmakerError::InvalidParty);
        }
        let queued: i64 = sqlx::query("SELECT COUNT(*) FROM matchmaker_tickets")
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)?;
        if (queued + members.len() as i64) as u64 > self.config.max_queue {
            return Err(MatchmakerError::QueueFull);
        }
        let party_id =
            (members.len() > 1).then(|| party_id.map_or_else(crate::auth::new_id, str::to_owned));
        let now = now_ms();
        let properties = properties.to_string();
        let mut tx = self.db.pool().begin().await?;
        let mut caller_ticket = String::new();
        for member in &members {
            let id = crate::auth::new_id();
            let inserted = sqlx::query(
                "INSERT INTO matchmaker_tickets (id, player_id, mode, properties, party_id, submitted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(member)
            .bind(mode)
            .bind(&properties)
            .bind(&party_id)
            .bind(now)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    drop(tx);
                    // A concurrent add by the caller itself: answer with that ticket.
                    if let (true, Some(t)) =
                        (member == player_id, self.ticket_of(player_id, mode).await?)
                    {
                        return Ok(Queued {
                            ticket_id: t.id,
                            players_needed,
                            already_queued: true,
                        });
                    }
                    return Err(MatchmakerError::PartyMemberQueued);
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(MatchmakerError::InvalidParty);
                }
                Err(e) => return Err(e.into()),
            }
            if member == player_id {
                caller_ticket = id;
            }
        }
        tx.commit().await?;
        Ok(Queued {
            ticket_id: caller_ticket,
            players_needed,
            already_queued: false,
        })
    }

    async fn ticket_of(&self, player_id: &str, mode: &str) -> Result<Option<Ticket>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM matchmaker_tickets WHERE player_id = $1 AND mode = $2"
        )))
        .bind(player_id)
        .bind(mode)
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(Ticket::from_row).transpose()
    }

    /// A ticket, for its owner.
    pub async fn get(&self, player_id: &str, ticket_id: &str) -> Result<Ticket, MatchmakerError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM matchmaker_tickets WHERE id = $1"
        )))
        .bind(ticket_id)
        .fetch_optional(self.db.pool())
        .await?
        .ok_or(MatchmakerError::NotFound)?;
        let ticket = Ticket::from_row(&row)?;
        if ticket.player_id != player_id {
            return Err(MatchmakerError::NotOwner);
        }
        Ok(ticket)
    }

    /// Withdraws every ticket tagged `party_id` (a party whose members changed); returns how
    /// many.
    pub async fn remove_party(&self, party_id: &str) -> Result<u64, MatchmakerError> {
        Ok(
            sqlx::query("DELETE FROM matchmaker_tickets WHERE party_id = $1")
                .bind(party_id)
                .execute(self.db.pool())
                .await?
                .rows_affected(),
        )
    }

    /// Removes the caller's ticket (and, for a party, every member's: a party leaves together).
    pub async fn remove(&self, player_id: &str, ticket_id: &str) -> Result<(), MatchmakerError> {
        let ticket = self.get(player_id, ticket_id).await?;
        let removed = match &ticket.party_id {
            Some(party) => {
                sqlx::query("DELETE FROM matchmaker_tickets WHERE party_id = $1").bind(party)
            }
            None => sqlx::query("DELETE FROM matchmaker_tickets WHERE id = $1").bind(&ticket.id),
        }
        .execute(self.db.pool())
        .await?;
        if removed.rows_affected() == 0 {
            return Err(MatchmakerError::NotFound);
        }
        Ok(())
    }

    /// Runs passes every tick until the task is aborted.
    pub fn spawn_loop(
        self: Arc<Self>,
        matches: Arc<Matches>,
        worlds: Arc<Worlds>,
        sessions: Arc<Sessions>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                // Each pass is its own task: a panic in one is logged and the next pass
                // runs, instead of matchmaking stopping for good.
                let pass = tokio::spawn({
                    let (mm, matches, worlds, sessions) = (
                        self.clone(),
                        matches.clone(),
                        worlds.clone(),
                        sessions.clone(),
                    );
                    async move { mm.pass(&matches, &worlds, &sessions, now_ms()).await }
                });
                match pass.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "matchmaking pass failed"),
                    Err(e) => tracing::error!(error = %e, "matchmaking pass panicked; restarting"),
                }
                tokio::time::sleep(self.config.tick).await;
            }
        })
    }

    /// One matchmaking pass (`matchmaker.md` §3).
    pub async fn pass(
        &self,
        matches: &Matches,
        worlds: &Worlds,
        sessions: &Sessions,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM matchmaker_tickets ORDER BY submitted_at, id"
        )))
        .fetch_all(self.db.pool())
        .await?;
        let tickets: Vec<Ticket> = rows
            .iter()
            .map(Ticket::from_row)
            .collect::<Result<_, _>>()?;
        let max_wait = self.config.max_wait.as_millis() as i64;
        let (expired, pending): (Vec<Ticket>, Vec<Ticket>) = tickets
            .into_iter()
            .partition(|t| now - t.submitted_at > max_wait);

        let mut by_mode: HashMap<String, Vec<Ticket>> = HashMap::new();
        for t in pending {
            by_mode.entry(t.mode.clone()).or_default().push(t);
        }
        for (mode, tickets) in by_mode {
            let units = units_of(&tickets);
            let Some(target) = target(matches, worlds, &mode) else {
                for unit in &units {
                    self.give_up(sessions, &tickets, unit, "no_game_module")
                        .await?;
                }
                continue;
            };
            let size = target.size as usize;
            let groups = match target.strategy {
                MatchmakingStrategy::Fill => strategy::fill(&units, size),
                MatchmakingStrategy::SkillBased => strategy::skill_based(&units, size, now),
            };
            for group in groups {
                let members: Vec<&Ticket> = group
                    .iter()
                    .flat_map(|&u| units[u].tickets.iter())
                    .filter_map(|id| tickets.iter().find(|t| &t.id == id))
                    .collect();
                if target.world {
                    self.start_world(worlds, sessions, &mode, &members).await?;
                } else {
                    self.start_group(matches, sessions, &mode, &members).await?;
                }
            }
        }
        for t in expired {
            let gone = sqlx::query("DELETE FROM matchmaker_tickets WHERE id = $1")
                .bind(&t.id)
                .execute(self.db.pool())
                .await?;
            if gone.rows_affected() == 1 {
                let msg = ServerMessage::MatchmakerExpired(MatchmakerExpired {
                    ticket_id: t.id.clone(),
                });
                sessions.push_to_player(&t.player_id, &OutFrame::new(msg, None));
            }
        }
        Ok(())
    }

    /// Claims a group's tickets atomically, starts its match, joins its players.
    async fn start_group(
        &self,
        matches: &Matches,
        sessions: &Sessions,
        mode: &str,
        members: &[&Ticket],
    ) -> Result<(), sqlx::Error> {
        if !self.claim(members).await? {
            return Ok(()); // a ticket was removed meanwhile; the rest stay queued
        }
        let Some(mode_def) = matches.mode(mode) else {
            return Ok(());
        };
        let handle = match matches.create(&mode_def).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(mode, error = ?e, "matched group's match failed to start");
                let attempts = members.iter().map(|t| t.attempts).max().unwrap_or(0) + 1;
                if attempts >= MAX_ATTEMPTS {
                    for t in members {
                        push_failed(sessions, &t.player_id, "match_start_failed");
                    }
                } else {
                    self.requeue(members, attempts).await?;
                }
                return Ok(());
            }
        };
        let mut joined = Vec::new();
        for t in members {
            match matches.join(&handle, &t.player_id, Map::new(), None).await {
                Ok(_) => joined.push(t.player_id.clone()),
                Err(e) => {
                    tracing::warn!(player = %t.player_id, error = ?e, "matched player could not join");
                    push_failed(sessions, &t.player_id, "match_start_failed");
                }
            }
        }
        let matched = ServerMessage::MatchMatched(MatchMatched::Match {
            match_id: handle.id.clone(),
            players: joined.clone(),
        });
        let frame = OutFrame::new(matched, None);
        for p in &joined {
            sessions.push_to_player(p, &frame);
        }
        tracing::info!(mode, match_id = %handle.id, players = joined.len(), "matched");
        Ok(())
    }

    /// Claims a group's tickets, creates a world of `mode` and joins its players (the world
    /// sends them their keyframes; no `world.joined`), then `match.matched` in the world shape.
    async fn start_world(
        &self,
        worlds: &Worlds,
        sessions: &Sessions,
        mode: &str,
        members: &[&Ticket],
    ) -> Result<(), sqlx::Error> {
        if !self.claim(members).await? {
            return Ok(());
        }
        let handle = match worlds.create(mode, None).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(mode, error = ?e, "matched group's world failed to start");
                for t in members {
                    push_failed(sessions, &t.player_id, "match_start_failed");
                }
                return Ok(());
            }
        };
        let mut joined = Vec::new();
        for t in members {
            match worlds.join(&handle, &t.player_id, Map::new(), None).await {
                Ok(_) => joined.push(t.player_id.clone()),
                Err(e) => {
                    tracing::warn!(player = %t.player_id, error = ?e, "matched player could not join the world");
                    push_failed(sessions, &t.player_id, "match_start_failed");
                }
            }
        }
        let matched = ServerMessage::MatchMatched(MatchMatched::World {
            match_id: handle.id.clone(),
            mode: mode.to_owned(),
            player_ids: joined.clone(),
        });
        let frame = OutFrame::new(matched, None);
        for p in &joined {
            sessions.push_to_player(p, &frame);
        }
        tracing::info!(mode, world_id = %handle.id, players = joined.len(), "matched into a world");
        Ok(())
    }

    async fn claim(&self, members: &[&Ticket]) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        for t in members {
            let gone = sqlx::query("DELETE FROM matchmaker_tickets WHERE id = $1")
                .bind(&t.id)
                .execute(&mut *tx)
                .await?;
            if gone.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn requeue(&self, members: &[&Ticket], attempts: i64) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        for t in members {
            sqlx::query(
                "INSERT INTO matchmaker_tickets (id, player_id, mode, properties, party_id, submitted_at, attempts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&t.player_id)
            .bind(&t.mode)
            .bind(t.properties.to_string())
            .bind(&t.party_id)
            .bind(t.submitted_at)
            .bind(attempts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    async fn give_up(
        &self,
        sessions: &Sessions,
        tickets: &[Ticket],
        unit: &Unit,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        let members: Vec<&Ticket> = unit
            .tickets
            .iter()
            .filter_map(|id| tickets.iter().find(|t| &t.id == id))
            .collect();
        if self.claim(&members).await? {
            for t in members {
                push_failed(sessions, &t.player_id, reason);
            }
        }
        Ok(())
    }
}

fn push_failed(sessions: &Sessions, player_id: &str, reason: &str) {
    let msg = ServerMessage::MatchmakerFailed(MatchmakerFailed {
        reason: reason.to_owned(),
    });
    sessions.push_to_player(player_id, &OutFrame::new(msg, None));
}

/// Groups tickets into units (a party's tickets form one), in FIFO order of each unit's
/// earliest ticket.
fn units_of(tickets: &[Ticket]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut party_index: HashMap<&str, usize> = HashMap::new();
    for t in tickets {
        match t
            .party_id
            .as_deref()
            .and_then(|p| party_index.get(p).copied())
        {
            Some(i) => {
                let u = &mut units[i];
                let n = u.tickets.len() as i64;
                u.skill = u
                    .skill
                    .saturating_mul(n)
                    .saturating_add(t.skill())
                    .saturating_div(n.saturating_add(1));
                u.submitted_at = u.submitted_at.min(t.submitted_at);
                u.tickets.push(t.id.clone());
            }
            None => {
                if let Some(p) = t.party_id.as_deref() {
                    party_index.insert(p, units.len());
                }
                units.push(Unit {
                    tickets: vec![t.id.clone()],
                    skill: t.skill(),
                    submitted_at: t.submitted_at,
                });
            }
        }
    }
    units
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

/// A player's matchmaker tickets, for the export ([`crate::export`]).
pub const EXPORT: &[asobi_services::export::PlayerData] = &[asobi_services::export::PlayerData {
    section: "matchmaker_tickets",
    sql: "SELECT id, mode, properties AS properties_json, party_id, submitted_at FROM matchmaker_tickets WHERE player_id = $1 ORDER BY submitted_at",
}];
