//! The client's view of the world it is in: one entity table per watched zone, kept by
//! applying `world.tick` keyframes and deltas in `frame_seq` order, and the terrain chunks
//! received so far.
//!
//! A delta that skips a `frame_seq` (a lost datagram) or arrives for a zone without a
//! keyframe puts that zone in *waiting*: further deltas are ignored until a keyframe
//! arrives, and the session driver asks for one with `world.resync` (repeating the request
//! while it is not answered). A delta at or below the last applied sequence is a late
//! duplicate and is dropped. A removal frame forgets the zone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use asobi_core::protocol::server::{WorldAck, WorldTerrain, WorldTick};
use asobi_core::world::compact::{self, CompactError};
use asobi_core::world::delta::{Entities, Fields, apply};
use asobi_core::world::terrain::Chunk;
use base64::Engine;

/// How long a zone waits for a keyframe that may still be in flight before asking.
const FIRST_ASK_AFTER: Duration = Duration::from_millis(100);
/// How long an unanswered resync request waits before it is repeated.
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(500);

/// Zone coordinates.
pub type ZoneCoords = [i64; 2];

/// A delta that arrived ahead of its turn (datagrams reorder), kept until the frames before
/// it arrive or a keyframe supersedes it.
#[derive(Debug, Clone)]
enum Held {
    Json(WorldTick),
    Compact(Vec<u8>),
}

/// Deltas held per zone while a gap is open.
const MAX_HELD: usize = 32;

/// One zone's entities.
#[derive(Debug, Clone, Default)]
pub struct ZoneTable {
    /// Entities by id.
    pub entities: Entities,
    /// Last applied `frame_seq`.
    pub frame_seq: u64,
    /// World tick of the last applied delta.
    pub tick: u64,
    synced: bool,
    held: std::collections::BTreeMap<u64, Held>,
    waiting_since: Option<Instant>,
    asked_at: Option<Instant>,
}

impl ZoneTable {
    /// Whether the table is current: a keyframe was applied and no gap is open.
    pub fn is_synced(&self) -> bool {
        self.synced && self.held.is_empty()
    }

    /// Applies one delta in order; `false` if it could not be read (the table is then
    /// unsynced until a keyframe).
    fn apply(&mut self, seq: u64, delta: Held, applied: &mut Vec<WorldTick>) -> bool {
        let tick = match delta {
            Held::Json(t) => t,
            Held::Compact(bytes) => match compact::decode(&bytes, Some(&self.entities)) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable compact world.tick");
                    self.synced = false;
                    return false;
                }
            },
        };
        apply(&mut self.entities, &tick.updates);
        self.frame_seq = seq;
        self.tick = tick.tick;
        applied.push(tick);
        true
    }

    /// Applies held deltas that are now in order; drops the ones already covered.
    fn drain(&mut self, applied: &mut Vec<WorldTick>, now: Instant) {
        while self.synced {
            let covered: Vec<u64> = self
                .held
                .range(..=self.frame_seq)
                .map(|(s, _)| *s)
                .collect();
            for s in covered {
                self.held.remove(&s);
            }
            let next = self.frame_seq + 1;
            let Some(delta) = self.held.remove(&next) else {
                break;
            };
            self.apply(next, delta, applied);
        }
        if self.is_synced() {
            self.waiting_since = None;
            self.asked_at = None;
        } else {
            self.waiting_since.get_or_insert(now);
        }
    }
}

/// What applying a `world.tick` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// Applied in order.
    Applied,
    /// A keyframe replaced the table.
    Keyframe,
    /// A late or duplicate delta, dropped.
    Stale,
    /// The delta is held until the frames before it (or a keyframe) arrive.
    Waiting,
    /// The zone was forgotten (removal frame).
    Removed,
}

/// The world as this client knows it.
#[derive(Debug, Default)]
pub struct WorldView {
    world_id: Option<String>,
    zones: HashMap<ZoneCoords, ZoneTable>,
    terrain: HashMap<ZoneCoords, Chunk>,
    ack: Option<WorldAck>,
    gaps: u64,
}

impl WorldView {
    /// The world joined, if any.
    pub fn world_id(&self) -> Option<&str> {
        self.world_id.as_deref()
    }

    /// Entered a world: zone tables start empty (terrain of the same world is kept).
    pub fn joined(&mut self, world_id: &str) {
        if self.world_id.as_deref() != Some(world_id) {
            self.terrain.clear();
        }
        self.world_id = Some(world_id.to_owned());
        self.zones.clear();
        self.ack = None;
    }

    /// Left the world.
    pub fn left(&mut self) {
        self.world_id = None;
        self.zones.clear();
        self.ack = None;
    }

    /// The connection dropped: every table is stale; the server sends keyframes again when
    /// the session resumes.
    pub fn connection_lost(&mut self) {
        self.zones.clear();
    }

    /// Applies one `world.tick` (JSON form).
    pub fn apply_tick(&mut self, t: &WorldTick, now: Instant) -> TickOutcome {
        let mut applied = Vec::new();
        self.receive(
            t.zone,
            t.frame_seq,
            t.kf == Some(true),
            Held::Json(t.clone()),
            now,
            &mut applied,
        )
    }

    /// Applies a compact `world.tick` (the QUIC path's encoding). Returns what happened and
    /// the frames that got applied (decoded), in order — possibly held ones it released.
    pub fn apply_compact(
        &mut self,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(TickOutcome, Vec<WorldTick>), CompactError> {
        let h = compact::header(bytes)?;
        let mut applied = Vec::new();
        let outcome = self.receive(
            h.zone,
            h.frame_seq,
            h.kf,
            Held::Compact(bytes.to_vec()),
            now,
            &mut applied,
        );
        Ok((outcome, applied))
    }

    fn receive(
        &mut self,
        zone: ZoneCoords,
        frame_seq: Option<u64>,
        kf: bool,
        frame: Held,
        now: Instant,
        applied: &mut Vec<WorldTick>,
    ) -> TickOutcome {
        let Some(seq) = frame_seq else {
            self.zones.remove(&zone);
            return TickOutcome::Removed;
        };
        let table = self.zones.entry(zone).or_default();
        if kf {
            table.entities.clear();
            table.synced = true;
            if table.apply(seq, frame, applied) {
                table.drain(applied, now);
            }
            return TickOutcome::Keyframe;
        }
        if table.synced && seq <= table.frame_seq {
            return TickOutcome::Stale;
        }
        if table.synced && table.held.is_empty() && seq == table.frame_seq + 1 {
            table.apply(seq, frame, applied);
            return TickOutcome::Applied;
        }
        if table.synced && table.held.is_empty() {
            self.gaps += 1;
        }
        table.held.insert(seq, frame);
        while table.held.len() > MAX_HELD {
            table.held.pop_first();
        }
        table.drain(applied, now);
        if applied.is_empty() {
            TickOutcome::Waiting
        } else {
            TickOutcome::Applied
        }
    }

    /// Zones whose keyframe is overdue; each is marked as asked.
    pub fn resyncs_due(&mut self, now: Instant) -> Vec<ZoneCoords> {
        let mut due = Vec::new();
        for (coords, zone) in &mut self.zones {
            let Some(since) = zone.waiting_since else {
                continue;
            };
            let first = now.duration_since(since) >= FIRST_ASK_AFTER && zone.asked_at.is_none();
            let again = zone
                .asked_at
                .is_some_and(|at| now.duration_since(at) >= ASK_AGAIN_AFTER);
            if first || again {
                zone.asked_at = Some(now);
                due.push(*coords);
            }
        }
        due
    }

    /// Stores a terrain chunk. A chunk that does not decode is dropped (and logged).
    pub fn apply_terrain(&mut self, t: &WorldTerrain) {
        let chunk = base64::engine::general_purpose::STANDARD
            .decode(&t.data)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Chunk::decode(&bytes).map_err(|e| e.to_string()));
        match chunk {
            Ok(chunk) => {
                self.terrain.insert(t.coords, chunk);
            }
            Err(e) => tracing::warn!(coords = ?t.coords, error = %e, "bad terrain chunk"),
        }
    }

    /// Records the last `world.ack`.
    pub fn apply_ack(&mut self, ack: &WorldAck) {
        self.ack = Some(ack.clone());
    }

    /// The last `world.ack` (tick and highest consumed input sequence).
    pub fn ack(&self) -> Option<&WorldAck> {
        self.ack.as_ref()
    }

    /// The zone tables.
    pub fn zones(&self) -> &HashMap<ZoneCoords, ZoneTable> {
        &self.zones
    }

    /// One entity, wherever it is.
    pub fn entity(&self, id: &str) -> Option<&Fields> {
        self.zones.values().find_map(|z| z.entities.get(id))
    }

    /// The terrain chunk of a zone, if received.
    pub fn chunk(&self, coords: ZoneCoords) -> Option<&Chunk> {
        self.terrain.get(&coords)
    }

    /// Every cached chunk with its zone coordinates.
    pub fn chunks(&self) -> impl Iterator<Item = (ZoneCoords, &Chunk)> {
        self.terrain.iter().map(|(coords, chunk)| (*coords, chunk))
    }

    /// How many chunks are cached.
    pub fn chunk_count(&self) -> usize {
        self.terrain.len()
    }

    /// Gaps seen so far (lost or reordered deltas).
    pub fn gaps(&self) -> u64 {
        self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tick(seq: Option<u64>, kf: bool, updates: serde_json::Value) -> WorldTick {
        WorldTick {
            zone: [0, 0],
            frame_seq: seq,
            kf: seq.map(|_| kf),
            tick: 1,
            updates: serde_json::from_value(updates).unwrap(),
        }
    }

    #[test]
    fn deltas_apply_in_order_and_a_gap_waits_for_a_keyframe() {
        let mut w = WorldView::default();
        let t0 = Instant::now();
        assert_eq!(
            w.apply_tick(&tick(Some(3), true, json!([{"op":"a","id":"p","x":1}])), t0),
            TickOutcome::Keyframe
        );
        assert_eq!(
            w.apply_tick(
                &tick(Some(4), false, json!([{"op":"u","id":"p","x":2}])),
                t0
            ),
            TickOutcome::Applied
        );
        assert_eq!(
            w.apply_tick(&tick(Some(4), false, json!([])), t0),
            TickOutcome::Stale
        );
        assert_eq!(
            w.apply_tick(
                &tick(Some(6), false, json!([{"op":"u","id":"p","x":9}])),
                t0
            ),
            TickOutcome::Waiting
        );
        // A reordered datagram may still fill the gap: ask only after a short wait.
        assert!(w.resyncs_due(t0).is_empty());
        let t1 = t0 + FIRST_ASK_AFTER;
        assert_eq!(w.resyncs_due(t1), vec![[0, 0]]);
        assert!(w.resyncs_due(t1).is_empty(), "asked once");
        assert_eq!(w.resyncs_due(t1 + ASK_AGAIN_AFTER), vec![[0, 0]]);
        assert_eq!(w.entity("p").unwrap()["x"], 2);
        w.apply_tick(&tick(Some(7), true, json!([{"op":"a","id":"p","x":9}])), t0);
        assert_eq!(w.entity("p").unwrap()["x"], 9);
        assert!(w.resyncs_due(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(
            w.apply_tick(&tick(None, false, json!([])), t0),
            TickOutcome::Removed
        );
        assert!(w.entity("p").is_none());
    }

    #[test]
    fn reordered_deltas_are_held_and_applied_in_order() {
        let mut w = WorldView::default();
        let t0 = Instant::now();
        // The delta after the keyframe overtakes it; then 3 overtakes 2.
        assert_eq!(
            w.apply_tick(
                &tick(Some(2), false, json!([{"op":"u","id":"p","x":2}])),
                t0
            ),
            TickOutcome::Waiting
        );
        w.apply_tick(&tick(Some(1), true, json!([{"op":"a","id":"p","x":1}])), t0);
        assert_eq!(w.entity("p").unwrap()["x"], 2);
        w.apply_tick(
            &tick(Some(4), false, json!([{"op":"u","id":"p","x":4}])),
            t0,
        );
        w.apply_tick(
            &tick(Some(3), false, json!([{"op":"u","id":"p","x":3}])),
            t0,
        );
        assert_eq!(w.entity("p").unwrap()["x"], 4);
        assert!(w.zones()[&[0, 0]].is_synced());
        assert!(w.resyncs_due(t0 + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn a_delta_before_its_keyframe_waits_briefly_before_asking() {
        let mut w = WorldView::default();
        let t0 = Instant::now();
        assert_eq!(
            w.apply_tick(&tick(Some(2), false, json!([])), t0),
            TickOutcome::Waiting
        );
        assert!(w.resyncs_due(t0).is_empty());
        assert_eq!(w.resyncs_due(t0 + FIRST_ASK_AFTER), vec![[0, 0]]);
    }
}
