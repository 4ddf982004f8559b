//! Matches: the registered modes, the live matches of this node, and which match each player
//! is in.
//!
//! Match simulation runs on its own multi-threaded runtime (`asobi-sim` threads), never on the
//! I/O workers, so a heavy tick cannot stall sockets. Membership is per player (as in Asobi):
//! joining a second match leaves the first (Asobi allowed both at once), and a player whose
//! last socket closes leaves their match.

pub mod record;
pub mod runtime;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use asobi_core::protocol::server::MatchListing;
use asobi_core::protocol::{ListFilter, Reason};
use serde_json::{Map, Value};

use crate::db::Db;
use crate::game::MatchMode;
use crate::session::Sessions;
use crate::stats::Histogram;
pub use runtime::{JoinError, MatchHandle, Snapshot, Status};

/// Node-wide cap on live matches (`match_max`).
pub const MAX_LIVE_MATCHES: usize = 1000;

/// Tick and encode timings of every match on this node.
#[derive(Debug, Default)]
pub struct MatchStats {
    /// Whole tick: messages, schedule, state build and encode.
    pub tick: Histogram,
    /// State document build + JSON encode, once per tick.
    pub encode: Histogram,
    /// Matches ended by a panic.
    pub crashes: AtomicU64,
}

/// What match tasks share with the service.
pub(crate) struct MatchesShared {
    pub(crate) instances: crate::instances::Instances<MatchHandle>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) stats: Arc<MatchStats>,
    pub(crate) waiting_timeout: std::time::Duration,
    db: Db,
    io: tokio::runtime::Handle,
    /// What match scripts and Rust modes call (`game.storage`, `game.leaderboard`).
    pub(crate) services: Option<crate::game::GameServices>,
}

impl MatchesShared {
    pub(crate) fn remove_match(&self, id: &str) {
        self.instances.remove(id);
    }

    pub(crate) fn forget_player(&self, player_id: &str, match_id: &str) {
        self.instances.forget(player_id, match_id);
    }

    /// Records a finished match on the I/O runtime (where the pool lives).
    pub(crate) fn record(&self, r: record::MatchRecord) {
        record::spawn_write(&self.io, &self.db, r);
    }
}

/// The runtime that runs match tasks; shut down in the background when dropped (dropping a
/// runtime inside async code would panic).
struct SimRuntime(Option<tokio::runtime::Runtime>);

impl Drop for SimRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The match service.
pub struct Matches {
    modes: crate::modes::Registry<MatchMode>,
    shared: Arc<MatchesShared>,
    spawn_lock: tokio::sync::Mutex<()>,
    sim: SimRuntime,
}

/// Why a match operation failed; each maps to a protocol reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// No such live match.
    NotFound,
    /// No such mode (`not_found` on find-or-create).
    UnknownMode,
    /// Mode does not allow quick play.
    QuickPlayDisabled,
    /// Node cap reached.
    CapacityReached,
    /// The match refused the join.
    Join(JoinError),
    /// The mode's App could not be built.
    StartFailed(String),
}

impl MatchError {
    /// The error reason sent to the client.
    pub fn reason(&self) -> Reason {
        match self {
            MatchError::NotFound => Reason::MatchNotFound,
            MatchError::UnknownMode => Reason::NotFound,
            MatchError::QuickPlayDisabled => Reason::QuickPlayDisabled,
            MatchError::CapacityReached => Reason::MatchCapacityReached,
            MatchError::Join(e) => e.reason(),
            MatchError::StartFailed(_) => Reason::Internal,
        }
    }
}

impl Matches {
    /// A service running `modes`, pushing through `sessions`, recording to `db`.
    pub fn new(
        modes: Vec<MatchMode>,
        sessions: Arc<Sessions>,
        db: Db,
        sim_threads: usize,
        waiting_timeout: std::time::Duration,
        services: Option<crate::game::GameServices>,
    ) -> std::io::Result<Self> {
        let sim = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(sim_threads.max(1))
            .thread_name("asobi-sim")
            .enable_time()
            .build()?;
        let shared = Arc::new(MatchesShared {
            instances: Default::default(),
            sessions,
            stats: Arc::new(MatchStats::default()),
            waiting_timeout,
            db,
            io: tokio::runtime::Handle::current(),
            services,
        });
        Ok(Matches {
            modes: crate::modes::Registry::new(modes),
            shared,
            spawn_lock: tokio::sync::Mutex::new(()),
            sim: SimRuntime(Some(sim)),
        })
    }

    /// The simulation runtime (worlds run there too).
    pub fn sim_handle(&self) -> Option<tokio::runtime::Handle> {
        self.sim.0.as_ref().map(|rt| rt.handle().clone())
    }

    /// A registered mode.
    pub fn mode(&self, name: &str) -> Option<Arc<MatchMode>> {
        self.modes.get(name)
    }

    /// Registers script modes, replacing every earlier script mode. Rust modes are kept (and
    /// win over a script mode of the same name). New matches use the new modes; running
    /// matches keep theirs.
    pub fn set_script_modes(&self, script_modes: Vec<MatchMode>) {
        self.modes.set_scripts(script_modes);
    }

    /// Tick and encode statistics.
    pub fn stats(&self) -> &MatchStats {
        &self.shared.stats
    }

    /// Live matches.
    pub fn live_count(&self) -> usize {
        self.shared.instances.count()
    }

    /// A live match.
    pub fn get(&self, id: &str) -> Option<MatchHandle> {
        self.shared.instances.get(id)
    }

    /// The match a player is in.
    pub fn current(&self, player_id: &str) -> Option<MatchHandle> {
        self.shared.instances.current(player_id)
    }

    /// Creates a match of `mode` (no players yet).
    pub async fn create(&self, mode: &Arc<MatchMode>) -> Result<MatchHandle, MatchError> {
        if self.live_count() >= MAX_LIVE_MATCHES {
            return Err(MatchError::CapacityReached);
        }
        let id = crate::auth::new_id();
        let sim = self
            .sim
            .0
            .as_ref()
            .map(|rt| rt.handle().clone())
            .ok_or(MatchError::CapacityReached)?;
        let handle = runtime::MatchTask::spawn(id.clone(), mode.clone(), self.shared.clone(), &sim)
            .await
            .map_err(MatchError::StartFailed)?;
        self.shared.instances.insert(id, handle.clone());
        Ok(handle)
    }

    /// Joins a player to a match, leaving any other match first.
    pub async fn join(
        &self,
        handle: &MatchHandle,
        player_id: &str,
        ctx: Map<String, Value>,
        respond: Option<crate::session::Responder>,
    ) -> Result<asobi_core::protocol::server::MatchInfo, MatchError> {
        // The previous match is left only once the new one accepted the player, so a refused
        // join never strands them.
        let previous = self.current(player_id).filter(|c| c.id != handle.id);
        let info = handle
            .join(player_id, ctx, respond)
            .await
            .map_err(MatchError::Join)?;
        if let Some(previous) = previous {
            previous.leave(player_id);
        }
        self.shared.instances.bind(player_id, &handle.id);
        Ok(info)
    }

    /// `match.find_or_create`: the joinable match of `mode` with the most players, or a new
    /// one. Serialised node-wide so simultaneous callers converge on one match.
    pub async fn find_or_create(
        &self,
        mode_name: &str,
        player_id: &str,
        ctx: Map<String, Value>,
        respond: Option<crate::session::Responder>,
    ) -> Result<asobi_core::protocol::server::MatchInfo, MatchError> {
        let mode = self.mode(mode_name).ok_or(MatchError::UnknownMode)?;
        if !mode.descriptor.quick_play {
            return Err(MatchError::QuickPlayDisabled);
        }
        let _serial = self.spawn_lock.lock().await;
        let best = {
            self.shared
                .instances
                .all()
                .into_iter()
                .filter(|h| h.mode.descriptor.name == mode_name)
                .map(|h| (h.clone(), h.snapshot()))
                .filter(|(h, s)| {
                    s.joinable
                        && s.status != Status::Finished
                        && (s.players.len() as u32) < h.mode.descriptor.max_players
                })
                .max_by_key(|(_, s)| s.players.len())
                .map(|(h, _)| h)
        };
        let handle = match best {
            Some(h) => h,
            None => self.create(&mode).await?,
        };
        self.join(&handle, player_id, ctx, respond).await
    }

    /// Removes a player from their match, if any.
    pub fn leave(&self, player_id: &str) {
        if let Some(handle) = self.current(player_id) {
            handle.leave(player_id);
            self.shared.forget_player(player_id, &handle.id);
        }
    }

    /// Queues an input; `false` when the player is in no match.
    pub fn input(&self, player_id: &str, input: Map<String, Value>) -> bool {
        match self.current(player_id) {
            Some(handle) => {
                handle.input(player_id, input);
                true
            }
            None => false,
        }
    }

    /// A player's last socket closed: they leave their match.
    pub fn player_offline(&self, player_id: &str) {
        self.leave(player_id);
    }

    /// Listed live matches for `match.list` and `GET /matches/live`.
    pub fn list(&self, filter: &ListFilter) -> Vec<MatchListing> {
        let live: Vec<MatchHandle> = self.shared.instances.all();
        let mut out: Vec<MatchListing> = live
            .iter()
            .filter(|h| h.mode.descriptor.listed)
            .map(MatchHandle::listing)
            .filter(|l| l.status == "waiting" || l.status == "running")
            .filter(|l| {
                filter
                    .mode
                    .as_ref()
                    .is_none_or(|m| l.mode.as_ref() == Some(m))
            })
            .filter(|l| filter.has_capacity != Some(true) || l.player_count < l.max_players)
            .filter(|l| filter.joinable.is_none_or(|j| l.joinable == j))
            .collect();
        out.sort_by(|a, b| a.match_id.cmp(&b.match_id));
        out
    }
}
