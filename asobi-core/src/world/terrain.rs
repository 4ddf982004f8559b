//! Terrain chunks (`worlds.md` §9): the default chunk format, its zlib codec, and two
//! providers that exist (Asobi names `flat` and `perlin` but never shipped them).
//!
//! A chunk is 64 × 64 tiles, row-major (y outer, x inner), 4 bytes per tile: tile id u16
//! big-endian, flags u8, elevation u8 — 16 384 raw bytes, zlib-compressed (RFC 1950) on the
//! wire. Chunk coordinates are zone coordinates. Decoding never inflates past the chunk size,
//! whatever the input claims.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;

/// Tiles per chunk side.
pub const CHUNK_SIDE: usize = 64;
/// Bytes per tile.
pub const TILE_BYTES: usize = 4;
/// Raw chunk size.
pub const RAW_CHUNK_BYTES: usize = CHUNK_SIDE * CHUNK_SIDE * TILE_BYTES;

/// One tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tile {
    /// Tile id; 0 = no tile.
    pub id: u16,
    /// Game-defined flags.
    pub flags: u8,
    /// Elevation.
    pub elevation: u8,
}

/// Why chunk bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerrainError {
    /// Not a zlib stream, or corrupt.
    #[error("corrupt chunk data: {0}")]
    Corrupt(String),
    /// Inflates to something other than a chunk.
    #[error("chunk inflates to {0} bytes, expected {RAW_CHUNK_BYTES}")]
    WrongSize(usize),
}

/// A 64 × 64 chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    tiles: Vec<Tile>,
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk {
            tiles: vec![Tile::default(); CHUNK_SIDE * CHUNK_SIDE],
        }
    }
}

impl Chunk {
    /// The tile at (x, y), both in 0..64.
    pub fn tile(&self, x: usize, y: usize) -> Tile {
        self.tiles[(y % CHUNK_SIDE) * CHUNK_SIDE + (x % CHUNK_SIDE)]
    }

    /// Sets the tile at (x, y).
    pub fn set(&mut self, x: usize, y: usize, tile: Tile) {
        self.tiles[(y % CHUNK_SIDE) * CHUNK_SIDE + (x % CHUNK_SIDE)] = tile;
    }

    /// The raw 16 384 bytes.
    pub fn to_raw(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RAW_CHUNK_BYTES);
        for t in &self.tiles {
            out.extend_from_slice(&t.id.to_be_bytes());
            out.push(t.flags);
            out.push(t.elevation);
        }
        out
    }

    /// Reads raw bytes.
    pub fn from_raw(raw: &[u8]) -> Result<Chunk, TerrainError> {
        if raw.len() != RAW_CHUNK_BYTES {
            return Err(TerrainError::WrongSize(raw.len()));
        }
        let tiles = raw
            .chunks_exact(TILE_BYTES)
            .map(|b| Tile {
                id: u16::from_be_bytes([b[0], b[1]]),
                flags: b[2],
                elevation: b[3],
            })
            .collect();
        Ok(Chunk { tiles })
    }

    /// The zlib-compressed wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&self.to_raw());
        z.finish().unwrap_or_default()
    }

    /// Reads wire bytes, inflating at most one chunk's worth (plus one byte to detect excess).
    pub fn decode(data: &[u8]) -> Result<Chunk, TerrainError> {
        let mut raw = Vec::with_capacity(RAW_CHUNK_BYTES);
        ZlibDecoder::new(data)
            .take(RAW_CHUNK_BYTES as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|e| TerrainError::Corrupt(e.to_string()))?;
        Chunk::from_raw(&raw)
    }
}

/// Something that produces chunks. `None` = no chunk at these coordinates.
pub trait TerrainProvider: Send + Sync {
    /// The chunk for zone (cx, cy).
    fn chunk(&self, cx: i32, cy: i32) -> Option<Chunk>;
}

/// Every tile the same.
#[derive(Debug, Clone, Copy)]
pub struct FlatTerrain {
    /// The tile everywhere.
    pub tile: Tile,
}

impl TerrainProvider for FlatTerrain {
    fn chunk(&self, _: i32, _: i32) -> Option<Chunk> {
        Some(Chunk {
            tiles: vec![self.tile; CHUNK_SIDE * CHUNK_SIDE],
        })
    }
}

/// Seeded value-noise terrain: elevation from three octaves of smoothed lattice noise, tile ids
/// by elevation band (1 water, 2 sand, 3 grass, 4 forest, 5 rock). Deterministic per seed
/// and continuous across chunk edges.
#[derive(Debug, Clone, Copy)]
pub struct NoiseTerrain {
    /// The world's seed.
    pub seed: u64,
}

impl NoiseTerrain {
    fn lattice(&self, x: i64, y: i64) -> f64 {
        let mut h = self.seed
            ^ (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        (h >> 11) as f64 / (1u64 << 53) as f64
    }

    fn smooth(&self, x: f64, y: f64) -> f64 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let (ix, iy) = (x0 as i64, y0 as i64);
        let top = self.lattice(ix, iy) * (1.0 - sx) + self.lattice(ix + 1, iy) * sx;
        let bottom = self.lattice(ix, iy + 1) * (1.0 - sx) + self.lattice(ix + 1, iy + 1) * sx;
        top * (1.0 - sy) + bottom * sy
    }

    /// Elevation 0–255 at a global tile position.
    pub fn elevation(&self, gx: i64, gy: i64) -> u8 {
        let (x, y) = (gx as f64, gy as f64);
        let v = 0.57 * self.smooth(x / 32.0, y / 32.0)
            + 0.29 * self.smooth(x / 12.0, y / 12.0)
            + 0.14 * self.smooth(x / 5.0, y / 5.0);
        (v.clamp(0.0, 1.0) * 255.0) as u8
    }
}

impl TerrainProvider for NoiseTerrain {
    fn chunk(&self, cx: i32, cy: i32) -> Option<Chunk> {
        let mut chunk = Chunk::default();
        let side = CHUNK_SIDE as i64;
        for y in 0..CHUNK_SIDE {
            for x in 0..CHUNK_SIDE {
                let e = self.elevation(
                    i64::from(cx) * side + x as i64,
                    i64::from(cy) * side + y as i64,
                );
                let id = match e {
                    0..=89 => 1,
                    90..=104 => 2,
                    105..=159 => 3,
                    160..=199 => 4,
                    _ => 5,
                };
                chunk.set(
                    x,
                    y,
                    Tile {
                        id,
                        flags: 0,
                        elevation: e,
                    },
                );
            }
        }
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_row_major_big_endian() {
        let mut c = Chunk::default();
        c.set(
            1,
            0,
            Tile {
                id: 0x0102,
                flags: 3,
                elevation: 4,
            },
        );
        c.set(
            0,
            1,
            Tile {
                id: 7,
                flags: 0,
                elevation: 0,
            },
        );
        let raw = c.to_raw();
        assert_eq!(raw.len(), 16_384);
        assert_eq!(&raw[4..8], &[1, 2, 3, 4]);
        assert_eq!(&raw[64 * 4..64 * 4 + 2], &[0, 7]);
        assert_eq!(Chunk::from_raw(&raw).unwrap(), c);
    }

    #[test]
    fn zlib_round_trip_and_hostile_input() {
        let c = NoiseTerrain { seed: 42 }.chunk(3, -2).unwrap();
        let wire = c.encode();
        assert_eq!(&wire[..1], &[0x78], "a zlib header");
        assert_eq!(Chunk::decode(&wire).unwrap(), c);
        assert!(Chunk::decode(b"not zlib").is_err());
        // A zlib bomb claiming far more than a chunk is cut off at 16 KiB + 1.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&vec![0u8; 10 << 20]).unwrap();
        assert_eq!(
            Chunk::decode(&z.finish().unwrap()),
            Err(TerrainError::WrongSize(RAW_CHUNK_BYTES + 1))
        );
    }

    #[test]
    fn noise_is_deterministic_per_seed_and_continuous_across_chunks() {
        let a = NoiseTerrain { seed: 7 };
        assert_eq!(a.chunk(1, 1), a.chunk(1, 1));
        assert_ne!(a.chunk(1, 1), NoiseTerrain { seed: 8 }.chunk(1, 1));
        let (left, right) = (a.chunk(0, 0).unwrap(), a.chunk(1, 0).unwrap());
        let step = i16::from(left.tile(63, 10).elevation) - i16::from(right.tile(0, 10).elevation);
        assert!(step.abs() < 40, "no cliff at the chunk edge ({step})");
        let ids: std::collections::BTreeSet<u16> = (0..4)
            .flat_map(|c| {
                let ch = a.chunk(c, c).unwrap();
                (0..64).map(move |i| ch.tile(i, i).id)
            })
            .collect();
        assert!(ids.len() >= 2, "varied terrain: {ids:?}");
        assert!(
            FlatTerrain {
                tile: Tile {
                    id: 3,
                    flags: 0,
                    elevation: 10
                }
            }
            .chunk(9, 9)
            .unwrap()
            .tile(5, 5)
            .id == 3
        );
    }
}
