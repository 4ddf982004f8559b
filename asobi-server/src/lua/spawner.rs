//! Spawn templates and respawns of a Lua zone (`worlds.md` §7): what `spawn_templates`
//! declares, what `game.zone.spawn` creates, and the respawn queue `game.zone.despawn` feeds.
//!
//! The queue and counters are plain data ([`SpawnerState`]) so a persistent zone stores them
//! with its snapshot and resumes its respawns after a restart (Asobi stores them too).

use std::collections::HashMap;

use asobi_core::world::delta::Fields;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Most templates a zone keeps (the rest are ignored).
const MAX_TEMPLATES: usize = 1024;

/// One template from `spawn_templates(config)`.
#[derive(Debug, Clone)]
pub struct Template {
    kind: String,
    base: Fields,
    persistent: bool,
    respawn: Option<Respawn>,
}

#[derive(Debug, Clone, Copy)]
struct Respawn {
    delay_ms: i64,
    jitter_ms: i64,
    max_respawns: Option<u64>,
}

/// Where an entity was first spawned, for its respawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Origin {
    template: String,
    x: f64,
    y: f64,
}

/// A scheduled respawn.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Due {
    at_ms: i64,
    id: String,
    origin: Origin,
}

/// The persisted part of a spawner.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SpawnerState {
    /// Template-spawned entities by id.
    origins: HashMap<String, Origin>,
    /// Spawns (initial and respawns) per template.
    counts: HashMap<String, u64>,
    /// Pending respawns.
    due: Vec<Due>,
}

/// A zone's templates and respawn state.
#[derive(Debug, Clone, Default)]
pub struct Spawner {
    templates: HashMap<String, Template>,
    state: SpawnerState,
}

impl Spawner {
    /// Replaces the templates with `spawn_templates`' result (a JSON object keyed by template
    /// id); malformed entries are skipped.
    pub fn set_templates(&mut self, spec: &Value) {
        let Some(map) = spec.as_object() else {
            self.templates.clear();
            return;
        };
        self.templates = map
            .iter()
            .take(MAX_TEMPLATES)
            .filter_map(|(id, t)| Some((id.clone(), parse_template(t)?)))
            .collect();
    }

    /// Whether `template` is known.
    pub fn knows(&self, template: &str) -> bool {
        self.templates.contains_key(template)
    }

    /// A new entity from `template` at (x, y), `overrides` merged over its base state:
    /// `(id, fields)`, or `None` for an unknown template.
    pub fn spawn(
        &mut self,
        template: &str,
        x: f64,
        y: f64,
        overrides: Option<Fields>,
    ) -> Option<(String, Fields)> {
        let t = self.templates.get(template)?;
        let id = uuid::Uuid::now_v7().to_string();
        let fields = entity(t, x, y, overrides);
        let origin = Origin {
            template: template.to_owned(),
            x,
            y,
        };
        self.state.origins.insert(id.clone(), origin);
        *self.state.counts.entry(template.to_owned()).or_default() += 1;
        Some((id, fields))
    }

    /// `game.zone.despawn(id)` removed an entity at `now_ms`: schedules its respawn if its
    /// template has one and has not reached `max_respawns` in this zone.
    pub fn despawned(&mut self, id: &str, now_ms: i64) {
        let Some(origin) = self.state.origins.remove(id) else {
            return;
        };
        let Some(r) = self.templates.get(&origin.template).and_then(|t| t.respawn) else {
            return;
        };
        let spawned = self
            .state
            .counts
            .get(&origin.template)
            .copied()
            .unwrap_or(0);
        if r.max_respawns.is_some_and(|max| spawned >= max) {
            return;
        }
        let jitter = if r.jitter_ms > 0 {
            1 + (random() % r.jitter_ms as u64) as i64
        } else {
            0
        };
        self.state.due.push(Due {
            at_ms: now_ms.saturating_add(r.delay_ms).saturating_add(jitter),
            id: id.to_owned(),
            origin,
        });
    }

    /// Respawns due at `now_ms`: same id, original position, base state without overrides.
    /// A respawn whose template is gone is dropped.
    pub fn due(&mut self, now_ms: i64) -> Vec<(String, Fields)> {
        if !self.state.due.iter().any(|d| d.at_ms <= now_ms) {
            return Vec::new();
        }
        let (ready, waiting): (Vec<Due>, Vec<Due>) = std::mem::take(&mut self.state.due)
            .into_iter()
            .partition(|d| d.at_ms <= now_ms);
        self.state.due = waiting;
        let mut out = Vec::new();
        for d in ready {
            let Some(t) = self.templates.get(&d.origin.template) else {
                continue;
            };
            out.push((d.id.clone(), entity(t, d.origin.x, d.origin.y, None)));
            *self
                .state
                .counts
                .entry(d.origin.template.clone())
                .or_default() += 1;
            self.state.origins.insert(d.id, d.origin);
        }
        out
    }

    /// Forgets the origins of entities the zone no longer has (a script dropped them from its
    /// table instead of calling `despawn`): they never respawn, and must not pile up.
    pub fn retain_live(&mut self, live: impl Fn(&str) -> bool) {
        self.state.origins.retain(|id, _| live(id));
    }

    /// The persisted state, as JSON.
    pub fn state(&self) -> Value {
        serde_json::to_value(&self.state).unwrap_or(Value::Null)
    }

    /// Restores persisted state (ignored if malformed).
    pub fn restore(&mut self, state: &Value) {
        if let Ok(s) = serde_json::from_value(state.clone()) {
            self.state = s;
        }
    }
}

fn parse_template(t: &Value) -> Option<Template> {
    let t = t.as_object()?;
    let ms = |v: Option<&Value>| v.and_then(Value::as_f64).map_or(0, |f| f.max(0.0) as i64);
    let respawn = t
        .get("respawn")
        .and_then(Value::as_object)
        .map(|r| Respawn {
            delay_ms: ms(r.get("delay")),
            jitter_ms: ms(r.get("jitter")),
            max_respawns: r
                .get("max_respawns")
                .and_then(Value::as_f64)
                .map(|n| n.max(0.0) as u64),
        });
    Some(Template {
        kind: t
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("npc")
            .to_owned(),
        base: t
            .get("base_state")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        persistent: t.get("persistent").and_then(Value::as_bool).unwrap_or(true),
        respawn,
    })
}

/// Base state, then overrides, then position and type; `persistent = false` marks entities
/// a snapshot leaves out.
fn entity(t: &Template, x: f64, y: f64, overrides: Option<Fields>) -> Fields {
    let mut fields = t.base.clone();
    fields.extend(overrides.unwrap_or_default());
    fields.insert("x".into(), json!(x));
    fields.insert("y".into(), json!(y));
    fields.insert("type".into(), json!(t.kind));
    if !t.persistent {
        fields.insert("persistent".into(), json!(false));
    }
    fields
}

fn random() -> u64 {
    let mut b = [0u8; 8];
    // Jitter only spreads respawns; a failed read falls back to the clock.
    if getrandom::fill(&mut b).is_err() {
        return crate::time::now_ms() as u64;
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawner() -> Spawner {
        let mut s = Spawner::default();
        s.set_templates(&json!({
            "wolf": {"type": "npc", "base_state": {"hp": 10}, "respawn": {"delay": 100, "max_respawns": 2}},
            "rock": {"type": "prop", "persistent": false},
            "deer": {"respawn": {"delay": 0}},
            "broken": 7,
        }));
        s
    }

    #[test]
    fn spawns_merge_overrides_and_respawn_at_the_origin_up_to_the_limit() {
        let mut s = spawner();
        assert!(s.knows("wolf") && s.knows("rock") && !s.knows("broken"));
        assert!(s.spawn("ghost", 0.0, 0.0, None).is_none());
        let over = json!({"hp": 3, "name": "alpha"}).as_object().cloned();
        let (id, f) = s.spawn("wolf", 5.0, 6.0, over).unwrap();
        assert_eq!(
            (f["hp"].clone(), f["name"].clone(), f["type"].clone()),
            (json!(3), json!("alpha"), json!("npc"))
        );
        assert_eq!((f["x"].as_f64(), f["y"].as_f64()), (Some(5.0), Some(6.0)));
        let (_, rock) = s.spawn("rock", 1.0, 1.0, None).unwrap();
        assert_eq!(rock["persistent"], json!(false));

        s.despawned(&id, 1_000);
        assert!(s.due(1_099).is_empty(), "not before the delay");
        let back = s.due(1_100);
        assert_eq!(back.len(), 1);
        let (same, f) = &back[0];
        assert_eq!(same, &id, "a respawn keeps the entity id");
        assert_eq!(
            (f["hp"].clone(), f.get("name"), f["x"].as_f64()),
            (json!(10), None, Some(5.0))
        );
        // Two spawns of "wolf" so far = max_respawns: no further respawn.
        s.despawned(&id, 2_000);
        assert!(s.due(10_000).is_empty());
    }

    #[test]
    fn entities_dropped_without_despawn_are_forgotten() {
        let mut s = spawner();
        let (kept, _) = s.spawn("deer", 0.0, 0.0, None).unwrap();
        let (dropped, _) = s.spawn("deer", 1.0, 1.0, None).unwrap();
        s.retain_live(|id| id == kept);
        s.despawned(&dropped, 0);
        assert!(
            s.due(i64::MAX).is_empty(),
            "a forgotten entity never respawns"
        );
        s.despawned(&kept, 0);
        assert_eq!(s.due(i64::MAX).len(), 1);
    }

    #[test]
    fn the_queue_survives_a_save_and_restore() {
        let mut s = spawner();
        let (id, _) = s.spawn("wolf", 1.0, 2.0, None).unwrap();
        s.despawned(&id, 0);
        let saved = s.state();
        let mut t = spawner();
        t.restore(&saved);
        assert_eq!(t.due(100).first().map(|d| d.0.clone()), Some(id));
        t.restore(&json!("garbage"));
    }
}
