//! Erasing a player across every service: the one path the player's own erase
//! (`POST /players/me/erase`), an operator's (`DELETE /api/v1/ops/players/:id`) and the
//! idle-guest purge take. The account row goes first, in one conditional statement that
//! checks the consent again ([`Accounts::erase`](crate::auth::Accounts::erase)); saves,
//! storage, wallets, friendships and memberships go with it (foreign keys); what is keyed by
//! free-form ids (board entries and messages: bots score and talk too) is deleted after, and
//! a party or group the player held is handed on.

use std::time::Duration;

use asobi_services::chat::ChatError;
use asobi_services::leaderboards::LeaderboardError;
use asobi_services::parties::PartyError;
use asobi_services::social::SocialError;

use crate::auth::{AuthError, Consent, Purged};
use crate::error::ApiError;
use crate::session::CloseReason;
use crate::state::AppState;

/// Guests erased per purge round; the next round takes the rest.
const GUESTS_PER_ROUND: u32 = 500;

/// Why an erase stopped. The account row may already be gone when a later step fails; the
/// purge retries nothing (the row is what it selects by), so those steps log and go on.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// Deleting the account (not found, confirmation, database).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Deleting board entries.
    #[error(transparent)]
    Leaderboards(#[from] LeaderboardError),
    /// Deleting messages.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Handing on groups.
    #[error(transparent)]
    Social(#[from] SocialError),
    /// Handing on the party.
    #[error(transparent)]
    Party(#[from] PartyError),
}

impl From<EraseError> for ApiError {
    fn from(e: EraseError) -> Self {
        match e {
            EraseError::Auth(e) => e.into(),
            EraseError::Leaderboards(e) => e.into(),
            EraseError::Chat(e) => e.into(),
            EraseError::Social(e) => e.into(),
            EraseError::Party(e) => e.into(),
        }
    }
}

/// Erases `player` if `consent` holds; `Ok(false)` when an idle guest turned out not to be.
/// The player's sockets are closed with `revoked`.
pub async fn erase(app: &AppState, player: &str, consent: &Consent) -> Result<bool, EraseError> {
    // What the player belongs to, read before the rows go (foreign keys remove memberships).
    let party = app.parties().mine(player).await.ok().map(|p| p.id);
    let groups = app.social().groups_of(player).await?;
    if !app.accounts().erase(player, consent).await? {
        return Ok(false);
    }
    app.leaderboards().forget_player(player).await?;
    app.chat().forget_player(player).await?;
    app.social().after_erase(&groups).await?;
    if let Some(party) = party {
        let change = app.parties().after_erase(player, &party).await?;
        crate::parties::tell_change(app, &party, &change, "left").await;
    }
    app.sessions().close_player(player, CloseReason::REVOKED);
    tracing::info!(player, consent = kind(consent), "player erased");
    Ok(true)
}

fn kind(consent: &Consent) -> &'static str {
    match consent {
        Consent::Player { .. } => "player",
        Consent::Operator => "operator",
        Consent::IdleGuest { .. } => "idle_guest",
    }
}

/// One purge round at `now`: expired credentials, then unclaimed guests older than
/// `guest_ttl_ms` that nobody signs in as, each erased like any player.
pub async fn purge(app: &AppState, now: i64, guest_ttl_ms: i64) -> Result<Purged, EraseError> {
    let mut purged = app.accounts().purge_credentials(now).await?;
    let created_before = now.saturating_sub(guest_ttl_ms);
    let consent = Consent::IdleGuest { created_before };
    for id in app
        .accounts()
        .idle_guests(created_before, GUESTS_PER_ROUND)
        .await?
    {
        match erase(app, &id, &consent).await {
            Ok(true) => purged.guests += 1,
            Ok(false) | Err(EraseError::Auth(AuthError::PlayerNotFound)) => {}
            Err(e) => tracing::error!(player = %id, error = %e, "erasing an idle guest failed"),
        }
    }
    Ok(purged)
}

/// Runs [`purge`] every `every` until the task is aborted.
pub fn spawn_purge(
    app: AppState,
    every: Duration,
    guest_ttl_ms: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match purge(&app, crate::time::now_ms(), guest_ttl_ms).await {
                Ok(p) if p == Purged::default() => {}
                Ok(p) => tracing::info!(?p, "expired credentials and idle guests purged"),
                Err(e) => tracing::error!(error = %e, "purge failed"),
            }
        }
    })
}
