//! One match: a bevy App owned by one task on the simulation runtime.
//!
//! The task receives joins, leaves and inputs over a channel, queues them, and on each tick
//! writes them into the world as messages, runs the schedule once inside `catch_unwind`,
//! applies what the game asked of [`MatchControl`], sends the game's broadcasts, and builds the
//! tick's state — encoded once, the same bytes offered to every player. Lifecycle:
//! waiting (until `min_players`, at most 60 s) → running → finished. A panic anywhere in the
//! game's systems finishes this match only, with `{"status": "crashed"}`.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asobi_core::protocol::server::{
    GameEvent, MatchFinished, MatchInfo, MatchListing, ModuleMessage,
};
use asobi_core::protocol::{Reason, ServerMessage};
use bevy_app::{App, SubApp};
use bevy_ecs::message::Messages;
use bevy_ecs::prelude::*;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};

use super::MatchesShared;
use super::record::MatchRecord;
use crate::game::{
    Broadcast, JoinValidator, LeaveHook, MatchClock, MatchControl, MatchMode, NetId, Payloads,
    Player, PlayerInput, PlayerJoined, PlayerLeft, Replication, SendTo, StartFailure,
    StatePayloads, merge_into,
};
use crate::session::{OutFrame, Responder};
use crate::time::now_ms;

/// A waiting match that does not start within this stops (`websocket.md` §11); the default of
/// the `match_waiting_timeout_ms` setting.
pub const WAITING_TIMEOUT: Duration = Duration::from_secs(60);
/// A finished match keeps answering (`not_in_match`) this long before it stops.
pub const FINISHED_LINGER: Duration = Duration::from_secs(5);

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// At `max_players`.
    Full,
    /// Closed by the game.
    Locked,
    /// Refused by the game, with its reason.
    Refused(String),
    /// The match has finished or stopped.
    Gone,
}

impl JoinError {
    /// The error reason sent to the client.
    pub fn reason(&self) -> Reason {
        match self {
            JoinError::Full => Reason::MatchFull,
            JoinError::Locked => Reason::MatchLocked,
            JoinError::Refused(_) => Reason::JoinRefused,
            JoinError::Gone => Reason::NotInMatch,
        }
    }
}

/// What a match task is asked to do.
pub(crate) enum Command {
    Join {
        player_id: String,
        ctx: Map<String, Value>,
        respond: Option<Responder>,
        reply: oneshot::Sender<Result<MatchInfo, JoinError>>,
    },
    Leave {
        player_id: String,
    },
    Input {
        player_id: String,
        input: Map<String, Value>,
    },
}

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for `min_players`.
    Waiting,
    /// Ticking.
    Running,
    /// Over; answering `not_in_match` until it stops.
    Finished,
}

impl Status {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Running => "running",
            Status::Finished => "finished",
        }
    }
}

/// What other tasks can read about a match without asking it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Lifecycle state.
    pub status: Status,
    /// Roster, in join order.
    pub players: Vec<String>,
    /// Takes joins.
    pub joinable: bool,
    /// Unix ms when it started running.
    pub started_at: Option<i64>,
    /// Unix ms when it finished, and the result.
    pub finished: Option<(i64, Map<String, Value>)>,
    /// The phase object, if the mode has phases.
    pub phase: Option<Map<String, Value>>,
}

/// A handle on a live match.
#[derive(Clone)]
pub struct MatchHandle {
    /// Match id.
    pub id: String,
    /// Its mode.
    pub mode: Arc<MatchMode>,
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) snapshot: Arc<Mutex<Snapshot>>,
}

impl MatchHandle {
    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `match.list` / `GET /matches/live` entry.
    pub fn listing(&self) -> MatchListing {
        let s = self.snapshot();
        MatchListing {
            match_id: self.id.clone(),
            mode: Some(self.mode.descriptor.name.clone()),
            status: s.status.as_str().to_owned(),
            player_count: s.players.len() as u32,
            max_players: self.mode.descriptor.max_players,
            joinable: s.joinable,
            phase: s.phase,
        }
    }

    /// Asks the match to take a player.
    /// Asks the match to take a player. With a `respond`er the match queues `match.joined` to
    /// that session itself, before any state it sends afterwards.
    pub async fn join(
        &self,
        player_id: &str,
        ctx: Map<String, Value>,
        respond: Option<Responder>,
    ) -> Result<MatchInfo, JoinError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Join {
            player_id: player_id.to_owned(),
            ctx,
            respond,
            reply,
        };
        if self.tx.send(cmd).await.is_err() {
            return Err(JoinError::Gone);
        }
        rx.await.unwrap_or(Err(JoinError::Gone))
    }

    /// Removes a player.
    pub fn leave(&self, player_id: &str) {
        let cmd = Command::Leave {
            player_id: player_id.to_owned(),
        };
        // Inputs may be dropped under pressure; a leave never is.
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.tx.try_send(cmd) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(cmd).await;
            });
        }
    }

    /// Queues an input for the next tick. Dropped when the match's queue is full.
    pub fn input(&self, player_id: &str, input: Map<String, Value>) {
        let _ = self.tx.try_send(Command::Input {
            player_id: player_id.to_owned(),
            input,
        });
    }
}

/// The task's state.
pub(crate) struct MatchTask {
    id: String,
    mode: Arc<MatchMode>,
    app: SubApp,
    roster: Vec<(String, Entity)>,
    status: Status,
    joinable: bool,
    tick: u64,
    joined: Vec<PlayerJoined>,
    left: Vec<PlayerLeft>,
    inputs: Vec<PlayerInput>,
    created: Instant,
    ever_joined: bool,
    started_at: Option<i64>,
    shared: Arc<MatchesShared>,
    snapshot: Arc<Mutex<Snapshot>>,
    span: tracing::Span,
}

/// Builds a match's App from its mode and turns it into a `Send` [`SubApp`]. A plugin that
/// left a [`StartFailure`] fails the start.
fn build_app(
    id: &str,
    mode: &MatchMode,
    services: Option<crate::game::GameServices>,
) -> Result<SubApp, String> {
    let mut app = App::new();
    if let Some(services) = services {
        app.insert_resource(services);
    }
    app.add_message::<PlayerJoined>()
        .add_message::<PlayerLeft>()
        .add_message::<PlayerInput>()
        .add_message::<Broadcast>()
        .add_message::<SendTo>()
        .init_resource::<MatchControl>()
        .init_resource::<Replication>()
        .insert_resource(MatchClock {
            match_id: id.to_owned(),
            tick: 0,
            dt: 1.0 / mode.descriptor.tick_rate as f32,
        });
    mode.build(&mut app);
    app.finish();
    app.cleanup();
    if let Some(failure) = app.world().get_resource::<StartFailure>() {
        return Err(failure.0.clone());
    }
    Ok(std::mem::take(app.main_mut()))
}

impl MatchTask {
    /// Creates a match and spawns its task on the simulation runtime.
    /// Builds the match's app (a Lua mode runs its script's top level and `init` here, which
    /// can take a second) on the simulation runtime's blocking pool, never on an I/O worker,
    /// then starts its task.
    pub(crate) async fn spawn(
        id: String,
        mode: Arc<MatchMode>,
        shared: Arc<MatchesShared>,
        sim: &tokio::runtime::Handle,
    ) -> Result<MatchHandle, String> {
        let app = sim
            .spawn_blocking({
                let (id, mode) = (id.clone(), mode.clone());
                let services = shared.services.clone();
                move || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| build_app(&id, &mode, services)))
                        .map_err(|p| panic_message(&p))?
                }
            })
            .await
            .map_err(|e| e.to_string())??;
        let snapshot = Arc::new(Mutex::new(Snapshot {
            status: Status::Waiting,
            players: Vec::new(),
            joinable: true,
            started_at: None,
            finished: None,
            phase: None,
        }));
        let (tx, rx) = mpsc::channel(1024);
        let span = tracing::info_span!("match", id = %id, mode = %mode.descriptor.name);
        let handle = MatchHandle {
            id: id.clone(),
            mode: mode.clone(),
            tx,
            snapshot: snapshot.clone(),
        };
        let task = MatchTask {
            id,
            mode,
            app,
            roster: Vec::new(),
            status: Status::Waiting,
            joinable: true,
            tick: 0,
            joined: Vec::new(),
            left: Vec::new(),
            inputs: Vec::new(),
            created: Instant::now(),
            ever_joined: false,
            started_at: None,
            shared,
            snapshot,
            span,
        };
        sim.spawn(task.run(rx));
        Ok(handle)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.mode.descriptor.tick_rate));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tracing::debug!(parent: &self.span, "match created");
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                _ = ticker.tick() => {
                    match self.status {
                        Status::Waiting if self.created.elapsed() >= self.shared.waiting_timeout => {
                            self.finish(json!({"status": "timeout"}).as_object().cloned().unwrap_or_default(), false);
                        }
                        Status::Running => self.tick(),
                        _ => {}
                    }
                }
            }
            // Finished, or everyone left: an emptied match stops at once (no result).
            if self.status == Status::Finished || (self.ever_joined && self.roster.is_empty()) {
                break;
            }
        }
        if self.status == Status::Finished {
            // Keep answering for a while: joins and inputs get `not_in_match`.
            let linger = tokio::time::sleep(FINISHED_LINGER);
            tokio::pin!(linger);
            loop {
                tokio::select! {
                    () = &mut linger => break,
                    cmd = rx.recv() => match cmd {
                        Some(Command::Join { reply, .. }) => { let _ = reply.send(Err(JoinError::Gone)); }
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        }
        self.shared.remove_match(&self.id);
        tracing::debug!(parent: &self.span, "match stopped");
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Join {
                player_id,
                ctx,
                respond,
                reply,
            } => {
                let result = self.join(player_id, ctx);
                if let (Ok(info), Some(r)) = (&result, respond) {
                    r.handle.send(OutFrame::new(
                        ServerMessage::MatchJoined(info.clone()),
                        r.cid,
                    ));
                }
                let _ = reply.send(result);
            }
            Command::Leave { player_id } => self.leave(&player_id),
            Command::Input { player_id, input } => {
                if self.status != Status::Running {
                    return; // dropped, not queued (websocket.md §8.7)
                }
                if let Some((_, entity)) = self.roster.iter().find(|(p, _)| *p == player_id) {
                    self.inputs.push(PlayerInput {
                        player_id,
                        entity: *entity,
                        input,
                    });
                }
            }
        }
    }

    fn join(&mut self, player_id: String, ctx: Map<String, Value>) -> Result<MatchInfo, JoinError> {
        if self.status == Status::Finished {
            return Err(JoinError::Gone);
        }
        if self.roster.iter().any(|(p, _)| *p == player_id) {
            return Ok(self.info());
        }
        if !self.joinable {
            return Err(JoinError::Locked);
        }
        if self.roster.len() as u32 >= self.mode.descriptor.max_players {
            return Err(JoinError::Full);
        }
        let world = self.app.world_mut();
        let hook = world.get_resource::<JoinValidator>().cloned();
        let verdict = std::panic::catch_unwind(AssertUnwindSafe(|| {
            hook.map(|v| (v.0)(world, &player_id, &ctx))
        }));
        match verdict {
            Ok(Some(Err(reason))) => return Err(JoinError::Refused(reason)),
            Ok(_) => {}
            Err(panic) => {
                self.crash(&panic_message(&panic));
                return Err(JoinError::Gone);
            }
        }
        let entity = self
            .app
            .world_mut()
            .spawn(Player {
                id: player_id.clone(),
            })
            .id();
        self.roster.push((player_id.clone(), entity));
        self.ever_joined = true;
        self.joined.push(PlayerJoined {
            player_id,
            entity,
            ctx,
        });
        if self.status == Status::Waiting
            && self.roster.len() as u32 >= self.mode.descriptor.min_players
        {
            self.status = Status::Running;
            self.started_at = Some(now_ms());
            tracing::debug!(parent: &self.span, players = self.roster.len(), "match started");
        }
        self.publish_snapshot();
        Ok(self.info())
    }

    fn leave(&mut self, player_id: &str) {
        let Some(i) = self.roster.iter().position(|(p, _)| p == player_id) else {
            return;
        };
        let (player_id, entity) = self.roster.remove(i);
        self.shared.forget_player(&player_id, &self.id);
        let world = self.app.world_mut();
        if let Some(hook) = world.get_resource::<LeaveHook>().cloned() {
            let left = std::panic::catch_unwind(AssertUnwindSafe(|| (hook.0)(world, &player_id)));
            if let Err(panic) = left {
                self.crash(&panic_message(&panic));
                return;
            }
        }
        if self.status == Status::Running {
            self.left.push(PlayerLeft { player_id, entity });
        } else {
            self.joined.retain(|j| j.entity != entity);
            self.app.world_mut().despawn(entity);
        }
        self.publish_snapshot();
    }

    fn tick(&mut self) {
        let started = Instant::now();
        self.tick += 1;
        let world = self.app.world_mut();
        if let Some(mut clock) = world.get_resource_mut::<MatchClock>() {
            clock.tick = self.tick;
        }
        world.write_message_batch(self.joined.drain(..));
        world.write_message_batch(self.left.drain(..));
        world.write_message_batch(self.inputs.drain(..));
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| self.app.update()));
        if let Err(panic) = ran {
            self.crash(&panic_message(&panic));
            return;
        }
        let sim_time = started.elapsed();
        self.despawn_departed();
        // Events of this tick go out before a finish it may have triggered.
        self.send_broadcasts();
        self.apply_control();
        if self.status != Status::Running {
            self.shared.stats.tick.record(sim_time);
            return;
        }
        let encode_started = Instant::now();
        let world = self.app.world_mut();
        let produced = world
            .get_resource_mut::<StatePayloads>()
            .map(|mut p| p.0.take());
        let payloads = match produced {
            // The game produces its own payloads; none this tick means nothing to send.
            Some(p) => p,
            None => match std::panic::catch_unwind(AssertUnwindSafe(|| self.state_document())) {
                Ok(doc) => Some(Payloads::Shared(doc)),
                Err(panic) => {
                    self.crash(&panic_message(&panic));
                    return;
                }
            },
        };
        match payloads {
            Some(Payloads::Shared(doc)) => {
                let frame = OutFrame::new(ServerMessage::MatchState(doc), None);
                frame.json(); // encode once, here, on the simulation thread
                for (player, _) in &self.roster {
                    self.shared.sessions.push_state_to_player(player, &frame);
                }
            }
            Some(Payloads::PerPlayer(docs)) => {
                for (player, doc) in docs {
                    let frame = OutFrame::new(ServerMessage::MatchState(doc), None);
                    frame.json();
                    self.shared.sessions.push_state_to_player(&player, &frame);
                }
            }
            None => {}
        }
        self.shared.stats.encode.record(encode_started.elapsed());
        self.shared.stats.tick.record(started.elapsed());
        tracing::trace!(parent: &self.span, tick = self.tick, sim_us = sim_time.as_micros() as u64, "tick");
    }

    /// Despawns the entities of players whose `PlayerLeft` was just delivered.
    fn despawn_departed(&mut self) {
        let world = self.app.world_mut();
        let live: Vec<Entity> = self.roster.iter().map(|(_, e)| *e).collect();
        let mut query = world.query_filtered::<Entity, With<Player>>();
        let gone: Vec<Entity> = query.iter(world).filter(|e| !live.contains(e)).collect();
        for e in gone {
            world.despawn(e);
        }
    }

    fn apply_control(&mut self) {
        let Some(mut control) = self.app.world_mut().get_resource_mut::<MatchControl>() else {
            return;
        };
        let joinable = control.joinable.take();
        let result = control.result.take();
        let record = !std::mem::take(&mut control.aborted);
        if let Some(j) = joinable {
            self.joinable = j;
            self.publish_snapshot();
        }
        if let Some(result) = result {
            self.finish(result, record);
        }
    }

    fn send_broadcasts(&mut self) {
        let Some(mut messages) = self
            .app
            .world_mut()
            .get_resource_mut::<Messages<Broadcast>>()
        else {
            return;
        };
        let events: Vec<Broadcast> = messages.drain().collect();
        let direct: Vec<SendTo> = self
            .app
            .world_mut()
            .get_resource_mut::<Messages<SendTo>>()
            .map(|mut m| m.drain().collect())
            .unwrap_or_default();
        for d in direct {
            let msg = ModuleMessage {
                module: "lua".into(),
                message: d.message,
            };
            // Asobi sends the deprecated twin first, then the current type.
            let legacy = OutFrame::new(ServerMessage::GameMessage(msg.clone()), None);
            self.shared.sessions.push_to_player(&d.player_id, &legacy);
            let current = OutFrame::new(ServerMessage::ModuleMessage(msg), None);
            self.shared.sessions.push_to_player(&d.player_id, &current);
        }
        for b in events {
            match GameEvent::new(&b.name, b.payload) {
                Ok(event) => {
                    let frame = OutFrame::new(ServerMessage::MatchEvent(event), None);
                    if frame.json().len() > 65_536 {
                        tracing::warn!(parent: &self.span, name = %b.name, "broadcast over 64 KiB dropped");
                        continue;
                    }
                    self.push_reliable(&frame);
                }
                Err(e) => {
                    tracing::warn!(parent: &self.span, name = %b.name, error = %e, "broadcast refused")
                }
            }
        }
    }

    /// `{tick, players: {id: record}, entities?: {net_id: record}, ...resources}`.
    fn state_document(&mut self) -> Map<String, Value> {
        let world = self.app.world_mut();
        let mut doc = Map::new();
        let Some(replication) = world.get_resource::<Replication>() else {
            return doc;
        };
        let mut players = Map::new();
        for (player, entity) in &self.roster {
            let mut record = Map::new();
            for (name, extract) in &replication.components {
                if let Some(v) = extract(world, *entity) {
                    merge_into(&mut record, name, v);
                }
            }
            players.insert(player.clone(), Value::Object(record));
        }
        let mut entities = Map::new();
        let mut with_net_id = world.try_query::<(Entity, &NetId)>();
        let tagged: Vec<(Entity, String)> = with_net_id
            .as_mut()
            .map(|q| q.iter(world).map(|(e, n)| (e, n.0.clone())).collect())
            .unwrap_or_default();
        for (entity, net_id) in tagged {
            let mut record = Map::new();
            for (name, extract) in &replication.components {
                if let Some(v) = extract(world, entity) {
                    merge_into(&mut record, name, v);
                }
            }
            entities.insert(net_id, Value::Object(record));
        }
        for (name, extract) in &replication.resources {
            if let Some(v) = extract(world) {
                merge_into(&mut doc, name, v);
            }
        }
        doc.insert("tick".into(), json!(self.tick));
        doc.insert("players".into(), Value::Object(players));
        if !entities.is_empty() {
            doc.insert("entities".into(), Value::Object(entities));
        }
        doc
    }

    fn crash(&mut self, message: &str) {
        tracing::error!(parent: &self.span, panic = %message, "match crashed; finishing it");
        self.shared
            .stats
            .crashes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.finish(
            json!({"status": "crashed"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            false,
        );
    }

    /// Enters `finished`: tells every player, records the result (when the game produced one).
    fn finish(&mut self, result: Map<String, Value>, record: bool) {
        if self.status == Status::Finished {
            return;
        }
        let was = self.status;
        self.status = Status::Finished;
        let finished_at = now_ms();
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished = Some((finished_at, result.clone()));
        let frame = OutFrame::new(
            ServerMessage::MatchFinished(MatchFinished {
                match_id: self.id.clone(),
                result: result.clone(),
            }),
            None,
        );
        self.push_reliable(&frame);
        let players: Vec<String> = self.roster.drain(..).map(|(p, _)| p).collect();
        for p in &players {
            self.shared.forget_player(p, &self.id);
        }
        if record && was == Status::Running {
            self.shared.record(MatchRecord {
                id: self.id.clone(),
                mode: self.mode.descriptor.name.clone(),
                status: "finished".into(),
                result,
                players,
                started_at: self.started_at,
                finished_at,
            });
        }
        self.publish_snapshot();
    }

    fn push_reliable(&self, frame: &Arc<OutFrame>) {
        for (player, _) in &self.roster {
            self.shared.sessions.push_to_player(player, frame);
        }
    }

    fn info(&self) -> MatchInfo {
        MatchInfo {
            match_id: self.id.clone(),
            mode: Some(self.mode.descriptor.name.clone()),
            status: self.status.as_str().to_owned(),
            player_count: self.roster.len() as u32,
            max_players: self.mode.descriptor.max_players,
            players: self.roster.iter().map(|(p, _)| p.clone()).collect(),
            listed: self.mode.descriptor.listed,
            joinable: self.joinable,
            phase: self.phase(),
        }
    }

    fn phase(&self) -> Option<Map<String, Value>> {
        self.app
            .world()
            .get_resource::<crate::game::MatchPhase>()
            .and_then(|p| p.0.clone())
    }

    fn publish_snapshot(&self) {
        let phase = self.phase();
        let mut s = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        s.phase = phase;
        s.status = self.status;
        s.players = self.roster.iter().map(|(p, _)| p.clone()).collect();
        s.joinable = self.joinable;
        s.started_at = self.started_at;
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}
