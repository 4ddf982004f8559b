//! Finding a game's Lua modes (`lua.md` §1–2): a `config.lua` manifest returning
//! `{mode = "path.lua"}`, or a lone `match.lua` (mode `"default"`); then each mode script's
//! globals, with the contract's defaults.
//!
//! A failure names the file and line and stops the server at start; a failure during a live
//! re-read keeps the last good set of modes.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use mlua::{MultiValue, Value};

use super::sandbox::{Sandbox, ScriptError};
use crate::game::{MatchmakingStrategy, ModeDescriptor};

/// Budget for `config.lua` and a mode script's top level.
const EVAL_BUDGET: Duration = Duration::from_millis(2000);

/// Why a game directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither `config.lua` nor `match.lua`.
    #[error("no config.lua or match.lua in {0}")]
    NoGame(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// A script failed to evaluate (the message cites file and line).
    #[error("{0}")]
    Script(String),
    /// The manifest is malformed.
    #[error("config.lua: {0}")]
    Manifest(String),
    /// A mode global is missing or invalid.
    #[error("{file}: {why}")]
    Global {
        /// Script.
        file: String,
        /// What is wrong.
        why: String,
    },
}

/// One Lua mode.
#[derive(Debug, Clone)]
pub struct LuaModeDef {
    /// Its description (match size, players, strategy, listing).
    pub descriptor: ModeDescriptor,
    /// Absolute path of the mode script.
    pub script: PathBuf,
    /// Path relative to the game directory (how errors cite it).
    pub rel: String,
    /// `state_strategy = "shared"`.
    pub shared_state: bool,
    /// Set for `game_type = "world"` modes.
    pub world: Option<crate::worlds::WorldDescriptor>,
}

/// A loaded game directory.
#[derive(Debug, Clone)]
pub struct LuaGame {
    /// The directory.
    pub dir: PathBuf,
    /// Its modes (match and world).
    pub modes: Vec<LuaModeDef>,
    /// What `config.lua` declares beside its modes.
    pub declared: Declarations,
}

/// Declared leaderboards by id.
pub type Boards = std::collections::BTreeMap<String, asobi_services::leaderboards::BoardConfig>;

/// Declared tournaments by id.
pub type TournamentDefs =
    std::collections::BTreeMap<String, asobi_services::tournaments::TournamentDef>;

/// What a game's `config.lua` declares beside its modes: `leaderboards = { id = {…} }`,
/// `economy = { items = {…}, listings = {…} }` and `tournaments = { id = {…} }`. The
/// operator's settings of the same names win, entry by entry.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    /// Boards.
    pub leaderboards: Boards,
    /// Item definitions and store listings.
    pub economy: asobi_services::economy::Catalog,
    /// Tournaments.
    pub tournaments: TournamentDefs,
}

/// Loads `dir`.
pub fn load(dir: &Path, memory_limit: usize) -> Result<LuaGame, LoadError> {
    let dir = dir.canonicalize().map_err(|source| LoadError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let manifest = dir.join("config.lua");
    let (entries, declared) = if manifest.is_file() {
        read_manifest(&dir, &manifest, memory_limit)?
    } else if dir.join("match.lua").is_file() {
        (
            vec![("default".into(), "match.lua".into())],
            Declarations::default(),
        )
    } else {
        return Err(LoadError::NoGame(dir));
    };
    let mut game = LuaGame {
        dir: dir.clone(),
        modes: Vec::new(),
        declared,
    };
    for (name, rel) in entries {
        let script = dir.join(&rel);
        game.modes
            .push(read_mode(&name, &rel, &script, memory_limit)?);
    }
    game.modes
        .sort_by(|a, b| a.descriptor.name.cmp(&b.descriptor.name));
    Ok(game)
}

/// An empty Lua table converts to `[]`; in declarations every list that may be empty
/// (`rewards`) also accepts `{}`, so empty tables become `{}` throughout.
fn empty_tables_as_maps(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(a) if a.is_empty() => *v = serde_json::json!({}),
        serde_json::Value::Array(a) => a.iter_mut().for_each(empty_tables_as_maps),
        serde_json::Value::Object(m) => m.values_mut().for_each(empty_tables_as_maps),
        _ => {}
    }
}

/// Reads one declaration table of `config.lua` into `declared`.
fn declare(
    declared: &mut Declarations,
    name: &[u8],
    json: serde_json::Value,
) -> Result<(), LoadError> {
    let bad = |what: &str, e: String| LoadError::Manifest(format!("{what}: {e}"));
    let mut json = json;
    empty_tables_as_maps(&mut json);
    match name {
        b"leaderboards" => {
            declared.leaderboards =
                serde_json::from_value(json).map_err(|e| bad("leaderboards", e.to_string()))?;
            for (id, board) in &declared.leaderboards {
                board
                    .schedule()
                    .map_err(|e| bad(&format!("leaderboards.{id}"), e.to_string()))?;
            }
        }
        b"economy" => {
            declared.economy =
                serde_json::from_value(json).map_err(|e| bad("economy", e.to_string()))?;
            declared
                .economy
                .validate_fields()
                .map_err(|e| bad("economy", e))?;
        }
        _ => {
            declared.tournaments =
                serde_json::from_value(json).map_err(|e| bad("tournaments", e.to_string()))?;
            for (id, t) in &declared.tournaments {
                t.validate(id).map_err(|e| bad("tournaments", e))?;
            }
        }
    }
    Ok(())
}

fn read_manifest(
    dir: &Path,
    path: &Path,
    memory_limit: usize,
) -> Result<(Vec<(String, String)>, Declarations), LoadError> {
    let source = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let sandbox = Sandbox::new(dir, memory_limit).map_err(|e| LoadError::Script(e.to_string()))?;
    let lua = sandbox.lua();
    let no_require = lua
        .create_function(|_, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::RuntimeError(
                "require is not available in config.lua".into(),
            ))
        })
        .map_err(|e| LoadError::Script(e.to_string()))?;
    lua.globals()
        .raw_set("require", no_require)
        .map_err(|e| LoadError::Script(e.to_string()))?;
    let value = sandbox
        .eval(&source, "config.lua", EVAL_BUDGET)
        .map_err(script_error)?;
    let Value::Table(table) = value else {
        return Err(LoadError::Manifest(
            "must return a table of {mode = \"path.lua\"}".into(),
        ));
    };
    let mut entries = Vec::new();
    let mut declared = Declarations::default();
    for pair in table.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| LoadError::Manifest(e.to_string()))?;
        if let (Value::String(name), Value::Table(_)) = (&k, &v) {
            let name = name.as_bytes();
            let name: &[u8] = name.as_ref();
            if matches!(name, b"leaderboards" | b"economy" | b"tournaments") {
                let json = sandbox.to_json(&v).map_err(script_error)?;
                declare(&mut declared, name, json)?;
                continue;
            }
        }
        let (Value::String(name), Value::String(rel)) = (k, v) else {
            return Err(LoadError::Manifest(
                "entries must be mode = \"relative/path.lua\"".into(),
            ));
        };
        let (name, rel) = (name.to_string_lossy(), rel.to_string_lossy());
        if !safe_relative(&rel) {
            return Err(LoadError::Manifest(format!(
                "mode {name:?}: path {rel:?} must stay inside the game directory"
            )));
        }
        if !dir
            .join(&rel)
            .canonicalize()
            .is_ok_and(|p| p.starts_with(dir))
        {
            return Err(LoadError::Manifest(format!(
                "mode {name:?}: {rel:?} does not exist inside the game directory"
            )));
        }
        entries.push((name, rel));
    }
    entries.sort();
    Ok((entries, declared))
}

/// Not empty, not absolute, no empty, `.` or `..` segments, no control characters.
fn safe_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.bytes().any(|b| b < 32 || b == 127)
        && !rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn script_error(e: ScriptError) -> LoadError {
    LoadError::Script(e.to_string())
}

fn read_mode(
    name: &str,
    rel: &str,
    script: &Path,
    memory_limit: usize,
) -> Result<LuaModeDef, LoadError> {
    let source = std::fs::read(script).map_err(|source| LoadError::Io {
        path: script.to_owned(),
        source,
    })?;
    let dir = script.parent().unwrap_or(script);
    let sandbox = Sandbox::new(dir, memory_limit).map_err(|e| LoadError::Script(e.to_string()))?;
    // Top level runs without the `game` table, as in Asobi's mode-shape evaluation.
    sandbox
        .exec(&source, rel, EVAL_BUDGET)
        .map_err(script_error)?;
    let g = sandbox.lua().globals();
    let get = |k: &str| g.raw_get::<Value>(k).unwrap_or(Value::Nil);
    let bad = |why: String| LoadError::Global {
        file: rel.to_owned(),
        why,
    };
    let positive = |k: &str| -> Result<Option<u32>, LoadError> {
        match get(k) {
            Value::Nil => Ok(None),
            Value::Integer(i) if i > 0 => Ok(Some(i.min(u32::MAX as i64) as u32)),
            Value::Number(f) if f >= 1.0 => Ok(Some(f.trunc().min(u32::MAX as f64) as u32)),
            _ => Err(bad(format!("{k} must be a number > 0"))),
        }
    };
    let match_size = positive("match_size")?.ok_or_else(|| bad("match_size is required".into()))?;
    let string = |k: &str| match get(k) {
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    };

    let flag = |k: &str| match get(k) {
        Value::Boolean(b) => Some(b),
        Value::Nil => None,
        _ => {
            tracing::warn!(
                mode = name,
                script = rel,
                global = k,
                "must be a boolean; default used"
            );
            None
        }
    };
    let mut d = ModeDescriptor::new(name, match_size);
    if let Some(n) = positive("max_players")? {
        d = d.max_players(n);
    }
    d = d.min_players(positive("min_players")?.unwrap_or(match_size));
    if string("strategy").as_deref() == Some("skill_based") {
        d = d.strategy(MatchmakingStrategy::SkillBased);
    }
    d = d
        .listed(flag("listed").unwrap_or(false))
        .quick_play(flag("quick_play").unwrap_or(false));
    // Matches tick every 100 ms whatever `tick_rate` says (lua.md §2.2); our extension
    // `match_tick_hz` (1–60) asks for another rate, and Asobi scripts never set it.
    d = d.tick_rate(positive("match_tick_hz")?.unwrap_or(10));
    let world = if string("game_type").as_deref() == Some("world") {
        let mut w = crate::worlds::WorldDescriptor::new(name);
        w.max_players = positive("max_players")?.unwrap_or(match_size);
        w.match_size = match_size;
        w.tick_rate_ms = positive("tick_rate")?.map_or(50, u64::from);
        w.broadcast_interval = positive("broadcast_interval")?.map_or(3, u64::from);
        w.grid_size = positive("grid_size")?.unwrap_or(10);
        w.zone_size = positive("zone_size")?.unwrap_or(200);
        w.view_radius = match get("view_radius") {
            Value::Integer(i) if i >= 0 => i as u32,
            _ => 1,
        };
        w.persistent = flag("persistent").unwrap_or(false);
        w.lazy_zones = flag("lazy_zones").unwrap_or(w.grid_size > 100);
        w.zone_idle_timeout_ms = positive("zone_idle_timeout")?.map_or(30_000, u64::from);
        w.max_active_zones = positive("max_active_zones")?.map_or(10_000, |n| n as usize);
        w.cold_tick_divisor = positive("cold_tick_divisor")?.map_or(10, u64::from);
        w.player_ttl_ms = match get("player_ttl_ms") {
            Value::Integer(i) => i,
            _ => 0,
        };
        w.border_band = match get("border_band") {
            Value::Integer(i) if (0..=1).contains(&i) => i as f64,
            Value::Number(f) if (0.0..=1.0).contains(&f) => f,
            _ => 0.0,
        };
        w.spatial_cell = positive("spatial_grid_cell_size")?.map(f64::from);
        w.listed = flag("listed").unwrap_or(true);
        w.quick_play = flag("quick_play").unwrap_or(true);
        Some(w)
    } else {
        None
    };
    Ok(LuaModeDef {
        descriptor: d,
        script: script.to_owned(),
        rel: rel.to_owned(),
        shared_state: string("state_strategy").as_deref() == Some("shared"),
        world,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("asobi-game-{}", uuid::Uuid::now_v7().simple()));
        for (path, body) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    #[test]
    fn a_lone_match_lua_is_the_default_mode() {
        let g = load(
            &game(&[(
                "match.lua",
                "match_size = 2\nlisted = true\nquick_play = 1\n",
            )]),
            1 << 24,
        )
        .unwrap();
        let m = &g.modes[0];
        assert_eq!(
            (
                m.descriptor.name.as_str(),
                m.descriptor.match_size,
                m.descriptor.max_players
            ),
            ("default", 2, 2)
        );
        assert!(m.descriptor.listed);
        assert!(
            !m.descriptor.quick_play,
            "non-boolean ignored, default applies"
        );
        assert_eq!(m.descriptor.tick_rate, 10);
    }

    #[test]
    fn a_manifest_lists_modes_and_paths_are_confined() {
        let dir = game(&[
            (
                "config.lua",
                "return { arena = 'arena/match.lua', duel = 'duel.lua' }",
            ),
            (
                "arena/match.lua",
                "match_size = 4 max_players = 6 min_players = 2 strategy = 'skill_based' state_strategy = 'shared'",
            ),
            ("duel.lua", "match_size = 2 match_tick_hz = 20"),
            ("match.lua", "this is ignored when config.lua exists"),
        ]);
        let g = load(&dir, 1 << 24).unwrap();
        let names: Vec<&str> = g.modes.iter().map(|m| m.descriptor.name.as_str()).collect();
        assert_eq!(names, ["arena", "duel"]);
        let arena = &g.modes[0];
        assert_eq!(
            (arena.descriptor.max_players, arena.descriptor.min_players),
            (6, 2)
        );
        assert_eq!(arena.descriptor.strategy, MatchmakingStrategy::SkillBased);
        assert_eq!(
            (arena.descriptor.tick_rate, g.modes[1].descriptor.tick_rate),
            (10, 20),
            "match_tick_hz is our opt-in extension; Asobi's 10 Hz otherwise"
        );
        assert!(arena.shared_state);
        for bad in [
            "'../x.lua'",
            "'/etc/passwd'",
            "'a/./b.lua'",
            "''",
            "'missing.lua'",
        ] {
            let dir = game(&[("config.lua", &format!("return {{ m = {bad} }}"))]);
            assert!(
                matches!(load(&dir, 1 << 24), Err(LoadError::Manifest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn load_failures_name_the_file_and_line() {
        let e = load(
            &game(&[("match.lua", "match_size = 2\nlocal x = = 3\n")]),
            1 << 24,
        )
        .unwrap_err();
        assert!(e.to_string().contains("match.lua:2:"), "{e}");
        let e = load(&game(&[("match.lua", "listed = true\n")]), 1 << 24).unwrap_err();
        assert_eq!(e.to_string(), "match.lua: match_size is required");
        let e = load(
            &game(&[("match.lua", "match_size = 2\nlocal n = game.id()\n")]),
            1 << 24,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("match.lua:2:"),
            "indexing game at load time fails: {e}"
        );
        assert!(matches!(
            load(&game(&[("readme.txt", "")]), 1 << 24),
            Err(LoadError::NoGame(_))
        ));
    }

    #[test]
    fn the_manifest_may_declare_leaderboards() {
        let dir = game(&[
            (
                "config.lua",
                "return { m = \"m.lua\", leaderboards = { weekly = { operator = \"best\", reset = \"@weekly\" } } }",
            ),
            ("m.lua", "match_size = 2"),
        ]);
        let g = load(&dir, 1 << 24).unwrap();
        assert_eq!(g.modes.len(), 1);
        let weekly = &g.declared.leaderboards["weekly"];
        assert_eq!(
            weekly.operator,
            asobi_services::leaderboards::Operator::Best
        );
        assert_eq!(weekly.reset.as_deref(), Some("@weekly"));
        let bad = game(&[
            (
                "config.lua",
                "return { m = \"m.lua\", leaderboards = { w = { reset = \"@never\" } } }",
            ),
            ("m.lua", "match_size = 2"),
        ]);
        assert!(matches!(load(&bad, 1 << 24), Err(LoadError::Manifest(_))));
    }

    #[test]
    fn the_manifest_may_declare_the_economy_and_tournaments() {
        let dir = game(&[
            (
                "config.lua",
                r#"return {
                  m = "m.lua",
                  economy = {
                    items = { gem = {}, sword = { stackable = false } },
                    listings = { gems = { item = "gem", quantity = 5, currency = "gold", price = 3 } },
                  },
                  tournaments = {
                    daily = { schedule = "@daily", duration_secs = 3600, entry_fee = 10, entry_currency = "gold",
                              rewards = { { ranks = { 1, 3 }, currencies = { gold = 50 }, items = {} } } },
                    free = { start_at = 1, end_at = 2, rewards = {}, metadata = {} },
                  },
                  leaderboards = {},
                }"#,
            ),
            ("m.lua", "match_size = 2"),
        ]);
        let g = load(&dir, 1 << 24).unwrap();
        assert!(!g.declared.economy.items["sword"].stackable);
        assert_eq!(g.declared.economy.listings["gems"].quantity, 5);
        let daily = &g.declared.tournaments["daily"];
        assert_eq!(daily.rewards[0].ranks, (1, 3));
        assert_eq!(daily.entry_fee, 10);
        for broken in [
            // A listing of more swords than one (they do not stack).
            r#"economy = { items = { sword = { stackable = false } }, listings = { s = { item = "sword", quantity = 2, currency = "g", price = 1 } } }"#,
            // A misspelt field.
            r#"economy = { items = { gem = { stackabel = true } } }"#,
            // A fee without a currency.
            r#"tournaments = { t = { start_at = 1, end_at = 2, entry_fee = 5 } }"#,
        ] {
            let bad = game(&[
                (
                    "config.lua",
                    &format!("return {{ m = \"m.lua\", {broken} }}"),
                ),
                ("m.lua", "match_size = 2"),
            ]);
            assert!(
                matches!(load(&bad, 1 << 24), Err(LoadError::Manifest(_))),
                "{broken}"
            );
        }
    }
}
