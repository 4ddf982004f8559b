//! The native path's compact `world.tick` encoding: what a position change costs on QUIC.
//!
//! Frame kind [`KIND_WORLD_TICK_COMPACT`]; the payload is
//!
//! ```text
//! zx, zy: zigzag varint · flags: u8 (1 = sequenced, 2 = keyframe) · [frame_seq: varint]
//! tick: varint · dict: u8 count, then (varint len, UTF-8 name)* · records: varint count, then
//! record := op u8 (0 add, 1 update, 2 remove)
//!           add:    varint id len, id bytes, u8 field count, field*
//!           update: varint rank, u8 field count, field*
//!           remove: varint rank
//! field  := u8 (type << 5 | dict index) · value
//! value  := 0 null | 1 true | 2 false | 3 zigzag varint (integer) | 4 f32 | 5 f64
//!         | 6 varint len + UTF-8 string | 7 zigzag varint of the change in 1/256 units
//! ```
//!
//! An entity in an update or remove is named by its **rank**: its index, in id order, in the
//! zone's table *before* this frame — the server's broadcast baseline, which a synced client
//! holds too (a client that missed a frame waits for a keyframe and never decodes against a
//! stale table). Floats are lossless: `f32` when the value is exactly an `f32`, else `f64`;
//! a float that moved by a whole number of 1/256 units from its previous value (both on the
//! 1/256 grid) is sent as that difference (type 7), usually one or two bytes. So a player's
//! `x`/`y` step costs about 8 bytes: rank, field count, and two one-byte headers with
//! two-byte differences.
//!
//! Nested values (lists, objects), more than 32 distinct field names, or integers beyond
//! `i64` are not encodable; such a frame travels as JSON instead ([`encode`] returns
//! `None`). Every length is checked against the bytes present before anything is allocated.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::delta::{Entities, Fields};
use crate::protocol::server::WorldTick;

/// Binary frame kind of a compact `world.tick` (append-only, beside the message kinds).
pub const KIND_WORLD_TICK_COMPACT: u16 = 0x7f02;

const MAX_NAMES: usize = 32;
/// Fixed-point scale of type-7 differences.
const SCALE: f64 = 256.0;
/// Largest fixed-point magnitude (keeps `v * SCALE` exact in an f64).
const FIXED_LIMIT: f64 = (1u64 << 50) as f64;

/// Why a compact frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The bytes end early or hold an impossible value.
    #[error("malformed compact world.tick: {0}")]
    Malformed(&'static str),
    /// The frame names an entity by rank and there is no table to resolve it.
    #[error("compact world.tick needs the zone's table")]
    NoTable,
}

/// The part of a frame readable without the zone's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Zone.
    pub zone: [i64; 2],
    /// `frame_seq`, absent on removal frames.
    pub frame_seq: Option<u64>,
    /// Keyframe.
    pub kf: bool,
    /// World tick.
    pub tick: u64,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// On the 1/256 grid, as an integer count of units.
fn fixed(v: f64) -> Option<i64> {
    let scaled = v * SCALE;
    (scaled.fract() == 0.0 && scaled.abs() < FIXED_LIMIT).then_some(scaled as i64)
}

struct Writer {
    out: Vec<u8>,
    names: Vec<String>,
    index: HashMap<String, u8>,
}

impl Writer {
    fn name(&mut self, name: &str) -> Option<u8> {
        if let Some(i) = self.index.get(name) {
            return Some(*i);
        }
        if self.names.len() >= MAX_NAMES {
            return None;
        }
        let i = self.names.len() as u8;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        Some(i)
    }

    fn field(&mut self, name: &str, v: &Value, old: Option<&Value>) -> Option<()> {
        let idx = self.name(name)?;
        let out = &mut self.out;
        match v {
            Value::Null => out.push(idx),
            Value::Bool(true) => out.push(1 << 5 | idx),
            Value::Bool(false) => out.push(2 << 5 | idx),
            Value::String(s) => {
                out.push(6 << 5 | idx);
                put_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64()?;
                let step = old
                    .and_then(|o| o.as_number())
                    .filter(|o| o.is_f64())
                    .and_then(Number::as_f64)
                    .and_then(fixed)
                    .zip(fixed(f))
                    .map(|(a, b)| b - a);
                if let Some(d) = step {
                    out.push(7 << 5 | idx);
                    put_varint(out, zigzag(d));
                } else if f64::from(f as f32) == f {
                    out.push(4 << 5 | idx);
                    out.extend_from_slice(&(f as f32).to_le_bytes());
                } else {
                    out.push(5 << 5 | idx);
                    out.extend_from_slice(&f.to_le_bytes());
                }
            }
            Value::Number(n) => {
                out.push(3 << 5 | idx);
                put_varint(out, zigzag(n.as_i64()?));
            }
            Value::Array(_) | Value::Object(_) => return None,
        }
        Some(())
    }

    fn fields<'a>(&mut self, record: &'a Fields, old: Option<&Fields>) -> Option<()> {
        let fields: Vec<(&'a String, &'a Value)> = record
            .iter()
            .filter(|(k, _)| *k != "op" && *k != "id")
            .collect();
        self.out.push(u8::try_from(fields.len()).ok()?);
        for (k, v) in fields {
            self.field(k, v, old.and_then(|o| o.get(k)))?;
        }
        Some(())
    }
}

/// Encodes a `world.tick`. `baseline` is the zone's table before this frame (needed for
/// updates and removes). `None` when the frame is not encodable (send it as JSON).
pub fn encode(tick: &WorldTick, baseline: Option<&Entities>) -> Option<Vec<u8>> {
    let ranks: HashMap<&str, u64> = baseline
        .map(|b| {
            b.keys()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i as u64))
                .collect()
        })
        .unwrap_or_default();
    let mut w = Writer {
        out: Vec::with_capacity(16 + tick.updates.len() * 12),
        names: Vec::new(),
        index: HashMap::new(),
    };
    put_varint(&mut w.out, tick.updates.len() as u64);
    for record in &tick.updates {
        let id = record.get("id")?.as_str()?;
        match record.get("op")?.as_str()? {
            "a" => {
                w.out.push(0);
                put_varint(&mut w.out, id.len() as u64);
                w.out.extend_from_slice(id.as_bytes());
                w.fields(record, None)?;
            }
            "u" => {
                w.out.push(1);
                put_varint(&mut w.out, *ranks.get(id)?);
                w.fields(record, baseline.and_then(|b| b.get(id)))?;
            }
            "r" => {
                w.out.push(2);
                put_varint(&mut w.out, *ranks.get(id)?);
            }
            _ => return None,
        }
    }
    let mut out = Vec::with_capacity(24 + w.out.len());
    put_varint(&mut out, zigzag(tick.zone[0]));
    put_varint(&mut out, zigzag(tick.zone[1]));
    let flags = u8::from(tick.frame_seq.is_some()) | u8::from(tick.kf == Some(true)) << 1;
    out.push(flags);
    if let Some(seq) = tick.frame_seq {
        put_varint(&mut out, seq);
    }
    put_varint(&mut out, tick.tick);
    out.push(w.names.len() as u8);
    for n in &w.names {
        put_varint(&mut out, n.len() as u64);
        out.extend_from_slice(n.as_bytes());
    }
    out.extend_from_slice(&w.out);
    Some(out)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, CompactError> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or(CompactError::Malformed("truncated"))?;
        self.buf = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, CompactError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CompactError::Malformed("varint too long"))
    }

    fn bytes(&mut self, len: u64) -> Result<&'a [u8], CompactError> {
        let len = usize::try_from(len).map_err(|_| CompactError::Malformed("length"))?;
        if len > self.buf.len() {
            return Err(CompactError::Malformed("length beyond the frame"));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn str(&mut self) -> Result<&'a str, CompactError> {
        let len = self.varint()?;
        std::str::from_utf8(self.bytes(len)?).map_err(|_| CompactError::Malformed("UTF-8"))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CompactError> {
        let b = self.bytes(N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, CompactError> {
    let zone = [unzigzag(r.varint()?), unzigzag(r.varint()?)];
    let flags = r.u8()?;
    let frame_seq = if flags & 1 == 1 {
        Some(r.varint()?)
    } else {
        None
    };
    let tick = r.varint()?;
    Ok(Header {
        zone,
        frame_seq,
        kf: flags & 2 == 2,
        tick,
    })
}

/// Reads the header alone (to decide whether the frame applies before decoding it).
pub fn header(bytes: &[u8]) -> Result<Header, CompactError> {
    read_header(&mut Reader { buf: bytes })
}

/// How many entity records (adds, updates, removals) a frame carries, read without the
/// zone's table: what a load generator needs to price a position change.
pub fn record_count(bytes: &[u8]) -> Result<u64, CompactError> {
    let mut r = Reader { buf: bytes };
    read_header(&mut r)?;
    for _ in 0..r.u8()? {
        r.str()?;
    }
    r.varint()
}

/// Decodes a frame against the zone's table as it was before this frame.
pub fn decode(bytes: &[u8], table: Option<&Entities>) -> Result<WorldTick, CompactError> {
    let mut r = Reader { buf: bytes };
    let h = read_header(&mut r)?;
    let names = (0..r.u8()?)
        .map(|_| r.str())
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<&String> = table.map(|t| t.keys().collect()).unwrap_or_default();
    let by_rank = |rank: u64| -> Result<&String, CompactError> {
        if table.is_none() {
            return Err(CompactError::NoTable);
        }
        usize::try_from(rank)
            .ok()
            .and_then(|i| ids.get(i).copied())
            .ok_or(CompactError::Malformed("rank beyond the table"))
    };
    let count = r.varint()?;
    // Each record takes at least two bytes: never reserve more than the bytes can hold.
    let mut updates = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(r.buf.len() / 2));
    for _ in 0..count {
        let op = r.u8()?;
        let (op, id) = match op {
            0 => ("a", r.str()?.to_owned()),
            1 => ("u", by_rank(r.varint()?)?.clone()),
            2 => ("r", by_rank(r.varint()?)?.clone()),
            _ => return Err(CompactError::Malformed("op")),
        };
        let old = table.and_then(|t| t.get(&id));
        let mut record = Map::new();
        if op != "r" {
            for _ in 0..r.u8()? {
                let hdr = r.u8()?;
                let name = names
                    .get(usize::from(hdr & 0x1f))
                    .ok_or(CompactError::Malformed("field index"))?;
                let value = match hdr >> 5 {
                    0 => Value::Null,
                    1 => Value::Bool(true),
                    2 => Value::Bool(false),
                    3 => Value::from(unzigzag(r.varint()?)),
                    4 => Value::from(f64::from(f32::from_le_bytes(r.array()?))),
                    5 => Value::from(f64::from_le_bytes(r.array()?)),
                    6 => Value::from(r.str()?),
                    _ => {
                        let base = old
                            .and_then(|o| o.get(*name))
                            .and_then(Value::as_f64)
                            .and_then(fixed)
                            .ok_or(CompactError::Malformed("difference without a base"))?;
                        let units = base.saturating_add(unzigzag(r.varint()?));
                        Value::from(units as f64 / SCALE)
                    }
                };
                record.insert((*name).to_owned(), value);
            }
        }
        record.insert("op".into(), Value::from(op));
        record.insert("id".into(), Value::from(id));
        updates.push(record);
    }
    if !r.buf.is_empty() {
        return Err(CompactError::Malformed("trailing bytes"));
    }
    Ok(WorldTick {
        zone: h.zone,
        frame_seq: h.frame_seq,
        kf: h.frame_seq.map(|_| h.kf),
        tick: h.tick,
        updates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::delta::{self, apply};
    use serde_json::json;

    fn ents(v: Value) -> Entities {
        serde_json::from_value(v).unwrap()
    }

    fn tick(seq: Option<u64>, kf: bool, updates: Vec<Fields>) -> WorldTick {
        WorldTick {
            zone: [-3, 7],
            frame_seq: seq,
            kf: seq.map(|_| kf),
            tick: 9001,
            updates,
        }
    }

    #[test]
    fn deltas_round_trip_exactly_and_a_position_step_costs_eight_bytes() {
        let before = ents(json!({
            "p1": {"type": "player", "x": 100.5, "y": 20.25, "hp": 10},
            "p2": {"type": "player", "x": 0.1, "y": -5.0, "name": "bo"},
            "gone": {"x": 1},
        }));
        let after = ents(json!({
            "p1": {"type": "player", "x": 103.0, "y": 18.375, "hp": 9},
            "p2": {"type": "player", "x": 0.30000000000000004, "y": -5.0, "name": "bo", "it": true, "z": null},
            "new": {"x": 1e300, "type": "tree"},
        }));
        let t = tick(Some(5), false, delta::diff(&before, &after));
        let bytes = encode(&t, Some(&before)).expect("encodable");
        let back = decode(&bytes, Some(&before)).expect("decodes");
        assert_eq!(back, t);
        let mut table = before.clone();
        apply(&mut table, &back.updates);
        assert_eq!(table, after);

        // One player stepping (x and y on the 1/256 grid): rank, count, two 3-byte fields.
        let one = ents(json!({"a": {"x": 10.0, "y": 10.0}, "b": {"x": 50.0, "y": 50.0}}));
        let moved = ents(json!({"a": {"x": 10.0, "y": 10.0}, "b": {"x": 52.5, "y": 48.125}}));
        let t = tick(Some(6), false, delta::diff(&one, &moved));
        let bytes = encode(&t, Some(&one)).expect("encodable");
        let header_and_dict = encode(&tick(Some(6), false, Vec::new()), Some(&one))
            .unwrap()
            .len()
            + 1
            + 2
            + 2;
        assert_eq!(bytes.len() - header_and_dict, 8, "{bytes:?}");
        assert_eq!(decode(&bytes, Some(&one)).unwrap(), t);
        assert_eq!(record_count(&bytes), Ok(1));
        assert!(record_count(&bytes[..3]).is_err());
    }

    #[test]
    fn keyframes_need_no_table_and_deltas_do() {
        let base = ents(json!({"a": {"x": 1.5}, "b": {"s": "hi"}}));
        let kf = tick(Some(1), true, delta::keyframe(&base));
        let bytes = encode(&kf, None).unwrap();
        assert_eq!(decode(&bytes, None).unwrap(), kf);
        let removal = tick(None, false, delta::removal(&base));
        let bytes = encode(&removal, Some(&base)).unwrap();
        assert_eq!(decode(&bytes, None), Err(CompactError::NoTable));
        assert_eq!(decode(&bytes, Some(&base)).unwrap(), removal);
        assert_eq!(header(&bytes).unwrap().frame_seq, None);
    }

    #[test]
    fn nested_values_and_too_many_names_fall_back_to_json() {
        let nested = ents(json!({"a": {"inv": [1, 2]}}));
        assert!(encode(&tick(Some(1), true, delta::keyframe(&nested)), None).is_none());
        let mut wide = Map::new();
        for i in 0..33 {
            wide.insert(format!("f{i}"), json!(i));
        }
        let wide: Entities = [("a".to_owned(), wide)].into();
        assert!(encode(&tick(Some(1), true, delta::keyframe(&wide)), None).is_none());
    }

    #[test]
    fn hostile_bytes_are_errors_not_allocations() {
        let table = ents(json!({"a": {"x": 1}}));
        for bytes in [
            &[][..],
            &[0, 0, 1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
            &[0, 0, 1, 1, 1, 0, 1, 1, 9][..],
            &[
                0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..],
            &[0, 0, 1, 1, 1, 1, 1, 0x7f, 0, 1, 0, 2, 0, 0][..],
        ] {
            assert!(decode(bytes, Some(&table)).is_err(), "{bytes:?}");
        }
    }
}
