//! The Rust game-mode API: what a game author writes against.
//!
//! A mode is a bevy [`Plugin`] plus a [`ModeDescriptor`]. Each match gets its own bevy
//! [`App`]; the runtime ticks it at the mode's rate. Per tick it first writes the queued
//! joins, leaves and inputs as ECS messages ([`PlayerJoined`], [`PlayerLeft`],
//! [`PlayerInput`]), then runs the `Update` schedule once, then builds the tick's replicated
//! state and sends it to every player. Game authors write systems, not serialisation.
//!
//! # Guide
//!
//! A mode crate depends on `asobi-server`, `bevy_ecs = "0.20"` (bevy's derive macros find
//! their crate by that name) and `serde`. Then:
//!
//! ```no_run
//! use asobi_server::game::prelude::*;
//! use serde::Serialize;
//!
//! #[derive(Component, Serialize, Default)]
//! struct Score { score: u32 }
//!
//! fn on_join(mut commands: Commands, mut joined: MessageReader<PlayerJoined>) {
//!     for j in joined.read() {
//!         commands.entity(j.entity).insert(Score::default());
//!     }
//! }
//!
//! fn on_input(mut inputs: MessageReader<PlayerInput>, mut scores: Query<&mut Score>,
//!             mut control: ResMut<MatchControl>, mut events: MessageWriter<Broadcast>) {
//!     for input in inputs.read() {
//!         if input.input.get("point").is_some() {
//!             if let Ok(mut s) = scores.get_mut(input.entity) {
//!                 s.score += 1;
//!                 events.write(Broadcast::new("scored", serde_json::json!({"by": input.player_id})));
//!                 if s.score == 10 {
//!                     control.finish(serde_json::json!({"winner": input.player_id}));
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! #[derive(Clone)]
//! struct PointsPlugin;
//! impl Plugin for PointsPlugin {
//!     fn build(&self, app: &mut App) {
//!         app.replicate::<Score>().add_systems(Update, (on_join, on_input).chain());
//!     }
//! }
//!
//! let mode = MatchMode::new(ModeDescriptor::new("points", 2).tick_rate(20), PointsPlugin);
//! ```
//!
//! Each player gets an entity with a [`Player`] component the moment they join; it is
//! despawned after the tick that delivered their [`PlayerLeft`]. Components registered with
//! [`ReplicateAppExt::replicate`] appear in `match.state` under `players.<id>` (fields of a
//! struct are merged into the player's record); entities that are not players appear under
//! `entities.<NetId>` when they carry [`NetId`]; resources registered with
//! [`ReplicateAppExt::replicate_resource`] are merged into the top level. The document always
//! has `tick` and `players`. A [`Broadcast`] goes out as `match.<name>`. [`MatchControl`] ends
//! the match with a result or closes it to joins. A panic in any system ends that match only.

use std::sync::Arc;

use bevy_app::{App, Plugin};
use bevy_ecs::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

/// Everything a mode needs, in one import.
pub mod prelude {
    pub use super::{
        Broadcast, JoinValidator, LeaveHook, MatchClock, MatchControl, MatchMode,
        MatchmakingStrategy, ModeDescriptor, NetId, Payloads, Player, PlayerInput, PlayerJoined,
        PlayerLeft, ReplicateAppExt, SendTo, StartFailure, StatePayloads,
    };
    pub use bevy_app::prelude::*;
    pub use bevy_ecs::prelude::*;
}

/// How the matchmaker groups tickets of a mode (`matchmaker.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchmakingStrategy {
    /// Consecutive groups of `match_size`, oldest first.
    #[default]
    Fill,
    /// Groups whose skill spread fits a window that widens with waiting time.
    SkillBased,
}

/// The static description of a mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeDescriptor {
    /// Mode name, as clients ask for it.
    pub name: String,
    /// Players the matchmaker puts in one match.
    pub match_size: u32,
    /// Players needed to start (default: `match_size`).
    pub min_players: u32,
    /// Capacity (default: `match_size`).
    pub max_players: u32,
    /// Ticks per second, 1–60 (default 10, Asobi's 100 ms).
    pub tick_rate: u32,
    /// Matchmaking strategy.
    pub strategy: MatchmakingStrategy,
    /// Whether matches appear in `match.list` (default false).
    pub listed: bool,
    /// Whether `match.find_or_create` may place players (default false).
    pub quick_play: bool,
}

impl ModeDescriptor {
    /// A mode of `match_size` players with the contract's defaults.
    pub fn new(name: impl Into<String>, match_size: u32) -> Self {
        let match_size = match_size.max(1);
        ModeDescriptor {
            name: name.into(),
            match_size,
            min_players: match_size,
            max_players: match_size,
            tick_rate: 10,
            strategy: MatchmakingStrategy::Fill,
            listed: false,
            quick_play: false,
        }
    }

    /// Sets `min_players`.
    pub fn min_players(mut self, n: u32) -> Self {
        self.min_players = n.max(1);
        self
    }

    /// Sets `max_players`.
    pub fn max_players(mut self, n: u32) -> Self {
        self.max_players = n.max(1);
        self
    }

    /// Sets the tick rate, clamped to 1–60 Hz.
    pub fn tick_rate(mut self, hz: u32) -> Self {
        self.tick_rate = hz.clamp(1, 60);
        self
    }

    /// Sets the matchmaking strategy.
    pub fn strategy(mut self, strategy: MatchmakingStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Lists matches in `match.list`.
    pub fn listed(mut self, listed: bool) -> Self {
        self.listed = listed;
        self
    }

    /// Allows `match.find_or_create`.
    pub fn quick_play(mut self, quick_play: bool) -> Self {
        self.quick_play = quick_play;
        self
    }
}

/// A mode: its description and how to build a match's App.
#[derive(Clone)]
pub struct MatchMode {
    /// The description.
    pub descriptor: ModeDescriptor,
    build: Arc<dyn Fn(&mut App) + Send + Sync>,
}

impl std::fmt::Debug for MatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchMode")
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl crate::modes::Named for MatchMode {
    fn name(&self) -> &str {
        &self.descriptor.name
    }
}

impl MatchMode {
    /// A mode whose matches run `plugin`.
    pub fn new<P: Plugin + Clone + Send + Sync>(descriptor: ModeDescriptor, plugin: P) -> Self {
        MatchMode {
            descriptor,
            build: Arc::new(move |app: &mut App| {
                app.add_plugins(plugin.clone());
            }),
        }
    }

    /// Adds the mode's plugin to a match App.
    pub(crate) fn build(&self, app: &mut App) {
        (self.build)(app);
    }
}

/// A joined player's entity.
#[derive(Component, Debug, Clone, PartialEq, Eq)]
pub struct Player {
    /// The player's id.
    pub id: String,
}

/// A stable wire id for a replicated entity that is not a player (a projectile, a pickup).
#[derive(Component, Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetId(pub String);

/// A player joined; their entity already exists.
#[derive(Message, Debug, Clone)]
pub struct PlayerJoined {
    /// The player.
    pub player_id: String,
    /// Their entity.
    pub entity: Entity,
    /// The validated join context (`{}` when none).
    pub ctx: Map<String, Value>,
}

/// A player left; their entity is despawned after this tick.
#[derive(Message, Debug, Clone)]
pub struct PlayerLeft {
    /// The player.
    pub player_id: String,
    /// Their entity (still alive during this tick).
    pub entity: Entity,
}

/// One input a player sent (`match.input`), in arrival order.
#[derive(Message, Debug, Clone)]
pub struct PlayerInput {
    /// The player.
    pub player_id: String,
    /// Their entity.
    pub entity: Entity,
    /// The normalised input object.
    pub input: Map<String, Value>,
}

/// A game event for every player: `match.<name>`.
#[derive(Message, Debug, Clone)]
pub struct Broadcast {
    /// Leaf name; checked against the contract's rules when sent.
    pub name: String,
    /// Payload; a non-object becomes `{}`.
    pub payload: Value,
}

impl Broadcast {
    /// A broadcast of `name` with `payload`.
    pub fn new(name: impl Into<String>, payload: Value) -> Self {
        Broadcast {
            name: name.into(),
            payload,
        }
    }
}

/// The match clock, maintained by the runtime.
#[derive(Resource, Debug, Clone)]
pub struct MatchClock {
    /// The match id.
    pub match_id: String,
    /// Ticks run so far (the current tick while systems run).
    pub tick: u64,
    /// Seconds per tick.
    pub dt: f32,
}

/// What a game can ask of its match.
#[derive(Resource, Debug, Clone, Default)]
pub struct MatchControl {
    pub(crate) result: Option<Map<String, Value>>,
    pub(crate) joinable: Option<bool>,
    pub(crate) aborted: bool,
}

impl MatchControl {
    /// Ends the match with a result (the `match.finished` payload's `result`). A non-object
    /// result becomes `{"value": result}`. Results with `winner` (a player id) or `winners`
    /// (a list) count as wins for those players and losses for the others.
    pub fn finish(&mut self, result: Value) {
        self.result = Some(match result {
            Value::Object(m) => m,
            other => Map::from_iter([("value".to_owned(), other)]),
        });
    }

    /// Ends the match without recording a result or stats (a broken game, not a played one).
    pub fn abort(&mut self, result: Value) {
        self.finish(result);
        self.aborted = true;
    }

    /// Opens or closes the match to new joins without ending it.
    pub fn set_joinable(&mut self, joinable: bool) {
        self.joinable = Some(joinable);
    }
}

/// `(world, player_id, ctx) -> Ok | Err(reason)`.
pub type JoinCheck =
    dyn Fn(&mut World, &str, &Map<String, Value>) -> Result<(), String> + Send + Sync;

/// Runs on every join, before the player's entity is created, between ticks: `Err(reason)`
/// refuses the join (`match.join_refused` with `details.refused_reason`). It may change the
/// world (a script's `join` updates its state here).
#[derive(Resource, Clone)]
pub struct JoinValidator(pub Arc<JoinCheck>);

/// Runs when a player leaves, at once (also while the match is waiting), before their
/// [`PlayerLeft`] message is delivered.
#[derive(Resource, Clone)]
pub struct LeaveHook(pub Arc<LeaveFn>);

/// `(world, player_id)`.
pub type LeaveFn = dyn Fn(&mut World, &str) + Send + Sync;

/// Set by a plugin that cannot start its match (a script's `init` failed): the match is
/// not created, and the matchmaker retries or reports `match_start_failed`.
#[derive(Resource, Debug, Clone)]
pub struct StartFailure(pub String);

/// The match's phase object (`websocket.md` §9.24 shape), shown in `match.joined` and the
/// listings; `None` when the mode has no phases.
#[derive(Resource, Debug, Clone, Default)]
pub struct MatchPhase(pub Option<Map<String, Value>>);

/// The `match.state` payloads of this tick, when the game produces them itself instead of
/// the replicated document. Taken by the runtime after each tick.
#[derive(Resource, Debug, Clone, Default)]
pub struct StatePayloads(pub Option<Payloads>);

/// One payload for everyone, or one per player.
#[derive(Debug, Clone)]
pub enum Payloads {
    /// Encoded once, sent to every player.
    Shared(Map<String, Value>),
    /// One per player; identical payloads are still encoded once each.
    PerPlayer(Vec<(String, Map<String, Value>)>),
}

/// A message for one player: `module.message {module: "lua", message}` (preceded by the
/// deprecated `game.message` twin, as Asobi does).
#[derive(Message, Debug, Clone)]
pub struct SendTo {
    /// Recipient.
    pub player_id: String,
    /// Any JSON value.
    pub message: Value,
}

type Extract = fn(&World, Entity) -> Option<Value>;
type ExtractResource = fn(&World) -> Option<Value>;

/// The registered replicated components and resources of a match App.
#[derive(Resource, Default)]
pub(crate) struct Replication {
    pub(crate) components: Vec<(&'static str, Extract)>,
    pub(crate) resources: Vec<(&'static str, ExtractResource)>,
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

fn extract_component<C: Component + Serialize>(world: &World, entity: Entity) -> Option<Value> {
    world
        .get::<C>(entity)
        .and_then(|c| serde_json::to_value(c).ok())
}

fn extract_resource<R: Resource + Serialize>(world: &World) -> Option<Value> {
    world
        .get_resource::<R>()
        .and_then(|r| serde_json::to_value(r).ok())
}

/// Registers what clients see.
pub trait ReplicateAppExt {
    /// Replicates a component. A struct's fields are merged into the entity's record; any
    /// other value is stored under the type's name in snake case (`Hp(100)` → `"hp": 100`).
    fn replicate<C: Component + Serialize>(&mut self) -> &mut Self;
    /// Replicates a resource into the top level of the state document, the same way.
    fn replicate_resource<R: Resource + Serialize>(&mut self) -> &mut Self;
}

impl ReplicateAppExt for App {
    fn replicate<C: Component + Serialize>(&mut self) -> &mut Self {
        let name = short_name::<C>();
        self.world_mut()
            .get_resource_or_insert_with(Replication::default)
            .components
            .push((name, extract_component::<C>));
        self
    }

    fn replicate_resource<R: Resource + Serialize>(&mut self) -> &mut Self {
        let name = short_name::<R>();
        self.world_mut()
            .get_resource_or_insert_with(Replication::default)
            .resources
            .push((name, extract_resource::<R>));
        self
    }
}

/// `CamelCase` → `snake_case`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Merges a replicated value into a record.
pub(crate) fn merge_into(record: &mut Map<String, Value>, name: &str, value: Value) {
    match value {
        Value::Object(fields) => record.extend(fields),
        other => {
            record.insert(snake_case(name), other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_merging() {
        #[derive(Component, Serialize)]
        struct HitPoints(u32);
        assert_eq!(short_name::<HitPoints>(), "HitPoints");
        assert_eq!(snake_case("HitPoints"), "hit_points");
        let mut rec = Map::new();
        merge_into(&mut rec, "HitPoints", serde_json::json!(3));
        merge_into(&mut rec, "Pos", serde_json::json!({"x": 1, "y": 2}));
        assert_eq!(
            Value::Object(rec),
            serde_json::json!({"hit_points": 3, "x": 1, "y": 2})
        );
    }
}

/// The backend services a game mode calls, as a resource of every match and zone App (and
/// handed to world hooks): the same functions REST calls, so a score a mode submits is the
/// one `GET /leaderboards` shows.
#[derive(Resource, Clone)]
pub struct GameServices {
    /// Storage objects; None when storage is off (`storage_enabled = false`).
    pub storage: Option<asobi_services::storage::Storage>,
    /// Leaderboards.
    pub leaderboards: asobi_services::leaderboards::Leaderboards,
    /// Wallets, store and inventories.
    pub economy: asobi_services::economy::Economy,
    /// Notifications (stored, and pushed to the player's sessions).
    pub notifications: asobi_services::notifications::Notifications,
    /// Chat: the store and this node's channels.
    pub chat: (
        asobi_services::chat::Chat,
        std::sync::Arc<crate::chat::Channels>,
    ),
    io: tokio::runtime::Handle,
}

/// Longest a callback waits for a service call before it sees `{error = "timeout"}`.
pub const SERVICE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl GameServices {
    /// Services whose calls run on the I/O runtime `io` (database sockets live there).
    pub fn new(
        storage: Option<asobi_services::storage::Storage>,
        leaderboards: asobi_services::leaderboards::Leaderboards,
        economy: asobi_services::economy::Economy,
        notifications: asobi_services::notifications::Notifications,
        chat: (
            asobi_services::chat::Chat,
            std::sync::Arc<crate::chat::Channels>,
        ),
        io: tokio::runtime::Handle,
    ) -> Self {
        GameServices {
            storage,
            leaderboards,
            economy,
            notifications,
            chat,
            io,
        }
    }

    /// Spawns a service call on the I/O runtime (a Rust system that does not need the
    /// answer within its tick).
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.io.spawn(fut)
    }

    /// Runs a service call to completion from inside a tick (a Lua `game.*` call needs its
    /// answer synchronously): the call runs on the I/O runtime while this thread waits, at
    /// most [`SERVICE_WAIT`]. None on timeout, or when called from a single-threaded
    /// runtime, which waiting would stall.
    pub fn wait<F>(&self, fut: F) -> Option<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let call = self.io.spawn(async move {
            let _ = tx.send(fut.await);
        });
        let recv = move || rx.recv_timeout(SERVICE_WAIT).ok();
        let answer = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => None,
            Ok(_) => tokio::task::block_in_place(recv),
            Err(_) => recv(),
        };
        if answer.is_none() {
            // The script hears `timeout`: the call stops here, and a write whose transaction
            // has not committed yet rolls back, so a script that retries does not apply it
            // twice (one already committing may still land).
            call.abort();
        }
        answer
    }
}
