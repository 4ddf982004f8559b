//! A game crate with one simulation shared by its server mode and its client.
//!
//! - [`movement`] is the simulation: a `Position` component and the system that moves an
//!   entity by one step per input. It depends on `asobi-core` only.
//! - [`server`] is the world mode `glide`: each zone runs the movement plugin on its own
//!   `World` with the inputs it received, then publishes positions and, with them, the
//!   last input sequence each position includes (`seq`), so a client can reconcile exactly.
//! - [`client`] predicts the player's own entity with the same plugin and reconciles it
//!   against the entity the server publishes.
//!
//! A studio building its own client library puts its `movement` module in a crate that both
//! its server and an FFI crate depend on: the `ffi` crate of this workspace is an `rlib`
//! too, so the game's cdylib re-exports the Asobi C ABI and adds its own prediction calls.

pub mod movement {
    //! The shared movement step.

    use asobi_core::sim::{NetId, StepInputs};
    use bevy_ecs::prelude::*;
    use serde_json::{Map, Value, json};

    /// Units moved per input at full stick.
    pub const SPEED: f64 = 2.5;

    /// Where an entity is.
    #[derive(Component, Debug, Clone, Copy, PartialEq)]
    pub struct Position {
        /// X.
        pub x: f64,
        /// Y.
        pub y: f64,
    }

    /// An input: a direction, each axis clamped to -1..1.
    pub fn input(dx: f64, dy: f64) -> Map<String, Value> {
        match json!({"dx": dx, "dy": dy}) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn axis(input: &Map<String, Value>, key: &str) -> f64 {
        input
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .clamp(-1.0, 1.0)
    }

    /// Moves each input's owner one step. Runs on the server and in the client.
    pub fn step(inputs: Res<StepInputs>, mut movers: Query<(&NetId, &mut Position)>) {
        for i in &inputs.0 {
            for (id, mut p) in &mut movers {
                if id.0 == i.owner {
                    p.x += axis(&i.input, "dx") * SPEED;
                    p.y += axis(&i.input, "dy") * SPEED;
                }
            }
        }
    }

    /// The plugin both sides install.
    pub fn plugin(schedule: &mut Schedule) {
        schedule.add_systems(step);
    }
}

pub mod server {
    //! The `glide` world mode: the movement plugin, authoritative.

    use asobi_core::sim::{NetId, PendingInputs, SimInput, SimSchedule};
    use asobi_server::worlds::mode::prelude::*;
    use serde_json::{Value, json};

    use crate::movement::{self, Position};

    /// The world mode.
    pub fn mode() -> WorldMode {
        let mut d = WorldDescriptor::new("glide");
        d.grid_size = 4;
        d.zone_size = 200;
        d.tick_rate_ms = 20;
        d.broadcast_interval = 1;
        d.max_players = 50;
        WorldMode::new(d, Glide).spawn_at(|_, _| (100.0, 100.0))
    }

    #[derive(Clone)]
    struct Glide;

    impl Plugin for Glide {
        fn build(&self, app: &mut App) {
            SimSchedule::prepare(app.world_mut());
            app.insert_resource(SimSchedule::new(&[movement::plugin]))
                .init_resource::<PendingInputs>()
                .add_systems(Update, (load, SimSchedule::system, publish).chain());
        }
    }

    fn coord(fields: &serde_json::Map<String, Value>, key: &str) -> f64 {
        fields.get(key).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// Brings each player with input this tick into the ECS world and queues its inputs.
    fn load(
        mut commands: Commands,
        mut inputs: MessageReader<WorldInput>,
        entities: Res<ZoneEntities>,
        mut pending: ResMut<PendingInputs>,
    ) {
        let mut loaded = Vec::new();
        for i in inputs.read() {
            let Some(fields) = entities.0.get(&i.player_id) else {
                continue;
            };
            if !loaded.contains(&i.player_id) {
                loaded.push(i.player_id.clone());
                commands.spawn((
                    NetId(i.player_id.clone()),
                    Position {
                        x: coord(fields, "x"),
                        y: coord(fields, "y"),
                    },
                ));
            }
            pending.0.push(SimInput {
                owner: i.player_id.clone(),
                seq: i.seq.unwrap_or(0),
                input: i.input.clone(),
            });
        }
    }

    /// Writes the simulated positions back, with the last input sequence they include.
    fn publish(
        mut commands: Commands,
        movers: Query<(Entity, &NetId, &Position)>,
        mut inputs: MessageReader<WorldInput>,
        mut entities: ResMut<ZoneEntities>,
    ) {
        let mut last_seq = std::collections::HashMap::new();
        for i in inputs.read() {
            if let Some(seq) = i.seq {
                last_seq.insert(i.player_id.clone(), seq);
            }
        }
        for (entity, id, p) in &movers {
            if let Some(fields) = entities.0.get_mut(&id.0) {
                fields.insert("x".into(), json!(p.x));
                fields.insert("y".into(), json!(p.y));
                if let Some(seq) = last_seq.get(&id.0) {
                    fields.insert("seq".into(), json!(seq));
                }
            }
            commands.entity(entity).despawn();
        }
    }
}

pub mod client {
    //! Prediction of the player's own entity with the shared movement plugin.

    use asobi_core::sim::{NetId, Prediction, Simulation};
    use serde_json::{Map, Value};

    use crate::movement::{self, Position};

    /// The player's predicted entity.
    pub struct Predictor {
        prediction: Prediction,
    }

    impl Predictor {
        /// Starts predicting `player_id` from where the server put it.
        pub fn new(player_id: &str, x: f64, y: f64) -> Self {
            let mut sim = Simulation::new(&[movement::plugin]);
            sim.world_mut()
                .spawn((NetId(player_id.to_owned()), Position { x, y }));
            Predictor {
                prediction: Prediction::new(sim, player_id),
            }
        }

        /// Applies an input locally; returns the `seq` to send with it.
        pub fn input(&mut self, input: Map<String, Value>) -> u64 {
            self.prediction.input(input)
        }

        /// Reconciles with the entity the server published (`x`, `y`, `seq`).
        pub fn reconcile(&mut self, server: &Map<String, Value>) {
            let get = |k: &str| server.get(k).and_then(Value::as_f64);
            let (Some(x), Some(y)) = (get("x"), get("y")) else {
                return;
            };
            let acked = server.get("seq").and_then(Value::as_u64).unwrap_or(0);
            self.prediction.reconcile(acked, |world| {
                let mut q = world.query::<&mut Position>();
                for mut p in q.iter_mut(world) {
                    *p = Position { x, y };
                }
            });
        }

        /// The predicted position.
        pub fn position(&mut self) -> (f64, f64) {
            let world = self.prediction.sim_mut().world_mut();
            let mut q = world.query::<&Position>();
            q.iter(world).next().map_or((0.0, 0.0), |p| (p.x, p.y))
        }

        /// Inputs not yet acknowledged.
        pub fn pending(&self) -> usize {
            self.prediction.pending()
        }
    }
}
