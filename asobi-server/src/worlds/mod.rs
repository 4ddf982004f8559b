//! Worlds: the registered world modes, the live worlds of this node, which world each player
//! is in, and the caps (`worlds.md` §10).
//!
//! World tasks run on the same simulation runtime as matches. `world.find_or_create` is
//! serialised node-wide and joins inside the serialised section, so concurrent callers land in
//! the same world until it is full (Asobi could hand two callers the last slot).

pub mod chunks;
pub mod mode;
pub mod persist;
pub mod runtime;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use asobi_core::protocol::server::{WorldInfo, WorldListing};
use asobi_core::protocol::{ListFilter, Reason};
use serde_json::{Map, Value};

use crate::db::Db;
use crate::matches::record::{self, MatchRecord};
use crate::session::{OutFrame, Sessions};
use crate::stats::Histogram;
pub use mode::{WorldDescriptor, WorldMode};
use runtime::{Command, WorldTask};
pub use runtime::{Responder, WorldHandle, WorldJoinError};

/// Node-wide cap on live worlds (`world_max`).
pub const MAX_LIVE_WORLDS: usize = 1000;
/// Live worlds one player may have created (`world_max_per_player`).
pub const MAX_WORLDS_PER_PLAYER: usize = 5;

/// Counters for `/health` and the benchmarks.
#[derive(Debug, Default)]
pub struct WorldStats {
    /// World tick durations (all zones of a world).
    pub tick: Histogram,
    /// One zone's schedule run.
    pub zone_tick: Histogram,
    /// Zones loaded on this node.
    pub zones_loaded: AtomicU64,
    /// Zones that panicked and were rebuilt.
    pub zone_crashes: AtomicU64,
    /// `world.tick` bytes written to sockets, in each session's wire form.
    pub bytes_out: Arc<AtomicU64>,
}

/// `world.resync` requests served per second on a node.
const NODE_RESYNCS: crate::config::Limit = crate::config::Limit::new(20, 1000);

/// What world tasks share with the service.
pub(crate) struct WorldsShared {
    pub(crate) instances: crate::instances::Instances<WorldHandle>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) stats: Arc<WorldStats>,
    /// Player zone crossings on this node (`worlds.md` §6: 200 per second).
    pub(crate) crossings: std::sync::Mutex<crate::ratelimit::Window>,
    /// Encoded terrain chunks of every world of the node.
    pub(crate) chunks: chunks::ChunkCache,
    /// `world.resync` requests on this node.
    resyncs: std::sync::Mutex<crate::ratelimit::Window>,
    db: Db,
    io: tokio::runtime::Handle,
    /// What zone and world scripts call (`game.storage`, `game.leaderboard`).
    pub(crate) services: Option<crate::game::GameServices>,
    /// Automatic chat channels per world mode (`[world_chat.<mode>]`).
    pub(crate) chat:
        std::sync::RwLock<std::collections::BTreeMap<String, crate::config::WorldChat>>,
}

impl WorldsShared {
    /// `player`'s automatic chat channels in world `world` of `mode` at zone `zone`: join
    /// (`on`) or leave them, on every session of the player on this node.
    pub(crate) fn world_chat(
        &self,
        mode: &str,
        world: &str,
        player: &str,
        zone: Option<(i32, i32)>,
        on: bool,
    ) {
        let Some((settings, channels)) = self.chat_settings(mode) else {
            return;
        };
        let sessions = self.sessions.handles_of_player(player);
        for id in settings.channels(world, zone) {
            if on {
                channels.join_player(&id, &sessions);
            } else {
                for h in &sessions {
                    channels.leave(&id, h.id());
                }
            }
        }
    }

    /// Moves `player`'s automatic zone and proximity channels from one zone to another:
    /// out of those only the old zone gave, into those only the new one gives.
    pub(crate) fn world_chat_cross(
        &self,
        mode: &str,
        world: &str,
        player: &str,
        from: (i32, i32),
        to: (i32, i32),
    ) {
        let Some((settings, channels)) = self.chat_settings(mode) else {
            return;
        };
        let before = settings.channels(world, Some(from));
        let after = settings.channels(world, Some(to));
        let sessions = self.sessions.handles_of_player(player);
        for id in before.iter().filter(|c| !after.contains(c)) {
            for h in &sessions {
                channels.leave(id, h.id());
            }
        }
        for id in after.iter().filter(|c| !before.contains(c)) {
            channels.join_player(id, &sessions);
        }
    }

    fn chat_settings(
        &self,
        mode: &str,
    ) -> Option<(crate::config::WorldChat, Arc<crate::chat::Channels>)> {
        let channels = self.services.as_ref().map(|s| s.chat.1.clone())?;
        let settings = match self.chat.read() {
            Ok(c) => c.get(mode).cloned(),
            Err(p) => p.into_inner().get(mode).cloned(),
        }?;
        Some((settings, channels))
    }
}

impl WorldsShared {
    pub(crate) fn remove_world(&self, id: &str) {
        self.instances.remove(id);
    }

    pub(crate) fn forget_player(&self, player_id: &str, world_id: &str) {
        self.instances.forget(player_id, world_id);
    }

    pub(crate) fn record(&self, r: MatchRecord) {
        record::spawn_write(&self.io, &self.db, r);
    }
}

/// Why a world operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorldError {
    /// No such mode.
    UnknownMode,
    /// `quick_play = false`.
    QuickPlayDisabled,
    /// No such live world.
    NotFound,
    /// In another world.
    AlreadyInWorld,
    /// Node cap.
    CapacityReached,
    /// Creator cap.
    PlayerLimitReached,
    /// The world refused the join.
    Join(WorldJoinError),
    /// The world's game could not start (a script's `init` failed).
    StartFailed(String),
}

impl WorldError {
    /// The WebSocket reason.
    pub fn reason(&self) -> Reason {
        match self {
            WorldError::UnknownMode => Reason::NotFound,
            WorldError::QuickPlayDisabled => Reason::QuickPlayDisabled,
            WorldError::NotFound => Reason::WorldNotFound,
            WorldError::AlreadyInWorld => Reason::AlreadyInWorld,
            WorldError::CapacityReached => Reason::WorldCapacityReached,
            WorldError::PlayerLimitReached => Reason::PlayerWorldLimitReached,
            WorldError::Join(WorldJoinError::Full) => Reason::WorldFull,
            WorldError::Join(WorldJoinError::ZoneUnavailable) => Reason::ZoneUnavailable,
            WorldError::Join(WorldJoinError::Gone) => Reason::NotInMatch,
            WorldError::Join(WorldJoinError::Refused(_)) => Reason::JoinRefused,
            WorldError::StartFailed(_) => Reason::WorldServerNotStarted,
        }
    }
}

/// The world service.
pub struct Worlds {
    modes: crate::modes::Registry<WorldMode>,
    shared: Arc<WorldsShared>,
    spawn_lock: tokio::sync::Mutex<()>,
    sim: tokio::runtime::Handle,
}

/// A successful join: the reply and the frames that must follow it.
pub type Joined = (WorldInfo, Vec<Arc<OutFrame>>);

impl Worlds {
    /// A service for `modes`, running worlds on `sim`.
    pub fn new(
        modes: Vec<WorldMode>,
        sessions: Arc<Sessions>,
        db: Db,
        sim: tokio::runtime::Handle,
        terrain_cache_bytes: usize,
        services: Option<crate::game::GameServices>,
    ) -> Self {
        let shared = Arc::new(WorldsShared {
            instances: Default::default(),
            sessions,
            stats: Arc::new(WorldStats::default()),
            crossings: std::sync::Mutex::new(crate::ratelimit::Window::new(
                std::time::Instant::now(),
            )),
            chunks: chunks::ChunkCache::new(terrain_cache_bytes),
            resyncs: std::sync::Mutex::new(
                crate::ratelimit::Window::new(std::time::Instant::now()),
            ),
            db,
            io: tokio::runtime::Handle::current(),
            services,
            chat: Default::default(),
        });
        Worlds {
            modes: crate::modes::Registry::new(modes),
            shared,
            spawn_lock: tokio::sync::Mutex::new(()),
            sim,
        }
    }

    /// The operator's automatic chat channels per world mode.
    pub fn set_chat(&self, chat: std::collections::BTreeMap<String, crate::config::WorldChat>) {
        match self.shared.chat.write() {
            Ok(mut c) => *c = chat,
            Err(p) => *p.into_inner() = chat,
        }
    }

    /// Bytes held by the node's terrain chunk cache.
    pub fn terrain_cache_bytes(&self) -> usize {
        self.shared.chunks.bytes()
    }

    /// A world mode by name.
    pub fn mode(&self, name: &str) -> Option<Arc<WorldMode>> {
        self.modes.get(name)
    }

    /// Registers script world modes, replacing every earlier one; Rust modes are kept (and
    /// win over a script mode of the same name). New worlds use the new modes.
    pub fn set_script_modes(&self, script_modes: Vec<WorldMode>) {
        self.modes.set_scripts(script_modes);
    }

    /// Statistics.
    pub fn stats(&self) -> &WorldStats {
        &self.shared.stats
    }

    fn live(&self) -> Vec<WorldHandle> {
        self.shared.instances.all()
    }

    /// Live worlds.
    pub fn live_count(&self) -> usize {
        self.shared.instances.count()
    }

    /// A live world.
    pub fn get(&self, id: &str) -> Option<WorldHandle> {
        self.shared.instances.get(id)
    }

    /// The world a player is in.
    pub fn current(&self, player_id: &str) -> Option<WorldHandle> {
        self.shared.instances.current(player_id)
    }

    /// Creates a world of `mode` for `creator`, within the caps. A persistent world is
    /// registered first, so it is re-created after a restart.
    pub async fn create(
        &self,
        mode: &str,
        creator: Option<&str>,
    ) -> Result<WorldHandle, WorldError> {
        let mode = self.modes.get(mode).ok_or(WorldError::UnknownMode)?;
        let live = self.live();
        if live.len() >= MAX_LIVE_WORLDS {
            return Err(WorldError::CapacityReached);
        }
        if let Some(c) = creator
            && live
                .iter()
                .filter(|w| w.creator.as_deref() == Some(c))
                .count()
                >= MAX_WORLDS_PER_PLAYER
        {
            return Err(WorldError::PlayerLimitReached);
        }
        let id = crate::auth::new_id();
        if mode.descriptor.persistent
            && let Err(e) =
                persist::register_world(&self.shared.db, &id, &mode.descriptor.name).await
        {
            tracing::error!(error = %e, "cannot register a persistent world");
            return Err(WorldError::CapacityReached);
        }
        let handle = WorldTask::spawn(
            id.clone(),
            mode,
            creator.map(str::to_owned),
            self.shared.clone(),
            &self.sim,
        )
        .await
        .map_err(WorldError::StartFailed)?;
        self.shared.instances.insert(id, handle.clone());
        Ok(handle)
    }

    /// Joins a player to a world (`already_in_world` if they are in another one). With a
    /// `respond`er the world queues `world.joined` and the ring's frames to that session itself.
    pub async fn join(
        &self,
        handle: &WorldHandle,
        player_id: &str,
        ctx: Map<String, Value>,
        respond: Option<Responder>,
    ) -> Result<Joined, WorldError> {
        if self.current(player_id).is_some_and(|w| w.id != handle.id) {
            return Err(WorldError::AlreadyInWorld);
        }
        let joined = handle
            .join(player_id, ctx, respond)
            .await
            .map_err(WorldError::Join)?;
        self.shared.instances.bind(player_id, &handle.id);
        Ok(joined)
    }

    /// `world.find_or_create`: the first quick-play world of `mode` with room, else a new one,
    /// joined inside the serialised section.
    pub async fn find_or_create(
        &self,
        mode: &str,
        player_id: &str,
        respond: Option<Responder>,
    ) -> Result<Joined, WorldError> {
        let m = self.modes.get(mode).ok_or(WorldError::UnknownMode)?;
        if !m.descriptor.quick_play {
            return Err(WorldError::QuickPlayDisabled);
        }
        let _serial = self.spawn_lock.lock().await;
        let mut candidates: Vec<WorldHandle> = self
            .live()
            .into_iter()
            .filter(|w| w.mode.descriptor.name == mode)
            .filter(|w| {
                let s = w.snapshot();
                s.status != "finished" && (s.players.len() as u32) < w.mode.descriptor.max_players
            })
            .collect();
        candidates.sort_by(|a, b| a.id.cmp(&b.id));
        for w in candidates {
            match self.join(&w, player_id, Map::new(), respond.clone()).await {
                Err(WorldError::Join(WorldJoinError::Full | WorldJoinError::Gone)) => continue,
                other => return other,
            }
        }
        let w = self.create(mode, Some(player_id)).await?;
        self.join(&w, player_id, Map::new(), respond).await
    }

    /// Leaves the player's world; the removal frames to send back.
    pub async fn leave(&self, player_id: &str) -> Vec<Arc<OutFrame>> {
        match self.current(player_id) {
            Some(w) => {
                let frames = w.leave(player_id).await;
                self.shared.forget_player(player_id, &w.id);
                frames
            }
            None => Vec::new(),
        }
    }

    /// Queues an input for the player's zone; `false` when not in a world.
    pub fn input(&self, player_id: &str, input: Map<String, Value>, seq: Option<u64>) -> bool {
        match self.current(player_id) {
            Some(w) => {
                w.send(Command::Input {
                    player_id: player_id.to_owned(),
                    input,
                    seq,
                });
                true
            }
            None => false,
        }
    }

    /// `world.resync` for one zone; past 20 a second node-wide it is silently ignored
    /// (`websocket.md` §5; sessions apply the per-player budget).
    pub fn resync(&self, player_id: &str, zone: [i64; 2]) {
        let mut node = self
            .shared
            .resyncs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if node.admit(NODE_RESYNCS, std::time::Instant::now()).is_err() {
            return;
        }
        drop(node);
        if let (Some(w), Ok(x), Ok(y)) = (
            self.current(player_id),
            i32::try_from(zone[0]),
            i32::try_from(zone[1]),
        ) {
            w.send(Command::Resync {
                player_id: player_id.to_owned(),
                zone: (x, y),
            });
        }
    }

    /// The player's last socket closed.
    pub fn player_offline(&self, player_id: &str) {
        if let Some(w) = self.current(player_id) {
            w.send(Command::Offline {
                player_id: player_id.to_owned(),
            });
        }
    }

    /// The player authenticated a socket: re-bind them to a world holding them.
    pub fn player_online(&self, player_id: &str) {
        if let Some(w) = self.current(player_id) {
            w.send(Command::Rebind {
                player_id: player_id.to_owned(),
            });
        }
    }

    /// Re-creates this node's persistent worlds under their ids (at start).
    pub async fn restore_persistent(&self) -> Result<usize, sqlx::Error> {
        let mut n = 0;
        for (id, mode) in persist::worlds(&self.shared.db).await? {
            let Some(mode) = self.modes.get(&mode) else {
                tracing::warn!(world_id = %id, mode = %mode, "persistent world of an unknown mode not restored");
                continue;
            };
            let handle = match WorldTask::spawn(
                id.clone(),
                mode,
                None,
                self.shared.clone(),
                &self.sim,
            )
            .await
            {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(world_id = %id, error = %e, "persistent world failed to restart");
                    continue;
                }
            };
            self.shared.instances.insert(id, handle);
            n += 1;
        }
        Ok(n)
    }

    /// Snapshots persistent worlds and stops every world (graceful shutdown).
    pub async fn shutdown(&self) {
        for w in self.live() {
            let (reply, rx) = tokio::sync::oneshot::channel();
            if w.tx.send(Command::Shutdown { reply }).await.is_ok() {
                let _ = rx.await;
            }
        }
    }

    /// Listed worlds.
    pub fn list(&self, filter: &ListFilter) -> Vec<WorldListing> {
        let mut out: Vec<WorldListing> = self
            .live()
            .iter()
            .filter(|w| w.mode.descriptor.listed)
            .map(WorldHandle::listing)
            .filter(|l| l.status == "running" || l.status == "loading")
            .filter(|l| {
                filter
                    .mode
                    .as_ref()
                    .is_none_or(|m| l.mode.as_ref() == Some(m))
            })
            .filter(|l| filter.has_capacity != Some(true) || l.player_count < l.max_players)
            .collect();
        out.sort_by(|a, b| a.world_id.cmp(&b.world_id));
        out
    }
}
