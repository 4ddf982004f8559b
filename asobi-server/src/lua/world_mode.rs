//! Lua world modes (`lua.md` §5): one **world VM** per world and a separate **zone VM** per
//! zone, evaluated from the same script. Globals are never shared between them.
//!
//! World VM (behind [`WorldHooks`]): `init(config)`, `join(player_id, state, ctx)` (returning
//! `nil[, reason]` refuses — Asobi has no world refusal; scripts that always return the state
//! are unaffected), `spawn_position(player_id, state)` → `{x, y}` (missing keys 0, errors
//! (0, 0)), `leave`, `post_tick(tick, state)` whose `_finished`/`_result` finish the world,
//! `terrain_provider`, `phases` (`on_phase_started`/`on_phase_ended`, `world.phase_changed`;
//! the last phase ending finishes the world), and for non-lazy worlds `generate_world` /
//! `on_world_recovered`.
//!
//! Zone VM (a plugin on each zone App; `init` is not called): per tick
//! `zone_tick(entities, zone_state) -> entities, zone_state`, then each queued input
//! `handle_input(player_id, input, entities) -> entities[, consumed_seq]` in arrival order,
//! then `handle_effects`, then `game.zone.spawn`/`despawn` calls and due respawns
//! (`spawn_templates`, read at zone start and after a reload);
//! `zone_state._keep_hot = true` keeps an empty zone ticking at full rate. The entities the
//! script returns are authoritative. Failures keep the previous entities and state; every VM
//! hot-reloads like match VMs.

use crate::game::GameServices;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::{App, Plugin, Update};
use bevy_ecs::message::Messages;
use bevy_ecs::prelude::*;
use mlua::{MultiValue, Value};
use serde_json::{Map, Value as Json};

use super::api::{Api, Context};
use super::convert::{Nulls, object_to_lua, to_lua};
use super::discovery::LuaModeDef;
use super::match_mode::LuaSettings;
use super::reload::Reloader;
use super::sandbox::{Sandbox, ScriptError};
use crate::game::StartFailure;
use crate::phases::{Phases, Transition};
use crate::worlds::mode::{
    BorderMirror, ConsumedSeq, Effect, HookEffects, IncomingEffects, KeepHot, OutgoingEffects,
    SaveZone, WorldHooks, WorldInput, ZoneEntities, ZoneInfo, ZoneSnapshot, ZoneState, ZoneTerrain,
};
use crate::worlds::{WorldDescriptor, WorldMode};
use asobi_core::world::grid::ZoneCoord;
use asobi_core::world::spatial::SpatialHash;
use asobi_core::world::terrain::{FlatTerrain, NoiseTerrain, TerrainProvider, Tile};

const TOP_LEVEL: Duration = Duration::from_millis(2000);
const ZONE_TOP_LEVEL: Duration = Duration::from_millis(5000);
const INIT: Duration = Duration::from_millis(2000);
const JOIN_LEAVE: Duration = Duration::from_millis(200);
const SPAWN: Duration = Duration::from_millis(100);
const POST_TICK: Duration = Duration::from_millis(500);
const ZONE_TICK: Duration = Duration::from_millis(500);
const INPUT: Duration = Duration::from_millis(50);
const GENERATE: Duration = Duration::from_millis(5000);

/// The world mode for a Lua world script.
pub fn mode(def: LuaModeDef, descriptor: WorldDescriptor, settings: LuaSettings) -> WorldMode {
    let def = Arc::new(def);
    let hooks_def = def.clone();
    let spatial_cell = descriptor
        .spatial_cell
        .unwrap_or(f64::from(descriptor.zone_size) / 8.0);
    WorldMode::new(
        descriptor,
        LuaZonePlugin {
            def,
            settings,
            spatial_cell,
        },
    )
    .with_hooks(move |world_id, services| {
        LuaWorld::start(&hooks_def, settings, world_id, services)
            .map(|w| Box::new(w) as Box<dyn WorldHooks>)
    })
}

fn new_vm(
    def: &LuaModeDef,
    settings: LuaSettings,
    owner: &str,
    context: Context,
    budget: Duration,
    services: Option<GameServices>,
) -> Result<(Sandbox, Api), String> {
    let dir = def
        .script
        .parent()
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let sandbox = Sandbox::new(&dir, settings.memory_limit).map_err(|e| e.to_string())?;
    let basename = def
        .script
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let api = Api::new(owner, &basename, context).with_services(services);
    api.install(sandbox.lua()).map_err(|e| e.to_string())?;
    let source = std::fs::read(&def.script).map_err(|e| format!("{}: {e}", def.rel))?;
    sandbox
        .exec(&source, &def.rel, budget)
        .map_err(|e| e.to_string())?;
    Ok((sandbox, api))
}

fn log_failure(rel: &str, callback: &str, e: &ScriptError) {
    tracing::error!(script = %rel, callback, class = e.label(), error = %e, "script error");
}

/// The world VM.
struct LuaWorld {
    sandbox: Sandbox,
    api: Api,
    state: Value,
    rel: String,
    reloader: Reloader,
    /// `phases(config)`, if the script has any.
    phases: Option<Phases>,
    /// `world.phase_changed` payloads to send.
    phase_changes: Vec<(Map<String, Json>, bool)>,
    last_phase_refresh: Instant,
}

/// How often an active world's phase is re-sent as state (Asobi: every tick for one second
/// in three; we send it once).
const PHASE_REFRESH: Duration = Duration::from_secs(3);

impl LuaWorld {
    fn start(
        def: &LuaModeDef,
        settings: LuaSettings,
        world_id: &str,
        services: Option<&GameServices>,
    ) -> Result<LuaWorld, String> {
        let (sandbox, api) = new_vm(
            def,
            settings,
            world_id,
            Context::World,
            TOP_LEVEL,
            services.cloned(),
        )?;
        let config = sandbox.lua().create_table().map_err(|e| e.to_string())?;
        let out = sandbox
            .call("init", MultiValue::from_iter([Value::Table(config)]), INIT)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{}: init is not defined", def.rel))?;
        let state = match out.into_iter().next() {
            Some(v) if !v.is_nil() => v,
            _ => return Err(format!("{}: init returned nothing", def.rel)),
        };
        let mut world = LuaWorld {
            sandbox,
            api,
            state,
            rel: def.rel.clone(),
            reloader: Reloader::new(&def.script, &def.rel, settings.reload),
            phases: None,
            phase_changes: Vec::new(),
            last_phase_refresh: Instant::now(),
        };
        world.start_phases();
        Ok(world)
    }

    /// `phases(config)`; the first phase starts at once when its condition allows.
    fn start_phases(&mut self) {
        let list = match self.sandbox.call_with_config("phases", INIT) {
            Ok(list) => list,
            Err(e) => {
                log_failure(&self.rel, "phases", &e);
                None
            }
        };
        let list = crate::phases::parse(&list.unwrap_or(Json::Null));
        self.phases = Phases::new(list, crate::time::now_ms());
        self.advance_phases(0);
    }

    /// Runs due phase transitions and their callbacks; `true` when the last phase ended.
    fn advance_phases(&mut self, players: usize) -> bool {
        let now = crate::time::now_ms();
        let Some(p) = self.phases.as_mut() else {
            return false;
        };
        let transitions = p.advance(now, players);
        for (callback, name) in transitions.iter().filter_map(Transition::callback) {
            let Ok(name) = self.sandbox.lua().create_string(name) else {
                continue;
            };
            let args = MultiValue::from_iter([Value::String(name), self.state.clone()]);
            self.update(callback, args, JOIN_LEAVE);
        }
        if let Some(p) = &self.phases {
            if !transitions.is_empty() {
                self.phase_changes.push((p.info(now), true));
                self.last_phase_refresh = Instant::now();
            } else if self.last_phase_refresh.elapsed() >= PHASE_REFRESH {
                self.phase_changes.push((p.info(now), false));
                self.last_phase_refresh = Instant::now();
            }
        }
        transitions.contains(&Transition::Complete)
    }

    fn pid(&self, player_id: &str) -> Value {
        self.sandbox
            .lua()
            .create_string(player_id)
            .map(Value::String)
            .unwrap_or(Value::Nil)
    }

    /// Calls a state-returning callback; its first return value becomes the state, and on error
    /// or `nil` the previous state is kept.
    fn update(
        &mut self,
        callback: &'static str,
        args: MultiValue,
        budget: Duration,
    ) -> Option<MultiValue> {
        let snapshot = self.sandbox.snapshot(&self.state).ok();
        match self.sandbox.call(callback, args, budget) {
            Ok(Some(out)) => {
                if let Some(v) = out.iter().next().filter(|v| !v.is_nil()) {
                    self.state = v.clone();
                }
                Some(out)
            }
            Ok(None) => None,
            Err(e) => {
                if let Some(s) = snapshot {
                    self.state = s;
                }
                log_failure(&self.rel, callback, &e);
                None
            }
        }
    }
}

impl WorldHooks for LuaWorld {
    fn join(&mut self, player_id: &str, ctx: &Map<String, Json>) -> Result<(), String> {
        let lua = self.sandbox.lua().clone();
        let ctx = object_to_lua(&lua, ctx, Nulls::AsNil).map_err(|e| e.to_string())?;
        let snapshot = self
            .sandbox
            .snapshot(&self.state)
            .map_err(|e| e.to_string())?;
        let args =
            MultiValue::from_iter([self.pid(player_id), self.state.clone(), Value::Table(ctx)]);
        match self.sandbox.call("join", args, JOIN_LEAVE) {
            Ok(Some(out)) => {
                let values: Vec<Value> = out.into_iter().collect();
                match values.first() {
                    Some(v) if !matches!(v, Value::Nil | Value::Boolean(false)) => {
                        self.state = v.clone();
                        Ok(())
                    }
                    _ => {
                        self.state = snapshot;
                        Err(match values.get(1) {
                            Some(Value::String(s)) => {
                                let s = s.to_string_lossy();
                                if !s.is_empty()
                                    && s.len() <= 64
                                    && s.bytes().all(|b| (32..=126).contains(&b))
                                {
                                    s
                                } else {
                                    String::new()
                                }
                            }
                            _ => String::new(),
                        })
                    }
                }
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.state = snapshot;
                log_failure(&self.rel, "join", &e);
                Err(e.label().to_owned())
            }
        }
    }

    fn spawn_position(&mut self, player_id: &str) -> Option<(f64, f64)> {
        if !self.sandbox.has_function("spawn_position") {
            return None;
        }
        let args = MultiValue::from_iter([self.pid(player_id), self.state.clone()]);
        match self.sandbox.call("spawn_position", args, SPAWN) {
            Ok(Some(out)) => {
                let pos = match out.into_iter().next() {
                    Some(v) => self.sandbox.to_json(&v).unwrap_or_else(|e| {
                        log_failure(&self.rel, "spawn_position", &e);
                        Json::Null
                    }),
                    None => Json::Null,
                };
                let axis = |k: &str| pos.get(k).and_then(Json::as_f64).unwrap_or(0.0);
                Some((axis("x"), axis("y")))
            }
            Ok(None) => None,
            Err(e) => {
                log_failure(&self.rel, "spawn_position", &e);
                Some((0.0, 0.0))
            }
        }
    }

    fn leave(&mut self, player_id: &str) {
        let args = MultiValue::from_iter([self.pid(player_id), self.state.clone()]);
        self.update("leave", args, JOIN_LEAVE);
    }

    /// `on_world_recovered(snapshots, state) -> state`, with the snapshots keyed `"x,y"`, each
    /// `{entities, zone_state, tick}`.
    fn recovered(&mut self, snapshots: &HashMap<ZoneCoord, ZoneSnapshot>) {
        if !self.sandbox.has_function("on_world_recovered") {
            return;
        }
        let table: Map<String, Json> = snapshots
            .iter()
            .map(|((x, y), s)| {
                let entry = serde_json::json!({
                    "entities": s.entities,
                    "zone_state": s.state,
                    "tick": s.tick,
                });
                (format!("{x},{y}"), entry)
            })
            .collect();
        let lua = self.sandbox.lua().clone();
        match object_to_lua(&lua, &table, Nulls::AsNil) {
            Ok(t) => {
                let args = MultiValue::from_iter([Value::Table(t), self.state.clone()]);
                self.update("on_world_recovered", args, INIT);
            }
            Err(e) => {
                tracing::error!(script = %self.rel, error = %e, "cannot pass the snapshots to on_world_recovered")
            }
        }
    }

    /// `generate_world(seed, config) -> {["x,y"] = value}`; other keys are ignored.
    fn generate_world(&mut self, seed: i64) -> HashMap<ZoneCoord, Json> {
        let Ok(config) = self.sandbox.lua().create_table() else {
            return HashMap::new();
        };
        let args = MultiValue::from_iter([Value::Integer(seed), Value::Table(config)]);
        let zones = match self.sandbox.call_json("generate_world", args, GENERATE) {
            Ok(Some(Json::Object(zones))) => zones,
            Ok(_) => return HashMap::new(),
            Err(e) => {
                log_failure(&self.rel, "generate_world", &e);
                return HashMap::new();
            }
        };
        zones
            .into_iter()
            .filter_map(|(key, value)| {
                let (x, y) = key.split_once(',')?;
                Some(((x.trim().parse().ok()?, y.trim().parse().ok()?), value))
            })
            .collect()
    }

    /// `terrain_provider(config) -> {module = name, args = table}`, from the allowlist of
    /// built-in providers: `asobi_terrain_flat {tile, elevation}`, `asobi_terrain_perlin {seed}`.
    fn terrain(&mut self) -> Option<Arc<dyn TerrainProvider>> {
        let spec = match self.sandbox.call_with_config("terrain_provider", INIT) {
            Ok(spec) => spec?,
            Err(e) => {
                log_failure(&self.rel, "terrain_provider", &e);
                return None;
            }
        };
        let args = spec.get("args").cloned().unwrap_or(Json::Null);
        let int = |k: &str, default: i64| args.get(k).and_then(Json::as_i64).unwrap_or(default);
        let provider: Arc<dyn TerrainProvider> = match spec.get("module").and_then(Json::as_str) {
            Some("asobi_terrain_flat") => Arc::new(FlatTerrain {
                tile: Tile {
                    id: int("tile", 1).clamp(0, 65_535) as u16,
                    flags: 0,
                    elevation: int("elevation", 0).clamp(0, 255) as u8,
                },
            }),
            Some("asobi_terrain_perlin") => Arc::new(NoiseTerrain {
                seed: int("seed", crate::time::now_ms()) as u64,
            }),
            other => {
                tracing::warn!(script = %self.rel, module = ?other, "terrain provider not on the allowlist; no terrain");
                return None;
            }
        };
        self.api.set_terrain(Some(provider.clone()));
        Some(provider)
    }

    fn post_tick(&mut self, tick: u64, players: usize) -> Option<Map<String, Json>> {
        self.reloader.poll(&self.sandbox);
        let args = MultiValue::from_iter([Value::Integer(tick as i64), self.state.clone()]);
        self.update("post_tick", args, POST_TICK);
        if self.advance_phases(players) {
            let mut result = Map::new();
            result.insert("status".into(), Json::String("phases_complete".into()));
            return Some(result);
        }
        let Value::Table(t) = &self.state else {
            return None;
        };
        if t.raw_get::<Value>("_finished").ok()? != Value::Boolean(true) {
            return None;
        }
        let result = t.raw_get::<Value>("_result").unwrap_or(Value::Nil);
        Some(self.sandbox.to_object(&result).unwrap_or_else(|e| {
            log_failure(&self.rel, "post_tick", &e);
            Map::new()
        }))
    }

    fn take_effects(&mut self) -> HookEffects {
        let e = self.api.take_effects();
        HookEffects {
            events: e.broadcasts,
            sends: e.sends,
            phase_changes: std::mem::take(&mut self.phase_changes),
        }
    }

    fn phase(&self) -> Option<Map<String, Json>> {
        Some(self.phases.as_ref()?.info(crate::time::now_ms()))
    }
}

#[derive(Clone)]
struct LuaZonePlugin {
    def: Arc<LuaModeDef>,
    settings: LuaSettings,
    spatial_cell: f64,
}

/// A zone VM.
#[derive(Resource)]
struct LuaZone {
    sandbox: Sandbox,
    api: Api,
    zone_state: Value,
    rel: String,
    reloader: Reloader,
    spatial_cell: f64,
}

impl Plugin for LuaZonePlugin {
    fn build(&self, app: &mut App) {
        let owner = app
            .world()
            .get_resource::<ZoneInfo>()
            .map(|i| format!("{}:{},{}", i.world_id, i.coord.0, i.coord.1))
            .unwrap_or_default();
        match new_vm(
            &self.def,
            self.settings,
            &owner,
            Context::Zone,
            ZONE_TOP_LEVEL,
            app.world().get_resource::<GameServices>().cloned(),
        ) {
            Ok((sandbox, api)) => {
                api.set_terrain(
                    app.world()
                        .get_resource::<ZoneTerrain>()
                        .and_then(|t| t.0.clone()),
                );
                // The host-side state (a snapshot's, or `generate_world`'s) holds the Lua zone
                // state as `game_state`, and the respawn queue as `spawner_state`.
                let saved = app
                    .world()
                    .get_resource::<ZoneState>()
                    .and_then(|s| s.0.clone());
                let field = |k: &str| saved.as_ref().and_then(|s| s.get(k));
                let zone_state = field("game_state")
                    .and_then(|v| to_lua(sandbox.lua(), v, Nulls::AsNil).ok())
                    .unwrap_or(Value::Nil);
                if let Some(s) = field("spawner_state") {
                    api.zone_view().spawner.restore(s);
                }
                let zone = LuaZone {
                    sandbox,
                    api,
                    zone_state,
                    rel: self.def.rel.clone(),
                    reloader: Reloader::new(&self.def.script, &self.def.rel, self.settings.reload),
                    spatial_cell: self.spatial_cell,
                };
                zone.load_templates();
                app.insert_resource(zone)
                    .init_resource::<KeepHot>()
                    .add_systems(Update, lua_zone_tick)
                    .add_systems(SaveZone, lua_zone_save);
            }
            Err(why) => {
                tracing::error!(script = %self.def.rel, zone = %owner, error = %why, "zone VM failed to start");
                app.insert_resource(StartFailure(why));
            }
        }
    }
}

impl LuaZone {
    /// `spawn_templates(config)` into the spawner (at zone start and after a reload).
    fn load_templates(&self) {
        match self.sandbox.call_with_config("spawn_templates", INIT) {
            Ok(Some(spec)) => self.api.zone_view().spawner.set_templates(&spec),
            Ok(None) => {}
            Err(e) => log_failure(&self.rel, "spawn_templates", &e),
        }
    }

    /// Applies the callbacks' `game.zone.spawn`/`despawn` calls, then due respawns.
    fn apply_spawns(&self, entities: &mut ZoneEntities) {
        let now = crate::time::now_ms();
        let mut view = self.api.zone_view();
        for (id, fields) in std::mem::take(&mut view.spawned) {
            entities.0.insert(id, fields);
        }
        for id in std::mem::take(&mut view.despawned) {
            entities.0.remove(&id);
            view.spawner.despawned(&id, now);
        }
        for (id, fields) in view.spawner.due(now) {
            entities.0.insert(id, fields);
        }
        view.spawner.retain_live(|id| entities.0.contains_key(id));
    }

    fn entities_table(&self, entities: &ZoneEntities) -> mlua::Result<Value> {
        let lua = self.sandbox.lua();
        let t = lua.create_table()?;
        for (id, fields) in &entities.0 {
            t.raw_set(id.as_str(), object_to_lua(lua, fields, Nulls::AsNil)?)?;
        }
        Ok(Value::Table(t))
    }

    /// Takes the entity table a callback returned; one that cannot be converted is that
    /// callback's error and leaves the entities as they were.
    fn adopt_entities(&self, callback: &str, v: &Value, entities: &mut ZoneEntities) {
        let map = match self.sandbox.to_json(v) {
            Ok(Json::Object(map)) => map,
            Ok(_) => return,
            Err(e) => return log_failure(&self.rel, callback, &e),
        };
        entities.0 = map
            .into_iter()
            .filter_map(|(id, f)| match f {
                Json::Object(fields) => Some((id, fields)),
                _ => None,
            })
            .collect();
    }

    /// What zone-form spatial queries and `game.zone.apply` see during the next callback.
    fn refresh_view(&self, entities: &ZoneEntities) {
        let points = entities
            .0
            .iter()
            .filter_map(|(id, f)| Some((id.clone(), f.get("x")?.as_f64()?, f.get("y")?.as_f64()?)));
        let index = SpatialHash::build(points, self.spatial_cell);
        self.api.zone_view().index = index;
    }

    fn tick(
        &mut self,
        entities: &mut ZoneEntities,
        inputs: Vec<WorldInput>,
        effects: Vec<Effect>,
        consumed: &mut ConsumedSeq,
    ) {
        if self.reloader.poll(&self.sandbox) {
            self.load_templates();
        }
        self.refresh_view(entities);
        if let Ok(table) = self.entities_table(entities) {
            let args = MultiValue::from_iter([table, self.zone_state.clone()]);
            match self.sandbox.call("zone_tick", args, ZONE_TICK) {
                Ok(Some(out)) => {
                    let mut values = out.into_iter();
                    if let Some(e) = values.next().filter(|v| matches!(v, Value::Table(_))) {
                        self.adopt_entities("zone_tick", &e, entities);
                    }
                    if let Some(s) = values.next() {
                        self.zone_state = s;
                    }
                }
                Ok(None) => {}
                Err(e) => log_failure(&self.rel, "zone_tick", &e),
            }
        }
        for input in inputs {
            self.refresh_view(entities);
            let lua = self.sandbox.lua().clone();
            let (Ok(table), Ok(pid), Ok(input_table)) = (
                self.entities_table(entities),
                lua.create_string(&input.player_id),
                object_to_lua(&lua, &input.input, Nulls::AsString),
            ) else {
                continue;
            };
            let args =
                MultiValue::from_iter([Value::String(pid), Value::Table(input_table), table]);
            match self.sandbox.call("handle_input", args, INPUT) {
                Ok(Some(out)) => {
                    let mut values = out.into_iter();
                    if let Some(e) = values.next().filter(|v| matches!(v, Value::Table(_))) {
                        self.adopt_entities("handle_input", &e, entities);
                    }
                    if let Some(Value::Integer(seq)) = values.next()
                        && seq >= 0
                    {
                        consumed.0.insert(input.player_id.clone(), seq as u64);
                    }
                }
                Ok(None) => {}
                Err(e) => log_failure(&self.rel, "handle_input", &e),
            }
        }
        self.effects(entities, effects);
        self.apply_spawns(entities);
    }

    /// `handle_effects(effects, entities) -> entities`, with `effects` a list of
    /// `{entity_id, event}` for entities this zone owns.
    fn effects(&mut self, entities: &mut ZoneEntities, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        self.refresh_view(entities);
        let lua = self.sandbox.lua().clone();
        let Ok(list) = lua.create_table() else { return };
        for (i, e) in effects.iter().enumerate() {
            let Ok(rec) = lua.create_table() else { return };
            let _ = rec.raw_set("entity_id", e.entity_id.as_str());
            if let Ok(v) = super::convert::to_lua(&lua, &e.event, Nulls::AsNil) {
                let _ = rec.raw_set("event", v);
            }
            let _ = list.raw_set(i + 1, rec);
        }
        let Ok(table) = self.entities_table(entities) else {
            return;
        };
        match self.sandbox.call(
            "handle_effects",
            MultiValue::from_iter([Value::Table(list), table]),
            ZONE_TICK,
        ) {
            Ok(Some(out)) => {
                if let Some(e) = out
                    .into_iter()
                    .next()
                    .filter(|v| matches!(v, Value::Table(_)))
                {
                    self.adopt_entities("handle_effects", &e, entities);
                }
            }
            Ok(None) => {}
            Err(e) => log_failure(&self.rel, "handle_effects", &e),
        }
    }

    fn keep_hot(&self) -> bool {
        match &self.zone_state {
            Value::Table(t) => t.raw_get::<Value>("_keep_hot").ok() == Some(Value::Boolean(true)),
            _ => false,
        }
    }
}

/// Keeps the host-side state current for a snapshot:
/// `{"game_state": <zone_state as JSON>, "spawner_state": <respawn queue and counts>}`.
fn lua_zone_save(zone: Res<LuaZone>, mut state: ResMut<ZoneState>) {
    let spawner = zone.api.zone_view().spawner.state();
    let game_state = zone.sandbox.to_json(&zone.zone_state).unwrap_or_else(|e| {
        log_failure(&zone.rel, "zone_save", &e);
        Json::Null
    });
    state.0 = Some(serde_json::json!({
        "game_state": game_state,
        "spawner_state": spawner,
    }));
}

fn lua_zone_tick(world: &mut World) {
    let Some(mut zone) = world.remove_resource::<LuaZone>() else {
        return;
    };
    let inputs: Vec<WorldInput> = world
        .get_resource_mut::<Messages<WorldInput>>()
        .map(|mut m| m.drain().collect())
        .unwrap_or_default();
    let mut entities = world.remove_resource::<ZoneEntities>().unwrap_or_default();
    let mut consumed = world.remove_resource::<ConsumedSeq>().unwrap_or_default();
    let incoming = world
        .get_resource_mut::<IncomingEffects>()
        .map(|mut i| std::mem::take(&mut i.0))
        .unwrap_or_default();
    if let Some(mirror) = world.get_resource::<BorderMirror>() {
        zone.api.zone_view().mirror = mirror.0.clone();
    }
    zone.tick(&mut entities, inputs, incoming, &mut consumed);
    world.insert_resource(entities);
    world.insert_resource(consumed);
    world.insert_resource(KeepHot(zone.keep_hot()));
    let outgoing = std::mem::take(&mut zone.api.zone_view().outgoing);
    if let Some(mut out) = world.get_resource_mut::<OutgoingEffects>() {
        out.0.extend(
            outgoing
                .into_iter()
                .map(|(entity_id, event)| Effect { entity_id, event }),
        );
    }
    zone.api.take_effects().write_messages(world);
    world.insert_resource(zone);
}
