//! Parties (ours; the original has an unconsented `party` list on `matchmaker.add`): a
//! leader invites, players accept or decline, and only accepted members are queued
//! together. Owns `parties`, `party_members` and `party_invites`.
//!
//! - A player is in at most one party (a unique index on the member's id).
//! - Every change to a party runs in [`crate::db::Db::serialized`] on it, so `max_size` holds
//!   under concurrent accepts.
//! - When the leader leaves, the longest-standing member leads; the last one out disbands it.
//! - Each change returns the party as it now is ([`PartyView`]) with the players whose
//!   sessions the caller should tell (`asobi.party.updated`, `asobi.party.left`).

use asobi_core::protocol::ErrorCode;
use serde_json::{Map, Value, json};
use sqlx::{AnyConnection, Row};

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Coded;
use crate::social::Social;

/// The largest party a leader may ask for.
pub const MAX_PARTY_SIZE: i64 = 16;
/// A party's size when the leader does not say.
pub const DEFAULT_PARTY_SIZE: i64 = 4;

/// Why a party operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    /// No such party (or the player is in none).
    #[error("no such party")]
    NotFound,
    /// The party is at `max_size`.
    #[error("party is full")]
    Full,
    /// The player is already in a party.
    #[error("already in a party")]
    AlreadyInParty,
    /// Only the leader may do this.
    #[error("only the party leader may do this")]
    NotLeader,
    /// The player has no pending invitation to this party.
    #[error("no pending invitation")]
    NotInvited,
    /// The invited player blocked the leader.
    #[error("that player blocked you")]
    Blocked,
    /// The invited id names no player, or a size out of range.
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Coded for PartyError {
    fn code(&self) -> ErrorCode {
        match self {
            PartyError::NotFound => ErrorCode::PartyNotFound,
            PartyError::Full => ErrorCode::PartyFull,
            PartyError::AlreadyInParty => ErrorCode::PartyAlreadyInParty,
            PartyError::NotLeader => ErrorCode::PartyNotLeader,
            PartyError::NotInvited => ErrorCode::PartyNotInvited,
            PartyError::Blocked => ErrorCode::Forbidden,
            PartyError::Invalid(_) => ErrorCode::InvalidPayload,
            PartyError::Db(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            PartyError::Blocked => {
                d.insert("reason".into(), json!("blocked"));
            }
            PartyError::Invalid(why) => {
                d.insert("reason".into(), json!(why));
            }
            _ => {}
        }
        d
    }
}

impl From<crate::social::SocialError> for PartyError {
    fn from(e: crate::social::SocialError) -> Self {
        match e {
            crate::social::SocialError::Db(e) => PartyError::Db(e),
            other => PartyError::Db(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

/// A member as the party shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyMember {
    /// The player.
    pub player_id: String,
    /// Whether they said they are ready.
    pub ready: bool,
    /// Joined, Unix ms.
    pub joined_at: i64,
}

/// A party as its members see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyView {
    /// Id.
    pub id: String,
    /// The leader.
    pub leader_id: String,
    /// Size cap.
    pub max_size: i64,
    /// Members, by join time.
    pub members: Vec<PartyMember>,
    /// Invitations: (player, `pending` or `declined`).
    pub invites: Vec<(String, String)>,
}

impl PartyView {
    /// `{id, leader_id, max_size, members: [{player_id, ready, joined_at}], invites:
    /// [{player_id, status}]}` (`joined_at` Unix ms).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "leader_id": self.leader_id,
            "max_size": self.max_size,
            "members": self.members.iter().map(|m| json!({
                "player_id": m.player_id, "ready": m.ready, "joined_at": m.joined_at,
            })).collect::<Vec<_>>(),
            "invites": self.invites.iter().map(|(p, s)| json!({"player_id": p, "status": s})).collect::<Vec<_>>(),
        })
    }

    /// The members' ids.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.player_id.clone()).collect()
    }
}

/// What a change did: the party now (None once disbanded) and the players who left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The party after the change.
    pub party: Option<PartyView>,
    /// Players no longer in it (left, kicked, or everyone at a disband).
    pub gone: Vec<String>,
}

/// The parties service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Parties {
    db: Db,
    clock: Clock,
    social: Social,
}

/// After a member's row is gone: with no `heir` left, deletes the party; otherwise hands
/// the lead to `heir` if the departed member `led`. The party as it now stands.
async fn settle(
    conn: &mut AnyConnection,
    party: &str,
    led: bool,
    heir: Option<&PartyMember>,
) -> Result<Option<PartyView>, PartyError> {
    let Some(heir) = heir else {
        sqlx::query("DELETE FROM parties WHERE id = $1")
            .bind(party)
            .execute(&mut *conn)
            .await?;
        return Ok(None);
    };
    if led {
        sqlx::query("UPDATE parties SET leader_id = $1 WHERE id = $2")
            .bind(&heir.player_id)
            .bind(party)
            .execute(&mut *conn)
            .await?;
    }
    view_in(conn, party).await
}

async fn view_in(conn: &mut AnyConnection, id: &str) -> Result<Option<PartyView>, PartyError> {
    let Some(p) = sqlx::query("SELECT id, leader_id, max_size FROM parties WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "SELECT player_id, ready, joined_at FROM party_members WHERE party_id = $1 \
         ORDER BY joined_at, player_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let ready: i64 = r.try_get(1)?;
        Ok(PartyMember {
            player_id: r.try_get(0)?,
            ready: ready != 0,
            joined_at: r.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let invites = sqlx::query(
        "SELECT player_id, status FROM party_invites WHERE party_id = $1 ORDER BY inserted_at, player_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(PartyView {
        id: p.try_get(0)?,
        leader_id: p.try_get(1)?,
        max_size: p.try_get(2)?,
        members,
        invites,
    }))
}

async fn party_of_in(conn: &mut AnyConnection, player: &str) -> Result<Option<String>, PartyError> {
    Ok(
        sqlx::query("SELECT party_id FROM party_members WHERE player_id = $1")
            .bind(player)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

impl Parties {
    /// The service over `db`; blocks come from `social`.
    pub fn new(db: Db, clock: Clock, social: Social) -> Parties {
        Parties { db, clock, social }
    }

    /// The party `player` is in.
    pub async fn mine(&self, player: &str) -> Result<PartyView, PartyError> {
        let mut conn = self.db.pool().acquire().await?;
        let id = party_of_in(&mut conn, player)
            .await?
            .ok_or(PartyError::NotFound)?;
        view_in(&mut conn, &id).await?.ok_or(PartyError::NotFound)
    }

    /// A new party led by `player`, of at most `max_size` (2–16, default 4).
    pub async fn create(
        &self,
        player: &str,
        max_size: Option<i64>,
    ) -> Result<PartyView, PartyError> {
        let max_size = max_size.unwrap_or(DEFAULT_PARTY_SIZE);
        if !(2..=MAX_PARTY_SIZE).contains(&max_size) {
            return Err(PartyError::Invalid("max_size must be 2-16"));
        }
        let id = crate::new_id();
        let now = self.clock.now_ms();
        let mut tx = self
            .db
            .serialized(&format!("party-player:{player}"))
            .await?;
        if party_of_in(&mut tx, player).await?.is_some() {
            return Err(PartyError::AlreadyInParty);
        }
        sqlx::query(
            "INSERT INTO parties (id, leader_id, max_size, inserted_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(player)
        .bind(max_size)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let joined = sqlx::query(
            "INSERT INTO party_members (party_id, player_id, ready, joined_at) VALUES ($1, $2, 0, $3)",
        )
        .bind(&id)
        .bind(player)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match joined {
            // Accepted an invitation meanwhile.
            Err(e) if crate::error::is_unique_violation(&e) => {
                return Err(PartyError::AlreadyInParty);
            }
            r => r?,
        };
        let view = view_in(&mut tx, &id).await?.ok_or(PartyError::NotFound)?;
        tx.commit().await?;
        Ok(view)
    }

    /// The leader invites `target` (a player who has not blocked them, in no party yet);
    /// also true if the invitation is new (false: it was already pending). A declined
    /// invitation stays declined: the player said no to this party.
    pub async fn invite(
        &self,
        leader: &str,
        party: &str,
        target: &str,
    ) -> Result<(PartyView, bool), PartyError> {
        if self.social.blocks(target, leader).await? {
            return Err(PartyError::Blocked);
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        if view.leader_id != leader {
            return Err(PartyError::NotLeader);
        }
        if view.members.iter().any(|m| m.player_id == target) {
            return Err(PartyError::AlreadyInParty);
        }
        if view.members.len() as i64 >= view.max_size {
            return Err(PartyError::Full);
        }
        if let Some((_, status)) = view.invites.iter().find(|(p, _)| p == target) {
            return match status.as_str() {
                "pending" => Ok((view, false)),
                _ => Err(PartyError::Invalid("that player declined this party")),
            };
        }
        if view.invites.len() as i64 >= 2 * MAX_PARTY_SIZE {
            return Err(PartyError::Invalid("too many invitations"));
        }
        if party_of_in(&mut tx, target).await?.is_some() {
            return Err(PartyError::AlreadyInParty);
        }
        let r = sqlx::query(
            "INSERT INTO party_invites (party_id, player_id, invited_by, status, inserted_at) \
             VALUES ($1, $2, $3, 'pending', $4)",
        )
        .bind(party)
        .bind(target)
        .bind(leader)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if crate::error::is_foreign_key_violation(&e) => {
                return Err(PartyError::Invalid("no such player"));
            }
            r => r?,
        };
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        tx.commit().await?;
        Ok((view, true))
    }

    /// `player` accepts a pending invitation.
    pub async fn accept(&self, player: &str, party: &str) -> Result<PartyView, PartyError> {
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        if !view
            .invites
            .iter()
            .any(|(p, s)| p == player && s == "pending")
        {
            return Err(PartyError::NotInvited);
        }
        if view.members.len() as i64 >= view.max_size {
            return Err(PartyError::Full);
        }
        let joined = sqlx::query(
            "INSERT INTO party_members (party_id, player_id, ready, joined_at) VALUES ($1, $2, 0, $3)",
        )
        .bind(party)
        .bind(player)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match joined {
            Err(e) if crate::error::is_unique_violation(&e) => {
                return Err(PartyError::AlreadyInParty);
            }
            r => r?,
        };
        sqlx::query("DELETE FROM party_invites WHERE party_id = $1 AND player_id = $2")
            .bind(party)
            .bind(player)
            .execute(&mut *tx)
            .await?;
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        tx.commit().await?;
        Ok(view)
    }

    /// `player` declines a pending invitation: they stay out, and the leader cannot queue
    /// them.
    pub async fn decline(&self, player: &str, party: &str) -> Result<PartyView, PartyError> {
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let done = sqlx::query(
            "UPDATE party_invites SET status = 'declined' \
             WHERE party_id = $1 AND player_id = $2 AND status = 'pending'",
        )
        .bind(party)
        .bind(player)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(PartyError::NotInvited);
        }
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        tx.commit().await?;
        Ok(view)
    }

    /// `player` leaves their party (the leader's leaving hands it on; the last one out
    /// disbands it); returns the party's id and the change.
    pub async fn leave(&self, player: &str) -> Result<(String, Change), PartyError> {
        let party = self.mine(player).await?.id;
        let change = self.remove(&party, player, None).await?;
        Ok((party, change))
    }

    /// The leader removes `target`.
    pub async fn kick(
        &self,
        leader: &str,
        party: &str,
        target: &str,
    ) -> Result<Change, PartyError> {
        if leader == target {
            return Err(PartyError::Invalid("a leader leaves, not kicks themselves"));
        }
        self.remove(party, target, Some(leader)).await
    }

    async fn remove(
        &self,
        party: &str,
        target: &str,
        by_leader: Option<&str>,
    ) -> Result<Change, PartyError> {
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        if let Some(leader) = by_leader
            && view.leader_id != leader
        {
            return Err(PartyError::NotLeader);
        }
        if !view.members.iter().any(|m| m.player_id == target) {
            return Err(PartyError::NotFound);
        }
        sqlx::query("DELETE FROM party_members WHERE party_id = $1 AND player_id = $2")
            .bind(party)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        let heir = view.members.iter().find(|m| m.player_id != target);
        let change = Change {
            party: settle(&mut tx, party, view.leader_id == target, heir).await?,
            gone: vec![target.to_owned()],
        };
        tx.commit().await?;
        Ok(change)
    }

    /// The leader disbands the party.
    pub async fn disband(&self, leader: &str, party: &str) -> Result<Change, PartyError> {
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let view = view_in(&mut tx, party).await?.ok_or(PartyError::NotFound)?;
        if view.leader_id != leader {
            return Err(PartyError::NotLeader);
        }
        sqlx::query("DELETE FROM parties WHERE id = $1")
            .bind(party)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Change {
            party: None,
            gone: view.member_ids(),
        })
    }

    /// After `player` was erased (their member row went with them): the party they were in
    /// is handed on if they led it, or deleted if nobody is left. The change, for the
    /// members' sessions.
    pub async fn after_erase(&self, player: &str, party: &str) -> Result<Change, PartyError> {
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        let Some(view) = view_in(&mut tx, party).await? else {
            return Ok(Change {
                party: None,
                gone: Vec::new(),
            });
        };
        // The erased player's member row is already gone: whoever is first is the heir.
        let change = Change {
            party: settle(
                &mut tx,
                party,
                view.leader_id == player,
                view.members.first(),
            )
            .await?,
            gone: Vec::new(),
        };
        tx.commit().await?;
        Ok(change)
    }

    /// A member says whether they are ready.
    pub async fn set_ready(&self, player: &str, ready: bool) -> Result<PartyView, PartyError> {
        let party = self.mine(player).await?.id;
        let mut tx = self.db.serialized(&format!("party:{party}")).await?;
        sqlx::query("UPDATE party_members SET ready = $1 WHERE party_id = $2 AND player_id = $3")
            .bind(i64::from(ready))
            .bind(&party)
            .bind(player)
            .execute(&mut *tx)
            .await?;
        let view = view_in(&mut tx, &party)
            .await?
            .ok_or(PartyError::NotFound)?;
        tx.commit().await?;
        Ok(view)
    }
}

/// A player's party membership and invites, for the export ([`crate::export`]).
pub const EXPORT: &[crate::export::PlayerData] = &[
    crate::export::PlayerData {
        section: "party_members",
        sql: "SELECT party_id, ready, joined_at FROM party_members WHERE player_id = $1",
    },
    crate::export::PlayerData {
        section: "party_invites",
        sql: "SELECT party_id, invited_by, status, inserted_at FROM party_invites WHERE player_id = $1 ORDER BY inserted_at",
    },
];
