//! Game phases (`lua.md` §4.2, `worlds.md` §13): an ordered list of named phases a world walks
//! through, each waiting for its start condition and then active for its duration, and the
//! `phase` object clients see (`websocket.md` §9.24).
//!
//! Start conditions: `"prev_ended"` (default: as soon as the previous phase ended), a number of
//! ms or `{timer = ms}` (that long after the previous phase ended), `{players = n}` (once the
//! roster reaches n). `"all_ready"` waits for players to ready up, which this protocol has no
//! message for; it starts once at least one player is present.

use serde_json::{Map, Value, json};

/// When a phase starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// When the previous phase ended.
    PrevEnded,
    /// When players are ready (at least one present).
    AllReady,
    /// This many ms after the previous phase ended.
    Timer(u64),
    /// When the roster reaches this many players.
    Players(u64),
}

/// One phase.
#[derive(Debug, Clone)]
pub struct Phase {
    name: String,
    duration_ms: Option<u64>,
    start: Start,
    config: Value,
}

/// What changed in one [`Phases::advance`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A phase became active.
    Started(String),
    /// A phase ran its duration.
    Ended(String),
    /// The last phase ended.
    Complete,
}

impl Transition {
    /// The script callback this transition runs and its phase name: `on_phase_started` or
    /// `on_phase_ended`; `None` for [`Transition::Complete`].
    pub fn callback(&self) -> Option<(&'static str, &str)> {
        match self {
            Transition::Started(n) => Some(("on_phase_started", n)),
            Transition::Ended(n) => Some(("on_phase_ended", n)),
            Transition::Complete => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Status {
    Waiting { since_ms: i64 },
    Active { since_ms: i64 },
    Complete,
}

/// A running list of phases.
#[derive(Debug, Clone)]
pub struct Phases {
    list: Vec<Phase>,
    index: usize,
    status: Status,
}

/// Most phases read from a script.
const MAX_PHASES: usize = 256;

/// Parses `phases(config)`' list; entries without a name are skipped.
pub fn parse(list: &Value) -> Vec<Phase> {
    let Some(items) = list.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .take(MAX_PHASES)
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_owned();
            let ms = |v: &Value| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64);
            let start = match p.get("start") {
                Some(Value::String(s)) if s == "all_ready" => Start::AllReady,
                Some(v @ Value::Number(_)) => ms(v).map_or(Start::PrevEnded, Start::Timer),
                Some(Value::Object(o)) => match (o.get("timer"), o.get("players")) {
                    (Some(t), _) => ms(t).map_or(Start::PrevEnded, Start::Timer),
                    (_, Some(n)) => ms(n).map_or(Start::PrevEnded, Start::Players),
                    _ => Start::PrevEnded,
                },
                _ => Start::PrevEnded,
            };
            Some(Phase {
                name,
                duration_ms: p.get("duration").and_then(ms),
                start,
                config: p.get("config").cloned().unwrap_or_else(|| json!({})),
            })
        })
        .collect()
}

impl Phases {
    /// Phases starting at `now_ms`; `None` for an empty list.
    pub fn new(list: Vec<Phase>, now_ms: i64) -> Option<Self> {
        if list.is_empty() {
            return None;
        }
        Some(Phases {
            list,
            index: 0,
            status: Status::Waiting { since_ms: now_ms },
        })
    }

    /// Moves through every transition due at `now_ms` with `players` on the roster.
    pub fn advance(&mut self, now_ms: i64, players: usize) -> Vec<Transition> {
        let mut out = Vec::new();
        loop {
            match self.status {
                Status::Complete => break,
                Status::Waiting { since_ms } => {
                    let p = &self.list[self.index];
                    let elapsed = now_ms.saturating_sub(since_ms).max(0) as u64;
                    let ready = match p.start {
                        Start::PrevEnded => true,
                        Start::AllReady => players > 0,
                        Start::Timer(ms) => elapsed >= ms,
                        Start::Players(n) => players as u64 >= n,
                    };
                    if !ready {
                        break;
                    }
                    out.push(Transition::Started(p.name.clone()));
                    self.status = Status::Active { since_ms: now_ms };
                }
                Status::Active { since_ms } => {
                    let p = &self.list[self.index];
                    let elapsed = now_ms.saturating_sub(since_ms).max(0) as u64;
                    if p.duration_ms.is_none_or(|d| elapsed < d) {
                        break;
                    }
                    out.push(Transition::Ended(p.name.clone()));
                    self.index += 1;
                    if self.index == self.list.len() {
                        self.status = Status::Complete;
                        out.push(Transition::Complete);
                    } else {
                        self.status = Status::Waiting { since_ms: now_ms };
                    }
                }
            }
        }
        out
    }

    /// The `phase` object clients see (`websocket.md` §9.24).
    pub fn info(&self, now_ms: i64) -> Map<String, Value> {
        let v = match self.status {
            Status::Complete => json!({"status": "complete", "phase": null}),
            Status::Waiting { .. } => {
                let p = &self.list[self.index];
                let condition = match p.start {
                    Start::PrevEnded => json!("prev_ended"),
                    Start::AllReady => json!("all_ready"),
                    Start::Timer(ms) => json!({"type": "timer", "value": ms}),
                    Start::Players(n) => json!({"type": "players", "value": n}),
                };
                json!({"status": "waiting", "phase": p.name, "start_condition": condition})
            }
            Status::Active { since_ms } => {
                let p = &self.list[self.index];
                let elapsed = now_ms.saturating_sub(since_ms).max(0) as u64;
                let remaining = match p.duration_ms {
                    Some(d) => json!(d.saturating_sub(elapsed)),
                    None => json!("infinity"),
                };
                json!({
                    "status": "active",
                    "phase": p.name,
                    "remaining_ms": remaining,
                    "config": p.config,
                    "timers": {},
                })
            }
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_wait_run_and_complete() {
        let list = parse(&json!([
            {"name": "lobby", "start": {"players": 2}, "duration": 100, "config": {"x": 1}},
            {"duration": 5},
            {"name": "storm", "start": 50, "duration": 200},
            {"name": "calm", "start": {"timer": 10}},
        ]));
        assert_eq!(list.len(), 3, "a nameless phase is skipped");
        let mut p = Phases::new(list, 0).unwrap();
        assert!(p.advance(10, 1).is_empty());
        assert_eq!(
            p.info(10)["start_condition"],
            json!({"type": "players", "value": 2})
        );
        assert_eq!(p.advance(20, 2), vec![Transition::Started("lobby".into())]);
        assert_eq!(
            (
                p.info(60)["remaining_ms"].clone(),
                p.info(60)["config"]["x"].clone()
            ),
            (json!(60), json!(1))
        );
        assert_eq!(p.advance(120, 2), vec![Transition::Ended("lobby".into())]);
        assert_eq!(p.advance(170, 2), vec![Transition::Started("storm".into())]);
        assert_eq!(p.advance(1000, 0), vec![Transition::Ended("storm".into())]);
        assert_eq!(p.advance(1010, 0), vec![Transition::Started("calm".into())]);
        assert_eq!(p.info(1010)["remaining_ms"], "infinity");
        assert!(
            p.advance(1_000_000, 0).is_empty(),
            "no duration: active for ever"
        );
        let mut one = Phases::new(parse(&json!([{"name": "only", "duration": 0}])), 0).unwrap();
        assert_eq!(
            one.advance(0, 0),
            vec![
                Transition::Started("only".into()),
                Transition::Ended("only".into()),
                Transition::Complete
            ]
        );
        assert_eq!(one.info(0)["status"], "complete");
        assert!(Phases::new(parse(&json!("nope")), 0).is_none());
    }
}
