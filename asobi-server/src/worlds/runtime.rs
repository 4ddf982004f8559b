//! One world: its roster, its loaded zones and the tick loop, in one task on the simulation
//! runtime (`worlds.md` §3–§8, `websocket.md` §12).
//!
//! Every `tick_rate` ms each hot zone (and each cold zone every `cold_tick_divisor` ticks)
//! gets its queued inputs as [`WorldInput`] messages and runs its schedule once inside
//! `catch_unwind`; a zone that panics is rebuilt from its last broadcast baseline while the
//! others keep ticking. Every `broadcast_interval` ticks a zone diffs its entities against
//! the baseline and sends the delta — encoded once — to its subscribers with the next
//! `frame_seq`, plus `world.ack`s. Then entities of type `player` or `npc` that left their
//! zone by more than the hysteresis margin cross into their new zone (created on demand),
//! and players' interest rings are diffed: new zones send a keyframe and terrain, dropped
//! zones a removal frame.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asobi_core::protocol::ServerMessage;
use asobi_core::protocol::binary::Frame;
use asobi_core::protocol::server::{
    GameEvent, ModuleMessage, WorldAck, WorldFinished, WorldInfo, WorldListing, WorldTerrain,
    WorldTick,
};
use asobi_core::world::compact;
use asobi_core::world::delta::{self, Entities, Fields};
use asobi_core::world::grid::{Grid, ZoneCoord};
use base64::Engine;
use bevy_app::{App, SubApp};
use bevy_ecs::message::Messages;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::mode::{
    BorderMirror, ConsumedSeq, Effect, IncomingEffects, KeepHot, OutgoingEffects, SaveZone,
    WorldInput, WorldMode, ZoneEntities, ZoneInfo, ZoneState,
};
use super::persist::ZoneSnapshot;
use super::{WorldStats, WorldsShared};
use crate::config::Limit;
use crate::game::{Broadcast, SendTo};
use crate::matches::record::MatchRecord;
use crate::matches::runtime::panic_message;
use crate::ratelimit::Window;
use crate::session::OutFrame;
use crate::time::now_ms;

/// A finished world keeps answering (`not_in_match`) this long.
const FINISHED_LINGER: Duration = Duration::from_secs(5);
/// Idle zones are looked at this often.
const REAP_EVERY: Duration = Duration::from_secs(10);
/// A world nobody ever joined finishes after this (Asobi keeps it forever).
const NEVER_JOINED: Duration = Duration::from_secs(60);

/// Why a world join failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorldJoinError {
    /// At `max_players`.
    Full,
    /// The spawn zone could not be loaded.
    ZoneUnavailable,
    /// The world finished.
    Gone,
    /// The game refused the player, with its reason.
    Refused(String),
}

pub use crate::session::Responder;

/// The `world.joined` info and the frames that follow it, or why the join failed.
pub type JoinReply = Result<(WorldInfo, Vec<Arc<OutFrame>>), WorldJoinError>;

pub(crate) enum Command {
    Join {
        player_id: String,
        ctx: Map<String, Value>,
        respond: Option<Responder>,
        reply: oneshot::Sender<JoinReply>,
    },
    Leave {
        player_id: String,
        reply: Option<oneshot::Sender<Vec<Arc<OutFrame>>>>,
    },
    Input {
        player_id: String,
        input: Map<String, Value>,
        seq: Option<u64>,
    },
    Resync {
        player_id: String,
        zone: ZoneCoord,
    },
    Offline {
        player_id: String,
    },
    Rebind {
        player_id: String,
    },
    /// Snapshot (when persistent) and stop.
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What others can read without asking the world.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// `loading`, `running` or `finished`.
    pub status: &'static str,
    /// Roster.
    pub players: Vec<String>,
    /// Unix ms.
    pub started_at: Option<i64>,
    /// Loaded zones.
    pub zones_loaded: usize,
    /// The phase object, if the world has phases.
    pub phase: Option<Map<String, Value>>,
}

/// A handle on a live world.
#[derive(Clone)]
pub struct WorldHandle {
    /// World id.
    pub id: String,
    /// Its mode.
    pub mode: Arc<WorldMode>,
    /// The player who created it (for the per-player cap).
    pub creator: Option<String>,
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) snapshot: Arc<Mutex<Snapshot>>,
}

impl WorldHandle {
    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `world.list` entry.
    pub fn listing(&self) -> WorldListing {
        let s = self.snapshot();
        let d = &self.mode.descriptor;
        WorldListing {
            world_id: self.id.clone(),
            mode: Some(d.name.clone()),
            status: s.status.to_owned(),
            player_count: s.players.len() as u32,
            max_players: d.max_players,
            grid_size: d.grid_size,
            started_at: s.started_at,
            phase: s.phase,
        }
    }

    /// Joins a player: the `world.joined` info and the frames that must follow it (keyframes
    /// and terrain of the interest ring).
    /// With a `respond`er, `world.joined` and the frames after it are queued to that session by
    /// the world itself, so nothing the world sends later can overtake them; without one (a
    /// join on the player's behalf) the world pushes the frames to the player's sessions.
    pub async fn join(
        &self,
        player_id: &str,
        ctx: Map<String, Value>,
        respond: Option<Responder>,
    ) -> JoinReply {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Join {
                player_id: player_id.to_owned(),
                ctx,
                respond,
                reply,
            })
            .await
            .is_err()
        {
            return Err(WorldJoinError::Gone);
        }
        rx.await.unwrap_or(Err(WorldJoinError::Gone))
    }

    /// Removes a player; resolves with the removal frames once done.
    pub async fn leave(&self, player_id: &str) -> Vec<Arc<OutFrame>> {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Leave {
                player_id: player_id.to_owned(),
                reply: Some(reply),
            })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    pub(crate) fn send(&self, cmd: Command) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.tx.try_send(cmd) {
            // Inputs may be dropped under pressure; everything else is delivered.
            if !matches!(cmd, Command::Input { .. }) {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(cmd).await;
                });
            }
        }
    }
}

struct Zone {
    app: SubApp,
    /// Cross-zone effects for this zone's next tick.
    effects: Vec<Effect>,
    baseline: Entities,
    frame_seq: u64,
    /// The last delta sent, until the zone has a quiet broadcast: then it is sent once more
    /// on the native path's reliable stream, so a lost last datagram cannot leave a client's
    /// table stale with no later frame to show the gap.
    last_delta: Option<Arc<OutFrame>>,
    subscribers: BTreeSet<String>,
    inputs: Vec<WorldInput>,
    acks: HashMap<String, u64>,
    last_active: Instant,
    hot: bool,
}

struct Slot {
    zone: ZoneCoord,
    ring: Vec<ZoneCoord>,
    offline_since: Option<Instant>,
    last_ack: Option<u64>,
    /// Zone crossings (5 per second).
    crossings: Window,
}

/// Commands handled in one go between ticks.
const COMMAND_BATCH: usize = 4096;

/// Zone crossings allowed per player, and per node (`worlds.md` §6).
const PLAYER_CROSSINGS: Limit = Limit::new(5, 1000);
const NODE_CROSSINGS: Limit = Limit::new(200, 1000);

pub(crate) struct WorldTask {
    id: String,
    mode: Arc<WorldMode>,
    grid: Grid,
    tick: u64,
    started_at: i64,
    created: Instant,
    ever_joined: bool,
    finished: bool,
    zones: HashMap<ZoneCoord, Zone>,
    players: HashMap<String, Slot>,
    /// This world's key in the node's chunk cache.
    terrain_key: Arc<str>,
    /// Snapshots of unloaded zones of a persistent world, restored when they load again.
    restore: HashMap<ZoneCoord, ZoneSnapshot>,
    /// World-level game logic (a Lua world VM).
    hooks: Box<dyn super::mode::WorldHooks>,
    /// `generate_world` host-side zone states.
    seeds: HashMap<ZoneCoord, Value>,
    /// Border-band copies published by every zone after the last tick.
    mirror: Arc<super::mode::Mirror>,
    /// This world's terrain.
    terrain_provider: Option<Arc<dyn asobi_core::world::terrain::TerrainProvider>>,
    shared: Arc<WorldsShared>,
    snapshot: Arc<Mutex<Snapshot>>,
    last_reap: Instant,
    span: tracing::Span,
}

fn number(f: &Fields, key: &str) -> Option<f64> {
    f.get(key).and_then(Value::as_f64)
}

impl WorldTask {
    /// Builds the world's hooks (a Lua mode runs its script's top level, `init` and
    /// `generate_world` here) on the simulation runtime's blocking pool, never on an I/O
    /// worker, then starts its task.
    pub(crate) async fn spawn(
        id: String,
        mode: Arc<WorldMode>,
        creator: Option<String>,
        shared: Arc<WorldsShared>,
        sim: &tokio::runtime::Handle,
    ) -> Result<WorldHandle, String> {
        let mut hooks = sim
            .spawn_blocking({
                let (id, mode) = (id.clone(), mode.clone());
                let services = shared.services.clone();
                move || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| {
                        mode.hooks(&id, services.as_ref())
                    }))
                    .map_err(|p| panic_message(&p))?
                }
            })
            .await
            .map_err(|e| e.to_string())??;
        let terrain_provider = hooks.terrain().or_else(|| mode.descriptor.terrain.clone());
        let (tx, rx) = mpsc::channel(4096);
        let snapshot = Arc::new(Mutex::new(Snapshot {
            status: "running",
            players: Vec::new(),
            started_at: Some(now_ms()),
            zones_loaded: 0,
            phase: None,
        }));
        let handle = WorldHandle {
            id: id.clone(),
            mode: mode.clone(),
            creator,
            tx,
            snapshot: snapshot.clone(),
        };
        let grid = mode.descriptor.grid();
        let span = tracing::info_span!("world", id = %id, mode = %mode.descriptor.name);
        let terrain_key = Arc::from(id.as_str());
        let mut task = WorldTask {
            id,
            mode,
            grid,
            tick: 0,
            started_at: now_ms(),
            created: Instant::now(),
            ever_joined: false,
            finished: false,
            zones: HashMap::new(),
            players: HashMap::new(),
            terrain_key,
            restore: HashMap::new(),
            hooks,
            terrain_provider,
            mirror: Arc::default(),
            seeds: HashMap::new(),
            shared,
            snapshot,
            last_reap: Instant::now(),
            span,
        };
        sim.spawn(async move {
            task.prepare().await;
            task.publish();
            task.run(rx).await;
        });
        Ok(handle)
    }

    /// Loads a persistent world's snapshots; a non-lazy world then recovers from them (or is
    /// generated) and creates every zone.
    async fn prepare(&mut self) {
        if self.mode.descriptor.persistent {
            let (db, id) = (self.shared.db.clone(), self.id.clone());
            let load = self
                .shared
                .io
                .spawn(async move { super::persist::load(&db, &id).await });
            match load.await {
                Ok(Ok(rows)) => self.restore = rows.into_iter().collect(),
                Ok(Err(e)) => {
                    tracing::error!(parent: &self.span, error = %e, "cannot load zone snapshots")
                }
                Err(e) => {
                    tracing::error!(parent: &self.span, error = %e, "snapshot load task failed")
                }
            }
        }
        if self.mode.descriptor.lazy_zones {
            return;
        }
        if self.restore.is_empty() {
            self.seeds = self.hooks.generate_world(self.started_at);
        } else {
            self.hooks.recovered(&self.restore);
        }
        let n = self.grid.grid_size as i32;
        for y in 0..n {
            for x in 0..n {
                let _ = self.ensure_zone((x, y));
            }
        }
    }

    /// Sends what the world hooks and zones asked for: `world.<name>` events to every member,
    /// `module.message` to one player.
    fn flush_hooks(&mut self) {
        let effects = self.hooks.take_effects();
        self.send_effects(effects.events, effects.sends);
        for (mut phase, transition) in effects.phase_changes {
            if transition {
                phase.insert("world_id".into(), Value::String(self.id.clone()));
            }
            let frame = OutFrame::new(ServerMessage::WorldPhaseChanged(phase), None);
            for p in self.players.keys() {
                self.shared.sessions.push_to_player(p, &frame);
            }
        }
    }

    fn send_effects(&self, events: Vec<(String, Value)>, sends: Vec<(String, Value)>) {
        for (name, payload) in events {
            match GameEvent::new(&name, payload) {
                Ok(e) => {
                    let frame = OutFrame::new(ServerMessage::WorldEvent(e), None);
                    if frame.json().len() > 65_536 {
                        tracing::warn!(parent: &self.span, name = %name, "broadcast over 64 KiB dropped");
                        continue;
                    }
                    self.shared
                        .sessions
                        .push_to_players(self.players.keys(), &frame);
                }
                Err(e) => {
                    tracing::warn!(parent: &self.span, name = %name, error = %e, "broadcast refused")
                }
            }
        }
        for (player, message) in sends {
            let msg = ModuleMessage {
                module: "lua".into(),
                message,
            };
            self.shared.sessions.push_to_player(
                &player,
                &OutFrame::new(ServerMessage::GameMessage(msg.clone()), None),
            );
            self.shared.sessions.push_to_player(
                &player,
                &OutFrame::new(ServerMessage::ModuleMessage(msg), None),
            );
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut ticker = tokio::time::interval(Duration::from_millis(
            self.mode.descriptor.tick_rate_ms.max(1),
        ));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        if self.commands(cmd, &mut rx).await {
                            return;
                        }
                    }
                    None => break,
                },
                _ = ticker.tick() => self.tick(),
            }
            if self.finished {
                break;
            }
        }
        let linger = tokio::time::sleep(FINISHED_LINGER);
        tokio::pin!(linger);
        loop {
            tokio::select! {
                () = &mut linger => break,
                cmd = rx.recv() => match cmd {
                    Some(Command::Join { reply, .. }) => { let _ = reply.send(Err(WorldJoinError::Gone)); }
                    Some(Command::Shutdown { reply }) => { let _ = reply.send(()); }
                    Some(Command::Leave { reply: Some(reply), .. }) => { let _ = reply.send(Vec::new()); }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        self.shared.remove_world(&self.id);
    }

    /// Handles `first` and what is already queued behind it (at most [`COMMAND_BATCH`]), so a
    /// tick that overran its period leaves joins and inputs waiting one tick, not one tick
    /// each. `true` once a shutdown was handled.
    async fn commands(&mut self, first: Command, rx: &mut mpsc::Receiver<Command>) -> bool {
        let mut next = Some(first);
        let mut budget = COMMAND_BATCH;
        while let Some(cmd) = next.take() {
            if let Command::Shutdown { reply } = cmd {
                self.snapshot_all().await;
                let _ = reply.send(());
                return true;
            }
            self.command(cmd);
            budget -= 1;
            if budget == 0 || self.finished {
                break;
            }
            next = rx.try_recv().ok();
        }
        false
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                player_id,
                ctx,
                respond,
                reply,
            } => {
                let joined = self.join(&player_id, &ctx);
                if let Ok((info, frames)) = &joined {
                    match respond {
                        Some(r) => {
                            r.handle.send(OutFrame::new(
                                ServerMessage::WorldJoined(info.clone()),
                                r.cid,
                            ));
                            for f in frames {
                                r.handle.send(f.clone());
                            }
                        }
                        // Joined on the player's behalf (the matchmaker): no `world.joined`,
                        // but the keyframes and terrain still go out before any later tick.
                        None => self.push_all(&player_id, frames),
                    }
                }
                let _ = reply.send(joined);
                self.flush_hooks();
            }
            Command::Leave { player_id, reply } => {
                let frames = self.leave(&player_id);
                match reply {
                    Some(r) => {
                        let _ = r.send(frames);
                    }
                    None => self.push_all(&player_id, &frames),
                }
            }
            Command::Input {
                player_id,
                input,
                seq,
            } => {
                if let Some(zone) = self.players.get(&player_id).map(|s| s.zone)
                    && let Some(z) = self.zones.get_mut(&zone)
                {
                    z.inputs.push(WorldInput {
                        player_id,
                        input,
                        seq,
                    });
                    z.hot = true;
                }
            }
            Command::Resync { player_id, zone } => {
                if let Some(z) = self.zones.get(&zone)
                    && z.subscribers.contains(&player_id)
                {
                    let kf = self.keyframe(zone);
                    self.shared.sessions.push_to_player(&player_id, &kf);
                }
            }
            Command::Offline { player_id } => {
                let ttl = self.mode.descriptor.player_ttl_ms;
                if ttl == 0 {
                    let frames = self.leave(&player_id);
                    drop(frames); // nobody is there to receive them
                } else if let Some(slot) = self.players.get_mut(&player_id) {
                    slot.offline_since = Some(Instant::now());
                }
            }
            Command::Rebind { player_id } => self.rebind(&player_id),
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&self) {
        let mut s = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        s.status = if self.finished { "finished" } else { "running" };
        s.players = self.players.keys().cloned().collect();
        s.players.sort();
        s.started_at = Some(self.started_at);
        s.zones_loaded = self.zones.len();
        s.phase = self.hooks.phase();
    }

    fn info(&self) -> WorldInfo {
        let d = &self.mode.descriptor;
        let mut players: Vec<String> = self.players.keys().cloned().collect();
        players.sort();
        WorldInfo {
            world_id: self.id.clone(),
            mode: Some(d.name.clone()),
            status: "running".into(),
            player_count: players.len() as u32,
            max_players: d.max_players,
            grid_size: d.grid_size,
            started_at: Some(self.started_at),
            listed: d.listed,
            quick_play: d.quick_play,
            players,
            phase: self.hooks.phase(),
        }
    }

    /// The state a zone starts with: what it saved, else what `generate_world` gave it.
    fn initial_state(&self, coord: ZoneCoord, saved: Option<Value>) -> ZoneState {
        ZoneState(saved.or_else(|| self.seeds.get(&coord).cloned()))
    }

    fn build_zone(&self, coord: ZoneCoord, entities: Entities, state: ZoneState) -> Option<SubApp> {
        let mode = self.mode.clone();
        let info = ZoneInfo {
            world_id: self.id.clone(),
            coord,
            grid: self.grid,
            tick: self.tick,
        };
        let terrain = super::mode::ZoneTerrain(self.terrain_provider.clone());
        let services = self.shared.services.clone();
        let built = std::panic::catch_unwind(AssertUnwindSafe(move || {
            let mut app = App::new();
            app.add_message::<WorldInput>()
                .add_message::<Broadcast>()
                .add_message::<SendTo>()
                .insert_resource(ZoneEntities(entities))
                .init_resource::<BorderMirror>()
                .init_resource::<OutgoingEffects>()
                .init_resource::<IncomingEffects>()
                .insert_resource(terrain)
                .insert_resource(state)
                .insert_resource(info)
                .init_resource::<ConsumedSeq>();
            if let Some(services) = services {
                app.insert_resource(services);
            }
            mode.build_zone(&mut app);
            app.finish();
            app.cleanup();
            match app.world().get_resource::<crate::game::StartFailure>() {
                Some(f) => Err(f.0.clone()),
                None => Ok(std::mem::take(app.main_mut())),
            }
        }));
        match built {
            Ok(Ok(app)) => Some(app),
            Ok(Err(why)) => {
                tracing::error!(parent: &self.span, zone = ?coord, error = %why, "zone failed to start");
                None
            }
            Err(p) => {
                tracing::error!(parent: &self.span, zone = ?coord, panic = %panic_message(&p), "zone failed to build");
                None
            }
        }
    }

    /// Loads a zone if needed. Newly loaded zones subscribe the players whose ring holds them.
    fn ensure_zone(&mut self, coord: ZoneCoord) -> Result<(), WorldJoinError> {
        if let Some(z) = self.zones.get_mut(&coord) {
            z.last_active = Instant::now();
            return Ok(());
        }
        if !self.grid.contains(coord) || self.zones.len() >= self.mode.descriptor.max_active_zones {
            return Err(WorldJoinError::ZoneUnavailable);
        }
        let restored = self.restore.remove(&coord).unwrap_or_default();
        let state = self.initial_state(coord, restored.state);
        let app = self
            .build_zone(coord, restored.entities, state)
            .ok_or(WorldJoinError::ZoneUnavailable)?;
        self.zones.insert(
            coord,
            Zone {
                app,
                effects: Vec::new(),
                baseline: Entities::new(),
                frame_seq: 0,
                last_delta: None,
                subscribers: BTreeSet::new(),
                inputs: Vec::new(),
                acks: HashMap::new(),
                last_active: Instant::now(),
                hot: false,
            },
        );
        self.shared
            .stats
            .zones_loaded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let watchers: Vec<String> = self
            .players
            .iter()
            .filter(|(_, s)| s.ring.contains(&coord))
            .map(|(p, _)| p.clone())
            .collect();
        for p in watchers {
            let frames = self.subscribe(&p, coord);
            self.push_all(&p, &frames);
        }
        Ok(())
    }

    fn entities_mut(&mut self, coord: ZoneCoord) -> Option<&mut Entities> {
        self.zones
            .get_mut(&coord)
            .and_then(|z| z.app.world_mut().get_resource_mut::<ZoneEntities>())
            .map(|e| &mut e.into_inner().0)
    }

    fn keyframe(&self, coord: ZoneCoord) -> Arc<OutFrame> {
        let (seq, updates) = match self.zones.get(&coord) {
            Some(z) => (z.frame_seq, delta::keyframe(&z.baseline)),
            None => (0, Vec::new()),
        };
        let msg = WorldTick {
            zone: [coord.0.into(), coord.1.into()],
            frame_seq: Some(seq),
            kf: Some(true),
            tick: 0,
            updates,
        };
        tick_frame(msg, None, &self.shared.stats)
    }

    /// The zone's terrain chunk as a `world.terrain` frame, from the node's chunk cache.
    fn terrain_frame(&mut self, coord: ZoneCoord) -> Option<Arc<OutFrame>> {
        let provider = self.terrain_provider.clone()?;
        self.shared
            .chunks
            .get_or_build(&self.terrain_key, coord, || {
                let chunk = provider.chunk(coord.0, coord.1)?;
                let data = base64::engine::general_purpose::STANDARD.encode(chunk.encode());
                let bytes = data.len();
                let msg = WorldTerrain {
                    coords: [coord.0.into(), coord.1.into()],
                    data,
                };
                Some((OutFrame::new(ServerMessage::WorldTerrain(msg), None), bytes))
            })
    }

    /// Subscribes a player to a loaded zone; returns the keyframe and terrain (none if they
    /// were subscribed already).
    fn subscribe(&mut self, player: &str, coord: ZoneCoord) -> Vec<Arc<OutFrame>> {
        let Some(z) = self.zones.get_mut(&coord) else {
            return Vec::new();
        };
        if !z.subscribers.insert(player.to_owned()) {
            return Vec::new();
        }
        z.last_active = Instant::now();
        let mut frames = vec![self.keyframe(coord)];
        frames.extend(self.terrain_frame(coord));
        frames
    }

    fn unsubscribe(&mut self, player: &str, coord: ZoneCoord) -> Option<Arc<OutFrame>> {
        let z = self.zones.get_mut(&coord)?;
        if !z.subscribers.remove(player) || z.baseline.is_empty() {
            return None;
        }
        let msg = WorldTick {
            zone: [coord.0.into(), coord.1.into()],
            frame_seq: None,
            kf: None,
            tick: 0,
            updates: delta::removal(&z.baseline),
        };
        Some(tick_frame(msg, Some(&z.baseline), &self.shared.stats))
    }

    fn push_all(&self, player: &str, frames: &[Arc<OutFrame>]) {
        for f in frames {
            self.shared.sessions.push_to_player(player, f);
        }
    }

    fn join(&mut self, player_id: &str, ctx: &Map<String, Value>) -> JoinReply {
        if self.finished {
            return Err(WorldJoinError::Gone);
        }
        if self.players.contains_key(player_id) {
            return Ok((self.info(), Vec::new()));
        }
        if self.players.len() as u32 >= self.mode.descriptor.max_players {
            return Err(WorldJoinError::Full);
        }
        self.hooks
            .join(player_id, ctx)
            .map_err(WorldJoinError::Refused)?;
        let (x, y) = self
            .hooks
            .spawn_position(player_id)
            .unwrap_or_else(|| self.mode.spawn_position(&self.id, player_id));
        let coord = self.grid.zone_of(x, y);
        self.ensure_zone(coord)?;
        let mut fields = Map::new();
        fields.insert("x".into(), json!(x));
        fields.insert("y".into(), json!(y));
        fields.insert("type".into(), json!("player"));
        if let Some(e) = self.entities_mut(coord) {
            e.insert(player_id.to_owned(), fields);
        }
        if let Some(z) = self.zones.get_mut(&coord) {
            z.hot = true;
        }
        let ring = self.grid.ring(coord, self.mode.descriptor.view_radius);
        self.players.insert(
            player_id.to_owned(),
            Slot {
                zone: coord,
                ring: ring.clone(),
                offline_since: None,
                last_ack: None,
                crossings: Window::new(Instant::now()),
            },
        );
        let mut frames = Vec::new();
        for z in ring {
            frames.extend(self.subscribe(player_id, z));
        }
        self.shared.world_chat(
            &self.mode.descriptor.name,
            &self.id,
            player_id,
            Some(coord),
            true,
        );
        self.ever_joined = true;
        self.publish();
        Ok((self.info(), frames))
    }

    fn leave(&mut self, player_id: &str) -> Vec<Arc<OutFrame>> {
        let Some(slot) = self.players.remove(player_id) else {
            return Vec::new();
        };
        self.hooks.leave(player_id);
        self.shared.world_chat(
            &self.mode.descriptor.name,
            &self.id,
            player_id,
            Some(slot.zone),
            false,
        );
        if let Some(e) = self.entities_mut(slot.zone) {
            e.remove(player_id);
        }
        let mut frames = Vec::new();
        for z in &slot.ring {
            frames.extend(self.unsubscribe(player_id, *z));
        }
        self.shared.forget_player(player_id, &self.id);
        self.publish();
        if self.players.is_empty() && !self.mode.descriptor.persistent {
            self.finish(json!({"status": "empty"}));
        }
        frames
    }

    fn rebind(&mut self, player_id: &str) {
        let Some(slot) = self.players.get_mut(player_id) else {
            return;
        };
        if self.mode.descriptor.player_ttl_ms == 0 {
            return;
        }
        slot.offline_since = None;
        slot.last_ack = None;
        let ring = slot.ring.clone();
        // The new connection is put back in the world's automatic chat channels.
        self.shared.world_chat(
            &self.mode.descriptor.name,
            &self.id,
            player_id,
            Some(slot.zone),
            true,
        );
        let mut frames = Vec::new();
        for z in ring {
            if self.zones.contains_key(&z) {
                if let Some(zone) = self.zones.get_mut(&z) {
                    zone.subscribers.insert(player_id.to_owned());
                }
                frames.push(self.keyframe(z));
                frames.extend(self.terrain_frame(z));
            }
        }
        self.push_all(player_id, &frames);
        tracing::debug!(parent: &self.span, player = player_id, "player re-bound after reconnect");
    }

    fn tick(&mut self) {
        if self.finished {
            return;
        }
        self.tick += 1;
        let started = Instant::now();
        let broadcast = self
            .tick
            .is_multiple_of(self.mode.descriptor.broadcast_interval.max(1));
        let cold_due = self
            .tick
            .is_multiple_of(self.mode.descriptor.cold_tick_divisor.max(1));
        let coords: Vec<ZoneCoord> = self.zones.keys().copied().collect();
        for coord in &coords {
            let due = self.zones.get(coord).is_some_and(|z| z.hot || cold_due);
            if due {
                self.run_zone(*coord);
            }
            if broadcast {
                self.broadcast(*coord);
            }
        }
        self.crossings();
        self.publish_border_band();
        if let Some(result) = self.hooks.post_tick(self.tick, self.players.len()) {
            self.flush_hooks();
            self.finish(Value::Object(result));
            return;
        }
        self.flush_hooks();
        self.expire_grace();
        self.reap();
        let interval = self.mode.descriptor.snapshot_interval.max(1);
        if self.mode.descriptor.persistent && self.tick.is_multiple_of(interval) {
            let coords: Vec<ZoneCoord> = self.zones.keys().copied().collect();
            for c in coords {
                drop(self.snapshot(c));
            }
        }
        if !self.ever_joined
            && !self.mode.descriptor.persistent
            && self.created.elapsed() >= NEVER_JOINED
        {
            self.finish(json!({"status": "empty"}));
        }
        self.shared.stats.tick.record(started.elapsed());
    }

    fn run_zone(&mut self, coord: ZoneCoord) {
        let tick = self.tick;
        let Some(z) = self.zones.get_mut(&coord) else {
            return;
        };
        let inputs = std::mem::take(&mut z.inputs);
        let effects = std::mem::take(&mut z.effects);
        let mut stamped: HashMap<String, u64> = HashMap::new();
        for i in &inputs {
            if let Some(seq) = i.seq {
                let e = stamped.entry(i.player_id.clone()).or_default();
                *e = (*e).max(seq);
            }
        }
        let world = z.app.world_mut();
        if let Some(mut info) = world.get_resource_mut::<ZoneInfo>() {
            info.tick = tick;
        }
        // The neighbours' border bands as of the last tick, and effects for entities this zone
        // still owns.
        let neighbours: super::mode::Mirror = self
            .mirror
            .iter()
            .filter(|(c, _)| {
                **c != coord && (c.0 - coord.0).abs() <= 1 && (c.1 - coord.1).abs() <= 1
            })
            .map(|(c, e)| (*c, e.clone()))
            .collect();
        world.insert_resource(BorderMirror(Arc::new(neighbours)));
        let incoming: Vec<Effect> = match world.get_resource::<ZoneEntities>() {
            Some(owned) if !effects.is_empty() => effects
                .into_iter()
                .filter(|e| owned.0.contains_key(&e.entity_id))
                .collect(),
            _ => Vec::new(),
        };
        world.insert_resource(IncomingEffects(incoming));
        if let Some(mut m) = world.get_resource_mut::<Messages<WorldInput>>() {
            m.write_batch(inputs);
        }
        let zone_started = Instant::now();
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| z.app.update()));
        self.shared.stats.zone_tick.record(zone_started.elapsed());
        if let Err(p) = ran {
            let baseline = z.baseline.clone();
            let saved = z
                .app
                .world()
                .get_resource::<ZoneState>()
                .and_then(|s| s.0.clone());
            let state = self.initial_state(coord, saved);
            tracing::error!(parent: &self.span, zone = ?coord, panic = %panic_message(&p), "zone crashed; restarting it from its last broadcast");
            self.shared
                .stats
                .zone_crashes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.build_zone(coord, baseline, state) {
                Some(app) => {
                    if let Some(z) = self.zones.get_mut(&coord) {
                        z.app = app;
                    }
                }
                None => {
                    self.zones.remove(&coord);
                }
            }
            return;
        }
        let reported = z
            .app
            .world_mut()
            .get_resource_mut::<ConsumedSeq>()
            .map(|mut c| std::mem::take(&mut c.0))
            .unwrap_or_default();
        for (p, seq) in stamped.into_iter().chain(reported) {
            let e = z.acks.entry(p).or_default();
            *e = (*e).max(seq);
        }
        let entities = z
            .app
            .world()
            .get_resource::<ZoneEntities>()
            .map_or(0, |e| e.0.len());
        let keep_hot = z.app.world().get_resource::<KeepHot>().is_some_and(|k| k.0);
        z.hot = entities > 0 || !z.inputs.is_empty() || keep_hot;
        if !z.subscribers.is_empty() {
            z.last_active = Instant::now();
        }
        let world = z.app.world_mut();
        let events: Vec<(String, Value)> = world
            .get_resource_mut::<Messages<Broadcast>>()
            .map(|mut m| m.drain().map(|b| (b.name, b.payload)).collect())
            .unwrap_or_default();
        let sends: Vec<(String, Value)> = world
            .get_resource_mut::<Messages<SendTo>>()
            .map(|mut m| m.drain().map(|s| (s.player_id, s.message)).collect())
            .unwrap_or_default();
        let outgoing = world
            .get_resource_mut::<OutgoingEffects>()
            .map(|mut o| std::mem::take(&mut o.0))
            .unwrap_or_default();
        self.send_effects(events, sends);
        self.route_effects(coord, outgoing);
    }

    /// Delivers effects to the neighbouring zone that publishes each target entity in its
    /// border band (at most 64 per zone per tick, 4 KiB each; the rest are dropped).
    fn route_effects(&mut self, from: ZoneCoord, effects: Vec<Effect>) {
        for e in effects.into_iter().take(64) {
            if e.event.to_string().len() > 4096 {
                continue;
            }
            let target = self.mirror.iter().find(|(c, ents)| {
                **c != from
                    && (c.0 - from.0).abs() <= 1
                    && (c.1 - from.1).abs() <= 1
                    && ents.contains_key(&e.entity_id)
            });
            if let Some((c, _)) = target
                && let Some(z) = self.zones.get_mut(c)
            {
                z.effects.push(e);
                z.hot = true;
            }
        }
    }

    /// Publishes, for every zone, copies of its entities within the border band of an edge.
    fn publish_border_band(&mut self) {
        let band = self.mode.descriptor.border_band;
        if band <= 0.0 {
            return;
        }
        let width = band.min(1.0) * f64::from(self.grid.zone_size);
        let size = f64::from(self.grid.zone_size);
        let mut mirror = HashMap::new();
        for (coord, z) in &self.zones {
            let (ox, oy) = self.grid.origin(*coord);
            let Some(ents) = z.app.world().get_resource::<ZoneEntities>() else {
                continue;
            };
            let near: Entities = ents
                .0
                .iter()
                .filter(|(_, f)| match (number(f, "x"), number(f, "y")) {
                    (Some(x), Some(y)) => {
                        x - ox < width
                            || ox + size - x <= width
                            || y - oy < width
                            || oy + size - y <= width
                    }
                    _ => false,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !near.is_empty() {
                mirror.insert(*coord, Arc::new(near));
            }
        }
        self.mirror = Arc::new(mirror);
    }

    fn broadcast(&mut self, coord: ZoneCoord) {
        let tick = self.tick;
        let Some(z) = self.zones.get_mut(&coord) else {
            return;
        };
        let empty = Entities::new();
        let current = z
            .app
            .world()
            .get_resource::<ZoneEntities>()
            .map_or(&empty, |e| &e.0);
        let updates = delta::diff(&z.baseline, current);
        if !updates.is_empty() {
            z.frame_seq += 1;
            let msg = WorldTick {
                zone: [coord.0.into(), coord.1.into()],
                frame_seq: Some(z.frame_seq),
                kf: Some(false),
                tick,
                updates,
            };
            let frame = tick_frame(msg, Some(&z.baseline), &self.shared.stats);
            self.shared.sessions.push_to_players(&z.subscribers, &frame);
            z.last_delta = Some(frame);
        } else if let Some(last) = z.last_delta.take() {
            self.shared
                .sessions
                .push_to_players(&z.subscribers, &last.repeat());
        }
        delta::catch_up(&mut z.baseline, current);
        let acks: Vec<(String, u64)> = z
            .subscribers
            .iter()
            .filter_map(|p| z.acks.get(p).map(|s| (p.clone(), *s)))
            .collect();
        for (p, seq) in acks {
            let Some(slot) = self.players.get_mut(&p) else {
                continue;
            };
            if slot.last_ack.is_some_and(|last| last >= seq) {
                continue;
            }
            slot.last_ack = Some(seq);
            let frame = OutFrame::new(ServerMessage::WorldAck(WorldAck { tick, seq }), None);
            self.shared.sessions.push_to_player(&p, &frame);
        }
    }

    /// Moves `player`/`npc` entities that left their zone (past the margin) to their new zone.
    fn crossings(&mut self) {
        let margin = self.mode.descriptor.rehome_margin * f64::from(self.grid.zone_size);
        let mut moves: Vec<(ZoneCoord, String, ZoneCoord)> = Vec::new();
        for (coord, z) in &self.zones {
            let Some(ents) = z.app.world().get_resource::<ZoneEntities>() else {
                continue;
            };
            for (id, f) in &ents.0 {
                let is_mover = matches!(
                    f.get("type").and_then(Value::as_str),
                    Some("player" | "npc")
                );
                let (Some(x), Some(y)) = (number(f, "x"), number(f, "y")) else {
                    continue;
                };
                if is_mover && self.grid.left_zone(*coord, x, y, margin) {
                    let target = self.grid.zone_of(x, y);
                    if target != *coord {
                        moves.push((*coord, id.clone(), target));
                    }
                }
            }
        }
        for (from, id, to) in moves {
            // A player's crossing is rate-limited; one denied, or a target that cannot be
            // loaded, clamps the entity back into its zone.
            if !self.may_cross(&id) || self.ensure_zone(to).is_err() {
                let grid = self.grid;
                if let Some(f) = self.entities_mut(from).and_then(|e| e.get_mut(&id))
                    && let (Some(x), Some(y)) = (number(f, "x"), number(f, "y"))
                {
                    let (cx, cy) = grid.clamp_into(from, x, y);
                    f.insert("x".into(), json!(cx));
                    f.insert("y".into(), json!(cy));
                }
                continue;
            }
            let Some(fields) = self.entities_mut(from).and_then(|e| e.remove(&id)) else {
                continue;
            };
            if let Some(e) = self.entities_mut(to) {
                e.insert(id.clone(), fields);
            }
            if let Some(z) = self.zones.get_mut(&to) {
                z.hot = true;
            }
            if let Some(slot) = self.players.get_mut(&id) {
                let old_ring = std::mem::replace(
                    &mut slot.ring,
                    self.grid.ring(to, self.mode.descriptor.view_radius),
                );
                slot.zone = to;
                let new_ring = slot.ring.clone();
                self.shared
                    .world_chat_cross(&self.mode.descriptor.name, &self.id, &id, from, to);
                let mut frames = Vec::new();
                for z in new_ring.iter().filter(|z| !old_ring.contains(z)) {
                    frames.extend(self.subscribe(&id, *z));
                }
                for z in old_ring.iter().filter(|z| !new_ring.contains(z)) {
                    frames.extend(self.unsubscribe(&id, *z));
                }
                self.push_all(&id, &frames);
            }
        }
    }

    /// Counts a crossing of `id` against its player's and the node's limits (NPCs are free).
    fn may_cross(&mut self, id: &str) -> bool {
        let Some(slot) = self.players.get_mut(id) else {
            return true;
        };
        let now = Instant::now();
        if slot.crossings.admit(PLAYER_CROSSINGS, now).is_err() {
            return false;
        }
        let mut node = self
            .shared
            .crossings
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        node.admit(NODE_CROSSINGS, now).is_ok()
    }

    fn expire_grace(&mut self) {
        let ttl = self.mode.descriptor.player_ttl_ms;
        if ttl <= 0 {
            return;
        }
        let grace = Duration::from_millis(ttl as u64);
        let expired: Vec<String> = self
            .players
            .iter()
            .filter(|(_, s)| s.offline_since.is_some_and(|t| t.elapsed() >= grace))
            .map(|(p, _)| p.clone())
            .collect();
        for p in expired {
            tracing::debug!(parent: &self.span, player = %p, "reconnect grace expired");
            self.leave(&p);
        }
    }

    /// Unloads zones that hold nothing, have no subscribers and were idle past the timeout.
    fn reap(&mut self) {
        let every = REAP_EVERY.min(Duration::from_millis(
            self.mode.descriptor.zone_idle_timeout_ms,
        ));
        if self.last_reap.elapsed() < every {
            return;
        }
        self.last_reap = Instant::now();
        let idle = Duration::from_millis(self.mode.descriptor.zone_idle_timeout_ms);
        let persistent = self.mode.descriptor.persistent;
        // Only empty zones stop (Asobi); a persistent world's zone may also stop while it
        // holds only static entities, because its snapshot restores them.
        let reapable: Vec<ZoneCoord> = self
            .zones
            .iter()
            .filter(|(_, z)| {
                z.subscribers.is_empty() && z.inputs.is_empty() && z.last_active.elapsed() >= idle
            })
            .filter(
                |(_, z)| match z.app.world().get_resource::<ZoneEntities>() {
                    None => true,
                    Some(e) if persistent => !e.0.values().any(|f| {
                        matches!(
                            f.get("type").and_then(Value::as_str),
                            Some("player" | "npc")
                        )
                    }),
                    Some(e) => e.0.is_empty(),
                },
            )
            .map(|(c, _)| *c)
            .collect();
        for c in &reapable {
            if persistent && let Some(snap) = self.zone_snapshot(*c) {
                drop(self.save(*c, snap.clone()));
                self.restore.insert(*c, snap);
            }
            self.zones.remove(c);
        }
        let reaped = reapable.len();
        if reaped > 0 {
            self.shared
                .stats
                .zones_loaded
                .fetch_sub(reaped as u64, std::sync::atomic::Ordering::Relaxed);
            self.publish();
        }
    }

    /// What a loaded zone's snapshot holds now, after its [`SaveZone`] systems ran.
    fn zone_snapshot(&mut self, coord: ZoneCoord) -> Option<ZoneSnapshot> {
        let span = self.span.clone();
        let z = self.zones.get_mut(&coord)?;
        let world = z.app.world_mut();
        let saved = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = world.try_run_schedule(SaveZone);
        }));
        if let Err(p) = saved {
            tracing::error!(parent: &span, zone = ?coord, panic = %panic_message(&p), "zone panicked while saving; its state is stored as last saved");
        }
        let world = z.app.world();
        Some(ZoneSnapshot {
            entities: super::persist::persisted(&world.get_resource::<ZoneEntities>()?.0),
            state: world.get_resource::<ZoneState>().and_then(|s| s.0.clone()),
            tick: self.tick,
        })
    }

    /// Writes a zone's snapshot (persistent worlds); the returned handle resolves when stored.
    fn snapshot(&mut self, coord: ZoneCoord) -> Option<tokio::task::JoinHandle<()>> {
        let snap = self.zone_snapshot(coord)?;
        Some(self.save(coord, snap))
    }

    /// Stores a snapshot in the background; the handle resolves when it is stored.
    fn save(&self, coord: ZoneCoord, snap: ZoneSnapshot) -> tokio::task::JoinHandle<()> {
        let (db, id) = (self.shared.db.clone(), self.id.clone());
        self.shared.io.spawn(async move {
            if let Err(e) = super::persist::save(&db, &id, coord, &snap).await {
                tracing::error!(world_id = %id, zone = ?coord, error = %e, "cannot write zone snapshot");
            }
        })
    }

    /// Snapshots every loaded zone and waits for the writes (shutdown).
    async fn snapshot_all(&mut self) {
        if !self.mode.descriptor.persistent {
            return;
        }
        let coords: Vec<ZoneCoord> = self.zones.keys().copied().collect();
        for c in coords {
            if let Some(h) = self.snapshot(c) {
                let _ = h.await;
            }
        }
    }

    fn finish(&mut self, result: Value) {
        if self.finished {
            return;
        }
        self.finished = true;
        let result = match result {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let frame = OutFrame::new(
            ServerMessage::WorldFinished(WorldFinished {
                world_id: self.id.clone(),
                result: result.clone(),
            }),
            None,
        );
        let players: Vec<String> = self.players.keys().cloned().collect();
        for p in &players {
            self.shared.sessions.push_to_player(p, &frame);
            self.shared.forget_player(p, &self.id);
            let zone = self.players.get(p).map(|s| s.zone);
            self.shared
                .world_chat(&self.mode.descriptor.name, &self.id, p, zone, false);
        }
        self.shared.record(MatchRecord {
            id: self.id.clone(),
            mode: self.mode.descriptor.name.clone(),
            status: "finished".into(),
            result,
            players: Vec::new(), // worlds record no per-player stats
            started_at: Some(self.started_at),
            finished_at: now_ms(),
        });
        self.shared.stats.zones_loaded.fetch_sub(
            self.zones.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.zones.clear();
        self.shared.chunks.forget_world(&self.id);
        self.publish();
    }
}

/// A `world.tick` frame with its compact native form (encoded once here, where the zone's
/// baseline is known) when the frame is encodable; otherwise the native path carries JSON.
fn tick_frame(msg: WorldTick, baseline: Option<&Entities>, stats: &WorldStats) -> Arc<OutFrame> {
    let native = compact::encode(&msg, baseline).map(|payload| {
        Frame {
            kind: compact::KIND_WORLD_TICK_COMPACT,
            cid: None,
            seq: None,
            event: None,
            payload,
        }
        .encode()
    });
    OutFrame::with_native(
        ServerMessage::WorldTick(msg),
        native,
        stats.bytes_out.clone(),
    )
}
