//! Values crossing the Lua boundary (`lua.md` §3.4).
//!
//! JSON → Lua: objects become string-keyed tables, arrays 1-based sequences, integers stay
//! integers and floats floats; in client input a JSON `null` becomes the string `"null"`
//! (Asobi's quirk, which scripts test for). Lua → JSON: string keys make an object, integer
//! keys an array ordered by key; an empty table is `{}` at the top level and `[]` nested;
//! deeper than 64 levels becomes `"too_deep"`; functions and userdata become `null`; invalid
//! UTF-8 is replaced rather than crashing the match (Asobi crashes there).
//!
//! Lua → JSON is bounded: a table that contains itself is an error ([`ConvertError::Cycle`]),
//! and the output counts against the VM's memory cap (what the VM may still allocate, see
//! [`Bound::for_vm`]), so a table shared a million times over, or a small cycle fanning out,
//! fails fast as that script's error instead of growing the server until it dies.

use mlua::{Function, Lua, Table, Value as LuaValue};
use serde_json::{Map, Number, Value};

use super::sandbox::MemoryCap;

/// Nesting beyond this is cut off as `"too_deep"`.
pub const MAX_DEPTH: usize = 64;

/// What one JSON node is counted as, besides its strings (about what `serde_json::Value`
/// and its map entry take).
const NODE_BYTES: usize = 32;

/// Why a Lua value could not become JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A table reachable from itself.
    #[error("cannot convert to JSON: a table contains itself (at depth {depth})")]
    Cycle {
        /// How deep the repeated table was met.
        depth: usize,
    },
    /// The output would pass what the script may still allocate.
    #[error(
        "cannot convert to JSON: larger than the {limit} bytes left under the script's memory cap"
    )]
    TooLarge {
        /// The allowance the conversion started with.
        limit: usize,
    },
    /// The conversion ran past its time allowance (a huge table is a callback's work too).
    #[error("cannot convert to JSON within the time budget")]
    TooSlow,
}

impl From<ConvertError> for mlua::Error {
    fn from(e: ConvertError) -> Self {
        mlua::Error::RuntimeError(e.to_string())
    }
}

/// The bytes a conversion may still produce, and until when it may run.
#[derive(Debug, Clone)]
pub struct Bound {
    left: usize,
    limit: usize,
    deadline: Option<std::time::Instant>,
    nodes: u32,
}

/// How many nodes are converted between two looks at the clock.
const CLOCK_EVERY: u32 = 1024;

impl Bound {
    /// An allowance of `bytes`.
    pub fn new(bytes: usize) -> Bound {
        Bound {
            left: bytes,
            limit: bytes,
            deadline: None,
            nodes: 0,
        }
    }

    /// This allowance less `bytes` (already spent elsewhere).
    pub fn less(self, bytes: usize) -> Bound {
        Bound {
            left: self.left.saturating_sub(bytes),
            ..self
        }
    }

    /// Bytes this allowance has handed out.
    pub fn used(&self) -> usize {
        self.limit - self.left
    }

    /// The same allowance, ending at `deadline` ([`ConvertError::TooSlow`] after it).
    pub fn until(self, deadline: std::time::Instant) -> Bound {
        Bound {
            deadline: Some(deadline),
            ..self
        }
    }

    /// What `lua` may still allocate under its cap ([`MemoryCap`]; unbounded VMs, the
    /// server's own in tests, get 64 MiB), until [`CONVERT_TIME`] from now or the running
    /// call's deadline, whichever comes first.
    pub fn for_vm(lua: &Lua) -> Bound {
        let cap = lua.app_data_ref::<MemoryCap>().map_or(64 << 20, |c| c.0);
        let time = lua
            .app_data_ref::<super::sandbox::Clock>()
            .and_then(|c| c.remaining_ns())
            .map_or(CONVERT_TIME, |ns| {
                CONVERT_TIME.min(std::time::Duration::from_nanos(ns))
            });
        Bound::new(cap.saturating_sub(lua.used_memory())).until(std::time::Instant::now() + time)
    }

    fn take(&mut self, bytes: usize) -> Result<(), ConvertError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or(ConvertError::TooLarge { limit: self.limit })?;
        Ok(())
    }

    /// One node more; every [`CLOCK_EVERY`] nodes, the deadline is checked.
    fn node(&mut self) -> Result<(), ConvertError> {
        self.take(NODE_BYTES)?;
        self.nodes = self.nodes.wrapping_add(1);
        if self.nodes.is_multiple_of(CLOCK_EVERY)
            && self.deadline.is_some_and(|d| std::time::Instant::now() > d)
        {
            return Err(ConvertError::TooSlow);
        }
        Ok(())
    }
}

/// How JSON `null` is handed to a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// As the string `"null"` (client input, as in Asobi).
    AsString,
    /// As `nil`.
    AsNil,
}

/// JSON → Lua.
pub fn to_lua(lua: &Lua, value: &Value, nulls: Nulls) -> mlua::Result<LuaValue> {
    Ok(match value {
        Value::Null => match nulls {
            Nulls::AsString => LuaValue::String(lua.create_string("null")?),
            Nulls::AsNil => LuaValue::Nil,
        },
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => LuaValue::Integer(i),
            None => LuaValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item, nulls)?)?;
            }
            LuaValue::Table(t)
        }
        Value::Object(map) => LuaValue::Table(object_to_lua(lua, map, nulls)?),
    })
}

/// A JSON object → a string-keyed table.
pub fn object_to_lua(lua: &Lua, map: &Map<String, Value>, nulls: Nulls) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, map.len())?;
    for (k, v) in map {
        t.raw_set(k.as_str(), to_lua(lua, v, nulls)?)?;
    }
    Ok(t)
}

/// How long one conversion may take: it is part of the work a callback asked for.
pub const CONVERT_TIME: std::time::Duration = std::time::Duration::from_millis(50);

/// Lua → JSON for a top-level value that must be an object (`get_state`, `_result`, broadcast
/// payloads): anything that is not a string-keyed table becomes `{}`.
pub fn to_object(lua: &Lua, value: &LuaValue) -> Result<Map<String, Value>, ConvertError> {
    to_object_within(value, &mut Bound::for_vm(lua))
}

/// Lua → JSON for any value, within what `lua` may still allocate and [`CONVERT_TIME`].
pub fn to_json(lua: &Lua, value: &LuaValue) -> Result<Value, ConvertError> {
    to_json_within(value, &mut Bound::for_vm(lua))
}

/// [`to_object`] within an explicit allowance.
pub fn to_object_within(
    value: &LuaValue,
    bound: &mut Bound,
) -> Result<Map<String, Value>, ConvertError> {
    match to_json_within(value, bound)? {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// [`to_json`] within an explicit allowance.
pub fn to_json_within(value: &LuaValue, bound: &mut Bound) -> Result<Value, ConvertError> {
    Walk {
        bound,
        path: Vec::new(),
    }
    .value(value, true)
}

/// One conversion: the allowance left and the tables on the way down (cycle detection; at
/// most [`MAX_DEPTH`] of them, so a linear search is cheapest).
struct Walk<'a> {
    bound: &'a mut Bound,
    path: Vec<*const std::ffi::c_void>,
}

impl Walk<'_> {
    fn value(&mut self, value: &LuaValue, top: bool) -> Result<Value, ConvertError> {
        self.bound.node()?;
        if self.path.len() > MAX_DEPTH {
            return Ok(Value::from("too_deep"));
        }
        Ok(match value {
            LuaValue::Nil => Value::Null,
            LuaValue::Boolean(b) => Value::Bool(*b),
            LuaValue::Integer(i) => Value::from(*i),
            LuaValue::Number(f) => Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            LuaValue::String(s) => Value::String(self.string(s)?),
            LuaValue::Table(t) => {
                let ptr = t.to_pointer();
                if self.path.contains(&ptr) {
                    return Err(ConvertError::Cycle {
                        depth: self.path.len(),
                    });
                }
                self.path.push(ptr);
                let out = self.table(t, top);
                self.path.pop();
                out?
            }
            _ => Value::Null,
        })
    }

    fn string(&mut self, s: &mlua::LuaString) -> Result<String, ConvertError> {
        let bytes = s.as_bytes();
        self.bound.take(bytes.len())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn table(&mut self, t: &Table, top: bool) -> Result<Value, ConvertError> {
        let mut ints: Vec<(i64, Value)> = Vec::new();
        let mut strs = Map::new();
        for (k, v) in t.pairs::<LuaValue, LuaValue>().flatten() {
            let v = self.value(&v, false)?;
            match k {
                LuaValue::Integer(i) => ints.push((i, v)),
                LuaValue::Number(f) if f.fract() == 0.0 => ints.push((f as i64, v)),
                LuaValue::String(s) => {
                    let key = self.string(&s)?;
                    strs.insert(key, v);
                }
                _ => {}
            }
        }
        Ok(match (ints.is_empty(), strs.is_empty()) {
            (true, true) if top => Value::Object(Map::new()),
            (true, true) => Value::Array(Vec::new()),
            (false, true) => {
                ints.sort_by_key(|(i, _)| *i);
                Value::Array(ints.into_iter().map(|(_, v)| v).collect())
            }
            _ => {
                // Mixed keys are not portable; keep everything as an object.
                for (i, v) in ints {
                    strs.insert(i.to_string(), v);
                }
                Value::Object(strs)
            }
        })
    }
}

/// Registry name of the compiled copier.
const COPIER: &str = "asobi.deep_copy";

/// The copier runs inside the VM: one call per snapshot instead of several Rust ↔ Lua
/// crossings per value, and a `seen` table instead of a linear search. Snapshots are taken
/// before every callback (so a failed one can be rolled back), and with the earlier Rust
/// walk they were the largest cost of a Lua match taking inputs. The standard functions it
/// uses are captured when it is compiled, before any script runs, so a script replacing
/// `next` or `rawset` cannot change how its own state is snapshotted. `rawmeta` reads a
/// metatable even when `__metatable` hides it.
const COPIER_SRC: &str = r#"
local next, type, rawset, setmetatable, getmetatable, rawmeta = ...
local function copy(v, seen)
  if type(v) ~= "table" then return v end
  local c = seen[v]
  if c ~= nil then return c end
  c = {}
  seen[v] = c
  for k, x in next, v do
    rawset(c, copy(k, seen), copy(x, seen))
  end
  if getmetatable(v) ~= nil then setmetatable(c, rawmeta(v)) end
  return c
end
return function(v) return copy(v, {}) end
"#;

/// Compiles the copier into `lua` (a no-op if it is there). The sandbox calls this before it
/// loads any script.
pub fn install_copier(lua: &Lua) -> mlua::Result<Function> {
    if let Ok(f) = lua.named_registry_value::<Function>(COPIER) {
        return Ok(f);
    }
    let g = lua.globals();
    let rawmeta = lua.create_function(|_, t: Table| Ok(t.metatable()))?;
    let args = (
        g.raw_get::<Function>("next")?,
        g.raw_get::<Function>("type")?,
        g.raw_get::<Function>("rawset")?,
        g.raw_get::<Function>("setmetatable")?,
        g.raw_get::<Function>("getmetatable")?,
        rawmeta,
    );
    let copier: Function = lua
        .load(COPIER_SRC)
        .set_name("=asobi.deep_copy")
        .call(args)?;
    lua.set_named_registry_value(COPIER, copier.clone())?;
    Ok(copier)
}

/// A deep copy of a value, so a failed callback can be rolled back. Shared subtables are
/// copied once (the copy has the same sharing); cycles are preserved; metatables are shared.
pub fn deep_copy(lua: &Lua, value: &LuaValue) -> mlua::Result<LuaValue> {
    if !matches!(value, LuaValue::Table(_)) {
        return Ok(value.clone());
    }
    install_copier(lua)?.call(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn to_json(v: &LuaValue) -> Value {
        to_json_within(v, &mut Bound::new(1 << 20)).unwrap()
    }

    fn to_object(v: &LuaValue) -> Map<String, Value> {
        to_object_within(v, &mut Bound::new(1 << 20)).unwrap()
    }

    #[test]
    fn cycles_and_fan_outs_are_errors_not_the_nodes_memory() {
        let lua = Lua::new();
        let cycle: LuaValue = lua
            .load("local a = {} a.l = a a.r = a return a")
            .eval()
            .unwrap();
        assert_eq!(
            to_json_within(&cycle, &mut Bound::new(1 << 30)),
            Err(ConvertError::Cycle { depth: 1 })
        );
        let deep_cycle: LuaValue = lua
            .load("local a = {b = {c = {}}} a.b.c.d = a.b return a")
            .eval()
            .unwrap();
        assert!(matches!(
            to_json_within(&deep_cycle, &mut Bound::new(1 << 30)),
            Err(ConvertError::Cycle { .. })
        ));
        // No cycle, but 2^60 nodes once expanded: the allowance stops it at once.
        let fan: LuaValue = lua
            .load("local t = {1} for i = 1, 60 do t = {l = t, r = t} end return t")
            .eval()
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            to_json_within(&fan, &mut Bound::new(1 << 20)),
            Err(ConvertError::TooLarge { limit: 1 << 20 })
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A table shared (not cyclic) converts fine, and big strings count.
        let shared: LuaValue = lua
            .load("local s = {n = 1} return {a = s, b = s}")
            .eval()
            .unwrap();
        assert_eq!(to_json(&shared), json!({"a": {"n": 1}, "b": {"n": 1}}));
        let big: LuaValue = lua.load("return string.rep('x', 4096)").eval().unwrap();
        assert!(to_json_within(&big, &mut Bound::new(4000)).is_err());
        // The VM's own allowance: its cap less what it uses.
        lua.set_app_data(MemoryCap(lua.used_memory() + 1000));
        assert!(super::to_json(&lua, &big).is_err());
        lua.set_app_data(MemoryCap(lua.used_memory() + 100_000));
        assert!(super::to_json(&lua, &big).is_ok());
    }

    #[test]
    fn json_round_trips_with_the_contracts_rules() {
        let lua = Lua::new();
        let input = json!({"a": 1, "b": 2.5, "c": [1, 2, {"d": null}], "e": true});
        let v = to_lua(&lua, &input, Nulls::AsString).unwrap();
        let back = to_json(&v);
        assert_eq!(
            back,
            json!({"a": 1, "b": 2.5, "c": [1, 2, {"d": "null"}], "e": true})
        );
        let v = to_lua(&lua, &input, Nulls::AsNil).unwrap();
        assert_eq!(
            to_json(&v),
            json!({"a": 1, "b": 2.5, "c": [1, 2, []], "e": true}),
            "a nested empty table is []"
        );
    }

    #[test]
    fn tables_become_objects_or_arrays() {
        let lua = Lua::new();
        let v: LuaValue = lua
            .load("return {x = 600, y = 600.0, list = {3, 1, [5] = 9}, empty = {}}")
            .eval()
            .unwrap();
        assert_eq!(
            to_json(&v),
            json!({"x": 600, "y": 600.0, "list": [3, 1, 9], "empty": []})
        );
        let empty: LuaValue = lua.load("return {}").eval().unwrap();
        assert_eq!(to_json(&empty), json!({}));
        let arr: LuaValue = lua.load("return {1, 2}").eval().unwrap();
        assert!(
            to_object(&arr).is_empty(),
            "an array at the top becomes {{}}"
        );
        let deep: LuaValue = lua
            .load("local t = {} local c = t for i = 1, 80 do c.n = {} c = c.n end return t")
            .eval()
            .unwrap();
        assert!(to_json(&deep).to_string().contains("too_deep"));
        let f: LuaValue = lua
            .load("return {f = function() end, s = '\\255ok'}")
            .eval()
            .unwrap();
        assert_eq!(to_json(&f), json!({"f": null, "s": "\u{fffd}ok"}));
    }

    #[test]
    fn deep_copies_are_independent() {
        let lua = Lua::new();
        let v: LuaValue = lua
            .load("local s = {n = 1} return {a = s, b = s}")
            .eval()
            .unwrap();
        let c = deep_copy(&lua, &v).unwrap();
        let (LuaValue::Table(orig), LuaValue::Table(copy)) = (&v, &c) else {
            panic!("tables")
        };
        orig.get::<Table>("a").unwrap().set("n", 2).unwrap();
        assert_eq!(copy.get::<Table>("a").unwrap().get::<i64>("n").unwrap(), 1);
        assert_eq!(
            copy.get::<Table>("a").unwrap(),
            copy.get::<Table>("b").unwrap(),
            "sharing kept"
        );

        // Cycles, table keys and hidden metatables survive; a script's own `next` does not
        // change how it is copied.
        install_copier(&lua).unwrap();
        let v: LuaValue = lua
            .load(
                "local mt = {__metatable = 'locked', __index = {hp = 9}}
                 local t = setmetatable({}, mt)
                 t.self = t
                 t[{k = 1}] = 'table key'
                 next = function() error('not this one') end
                 return t",
            )
            .eval()
            .unwrap();
        let LuaValue::Table(copy) = deep_copy(&lua, &v).unwrap() else {
            panic!("a table")
        };
        assert_ne!(LuaValue::Table(copy.clone()), v);
        assert_eq!(copy.get::<Table>("self").unwrap(), copy, "cycle kept");
        assert_eq!(copy.get::<i64>("hp").unwrap(), 9, "metatable shared");
        assert_eq!(copy.raw_len(), 0);
        assert_eq!(
            deep_copy(&lua, &LuaValue::Integer(3)).unwrap(),
            LuaValue::Integer(3)
        );
    }
}
