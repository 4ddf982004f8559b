//! Exported: typed, allocation-free reads of the state the client keeps — the world's
//! entity tables (kept current from `world.tick` keyframes and deltas on the I/O thread),
//! terrain chunks, and the last `match.state` polled. The caller owns every buffer; only
//! the `*_json` calls allocate, and their strings are freed with `asobi_string_free`.

use std::ffi::c_char;

use asobi_core::world::terrain::CHUNK_SIDE;
use serde_json::Value;

use crate::client::ClientInner;
use crate::cstr::{require, str_arg, to_cstring, write_out};
use crate::handle::{self, AsobiClient};
use crate::status::{AsobiStatus, FfiError, guard};

/// Bytes in `AsobiEntity::id`, including the terminating NUL.
pub const ASOBI_ENTITY_ID_BYTES: usize = 64;
/// Bytes in `AsobiEntity::kind`, including the terminating NUL.
pub const ASOBI_ENTITY_KIND_BYTES: usize = 16;
/// Tiles in a terrain chunk (64 × 64, row-major: index = y * 64 + x).
pub const ASOBI_CHUNK_TILES: usize = 4096;
const _: () = assert!(ASOBI_CHUNK_TILES == CHUNK_SIDE * CHUNK_SIDE);

/// One entity of the world view.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AsobiEntity {
    /// The entity id, NUL-terminated (cut to 63 bytes if longer; `id_truncated` says so).
    pub id: [c_char; ASOBI_ENTITY_ID_BYTES],
    /// The entity's `type` field ("player", "npc"…), NUL-terminated, cut to 15 bytes.
    pub kind: [c_char; ASOBI_ENTITY_KIND_BYTES],
    /// The zone the entity is in.
    pub zone_x: i64,
    /// The zone the entity is in.
    pub zone_y: i64,
    /// Its `x` field (0 when absent; see `has_position`).
    pub x: f64,
    /// Its `y` field (0 when absent).
    pub y: f64,
    /// Whether both `x` and `y` are numbers.
    pub has_position: bool,
    /// Whether `id` was cut; read the full id from `asobi_world_entity_json` by position.
    pub id_truncated: bool,
}

/// One terrain tile.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsobiTile {
    /// Tile id; 0 = no tile.
    pub id: u16,
    /// Game-defined flags.
    pub flags: u8,
    /// Elevation.
    pub elevation: u8,
}

/// Zone (and chunk) coordinates.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AsobiCoords {
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
}

/// Copies `text` into a fixed C buffer; `true` when it had to be cut (at a UTF-8 boundary).
fn fill(buf: &mut [c_char], text: &str) -> bool {
    let room = buf.len() - 1;
    let mut end = text.len().min(room);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, byte) in buf.iter_mut().zip(text.as_bytes()[..end].iter()) {
        *slot = *byte as c_char;
    }
    buf[end] = 0;
    end < text.len()
}

/// Copies `items` into the caller's array of `capacity`; `count` gets how many there are.
///
/// # Safety
/// `out` is valid for `capacity` writes (or NULL with `capacity` 0); `count` is writable.
unsafe fn copy_out<T: Copy>(
    items: &[T],
    out: *mut T,
    capacity: usize,
    count: *mut usize,
) -> Result<(), FfiError> {
    // SAFETY: caller's contract.
    unsafe { write_out(count, items.len(), "count") }?;
    if items.len() > capacity {
        return Err(FfiError::BufferTooSmall {
            needed: items.len(),
            capacity,
        });
    }
    if !items.is_empty() {
        require(out, "out")?;
        // SAFETY: `out` holds at least `capacity >= items.len()` elements; the source is a
        // distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len()) };
    }
    Ok(())
}

fn world_entities(inner: &ClientInner) -> Result<Vec<AsobiEntity>, FfiError> {
    let realtime = inner.realtime()?;
    let view = realtime.world();
    let mut all = Vec::new();
    for (zone, table) in view.zones() {
        for (id, fields) in &table.entities {
            let mut e = AsobiEntity {
                id: [0; ASOBI_ENTITY_ID_BYTES],
                kind: [0; ASOBI_ENTITY_KIND_BYTES],
                zone_x: zone[0],
                zone_y: zone[1],
                x: 0.0,
                y: 0.0,
                has_position: false,
                id_truncated: false,
            };
            e.id_truncated = fill(&mut e.id, id);
            fill(
                &mut e.kind,
                fields.get("type").and_then(Value::as_str).unwrap_or(""),
            );
            if let (Some(x), Some(y)) = (
                fields.get("x").and_then(Value::as_f64),
                fields.get("y").and_then(Value::as_f64),
            ) {
                (e.x, e.y, e.has_position) = (x, y, true);
            }
            all.push(e);
        }
    }
    Ok(all)
}

/// Copies every entity of the watched zones into `out` (up to `capacity`) and writes the
/// number of entities to `*count`. Call with `capacity` 0 (and `out` NULL) to learn the
/// count. The order is unspecified.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, NOT_CONNECTED, BUFFER_TOO_SMALL (`*count` says
/// how many are needed; nothing is copied).
///
/// # Safety
/// `out` is NULL or valid for `capacity` entities; `count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_world_entities(
    client: *mut AsobiClient,
    out: *mut AsobiEntity,
    capacity: usize,
    count: *mut usize,
) -> AsobiStatus {
    guard(|| {
        require(count, "count")?;
        let inner = handle::get(client)?;
        let entities = world_entities(&inner)?;
        // SAFETY: caller's contract.
        unsafe { copy_out(&entities, out, capacity, count) }
    })
}

/// Reads a numeric field (e.g. "x", "hp") of entity `id` in the world view.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, NOT_CONNECTED, NOT_FOUND (no such
/// entity, or the field is absent or not a number).
///
/// # Safety
/// Strings are NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_world_entity_number(
    client: *mut AsobiClient,
    id: *const c_char,
    field: *const c_char,
    out: *mut f64,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let (id, field) = unsafe { (str_arg(id, "id")?, str_arg(field, "field")?) };
        let realtime = inner.realtime()?;
        let value = realtime
            .world()
            .entity(id)
            .ok_or_else(|| FfiError::NotFound(format!("entity `{id}`")))?
            .get(field)
            .and_then(Value::as_f64)
            .ok_or_else(|| FfiError::NotFound(format!("number `{field}` of entity `{id}`")))?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, value, "out") }
    })
}

/// Writes entity `id`'s fields as a JSON object to `*out` (a new string: free it with
/// `asobi_string_free`).
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, NOT_CONNECTED, NOT_FOUND.
///
/// # Safety
/// `id` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_world_entity_json(
    client: *mut AsobiClient,
    id: *const c_char,
    out: *mut *mut c_char,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let id = unsafe { str_arg(id, "id") }?;
        let realtime = inner.realtime()?;
        let text = realtime
            .world()
            .entity(id)
            .map(|fields| Value::Object(fields.clone()).to_string())
            .ok_or_else(|| FfiError::NotFound(format!("entity `{id}`")))?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, to_cstring(&text).into_raw(), "out") }
    })
}

/// Copies the coordinates of every terrain chunk received into `out` (up to `capacity`)
/// and writes their number to `*count` (call with `capacity` 0 to learn it).
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, NOT_CONNECTED, BUFFER_TOO_SMALL.
///
/// # Safety
/// `out` is NULL or valid for `capacity` items; `count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_world_chunks(
    client: *mut AsobiClient,
    out: *mut AsobiCoords,
    capacity: usize,
    count: *mut usize,
) -> AsobiStatus {
    guard(|| {
        require(count, "count")?;
        let realtime = handle::get(client)?.realtime()?;
        let coords: Vec<AsobiCoords> = realtime
            .world()
            .chunks()
            .map(|(c, _)| AsobiCoords { x: c[0], y: c[1] })
            .collect();
        // SAFETY: caller's contract.
        unsafe { copy_out(&coords, out, capacity, count) }
    })
}

/// Copies the `ASOBI_CHUNK_TILES` tiles of the chunk of zone (`x`, `y`) into `out`
/// (row-major) and writes `ASOBI_CHUNK_TILES` to `*count`.
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, NOT_CONNECTED, NOT_FOUND (not received),
/// BUFFER_TOO_SMALL (`capacity` < `ASOBI_CHUNK_TILES`).
///
/// # Safety
/// `out` is NULL or valid for `capacity` tiles; `count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_world_chunk_tiles(
    client: *mut AsobiClient,
    x: i64,
    y: i64,
    out: *mut AsobiTile,
    capacity: usize,
    count: *mut usize,
) -> AsobiStatus {
    guard(|| {
        require(count, "count")?;
        let realtime = handle::get(client)?.realtime()?;
        let view = realtime.world();
        let chunk = view
            .chunk([x, y])
            .ok_or_else(|| FfiError::NotFound(format!("terrain chunk ({x}, {y})")))?;
        let mut tiles = [AsobiTile::default(); ASOBI_CHUNK_TILES];
        for (i, slot) in tiles.iter_mut().enumerate() {
            let t = chunk.tile(i % CHUNK_SIDE, i / CHUNK_SIDE);
            *slot = AsobiTile {
                id: t.id,
                flags: t.flags,
                elevation: t.elevation,
            };
        }
        // SAFETY: caller's contract.
        unsafe { copy_out(&tiles, out, capacity, count) }
    })
}

fn match_state_at(inner: &ClientInner, pointer: &str) -> Result<Value, FfiError> {
    let polled = inner.polled();
    let state = polled
        .match_state
        .as_ref()
        .ok_or_else(|| FfiError::NotFound("match.state (none polled yet)".into()))?;
    state
        .pointer(pointer)
        .cloned()
        .ok_or_else(|| FfiError::NotFound(format!("`{pointer}` in the last match.state")))
}

/// Reads a number from the last `match.state` delivered by `asobi_client_poll`, addressed by
/// a JSON pointer (RFC 6901), e.g. "/players/<player_id>/x".
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, NOT_FOUND (no state yet, no such
/// path, or not a number).
///
/// # Safety
/// `pointer` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_match_state_number(
    client: *mut AsobiClient,
    pointer: *const c_char,
    out: *mut f64,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let pointer = unsafe { str_arg(pointer, "pointer") }?;
        let number = match_state_at(&inner, pointer)?
            .as_f64()
            .ok_or_else(|| FfiError::NotFound(format!("number at `{pointer}`")))?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, number, "out") }
    })
}

/// Writes the JSON at `pointer` ("" for the whole state) of the last polled `match.state`
/// to `*out` (a new string: free it with `asobi_string_free`).
///
/// Errors: NULL_ARGUMENT, INVALID_HANDLE, INVALID_UTF8, NOT_FOUND.
///
/// # Safety
/// `pointer` is NULL or NUL-terminated; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn asobi_match_state_json(
    client: *mut AsobiClient,
    pointer: *const c_char,
    out: *mut *mut c_char,
) -> AsobiStatus {
    guard(|| {
        require(out, "out")?;
        let inner = handle::get(client)?;
        // SAFETY: caller's contract.
        let pointer = unsafe { str_arg(pointer, "pointer") }?;
        let text = match_state_at(&inner, pointer)?.to_string();
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out, to_cstring(&text).into_raw(), "out") }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_buffers_cut_at_char_boundaries() {
        let mut buf = [1 as c_char; 4];
        assert!(!fill(&mut buf, "ab"));
        assert_eq!(&buf[..3], &[b'a' as c_char, b'b' as c_char, 0]);
        assert!(fill(&mut buf, "aé€"));
        // "a" + "é" (2 bytes) = 3 bytes fit; "€" does not.
        assert_eq!(buf[3], 0);
        assert!(fill(&mut buf, "€€"));
        assert_eq!(buf[3], 0);
        assert_eq!(buf[0] as u8, 0xe2);
    }
}
