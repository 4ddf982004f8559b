//! Server configuration: an `asobi.toml` file, then `ASOBI_*` environment variables, then
//! command-line flags, each layer overriding the one before.
//!
//! [`Config`] is the merged result every other module reads. [`Cli`] is the clap surface; each
//! flag also reads its environment variable (clap's `env`), so `asobi-server --help` documents
//! both. The file uses the same names as the flags, with `_` for `-`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// What the parser found.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid setting `{key}`: {why}")]
    Invalid {
        /// Setting name.
        key: &'static str,
        /// Why.
        why: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Who may create new accounts (`rest.md` §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Anyone.
    Open,
    /// Only provider sign-in creates players; password registration is refused.
    OauthOnly,
    /// No new players at all.
    Closed,
}

/// Lua hot reload (`ASOBI_LUA_RELOAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReloadMode {
    /// Scripts are reloaded into running matches when their files change.
    Auto,
    /// No reloading.
    Off,
}

/// A rate limit: at most `count` requests per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Limit {
    /// Requests allowed per window.
    pub count: u32,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

impl Limit {
    /// `count` per `window_ms`.
    pub const fn new(count: u32, window_ms: u64) -> Self {
        Limit { count, window_ms }
    }

    /// The window as a duration.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }
}

/// The REST rate-limit buckets of `rest.md` §1.3 and the WebSocket limits of
/// `websocket.md` §5.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// `POST /auth/register`.
    pub register: Limit,
    /// Other `/auth/*` routes.
    pub auth: Limit,
    /// `POST /players/me/erase`.
    pub erase: Limit,
    /// `/iap/*`.
    pub iap: Limit,
    /// Every other route.
    pub api: Limit,
    /// Guest creation, node-wide.
    pub guest_global: Limit,
    /// WebSocket upgrades per IP.
    pub ws_connect: Limit,
    /// Frames per connection (a fixed window).
    pub ws_messages: Limit,
    /// Match and world joins per player.
    pub join: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            register: Limit::new(3, 1000),
            auth: Limit::new(5, 1000),
            erase: Limit::new(3, 60_000),
            iap: Limit::new(10, 1000),
            api: Limit::new(300, 1000),
            guest_global: Limit::new(100, 1000),
            ws_connect: Limit::new(60, 1000),
            ws_messages: Limit::new(60, 1000),
            join: Limit::new(10, 60_000),
        }
    }
}

/// argon2id cost parameters for password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashing {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        // OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
        PasswordHashing {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The merged configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP, REST and WebSocket listen address.
    pub http_addr: SocketAddr,
    /// Whether the QUIC gateway (the native binary path) listens.
    pub quic: bool,
    /// QUIC (UDP) listen address.
    pub quic_addr: SocketAddr,
    /// PEM certificate chain for QUIC; with `quic_key`. Without both, a development
    /// certificate is used (see `quic_dev_cert`).
    pub quic_cert: Option<PathBuf>,
    /// PEM private key for `quic_cert`.
    pub quic_key: Option<PathBuf>,
    /// Where the self-signed development certificate and key are kept (PEM, created on
    /// first start). Clients pin its SHA-256 fingerprint, which the server logs.
    pub quic_dev_cert: PathBuf,
    /// HTTPS on the HTTP listener: PEM certificate chain (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// HTTPS on the HTTP listener: PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Database URL: `sqlite://path` (created if missing) or `postgres://…`.
    pub database_url: String,
    /// Connection pool size.
    pub database_max_connections: u32,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log_filter: String,
    /// Allowed CORS origins; empty renders an empty allow-origin (browsers refuse).
    pub cors_origins: Vec<String>,
    /// Allowed WebSocket `Origin`s; empty lets every origin in.
    pub ws_allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (addresses or
    /// CIDR blocks); none by default.
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// The header trusted proxies name the client in.
    pub forwarded_header: crate::forwarded::ForwardedHeader,
    /// Largest accepted REST body.
    pub max_body_bytes: usize,
    /// Access token lifetime.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_secs: u64,
    /// Who may create accounts.
    pub registration: Registration,
    /// Whether guest sign-in is on (needs `guest_pepper`).
    pub guest_auth: bool,
    /// Server secret mixed into guest secret hashes; at least 32 bytes.
    pub guest_pepper: Option<String>,
    /// The operator's bearer secret for `/api/v1/ops/*` (at least 32 bytes); without it
    /// every ops route answers 403.
    pub ops_secret: Option<String>,
    /// Ceiling on unclaimed guest accounts.
    pub guest_max_unclaimed: u64,
    /// Unclaimed guest accounts older than this are deleted once nobody has signed in as
    /// them within a refresh token's lifetime (no token of theirs is left).
    pub guest_purge_after_days: u64,
    /// How often expired tokens and idle guests are purged.
    pub purge_interval_secs: u64,
    /// Password hash cost.
    pub password_hashing: PasswordHashing,
    /// Time a socket has to send `session.connect`.
    pub ws_idle_auth_timeout_ms: u64,
    /// Close a socket silent for this long.
    pub ws_idle_timeout_ms: u64,
    /// Outbound frames queued per socket before the client counts as stalled.
    pub ws_outbound_queue: usize,
    /// Realtime sockets (WebSocket and QUIC) one player may have authenticated at once.
    pub max_sockets_per_player: usize,
    /// Realtime sockets open at once from one client address (an IPv6 /64).
    pub max_sockets_per_address: usize,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Static files served at `/` (a game's web page).
    pub static_dir: Option<PathBuf>,
    /// A game directory with Lua modes (`config.lua` or `match.lua`).
    pub game_dir: Option<PathBuf>,
    /// Lua hot reload.
    pub lua_reload: ReloadMode,
    /// Memory cap per Lua VM, MiB.
    pub lua_memory_limit_mb: usize,
    /// Longest string (key or value) a client may put in a match or world input, bytes:
    /// what a script's string functions are ever handed from a player.
    pub max_input_string_bytes: usize,
    /// Bound of the node's terrain chunk cache, MiB.
    pub terrain_cache_mb: usize,
    /// A match that does not reach `min_players` within this finishes with `timeout`.
    pub match_waiting_timeout_ms: u64,
    /// Time between matchmaking passes.
    pub matchmaker_tick_ms: u64,
    /// Tickets older than this expire.
    pub matchmaker_max_wait_ms: u64,
    /// Node-wide ticket cap.
    pub matchmaker_max_queue: u64,
    /// On shutdown, how long `/ready` answers 503 before listeners close.
    pub shutdown_grace_ms: u64,
    /// On shutdown, how long open sessions get to close before the process exits.
    pub shutdown_drain_ms: u64,
    /// Cloud saves and storage (`/saves`, `/storage`, Lua `game.storage`); off → 404s.
    pub storage_enabled: bool,
    /// Boards players may submit their own scores to over REST: board ids, or `all`.
    pub leaderboard_client_submit: asobi_services::leaderboards::ClientSubmit,
    /// Declared boards (`[leaderboards.<id>]`): order, operator, reset schedule, limits.
    /// A game's `config.lua` may declare boards too; these win.
    pub leaderboards: std::collections::BTreeMap<String, asobi_services::leaderboards::BoardConfig>,
    /// Item definitions and store listings (`[economy.items.<id>]`,
    /// `[economy.listings.<id>]`), over the ones the game's `config.lua` declares.
    pub economy: asobi_services::economy::Catalog,
    /// Tournaments (`[tournaments.<id>]`), over the ones the game declares.
    pub tournaments: std::collections::BTreeMap<String, asobi_services::tournaments::TournamentDef>,
    /// How often tournament occurrences are created and ended ones settled.
    pub tournament_tick_ms: u64,
    /// Payout rows one settling pass pays (the rest wait for the next pass).
    pub tournament_payout_batch: u64,
    /// Store receipts (`[iap]`).
    pub iap: IapConfig,
    /// `global:<name>` chat channels players may use (the original declares them per mode,
    /// operator config only).
    pub chat_global_channels: Vec<String>,
    /// Chat channels a world mode's players are put in and taken out of as they join,
    /// cross zones and leave (`[world_chat.<mode>]`, `worlds.md` §12; operator config only).
    pub world_chat: std::collections::BTreeMap<String, WorldChat>,
    /// Sign-in providers for `POST /auth/oauth` and `/auth/link` (`[auth_providers.<name>]`):
    /// `google`, `apple`, `microsoft`, `discord` need `client_ids`; `steam` needs `app_id`
    /// and `web_api_key`; any other name is an OIDC issuer (`issuer` or `discovery_url`) or,
    /// with `kind = "custom"`, the game's own sign-in hook.
    pub auth_providers: std::collections::BTreeMap<String, asobi_services::signin::ProviderConfig>,
}

/// One world mode's automatic chat channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldChat {
    /// `world:<world_id>`.
    pub world: bool,
    /// `zone:<world_id>:<zx>,<zy>`, following the player's zone.
    pub zone: bool,
    /// `prox:<world_id>:<x>,<y>` for every zone within this many zones of the player's
    /// (0 = none, at most [`WorldChat::MAX_PROXIMITY`]), following the player's zone.
    pub proximity: u32,
    /// `global:<name>` for each name (also usable by anyone, as `chat_global_channels`).
    pub global: Vec<String>,
}

impl WorldChat {
    /// The widest proximity: 25 `prox:` channels, leaving room in a connection's 32.
    pub const MAX_PROXIMITY: u32 = 2;

    /// The channels a player in `world`, standing in `zone` (if any), belongs to.
    pub fn channels(&self, world: &str, zone: Option<(i32, i32)>) -> Vec<String> {
        let mut ids = Vec::new();
        if self.world {
            ids.push(format!("world:{world}"));
        }
        if let Some((x, y)) = zone {
            if self.zone {
                ids.push(format!("zone:{world}:{x},{y}"));
            }
            let n = self.proximity.min(Self::MAX_PROXIMITY) as i32;
            for dy in -n..=n {
                for dx in -n..=n {
                    ids.push(format!(
                        "prox:{world}:{},{}",
                        x.saturating_add(dx),
                        y.saturating_add(dy)
                    ));
                }
            }
        }
        ids.extend(self.global.iter().map(|g| format!("global:{g}")));
        ids
    }
}

/// Store receipt verification (`POST /iap/apple`, `POST /iap/google`). A store whose
/// settings are absent answers `iap.verification_failed` with reason `not_configured`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IapConfig {
    /// PEM file of the root StoreKit 2 chains must lead to (Apple Root CA - G3, from
    /// apple.com/certificateauthority; a test root in tests).
    pub apple_root: Option<PathBuf>,
    /// The app's bundle id; transactions for another app are refused.
    pub apple_bundle_id: Option<String>,
    /// StoreKit environments whose transactions are accepted (`Production`, `Sandbox`,
    /// `Xcode`). Production only by default: a TestFlight purchase costs nothing.
    pub apple_environments: Vec<String>,
    /// The Google service account's JSON key file.
    pub google_service_account: Option<PathBuf>,
    /// The Android package name.
    pub google_package_name: Option<String>,
    /// Google Play Developer API base URL.
    pub google_api_base: String,
    /// What a verified purchase of each product id grants (`[iap.products."<id>"]`
    /// `currencies = { gems = 100 }`, `items = { sword = 1 }`), in the claim's transaction.
    pub products: std::collections::BTreeMap<String, asobi_services::economy::Grants>,
}

impl Default for IapConfig {
    fn default() -> Self {
        IapConfig {
            apple_root: None,
            apple_bundle_id: None,
            apple_environments: vec!["Production".into()],
            google_service_account: None,
            google_package_name: None,
            google_api_base: "https://androidpublisher.googleapis.com".into(),
            products: Default::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            quic: true,
            quic_addr: SocketAddr::from(([0, 0, 0, 0], 8443)),
            quic_cert: None,
            quic_key: None,
            quic_dev_cert: PathBuf::from("asobi-dev-cert.pem"),
            tls_cert: None,
            tls_key: None,
            database_url: "sqlite://asobi.db".into(),
            database_max_connections: 16,
            log_format: LogFormat::Human,
            log_filter: "info".into(),
            cors_origins: Vec::new(),
            ws_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            forwarded_header: crate::forwarded::ForwardedHeader::default(),
            max_body_bytes: 1_048_576,
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            registration: Registration::Open,
            guest_auth: false,
            guest_pepper: None,
            ops_secret: None,
            guest_max_unclaimed: 100_000,
            guest_purge_after_days: 90,
            purge_interval_secs: 3600,
            password_hashing: PasswordHashing::default(),
            ws_idle_auth_timeout_ms: 10_000,
            ws_idle_timeout_ms: 60_000,
            ws_outbound_queue: 1024,
            max_sockets_per_player: 8,
            max_sockets_per_address: 1024,
            rate_limits: RateLimits::default(),
            static_dir: None,
            game_dir: None,
            lua_reload: ReloadMode::Auto,
            lua_memory_limit_mb: 64,
            max_input_string_bytes: 4096,
            terrain_cache_mb: 64,
            match_waiting_timeout_ms: 60_000,
            matchmaker_tick_ms: 1000,
            matchmaker_max_wait_ms: 60_000,
            matchmaker_max_queue: 10_000,
            shutdown_grace_ms: 0,
            shutdown_drain_ms: 5_000,
            storage_enabled: true,
            leaderboard_client_submit: Default::default(),
            leaderboards: Default::default(),
            economy: Default::default(),
            tournaments: Default::default(),
            tournament_tick_ms: 1000,
            tournament_payout_batch: 500,
            iap: IapConfig::default(),
            chat_global_channels: Vec::new(),
            world_chat: Default::default(),
            auth_providers: Default::default(),
        }
    }
}

/// `asobi-server`: an authoritative multiplayer game server.
///
/// Settings come from `asobi.toml` (or `--config`), then `ASOBI_*` environment variables,
/// then these flags; later sources win.
#[derive(Debug, Default, Parser)]
#[command(
    name = "asobi-server",
    version,
    about,
    long_about = None,
    after_help = "Settings only in asobi.toml:\n  \
        rate_limits.{register,auth,erase,iap,api,guest_global,ws_connect,ws_messages,join} = { count = N, window_ms = MS }\n  \
        ws_outbound_queue = N        frames queued per socket before it counts as stalled [1024]\n  \
        max_sockets_per_player = N   realtime sockets one player may hold [8]\n  \
        max_sockets_per_address = N  realtime sockets open from one address [1024]\n  \
        guest_max_unclaimed = N      ceiling on unclaimed guest accounts [100000]\n  \
        guest_purge_after_days = N   unclaimed guests older than this, with no live token, are deleted [90]\n  \
        purge_interval_secs = N      how often expired tokens and idle guests are purged [3600]\n  \
        password_hashing = { memory_kib, iterations, parallelism }  (same as the --argon2-* flags)\n  \
        [leaderboards.<id>] order = \"desc\"|\"asc\", operator = \"set\"|\"best\"|\"increment\"|\"decrement\",\n    \
        reset = \"<cron, UTC>\", client_submit = BOOL, max_entries = N\n  \
        [economy.items.<id>] name, description, stackable = BOOL, max_stack = N, metadata = {…}\n  \
        [economy.listings.<id>] item = \"<item id>\", quantity = N, currency, price = N, active = BOOL,\n    \
        valid_from = MS, valid_until = MS, metadata = {…}\n  \
        [tournaments.<id>] name, leaderboard, start_at = MS, end_at = MS | schedule = \"<cron>\",\n    \
        duration_secs = N, max_entries = N, entry_fee = N, entry_currency, rewards = [{ ranks = [1, 3],\n    \
        currencies = { gold = 100 }, items = { trophy = 1 } }]\n  \
        tournament_tick_ms = MS [1000], tournament_payout_batch = N [500]\n  \
        chat_global_channels = [\"lobby\", …]  the global:<name> chat channels\n  \
        [world_chat.<mode>] world = BOOL, zone = BOOL, proximity = 0..2, global = [\"name\", …]  channels a world's players are kept in\n  \
        [iap] apple_root = PEM, apple_bundle_id, apple_environments = [\"Production\"], google_service_account = JSON, google_package_name,\n    \
        google_api_base; [iap.products.\"<product id>\"] currencies = {…}, items = {…}\n  \
        [auth_providers.<name>] client_ids = [\"…\"] (google, apple, microsoft, discord; any other name\n    \
        with issuer = URL or discovery_url = URL), app_id + web_api_key (steam), kind = \"custom\" (a game hook),\n    \
        enabled, leeway_secs [60], key_refresh_min_secs [60], key_max_age_secs [3600], api_url, discovery_url\n\n\
        The original Asobi's deployment settings are accepted: ASOBI_PORT, ASOBI_DB_HOST, \
        ASOBI_DB_PORT, ASOBI_DB_NAME, ASOBI_DB_USER, ASOBI_DB_PASSWORD, ASOBI_CORS_ORIGINS, \
        and the game at /app/game. ASOBI_HTTP_ADDR and ASOBI_DATABASE_URL win when both are set.\n\
        Logs go to stderr; stdout carries only the start-up lines."
)]
pub struct Cli {
    /// Config file. Default: ./asobi.toml when it exists.
    #[arg(long, env = "ASOBI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTP/WebSocket listen address [default: 0.0.0.0:8080].
    #[arg(long, env = "ASOBI_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Serve the QUIC native path [default: true].
    #[arg(long, env = "ASOBI_QUIC", value_name = "BOOL")]
    pub quic: Option<bool>,
    /// QUIC (UDP) listen address [default: 0.0.0.0:8443].
    #[arg(long, env = "ASOBI_QUIC_ADDR", value_name = "ADDR")]
    pub quic_addr: Option<SocketAddr>,
    /// PEM certificate chain for QUIC (production; with --quic-key).
    #[arg(
        long,
        env = "ASOBI_QUIC_CERT",
        value_name = "FILE",
        requires = "quic_key"
    )]
    pub quic_cert: Option<PathBuf>,
    /// PEM private key for --quic-cert.
    #[arg(
        long,
        env = "ASOBI_QUIC_KEY",
        value_name = "FILE",
        requires = "quic_cert"
    )]
    pub quic_key: Option<PathBuf>,
    /// PEM certificate chain for HTTPS and wss:// on the HTTP listener (with --tls-key);
    /// without it the listener speaks plain HTTP (put a TLS proxy in front in production).
    #[arg(
        long,
        env = "ASOBI_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "ASOBI_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Development certificate file, created on first start [default: asobi-dev-cert.pem].
    #[arg(long, env = "ASOBI_QUIC_DEV_CERT", value_name = "FILE")]
    pub quic_dev_cert: Option<PathBuf>,
    /// Database URL: sqlite://FILE (created if missing) or postgres://… [default: sqlite://asobi.db].
    #[arg(long, env = "ASOBI_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// HTTP port (the original Asobi's setting; --http-addr / ASOBI_HTTP_ADDR win).
    #[arg(long, env = "ASOBI_PORT", value_name = "PORT")]
    pub port: Option<u16>,
    /// PostgreSQL host (the original Asobi's ASOBI_DB_* settings make a postgres:// URL;
    /// --database-url / ASOBI_DATABASE_URL win).
    #[arg(long, env = "ASOBI_DB_HOST", value_name = "HOST")]
    pub db_host: Option<String>,
    /// PostgreSQL port, with --db-host [default: 5432].
    #[arg(long, env = "ASOBI_DB_PORT", value_name = "PORT")]
    pub db_port: Option<u16>,
    /// PostgreSQL database name, with --db-host [default: asobi].
    #[arg(long, env = "ASOBI_DB_NAME", value_name = "NAME")]
    pub db_name: Option<String>,
    /// PostgreSQL user, with --db-host [default: postgres].
    #[arg(long, env = "ASOBI_DB_USER", value_name = "USER")]
    pub db_user: Option<String>,
    /// PostgreSQL password, with --db-host (none by default).
    #[arg(
        long,
        env = "ASOBI_DB_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub db_password: Option<String>,
    /// Database connection pool size [default: 16].
    #[arg(long, env = "ASOBI_DATABASE_MAX_CONNECTIONS", value_name = "N")]
    pub database_max_connections: Option<u32>,
    /// Log format [default: human].
    #[arg(long, env = "ASOBI_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. "info" or "asobi_server=debug" [default: info]; RUST_LOG is read
    /// when this is not given.
    #[arg(long, env = "ASOBI_LOG", value_name = "FILTER")]
    pub log_filter: Option<String>,
    /// RUST_LOG, the usual tracing filter variable (ASOBI_LOG / --log-filter win).
    #[arg(long = "rust-log", env = "RUST_LOG", hide = true)]
    pub rust_log: Option<String>,
    /// Allowed CORS origins, comma-separated (none by default).
    #[arg(
        long,
        env = "ASOBI_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub cors_origins: Option<Vec<String>>,
    /// Allowed WebSocket Origins, comma-separated (all by default).
    #[arg(
        long,
        env = "ASOBI_WS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    pub ws_allowed_origins: Option<Vec<String>>,
    /// Load balancers whose X-Forwarded-For / Forwarded headers name the client, comma-separated
    /// addresses or CIDR blocks (none by default: the headers are ignored).
    #[arg(
        long,
        env = "ASOBI_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDRS"
    )]
    pub trusted_proxies: Option<Vec<crate::forwarded::Cidr>>,
    /// The header trusted proxies name the client in [default: x-forwarded-for].
    #[arg(long, env = "ASOBI_FORWARDED_HEADER", value_enum, ignore_case = true)]
    pub forwarded_header: Option<crate::forwarded::ForwardedHeader>,
    /// Largest REST body in bytes [default: 1048576].
    #[arg(long, env = "ASOBI_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Access token lifetime in seconds [default: 3600].
    #[arg(long, env = "ASOBI_ACCESS_TOKEN_TTL_SECS", value_name = "SECS")]
    pub access_token_ttl_secs: Option<u64>,
    /// Refresh token lifetime in seconds [default: 2592000].
    #[arg(long, env = "ASOBI_REFRESH_TOKEN_TTL_SECS", value_name = "SECS")]
    pub refresh_token_ttl_secs: Option<u64>,
    /// Who may create accounts [default: open].
    #[arg(long, env = "ASOBI_REGISTRATION", value_enum)]
    pub registration: Option<Registration>,
    /// Enable guest sign-in (needs --guest-pepper) [default: false].
    #[arg(long, env = "ASOBI_GUEST_AUTH", value_name = "BOOL")]
    pub guest_auth: Option<bool>,
    /// Secret of at least 32 bytes mixed into guest secret hashes.
    #[arg(
        long,
        env = "ASOBI_GUEST_PEPPER",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub guest_pepper: Option<String>,
    /// Operator bearer secret for /api/v1/ops/* (at least 32 bytes).
    #[arg(
        long,
        env = "ASOBI_OPS_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub ops_secret: Option<String>,
    /// argon2id memory cost in KiB [default: 19456].
    #[arg(long, env = "ASOBI_ARGON2_MEMORY_KIB", value_name = "KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// argon2id iterations [default: 2].
    #[arg(long, env = "ASOBI_ARGON2_ITERATIONS", value_name = "N")]
    pub argon2_iterations: Option<u32>,
    /// argon2id lanes [default: 1].
    #[arg(long, env = "ASOBI_ARGON2_PARALLELISM", value_name = "N")]
    pub argon2_parallelism: Option<u32>,
    /// Milliseconds a socket has to authenticate [default: 10000].
    #[arg(long, env = "ASOBI_WS_IDLE_AUTH_TIMEOUT_MS", value_name = "MS")]
    pub ws_idle_auth_timeout_ms: Option<u64>,
    /// Milliseconds of silence before a socket is closed [default: 60000].
    #[arg(long, env = "ASOBI_WS_IDLE_TIMEOUT_MS", value_name = "MS")]
    pub ws_idle_timeout_ms: Option<u64>,
    /// Directory of static files served at / (a game's web page).
    #[arg(long, env = "ASOBI_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Game directory with Lua modes (config.lua manifest or a lone match.lua) [default:
    /// /app/game when that folder exists, as in the original Asobi's images].
    #[arg(long = "game", env = "ASOBI_GAME_DIR", value_name = "DIR")]
    pub game_dir: Option<PathBuf>,
    /// Reload Lua scripts into running matches when they change [default: auto].
    #[arg(long, env = "ASOBI_LUA_RELOAD", value_enum, ignore_case = true)]
    pub lua_reload: Option<ReloadMode>,
    /// Memory cap per Lua VM in MiB [default: 64].
    #[arg(long, env = "ASOBI_LUA_MEMORY_LIMIT_MB", value_name = "MIB")]
    pub lua_memory_limit_mb: Option<usize>,
    /// Longest string a client may put in a match or world input, bytes [default: 4096].
    #[arg(long, env = "ASOBI_MAX_INPUT_STRING_BYTES", value_name = "BYTES")]
    pub max_input_string_bytes: Option<usize>,
    /// Bound of the node's terrain chunk cache in MiB [default: 64].
    #[arg(long, env = "ASOBI_TERRAIN_CACHE_MB", value_name = "MIB")]
    pub terrain_cache_mb: Option<usize>,
    /// Milliseconds a match may wait for min_players before it finishes [default: 60000].
    #[arg(long, env = "ASOBI_MATCH_WAITING_TIMEOUT_MS", value_name = "MS")]
    pub match_waiting_timeout_ms: Option<u64>,
    /// Milliseconds between matchmaking passes [default: 1000].
    #[arg(long, env = "ASOBI_MATCHMAKER_TICK_MS", value_name = "MS")]
    pub matchmaker_tick_ms: Option<u64>,
    /// Milliseconds before a matchmaker ticket expires [default: 60000].
    #[arg(long, env = "ASOBI_MATCHMAKER_MAX_WAIT_MS", value_name = "MS")]
    pub matchmaker_max_wait_ms: Option<u64>,
    /// Most tickets queued on this node [default: 10000].
    #[arg(long, env = "ASOBI_MATCHMAKER_MAX_QUEUE", value_name = "N")]
    pub matchmaker_max_queue: Option<u64>,
    /// Milliseconds /ready answers 503 before listeners close on shutdown [default: 0].
    #[arg(long, env = "ASOBI_SHUTDOWN_GRACE_MS", value_name = "MS")]
    pub shutdown_grace_ms: Option<u64>,
    /// Milliseconds open sessions get to close on shutdown [default: 5000].
    #[arg(long, env = "ASOBI_SHUTDOWN_DRAIN_MS", value_name = "MS")]
    pub shutdown_drain_ms: Option<u64>,
    /// Cloud saves and storage [default: true].
    #[arg(long, env = "ASOBI_STORAGE_ENABLED", value_name = "BOOL")]
    pub storage_enabled: Option<bool>,
    /// Boards open to client score submits: comma-separated ids, or "all" [default: none].
    #[arg(long, env = "ASOBI_LEADERBOARD_CLIENT_SUBMIT", value_name = "IDS")]
    pub leaderboard_client_submit: Option<String>,
}

/// Where the original Asobi's container images keep the game's scripts.
const ASOBI_IMAGE_GAME_DIR: &str = "/app/game";

/// `postgres://user[:password]@host:port/name`, the user and password percent-encoded.
fn postgres_url(host: &str, port: u16, name: &str, user: &str, password: Option<&str>) -> String {
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let auth = match password {
        Some(p) => format!("{}:{}", encode(user), encode(p)),
        None => encode(user),
    };
    format!("postgres://{auth}@{host}:{port}/{}", encode(name))
}

impl Config {
    /// Builds the configuration from the process's flags and environment.
    pub fn from_env_and_args() -> Result<Config, ConfigError> {
        Config::from_cli(Cli::parse())
    }

    /// Builds the configuration from parsed flags (which already carry the environment).
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None if std::path::Path::new("asobi.toml").exists() => {
                Config::from_file(std::path::Path::new("asobi.toml"))?
            }
            None => Config::default(),
        };
        config.apply(cli);
        if config.game_dir.is_none() && std::path::Path::new(ASOBI_IMAGE_GAME_DIR).is_dir() {
            config.game_dir = Some(PathBuf::from(ASOBI_IMAGE_GAME_DIR));
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file; missing keys take their defaults.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    fn apply(&mut self, cli: Cli) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        if let Some(port) = cli.port {
            self.http_addr.set_port(port);
        }
        set(&mut self.http_addr, cli.http_addr);
        set(&mut self.quic, cli.quic);
        set(&mut self.quic_addr, cli.quic_addr);
        if cli.quic_cert.is_some() {
            self.quic_cert = cli.quic_cert;
            self.quic_key = cli.quic_key;
        }
        set(&mut self.quic_dev_cert, cli.quic_dev_cert);
        if cli.tls_cert.is_some() {
            self.tls_cert = cli.tls_cert;
            self.tls_key = cli.tls_key;
        }
        if let Some(host) = &cli.db_host {
            self.database_url = postgres_url(
                host,
                cli.db_port.unwrap_or(5432),
                cli.db_name.as_deref().unwrap_or("asobi"),
                cli.db_user.as_deref().unwrap_or("postgres"),
                cli.db_password.as_deref(),
            );
        }
        set(&mut self.database_url, cli.database_url);
        set(
            &mut self.database_max_connections,
            cli.database_max_connections,
        );
        set(&mut self.log_format, cli.log_format);
        set(&mut self.log_filter, cli.rust_log);
        set(&mut self.log_filter, cli.log_filter);
        set(&mut self.cors_origins, cli.cors_origins);
        set(&mut self.ws_allowed_origins, cli.ws_allowed_origins);
        set(&mut self.trusted_proxies, cli.trusted_proxies);
        set(&mut self.forwarded_header, cli.forwarded_header);
        set(&mut self.max_body_bytes, cli.max_body_bytes);
        set(&mut self.access_token_ttl_secs, cli.access_token_ttl_secs);
        set(&mut self.refresh_token_ttl_secs, cli.refresh_token_ttl_secs);
        set(&mut self.registration, cli.registration);
        set(&mut self.guest_auth, cli.guest_auth);
        if cli.guest_pepper.is_some() {
            self.guest_pepper = cli.guest_pepper;
        }
        if cli.ops_secret.is_some() {
            self.ops_secret = cli.ops_secret;
        }
        set(&mut self.password_hashing.memory_kib, cli.argon2_memory_kib);
        set(&mut self.password_hashing.iterations, cli.argon2_iterations);
        set(
            &mut self.password_hashing.parallelism,
            cli.argon2_parallelism,
        );
        set(
            &mut self.ws_idle_auth_timeout_ms,
            cli.ws_idle_auth_timeout_ms,
        );
        set(&mut self.ws_idle_timeout_ms, cli.ws_idle_timeout_ms);
        if cli.static_dir.is_some() {
            self.static_dir = cli.static_dir;
        }
        if cli.game_dir.is_some() {
            self.game_dir = cli.game_dir;
        }
        set(&mut self.lua_reload, cli.lua_reload);
        set(&mut self.lua_memory_limit_mb, cli.lua_memory_limit_mb);
        set(&mut self.max_input_string_bytes, cli.max_input_string_bytes);
        set(&mut self.terrain_cache_mb, cli.terrain_cache_mb);
        set(
            &mut self.match_waiting_timeout_ms,
            cli.match_waiting_timeout_ms,
        );
        set(&mut self.matchmaker_tick_ms, cli.matchmaker_tick_ms);
        set(&mut self.matchmaker_max_wait_ms, cli.matchmaker_max_wait_ms);
        set(&mut self.matchmaker_max_queue, cli.matchmaker_max_queue);
        set(&mut self.shutdown_grace_ms, cli.shutdown_grace_ms);
        set(&mut self.shutdown_drain_ms, cli.shutdown_drain_ms);
        set(&mut self.storage_enabled, cli.storage_enabled);
        if let Some(ids) = cli.leaderboard_client_submit {
            self.leaderboard_client_submit = asobi_services::leaderboards::ClientSubmit::new(
                asobi_services::leaderboards::config::split_list(&ids),
            );
        }
    }

    /// Checks ranges that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, why: &str| {
            Err(ConfigError::Invalid {
                key,
                why: why.to_owned(),
            })
        };
        if self.guest_auth && self.guest_pepper.as_ref().is_none_or(|p| p.len() < 32) {
            return invalid(
                "guest_pepper",
                "guest_auth needs a pepper of at least 32 bytes",
            );
        }
        if self.ops_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return invalid("ops_secret", "must be at least 32 bytes");
        }
        if self.ws_idle_auth_timeout_ms == 0 {
            return invalid("ws_idle_auth_timeout_ms", "must be positive");
        }
        if self.quic_cert.is_some() != self.quic_key.is_some() {
            return invalid("quic_cert", "quic_cert and quic_key go together");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert", "tls_cert and tls_key go together");
        }
        for (id, board) in &self.leaderboards {
            if let Err(e) = board.schedule() {
                return Err(ConfigError::Invalid {
                    key: "leaderboards",
                    why: format!("{id}: {e}"),
                });
            }
        }
        // Listings may sell items the game declares: the merged catalogue is checked at start.
        if let Err(why) = self.economy.validate_fields() {
            return Err(ConfigError::Invalid {
                key: "economy",
                why,
            });
        }
        for (id, t) in &self.tournaments {
            if let Err(why) = t.validate(id) {
                return Err(ConfigError::Invalid {
                    key: "tournaments",
                    why,
                });
            }
        }
        for (id, g) in &self.iap.products {
            if let Err(why) = g.validate() {
                return Err(ConfigError::Invalid {
                    key: "iap.products",
                    why: format!("{id}: {why}"),
                });
            }
        }
        for (mode, w) in &self.world_chat {
            if w.proximity > WorldChat::MAX_PROXIMITY {
                return Err(ConfigError::Invalid {
                    key: "world_chat",
                    why: format!(
                        "{mode}: proximity must be at most {}",
                        WorldChat::MAX_PROXIMITY
                    ),
                });
            }
        }
        if self.tournament_tick_ms == 0 {
            return invalid("tournament_tick_ms", "must be positive");
        }
        if !(1..=100_000).contains(&self.tournament_payout_batch) {
            return invalid("tournament_payout_batch", "must be in 1..=100000");
        }
        if self.ws_outbound_queue == 0 {
            return invalid("ws_outbound_queue", "must be positive");
        }
        if self.database_max_connections == 0 {
            return invalid("database_max_connections", "must be positive");
        }
        for (key, value) in [
            ("matchmaker_tick_ms", self.matchmaker_tick_ms),
            ("matchmaker_max_wait_ms", self.matchmaker_max_wait_ms),
            ("lua_memory_limit_mb", self.lua_memory_limit_mb as u64),
            ("max_input_string_bytes", self.max_input_string_bytes as u64),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("ws_idle_timeout_ms", self.ws_idle_timeout_ms),
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("guest_purge_after_days", self.guest_purge_after_days),
            ("purge_interval_secs", self.purge_interval_secs),
            ("max_sockets_per_player", self.max_sockets_per_player as u64),
            (
                "max_sockets_per_address",
                self.max_sockets_per_address as u64,
            ),
        ] {
            if value == 0 {
                return invalid(key, "must be positive");
            }
        }
        let r = &self.rate_limits;
        for (key, limit) in [
            ("rate_limits.register", r.register),
            ("rate_limits.auth", r.auth),
            ("rate_limits.erase", r.erase),
            ("rate_limits.iap", r.iap),
            ("rate_limits.api", r.api),
            ("rate_limits.guest_global", r.guest_global),
            ("rate_limits.ws_connect", r.ws_connect),
            ("rate_limits.ws_messages", r.ws_messages),
            ("rate_limits.join", r.join),
        ] {
            if limit.count == 0 || limit.window_ms == 0 {
                return invalid(key, "count and window_ms must be positive");
            }
        }
        let h = &self.password_hashing;
        if argon2::Params::new(h.memory_kib, h.iterations, h.parallelism, None).is_err() {
            return invalid("password_hashing", "argon2 rejects these parameters");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = std::env::temp_dir().join(format!("asobi-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("asobi.toml");
        std::fs::write(
            &path,
            "http_addr = \"127.0.0.1:9000\"\ndatabase_url = \"sqlite://from-file.db\"\n\
             log_filter = \"debug\"\n[rate_limits]\nregister = { count = 7, window_ms = 500 }\n",
        )
        .expect("write");
        // Flags carry env values too (clap `env`); a flag given explicitly wins over both.
        let cli = Cli::try_parse_from([
            "asobi-server",
            "--config",
            path.to_str().expect("utf8"),
            "--database-url",
            "sqlite://from-flag.db",
        ])
        .expect("parses");
        let config = Config::from_cli(cli).expect("valid");
        assert_eq!(config.http_addr, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(config.database_url, "sqlite://from-flag.db");
        assert_eq!(config.log_filter, "debug");
        assert_eq!(config.rate_limits.register, Limit::new(7, 500));
        assert_eq!(config.rate_limits.auth, Limit::new(5, 1000));
    }

    /// Issue 15 §19: the original Asobi's settings, and ours winning over them.
    #[test]
    fn the_original_asobis_settings_are_accepted() {
        let parse = |args: &[&str]| {
            let mut all = vec!["asobi-server", "--config", "/nonexistent-asobi.toml"];
            all.extend_from_slice(args);
            let cli = Cli::try_parse_from(all).expect("parses");
            let mut c = Config::default();
            c.apply(cli);
            c
        };
        let c = parse(&["--port", "9000"]);
        assert_eq!(c.http_addr, "0.0.0.0:9000".parse().expect("addr"));
        let c = parse(&["--port", "9000", "--http-addr", "127.0.0.1:7000"]);
        assert_eq!(c.http_addr, "127.0.0.1:7000".parse().expect("addr"));
        let c = parse(&[
            "--db-host",
            "127.0.0.1",
            "--db-name",
            "test",
            "--db-user",
            "postgres",
        ]);
        assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/test");
        let c = parse(&[
            "--db-host",
            "db",
            "--db-port",
            "6543",
            "--db-user",
            "a b",
            "--db-password",
            "p@ss:/",
        ]);
        assert_eq!(
            c.database_url,
            "postgres://a%20b:p%40ss%3A%2F@db:6543/asobi"
        );
        let c = parse(&["--db-host", "db", "--database-url", "sqlite://x.db"]);
        assert_eq!(c.database_url, "sqlite://x.db");
        let c = parse(&["--rust-log", "debug"]);
        assert_eq!(c.log_filter, "debug");
        let c = parse(&["--rust-log", "debug", "--log-filter", "warn"]);
        assert_eq!(c.log_filter, "warn");
    }

    /// Issue 15 §20: zeros that make no sense are refused, naming the key.
    #[test]
    fn zeros_are_refused_with_the_key_named() {
        let check = |c: Config, key: &str| match c.validate() {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        };
        check(
            Config {
                matchmaker_tick_ms: 0,
                ..Config::default()
            },
            "matchmaker_tick_ms",
        );
        check(
            Config {
                lua_memory_limit_mb: 0,
                ..Config::default()
            },
            "lua_memory_limit_mb",
        );
        let mut c = Config::default();
        c.rate_limits.auth.count = 0;
        check(c, "rate_limits.auth");
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn world_chat_channels_follow_the_zone_and_proximity_is_bounded() {
        let w: WorldChat =
            toml::from_str("zone = true\nproximity = 1\nglobal = [\"realm\"]").unwrap();
        let ids = w.channels("w1", Some((0, -1)));
        assert_eq!(ids.len(), 1 + 9 + 1, "{ids:?}");
        assert!(ids.contains(&"zone:w1:0,-1".to_owned()));
        assert!(ids.contains(&"prox:w1:-1,-2".to_owned()));
        assert!(ids.contains(&"prox:w1:1,0".to_owned()));
        assert_eq!(w.channels("w1", None), ["global:realm"]);
        let mut c = Config::default();
        c.world_chat.insert(
            "m".into(),
            WorldChat {
                proximity: WorldChat::MAX_PROXIMITY + 1,
                ..WorldChat::default()
            },
        );
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                key: "world_chat",
                ..
            })
        ));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("http_adr = \"x\"").is_err());
        let mut c = Config {
            guest_auth: true,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        c.guest_pepper = Some("p".repeat(32));
        assert!(c.validate().is_ok());
    }
}
