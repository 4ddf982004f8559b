//! Accounts: players, password and guest credentials, and access/refresh tokens.
//!
//! Owns the `players`, `token_families`, `access_tokens`, `refresh_tokens` and
//! `guest_identities` tables. REST handlers and the realtime session both call these
//! functions; nothing else touches those tables.
//!
//! Refresh tokens are single-use and belong to a family created at sign-in. Redeeming one marks
//! it used and issues the next pair in the same family, in one statement; presenting a used one
//! again is treated as theft and deletes the family with all its tokens.

pub mod secrets;

use std::sync::Arc;

use asobi_core::protocol::ErrorCode;
use base64::Engine;
use serde_json::{Map, Value, json};
use sqlx::{Any, Row, Transaction};

use crate::config::{Config, Registration};
use crate::db::Db;
use crate::ratelimit::RateLimiter;
use crate::time::{iso8601, now_ms};
use secrets::{PasswordHasherConfig, SecretError};

/// Why an account operation failed. Each maps to one code of the closed set.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Username already used.
    #[error("username taken")]
    UsernameTaken,
    /// Wrong username or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Unknown, used, expired or revoked token.
    #[error("unauthenticated")]
    Unauthenticated,
    /// A used refresh token was presented again: its family is revoked (answered as
    /// [`AuthError::Unauthenticated`]; the caller closes the family's sockets).
    #[error("refresh token reused")]
    RefreshReused {
        /// The revoked family.
        family: String,
    },
    /// Sign-up is closed.
    #[error("registration closed")]
    RegistrationClosed,
    /// Only provider sign-in creates players.
    #[error("password registration disabled")]
    PasswordRegistrationDisabled,
    /// Guest sign-in is off.
    #[error("guest sign-in disabled")]
    GuestDisabled,
    /// Device id empty or too long.
    #[error("invalid device id")]
    GuestInvalidDeviceId,
    /// Device secret not base64 of 32–128 bytes.
    #[error("weak device secret")]
    GuestWeakDeviceSecret,
    /// Device secret does not match.
    #[error("invalid device secret")]
    GuestInvalidDeviceSecret,
    /// Device credential revoked.
    #[error("device revoked")]
    GuestRevoked,
    /// Guest account was claimed.
    #[error("guest already upgraded")]
    GuestAlreadyUpgraded,
    /// Guest creation throttled.
    #[error("guest creation rate limited")]
    GuestRateLimited,
    /// Too many failed sign-ins of this username: wait this many seconds.
    #[error("too many failed sign-ins; retry after {0} s")]
    SignInBackoff(u64),
    /// Unclaimed-guest ceiling reached.
    #[error("guest capacity reached")]
    GuestCapacityReached,
    /// A concurrent create took the device id.
    #[error("device already registered")]
    GuestDeviceAlreadyRegistered,
    /// No such player.
    #[error("player not found")]
    PlayerNotFound,
    /// Erase confirmation password wrong.
    #[error("confirmation failed")]
    ConfirmationFailed,
    /// Password changed while erasing.
    #[error("credentials changed")]
    CredentialsChanged,
    /// No such sign-in provider, or it is disabled.
    #[error("unsupported provider")]
    UnsupportedProvider,
    /// The provider refused the token.
    #[error("provider rejected the token: {}", reason.as_str())]
    ProviderRejected {
        /// Why (`details.reason`).
        reason: asobi_services::signin::Reason,
    },
    /// That provider identity signs in to another player.
    #[error("provider identity already linked")]
    ProviderAlreadyLinked,
    /// A concurrent first sign-in is creating this player.
    #[error("already registering")]
    AlreadyRegistering,
    /// The player has no identity of that provider.
    #[error("identity not found")]
    IdentityNotFound,
    /// Unlinking would leave no way to sign in.
    #[error("last sign-in method")]
    LastAuthMethod,
    /// Only an unclaimed guest can be upgraded.
    #[error("not an unclaimed guest")]
    GuestNotUnclaimed,
    /// No free username could be made for a new provider player.
    #[error("registration failed")]
    RegistrationFailed,
    /// The player is banned.
    #[error("banned")]
    Banned {
        /// Until when (ms), `None` for ever.
        until: Option<i64>,
        /// The operator's reason, if given.
        reason: Option<String>,
    },
    /// Storage failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Randomness or hashing failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A blocking hash task failed.
    #[error("hashing task failed: {0}")]
    Task(String),
}

impl AuthError {
    /// The code this failure is answered with.
    pub fn code(&self) -> ErrorCode {
        use AuthError as E;
        use ErrorCode as C;
        match self {
            E::UsernameTaken => C::AuthUsernameTaken,
            E::InvalidCredentials => C::AuthInvalidCredentials,
            E::Unauthenticated | E::RefreshReused { .. } => C::Unauthenticated,
            E::RegistrationClosed => C::AuthRegistrationClosed,
            E::PasswordRegistrationDisabled => C::AuthPasswordRegistrationDisabled,
            E::GuestDisabled => C::GuestDisabled,
            E::GuestInvalidDeviceId => C::GuestInvalidDeviceId,
            E::GuestWeakDeviceSecret => C::GuestWeakDeviceSecret,
            E::GuestInvalidDeviceSecret => C::GuestInvalidDeviceSecret,
            E::GuestRevoked => C::GuestRevoked,
            E::GuestAlreadyUpgraded => C::GuestAlreadyUpgraded,
            E::GuestRateLimited => C::GuestRateLimited,
            E::SignInBackoff(_) => C::RateLimited,
            E::GuestCapacityReached => C::GuestCapacityReached,
            E::GuestDeviceAlreadyRegistered => C::GuestDeviceAlreadyRegistered,
            E::PlayerNotFound => C::PlayerNotFound,
            E::ConfirmationFailed => C::PlayerConfirmationFailed,
            E::CredentialsChanged => C::PlayerCredentialsChanged,
            E::UnsupportedProvider => C::AuthUnsupportedProvider,
            E::ProviderRejected { .. } => C::AuthProviderRejected,
            E::ProviderAlreadyLinked => C::AuthProviderAlreadyLinked,
            E::AlreadyRegistering => C::AuthAlreadyRegistering,
            E::IdentityNotFound => C::AuthIdentityNotFound,
            E::LastAuthMethod => C::AuthLastAuthMethod,
            E::GuestNotUnclaimed => C::GuestNotUnclaimed,
            E::Banned { .. } => C::AccountBanned,
            E::RegistrationFailed => C::AuthRegistrationFailed,
            E::Db(_) | E::Secret(_) | E::Task(_) => C::Internal,
        }
    }

    /// The `details` of the answer.
    pub fn details(&self) -> Map<String, Value> {
        let mut d = Map::new();
        match self {
            AuthError::ProviderRejected { reason } => {
                d.insert("reason".into(), reason.as_str().into());
            }
            AuthError::Banned { until, reason } => {
                d.insert("until".into(), until.map(iso8601).into());
                d.insert("reason".into(), reason.clone().into());
            }
            _ => {}
        }
        d
    }
}

impl From<asobi_services::signin::SignInError> for AuthError {
    fn from(e: asobi_services::signin::SignInError) -> Self {
        use asobi_services::signin::SignInError as S;
        match e {
            S::UnsupportedProvider(_) => AuthError::UnsupportedProvider,
            S::Rejected {
                provider,
                reason,
                detail,
            } => {
                tracing::info!(
                    provider,
                    reason = reason.as_str(),
                    detail,
                    "sign-in token refused"
                );
                AuthError::ProviderRejected { reason }
            }
        }
    }
}

/// Who agreed to an [`Accounts::erase`].
#[derive(Debug, Clone)]
pub enum Consent {
    /// The player, confirming with their password when the account has one.
    Player {
        /// The account's password (required when it has one).
        password: Option<String>,
    },
    /// An operator (`DELETE /api/v1/ops/players/:id`).
    Operator,
    /// The idle-guest purge, only while the guest is still idle as of `created_before`.
    IdleGuest {
        /// Guests created at or after this (ms) are not idle yet.
        created_before: i64,
    },
}

/// The condition an idle guest meets (`players` row; `$1` the creation cut-off): no
/// password, an unclaimed guest identity older than the cut-off, no token family left and
/// no provider identity linked.
const IDLE_GUEST: &str = "password_hash IS NULL \
     AND id IN (SELECT player_id FROM guest_identities WHERE claimed = 0 AND inserted_at < $1) \
     AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.player_id = players.id) \
     AND NOT EXISTS (SELECT 1 FROM player_identities i WHERE i.player_id = players.id)";

/// What one purge deleted ([`Accounts::purge_credentials`], [`crate::erasure::purge`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired access tokens.
    pub access_tokens: u64,
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Families left with no token.
    pub families: u64,
    /// Unclaimed guest accounts nobody signs in as.
    pub guests: u64,
}

/// A player row (never with credentials).
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    /// UUIDv7.
    pub id: String,
    /// Unique, case-insensitively.
    pub username: String,
    /// Shown name.
    pub display_name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Free-form object.
    pub metadata: Value,
    /// Unix ms.
    pub inserted_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Player {
    /// A new player row (a fresh id, no avatar, empty metadata) created at `now`.
    pub fn new(username: String, display_name: String, now: i64) -> Player {
        Player {
            id: new_id(),
            username,
            display_name,
            avatar_url: None,
            metadata: json!({}),
            inserted_at: now,
            updated_at: now,
        }
    }

    /// The REST projection (`rest.md` §5.3).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "avatar_url": self.avatar_url,
            "metadata": self.metadata,
            "inserted_at": iso8601(self.inserted_at),
            "updated_at": iso8601(self.updated_at),
        })
    }

    fn from_row(row: &sqlx::any::AnyRow) -> Result<Player, sqlx::Error> {
        let metadata: String = row.try_get("metadata")?;
        Ok(Player {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            avatar_url: row.try_get("avatar_url")?,
            metadata: serde_json::from_str(&metadata).unwrap_or_else(|_| json!({})),
            inserted_at: row.try_get("inserted_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The player columns every read selects (a macro so queries stay static strings).
macro_rules! player_columns {
    () => {
        "id, username, display_name, avatar_url, metadata, inserted_at, updated_at"
    };
}

pub mod bans;
pub mod identities;

/// A freshly issued access/refresh pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Bearer token for REST and `session.connect`.
    pub access_token: String,
    /// Single-use token for `/auth/refresh`.
    pub refresh_token: String,
}

/// The result of a sign-in.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The player.
    pub player: Player,
    /// Their new tokens.
    pub tokens: TokenPair,
    /// Whether this call created the player (guest sign-in).
    pub created: bool,
}

impl SignIn {
    /// The contract's TokenBody.
    pub fn to_json(&self) -> Value {
        json!({
            "player_id": self.player.id,
            "access_token": self.tokens.access_token,
            "refresh_token": self.tokens.refresh_token,
            "username": self.player.username,
        })
    }
}

/// Who a valid access token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The player.
    pub player_id: String,
    /// The sign-in family the token belongs to.
    pub family_id: String,
}

/// Changes accepted by `PUT /players/:id`.
#[derive(Debug, Clone, Default)]
pub struct PlayerUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New avatar URL (`Some(None)` clears it).
    pub avatar_url: Option<Option<String>>,
    /// New metadata object.
    pub metadata: Option<Value>,
}

/// The accounts service.
#[derive(Clone)]
pub struct Accounts {
    db: Db,
    hasher: PasswordHasherConfig,
    /// Password hashes computed at once: one per core. Each argon2id hash holds its whole
    /// memory cost (19 MiB by default) while it runs, and more hashes than cores only share
    /// the same CPU, so unbounded, 100 concurrent sign-ins took the server to 19 GiB RSS.
    hashing: Arc<tokio::sync::Semaphore>,
    /// A real hash checked when a username is unknown, so both answers take as long.
    decoy_hash: Arc<str>,
    access_ttl_ms: i64,
    refresh_ttl_ms: i64,
    registration: Registration,
    guest: Option<GuestSettings>,
    limiter: Arc<RateLimiter>,
    providers: asobi_services::signin::Providers,
}

#[derive(Clone)]
struct GuestSettings {
    pepper: Arc<[u8]>,
    max_unclaimed: u64,
}

impl Accounts {
    /// Builds the service from the configuration.
    pub fn new(db: Db, config: &Config, limiter: Arc<RateLimiter>) -> Result<Accounts, AuthError> {
        let hasher = PasswordHasherConfig::new(config.password_hashing)?;
        let decoy_hash = hasher.hash("decoy password, never valid")?.into();
        let guest = match (&config.guest_auth, &config.guest_pepper) {
            (true, Some(pepper)) => Some(GuestSettings {
                pepper: pepper.as_bytes().into(),
                max_unclaimed: config.guest_max_unclaimed,
            }),
            _ => None,
        };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Accounts {
            db,
            hasher,
            hashing: Arc::new(tokio::sync::Semaphore::new(cores)),
            decoy_hash,
            access_ttl_ms: (config.access_token_ttl_secs * 1000) as i64,
            refresh_ttl_ms: (config.refresh_token_ttl_secs * 1000) as i64,
            registration: config.registration,
            guest,
            limiter,
            providers: Default::default(),
        })
    }

    /// The sign-in providers `POST /auth/oauth` and `/auth/link` accept.
    pub fn with_providers(mut self, providers: asobi_services::signin::Providers) -> Self {
        self.providers = providers;
        self
    }

    /// The sign-in providers.
    pub fn providers(&self) -> &asobi_services::signin::Providers {
        &self.providers
    }

    /// Runs `f` with the hasher on a blocking thread once a hashing slot is free (FIFO).
    async fn with_hasher<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PasswordHasherConfig) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AuthError::Task(e.to_string()))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            let out = f(&hasher);
            drop(permit);
            out
        })
        .await
        .map_err(|e| AuthError::Task(e.to_string()))
    }

    async fn hash_password(&self, password: String) -> Result<String, AuthError> {
        self.with_hasher(move |h| h.hash(&password))
            .await?
            .map_err(AuthError::from)
    }

    async fn verify_password(&self, password: String, stored: Arc<str>) -> Result<bool, AuthError> {
        self.with_hasher(move |h| h.verify(&password, &stored))
            .await
    }

    /// Creates a password account and signs it in. Fields were validated by the caller.
    pub async fn register(
        &self,
        username: &str,
        password: String,
        display_name: Option<String>,
    ) -> Result<SignIn, AuthError> {
        match self.registration {
            Registration::Open => {}
            Registration::OauthOnly => return Err(AuthError::PasswordRegistrationDisabled),
            Registration::Closed => return Err(AuthError::RegistrationClosed),
        }
        let hash = self.hash_password(password).await?;
        let now = now_ms();
        let player = Player::new(
            username.to_owned(),
            display_name.unwrap_or_else(|| username.to_owned()),
            now,
        );
        let mut tx = self.db.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO players (id, username, display_name, metadata, password_hash, inserted_at, updated_at) \
             VALUES ($1, $2, $3, '{}', $4, $5, $5)",
        )
        .bind(&player.id)
        .bind(&player.username)
        .bind(&player.display_name)
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await;
        inserted.map_err(|e| conflict_or(e, AuthError::UsernameTaken))?;
        self.complete(tx, player, true).await
    }

    /// Checks a username and password and signs in.
    pub async fn login(&self, username: &str, password: String) -> Result<SignIn, AuthError> {
        self.limiter
            .sign_in_allowed(username)
            .map_err(|r| AuthError::SignInBackoff(r.0))?;
        let row = sqlx::query(concat!(
            "SELECT ",
            player_columns!(),
            ", password_hash FROM players WHERE lower(username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(self.db.pool())
        .await?;
        let stored: Option<String> = match &row {
            Some(r) => r.try_get("password_hash")?,
            None => None,
        };
        let known = stored.is_some();
        let stored: Arc<str> = stored
            .map(Into::into)
            .unwrap_or_else(|| self.decoy_hash.clone());
        let ok = self.verify_password(password, stored).await?;
        let (Some(row), true, true) = (row, known, ok) else {
            self.limiter.sign_in_failed(username);
            return Err(AuthError::InvalidCredentials);
        };
        self.limiter.sign_in_succeeded(username);
        let player = Player::from_row(&row)?;
        let tx = self.db.pool().begin().await?;
        self.complete(tx, player, false).await
    }

    /// Redeems a refresh token for the next pair of its family. A token presented twice
    /// revokes its whole family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let hash = secrets::token_hash(refresh_token);
        let now = now_ms();
        let mut tx = self.db.pool().begin().await?;
        let redeemed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING family_id, player_id",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = redeemed else {
            let reused = sqlx::query(
                "SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NOT NULL",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = reused {
                let family: String = row.try_get("family_id")?;
                sqlx::query("DELETE FROM token_families WHERE id = $1")
                    .bind(&family)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::warn!(family = %family, "refresh token reused: family revoked");
                return Err(AuthError::RefreshReused { family });
            }
            return Err(AuthError::Unauthenticated);
        };
        let family: String = row.try_get("family_id")?;
        let player_id: String = row.try_get("player_id")?;
        let tokens = self.issue(&mut tx, &player_id, Some(&family)).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Revokes the refresh token's family (if given) and the access token (if given). Returns
    /// the revoked families, so their sockets can be closed.
    pub async fn logout(
        &self,
        refresh_token: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<Vec<String>, AuthError> {
        let mut families = Vec::new();
        if let Some(t) = refresh_token {
            let rows = sqlx::query(
                "DELETE FROM token_families WHERE id IN \
                 (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) RETURNING id",
            )
            .bind(secrets::token_hash(t))
            .fetch_all(self.db.pool())
            .await?;
            for row in rows {
                families.push(row.try_get("id")?);
            }
        }
        if let Some(t) = access_token {
            sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
                .bind(secrets::token_hash(t))
                .execute(self.db.pool())
                .await?;
        }
        Ok(families)
    }

    /// Resolves an access token.
    pub async fn authenticate(&self, access_token: &str) -> Result<Option<Principal>, AuthError> {
        let row = sqlx::query(
            "SELECT player_id, family_id FROM access_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(secrets::token_hash(access_token))
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok(Principal {
                player_id: r.try_get("player_id")?,
                family_id: r.try_get("family_id")?,
            })
        })
        .transpose()
    }

    /// Guest sign-in with a device id and secret (`rest.md` §5.1 check order).
    pub async fn guest(&self, device_id: &str, device_secret: &str) -> Result<SignIn, AuthError> {
        let Some(guest) = &self.guest else {
            return Err(AuthError::GuestDisabled);
        };
        let secret = (device_secret.len() <= 1024)
            .then(|| {
                base64::engine::general_purpose::STANDARD
                    .decode(device_secret)
                    .ok()
            })
            .flatten()
            .filter(|s| (32..=128).contains(&s.len()))
            .ok_or(AuthError::GuestWeakDeviceSecret)?;
        if device_id.is_empty() || device_id.len() > 255 {
            return Err(AuthError::GuestInvalidDeviceId);
        }
        let known = sqlx::query(
            "SELECT player_id, secret_salt, secret_hash, revoked, claimed FROM guest_identities WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_optional(self.db.pool())
        .await?;
        if let Some(row) = known {
            let salt: String = row.try_get("secret_salt")?;
            let stored: String = row.try_get("secret_hash")?;
            let computed = secrets::guest_secret_hash(&guest.pepper, salt.as_bytes(), &secret);
            if !secrets::constant_time_eq(&computed, &stored) {
                return Err(AuthError::GuestInvalidDeviceSecret);
            }
            if row.try_get::<i64, _>("revoked")? != 0 {
                return Err(AuthError::GuestRevoked);
            }
            if row.try_get::<i64, _>("claimed")? != 0 {
                return Err(AuthError::GuestAlreadyUpgraded);
            }
            let player_id: String = row.try_get("player_id")?;
            let player = self
                .player(&player_id)
                .await?
                .ok_or(AuthError::PlayerNotFound)?;
            let mut tx = self.db.pool().begin().await?;
            // Again, after touching the player's row (which an upgrade holds until it
            // commits): a sign-in racing an upgrade must not outlive it with a new token.
            Self::refuse_banned(&mut tx, &player_id).await?;
            let still = sqlx::query(
                "SELECT 1 AS one FROM guest_identities WHERE device_id = $1 AND claimed = 0 AND revoked = 0",
            )
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
            if still.is_none() {
                return Err(AuthError::GuestAlreadyUpgraded);
            }
            return self.complete(tx, player, false).await;
        }
        if self.registration == Registration::Closed {
            return Err(AuthError::RegistrationClosed);
        }
        if self.limiter.check_guest_creation().is_err() {
            return Err(AuthError::GuestRateLimited);
        }
        let unclaimed: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM guest_identities WHERE claimed = 0")
                .fetch_one(self.db.pool())
                .await?
                .try_get("n")?;
        if unclaimed as u64 >= guest.max_unclaimed {
            return Err(AuthError::GuestCapacityReached);
        }
        let mut salt_bytes = [0u8; 16];
        secrets::random_bytes(&mut salt_bytes)?;
        let salt = secrets::hex(&salt_bytes);
        let now = now_ms();
        let username = format!("guest_{}", &secrets::hex(&salt_bytes[..8]));
        let player = Player::new(username.clone(), username, now);
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO players (id, username, display_name, metadata, inserted_at, updated_at) \
             VALUES ($1, $2, $2, '{}', $3, $3)",
        )
        .bind(&player.id)
        .bind(&player.username)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO guest_identities (device_id, player_id, secret_salt, secret_hash, inserted_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(device_id)
        .bind(&player.id)
        .bind(&salt)
        .bind(secrets::guest_secret_hash(&guest.pepper, salt.as_bytes(), &secret))
        .bind(now)
        .execute(&mut *tx)
        .await;
        inserted.map_err(|e| conflict_or(e, AuthError::GuestDeviceAlreadyRegistered))?;
        self.complete(tx, player, true).await
    }

    /// Looks a player up.
    pub async fn player(&self, id: &str) -> Result<Option<Player>, AuthError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            player_columns!(),
            " FROM players WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.as_ref().map(Player::from_row).transpose()?)
    }

    /// Applies validated changes to a player and returns the new row.
    pub async fn update_player(&self, id: &str, update: PlayerUpdate) -> Result<Player, AuthError> {
        let Some(mut player) = self.player(id).await? else {
            return Err(AuthError::PlayerNotFound);
        };
        if let Some(name) = update.display_name {
            player.display_name = name;
        }
        if let Some(url) = update.avatar_url {
            player.avatar_url = url;
        }
        if let Some(meta) = update.metadata {
            player.metadata = meta;
        }
        player.updated_at = now_ms();
        sqlx::query(
            "UPDATE players SET display_name = $2, avatar_url = $3, metadata = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(&player.id)
        .bind(&player.display_name)
        .bind(&player.avatar_url)
        .bind(player.metadata.to_string())
        .bind(player.updated_at)
        .execute(self.db.pool())
        .await?;
        Ok(player)
    }

    /// Deletes a player's row and with it everything the database ties to it (foreign keys),
    /// if `consent` still holds when the row goes: `Ok(false)` when an idle guest is no
    /// longer idle. What is keyed by free-form ids is [`crate::erasure`]'s to delete.
    pub async fn erase(&self, player_id: &str, consent: &Consent) -> Result<bool, AuthError> {
        let row = sqlx::query("SELECT password_hash FROM players WHERE id = $1")
            .bind(player_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(AuthError::PlayerNotFound)?;
        let stored: Option<String> = row.try_get("password_hash")?;
        let deleted = match consent {
            Consent::Player { password } => {
                if let Some(stored) = &stored {
                    let Some(password) = password else {
                        return Err(AuthError::ConfirmationFailed);
                    };
                    if !self
                        .verify_password(password.clone(), stored.as_str().into())
                        .await?
                    {
                        return Err(AuthError::ConfirmationFailed);
                    }
                }
                let deleted = sqlx::query(
                    "DELETE FROM players WHERE id = $1 AND COALESCE(password_hash, '') = $2",
                )
                .bind(player_id)
                .bind(stored.unwrap_or_default())
                .execute(self.db.pool())
                .await?;
                if deleted.rows_affected() == 0 {
                    return Err(AuthError::CredentialsChanged);
                }
                true
            }
            Consent::Operator => {
                sqlx::query("DELETE FROM players WHERE id = $1")
                    .bind(player_id)
                    .execute(self.db.pool())
                    .await?
                    .rows_affected()
                    > 0
            }
            Consent::IdleGuest { created_before } => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM players WHERE {IDLE_GUEST} AND id = $2"
                )))
                .bind(created_before)
                .bind(player_id)
                .execute(self.db.pool())
                .await?
                .rows_affected()
                    > 0
            }
        };
        Ok(deleted)
    }

    /// Deletes expired credentials (a scheduled job, [`crate::erasure::spawn_purge`]):
    /// expired access tokens; expired refresh tokens, used or not (a used one is kept until
    /// then, because presenting it again must revoke its family); and families left with no
    /// token. The count of guests is left at 0: erasing them is [`crate::erasure::purge`]'s.
    pub async fn purge_credentials(&self, now: i64) -> Result<Purged, AuthError> {
        let pool = self.db.pool();
        let access_tokens = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        let families = sqlx::query(
            "DELETE FROM token_families WHERE \
             NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.id) \
             AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = token_families.id)",
        )
        .execute(pool)
        .await?
        .rows_affected();
        Ok(Purged {
            access_tokens,
            refresh_tokens,
            families,
            guests: 0,
        })
    }

    /// Up to `limit` unclaimed guest accounts created before `created_before` that hold no
    /// token family, that is nobody has signed in as them within a refresh token's lifetime.
    pub async fn idle_guests(
        &self,
        created_before: i64,
        limit: u32,
    ) -> Result<Vec<String>, AuthError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM players WHERE {IDLE_GUEST} ORDER BY id LIMIT $2"
        )))
        .bind(created_before)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?)
    }

    /// Whether the player has a password (erase needs it confirmed).
    pub async fn has_password(&self, player_id: &str) -> Result<bool, AuthError> {
        let row = sqlx::query("SELECT password_hash FROM players WHERE id = $1")
            .bind(player_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(AuthError::PlayerNotFound)?;
        Ok(row.try_get::<Option<String>, _>("password_hash")?.is_some())
    }

    /// Issues the first token pair of a new sign-in inside `tx` and commits.
    async fn complete(
        &self,
        mut tx: Transaction<'_, Any>,
        player: Player,
        created: bool,
    ) -> Result<SignIn, AuthError> {
        Self::refuse_banned(&mut tx, &player.id).await?;
        let tokens = self.issue(&mut tx, &player.id, None).await?;
        tx.commit().await?;
        Ok(SignIn {
            player,
            tokens,
            created,
        })
    }

    /// Issues an access/refresh pair, in a new family unless one is given.
    async fn issue(
        &self,
        tx: &mut Transaction<'_, Any>,
        player_id: &str,
        family: Option<&str>,
    ) -> Result<TokenPair, AuthError> {
        let now = now_ms();
        let family = match family {
            Some(f) => f.to_owned(),
            None => {
                let f = new_id();
                sqlx::query(
                    "INSERT INTO token_families (id, player_id, inserted_at) VALUES ($1, $2, $3)",
                )
                .bind(&f)
                .bind(player_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                f
            }
        };
        let pair = TokenPair {
            access_token: secrets::new_token()?,
            refresh_token: secrets::new_token()?,
        };
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, family_id, player_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(secrets::token_hash(&pair.access_token))
        .bind(&family)
        .bind(player_id)
        .bind(now + self.access_ttl_ms)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, player_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(secrets::token_hash(&pair.refresh_token))
        .bind(&family)
        .bind(player_id)
        .bind(now + self.refresh_ttl_ms)
        .execute(&mut **tx)
        .await?;
        Ok(pair)
    }
}

pub use asobi_services::new_id;

/// A unique-key violation becomes `conflict`; any other error stays a storage error.
fn conflict_or(e: sqlx::Error, conflict: AuthError) -> AuthError {
    if asobi_services::error::is_unique_violation(&e) {
        conflict
    } else {
        e.into()
    }
}

/// Validation of register fields (`rest.md` §5.1). Returns `{field: [messages]}` when invalid.
pub fn validate_registration(
    username: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<(), Map<String, Value>> {
    let mut fields = Map::new();
    let mut add = |field: &str, msg: &str| {
        if let Value::Array(messages) = fields
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            messages.push(Value::from(msg));
        }
    };
    let len = username.chars().count();
    if !(3..=32).contains(&len) {
        add("username", "must be 3 to 32 characters");
    }
    if !username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        add("username", "may only contain A-Z, a-z, 0-9, '_' and '-'");
    }
    if !(8..=128).contains(&password.chars().count()) {
        add("password", "must be 8 to 128 characters");
    }
    if display_name.is_some_and(|d| d.chars().count() > 64) {
        add("display_name", "must be at most 64 characters");
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(fields)
    }
}

/// A player's the account, its sign-in methods and sign-ins (never a secret), for the export ([`crate::export`]).
pub const EXPORT: &[asobi_services::export::PlayerData] = &[
    asobi_services::export::PlayerData {
        section: "account",
        sql: "SELECT id, username, display_name, avatar_url, metadata AS metadata_json, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS has_password, banned_until, ban_reason, inserted_at, updated_at FROM players WHERE id = $1",
    },
    asobi_services::export::PlayerData {
        section: "identities",
        sql: "SELECT provider, provider_uid, inserted_at FROM player_identities WHERE player_id = $1 ORDER BY inserted_at, provider",
    },
    asobi_services::export::PlayerData {
        section: "guest_devices",
        sql: "SELECT device_id, claimed, revoked, inserted_at FROM guest_identities WHERE player_id = $1 ORDER BY inserted_at",
    },
    asobi_services::export::PlayerData {
        section: "sign_ins",
        sql: "SELECT id, inserted_at FROM token_families WHERE player_id = $1 ORDER BY inserted_at",
    },
];
