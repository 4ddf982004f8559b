//! The shared simulation: game systems written once and run unchanged by the server
//! (authoritative, inside a match or zone) and by the client (prediction).
//!
//! A game describes one step of its simulation as a [`SimPlugin`]: a function adding bevy
//! systems to a [`Schedule`]. The systems read the step's inputs from [`StepInputs`] (each
//! tagged with the owner's [`NetId`]) and change components. One step per input keeps the
//! result independent of wall-clock time and tick jitter, so both sides compute the same
//! numbers from the same inputs:
//!
//! - the server runs a [`Simulation`]'s schedule on the zone's own `World`
//!   ([`SimSchedule::run_on`]), feeding it the inputs it received;
//! - the client runs a [`Simulation`] of its own entity, applies each local input at once
//!   ([`Prediction::input`]), and on each authoritative state rewinds to it and replays the
//!   inputs the server has not acknowledged yet ([`Prediction::reconcile`]).
//!
//! Rules for shared systems: no wall clock (use the step count), no unordered iteration that
//! affects state (sort by `NetId`), randomness only from a seeded resource. The schedule runs
//! single-threaded, in the order the plugin adds systems (`.chain()`).

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use serde_json::{Map, Value};

/// The stable network identity of a simulated entity (the id on the wire).
#[derive(Component, Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetId(pub String);

/// One input: whose, its client sequence, and the input object.
#[derive(Debug, Clone, PartialEq)]
pub struct SimInput {
    /// The owner's [`NetId`] (the player id).
    pub owner: String,
    /// Client input sequence.
    pub seq: u64,
    /// The input as sent.
    pub input: Map<String, Value>,
}

/// The inputs of the step being run.
#[derive(Resource, Debug, Clone, Default)]
pub struct StepInputs(pub Vec<SimInput>);

/// Steps run so far.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCount(pub u64);

/// A game's simulation step: adds its systems to the schedule.
pub type SimPlugin = fn(&mut Schedule);

/// A built simulation schedule, storable as a resource so a host can run it on its own
/// `World` (the server's zones do).
#[derive(Resource)]
pub struct SimSchedule(Schedule);

impl SimSchedule {
    /// The schedule of `plugins`, single-threaded, in plugin order.
    pub fn new(plugins: &[SimPlugin]) -> Self {
        // bevy_ecs is built without `multi_threaded`: the executor is single-threaded.
        let mut schedule = Schedule::default();
        for plugin in plugins {
            plugin(&mut schedule);
        }
        SimSchedule(schedule)
    }

    /// Runs one step on `world` with `inputs`.
    pub fn run_on(&mut self, world: &mut World, inputs: Vec<SimInput>) {
        world.insert_resource(StepInputs(inputs));
        self.0.run(world);
        world.resource_mut::<StepCount>().0 += 1;
        world.resource_mut::<StepInputs>().0.clear();
    }

    /// Prepares a host world: the resources shared systems may read.
    pub fn prepare(world: &mut World) {
        world.init_resource::<StepInputs>();
        world.init_resource::<StepCount>();
    }

    /// An exclusive system that runs the schedule stored in the world (as a [`SimSchedule`]
    /// resource) with the inputs queued in [`PendingInputs`]. Hosts add it where the
    /// simulation belongs in their own schedule.
    pub fn system(world: &mut World) {
        let inputs = world
            .get_resource_mut::<PendingInputs>()
            .map(|mut p| std::mem::take(&mut p.0))
            .unwrap_or_default();
        world.resource_scope(|world, mut schedule: Mut<SimSchedule>| {
            schedule.run_on(world, inputs);
        });
    }
}

/// Inputs a host queued for the next run of [`SimSchedule::system`].
#[derive(Resource, Debug, Clone, Default)]
pub struct PendingInputs(pub Vec<SimInput>);

/// A standalone simulation: its own `World` and schedule (the client's prediction world,
/// tests, offline play).
pub struct Simulation {
    world: World,
    schedule: SimSchedule,
}

impl Simulation {
    /// A simulation of `plugins`.
    pub fn new(plugins: &[SimPlugin]) -> Self {
        let mut world = World::new();
        SimSchedule::prepare(&mut world);
        Simulation {
            world,
            schedule: SimSchedule::new(plugins),
        }
    }

    /// Runs one step.
    pub fn step(&mut self, inputs: Vec<SimInput>) {
        self.schedule.run_on(&mut self.world, inputs);
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, mutably (spawn entities, set state).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

/// Client-side prediction of the entities one player controls.
///
/// [`input`](Prediction::input) applies an input to the local simulation at once and keeps
/// it until the server acknowledges its sequence. [`reconcile`](Prediction::reconcile)
/// takes the server's authoritative state together with the highest input sequence that
/// state includes: it restores that state (through the game's `restore` function), drops the
/// acknowledged inputs, and replays the rest, so the prediction is the server's state plus
/// the inputs still in flight.
pub struct Prediction {
    sim: Simulation,
    owner: String,
    next_seq: u64,
    pending: VecDeque<SimInput>,
}

impl Prediction {
    /// Predicts for `owner` in `sim`.
    pub fn new(sim: Simulation, owner: &str) -> Self {
        Prediction {
            sim,
            owner: owner.to_owned(),
            next_seq: 1,
            pending: VecDeque::new(),
        }
    }

    /// Applies a local input now; returns the sequence to send it with.
    pub fn input(&mut self, input: Map<String, Value>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let input = SimInput {
            owner: self.owner.clone(),
            seq,
            input,
        };
        self.sim.step(vec![input.clone()]);
        self.pending.push_back(input);
        seq
    }

    /// Rewinds to the server's state as of input `acked_seq` and replays the inputs after
    /// it. `restore` writes the authoritative state into the simulation's world.
    pub fn reconcile(&mut self, acked_seq: u64, restore: impl FnOnce(&mut World)) {
        while self.pending.front().is_some_and(|i| i.seq <= acked_seq) {
            self.pending.pop_front();
        }
        restore(self.sim.world_mut());
        for input in self.pending.clone() {
            self.sim.step(vec![input]);
        }
    }

    /// Inputs sent but not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The simulation (read the predicted state).
    pub fn sim(&self) -> &Simulation {
        &self.sim
    }

    /// The simulation, mutably (spawn the predicted entities).
    pub fn sim_mut(&mut self) -> &mut Simulation {
        &mut self.sim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Component, Debug, Clone, Copy, PartialEq)]
    struct X(i64);

    fn walk(inputs: Res<StepInputs>, mut q: Query<(&NetId, &mut X)>) {
        for i in &inputs.0 {
            let d = i.input.get("d").and_then(Value::as_i64).unwrap_or(0);
            for (id, mut x) in &mut q {
                if id.0 == i.owner {
                    x.0 += d;
                }
            }
        }
    }

    fn plugin(s: &mut Schedule) {
        s.add_systems(walk);
    }

    fn d(n: i64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("d".into(), n.into());
        m
    }

    fn x(p: &mut Prediction) -> i64 {
        let w = p.sim_mut().world_mut();
        w.query::<&X>().single(w).unwrap().0
    }

    #[test]
    fn prediction_replays_unacknowledged_inputs_on_the_servers_state() {
        let mut server = Simulation::new(&[plugin]);
        server.world_mut().spawn((NetId("p".into()), X(0)));
        let mut client = Simulation::new(&[plugin]);
        client.world_mut().spawn((NetId("p".into()), X(0)));
        let mut p = Prediction::new(client, "p");
        let sent: Vec<_> = [1, 2, 3, 4].map(|n| (p.input(d(n)), d(n))).into();
        assert_eq!(x(&mut p), 10, "predicted at once");
        // The server has seen the first two inputs (and a correction of +100 of its own).
        for (seq, input) in &sent[..2] {
            server.step(vec![SimInput {
                owner: "p".into(),
                seq: *seq,
                input: input.clone(),
            }]);
        }
        let w = server.world_mut();
        let authoritative = w.query::<&X>().single(w).unwrap().0 + 100;
        p.reconcile(2, |w| {
            let mut q = w.query::<&mut X>();
            q.single_mut(w).unwrap().0 = authoritative;
        });
        assert_eq!((x(&mut p), p.pending()), (103 + 7, 2));
    }
}
