//! Friend requests, acceptances, blocks and removals: see the parent module for the rules.
//! Every write between two players runs in [`crate::db::Db::serialized`] on the pair.

use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use super::{Social, SocialError};
use crate::time::iso8601;

/// A friendship row `{id, player_id, friend_id, status, inserted_at, updated_at}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Friendship {
    /// Row id.
    pub id: String,
    /// Whose row.
    pub player_id: String,
    /// The other player.
    pub friend_id: String,
    /// `pending`, `accepted` or `blocked`.
    pub status: String,
    /// Created, Unix ms.
    pub inserted_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

impl Friendship {
    /// The REST row.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "player_id": self.player_id,
            "friend_id": self.friend_id,
            "status": self.status,
            "inserted_at": iso8601(self.inserted_at),
            "updated_at": iso8601(self.updated_at),
        })
    }
}

macro_rules! columns {
    () => {
        "id, player_id, friend_id, status, inserted_at, updated_at"
    };
}

fn decode(r: &sqlx::any::AnyRow) -> Result<Friendship, sqlx::Error> {
    Ok(Friendship {
        id: r.try_get(0)?,
        player_id: r.try_get(1)?,
        friend_id: r.try_get(2)?,
        status: r.try_get(3)?,
        inserted_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

async fn row(
    conn: &mut AnyConnection,
    player: &str,
    friend: &str,
) -> Result<Option<Friendship>, SocialError> {
    let r = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM friendships WHERE player_id = $1 AND friend_id = $2"
    ))
    .bind(player)
    .bind(friend)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(r.as_ref().map(decode).transpose()?)
}

/// Writes `player → friend` with `status`, creating the row if needed.
async fn put(
    conn: &mut AnyConnection,
    player: &str,
    friend: &str,
    status: &str,
    now: i64,
) -> Result<Friendship, SocialError> {
    let r = sqlx::query(concat!(
        "INSERT INTO friendships (id, player_id, friend_id, status, inserted_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (player_id, friend_id) \
         DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at RETURNING ",
        columns!(),
        ""
    ))
    .bind(crate::new_id())
    .bind(player)
    .bind(friend)
    .bind(status)
    .bind(now)
    .fetch_one(&mut *conn)
    .await;
    match r {
        Err(e) if crate::error::is_foreign_key_violation(&e) => Err(SocialError::FriendNotFound),
        r => Ok(decode(&r?)?),
    }
}

async fn delete(conn: &mut AnyConnection, player: &str, friend: &str) -> Result<u64, SocialError> {
    Ok(
        sqlx::query("DELETE FROM friendships WHERE player_id = $1 AND friend_id = $2")
            .bind(player)
            .bind(friend)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// The lock two players' friendship writes share.
fn pair_lock(a: &str, b: &str) -> String {
    if a <= b {
        format!("friends:{a}:{b}")
    } else {
        format!("friends:{b}:{a}")
    }
}

/// The statuses a friendship row may have.
pub const STATUSES: [&str; 3] = ["pending", "accepted", "blocked"];

impl Social {
    /// The player's own rows, newest first, optionally of one status.
    pub async fn friends(
        &self,
        player: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Friendship>, SocialError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM friendships WHERE player_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY updated_at DESC, id DESC LIMIT $3"
        ))
        .bind(player)
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    /// Whether `blocker` has blocked `blocked`.
    pub async fn blocks(&self, blocker: &str, blocked: &str) -> Result<bool, SocialError> {
        let r = sqlx::query(
            "SELECT 1 FROM friendships WHERE player_id = $1 AND friend_id = $2 AND status = 'blocked'",
        )
        .bind(blocker)
        .bind(blocked)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(r.is_some())
    }

    /// `POST /friends`: a request from `player` to `friend`. An existing row is returned as it
    /// is; a request crossing the other's pending one makes them friends.
    pub async fn request(&self, player: &str, friend: &str) -> Result<Friendship, SocialError> {
        if player == friend {
            return Err(SocialError::CannotFriendSelf);
        }
        if friend.is_empty() || friend.len() > 64 {
            return Err(SocialError::FriendNotFound);
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&pair_lock(player, friend)).await?;
        let exists = sqlx::query("SELECT 1 FROM players WHERE id = $1")
            .bind(friend)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(SocialError::FriendNotFound);
        }
        let theirs = row(&mut tx, friend, player).await?;
        if theirs.as_ref().is_some_and(|r| r.status == "blocked") {
            return Err(SocialError::Blocked);
        }
        match row(&mut tx, player, friend).await? {
            Some(mine) if mine.status == "accepted" => return Err(SocialError::AlreadyFriend),
            Some(mine) => return Ok(mine),
            None => {}
        }
        let out = if theirs.is_some_and(|r| r.status == "pending") {
            put(&mut tx, friend, player, "accepted", now).await?;
            put(&mut tx, player, friend, "accepted", now).await?
        } else {
            put(&mut tx, player, friend, "pending", now).await?
        };
        tx.commit().await?;
        Ok(out)
    }

    /// `PUT /friends/:friend_id`: answers the row `friend` sent to `player`. `accepted`
    /// makes both directions accepted; `blocked` blocks `friend` (possible without a request
    /// too) and returns the block row; `pending` sets the row back.
    pub async fn respond(
        &self,
        player: &str,
        friend: &str,
        status: &str,
    ) -> Result<Friendship, SocialError> {
        if !STATUSES.contains(&status) {
            return Err(SocialError::field(
                "status",
                "must be pending, accepted or blocked",
            ));
        }
        if player == friend {
            return Err(SocialError::FriendshipNotFound);
        }
        let now = self.clock.now_ms();
        let mut tx = self.db.serialized(&pair_lock(player, friend)).await?;
        let theirs = row(&mut tx, friend, player).await?;
        let out = match status {
            "blocked" => {
                if theirs.as_ref().is_some_and(|r| r.status != "blocked") {
                    delete(&mut tx, friend, player).await?;
                }
                put(&mut tx, player, friend, "blocked", now).await?
            }
            _ => {
                let Some(theirs) = theirs.filter(|r| r.status != "blocked") else {
                    return Err(SocialError::FriendshipNotFound);
                };
                if status == "accepted" {
                    put(&mut tx, player, friend, "accepted", now).await?;
                } else if row(&mut tx, player, friend)
                    .await?
                    .is_some_and(|r| r.status == "accepted")
                {
                    delete(&mut tx, player, friend).await?;
                }
                if theirs.status == status {
                    theirs
                } else {
                    put(&mut tx, friend, player, status, now).await?
                }
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    /// `DELETE /friends/:friend_id`: removes `player`'s row to `friend` (a friendship goes
    /// both ways; a block is lifted).
    pub async fn unfriend(&self, player: &str, friend: &str) -> Result<(), SocialError> {
        let mut tx = self.db.serialized(&pair_lock(player, friend)).await?;
        let Some(mine) = row(&mut tx, player, friend).await? else {
            return Err(SocialError::FriendshipNotFound);
        };
        delete(&mut tx, player, friend).await?;
        if mine.status == "accepted"
            && row(&mut tx, friend, player)
                .await?
                .is_some_and(|r| r.status == "accepted")
        {
            delete(&mut tx, friend, player).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
