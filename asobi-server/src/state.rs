//! The state every handler and session shares: configuration, storage, services, the session
//! registry, and the node's lifecycle (ready, draining).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use asobi_services::chat::Chat;
use asobi_services::economy::Economy;
use asobi_services::leaderboards::Leaderboards;
use asobi_services::notifications::Notifications;
use asobi_services::saves::Saves;
use asobi_services::social::Social;
use asobi_services::storage::Storage;
use asobi_services::tournaments::Tournaments;

use crate::auth::Accounts;
use crate::config::Config;
use crate::db::Db;
use crate::matches::Matches;
use crate::matchmaker::Matchmaker;
use crate::ratelimit::RateLimiter;
use crate::session::Sessions;
use crate::worlds::Worlds;

/// The services a node runs, assembled by `server::start`.
pub struct Services {
    /// Accounts.
    pub accounts: Accounts,
    /// Rate limiters.
    pub limiter: Arc<RateLimiter>,
    /// Realtime sessions.
    pub sessions: Arc<Sessions>,
    /// Matches.
    pub matches: Arc<Matches>,
    /// The matchmaker.
    pub matchmaker: Arc<Matchmaker>,
    /// Worlds.
    pub worlds: Arc<Worlds>,
    /// Cloud saves.
    pub saves: Saves,
    /// Storage objects.
    pub storage: Storage,
    /// Leaderboards.
    pub leaderboards: Leaderboards,
    /// Wallets, store and inventories.
    pub economy: Economy,
    /// Tournaments.
    pub tournaments: Tournaments,
    /// Notifications.
    pub notifications: Notifications,
    /// Store receipt verifiers.
    pub iap: crate::iap::Stores,
    /// Friends and groups.
    pub social: Social,
    /// Chat and direct messages.
    pub chat: Chat,
    /// Parties.
    pub parties: asobi_services::parties::Parties,
    /// Chat channels joined on this node (shared with game modes' `game.chat.send`).
    pub channels: Arc<crate::chat::Channels>,
}

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    db: Db,
    accounts: Accounts,
    limiter: Arc<RateLimiter>,
    sessions: Arc<Sessions>,
    matches: Arc<Matches>,
    matchmaker: Arc<Matchmaker>,
    worlds: Arc<Worlds>,
    saves: Saves,
    storage: Storage,
    leaderboards: Leaderboards,
    economy: Economy,
    tournaments: Tournaments,
    notifications: Notifications,
    iap: crate::iap::Stores,
    social: Social,
    chat: Chat,
    parties: asobi_services::parties::Parties,
    channels: Arc<crate::chat::Channels>,
    presence: crate::presence::PresenceHub,
    ready: AtomicBool,
    draining: AtomicBool,
    started: Instant,
}

impl AppState {
    /// Assembles the state.
    pub fn new(config: Config, db: Db, services: Services) -> Self {
        let Services {
            accounts,
            limiter,
            sessions,
            matches,
            matchmaker,
            worlds,
            saves,
            storage,
            leaderboards,
            economy,
            tournaments,
            notifications,
            iap,
            social,
            chat,
            parties,
            channels,
        } = services;
        AppState(Arc::new(Inner {
            config,
            db,
            accounts,
            limiter,
            sessions,
            matches,
            matchmaker,
            worlds,
            saves,
            storage,
            leaderboards,
            economy,
            tournaments,
            notifications,
            iap,
            social,
            chat,
            parties,
            channels,
            presence: crate::presence::PresenceHub::default(),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            started: Instant::now(),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Storage.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The accounts service.
    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// Rate limiters.
    pub fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    /// Realtime sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    /// Matches.
    pub fn matches(&self) -> &Matches {
        &self.0.matches
    }

    /// Worlds.
    pub fn worlds(&self) -> &Worlds {
        &self.0.worlds
    }

    /// Cloud saves; None when `storage_enabled` is off.
    pub fn saves(&self) -> Option<&Saves> {
        self.0.config.storage_enabled.then_some(&self.0.saves)
    }

    /// Storage objects; None when `storage_enabled` is off.
    pub fn storage(&self) -> Option<&Storage> {
        self.0.config.storage_enabled.then_some(&self.0.storage)
    }

    /// Leaderboards.
    pub fn leaderboards(&self) -> &Leaderboards {
        &self.0.leaderboards
    }

    /// Wallets, store and inventories.
    pub fn economy(&self) -> &Economy {
        &self.0.economy
    }

    /// Tournaments.
    pub fn tournaments(&self) -> &Tournaments {
        &self.0.tournaments
    }

    /// Notifications.
    pub fn notifications(&self) -> &Notifications {
        &self.0.notifications
    }

    /// Store receipt verifiers.
    pub fn iap(&self) -> &crate::iap::Stores {
        &self.0.iap
    }

    /// Friends and groups.
    pub fn social(&self) -> &Social {
        &self.0.social
    }

    /// Chat and direct messages (stored).
    pub fn chat(&self) -> &Chat {
        &self.0.chat
    }

    /// Chat channels joined on this node.
    pub fn channels(&self) -> &crate::chat::Channels {
        &self.0.channels
    }

    /// Parties.
    pub fn parties(&self) -> &asobi_services::parties::Parties {
        &self.0.parties
    }

    /// Presence statuses and subscriptions on this node.
    pub fn presence(&self) -> &crate::presence::PresenceHub {
        &self.0.presence
    }

    /// The matchmaker.
    pub fn matchmaker(&self) -> &Arc<Matchmaker> {
        &self.0.matchmaker
    }

    /// Shared handles for background tasks.
    pub fn matches_arc(&self) -> Arc<Matches> {
        self.0.matches.clone()
    }

    /// Shared handle on the session registry.
    pub fn sessions_arc(&self) -> Arc<Sessions> {
        self.0.sessions.clone()
    }

    /// Marks the node ready (database migrated and answering).
    pub fn set_ready(&self) {
        self.0.ready.store(true, Ordering::SeqCst);
    }

    /// Starts the shutdown drain: `/ready` answers 503 from now on.
    pub fn begin_drain(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the node takes traffic.
    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst) && !self.is_draining()
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Time since start.
    pub fn uptime(&self) -> std::time::Duration {
        self.0.started.elapsed()
    }
}
