//! Sign-in methods beyond the password: provider identities (`player_identities`) signed in
//! to, created on first sign-in, linked and unlinked (`rest.md` §5.1–5.2), and the upgrade
//! of a guest to a password account. A verified identity comes from
//! [`asobi_services::signin`]; this module decides which player it is.

use asobi_services::signin::Verified;
use serde_json::{Value, json};
use sqlx::Row;

use super::{Accounts, AuthError, Player, SignIn, conflict_or, secrets};
use crate::config::Registration;
use crate::time::{iso8601, now_ms};

/// Usernames tried for a new provider player before giving up (4 random hex digits each).
const USERNAME_ATTEMPTS: usize = 4;

/// One linked identity, as an export lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's name.
    pub provider: String,
    /// The provider's id of the user.
    pub provider_uid: String,
    /// When it was linked (ms).
    pub inserted_at: i64,
}

impl Identity {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider,
            "provider_uid": self.provider_uid,
            "inserted_at": iso8601(self.inserted_at),
        })
    }
}

impl Accounts {
    /// `POST /auth/oauth`: verifies `token` with `provider` and signs in (or creates) its
    /// player.
    pub async fn oauth(
        &self,
        provider: &str,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<SignIn, AuthError> {
        let verified = self.providers.verify(provider, token, nonce).await?;
        self.sign_in_identity(provider, &verified).await
    }

    /// `POST /auth/link`: verifies `token` with `provider` and links its identity to
    /// `player`; returns the provider's uid.
    pub async fn link_token(
        &self,
        player: &str,
        provider: &str,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<String, AuthError> {
        let verified = self.providers.verify(provider, token, nonce).await?;
        self.link(player, provider, &verified.uid).await?;
        Ok(verified.uid)
    }

    /// Signs in the player behind `provider`'s verified identity, creating one on first
    /// sign-in (username `<provider>_<8 of uid>_<4 hex>`) unless registration is closed.
    pub async fn sign_in_identity(
        &self,
        provider: &str,
        verified: &Verified,
    ) -> Result<SignIn, AuthError> {
        if let Some(player) = self.identity_player(provider, &verified.uid).await? {
            let tx = self.db.pool().begin().await?;
            return self.complete(tx, player, false).await;
        }
        if self.registration == Registration::Closed {
            return Err(AuthError::RegistrationClosed);
        }
        let now = now_ms();
        // The uid's last 8 letters and digits: its first ones are shared by whole ranges of
        // users (every SteamID64 starts 7656119…).
        let alnum: Vec<char> = verified
            .uid
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let stem: String = alnum[alnum.len().saturating_sub(8)..].iter().collect();
        for _ in 0..USERNAME_ATTEMPTS {
            let mut suffix = [0u8; 2];
            secrets::random_bytes(&mut suffix)?;
            let username = format!(
                "{provider}_{}_{}",
                if stem.is_empty() { "user" } else { &stem },
                secrets::hex(&suffix)
            );
            let display_name: String = verified
                .display_name
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(&username)
                .chars()
                .take(64)
                .collect();
            let player = Player::new(username, display_name, now);
            let mut tx = self.db.pool().begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO players (id, username, display_name, metadata, inserted_at, updated_at) \
                 VALUES ($1, $2, $3, '{}', $4, $4)",
            )
            .bind(&player.id)
            .bind(&player.username)
            .bind(&player.display_name)
            .bind(now)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // The username's random part collided: try another.
                Err(e) if asobi_services::error::is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
            let linked = sqlx::query(
                "INSERT INTO player_identities (provider, provider_uid, player_id, inserted_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(provider)
            .bind(&verified.uid)
            .bind(&player.id)
            .bind(now)
            .execute(&mut *tx)
            .await;
            return match linked {
                Ok(_) => self.complete(tx, player, true).await,
                Err(e) if asobi_services::error::is_unique_violation(&e) => {
                    // A concurrent first sign-in created the player: sign in to it.
                    tx.rollback().await?;
                    match self.identity_player(provider, &verified.uid).await? {
                        Some(player) => {
                            let tx = self.db.pool().begin().await?;
                            self.complete(tx, player, false).await
                        }
                        None => Err(AuthError::AlreadyRegistering),
                    }
                }
                Err(e) => Err(e.into()),
            };
        }
        Err(AuthError::RegistrationFailed)
    }

    /// The player an identity signs in to.
    async fn identity_player(
        &self,
        provider: &str,
        uid: &str,
    ) -> Result<Option<Player>, AuthError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            player_columns!(),
            " FROM players WHERE id = (SELECT player_id FROM player_identities \
             WHERE provider = $1 AND provider_uid = $2)"
        ))
        .bind(provider)
        .bind(uid)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(Player::from_row).transpose()?)
    }

    /// Links `provider`'s identity to `player`. Linking the same identity again is a no-op;
    /// one that signs in to another player, or a second identity of the same provider, is
    /// `ProviderAlreadyLinked`.
    pub async fn link(&self, player: &str, provider: &str, uid: &str) -> Result<(), AuthError> {
        let inserted = sqlx::query(
            "INSERT INTO player_identities (provider, provider_uid, player_id, inserted_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(provider)
        .bind(uid)
        .bind(player)
        .bind(now_ms())
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if asobi_services::error::is_unique_violation(&e) => {
                let mine = sqlx::query(
                    "SELECT 1 AS one FROM player_identities \
                     WHERE provider = $1 AND provider_uid = $2 AND player_id = $3",
                )
                .bind(provider)
                .bind(uid)
                .bind(player)
                .fetch_optional(self.db.pool())
                .await?;
                if mine.is_some() {
                    Ok(())
                } else {
                    Err(AuthError::ProviderAlreadyLinked)
                }
            }
            Err(e) if asobi_services::error::is_foreign_key_violation(&e) => {
                Err(AuthError::PlayerNotFound)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Unlinks `player`'s identity of `provider`, unless it is their last way to sign in
    /// (a password, another identity, or an unclaimed guest device).
    pub async fn unlink(&self, player: &str, provider: &str) -> Result<(), AuthError> {
        let mut tx = self.db.serialized(&format!("sign-in:{player}")).await?;
        let linked: Vec<String> =
            sqlx::query("SELECT provider FROM player_identities WHERE player_id = $1")
                .bind(player)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("provider"))
                .collect::<Result<_, _>>()?;
        if !linked.iter().any(|p| p == provider) {
            return Err(AuthError::IdentityNotFound);
        }
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM players WHERE id = $1 AND password_hash IS NOT NULL) AS password, \
               (SELECT COUNT(*) FROM guest_identities WHERE player_id = $1 AND claimed = 0 AND revoked = 0) AS devices",
        )
        .bind(player)
        .fetch_one(&mut *tx)
        .await?;
        // Only methods that sign in today count: identities of enabled providers, devices
        // while guest sign-in is on.
        let identities = linked
            .iter()
            .filter(|p| *p != provider && self.providers.has(p))
            .count() as i64;
        let devices = if self.guest.is_some() {
            row.try_get::<i64, _>("devices")?
        } else {
            0
        };
        if identities + row.try_get::<i64, _>("password")? + devices == 0 {
            return Err(AuthError::LastAuthMethod);
        }
        sqlx::query("DELETE FROM player_identities WHERE player_id = $1 AND provider = $2")
            .bind(player)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The identities linked to `player`, oldest first.
    pub async fn identities(&self, player: &str) -> Result<Vec<Identity>, AuthError> {
        let rows = sqlx::query(
            "SELECT provider, provider_uid, inserted_at FROM player_identities \
             WHERE player_id = $1 ORDER BY inserted_at, provider",
        )
        .bind(player)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Identity {
                    provider: r.try_get("provider")?,
                    provider_uid: r.try_get("provider_uid")?,
                    inserted_at: r.try_get("inserted_at")?,
                })
            })
            .collect()
    }

    /// Turns an unclaimed guest into a password account (`POST /auth/guest/upgrade`): every
    /// earlier token of the player is revoked and a new pair issued. Returns the sign-in and
    /// the revoked families, whose sockets the caller closes.
    pub async fn upgrade_guest(
        &self,
        player: &str,
        username: &str,
        password: String,
    ) -> Result<(SignIn, Vec<String>), AuthError> {
        let hash = self.hash_password(password).await?;
        let mut tx = self.db.pool().begin().await?;
        let claimed = sqlx::query(
            "UPDATE guest_identities SET claimed = 1 WHERE player_id = $1 AND claimed = 0 \
             AND EXISTS (SELECT 1 FROM players p WHERE p.id = $1 AND p.password_hash IS NULL)",
        )
        .bind(player)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            let exists = sqlx::query("SELECT 1 AS one FROM players WHERE id = $1")
                .bind(player)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(if exists.is_some() {
                AuthError::GuestNotUnclaimed
            } else {
                AuthError::PlayerNotFound
            });
        }
        let now = now_ms();
        let row = sqlx::query(concat!(
            "UPDATE players SET username = $2, password_hash = $3, updated_at = $4, \
             display_name = CASE WHEN display_name = username THEN $2 ELSE display_name END \
             WHERE id = $1 RETURNING ",
            player_columns!()
        ))
        .bind(player)
        .bind(username)
        .bind(&hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, AuthError::UsernameTaken))?;
        let player = Player::from_row(&row)?;
        let revoked: Vec<String> =
            sqlx::query("DELETE FROM token_families WHERE player_id = $1 RETURNING id")
                .bind(&player.id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?;
        let signed_in = self.complete(tx, player, false).await?;
        Ok((signed_in, revoked))
    }
}
