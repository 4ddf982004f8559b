//! The overworld: an 8 × 8 grid of 256-unit zones over seeded noise terrain (one 64 × 64
//! chunk per zone, 4 units per tile), where NPCs wander across zone edges and players walk.
//!
//! Input: `{"dx": -1..1, "dy": -1..1}` sets the walking direction. Entities on the wire:
//! players `{type: "player", x, y}`, NPCs `{type: "npc", x, y, name}`.

use std::sync::Arc;

use asobi_server::worlds::mode::prelude::*;
use serde_json::{Value, json};

/// Units per zone side (64 tiles × 4 units).
pub const ZONE_SIZE: u32 = 256;
/// Zones per axis.
pub const GRID: u32 = 8;
/// NPCs placed in each zone when it first loads.
pub const NPCS_PER_ZONE: usize = 3;
const PLAYER_SPEED: f64 = 12.0;
const NPC_SPEED: f64 = 6.0;

/// The overworld mode; the terrain is seeded by `seed`.
pub fn mode(seed: u64) -> WorldMode {
    let mut d = WorldDescriptor::new("overworld");
    d.grid_size = GRID;
    d.zone_size = ZONE_SIZE;
    d.tick_rate_ms = 50;
    d.broadcast_interval = 2;
    d.view_radius = 1;
    // All 64 zones load at start, so every ring around a player is populated with terrain
    // and NPCs from the first frame.
    d.lazy_zones = false;
    d.max_players = 100;
    d.terrain = Some(Arc::new(NoiseTerrain { seed }));
    let centre = f64::from(GRID * ZONE_SIZE) / 2.0;
    WorldMode::new(d, Overworld).spawn_at(move |_, _| (centre, centre))
}

#[derive(Clone)]
struct Overworld;

/// A small deterministic generator per zone.
#[derive(Resource)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

const NAMES: [&str; 6] = ["Moss", "Pebble", "Fern", "Bramble", "Wren", "Thistle"];

fn populate(
    mut done: Local<bool>,
    info: Res<ZoneInfo>,
    mut rng: ResMut<Rng>,
    mut entities: ResMut<ZoneEntities>,
) {
    if *done {
        return;
    }
    *done = true;
    let (ox, oy) = info.grid.origin(info.coord);
    for i in 0..NPCS_PER_ZONE {
        let id = format!("npc-{}-{}-{i}", info.coord.0, info.coord.1);
        if entities.0.contains_key(&id) {
            continue;
        }
        let (x, y) = (
            ox + rng.next() * f64::from(ZONE_SIZE),
            oy + rng.next() * f64::from(ZONE_SIZE),
        );
        let name = NAMES[(rng.next() * NAMES.len() as f64) as usize % NAMES.len()];
        let fields = json!({"type": "npc", "name": name, "x": x.round(), "y": y.round(), "dx": rng.next() - 0.5, "dy": rng.next() - 0.5});
        if let Value::Object(f) = fields {
            entities.0.insert(id, f);
        }
    }
}

fn walk(mut inputs: MessageReader<WorldInput>, mut entities: ResMut<ZoneEntities>) {
    for i in inputs.read() {
        let axis = |k: &str| {
            i.input
                .get(k)
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite())
                .unwrap_or(0.0)
                .clamp(-1.0, 1.0)
        };
        if let Some(e) = entities.0.get_mut(&i.player_id) {
            e.insert("vx".into(), json!(axis("dx")));
            e.insert("vy".into(), json!(axis("dy")));
        }
    }
}

fn step(mut rng: ResMut<Rng>, mut entities: ResMut<ZoneEntities>) {
    let world = f64::from(GRID * ZONE_SIZE) - 1.0;
    for fields in entities.0.values_mut() {
        let num = |f: &serde_json::Map<String, Value>, k: &str| {
            f.get(k).and_then(Value::as_f64).unwrap_or(0.0)
        };
        let (x, y) = (num(fields, "x"), num(fields, "y"));
        let (nx, ny) = match fields.get("type").and_then(Value::as_str) {
            Some("player") => (
                x + num(fields, "vx") * PLAYER_SPEED,
                y + num(fields, "vy") * PLAYER_SPEED,
            ),
            Some("npc") => {
                if rng.next() < 0.05 {
                    fields.insert("dx".into(), json!(rng.next() - 0.5));
                    fields.insert("dy".into(), json!(rng.next() - 0.5));
                }
                (
                    x + num(fields, "dx") * NPC_SPEED,
                    y + num(fields, "dy") * NPC_SPEED,
                )
            }
            _ => continue,
        };
        fields.insert("x".into(), json!(nx.clamp(0.0, world).round()));
        fields.insert("y".into(), json!(ny.clamp(0.0, world).round()));
    }
}

impl Plugin for Overworld {
    fn build(&self, app: &mut App) {
        let seed = app.world().get_resource::<ZoneInfo>().map_or(1, |i| {
            ((i.coord.0 as u64) << 32 | i.coord.1 as u32 as u64) | 1
        });
        app.insert_resource(Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
            .add_systems(Update, (populate, walk, step).chain());
    }
}
