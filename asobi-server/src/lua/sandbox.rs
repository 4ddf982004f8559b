//! A sandboxed Lua 5.4 VM (`lua.md` §3): what scripts may touch, and the limits they run under.
//!
//! Loaded: `string` (without `dump`), `table`, `math` (with Asobi's `random` and `sqrt`),
//! `utf8`, `coroutine`, and `os.clock/date/difftime/time` only. Absent: `io`, `package`,
//! `debug`, `load`, `loadstring`, `dofile`, `loadfile`, `print`, `collectgarbage`, the rest of
//! `os`. `require` resolves dotted module names to files under the script's own directory,
//! refuses symlinks, and caches results in `_ASOBI_LOADED`.
//!
//! Limits: a memory cap per VM, and a wall-clock deadline per call checked by an instruction
//! hook every 1 000 instructions, so `while true do end` is stopped, not waited for. Once a
//! call's deadline has passed nothing the script does can catch the overrun: `pcall`,
//! `xpcall`, `coroutine.resume` and `coroutine.close` re-raise it, and the hook keeps raising
//! it. Whether a call overran is a flag only the host sets (`Sandbox::with_deadline`), never
//! read from an error's text. Scripts cannot give a table a `__gc` finalizer (a finalizer runs
//! whenever the collector decides, outside any call's deadline), and `string.rep` refuses
//! results past the VM's memory cap before it builds them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

/// The error text a deadline overrun raises (for the log; overruns are known by a flag).
pub(super) const DEADLINE_MARKER: &str = "asobi: callback time budget exceeded";

/// Why a script call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScriptError {
    /// The call ran past its time budget.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The VM hit its memory cap.
    #[error("memory limit exceeded")]
    Memory,
    /// A Lua error (message includes file and line).
    #[error("{0}")]
    Runtime(String),
}

impl ScriptError {
    /// Classifies a failed call. `overran` is the host's own flag (the hook raised past the
    /// deadline); a memory overrun is Lua's `LUA_ERRMEM` status, which no script can raise
    /// (`error("not enough memory")` is an ordinary runtime error).
    fn classify(e: mlua::Error, overran: bool) -> ScriptError {
        let text = e.to_string();
        if overran {
            ScriptError::Timeout(first_line(&text))
        } else if is_memory_error(&e) {
            ScriptError::Memory
        } else {
            ScriptError::Runtime(first_line(&text))
        }
    }

    /// Budget overruns (time or memory) end the match; other errors only fail the call.
    pub fn is_overrun(&self) -> bool {
        matches!(self, ScriptError::Timeout(_) | ScriptError::Memory)
    }

    /// The short label used as an error reason (`timeout`, `heap_exhausted`, `internal`).
    pub fn label(&self) -> &'static str {
        match self {
            ScriptError::Timeout(_) => "timeout",
            ScriptError::Memory => "heap_exhausted",
            ScriptError::Runtime(_) => "internal",
        }
    }
}

/// `LUA_ERRMEM` anywhere in the chain (a Rust callback wraps the error it passes on).
fn is_memory_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } => is_memory_error(cause),
        mlua::Error::WithContext { cause, .. } => is_memory_error(cause),
        _ => false,
    }
}

impl From<super::convert::ConvertError> for ScriptError {
    /// A result too large for what the script may still allocate is a memory overrun (it
    /// counts against the cap), one too slow to convert a time overrun; a cycle is the
    /// script's runtime error.
    fn from(e: super::convert::ConvertError) -> Self {
        use super::convert::ConvertError as E;
        match e {
            E::TooLarge { .. } => ScriptError::Memory,
            E::TooSlow => ScriptError::Timeout(e.to_string()),
            E::Cycle { .. } => ScriptError::Runtime(e.to_string()),
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or(text);
    line.chars().take(500).collect()
}

/// A sandboxed VM and its call deadline.
pub struct Sandbox {
    lua: Lua,
    clock: Clock,
    dir: PathBuf,
}

/// The running call's deadline, shared by the instruction hook and the host functions that
/// do long work in one step (the pattern functions); kept as the VM's app data.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Deadline as nanoseconds after `epoch`; 0 = none.
    deadline: Arc<AtomicU64>,
    /// Set when an overrun is raised; cleared when a call starts. Only the host sets it.
    overran: Arc<AtomicBool>,
    /// Set when the hook could not be put back: the VM runs no more calls.
    hookless: Arc<AtomicBool>,
    epoch: Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            deadline: Arc::new(AtomicU64::new(0)),
            overran: Arc::new(AtomicBool::new(false)),
            hookless: Arc::new(AtomicBool::new(false)),
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds left before the deadline (0 once it has passed); `None` outside a call.
    pub fn remaining_ns(&self) -> Option<u64> {
        match self.deadline.load(Ordering::Relaxed) {
            0 => None,
            d => Some(d.saturating_sub(self.epoch.elapsed().as_nanos() as u64)),
        }
    }

    /// Raises the overrun when the running call's deadline has passed.
    pub fn check(&self) -> mlua::Result<()> {
        if self.trip_if_expired() {
            return Err(mlua::Error::RuntimeError(DEADLINE_MARKER.into()));
        }
        Ok(())
    }

    fn overran(&self) -> bool {
        self.overran.load(Ordering::Relaxed)
    }

    /// Flags the overrun if the deadline has passed; whether it has.
    pub(super) fn trip_if_expired(&self) -> bool {
        let expired = self.remaining_ns() == Some(0);
        if expired {
            self.overran.store(true, Ordering::Relaxed);
        }
        expired
    }
}

/// The memory cap of a VM, kept as app data so conversions can count against it.
#[derive(Debug, Clone, Copy)]
pub struct MemoryCap(pub usize);

/// What a script's protected calls look like from inside: each re-raises an error that
/// arrives once the host has flagged an overrun (`overran()`), so no `pcall` loop, message
/// handler or coroutine can keep a callback alive past its deadline. `setmetatable` refuses
/// a metatable that carries `__gc`; Lua 5.4 marks an object for finalization only when its
/// metatable has the field at that moment, so adding it later does nothing. The originals
/// are locals of this chunk, out of the script's reach (`debug` is absent).
const GUARDS_SRC: &str = r#"
local overran, error, type, rawget = ...
local raw_pcall, raw_xpcall, raw_setmetatable = pcall, xpcall, setmetatable
local co_resume, co_close = coroutine.resume, coroutine.close
local function pass(ok, ...)
  if not ok and overran() then error((...), 0) end
  return ok, ...
end
pcall = function(f, ...) return pass(raw_pcall(f, ...)) end
xpcall = function(f, handler, ...)
  return pass(raw_xpcall(f, function(e)
    if overran() then return e end
    return handler(e)
  end, ...))
end
coroutine.resume = function(co, ...) return pass(co_resume(co, ...)) end
-- Every coroutine body runs under a pcall inside its coroutine, so an overrun is recovered
-- in the coroutine (which turns its hooks back on and closes its pending `<close>` variables
-- under the hook) and then re-raised: a coroutine never dies with hooks off and `__close`
-- methods still to run. A coroutine's pending `<close>` variables run when it errors.
local co_create, co_wrap = coroutine.create, coroutine.wrap
local function rethrow(ok, ...)
  if ok then return ... end
  error((...), 0)
end
local function protected(f)
  if type(f) ~= "function" then return f end
  return function(...) return rethrow(raw_pcall(f, ...)) end
end
coroutine.create = function(f) return co_create(protected(f)) end
coroutine.wrap = function(f) return co_wrap(protected(f)) end
coroutine.close = function(co) return pass(co_close(co)) end
-- C loops the hook never sees: `table.move` over a huge range, `table.sort` of a huge table.
local raw_move, raw_sort, rawlen = table.move, table.sort, rawlen
table.move = function(a1, f, e, t, a2)
  if type(f) == "number" and type(e) == "number" and e - f >= 1e6 then
    error("table.move: range of more than 1000000 elements", 2)
  end
  return raw_move(a1, f, e, t, a2)
end
table.sort = function(t, comp)
  if type(t) == "table" and rawlen(t) > 1e6 then
    error("table.sort: more than 1000000 elements", 2)
  end
  return raw_sort(t, comp)
end
setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc finalizers are not allowed", 2)
  end
  return raw_setmetatable(t, mt)
end
"#;

impl Sandbox {
    /// A fresh VM whose `require` resolves under `dir`.
    pub fn new(dir: &Path, memory_limit: usize) -> mlua::Result<Sandbox> {
        let libs = StdLib::TABLE
            | StdLib::STRING
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::OS
            | StdLib::COROUTINE;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let sandbox = Sandbox {
            lua,
            clock: Clock::new(),
            dir: dir.to_owned(),
        };
        sandbox.lua.set_app_data(MemoryCap(memory_limit));
        sandbox.lua.set_app_data(sandbox.clock.clone());
        sandbox.restrict()?;
        super::strlib::install(&sandbox.lua)?;
        sandbox.install_guards()?;
        sandbox.install_require()?;
        super::convert::install_copier(&sandbox.lua)?;
        sandbox.install_hook()?;
        sandbox.lua.set_memory_limit(memory_limit)?;
        Ok(sandbox)
    }

    /// The deadline check ([`super::hook`]), every 1000 instructions. While it is
    /// installed Lua 5.4 traps every instruction to count, so it is left out of the
    /// server's own Lua code (see [`Sandbox::snapshot`]). Coroutines copy it when they are
    /// created.
    fn install_hook(&self) -> mlua::Result<()> {
        super::hook::install(&self.lua)
    }

    /// Installs [`GUARDS_SRC`] over the loaded libraries.
    fn install_guards(&self) -> mlua::Result<()> {
        let clock = self.clock.clone();
        let check = self.lua.create_function(move |_, ()| Ok(clock.overran()))?;
        let g = self.lua.globals();
        self.lua
            .load(GUARDS_SRC)
            .set_name("=asobi.guards")
            .call::<()>((
                check,
                g.raw_get::<Function>("error")?,
                g.raw_get::<Function>("type")?,
                g.raw_get::<Function>("rawget")?,
            ))
    }

    /// A deep copy of `value` ([`super::convert::deep_copy`]) taken before a callback so a
    /// failure can be rolled back. It runs the server's own copier with the instruction hook
    /// off (a third of its time otherwise); it only walks tables, so it always ends.
    pub fn snapshot(&self, value: &mlua::Value) -> mlua::Result<mlua::Value> {
        super::hook::remove(&self.lua)?;
        let copy = super::convert::deep_copy(&self.lua, value);
        if let Err(e) = self.install_hook() {
            // Without its hook the VM could run forever: it runs nothing more.
            self.clock.hookless.store(true, Ordering::Relaxed);
            return Err(e);
        }
        copy
    }

    /// The VM.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    fn restrict(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let g = lua.globals();
        for name in [
            "collectgarbage",
            "dofile",
            "loadfile",
            "load",
            "loadstring",
            "print",
            "require",
        ] {
            g.raw_set(name, Value::Nil)?;
        }
        let string: Table = g.get("string")?;
        string.raw_set("dump", Value::Nil)?;
        string.raw_set("rep", lua.create_function(string_rep)?)?;
        let os: Table = g.get("os")?;
        let safe_os = lua.create_table()?;
        for name in ["clock", "date", "difftime", "time"] {
            safe_os.raw_set(name, os.get::<Value>(name)?)?;
        }
        g.raw_set("os", safe_os)?;

        let math: Table = g.get("math")?;
        let mut seed = [0u8; 8];
        crate::auth::secrets::random_bytes(&mut seed).map_err(mlua::Error::external)?;
        let rng = Arc::new(AtomicU64::new(u64::from_le_bytes(seed) | 1));
        let random = lua.create_function(move |_, args: MultiValue| {
            let next = splitmix(&rng);
            let unit = (next >> 11) as f64 / (1u64 << 53) as f64;
            let nums: Vec<f64> = args.iter().filter_map(number).collect();
            match (args.len(), nums.as_slice()) {
                (0, _) => Ok(Value::Number(unit)),
                (1, [n]) if n.trunc() >= 1.0 => {
                    Ok(Value::Integer(1 + (next % n.trunc() as u64) as i64))
                }
                (1, [_]) => Ok(Value::Number(unit)),
                (2, [a, b]) => {
                    let (a, b) = (a.trunc() as i64, b.trunc() as i64);
                    if a > b {
                        return Err(mlua::Error::RuntimeError(
                            "bad argument to 'random' (interval is empty)".into(),
                        ));
                    }
                    let span = (b - a) as u64 + 1;
                    Ok(Value::Integer(a + (next % span) as i64))
                }
                _ => Err(mlua::Error::RuntimeError(
                    "bad argument to 'random' (number expected)".into(),
                )),
            }
        })?;
        math.raw_set("random", random)?;
        math.raw_set(
            "randomseed",
            lua.create_function(|_, _: MultiValue| Ok(()))?,
        )?;
        math.raw_set(
            "sqrt",
            lua.create_function(|_, v: Value| {
                Ok(match number(&v) {
                    Some(x) if x >= 0.0 => x.sqrt(),
                    _ => 0.0,
                })
            })?,
        )?;
        Ok(())
    }

    fn install_require(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let loaded = lua.create_table()?;
        lua.globals().raw_set("_ASOBI_LOADED", loaded)?;
        let dir = self.dir.clone();
        let require = lua.create_function(move |lua, name: Value| {
            let Value::String(name) = name else {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #1 to 'require' (string expected)".into(),
                ));
            };
            let name = name.to_str()?.to_owned();
            if !valid_module_name(&name) {
                return Err(mlua::Error::RuntimeError(format!(
                    "module name {name:?} is not allowed"
                )));
            }
            let cache: Table = lua.globals().raw_get("_ASOBI_LOADED")?;
            if let Value::Table(_)
            | Value::Boolean(true)
            | Value::String(_)
            | Value::Integer(_)
            | Value::Number(_) = cache.raw_get::<Value>(name.as_str())?
            {
                return cache.raw_get(name.as_str());
            }
            let path = dir.join(format!("{}.lua", name.replace('.', "/")));
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|_| mlua::Error::RuntimeError(format!("module '{name}' not found")))?;
            if meta.file_type().is_symlink() || !meta.is_file() {
                return Err(mlua::Error::RuntimeError(format!(
                    "module '{name}' not found"
                )));
            }
            let source = std::fs::read(&path)
                .map_err(|e| mlua::Error::RuntimeError(format!("module '{name}': {e}")))?;
            let chunk_name = format!("@{}.lua", name.replace('.', "/"));
            let result: Value = lua
                .load(source)
                .set_name(chunk_name)
                .set_mode(mlua::chunk::ChunkMode::Text)
                .call(())?;
            let result = if result.is_nil() {
                Value::Boolean(true)
            } else {
                result
            };
            cache.raw_set(name.as_str(), result.clone())?;
            Ok(result)
        })?;
        lua.globals().raw_set("require", require)
    }

    /// Clears the `require` cache (on hot reload).
    pub fn clear_require_cache(&self) -> mlua::Result<()> {
        self.lua
            .globals()
            .raw_set("_ASOBI_LOADED", self.lua.create_table()?)
    }

    /// Runs a chunk (a script's top level) under a budget. `name` is how errors cite it.
    pub fn exec(&self, source: &[u8], name: &str, budget: Duration) -> Result<(), ScriptError> {
        self.with_deadline(budget, || {
            self.lua
                .load(source)
                .set_name(format!("@{name}"))
                .set_mode(mlua::chunk::ChunkMode::Text)
                .exec()
        })
    }

    /// Evaluates a chunk and returns its value (`config.lua`).
    pub fn eval(&self, source: &[u8], name: &str, budget: Duration) -> Result<Value, ScriptError> {
        self.with_deadline(budget, || {
            self.lua
                .load(source)
                .set_name(format!("@{name}"))
                .set_mode(mlua::chunk::ChunkMode::Text)
                .eval()
        })
    }

    /// Calls a global function under a budget. `Ok(None)` when the global is not a function.
    pub fn call(
        &self,
        name: &str,
        args: MultiValue,
        budget: Duration,
    ) -> Result<Option<MultiValue>, ScriptError> {
        // Raw: a script's `__index` on `_G` must not run outside a call's deadline.
        let Ok(Value::Function(f)) = self.lua.globals().raw_get::<Value>(name) else {
            return Ok(None);
        };
        self.call_fn(&f, args, budget).map(Some)
    }

    /// Calls global `name` like [`call`](Self::call); its first return value as JSON (`null`
    /// when it returned nothing), or `None` when it is not defined.
    pub fn call_json(
        &self,
        name: &str,
        args: MultiValue,
        budget: Duration,
    ) -> Result<Option<serde_json::Value>, ScriptError> {
        let Some(out) = self.call(name, args, budget)? else {
            return Ok(None);
        };
        match out.into_iter().next() {
            Some(v) => self.to_json(&v).map(Some),
            None => Ok(Some(serde_json::Value::Null)),
        }
    }

    /// A value the script produced, as JSON ([`super::convert::to_json`]): bounded by what the
    /// VM may still allocate; a failure is the script's error.
    pub fn to_json(&self, value: &Value) -> Result<serde_json::Value, ScriptError> {
        Ok(super::convert::to_json(&self.lua, value)?)
    }

    /// [`to_json`](Self::to_json) for a value that must be an object (anything else is `{}`).
    pub fn to_object(
        &self,
        value: &Value,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ScriptError> {
        Ok(super::convert::to_object(&self.lua, value)?)
    }

    /// `name(config)` with an empty `config` table (the contract's set-up calls: `phases`,
    /// `spawn_templates`, `terrain_provider`), as [`call_json`](Self::call_json).
    pub fn call_with_config(
        &self,
        name: &str,
        budget: Duration,
    ) -> Result<Option<serde_json::Value>, ScriptError> {
        let config = self
            .lua
            .create_table()
            .map_err(|e| ScriptError::classify(e, false))?;
        self.call_json(name, MultiValue::from_iter([Value::Table(config)]), budget)
    }

    /// Calls a function under a budget.
    pub fn call_fn(
        &self,
        f: &Function,
        args: MultiValue,
        budget: Duration,
    ) -> Result<MultiValue, ScriptError> {
        self.with_deadline(budget, || f.call::<MultiValue>(args))
    }

    /// Whether a global function exists.
    pub fn has_function(&self, name: &str) -> bool {
        matches!(
            self.lua.globals().raw_get::<Value>(name),
            Ok(Value::Function(_))
        )
    }

    fn with_deadline<T>(
        &self,
        budget: Duration,
        f: impl FnOnce() -> mlua::Result<T>,
    ) -> Result<T, ScriptError> {
        let clock = &self.clock;
        if clock.hookless.load(Ordering::Relaxed) {
            return Err(ScriptError::Timeout(
                "the VM lost its deadline hook and runs no more calls".into(),
            ));
        }
        let at = (clock.epoch.elapsed() + budget).as_nanos().max(1) as u64;
        clock.overran.store(false, Ordering::Relaxed);
        clock.deadline.store(at, Ordering::Relaxed);
        let result = f();
        clock.deadline.store(0, Ordering::Relaxed);
        let overran = clock.overran.swap(false, Ordering::Relaxed);
        result.map_err(|e| ScriptError::classify(e, overran))
    }
}

/// `string.rep(s, n [, sep])` with its size checked against the VM's memory cap before
/// anything is built (Lua's own copies `n` times even when the pieces are empty, a C loop the
/// instruction hook never sees).
fn string_rep(
    lua: &Lua,
    (s, n, sep): (mlua::LuaString, mlua::Integer, Option<mlua::LuaString>),
) -> mlua::Result<mlua::LuaString> {
    let (s, sep) = (s.as_bytes(), sep.as_ref().map(|x| x.as_bytes()));
    let sep: &[u8] = sep.as_deref().unwrap_or(&[]);
    if n <= 0 || (s.is_empty() && sep.is_empty()) {
        return lua.create_string("");
    }
    let n = n as u64;
    let cap = lua.app_data_ref::<MemoryCap>().map_or(usize::MAX, |c| c.0) as u64;
    let total = (s.len() as u64)
        .checked_mul(n)
        .and_then(|a| (sep.len() as u64).checked_mul(n - 1).map(|b| (a, b)))
        .and_then(|(a, b)| a.checked_add(b))
        .filter(|total| *total <= cap)
        .ok_or_else(|| mlua::Error::RuntimeError("resulting string too large".into()))?;
    let mut out = Vec::with_capacity(total as usize);
    for i in 0..n {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(&s);
    }
    lua.create_string(out)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(f) => Some(*f),
        _ => None,
    }
}

fn splitmix(state: &AtomicU64) -> u64 {
    let mut z = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`.
pub fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            let mut chars = seg.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> (Sandbox, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("asobi-sandbox-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(
            dir.join("lib/util.lua"),
            "return { twice = function(x) return 2 * x end }",
        )
        .unwrap();
        (Sandbox::new(&dir, 16 << 20).unwrap(), dir)
    }

    fn eval(s: &Sandbox, code: &str) -> Result<Value, ScriptError> {
        s.with_deadline(Duration::from_millis(200), || {
            s.lua.load(code).eval::<Value>()
        })
    }

    #[test]
    fn host_access_is_absent() {
        let (s, _) = sandbox();
        for code in [
            "return io",
            "return package",
            "return debug",
            "return load",
            "return loadstring",
            "return dofile",
            "return loadfile",
            "return print",
            "return collectgarbage",
            "return string.dump",
            "return os.execute",
            "return os.exit",
            "return os.getenv",
            "return os.remove",
            "return os.rename",
            "return os.tmpname",
        ] {
            assert!(
                matches!(eval(&s, code), Ok(Value::Nil)),
                "{code} must be nil"
            );
        }
        assert!(matches!(
            eval(&s, "return os.time()"),
            Ok(Value::Integer(_))
        ));
        assert!(eval(&s, "return io.open('/etc/passwd')").is_err());
    }

    #[test]
    fn require_stays_inside_the_game_directory() {
        let (s, dir) = sandbox();
        assert!(matches!(
            eval(&s, "return require('lib.util').twice(21)"),
            Ok(Value::Integer(42))
        ));
        assert!(matches!(
            eval(&s, "return _ASOBI_LOADED['lib.util'] ~= nil"),
            Ok(Value::Boolean(true))
        ));
        for bad in [
            "require('../../etc/passwd')",
            "require('/etc/passwd')",
            "require('lib..util')",
            "require(5)",
            "require('nope')",
        ] {
            assert!(eval(&s, bad).is_err(), "{bad} must fail");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", dir.join("linked.lua")).unwrap();
            assert!(
                eval(&s, "return require('linked')").is_err(),
                "symlinks are refused"
            );
        }
    }

    #[test]
    fn runaway_loops_and_memory_bombs_are_stopped() {
        let (s, _) = sandbox();
        let started = Instant::now();
        let e = eval(&s, "while true do end").unwrap_err();
        assert!(matches!(e, ScriptError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let e = eval(
            &s,
            "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end",
        )
        .unwrap_err();
        assert!(e.is_overrun(), "{e}");
        // The VM still works afterwards.
        assert!(matches!(eval(&s, "return 1 + 1"), Ok(Value::Integer(2))));
    }

    /// Issue 15 §1: once the deadline has passed nothing the script does catches it.
    #[test]
    fn no_protected_call_outlives_the_deadline() {
        let (s, _) = sandbox();
        for code in [
            "while true do pcall(function() while true do end end) end",
            "while true do pcall(pcall, function() while true do end end) end",
            "while true do xpcall(function() while true do end end, function(e) return e end) end",
            "while true do xpcall(function() while true do end end, function() while true do end end) end",
            "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
            "while true do pcall(coroutine.wrap(function() while true do end end)) end",
            "while true do local co = coroutine.create(function() while true do end end)
               coroutine.resume(co) coroutine.close(co) end",
            "while true do pcall(string.gsub, 'abc', '%w', function() while true do end end) end",
            "while true do pcall(table.sort, {3, 2, 1}, function() while true do end end) end",
            // `__close` methods: run on the way out of an overrun, they are overrun too.
            "while true do pcall(function() local x <close> = setmetatable({}, {__close = function()
               while true do end end}) while true do end end) end",
            "local x <close> = setmetatable({}, {__close = function() while true do end end})
             while true do end",
            "while true do pcall(function()
               local x <close> = setmetatable({}, {__close = function()
                 local y <close> = setmetatable({}, {__close = function() while true do end end})
                 while true do end end})
               while true do end end) end",
            "local looper = {__close = function() while true do end end}
             while true do
               pcall(coroutine.wrap(function() local x <close> = setmetatable({}, looper)
                 while true do end end))
               local co = coroutine.create(function() local x <close> = setmetatable({}, looper)
                 while true do end end)
               coroutine.resume(co) pcall(coroutine.close, co) end",
            "local looper = setmetatable({}, {__close = function() while true do end end})
             while true do pcall(function()
               for _ in function() while true do end end, nil, nil, looper do end end) end",
            "getmetatable('').__close = function() while true do end end
             while true do pcall(function() local s <close> = 'str' while true do end end) end",
        ] {
            let started = Instant::now();
            let e = eval(&s, code).unwrap_err();
            assert!(matches!(e, ScriptError::Timeout(_)), "{code}: {e}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{code}: {:?}",
                started.elapsed()
            );
            assert!(matches!(eval(&s, "return 1 + 1"), Ok(Value::Integer(2))));
        }
        // A coroutine left dead by one overrun cannot hang the next call.
        let _ = eval(
            &s,
            "CO = coroutine.create(function() local x <close> = setmetatable({},
               {__close = function() while true do end end}) while true do end end)
             coroutine.resume(CO)",
        );
        assert!(matches!(
            eval(&s, "return coroutine.close(CO)"),
            Err(ScriptError::Timeout(_)) | Ok(_)
        ));
        // Coroutines still yield, resume and return as before.
        assert!(matches!(
            eval(
                &s,
                "local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end
                   return 'done' end)
                 local a, b, c, d = gen(), gen(), gen(), gen()
                 local co = coroutine.create(function(x) error({code = x}) end)
                 local ok, e = coroutine.resume(co, 9)
                 return a + b + c == 6 and d == 'done' and not ok and e.code == 9"
            ),
            Ok(Value::Boolean(true))
        ));
        // Before the deadline, pcall is pcall.
        assert!(matches!(
            eval(
                &s,
                "local ok, e = pcall(error, {code = 7}) return (not ok) and e.code"
            ),
            Ok(Value::Integer(7))
        ));
        assert!(matches!(
            eval(
                &s,
                "return select('#', pcall(function() return 1, nil, 3 end))"
            ),
            Ok(Value::Integer(4))
        ));
        assert!(matches!(
            eval(
                &s,
                "return xpcall(error, function(e) return 'handled ' .. e end, 'x')"
            ),
            Ok(Value::Boolean(false))
        ));
    }

    /// Issue 15 §5: an error's text never decides how it is classified.
    #[test]
    fn overruns_are_a_host_flag_not_a_message() {
        let (s, _) = sandbox();
        for code in [
            "error('asobi: callback time budget exceeded')",
            "error('unknown action: asobi: callback time budget exceeded')",
            "error('not enough memory')",
        ] {
            let e = eval(&s, code).unwrap_err();
            assert!(matches!(e, ScriptError::Runtime(_)), "{code}: {e:?}");
            assert!(!e.is_overrun());
        }
    }

    /// Issue 15 §2: no finalizer can run outside a deadline.
    #[test]
    fn scripts_cannot_set_finalizers() {
        let (s, _) = sandbox();
        let e = eval(
            &s,
            "keep = setmetatable({}, {__gc = function() while true do end end})",
        )
        .unwrap_err();
        assert!(e.to_string().contains("__gc"), "{e}");
        let e = eval(&s, "keep = setmetatable({}, {__gc = true})").unwrap_err();
        assert!(e.to_string().contains("__gc"), "{e}");
        // Added after setmetatable, Lua 5.4 never marks the object: nothing runs.
        assert!(
            eval(
                &s,
                "local mt = {} keep = setmetatable({}, mt)
                 mt.__gc = function() while true do end end keep = nil"
            )
            .is_ok()
        );
        // Collect everything the VM holds: no finalizer spins.
        drop(s);
        // Other metatables still work.
        let (s, _) = sandbox();
        assert!(matches!(
            eval(&s, "return setmetatable({}, {__index = {hp = 3}}).hp"),
            Ok(Value::Integer(3))
        ));
    }

    /// C loops the hook never sees are bounded: `table.move` and `table.sort`.
    #[test]
    fn table_move_and_sort_are_bounded() {
        let (s, _) = sandbox();
        let started = Instant::now();
        let e = eval(&s, "return table.move({}, 1, 1 << 40, 1)").unwrap_err();
        assert!(e.to_string().contains("table.move"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(
            eval(&s, "local t = table.move({1, 2, 3}, 1, 3, 2) return t[4]"),
            Ok(Value::Integer(3))
        ));
        assert!(matches!(
            eval(&s, "local t = {3, 1, 2} table.sort(t) return t[1]"),
            Ok(Value::Integer(1))
        ));
    }

    /// Issue 15 §4: `string.rep` is checked before it builds anything.
    #[test]
    fn string_rep_is_bounded_by_the_memory_cap() {
        let (s, _) = sandbox();
        let started = Instant::now();
        assert!(matches!(
            eval(&s, "return #string.rep('', 1 << 62)"),
            Ok(Value::Integer(0))
        ));
        assert!(eval(&s, "return string.rep('', 1 << 62, ',')").is_err());
        assert!(eval(&s, "return string.rep('x', 1 << 40)").is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(
            eval(
                &s,
                "return string.rep('ab', 3, '-') == 'ab-ab-ab' and ('x'):rep(2) == 'xx'"
            ),
            Ok(Value::Boolean(true))
        ));
        assert!(matches!(
            eval(
                &s,
                "return string.rep('ab', 0) == '' and string.rep('ab', -1) == ''"
            ),
            Ok(Value::Boolean(true))
        ));
    }

    #[test]
    fn asobi_math_quirks() {
        let (s, _) = sandbox();
        assert!(matches!(eval(&s, "return math.sqrt(-4)"), Ok(Value::Number(x)) if x == 0.0));
        assert!(matches!(eval(&s, "return math.sqrt('x')"), Ok(Value::Number(x)) if x == 0.0));
        assert!(matches!(
            eval(&s, "local r = math.random(3) return r >= 1 and r <= 3"),
            Ok(Value::Boolean(true))
        ));
        assert!(matches!(
            eval(&s, "return math.random(0)"),
            Ok(Value::Number(_))
        ));
        assert!(matches!(
            eval(&s, "local r = math.random(5, 6) return r == 5 or r == 6"),
            Ok(Value::Boolean(true))
        ));
        assert!(eval(&s, "return math.random(6, 5)").is_err());
        assert!(matches!(
            eval(&s, "local r = math.random() return r >= 0 and r < 1"),
            Ok(Value::Boolean(true))
        ));
    }
}
