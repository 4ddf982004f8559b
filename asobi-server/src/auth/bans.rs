//! Bans (the operator's, `POST|DELETE /api/v1/ops/players/:id/ban`): a banned player's
//! token families are deleted when the ban is set, and every sign-in is refused with
//! `account.banned` until it ends. The check and the ban both write the player's row, so a
//! sign-in racing a ban either finishes before it (and its tokens are deleted by it) or
//! sees it.

use serde_json::{Value, json};
use sqlx::{Any, Row, Transaction};

use super::{Accounts, AuthError};
use crate::time::{iso8601, now_ms};

/// A ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Until when (ms); `None` for ever.
    pub until: Option<i64>,
    /// The operator's reason.
    pub reason: Option<String>,
}

impl Ban {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({"until": self.until.map(iso8601), "reason": self.reason})
    }
}

/// `banned_until` of a ban for ever.
const FOREVER: i64 = i64::MAX;

impl Accounts {
    /// Bans `player` until `until` (ms; `None` for ever) and deletes every token family of
    /// theirs. Returns the deleted families, whose sockets the caller closes.
    pub async fn ban(
        &self,
        player: &str,
        until: Option<i64>,
        reason: Option<&str>,
    ) -> Result<Vec<String>, AuthError> {
        let mut tx = self.db.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE players SET banned_until = $2, ban_reason = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(player)
        .bind(until.unwrap_or(FOREVER))
        .bind(reason)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(AuthError::PlayerNotFound);
        }
        let families = sqlx::query("DELETE FROM token_families WHERE player_id = $1 RETURNING id")
            .bind(player)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok(families)
    }

    /// Lifts `player`'s ban (a no-op when there is none).
    pub async fn unban(&self, player: &str) -> Result<(), AuthError> {
        let updated =
            sqlx::query("UPDATE players SET banned_until = NULL, ban_reason = NULL WHERE id = $1")
                .bind(player)
                .execute(self.db.pool())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(AuthError::PlayerNotFound);
        }
        Ok(())
    }

    /// The ban in force on `player`, if any.
    pub async fn ban_of(&self, player: &str) -> Result<Option<Ban>, AuthError> {
        let row = sqlx::query("SELECT banned_until, ban_reason FROM players WHERE id = $1")
            .bind(player)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(AuthError::PlayerNotFound)?;
        ban_in_force(&row, now_ms())
    }

    /// Inside a sign-in's transaction, before its tokens are issued: touches the player's
    /// row unless a ban is in force (the write orders this sign-in against a ban being set),
    /// else fails with `Banned`.
    pub(super) async fn refuse_banned(
        tx: &mut Transaction<'_, Any>,
        player: &str,
    ) -> Result<(), AuthError> {
        let now = now_ms();
        let free = sqlx::query(
            "UPDATE players SET updated_at = updated_at \
             WHERE id = $1 AND (banned_until IS NULL OR banned_until <= $2)",
        )
        .bind(player)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if free.rows_affected() == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT banned_until, ban_reason FROM players WHERE id = $1")
            .bind(player)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(AuthError::PlayerNotFound)?;
        match ban_in_force(&row, now)? {
            Some(ban) => Err(AuthError::Banned {
                until: ban.until,
                reason: ban.reason,
            }),
            None => Err(AuthError::PlayerNotFound),
        }
    }
}

fn ban_in_force(row: &sqlx::any::AnyRow, now: i64) -> Result<Option<Ban>, AuthError> {
    let until: Option<i64> = row.try_get("banned_until")?;
    Ok(match until {
        Some(u) if u > now => Some(Ban {
            until: (u != FOREVER).then_some(u),
            reason: row.try_get("ban_reason")?,
        }),
        _ => None,
    })
}
