//! Arena: a top-down shooter written as bevy systems against Asobi's Rust mode API.
//!
//! Players spawn on opposite sides of an 800 × 600 arena with 100 hp. Input:
//! `{"move": [dx, dy]}` sets the walking direction (each axis −1…1), `{"fire": [dx, dy]}` shoots
//! a projectile in that direction (one shot per 5 ticks). Projectiles fly straight, expire after
//! 40 ticks or at the walls, and deal 50 damage to the first other player they touch. A kill
//! scores a point and respawns the victim; the first to `win_score` wins the match.
//!
//! Clients see, in every `match.state`: `players.<id> = {x, y, hp, score}`, projectiles under
//! `entities.<id> = {x, y, owner}`, and `match.hit` / `match.kill` events.

use asobi_server::game::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

/// Arena width.
pub const WIDTH: f32 = 800.0;
/// Arena height.
pub const HEIGHT: f32 = 600.0;
/// Player speed, units per tick.
pub const PLAYER_SPEED: f32 = 10.0;
/// Projectile speed, units per tick.
pub const PROJECTILE_SPEED: f32 = 40.0;
/// Hit radius.
pub const HIT_RADIUS: f32 = 24.0;
/// Damage per hit.
pub const DAMAGE: i32 = 50;
/// Ticks between shots.
pub const FIRE_COOLDOWN: u64 = 5;
/// Projectile lifetime, ticks.
pub const PROJECTILE_TTL: u64 = 40;

/// The mode plugin. `win_score` kills end the match.
#[derive(Clone, Debug)]
pub struct ArenaPlugin {
    /// Kills needed to win.
    pub win_score: u32,
}

impl Default for ArenaPlugin {
    fn default() -> Self {
        ArenaPlugin { win_score: 3 }
    }
}

/// The arena mode: two players, 20 Hz, matched by `fill`.
pub fn mode(plugin: ArenaPlugin) -> MatchMode {
    MatchMode::new(
        ModeDescriptor::new("arena", 2)
            .tick_rate(20)
            .listed(true)
            .quick_play(true),
        plugin,
    )
}

/// Where an entity is.
#[derive(Component, Serialize, Clone, Copy, Debug, PartialEq)]
pub struct Position {
    /// X.
    pub x: f32,
    /// Y.
    pub y: f32,
}

/// Health.
#[derive(Component, Serialize, Clone, Copy, Debug)]
pub struct Hp {
    /// Hit points.
    pub hp: i32,
}

/// Kills.
#[derive(Component, Serialize, Clone, Copy, Debug, Default)]
pub struct Score {
    /// Kills.
    pub score: u32,
}

/// Walking direction (not replicated).
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Walk {
    dx: f32,
    dy: f32,
}

/// When the player may fire next.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Cooldown {
    ready_at: u64,
}

/// A flying projectile.
#[derive(Component, Clone, Debug)]
pub struct Projectile {
    dx: f32,
    dy: f32,
    shooter: Entity,
    expires_at: u64,
}

/// Who fired a projectile (replicated as `owner`).
#[derive(Component, Serialize, Clone, Debug)]
pub struct Owner {
    /// The shooter's player id.
    pub owner: String,
}

#[derive(Resource, Default)]
struct Spawns {
    next: u64,
    projectiles: u64,
}

#[derive(Resource, Clone, Copy)]
struct WinScore(u32);

impl Plugin for ArenaPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Spawns>()
            .insert_resource(WinScore(self.win_score))
            .replicate::<Position>()
            .replicate::<Hp>()
            .replicate::<Score>()
            .replicate::<Owner>()
            .add_systems(
                Update,
                (spawn_players, read_inputs, walk, fly, collide, check_winner).chain(),
            );
    }
}

fn spawn_point(i: u64) -> Position {
    let x = if i.is_multiple_of(2) {
        100.0
    } else {
        WIDTH - 100.0
    };
    Position { x, y: HEIGHT / 2.0 }
}

fn spawn_players(
    mut commands: Commands,
    mut joined: MessageReader<PlayerJoined>,
    mut spawns: ResMut<Spawns>,
) {
    for j in joined.read() {
        let at = spawn_point(spawns.next);
        spawns.next += 1;
        commands.entity(j.entity).insert((
            at,
            Hp { hp: 100 },
            Score::default(),
            Walk::default(),
            Cooldown::default(),
        ));
    }
}

fn axis_pair(v: Option<&Value>) -> Option<(f32, f32)> {
    let a = v?.as_array()?;
    let x = a.first()?.as_f64()? as f32;
    let y = a.get(1)?.as_f64()? as f32;
    (x.is_finite() && y.is_finite()).then_some((x.clamp(-1.0, 1.0), y.clamp(-1.0, 1.0)))
}

fn read_inputs(
    mut commands: Commands,
    mut inputs: MessageReader<PlayerInput>,
    mut players: Query<(&Position, &mut Walk, &mut Cooldown, &Player)>,
    mut spawns: ResMut<Spawns>,
    clock: Res<MatchClock>,
) {
    for input in inputs.read() {
        let Ok((pos, mut walk, mut cooldown, player)) = players.get_mut(input.entity) else {
            continue;
        };
        if let Some((dx, dy)) = axis_pair(input.input.get("move")) {
            *walk = Walk { dx, dy };
        }
        if let Some((dx, dy)) = axis_pair(input.input.get("fire")) {
            let len = (dx * dx + dy * dy).sqrt();
            if len > 0.0 && clock.tick >= cooldown.ready_at {
                cooldown.ready_at = clock.tick + FIRE_COOLDOWN;
                spawns.projectiles += 1;
                commands.spawn((
                    *pos,
                    Projectile {
                        dx: dx / len,
                        dy: dy / len,
                        shooter: input.entity,
                        expires_at: clock.tick + PROJECTILE_TTL,
                    },
                    Owner {
                        owner: player.id.clone(),
                    },
                    NetId(format!("shot-{}", spawns.projectiles)),
                ));
            }
        }
    }
}

fn walk(mut players: Query<(&mut Position, &Walk)>) {
    for (mut pos, walk) in &mut players {
        pos.x = (pos.x + walk.dx * PLAYER_SPEED).clamp(0.0, WIDTH);
        pos.y = (pos.y + walk.dy * PLAYER_SPEED).clamp(0.0, HEIGHT);
    }
}

fn fly(
    mut commands: Commands,
    mut shots: Query<(Entity, &mut Position, &Projectile)>,
    clock: Res<MatchClock>,
) {
    for (entity, mut pos, shot) in &mut shots {
        pos.x += shot.dx * PROJECTILE_SPEED;
        pos.y += shot.dy * PROJECTILE_SPEED;
        let outside = pos.x < 0.0 || pos.x > WIDTH || pos.y < 0.0 || pos.y > HEIGHT;
        if outside || clock.tick >= shot.expires_at {
            commands.entity(entity).despawn();
        }
    }
}

fn collide(
    mut commands: Commands,
    shots: Query<(Entity, &Position, &Projectile), Without<Player>>,
    mut players: Query<(Entity, &mut Position, &mut Hp, &Player), Without<Projectile>>,
    mut scores: Query<&mut Score>,
    mut spawns: ResMut<Spawns>,
    mut events: MessageWriter<Broadcast>,
) {
    for (shot_entity, shot_pos, shot) in &shots {
        for (victim, mut pos, mut hp, player) in &mut players {
            if victim == shot.shooter {
                continue;
            }
            let (dx, dy) = (pos.x - shot_pos.x, pos.y - shot_pos.y);
            if dx * dx + dy * dy > HIT_RADIUS * HIT_RADIUS {
                continue;
            }
            commands.entity(shot_entity).despawn();
            hp.hp -= DAMAGE;
            events.write(Broadcast::new(
                "hit",
                json!({"victim": player.id, "hp": hp.hp.max(0)}),
            ));
            if hp.hp <= 0 {
                if let Ok(mut score) = scores.get_mut(shot.shooter) {
                    score.score += 1;
                }
                events.write(Broadcast::new("kill", json!({"victim": player.id})));
                hp.hp = 100;
                *pos = spawn_point(spawns.next);
                spawns.next += 1;
            }
            break;
        }
    }
}

fn check_winner(
    players: Query<(&Score, &Player)>,
    win: Res<WinScore>,
    mut control: ResMut<MatchControl>,
) {
    if let Some((_, winner)) = players.iter().find(|(s, _)| s.score >= win.0) {
        control.finish(json!({"winner": winner.id}));
    }
}
