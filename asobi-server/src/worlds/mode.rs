//! The world-mode API: what a game author writes for a persistent world.
//!
//! A world is a grid of zones; each zone is its own bevy `App` built from the mode's zone
//! plugin. A zone's entities are the contract's model (`worlds.md` §6): a map from entity id
//! to JSON fields, held in the [`ZoneEntities`] resource, which the zone's systems read and
//! write. The runtime owns everything around it: players joining and leaving, inputs
//! ([`WorldInput`] messages, in arrival order), crossings between zones (an entity of type
//! `player` or `npc` whose `x`/`y` left its zone), per-zone deltas to subscribers, keyframes,
//! acks and terrain. The same model serves Lua zone VMs.

use std::collections::HashMap;
use std::sync::Arc;

use asobi_core::world::delta::Entities;
use asobi_core::world::grid::{Grid, ZoneCoord};
use asobi_core::world::terrain::TerrainProvider;
use bevy_app::{App, Plugin};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use serde_json::{Map, Value};

pub use super::persist::ZoneSnapshot;

/// Static description of a world mode (`worlds.md` §2 defaults).
#[derive(Clone)]
pub struct WorldDescriptor {
    /// Mode name.
    pub name: String,
    /// Players per world.
    pub max_players: u32,
    /// Players the matchmaker places in a new world together.
    pub match_size: u32,
    /// Zones per axis.
    pub grid_size: u32,
    /// Units per zone side.
    pub zone_size: u32,
    /// Milliseconds per world tick.
    pub tick_rate_ms: u64,
    /// Deltas every N ticks.
    pub broadcast_interval: u64,
    /// Interest ring radius in zones.
    pub view_radius: u32,
    /// Appears in `world.list`.
    pub listed: bool,
    /// Takes `world.find_or_create`.
    pub quick_play: bool,
    /// Zones are created on demand (else all at start).
    pub lazy_zones: bool,
    /// Idle zones are unloaded after this.
    pub zone_idle_timeout_ms: u64,
    /// Cap on loaded zones.
    pub max_active_zones: usize,
    /// Idle zones tick every N world ticks.
    pub cold_tick_divisor: u64,
    /// Crossing hysteresis, as a fraction of `zone_size`.
    pub rehome_margin: f64,
    /// Disconnect grace: 0 leave at once, −1 keep forever, N ms.
    pub player_ttl_ms: i64,
    /// Zones are snapshotted and restored; the world survives restarts and never finishes
    /// for being empty.
    pub persistent: bool,
    /// Fraction of `zone_size` along each edge whose entities a zone publishes to its
    /// neighbours (0 = off).
    pub border_band: f64,
    /// Cell size of the per-zone spatial index (default: an eighth of a zone).
    pub spatial_cell: Option<f64>,
    /// Ticks between periodic snapshots of a persistent world's zones.
    pub snapshot_interval: u64,
    /// Terrain, if any (chunk coordinates = zone coordinates).
    pub terrain: Option<Arc<dyn TerrainProvider>>,
}

impl std::fmt::Debug for WorldDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorldDescriptor")
            .field("name", &self.name)
            .field("grid_size", &self.grid_size)
            .finish_non_exhaustive()
    }
}

impl WorldDescriptor {
    /// A mode with the contract's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        WorldDescriptor {
            name: name.into(),
            max_players: 500,
            match_size: 1,
            grid_size: 10,
            zone_size: 200,
            tick_rate_ms: 50,
            broadcast_interval: 3,
            view_radius: 1,
            listed: true,
            quick_play: true,
            lazy_zones: false,
            zone_idle_timeout_ms: 30_000,
            max_active_zones: 10_000,
            cold_tick_divisor: 10,
            rehome_margin: 0.15,
            player_ttl_ms: 0,
            persistent: false,
            border_band: 0.0,
            spatial_cell: None,
            snapshot_interval: 600,
            terrain: None,
        }
    }

    /// The grid.
    pub fn grid(&self) -> Grid {
        Grid::new(self.grid_size, self.zone_size)
    }
}

/// Where a joining player appears: `(world_id, player_id) -> (x, y)`.
pub type SpawnFn = dyn Fn(&str, &str) -> (f64, f64) + Send + Sync;

/// World-level game logic (the world VM of a Lua world): one instance per world, called by the
/// world task between ticks. Every method has a neutral default.
pub trait WorldHooks: Send {
    /// A player asks to join; `Err(reason)` refuses (`match.join_refused`).
    fn join(&mut self, _player_id: &str, _ctx: &Map<String, Value>) -> Result<(), String> {
        Ok(())
    }
    /// Where the player appears; `None` uses the mode's spawn rule.
    fn spawn_position(&mut self, _player_id: &str) -> Option<(f64, f64)> {
        None
    }
    /// A player left.
    fn leave(&mut self, _player_id: &str) {}
    /// Initial host-side states of a non-lazy world's zones (`generate_world(seed, config)`),
    /// keyed by zone; each becomes that zone's [`ZoneState`], also when it is recreated. Not
    /// called when a persistent world restores from snapshots.
    fn generate_world(&mut self, _seed: i64) -> HashMap<ZoneCoord, Value> {
        HashMap::new()
    }
    /// A non-lazy persistent world restored these zone snapshots at start
    /// (`on_world_recovered`).
    fn recovered(&mut self, _snapshots: &HashMap<ZoneCoord, ZoneSnapshot>) {}
    /// This world's terrain, chosen when it starts; `None` uses the mode's.
    fn terrain(&mut self) -> Option<Arc<dyn TerrainProvider>> {
        None
    }
    /// After every zone ran tick `tick`, with `players` in the world (offline ones in their
    /// reconnect grace included); `Some(result)` finishes the world.
    fn post_tick(&mut self, _tick: u64, _players: usize) -> Option<Map<String, Value>> {
        None
    }
    /// The current phase object, if the world has phases.
    fn phase(&self) -> Option<Map<String, Value>> {
        None
    }
    /// What the hooks asked to send since the last call.
    fn take_effects(&mut self) -> HookEffects {
        HookEffects::default()
    }
}

/// Messages world hooks produced.
#[derive(Debug, Default)]
pub struct HookEffects {
    /// `world.<name>` events for every member: `(name, payload)`.
    pub events: Vec<(String, Value)>,
    /// `module.message` for one player: `(player_id, message)`.
    pub sends: Vec<(String, Value)>,
    /// `world.phase_changed` payloads for every member: `(phase, is_transition)`; transitions
    /// carry the world id, periodic refreshes do not (`websocket.md` §9.24).
    pub phase_changes: Vec<(Map<String, Value>, bool)>,
}

struct NoHooks;
impl WorldHooks for NoHooks {}

/// Makes a world's hooks: `(world_id, services) -> hooks`, or why the world cannot start.
pub type HooksFn = dyn Fn(&str, Option<&crate::game::GameServices>) -> Result<Box<dyn WorldHooks>, String>
    + Send
    + Sync;

/// A world mode: its description, its zone plugin, and its spawn rule.
#[derive(Clone)]
pub struct WorldMode {
    /// The description.
    pub descriptor: WorldDescriptor,
    build_zone: Arc<dyn Fn(&mut App) + Send + Sync>,
    spawn: Arc<SpawnFn>,
    hooks: Arc<HooksFn>,
}

impl crate::modes::Named for WorldMode {
    fn name(&self) -> &str {
        &self.descriptor.name
    }
}

impl WorldMode {
    /// A mode whose zones run `plugin`; players spawn at the world's centre unless
    /// [`WorldMode::spawn_at`] says otherwise.
    pub fn new<P: Plugin + Clone + Send + Sync>(descriptor: WorldDescriptor, plugin: P) -> Self {
        let half = f64::from(descriptor.grid_size) * f64::from(descriptor.zone_size) / 2.0;
        WorldMode {
            descriptor,
            build_zone: Arc::new(move |app: &mut App| {
                app.add_plugins(plugin.clone());
            }),
            spawn: Arc::new(move |_, _| (half, half)),
            hooks: Arc::new(|_, _| Ok(Box::new(NoHooks))),
        }
    }

    /// Sets the world-level hooks.
    pub fn with_hooks(
        mut self,
        f: impl Fn(&str, Option<&crate::game::GameServices>) -> Result<Box<dyn WorldHooks>, String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.hooks = Arc::new(f);
        self
    }

    pub(crate) fn hooks(
        &self,
        world_id: &str,
        services: Option<&crate::game::GameServices>,
    ) -> Result<Box<dyn WorldHooks>, String> {
        (self.hooks)(world_id, services)
    }

    /// Sets the spawn rule.
    pub fn spawn_at(
        mut self,
        f: impl Fn(&str, &str) -> (f64, f64) + Send + Sync + 'static,
    ) -> Self {
        self.spawn = Arc::new(f);
        self
    }

    pub(crate) fn build_zone(&self, app: &mut App) {
        (self.build_zone)(app);
    }

    pub(crate) fn spawn_position(&self, world_id: &str, player_id: &str) -> (f64, f64) {
        (self.spawn)(world_id, player_id)
    }
}

/// A zone's entities: id → fields. `x`, `y` (numbers) and `type` (`"player"`, `"npc"`, …)
/// are read by the runtime; everything else is the game's.
#[derive(Resource, Debug, Clone, Default)]
pub struct ZoneEntities(pub Entities);

/// Facts about the zone, kept current by the runtime.
#[derive(Resource, Debug, Clone)]
pub struct ZoneInfo {
    /// World id.
    pub world_id: String,
    /// This zone.
    pub coord: ZoneCoord,
    /// The world's grid.
    pub grid: Grid,
    /// The tick being run.
    pub tick: u64,
}

/// One `world.input` (or `match.input` routed to the zone), in arrival order.
#[derive(Message, Debug, Clone)]
pub struct WorldInput {
    /// The player.
    pub player_id: String,
    /// The normalised input object.
    pub input: Map<String, Value>,
    /// The client's input sequence, when it sent one.
    pub seq: Option<u64>,
}

/// Copies of the entities the 8 neighbouring zones publish in their border band (as of the
/// previous tick), keyed by zone. Read-only.
#[derive(Resource, Clone, Default)]
pub struct BorderMirror(pub Arc<Mirror>);

/// Border-band copies by zone; each zone's copy is shared, not cloned, into its neighbours'
/// views.
pub type Mirror = HashMap<ZoneCoord, Arc<Entities>>;

/// One cross-zone effect: an event for an entity another zone owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// The target entity.
    pub entity_id: String,
    /// The event (a JSON object, at most 4 KiB encoded).
    pub event: Value,
}

/// Effects to send this tick, each to the zone publishing the entity (at most 64 per tick).
#[derive(Resource, Debug, Clone, Default)]
pub struct OutgoingEffects(pub Vec<Effect>);

/// Effects delivered to this zone this tick, for entities it still owns.
#[derive(Resource, Debug, Clone, Default)]
pub struct IncomingEffects(pub Vec<Effect>);

/// This zone's host-side state (`worlds.md` §11.2): a JSON value the zone's game keeps for
/// itself — Lua zones keep `{"game_state": <zone_state>, "spawner_state": …}`. Set when the
/// zone is built, from its snapshot or else from `generate_world`; persistent worlds store it
/// with every snapshot, after running the [`SaveZone`] schedule, where a zone can bring it up
/// to date.
#[derive(Resource, Debug, Clone, Default)]
pub struct ZoneState(pub Option<Value>);

/// Runs on a zone right before it is snapshotted: systems here update [`ZoneState`].
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct SaveZone;

/// The world's terrain, for zone systems (and `game.terrain` in zone VMs).
#[derive(Resource, Clone, Default)]
pub struct ZoneTerrain(pub Option<Arc<dyn TerrainProvider>>);

/// Set by a zone that must keep ticking at full rate even while empty (Lua `_keep_hot`).
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct KeepHot(pub bool);

/// Consumed-input watermarks the game reports this tick (they beat the stamped `seq`s).
#[derive(Resource, Debug, Clone, Default)]
pub struct ConsumedSeq(pub HashMap<String, u64>);

/// The prelude for world modes.
pub mod prelude {
    pub use super::{
        ConsumedSeq, SaveZone, WorldDescriptor, WorldHooks, WorldInput, WorldMode, ZoneEntities,
        ZoneInfo, ZoneState,
    };
    pub use crate::game::{Broadcast, SendTo};
    pub use asobi_core::world::terrain::{FlatTerrain, NoiseTerrain, Tile};
    pub use bevy_app::prelude::*;
    pub use bevy_ecs::prelude::*;
}
