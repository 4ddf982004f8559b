//! World modes written for the tests, against the public world-mode API.

use std::sync::Arc;

use asobi_server::worlds::mode::prelude::*;
use serde_json::{Value, json};

/// Inputs `{"x", "y"}` move the sender's entity; `{"panic": true}` crashes the zone.
#[derive(Clone)]
pub struct Walk;

fn walk(mut inputs: MessageReader<WorldInput>, mut entities: ResMut<ZoneEntities>) {
    for i in inputs.read() {
        if i.input.get("panic") == Some(&Value::Bool(true)) {
            panic!("zone panic requested by a test");
        }
        if let Some(Value::String(id)) = i.input.get("plant") {
            let (x, y) = (
                i.input.get("x").cloned().unwrap_or(json!(0)),
                i.input.get("y").cloned().unwrap_or(json!(0)),
            );
            entities.0.insert(
                id.clone(),
                json!({"type": "tree", "x": x, "y": y})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            continue;
        }
        let (Some(x), Some(y)) = (
            i.input.get("x").and_then(Value::as_f64),
            i.input.get("y").and_then(Value::as_f64),
        ) else {
            continue;
        };
        if let Some(e) = entities.0.get_mut(&i.player_id) {
            e.insert("x".into(), json!(x));
            e.insert("y".into(), json!(y));
        }
    }
}

impl Plugin for Walk {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, walk);
    }
}

fn descriptor(name: &str) -> WorldDescriptor {
    let mut d = WorldDescriptor::new(name);
    d.grid_size = 4;
    d.zone_size = 100;
    d.tick_rate_ms = 20;
    d.broadcast_interval = 1;
    d.lazy_zones = true;
    d.zone_idle_timeout_ms = 300;
    d.max_players = 25;
    d.terrain = Some(Arc::new(NoiseTerrain { seed: 42 }));
    d
}

pub fn walkers() -> WorldMode {
    WorldMode::new(descriptor("walkers"), Walk).spawn_at(|_, _| (50.0, 50.0))
}

pub fn graceful() -> WorldMode {
    let mut d = descriptor("graceful");
    d.player_ttl_ms = 1500;
    WorldMode::new(d, Walk).spawn_at(|_, _| (50.0, 50.0))
}

pub fn garden() -> WorldMode {
    let mut d = descriptor("garden");
    d.persistent = true;
    d.snapshot_interval = 50;
    WorldMode::new(d, Walk).spawn_at(|_, _| (50.0, 50.0))
}

/// Matched in pairs by the matchmaker.
pub fn pairs() -> WorldMode {
    let mut d = descriptor("pairs");
    d.match_size = 2;
    WorldMode::new(d, Walk).spawn_at(|_, _| (50.0, 50.0))
}

pub fn all() -> Vec<WorldMode> {
    vec![walkers(), graceful(), garden(), pairs()]
}
