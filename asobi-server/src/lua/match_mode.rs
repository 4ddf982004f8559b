//! A Lua match mode (`lua.md` §4) as a plugin on the match runtime.
//!
//! Each match owns one sandboxed VM. Joins and leaves call the script at once (a `join` that
//! returns `nil[, reason]` refuses, and the state is rolled back); every tick applies the
//! queued inputs in arrival order (`handle_input`), runs `tick`, honours
//! `_finished`/`_result`, and produces `match.state` from `get_state` (per player, or once for
//! `state_strategy = "shared"`). Scripts written in the event style (`on_player_joined(match,
//! player)`, `on_match_input(match, player, input)`) get a `match` table whose `state` is sent
//! whenever it changed.
//!
//! Failures: a callback that raises is logged with file and line (at most 3 lines per 10 s per
//! callback), its state changes are rolled back, and the match carries on. A callback that runs
//! past its time budget or the VM's memory cap ends the match (`{"status": "script_error"}`):
//! a runaway script must not hold a simulation thread. Hot reload: at the start of each tick
//! (at most every 200 ms) the script's mtime is checked; a changed file is evaluated into the
//! live VM, keeping state; a file that fails keeps the previous code.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::{App, Plugin, Update};
use bevy_ecs::message::Messages;
use bevy_ecs::prelude::*;
use mlua::{MultiValue, Table, Value};
use serde_json::{Map, Value as Json, json};

use super::api::{Api, Context};
use super::convert::{Nulls, object_to_lua};
use super::discovery::LuaModeDef;
use super::reload::Reloader;
use super::sandbox::{Sandbox, ScriptError};
use crate::game::{
    JoinValidator, LeaveHook, MatchClock, MatchControl, MatchMode, MatchPhase, Payloads, Player,
    PlayerInput, StartFailure, StatePayloads,
};
use crate::phases::{Phases, Transition};

/// Budgets per callback (`lua.md` §3.5; `handle_input` gets one too — Asobi has none).
mod budget {
    use std::time::Duration;
    pub const TOP_LEVEL: Duration = Duration::from_millis(1000);
    pub const INIT: Duration = Duration::from_millis(1000);
    pub const TICK: Duration = Duration::from_millis(500);
    pub const JOIN_LEAVE: Duration = Duration::from_millis(200);
    pub const GET_STATE: Duration = Duration::from_millis(100);
    pub const INPUT: Duration = Duration::from_millis(50);
}

/// Settings shared by every Lua match.
#[derive(Debug, Clone, Copy)]
pub struct LuaSettings {
    /// Hot reload on (`ASOBI_LUA_RELOAD` not `off`).
    pub reload: bool,
    /// Memory cap per VM, bytes.
    pub memory_limit: usize,
}

/// The match mode for a Lua mode script.
pub fn mode(def: LuaModeDef, settings: LuaSettings) -> MatchMode {
    let descriptor = def.descriptor.clone();
    MatchMode::new(
        descriptor,
        LuaMatchPlugin {
            def: Arc::new(def),
            settings,
        },
    )
}

#[derive(Clone)]
struct LuaMatchPlugin {
    def: Arc<LuaModeDef>,
    settings: LuaSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `init`/`join`/`leave`/`handle_input`/`tick`/`get_state`.
    Callbacks,
    /// `on_player_joined(match, player)`, `on_match_input(match, player, input)`, ….
    Events,
}

#[derive(Resource)]
struct LuaMatch {
    sandbox: Sandbox,
    api: Api,
    /// The script's state (callbacks) or the `match` table (events).
    state: Value,
    style: Style,
    shared: bool,
    rel: String,
    reloader: Reloader,
    last_sent: Option<Map<String, Json>>,
    error_log: HashMap<&'static str, (Instant, u32, u32)>,
    overrun: Option<ScriptError>,
    /// `phases(config)` (callback-style matches).
    phases: Option<Phases>,
}

impl Plugin for LuaMatchPlugin {
    fn build(&self, app: &mut App) {
        let match_id = app
            .world()
            .get_resource::<MatchClock>()
            .map(|c| c.match_id.clone())
            .unwrap_or_default();
        let services = app
            .world()
            .get_resource::<crate::game::GameServices>()
            .cloned();
        match LuaMatch::start(&self.def, self.settings, &match_id, services) {
            Ok(m) => {
                let phase = m.phases.as_ref().map(|p| p.info(crate::time::now_ms()));
                app.insert_resource(MatchPhase(phase));
                app.insert_resource(m)
                    .init_resource::<StatePayloads>()
                    .insert_resource(JoinValidator(Arc::new(lua_join)))
                    .insert_resource(LeaveHook(Arc::new(lua_leave)))
                    .add_systems(Update, lua_tick);
            }
            Err(why) => {
                tracing::error!(script = %self.def.rel, match_id, error = %why, "Lua match failed to start");
                app.insert_resource(StartFailure(why));
            }
        }
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Nil | Value::Boolean(false))
}

/// A refusal reason is kept only if it is 1–64 bytes of printable ASCII (`lua.md` §4.2).
fn valid_reason(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => {
            let s = s.to_string_lossy();
            if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| (32..=126).contains(&b)) {
                s
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

impl LuaMatch {
    fn start(
        def: &LuaModeDef,
        settings: LuaSettings,
        match_id: &str,
        services: Option<crate::game::GameServices>,
    ) -> Result<LuaMatch, String> {
        let dir = def.script.parent().map(PathBuf::from).unwrap_or_default();
        let sandbox = Sandbox::new(&dir, settings.memory_limit).map_err(|e| e.to_string())?;
        let basename = def
            .script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let api = Api::new(match_id, &basename, Context::Match).with_services(services);
        api.install(sandbox.lua()).map_err(|e| e.to_string())?;
        let source = std::fs::read(&def.script).map_err(|e| format!("{}: {e}", def.rel))?;
        sandbox
            .exec(&source, &def.rel, budget::TOP_LEVEL)
            .map_err(|e| e.to_string())?;
        let style = if !sandbox.has_function("join")
            && (sandbox.has_function("on_player_joined") || sandbox.has_function("on_match_input"))
        {
            Style::Events
        } else {
            Style::Callbacks
        };
        let lua = sandbox.lua();
        let state = match style {
            Style::Callbacks => {
                let config = lua.create_table().map_err(|e| e.to_string())?;
                let out = sandbox
                    .call(
                        "init",
                        MultiValue::from_iter([Value::Table(config)]),
                        budget::INIT,
                    )
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("{}: init is not defined", def.rel))?;
                match out.into_iter().next() {
                    Some(v) if !v.is_nil() => v,
                    _ => return Err(format!("{}: init returned nothing", def.rel)),
                }
            }
            Style::Events => {
                let m = lua.create_table().map_err(|e| e.to_string())?;
                m.raw_set("id", match_id).map_err(|e| e.to_string())?;
                m.raw_set("state", lua.create_table().map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
                sandbox
                    .call(
                        "on_match_start",
                        MultiValue::from_iter([Value::Table(m.clone())]),
                        budget::INIT,
                    )
                    .map_err(|e| e.to_string())?;
                Value::Table(m)
            }
        };
        Ok(LuaMatch {
            sandbox,
            api,
            state,
            style,
            shared: def.shared_state,
            rel: def.rel.clone(),
            reloader: Reloader::new(&def.script, &def.rel, settings.reload),
            last_sent: None,
            error_log: HashMap::new(),
            overrun: None,
            phases: None,
        }
        .with_phases())
    }

    /// Reads `phases(config)` (callback style only, as in Asobi's bridge).
    fn with_phases(mut self) -> Self {
        if self.style != Style::Callbacks {
            return self;
        }
        let list = match self.sandbox.call_with_config("phases", budget::INIT) {
            Ok(list) => list,
            Err(e) => {
                self.failed("phases", e);
                None
            }
        };
        let list = crate::phases::parse(&list.unwrap_or(Json::Null));
        self.phases = Phases::new(list, crate::time::now_ms());
        // A first phase that starts on `prev_ended` is active from the start.
        self.advance_phases(0);
        self
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
            if let Some(out) = self.call(callback, callback, args, budget::JOIN_LEAVE) {
                self.adopt(callback, out);
            }
        }
        transitions.contains(&Transition::Complete)
    }

    /// Logs a failed callback (rate-limited) and remembers overruns, which end the match.
    fn failed(&mut self, callback: &'static str, e: ScriptError) {
        let now = Instant::now();
        let entry = self.error_log.entry(callback).or_insert((now, 0, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(10) {
            if entry.2 > 0 {
                tracing::warn!(script = %self.rel, callback, suppressed = entry.2, "script errors suppressed");
            }
            *entry = (now, 0, 0);
        }
        if entry.1 < 3 {
            entry.1 += 1;
            tracing::error!(script = %self.rel, callback, class = e.label(), error = %e, "script error");
        } else {
            entry.2 += 1;
        }
        if e.is_overrun() && self.overrun.is_none() {
            self.overrun = Some(e);
        }
    }

    /// Calls `name` with the state rolled back if it fails. `Ok(None)`: not defined.
    fn call(
        &mut self,
        callback: &'static str,
        name: &str,
        args: MultiValue,
        budget: Duration,
    ) -> Option<MultiValue> {
        let snapshot = self.sandbox.snapshot(&self.state).ok();
        match self.sandbox.call(name, args, budget) {
            Ok(out) => out,
            Err(e) => {
                if let Some(s) = snapshot {
                    self.state = s;
                }
                self.failed(callback, e);
                None
            }
        }
    }

    fn match_table(&self) -> Option<Table> {
        match &self.state {
            Value::Table(t) if self.style == Style::Events => Some(t.clone()),
            _ => None,
        }
    }

    fn player_table(&self, player_id: &str) -> mlua::Result<Value> {
        let p = self.sandbox.lua().create_table()?;
        p.raw_set("id", player_id)?;
        Ok(Value::Table(p))
    }

    fn join(&mut self, player_id: &str, ctx: &Map<String, Json>) -> Result<(), String> {
        let lua = self.sandbox.lua().clone();
        let ctx = object_to_lua(&lua, ctx, Nulls::AsNil).map_err(|e| e.to_string())?;
        let snapshot = self
            .sandbox
            .snapshot(&self.state)
            .map_err(|e| e.to_string())?;
        let (name, args) = match self.style {
            Style::Callbacks => (
                "join",
                MultiValue::from_iter([
                    Value::String(lua.create_string(player_id).map_err(|e| e.to_string())?),
                    self.state.clone(),
                    Value::Table(ctx),
                ]),
            ),
            Style::Events => {
                let Some(m) = self.match_table() else {
                    return Ok(());
                };
                let player = self.player_table(player_id).map_err(|e| e.to_string())?;
                (
                    "on_player_joined",
                    MultiValue::from_iter([Value::Table(m), player, Value::Table(ctx)]),
                )
            }
        };
        match self.sandbox.call(name, args, budget::JOIN_LEAVE) {
            Ok(None) if self.style == Style::Events => Ok(()),
            Ok(None) => {
                self.failed(
                    "join",
                    ScriptError::Runtime(format!("{}: join is not defined", self.rel)),
                );
                Err(String::new())
            }
            Ok(Some(out)) => {
                let values: Vec<Value> = out.into_iter().collect();
                match (self.style, values.first()) {
                    // Event style: only an explicit `false` refuses.
                    (Style::Events, Some(Value::Boolean(false))) => {
                        self.state = snapshot;
                        Err(valid_reason(values.get(1)))
                    }
                    (Style::Events, _) => Ok(()),
                    (Style::Callbacks, Some(v)) if truthy(v) => {
                        self.state = v.clone();
                        Ok(())
                    }
                    (Style::Callbacks, _) => {
                        self.state = snapshot;
                        Err(valid_reason(values.get(1)))
                    }
                }
            }
            Err(e) => {
                self.state = snapshot;
                let label = e.label().to_owned();
                self.failed("join", e);
                Err(label)
            }
        }
    }

    fn leave(&mut self, player_id: &str) {
        let lua = self.sandbox.lua().clone();
        let Ok(pid) = lua.create_string(player_id) else {
            return;
        };
        match self.style {
            Style::Callbacks => {
                let args = MultiValue::from_iter([Value::String(pid), self.state.clone()]);
                if let Some(out) = self.call("leave", "leave", args, budget::JOIN_LEAVE) {
                    self.adopt("leave", out);
                }
            }
            Style::Events => {
                let (Some(m), Ok(player)) = (self.match_table(), self.player_table(player_id))
                else {
                    return;
                };
                self.call(
                    "leave",
                    "on_player_left",
                    MultiValue::from_iter([Value::Table(m), player]),
                    budget::JOIN_LEAVE,
                );
            }
        }
    }

    /// Takes a callback's first return value as the new state; `nil` keeps the previous one
    /// (Asobi would store `nil`).
    fn adopt(&mut self, callback: &'static str, out: MultiValue) {
        match out.into_iter().next() {
            Some(v) if !v.is_nil() => self.state = v,
            _ => {
                tracing::warn!(script = %self.rel, callback, "callback returned nil; previous state kept")
            }
        }
    }

    fn input(&mut self, input: &PlayerInput) {
        let lua = self.sandbox.lua().clone();
        let Ok(table) = object_to_lua(&lua, &input.input, Nulls::AsString) else {
            return;
        };
        let Ok(pid) = lua.create_string(&input.player_id) else {
            return;
        };
        match self.style {
            Style::Callbacks => {
                let args = MultiValue::from_iter([
                    Value::String(pid),
                    Value::Table(table),
                    self.state.clone(),
                ]);
                if let Some(out) = self.call("handle_input", "handle_input", args, budget::INPUT) {
                    self.adopt("handle_input", out);
                }
            }
            Style::Events => {
                let (Some(m), Ok(player)) =
                    (self.match_table(), self.player_table(&input.player_id))
                else {
                    return;
                };
                let args = MultiValue::from_iter([Value::Table(m), player, Value::Table(table)]);
                self.call("handle_input", "on_match_input", args, budget::INPUT);
            }
        }
    }

    /// Runs `tick`; returns the result when the script finished the match.
    fn tick(&mut self) -> Option<Map<String, Json>> {
        match self.style {
            Style::Callbacks => {
                if let Some(out) = self.call(
                    "tick",
                    "tick",
                    MultiValue::from_iter([self.state.clone()]),
                    budget::TICK,
                ) {
                    self.adopt("tick", out);
                }
                let state = self.state.clone();
                self.finished(&state)
            }
            Style::Events => {
                let m = self.match_table()?;
                self.call(
                    "tick",
                    "on_tick",
                    MultiValue::from_iter([Value::Table(m.clone())]),
                    budget::TICK,
                );
                self.finished(&m.raw_get::<Value>("state").ok()?)
            }
        }
    }

    fn payloads(&mut self, roster: &[String]) -> Option<Payloads> {
        match (self.style, self.shared) {
            (Style::Events, _) => {
                let m = self.match_table()?;
                let doc = match self.sandbox.to_object(&m.raw_get::<Value>("state").ok()?) {
                    Ok(doc) => doc,
                    Err(e) => {
                        self.failed("get_state", e);
                        return None;
                    }
                };
                if self.last_sent.as_ref() == Some(&doc) {
                    return None;
                }
                self.last_sent = Some(doc.clone());
                Some(Payloads::Shared(doc))
            }
            (Style::Callbacks, true) => {
                let out = self.get_state(MultiValue::from_iter([self.state.clone()]));
                Some(Payloads::Shared(out))
            }
            (Style::Callbacks, false) => {
                let lua = self.sandbox.lua().clone();
                let mut docs = Vec::with_capacity(roster.len());
                for p in roster {
                    let Ok(pid) = lua.create_string(p) else {
                        continue;
                    };
                    let doc = self.get_state(MultiValue::from_iter([
                        Value::String(pid),
                        self.state.clone(),
                    ]));
                    docs.push((p.clone(), doc));
                }
                Some(Payloads::PerPlayer(docs))
            }
        }
    }

    /// `get_state`; on error that player gets `{}`.
    fn get_state(&mut self, args: MultiValue) -> Map<String, Json> {
        let out = self
            .sandbox
            .call("get_state", args, budget::GET_STATE)
            .and_then(|out| match out.and_then(|o| o.into_iter().next()) {
                Some(v) => self.sandbox.to_object(&v),
                None => Ok(Map::new()),
            });
        out.unwrap_or_else(|e| {
            self.failed("get_state", e);
            Map::new()
        })
    }

    /// `_finished == true` → the `_result` object (`{}` when absent, or when it cannot be
    /// converted: that failure is logged as the script's, and a memory overrun still ends the
    /// match as one).
    fn finished(&mut self, state: &Value) -> Option<Map<String, Json>> {
        let Value::Table(t) = state else { return None };
        if t.raw_get::<Value>("_finished").ok()? != Value::Boolean(true) {
            return None;
        }
        let result = t.raw_get::<Value>("_result").unwrap_or(Value::Nil);
        Some(self.sandbox.to_object(&result).unwrap_or_else(|e| {
            self.failed("tick", e);
            Map::new()
        }))
    }

    fn maybe_reload(&mut self) {
        self.reloader.poll(&self.sandbox);
    }

    /// Moves what the script asked for into the world.
    fn flush(&mut self, world: &mut World) {
        let mut effects = self.api.take_effects();
        effects.write_messages(world);
        if let Some(mut control) = world.get_resource_mut::<MatchControl>() {
            if let Some(j) = effects.joinable {
                control.set_joinable(j);
            }
            if let Some(e) = self.overrun.take() {
                control.abort(json!({"status": "script_error", "reason": e.label()}));
            }
        }
    }
}

fn lua_join(world: &mut World, player_id: &str, ctx: &Map<String, Json>) -> Result<(), String> {
    let Some(mut m) = world.remove_resource::<LuaMatch>() else {
        return Ok(());
    };
    let verdict = m.join(player_id, ctx);
    m.flush(world);
    world.insert_resource(m);
    verdict
}

fn lua_leave(world: &mut World, player_id: &str) {
    let Some(mut m) = world.remove_resource::<LuaMatch>() else {
        return;
    };
    m.leave(player_id);
    m.flush(world);
    world.insert_resource(m);
}

fn lua_tick(world: &mut World) {
    let Some(mut m) = world.remove_resource::<LuaMatch>() else {
        return;
    };
    let inputs: Vec<PlayerInput> = world
        .get_resource_mut::<Messages<PlayerInput>>()
        .map(|mut q| q.drain().collect())
        .unwrap_or_default();
    m.maybe_reload();
    for input in &inputs {
        m.input(input);
    }
    let mut roster_q = world.query::<&Player>();
    let roster: Vec<String> = roster_q.iter(world).map(|p| p.id.clone()).collect();
    let result = m.tick().or_else(|| {
        m.advance_phases(roster.len())
            .then(|| Map::from_iter([("status".to_owned(), json!("phases_complete"))]))
    });
    if let Some(p) = &m.phases {
        world.insert_resource(MatchPhase(Some(p.info(crate::time::now_ms()))));
    }
    match result {
        Some(result) => {
            if let Some(mut control) = world.get_resource_mut::<MatchControl>() {
                control.finish(Json::Object(result));
            }
        }
        None => {
            let payloads = m.payloads(&roster);
            if let Some(mut out) = world.get_resource_mut::<StatePayloads>() {
                out.0 = payloads;
            }
        }
    }
    m.flush(world);
    world.insert_resource(m);
}
