//! Game modes written for the tests, against the public Rust mode API.

use std::sync::Arc;

use asobi_server::game::prelude::*;
use serde::Serialize;
use serde_json::json;

/// Each player has a score; `{"add": n}` adds to it; reaching 10 wins the match.
#[derive(Clone)]
pub struct Scoring;

#[derive(Component, Serialize, Default)]
struct Score {
    score: i64,
}

#[derive(Resource, Serialize, Default)]
struct Round {
    inputs_seen: u64,
}

fn add_scores(mut joined: MessageReader<PlayerJoined>, mut commands: Commands) {
    for j in joined.read() {
        commands.entity(j.entity).insert(Score::default());
    }
}

fn apply_inputs(
    mut inputs: MessageReader<PlayerInput>,
    mut scores: Query<&mut Score>,
    mut round: ResMut<Round>,
    mut control: ResMut<MatchControl>,
    mut events: MessageWriter<Broadcast>,
) {
    for input in inputs.read() {
        round.inputs_seen += 1;
        let add = input
            .input
            .get("add")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if let Ok(mut s) = scores.get_mut(input.entity) {
            s.score += add;
            events.write(Broadcast::new(
                "scored",
                json!({"by": input.player_id, "score": s.score}),
            ));
            if s.score >= 10 {
                control.finish(json!({"winner": input.player_id}));
            }
        }
    }
}

impl Plugin for Scoring {
    fn build(&self, app: &mut App) {
        app.init_resource::<Round>()
            .replicate::<Score>()
            .replicate_resource::<Round>()
            .add_systems(Update, (add_scores, apply_inputs).chain());
    }
}

pub fn scoring() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("scoring", 2)
            .tick_rate(20)
            .quick_play(true)
            .listed(true),
        Scoring,
    )
}

/// Refuses players whose join context asks for the blue team.
#[derive(Clone)]
pub struct Picky;

impl Plugin for Picky {
    fn build(&self, app: &mut App) {
        app.insert_resource(JoinValidator(Arc::new(|_world, _player, ctx| {
            if ctx.get("team").and_then(|t| t.as_str()) == Some("blue") {
                Err("team_full".into())
            } else {
                Ok(())
            }
        })));
    }
}

pub fn picky() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("picky", 4)
            .min_players(1)
            .quick_play(true),
        Picky,
    )
}

/// A single-player match at 20 Hz that does nothing but tick.
#[derive(Clone)]
pub struct Idle;

impl Plugin for Idle {
    fn build(&self, _app: &mut App) {}
}

pub fn solo() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("solo", 1)
            .tick_rate(20)
            .quick_play(true),
        Idle,
    )
}

/// Panics at its 10th tick.
#[derive(Clone)]
pub struct Crashing;

fn explode(clock: Res<MatchClock>) {
    if clock.tick == 10 {
        panic!("deliberate panic in a game system");
    }
}

impl Plugin for Crashing {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, explode);
    }
}

pub fn crashing() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("crashing", 1)
            .tick_rate(20)
            .quick_play(true),
        Crashing,
    )
}

/// Two players and a large state (about 200 KB a tick), to overflow socket buffers.
#[derive(Clone)]
pub struct Bulky;

#[derive(Resource, Serialize)]
struct Payload {
    blob: String,
}

impl Plugin for Bulky {
    fn build(&self, app: &mut App) {
        app.insert_resource(Payload {
            blob: "x".repeat(200_000),
        })
        .replicate_resource::<Payload>();
    }
}

pub fn bulky() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("bulky", 2)
            .tick_rate(20)
            .quick_play(true),
        Bulky,
    )
}

/// Scoring, matched by skill.
pub fn ranked() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("ranked", 2).strategy(MatchmakingStrategy::SkillBased),
        Scoring,
    )
}

/// A mode whose plugin panics while the match is being built.
#[derive(Clone)]
pub struct Broken;

impl Plugin for Broken {
    fn build(&self, _app: &mut App) {
        panic!("this mode cannot start");
    }
}

pub fn broken() -> MatchMode {
    MatchMode::new(ModeDescriptor::new("broken", 2), Broken)
}

/// Three seats, starts with two; `{"lock": true}` closes it to joins. Replicates a marker per
/// player so the roster is visible in state.
#[derive(Clone)]
pub struct Lockable;

#[derive(Component, Serialize)]
struct Here {
    here: bool,
}

fn lock_on_request(
    mut commands: Commands,
    mut joined: MessageReader<PlayerJoined>,
    mut inputs: MessageReader<PlayerInput>,
    mut control: ResMut<MatchControl>,
) {
    for j in joined.read() {
        commands.entity(j.entity).insert(Here { here: true });
    }
    for input in inputs.read() {
        if input.input.get("lock") == Some(&serde_json::Value::Bool(true)) {
            control.set_joinable(false);
        }
    }
}

impl Plugin for Lockable {
    fn build(&self, app: &mut App) {
        app.replicate::<Here>().add_systems(Update, lock_on_request);
    }
}

pub fn lockable() -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("lockable", 3)
            .min_players(2)
            .listed(true)
            .quick_play(true),
        Lockable,
    )
}

pub fn all() -> Vec<MatchMode> {
    vec![
        scoring(),
        picky(),
        solo(),
        crashing(),
        bulky(),
        ranked(),
        broken(),
        lockable(),
    ]
}
