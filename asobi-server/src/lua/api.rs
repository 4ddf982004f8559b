//! The `game` table scripts call (`lua.md` §6): `id`, `log`, `broadcast`, `send`,
//! `match.set_joinable`, and `spatial.*`, with the contract's argument checks and result
//! conventions (a call with the wrong arguments returns `{error = "<expected shape>"}`).
//!
//! Effects (broadcasts, sends, joinability) are collected in [`Effects`] and applied by the
//! match after the callback, in order. `game.storage` and `game.leaderboard` are installed by
//! `lua::services` when the VM has [`crate::game::GameServices`]; namespaces backed by
//! services that do not exist yet (economy, notify, chat, bots) are absent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use asobi_core::protocol::event::validate_event_name;
use asobi_core::world::delta::Fields;
use asobi_core::world::spatial::SpatialHash;
use asobi_core::world::terrain::TerrainProvider;
use mlua::{Lua, MultiValue, Table, Value};
use serde_json::Value as Json;

use super::spawner::Spawner;

use super::convert::{to_json, to_object};

/// What scripts asked for during a callback.
#[derive(Debug, Default)]
pub struct Effects {
    /// `game.broadcast(name, payload)`.
    pub broadcasts: Vec<(String, Json)>,
    /// `game.send(player_id, message)`.
    pub sends: Vec<(String, Json)>,
    /// `game.match.set_joinable(bool)`.
    pub joinable: Option<bool>,
    /// Bytes the converted broadcasts and sends hold: they count against the VM's memory
    /// cap with what the VM itself uses, so a loop of sends cannot pile up outside it.
    pub queued_bytes: usize,
}

/// A value a script hands to `broadcast`/`send` as JSON, within what the VM may still
/// allocate less what its queued effects already hold.
fn effect_json(
    lua: &Lua,
    effects: &Mutex<Effects>,
    value: &Value,
    object: bool,
) -> mlua::Result<Json> {
    let queued = lock(effects).queued_bytes;
    let mut bound = super::convert::Bound::for_vm(lua).less(queued);
    let json = if object {
        Json::Object(super::convert::to_object_within(value, &mut bound)?)
    } else {
        super::convert::to_json_within(value, &mut bound)?
    };
    lock(effects).queued_bytes += bound.used();
    Ok(json)
}

impl Effects {
    /// Moves the broadcasts and sends into the App's `Broadcast` / `SendTo` messages, which the
    /// match or world runtime delivers after the tick.
    pub fn write_messages(&mut self, world: &mut bevy_ecs::world::World) {
        use crate::game::{Broadcast, SendTo};
        use bevy_ecs::message::Messages;
        if let Some(mut m) = world.get_resource_mut::<Messages<Broadcast>>() {
            for (name, payload) in self.broadcasts.drain(..) {
                m.write(Broadcast::new(name, payload));
            }
        }
        if let Some(mut m) = world.get_resource_mut::<Messages<SendTo>>() {
            for (player_id, message) in self.sends.drain(..) {
                m.write(SendTo { player_id, message });
            }
        }
    }
}

/// What a zone VM's zone-form spatial queries and `game.zone.apply` see: an index of the
/// zone's own entities and the neighbours' border bands, set by the zone before each
/// callback, and what the script asks of the zone.
#[derive(Debug, Default)]
pub struct ZoneView {
    /// The 8 neighbours' border-band entities, by zone.
    pub mirror: Arc<crate::worlds::mode::Mirror>,
    /// A spatial index over the zone's entities at the start of the callback.
    pub index: SpatialHash,
    /// `game.zone.apply(entity_id, event)` calls this tick.
    pub outgoing: Vec<(String, Json)>,
    /// Spawn templates and respawns.
    pub spawner: Spawner,
    /// `game.zone.spawn` results, added to the zone after the callback.
    pub spawned: Vec<(String, Fields)>,
    /// `game.zone.despawn` ids, removed from the zone after the callback.
    pub despawned: Vec<String>,
}

/// Which VM the API is installed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A match VM.
    Match,
    /// A world VM.
    World,
    /// A zone VM.
    Zone,
}

/// Per-VM state behind the API.
#[derive(Clone)]
pub struct Api {
    /// The match or world id (for logs).
    pub owner_id: String,
    /// Script basename (for logs).
    pub script: String,
    /// Collected effects.
    pub effects: Arc<Mutex<Effects>>,
    /// Where the API is installed.
    pub context: Context,
    log_window: Arc<Mutex<(Instant, u32)>>,
    terrain: Arc<Mutex<Option<Arc<dyn TerrainProvider>>>>,
    /// Zone VMs only: the zone as the script sees it.
    pub zone: Arc<Mutex<ZoneView>>,
    /// The services behind `game.storage` and `game.leaderboard` (absent without).
    services: Option<crate::game::GameServices>,
}

/// Lines per second per match or zone.
const LOG_PER_VM: u32 = 30;
/// Lines per second per node.
const LOG_PER_NODE: u64 = 300;
static NODE_LOG: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
static LOG_DROPPED: AtomicU64 = AtomicU64::new(0);

impl Api {
    /// The zone as the script sees it (zone VMs).
    pub fn zone_view(&self) -> std::sync::MutexGuard<'_, ZoneView> {
        lock(&self.zone)
    }

    /// An API for one VM.
    pub fn new(owner_id: &str, script: &str, context: Context) -> Api {
        Api {
            owner_id: owner_id.to_owned(),
            script: script.to_owned(),
            effects: Arc::default(),
            context,
            log_window: Arc::new(Mutex::new((Instant::now(), 0))),
            terrain: Arc::default(),
            zone: Arc::default(),
            services: None,
        }
    }

    /// Backs `game.storage` and `game.leaderboard` with `services`.
    pub fn with_services(mut self, services: Option<crate::game::GameServices>) -> Api {
        self.services = services;
        self
    }

    /// The world's terrain, for `game.terrain.get_chunk`.
    pub fn set_terrain(&self, provider: Option<Arc<dyn TerrainProvider>>) {
        *lock(&self.terrain) = provider;
    }

    /// Takes the collected effects.
    pub fn take_effects(&self) -> Effects {
        std::mem::take(&mut *self.effects.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Installs the `game` global.
    pub fn install(&self, lua: &Lua) -> mlua::Result<()> {
        let game = lua.create_table()?;
        game.raw_set(
            "id",
            lua.create_function(|_, ()| Ok(crate::auth::new_id()))?,
        )?;

        let api = self.clone();
        game.raw_set(
            "log",
            lua.create_function(move |lua, (level, message, meta): (Value, Value, Value)| {
                api.log(lua, level, message, meta)
            })?,
        )?;

        let effects = self.effects.clone();
        game.raw_set(
            "broadcast",
            lua.create_function(move |lua, (name, payload): (Value, Value)| {
                let Value::String(name) = name else {
                    return error(lua, "broadcast(event: string[, payload: table])");
                };
                let name = name.to_str()?.to_owned();
                if let Err(e) = validate_event_name(&name) {
                    return error(lua, &format!("invalid event name: {e}"));
                }
                let payload = effect_json(lua, &effects, &payload, true)?;
                lock(&effects).broadcasts.push((name, payload));
                Ok(Value::Boolean(true))
            })?,
        )?;

        let effects = self.effects.clone();
        game.raw_set(
            "send",
            lua.create_function(move |lua, (player, message): (Value, Value)| {
                let Value::String(player) = player else {
                    return error(lua, "send(player_id: string, message)");
                };
                let message = effect_json(lua, &effects, &message, false)?;
                lock(&effects)
                    .sends
                    .push((player.to_str()?.to_owned(), message));
                Ok(Value::Boolean(true))
            })?,
        )?;

        let m = lua.create_table()?;
        let effects = self.effects.clone();
        let context = self.context;
        m.raw_set(
            "set_joinable",
            lua.create_function(move |lua, joinable: Value| {
                if context != Context::Match {
                    return error(lua, "set_joinable requires match context");
                }
                let Value::Boolean(joinable) = joinable else {
                    return error(lua, "set_joinable(joinable: boolean)");
                };
                lock(&effects).joinable = Some(joinable);
                Ok(Value::Boolean(true))
            })?,
        )?;
        game.raw_set("match", m)?;
        let terrain = lua.create_table()?;
        let provider = self.terrain.clone();
        terrain.raw_set(
            "get_chunk",
            lua.create_function(move |lua, (cx, cy): (Value, Value)| {
                let (Value::Integer(cx), Value::Integer(cy)) = (cx, cy) else {
                    return error(lua, "get_chunk(cx: integer, cy: integer)");
                };
                let (Ok(cx), Ok(cy)) = (i32::try_from(cx), i32::try_from(cy)) else {
                    return error(lua, "get_chunk: coordinates out of range");
                };
                let Some(p) = lock(&provider).clone() else {
                    return error(
                        lua,
                        "terrain not available (this world has no terrain provider)",
                    );
                };
                match p.chunk(cx, cy) {
                    Some(chunk) => {
                        let t = lua.create_table()?;
                        t.raw_set("ok", lua.create_string(chunk.encode())?)?;
                        Ok(Value::Table(t))
                    }
                    None => error(lua, "not_found"),
                }
            })?,
        )?;
        game.raw_set("terrain", terrain)?;
        game.raw_set("spatial", spatial(lua, self.context, self.zone.clone())?)?;
        game.raw_set("zone", zone_table(lua, self.context, self.zone.clone())?)?;
        if let Some(services) = &self.services {
            super::services::install(lua, &game, services)?;
        }
        lua.globals().raw_set("game", game)
    }

    fn log(&self, lua: &Lua, level: Value, message: Value, meta: Value) -> mlua::Result<Value> {
        let level = match &level {
            Value::String(s) => s.to_str()?.to_owned(),
            _ => return error(lua, "log(level: string, message[, meta: table])"),
        };
        let level = match level.as_str() {
            "debug" | "info" | "warn" | "warning" | "error" => level,
            _ => return error(lua, "log level must be debug, info, warn, warning or error"),
        };
        if !self.admit_log() {
            LOG_DROPPED.fetch_add(1, Ordering::Relaxed);
            return Ok(Value::Boolean(false));
        }
        let text: String = match &message {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            other => to_json(lua, other).map_or_else(|e| e.to_string(), |j| j.to_string()),
        };
        let text: String = text.chars().take(500).collect();
        let meta = match &meta {
            Value::Nil => Json::Null,
            Value::Table(_) => {
                let m = to_json(lua, &meta).unwrap_or(Json::Null);
                if m.is_null() || m.to_string().len() > 2048 {
                    serde_json::json!({"_truncated": true})
                } else {
                    m
                }
            }
            _ => serde_json::json!({"_unencodable": true}),
        };
        let (owner, script) = (&self.owner_id, &self.script);
        match level.as_str() {
            "debug" => tracing::debug!(target: "asobi::lua", owner, script, %meta, "{text}"),
            "info" => tracing::info!(target: "asobi::lua", owner, script, %meta, "{text}"),
            "warn" | "warning" => {
                tracing::warn!(target: "asobi::lua", owner, script, %meta, "{text}")
            }
            _ => tracing::error!(target: "asobi::lua", owner, script, %meta, "{text}"),
        }
        Ok(Value::Boolean(true))
    }

    fn admit_log(&self) -> bool {
        let now = Instant::now();
        let mut vm = lock(&self.log_window);
        if now.duration_since(vm.0).as_secs() >= 1 {
            *vm = (now, 0);
        }
        if vm.1 >= LOG_PER_VM {
            return false;
        }
        let mut node = NODE_LOG.lock().unwrap_or_else(|p| p.into_inner());
        let window = node.get_or_insert((now, 0));
        if now.duration_since(window.0).as_secs() >= 1 {
            *window = (now, 0);
        }
        if window.1 >= LOG_PER_NODE {
            return false;
        }
        window.1 += 1;
        vm.1 += 1;
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `{error = message}`.
pub fn error(lua: &Lua, message: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("error", message)?;
    Ok(Value::Table(t))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(f) => Some(*f),
        _ => None,
    }
}

fn xy(t: &Table) -> Option<(f64, f64)> {
    Some((num(&t.raw_get("x").ok()?)?, num(&t.raw_get("y").ok()?)?))
}

/// `opts` of the spatial queries: `type`, `exclude`, `max_results`, `sort`.
struct Opts {
    types: Option<Vec<String>>,
    exclude: Vec<String>,
    max: Option<usize>,
    farthest: bool,
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.to_string_lossy()],
        Value::Table(t) => t
            .sequence_values::<Value>()
            .flatten()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.to_string_lossy()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn opts(v: &Value) -> Opts {
    let Value::Table(t) = v else {
        return Opts {
            types: None,
            exclude: Vec::new(),
            max: None,
            farthest: false,
        };
    };
    let get = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    Opts {
        types: match get("type") {
            Value::Nil => None,
            v => Some(strings(&v)),
        },
        exclude: strings(&get("exclude")),
        max: num(&get("max_results")).map(|n| n.max(0.0) as usize),
        farthest: matches!(get("sort"), Value::String(s) if s.to_string_lossy() == "farthest"),
    }
}

/// Entities within `r` of (x, y), filtered and sorted per `opts`.
fn within(
    entities: &Table,
    x: f64,
    y: f64,
    r: f64,
    o: &Opts,
) -> mlua::Result<Vec<(Value, Table, f64)>> {
    let mut out = Vec::new();
    for pair in entities.pairs::<Value, Value>() {
        let (id, e) = pair?;
        let Value::Table(e) = e else { continue };
        let Some((ex, ey)) = xy(&e) else { continue };
        if let Value::String(s) = &id
            && o.exclude.contains(&s.to_string_lossy())
        {
            continue;
        }
        if let Some(types) = &o.types {
            let ty = match e.raw_get::<Value>("type")? {
                Value::String(s) => s.to_string_lossy(),
                _ => String::new(),
            };
            if !types.contains(&ty) {
                continue;
            }
        }
        let d = ((ex - x).powi(2) + (ey - y).powi(2)).sqrt();
        if d <= r {
            out.push((id, e, d));
        }
    }
    out.sort_by(|a, b| a.2.total_cmp(&b.2));
    if o.farthest {
        out.reverse();
    }
    if let Some(max) = o.max {
        out.truncate(max);
    }
    Ok(out)
}

fn results(lua: &Lua, found: Vec<(Value, Table, f64)>) -> mlua::Result<Value> {
    let list = lua.create_table()?;
    for (i, (id, e, d)) in found.into_iter().enumerate() {
        let r = lua.create_table()?;
        r.raw_set("id", id)?;
        r.raw_set("entity", e)?;
        r.raw_set("distance", d)?;
        list.raw_set(i + 1, r)?;
    }
    Ok(Value::Table(list))
}

/// `{id, x, y}` records, from the zone's spatial index.
fn id_records<'a>(
    lua: &Lua,
    found: impl Iterator<Item = (&'a str, f64, f64)>,
) -> mlua::Result<Value> {
    let list = lua.create_table()?;
    for (i, (id, x, y)) in found.enumerate() {
        let r = lua.create_table()?;
        r.raw_set("id", id)?;
        r.raw_set("x", x)?;
        r.raw_set("y", y)?;
        list.raw_set(i + 1, r)?;
    }
    Ok(Value::Table(list))
}

/// The neighbours' border-band entities as a Lua table `id → entity`, for the list queries.
fn neighbour_table(lua: &Lua, zone: &Mutex<ZoneView>) -> mlua::Result<Table> {
    let view = lock(zone);
    let t = lua.create_table()?;
    for ents in view.mirror.values() {
        for (id, f) in ents.iter() {
            t.raw_set(
                id.as_str(),
                super::convert::object_to_lua(lua, f, super::convert::Nulls::AsNil)?,
            )?;
        }
    }
    Ok(t)
}

/// `game.zone.spawn`/`despawn` calls a zone accepts per tick each (beyond: `false`), so a
/// runaway script cannot queue unbounded host memory before its budget stops it.
const MAX_ZONE_WRITES: usize = 4096;

/// `game.zone.*` (zone VMs): `apply(entity_id, event)`, an event for an entity a neighbouring
/// zone publishes in its border band, handled there by `handle_effects` next tick;
/// `spawn(template_id, x, y[, overrides])` and `despawn(entity_id)`, applied after the callback.
fn zone_table(lua: &Lua, context: Context, zone: Arc<Mutex<ZoneView>>) -> mlua::Result<Table> {
    let z = lua.create_table()?;
    let zone_s = zone.clone();
    z.raw_set(
        "spawn",
        lua.create_function(
            move |lua, (template, x, y, overrides): (Value, Value, Value, Value)| {
                if context != Context::Zone {
                    return error(lua, "zone.spawn requires zone context");
                }
                let (Value::String(template), Some(x), Some(y)) = (&template, num(&x), num(&y))
                else {
                    return error(lua, "spawn(template_id: string, x, y[, overrides: table])");
                };
                let overrides = match &overrides {
                    Value::Table(_) => Some(to_object(lua, &overrides)?),
                    _ => None,
                };
                let mut view = lock(&zone_s);
                if view.spawned.len() >= MAX_ZONE_WRITES {
                    return Ok(Value::Boolean(false));
                }
                let template = template.to_string_lossy();
                match view.spawner.spawn(&template, x, y, overrides) {
                    Some(entity) => {
                        view.spawned.push(entity);
                        Ok(Value::Boolean(true))
                    }
                    None => Ok(Value::Boolean(false)),
                }
            },
        )?,
    )?;
    let zone_d = zone.clone();
    z.raw_set(
        "despawn",
        lua.create_function(move |lua, id: Value| {
            if context != Context::Zone {
                return error(lua, "zone.despawn requires zone context");
            }
            let Value::String(id) = id else {
                return error(lua, "despawn(entity_id: string)");
            };
            let mut view = lock(&zone_d);
            if view.despawned.len() >= MAX_ZONE_WRITES {
                return Ok(Value::Boolean(false));
            }
            view.despawned.push(id.to_string_lossy());
            Ok(Value::Boolean(true))
        })?,
    )?;
    z.raw_set(
        "apply",
        lua.create_function(move |lua, (id, event): (Value, Value)| {
            if context != Context::Zone {
                return error(lua, "zone.apply requires zone context");
            }
            let (Value::String(id), Value::Table(_)) = (&id, &event) else {
                return error(lua, "apply(entity_id: string, event: table)");
            };
            let id = id.to_string_lossy();
            let event = to_json(lua, &event)?;
            let mut view = lock(&zone);
            let published = view.mirror.values().any(|e| e.contains_key(&id));
            if !published || event.to_string().len() > 4096 || view.outgoing.len() >= 64 {
                return Ok(Value::Boolean(false));
            }
            view.outgoing.push((id, event));
            Ok(Value::Boolean(true))
        })?,
    )?;
    Ok(z)
}

fn spatial(lua: &Lua, context: Context, zone: Arc<Mutex<ZoneView>>) -> mlua::Result<Table> {
    let s = lua.create_table()?;
    let zone_q = zone.clone();
    s.raw_set(
        "query_radius",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            match a.as_slice() {
                [Value::Table(entities), x, y, r, rest @ ..] => match (num(x), num(y), num(r)) {
                    (Some(x), Some(y), Some(r)) => {
                        let o = opts(rest.first().unwrap_or(&Value::Nil));
                        results(lua, within(entities, x, y, r, &o)?)
                    }
                    _ => error(lua, "query_radius(entities, x, y, r[, opts])"),
                },
                [x, y, r] if num(x).is_some() && num(y).is_some() && num(r).is_some() => {
                    if context != Context::Zone {
                        return error(lua, "query_radius(x, y, r) requires zone context");
                    }
                    let (x, y, r) = (
                        num(x).unwrap_or(0.0),
                        num(y).unwrap_or(0.0),
                        num(r).unwrap_or(0.0),
                    );
                    let view = lock(&zone_q);
                    id_records(
                        lua,
                        view.index
                            .radius(x, y, r)
                            .into_iter()
                            .map(|(id, x, y, _)| (id, x, y)),
                    )
                }
                _ => error(lua, "query_radius(entities, x, y, r[, opts])"),
            }
        })?,
    )?;
    s.raw_set(
        "nearest",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            match a.as_slice() {
                [Value::Table(entities), x, y, n, rest @ ..] => match (num(x), num(y), num(n)) {
                    (Some(x), Some(y), Some(n)) => {
                        let mut o = opts(rest.first().unwrap_or(&Value::Nil));
                        o.max = Some(
                            o.max
                                .map_or(n.max(0.0) as usize, |m| m.min(n.max(0.0) as usize)),
                        );
                        o.farthest = false;
                        results(lua, within(entities, x, y, f64::INFINITY, &o)?)
                    }
                    _ => error(lua, "nearest(entities, x, y, n[, opts])"),
                },
                _ => error(lua, "nearest(entities, x, y, n[, opts])"),
            }
        })?,
    )?;
    s.raw_set(
        "distance",
        lua.create_function(|lua, (a, b): (Value, Value)| match (&a, &b) {
            (Value::Table(a), Value::Table(b)) => match (xy(a), xy(b)) {
                (Some((ax, ay)), Some((bx, by))) => Ok(Value::Number(
                    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt(),
                )),
                _ => error(lua, "distance(a, b): entities need numeric x and y"),
            },
            _ => error(lua, "distance(a: table, b: table)"),
        })?,
    )?;
    s.raw_set(
        "in_range",
        lua.create_function(|lua, (a, b, range): (Value, Value, Value)| {
            match (&a, &b, num(&range)) {
                (Value::Table(a), Value::Table(b), Some(range)) => match (xy(a), xy(b)) {
                    (Some((ax, ay)), Some((bx, by))) => Ok(Value::Boolean(
                        ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() <= range,
                    )),
                    _ => error(lua, "in_range(a, b, range): entities need numeric x and y"),
                },
                _ => error(lua, "in_range(a: table, b: table, range: number)"),
            }
        })?,
    )?;
    let zone_r = zone.clone();
    s.raw_set(
        "query_rect",
        lua.create_function(move |lua, args: MultiValue| {
            let n: Vec<Option<f64>> = args.iter().map(num).collect();
            let [Some(x1), Some(y1), Some(x2), Some(y2)] = n.as_slice() else {
                return error(lua, "query_rect(x1, y1, x2, y2)");
            };
            if context != Context::Zone {
                return error(lua, "query_rect requires zone context");
            }
            let view = lock(&zone_r);
            id_records(lua, view.index.rect(*x1, *y1, *x2, *y2).into_iter())
        })?,
    )?;
    let zone_n = zone.clone();
    s.raw_set(
        "neighbours_radius",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let (Some(x), Some(y), Some(r)) = (
                a.first().and_then(num),
                a.get(1).and_then(num),
                a.get(2).and_then(num),
            ) else {
                return error(lua, "neighbours_radius(x, y, r[, opts])");
            };
            if context != Context::Zone {
                return error(lua, "neighbours_radius requires zone context");
            }
            let table = neighbour_table(lua, &zone_n)?;
            results(
                lua,
                within(&table, x, y, r, &opts(a.get(3).unwrap_or(&Value::Nil)))?,
            )
        })?,
    )?;
    let zone_nr = zone;
    s.raw_set(
        "neighbours_rect",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let n: Vec<Option<f64>> = a.iter().take(4).map(num).collect();
            let [Some(x1), Some(y1), Some(x2), Some(y2)] = n.as_slice() else {
                return error(lua, "neighbours_rect(x1, y1, x2, y2[, opts])");
            };
            if context != Context::Zone {
                return error(lua, "neighbours_rect requires zone context");
            }
            let (lx, hx, ly, hy) = (x1.min(*x2), x1.max(*x2), y1.min(*y2), y1.max(*y2));
            let table = neighbour_table(lua, &zone_nr)?;
            let o = opts(a.get(4).unwrap_or(&Value::Nil));
            let found: Vec<(Value, Table, f64)> = within(&table, lx, ly, f64::INFINITY, &o)?
                .into_iter()
                .filter(|(_, e, _)| {
                    xy(e).is_some_and(|(x, y)| (lx..=hx).contains(&x) && (ly..=hy).contains(&y))
                })
                .collect();
            let list = lua.create_table()?;
            for (i, (id, e, _)) in found.into_iter().enumerate() {
                let rec = lua.create_table()?;
                rec.raw_set("id", id)?;
                rec.raw_set("entity", e)?;
                list.raw_set(i + 1, rec)?;
            }
            Ok(Value::Table(list))
        })?,
    )?;
    Ok(s)
}
