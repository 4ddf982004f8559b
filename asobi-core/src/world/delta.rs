//! The `world.tick` delta model (`websocket.md` §12): per-zone entity maps, diffed against the
//! last broadcast baseline into `op` records — `a` (added: every field), `u` (changed or new
//! fields only; removed fields are not signalled), `r` (removed) — plus keyframes (every
//! baseline entity as `a`) and removal frames (every baseline entity as `r`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One entity's fields.
pub type Fields = Map<String, Value>;
/// A zone's entities by id, in id order (so records come out deterministically).
pub type Entities = BTreeMap<String, Fields>;

fn record(op: &str, id: &str, fields: Option<&Fields>) -> Fields {
    let mut r = Map::with_capacity(fields.map_or(0, Map::len) + 2);
    if let Some(f) = fields {
        for (k, v) in f {
            r.insert(k.clone(), v.clone());
        }
    }
    // The record's own keys win over entity fields of the same name.
    r.insert("op".into(), Value::from(op));
    r.insert("id".into(), Value::from(id));
    r
}

/// The records that turn `baseline` into `current`. Empty when nothing changed.
pub fn diff(baseline: &Entities, current: &Entities) -> Vec<Fields> {
    let mut out = Vec::new();
    for (id, now) in current {
        match baseline.get(id) {
            None => out.push(record("a", id, Some(now))),
            Some(before) => {
                let changed: Fields = now
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !changed.is_empty() {
                    out.push(record("u", id, Some(&changed)));
                }
            }
        }
    }
    for id in baseline.keys() {
        if !current.contains_key(id) {
            out.push(record("r", id, None));
        }
    }
    out
}

/// Makes `baseline` equal to `current`, copying only the entities that differ (a broadcast
/// baseline catching up after a frame, without cloning the whole zone every tick).
pub fn catch_up(baseline: &mut Entities, current: &Entities) {
    baseline.retain(|id, _| current.contains_key(id));
    for (id, now) in current {
        match baseline.get_mut(id) {
            Some(before) if before == now => {}
            Some(before) => before.clone_from(now),
            None => {
                baseline.insert(id.clone(), now.clone());
            }
        }
    }
}

/// A keyframe's records: every baseline entity, complete, as `a`.
pub fn keyframe(baseline: &Entities) -> Vec<Fields> {
    baseline
        .iter()
        .map(|(id, f)| record("a", id, Some(f)))
        .collect()
}

/// A removal frame's records: every baseline entity as `r`.
pub fn removal(baseline: &Entities) -> Vec<Fields> {
    baseline.keys().map(|id| record("r", id, None)).collect()
}

/// Applies records to a client-side entity table (what SDKs do), for tests and the Rust
/// client.
pub fn apply(table: &mut Entities, updates: &[Fields]) {
    for u in updates {
        let (Some(Value::String(op)), Some(Value::String(id))) = (u.get("op"), u.get("id")) else {
            continue;
        };
        let fields = u
            .iter()
            .filter(|(k, _)| *k != "op" && *k != "id")
            .map(|(k, v)| (k.clone(), v.clone()));
        match op.as_str() {
            "a" => {
                table.insert(id.clone(), fields.collect());
            }
            "u" => table.entry(id.clone()).or_default().extend(fields),
            "r" => {
                table.remove(id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ents(v: Value) -> Entities {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn diffs_carry_only_what_changed() {
        let before = ents(json!({"p1": {"x": 1, "y": 2, "type": "player"}, "chest": {"x": 5}}));
        let after = ents(
            json!({"p1": {"x": 3, "y": 2, "type": "player", "hp": 9}, "npc": {"x": 0, "op": "mine"}}),
        );
        let d = diff(&before, &after);
        assert_eq!(
            Value::Array(d.iter().cloned().map(Value::Object).collect()),
            json!([
                {"op": "a", "id": "npc", "x": 0},
                {"op": "u", "id": "p1", "x": 3, "hp": 9},
                {"op": "r", "id": "chest"},
            ])
        );
        assert!(diff(&after, &after).is_empty());
        let mut caught_up = before.clone();
        catch_up(&mut caught_up, &after);
        assert_eq!(caught_up, after);
        let mut client = before.clone();
        apply(&mut client, &d);
        assert_eq!(
            client,
            after
                .into_iter()
                .map(|(k, mut v)| {
                    v.remove("op");
                    (k, v)
                })
                .collect::<Entities>()
        );
    }

    #[test]
    fn keyframes_and_removals_cover_the_baseline() {
        let base = ents(json!({"a": {"x": 1}, "b": {"x": 2}}));
        assert_eq!(keyframe(&base).len(), 2);
        assert!(
            keyframe(&base)
                .iter()
                .all(|r| r["op"] == "a" && r["x"].is_number())
        );
        assert_eq!(
            removal(&base),
            vec![record("r", "a", None), record("r", "b", None)]
        );
    }
}
