//! Starting and stopping a node: open and migrate storage, bind the listener, serve, and on
//! shutdown drain in order — `/ready` goes 503, the listener stops accepting, open sessions are
//! closed with 1001, and the process waits for them at most `shutdown_drain_ms`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::VarInt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{Accounts, AuthError};
use crate::config::Config;
use crate::db::{Db, DbError, redact};
use crate::game::MatchMode;
use crate::matches::Matches;
use crate::matchmaker::{Matchmaker, MatchmakerConfig};
use asobi_services::chat::Chat;
use asobi_services::clock::Clock;
use asobi_services::economy::Economy;
use asobi_services::leaderboards::{LeaderboardSettings, Leaderboards};
use asobi_services::notifications::Notifications;
use asobi_services::saves::Saves;
use asobi_services::signin::{Providers, SignInHook};
use asobi_services::social::Social;
use asobi_services::storage::Storage;
use asobi_services::tournaments::Tournaments;

use crate::ratelimit::RateLimiter;
use crate::session::{CloseReason, Sessions};
use crate::state::AppState;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The accounts service could not be built.
    #[error("accounts: {0}")]
    Accounts(#[from] AuthError),
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The game directory could not be loaded.
    #[error("cannot load the game: {0}")]
    Game(#[from] crate::lua::discovery::LoadError),
    /// The simulation runtime could not start.
    #[error("cannot start the simulation threads: {0}")]
    Runtime(#[source] std::io::Error),
    /// The QUIC gateway could not start (certificate, key or socket).
    #[error("QUIC gateway: {0}")]
    Quic(#[from] crate::gateway::tls::TlsError),
    /// The HTTPS certificate or key could not be used.
    #[error("HTTPS listener: {0}")]
    Https(#[source] crate::gateway::tls::TlsError),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A started node.
pub struct RunningServer {
    state: AppState,
    addr: SocketAddr,
    quic: Option<Quic>,
    stop_listener: Option<oneshot::Sender<()>>,
    serve: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

/// The QUIC gateway of a running node.
struct Quic {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    fingerprint: String,
}

/// Opens storage, migrates, binds and starts serving, with no Rust game modes.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    start_with_modes(config, Vec::new()).await
}

/// Like [`start`], with Rust match modes registered.
pub async fn start_with_modes(
    config: Config,
    modes: Vec<MatchMode>,
) -> Result<RunningServer, StartError> {
    start_with_game(config, modes, Vec::new()).await
}

/// Like [`start`], with Rust match and world modes registered.
pub async fn start_with_game(
    config: Config,
    modes: Vec<MatchMode>,
    world_modes: Vec<crate::worlds::WorldMode>,
) -> Result<RunningServer, StartError> {
    start_game(
        config,
        Game {
            modes,
            world_modes,
            ..Game::default()
        },
    )
    .await
}

/// What a Rust game brings to a server besides its configuration.
#[derive(Default)]
pub struct Game {
    /// Match modes.
    pub modes: Vec<MatchMode>,
    /// World modes.
    pub world_modes: Vec<crate::worlds::WorldMode>,
    /// The game's own sign-in, by provider name (`POST /auth/oauth` with that provider).
    pub sign_in: HashMap<String, Arc<dyn SignInHook>>,
}

impl Game {
    /// Adds a sign-in hook answering for `provider`.
    pub fn sign_in(mut self, provider: &str, hook: impl SignInHook) -> Self {
        self.sign_in.insert(provider.to_owned(), Arc::new(hook));
        self
    }
}

/// Like [`start`], with a Rust game's modes and sign-in hooks.
pub async fn start_game(config: Config, game: Game) -> Result<RunningServer, StartError> {
    let Game {
        modes,
        world_modes,
        mut sign_in,
    } = game;
    config
        .validate()
        .map_err(|e| StartError::Accounts(AuthError::Task(e.to_string())))?;
    // A Lua game's `auth.lua` hooks; a Rust hook of the same name wins.
    if let Some(dir) = &config.game_dir {
        let scripted = crate::lua::sign_in::load(dir, lua_settings(&config).memory_limit)
            .map_err(StartError::Config)?;
        for (name, hook) in scripted {
            sign_in.entry(name).or_insert(hook);
        }
    }
    let providers = Providers::new(&config.auth_providers, sign_in)
        .map_err(|e| StartError::Config(e.to_string()))?;
    let db = Db::connect(&config.database_url, config.database_max_connections).await?;
    db.migrate().await?;
    let limiter = Arc::new(RateLimiter::new(config.rate_limits.clone()));
    let accounts = Accounts::new(db.clone(), &config, limiter.clone())?.with_providers(providers);
    let addr = config.http_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    tracing::info!(database = %redact(&config.database_url), backend = db.backend().name(), "database migrated");
    let crate::lua::LoadedModes {
        matches: script_modes,
        worlds: script_worlds,
        scripts,
        declared,
    } = lua_modes(&config)?;
    let clock = Clock::system();
    let leaderboards = Leaderboards::new(
        db.clone(),
        clock.clone(),
        LeaderboardSettings {
            boards: leaderboard_boards(&config, &declared.leaderboards),
            client_submit: config.leaderboard_client_submit.clone(),
        },
    )
    .map_err(|e| StartError::Config(e.to_string()))?;
    let storage = Storage::new(db.clone(), clock.clone());
    let economy = Economy::new(db.clone(), clock.clone());
    let catalog = crate::economy_sync::CatalogSync::new(economy.clone(), config.economy.clone());
    catalog
        .start(&declared.economy)
        .await
        .map_err(StartError::Config)?;
    let mut tournament_defs = declared.tournaments.clone();
    tournament_defs.extend(config.tournaments.clone());
    check_grants(&economy, &tournament_defs, &config.iap.products).await?;
    let iap = crate::iap::Stores::from_config(&config.iap).map_err(StartError::Config)?;
    let sessions = Arc::new(Sessions::default());
    let notifications = Notifications::new(db.clone(), clock.clone())
        .with_notifier(crate::session::notification_push(sessions.clone()));
    let social = Social::new(db.clone(), clock.clone());
    let chat = Chat::new(db.clone(), clock.clone(), social.clone());
    let channels = Arc::new(crate::chat::Channels::default());
    let game_services = crate::game::GameServices::new(
        config.storage_enabled.then(|| storage.clone()),
        leaderboards.clone(),
        economy.clone(),
        notifications.clone(),
        (chat.clone(), channels.clone()),
        tokio::runtime::Handle::current(),
    );
    let tournaments = Tournaments::new(&economy, leaderboards.clone(), tournament_defs)
        .with_notifier(crate::session::notification_push(sessions.clone()));
    let sim_threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let matches = Arc::new(
        Matches::new(
            modes,
            sessions.clone(),
            db.clone(),
            sim_threads,
            Duration::from_millis(config.match_waiting_timeout_ms),
            Some(game_services.clone()),
        )
        .map_err(StartError::Runtime)?,
    );
    // Script modes never replace Rust modes of the same name (`set_script_modes`).
    matches.set_script_modes(script_modes);
    let matchmaker = Arc::new(Matchmaker::new(
        db.clone(),
        MatchmakerConfig {
            tick: Duration::from_millis(config.matchmaker_tick_ms),
            max_wait: Duration::from_millis(config.matchmaker_max_wait_ms),
            max_queue: config.matchmaker_max_queue,
        },
    ));
    let sim = matches
        .sim_handle()
        .ok_or_else(|| StartError::Runtime(std::io::Error::other("no simulation runtime")))?;
    let worlds = Arc::new(crate::worlds::Worlds::new(
        world_modes,
        sessions.clone(),
        db.clone(),
        sim,
        config.terrain_cache_mb.saturating_mul(1 << 20),
        Some(game_services.clone()),
    ));
    worlds.set_script_modes(script_worlds);
    worlds.set_chat(config.world_chat.clone());
    let mut background =
        vec![
            matchmaker
                .clone()
                .spawn_loop(matches.clone(), worlds.clone(), sessions.clone()),
        ];
    if let (Some(dir), true) = (&config.game_dir, lua_settings(&config).reload) {
        let watcher = crate::lua::watch_modes(
            dir.clone(),
            lua_settings(&config),
            scripts,
            matches.clone(),
            worlds.clone(),
            catalog,
        );
        background.push(watcher);
    }
    background.push(spawn_tournaments(
        tournaments.clone(),
        Duration::from_millis(config.tournament_tick_ms),
        usize::try_from(config.tournament_payout_batch).unwrap_or(usize::MAX),
    ));
    let services = crate::state::Services {
        saves: Saves::new(db.clone(), clock.clone()),
        storage,
        leaderboards,
        economy,
        tournaments,
        notifications,
        iap,
        parties: asobi_services::parties::Parties::new(db.clone(), clock.clone(), social.clone()),
        social,
        chat,
        channels,
        accounts,
        limiter,
        sessions,
        matches,
        matchmaker,
        worlds,
    };
    match services.worlds.restore_persistent().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(worlds = n, "persistent worlds restored"),
        Err(e) => tracing::error!(error = %e, "cannot restore persistent worlds"),
    }
    let state = AppState::new(config, db, services);
    background.push(crate::erasure::spawn_purge(
        state.clone(),
        Duration::from_secs(state.config().purge_interval_secs),
        i64::try_from(
            state
                .config()
                .guest_purge_after_days
                .saturating_mul(86_400_000),
        )
        .unwrap_or(i64::MAX),
    ));
    let quic = if state.config().quic {
        let config = state.config();
        let identity = crate::gateway::tls::identity(config)?;
        let fingerprint = identity.fingerprint.clone();
        let development = identity.development;
        let endpoint = crate::gateway::quic::bind(config.quic_addr, identity, config)?;
        let quic_addr = endpoint.local_addr().map_err(|source| StartError::Bind {
            addr: config.quic_addr,
            source,
        })?;
        if development {
            tracing::info!(addr = %quic_addr, %fingerprint, cert = %config.quic_dev_cert.display(), "QUIC listening with the development certificate; clients pin this fingerprint");
        } else {
            tracing::info!(addr = %quic_addr, %fingerprint, "QUIC listening");
        }
        background.push(tokio::spawn(crate::gateway::quic::serve(
            endpoint.clone(),
            state.clone(),
        )));
        Some(Quic {
            endpoint,
            addr: quic_addr,
            fingerprint,
        })
    } else {
        None
    };
    let router = crate::http::router(state.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let serve = match (&state.config().tls_cert, &state.config().tls_key) {
        (Some(cert), Some(key)) => {
            let tls = crate::http::tls::server_config(cert, key).map_err(StartError::Https)?;
            tokio::spawn(crate::http::tls::serve(listener, router, tls, stop_rx))
        }
        _ => {
            let app = router.into_make_service_with_connect_info::<SocketAddr>();
            tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop_rx.await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "http server failed");
                }
            })
        }
    };
    state.set_ready();
    Ok(RunningServer {
        state,
        addr,
        quic,
        stop_listener: Some(stop_tx),
        serve,
        background,
    })
}

impl RunningServer {
    /// The bound HTTP/WebSocket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound QUIC address, when the gateway is on.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic.as_ref().map(|q| q.addr)
    }

    /// The SHA-256 fingerprint of the QUIC certificate (lowercase hex), for pinning.
    pub fn quic_fingerprint(&self) -> Option<&str> {
        self.quic.as_ref().map(|q| q.fingerprint.as_str())
    }

    /// The shared state (for embedding and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Drains and stops the node within the configured bounds.
    pub async fn shutdown(mut self) {
        let config = self.state.config().clone();
        tracing::info!("shutting down: draining");
        self.state.begin_drain();
        tokio::time::sleep(Duration::from_millis(config.shutdown_grace_ms)).await;
        if let Some(stop) = self.stop_listener.take() {
            let _ = stop.send(());
        }
        if let Some(quic) = &self.quic {
            // No new connections; open ones are closed below with their sessions.
            quic.endpoint.set_server_config(None);
        }
        for task in &self.background {
            task.abort();
        }
        let sessions = self.state.sessions();
        let open = sessions.count();
        sessions.close_all(CloseReason::SHUTDOWN);
        let drain = Duration::from_millis(config.shutdown_drain_ms);
        let drained = tokio::time::timeout(drain, async {
            sessions.drained().await;
            let _ = (&mut self.serve).await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(left = sessions.count(), "drain timed out; closing anyway");
            self.serve.abort();
        }
        if let Some(quic) = &self.quic {
            let _ = tokio::time::timeout(drain, quic.endpoint.wait_idle()).await;
            quic.endpoint
                .close(VarInt::from_u32(1001), b"server_shutdown");
        }
        self.state.worlds().shutdown().await;
        self.state.db().close().await;
        tracing::info!(sessions_closed = open, "stopped");
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// The game directory's Lua modes (none without `--game`).
fn lua_modes(config: &Config) -> Result<crate::lua::LoadedModes, StartError> {
    let Some(dir) = &config.game_dir else {
        return Ok(crate::lua::LoadedModes {
            matches: Vec::new(),
            worlds: Vec::new(),
            scripts: Vec::new(),
            declared: Default::default(),
        });
    };
    let loaded = crate::lua::load_modes(dir, lua_settings(config))?;
    for m in &loaded.matches {
        tracing::info!(mode = %m.descriptor.name, "Lua match mode loaded");
    }
    for w in &loaded.worlds {
        tracing::info!(mode = %w.descriptor.name, "Lua world mode loaded");
    }
    Ok(loaded)
}

/// Every tournament reward and store product checked against the item definitions there
/// are, so none first fails when it is due.
async fn check_grants(
    economy: &Economy,
    tournaments: &crate::lua::discovery::TournamentDefs,
    products: &std::collections::BTreeMap<String, asobi_services::economy::Grants>,
) -> Result<(), StartError> {
    let check = economy
        .grant_checker()
        .await
        .map_err(|e| StartError::Config(format!("cannot read item definitions: {e}")))?;
    for (id, t) in tournaments {
        t.check_rewards(id, &check).map_err(StartError::Config)?;
    }
    for (id, g) in products {
        check(g).map_err(|e| StartError::Config(format!("iap.products.{id}: {e}")))?;
    }
    Ok(())
}

/// Creates tournament occurrences and settles ended ones every `tick`.
fn spawn_tournaments(tournaments: Tournaments, tick: Duration, batch: usize) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = tournaments.materialize().await {
                tracing::error!(error = %e, "tournament occurrences not created");
            }
            match tournaments.settle_due(batch).await {
                Ok(s) if s.paid > 0 || s.fixed > 0 => {
                    tracing::debug!(
                        fixed = s.fixed,
                        paid = s.paid,
                        completed = s.completed,
                        "tournaments settled"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "tournaments not settled"),
            }
        }
    })
}

/// The game's declared boards with the operator's `[leaderboards]` over them.
fn leaderboard_boards(
    config: &Config,
    game: &crate::lua::discovery::Boards,
) -> crate::lua::discovery::Boards {
    let mut boards = game.clone();
    boards.extend(config.leaderboards.clone());
    boards
}

fn lua_settings(config: &Config) -> crate::lua::match_mode::LuaSettings {
    crate::lua::match_mode::LuaSettings {
        reload: config.lua_reload == crate::config::ReloadMode::Auto,
        memory_limit: config.lua_memory_limit_mb << 20,
    }
}
