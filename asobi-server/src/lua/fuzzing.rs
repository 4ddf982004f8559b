//! The fuzz target of the Lua ↔ JSON conversion ([`super::convert`]), structure-aware: the
//! bytes are a small program that builds Lua values (tables, shared subtables, cycles,
//! huge and non-finite numbers, invalid UTF-8), which are then converted to JSON under a
//! bound and, when that succeeds, back to Lua and to JSON again, which must give the same
//! document. It runs bounded in `cargo test` and coverage-guided under `fuzz/`
//! (`asobi_core::fuzzing` describes both).

use mlua::{Lua, Table, Value};

use super::convert::{Bound, Nulls, to_json_within, to_lua, to_object_within};

/// Tables one program may build.
const MAX_TABLES: usize = 64;
/// Operations one program may run.
const MAX_OPS: usize = 4096;

/// Builds values from `data`, converts them, and checks the round trip.
pub fn lua_convert(data: &[u8]) {
    let lua = Lua::new();
    if lua.set_memory_limit(32 << 20).is_err() {
        return;
    }
    let Ok(values) = build(&lua, data) else {
        return;
    };
    for v in &values {
        let mut bound = Bound::new(1 << 20)
            .until(std::time::Instant::now() + std::time::Duration::from_secs(2));
        let Ok(json) = to_json_within(v, &mut bound) else {
            continue;
        };
        let _ = to_object_within(v, &mut Bound::new(1 << 20));
        // Back with nulls as "null" (as client input goes), so no entry vanishes.
        let Ok(back) = to_lua(&lua, &json, Nulls::AsString) else {
            continue;
        };
        let again = to_json_within(&back, &mut Bound::new(1 << 22));
        assert_eq!(
            again.as_ref().ok(),
            Some(&nulls_as_strings(json)),
            "Lua → JSON → Lua → JSON is stable"
        );
    }
    // Client input goes JSON → Lua with nulls as "null"; any JSON the bytes spell must convert.
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = to_lua(&lua, &json, Nulls::AsString);
    }
}

fn nulls_as_strings(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Null => J::String("null".into()),
        J::Array(items) => J::Array(items.into_iter().map(nulls_as_strings).collect()),
        J::Object(m) => J::Object(
            m.into_iter()
                .map(|(k, v)| (k, nulls_as_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Runs the program: a stack of values and the tables made so far.
fn build(lua: &Lua, data: &[u8]) -> mlua::Result<Vec<Value>> {
    let mut tables: Vec<Table> = Vec::new();
    let mut stack: Vec<Value> = Vec::new();
    let mut bytes = data.iter().copied();
    let take = |n: usize, bytes: &mut dyn Iterator<Item = u8>| -> [u8; 8] {
        let mut out = [0u8; 8];
        for b in out.iter_mut().take(n) {
            *b = bytes.next().unwrap_or(0);
        }
        out
    };
    for _ in 0..MAX_OPS {
        let Some(op) = bytes.next() else { break };
        match op % 8 {
            0 if tables.len() < MAX_TABLES => {
                let t = lua.create_table()?;
                tables.push(t.clone());
                stack.push(Value::Table(t));
            }
            1 => stack.push(Value::Integer(i64::from_le_bytes(take(8, &mut bytes)))),
            2 => stack.push(Value::Number(f64::from_le_bytes(take(8, &mut bytes)))),
            3 => {
                let len = usize::from(bytes.next().unwrap_or(0) % 32);
                let s: Vec<u8> = bytes.by_ref().take(len).collect();
                stack.push(Value::String(lua.create_string(s)?));
            }
            4 => {
                // t[key] = value, t chosen by the next byte; nil and NaN keys are skipped.
                let (Some(value), Some(key)) = (stack.pop(), stack.pop()) else {
                    continue;
                };
                let Some(t) = pick(&tables, bytes.next()) else {
                    continue;
                };
                let bad_key =
                    matches!(key, Value::Nil) || matches!(key, Value::Number(f) if f.is_nan());
                if !bad_key {
                    t.raw_set(key, value)?;
                }
            }
            5 => {
                if let Some(t) = pick(&tables, bytes.next()) {
                    stack.push(Value::Table(t.clone()));
                }
            }
            6 => stack.push(match bytes.next().unwrap_or(0) % 3 {
                0 => Value::Nil,
                1 => Value::Boolean(true),
                _ => Value::Boolean(false),
            }),
            7 => {
                // Append to a table's sequence part.
                if let (Some(value), Some(t)) = (stack.pop(), pick(&tables, bytes.next())) {
                    t.raw_push(value)?;
                }
            }
            _ => {}
        }
    }
    let mut out: Vec<Value> = tables.into_iter().map(Value::Table).collect();
    out.extend(stack.into_iter().rev().take(4));
    Ok(out)
}

fn pick(tables: &[Table], at: Option<u8>) -> Option<&Table> {
    match tables.len() {
        0 => None,
        n => tables.get(usize::from(at.unwrap_or(0)) % n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bounded run: hand-written programs (a cycle, a fan-out, huge numbers, invalid
    /// UTF-8, sparse arrays, mixed keys), every input a fuzzer once crashed on
    /// (`fuzz/regressions/lua_convert/`), and mutations of them.
    #[test]
    fn the_conversion_survives_its_bounded_fuzz_run() {
        let mut corpus: Vec<Vec<u8>> = vec![
            // t = {}; t[1] = t (cycle)
            vec![0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 4, 0],
            // two tables, b shared twice under a
            vec![0, 0, 3, 1, b'l', 5, 1, 4, 0, 3, 1, b'r', 5, 1, 4, 0],
            // huge and non-finite numbers, invalid UTF-8
            vec![
                0, 3, 1, 0xff, 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0xf8,
                0x7f, 7, 0,
            ],
            // sparse integer keys and a float key
            vec![
                0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 6, 1, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0xf0, 0x43, 6, 1, 4,
                0,
            ],
            br#"{"a": [1, null, {"b": 1e308}], "c": "\u00ff"}"#.to_vec(),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions/lua_convert");
        corpus.extend(asobi_core::fuzzing::files(&dir));
        asobi_core::fuzzing::drive(lua_convert, corpus, 3_000);
    }
}
