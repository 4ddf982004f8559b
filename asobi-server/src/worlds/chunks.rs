//! The node's terrain chunk cache: encoded `world.terrain` frames by (world, chunk), shared
//! by every world of the node and bounded in bytes. Generating and compressing a chunk costs
//! far more than sending it, so a chunk is built once and then served to every player who
//! enters its zone; when the cache is over its bound the least recently used chunks go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asobi_core::world::grid::ZoneCoord;

use crate::session::OutFrame;

/// Share of the bound an eviction brings the cache down to, so evictions are batched.
const EVICT_TO: f64 = 0.9;

#[derive(Debug)]
struct Entry {
    frame: Arc<OutFrame>,
    bytes: usize,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<(Arc<str>, ZoneCoord), Entry>,
    bytes: usize,
    clock: u64,
}

/// A byte-bounded LRU of terrain frames.
#[derive(Debug)]
pub struct ChunkCache {
    bound: usize,
    inner: Mutex<Inner>,
}

impl ChunkCache {
    /// A cache holding at most `bound` bytes of frames (0 disables caching).
    pub fn new(bound: usize) -> Self {
        ChunkCache {
            bound,
            inner: Mutex::default(),
        }
    }

    /// The frame for `world`'s chunk `coord`, building it with `build` (returning the frame and
    /// its size in bytes) on a miss. `None` when `build` has nothing.
    pub fn get_or_build(
        &self,
        world: &Arc<str>,
        coord: ZoneCoord,
        build: impl FnOnce() -> Option<(Arc<OutFrame>, usize)>,
    ) -> Option<Arc<OutFrame>> {
        let key = (world.clone(), coord);
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let now = inner.clock;
            if let Some(e) = inner.entries.get_mut(&key) {
                e.last_used = now;
                return Some(e.frame.clone());
            }
        }
        // Built outside the lock: other worlds keep reading meanwhile.
        let (frame, bytes) = build()?;
        if bytes > self.bound {
            return Some(frame);
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let last_used = inner.clock;
        let entry = Entry {
            frame: frame.clone(),
            bytes,
            last_used,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        if inner.bytes > self.bound {
            self.evict(&mut inner);
        }
        Some(frame)
    }

    /// Drops a world's chunks (the world finished).
    pub fn forget_world(&self, world: &str) {
        let mut inner = self.lock();
        let mut freed = 0;
        inner.entries.retain(|(w, _), e| {
            let keep = &**w != world;
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        inner.bytes -= freed;
    }

    /// Bytes cached now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn evict(&self, inner: &mut Inner) {
        let target = (self.bound as f64 * EVICT_TO) as usize;
        let mut by_age: Vec<(u64, (Arc<str>, ZoneCoord))> = inner
            .entries
            .iter()
            .map(|(k, e)| (e.last_used, k.clone()))
            .collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        for (_, key) in by_age {
            if inner.bytes <= target {
                break;
            }
            if let Some(e) = inner.entries.remove(&key) {
                inner.bytes -= e.bytes;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asobi_core::protocol::ServerMessage;
    use asobi_core::protocol::server::WorldTerrain;

    fn frame(n: i64) -> Option<(Arc<OutFrame>, usize)> {
        let msg = WorldTerrain {
            coords: [n, 0],
            data: "x".repeat(100),
        };
        Some((OutFrame::new(ServerMessage::WorldTerrain(msg), None), 100))
    }

    #[test]
    fn builds_once_and_evicts_the_least_recently_used_past_its_bound() {
        let cache = ChunkCache::new(450);
        let (w, v): (Arc<str>, Arc<str>) = ("w".into(), "v".into());
        let mut builds = 0;
        for _ in 0..3 {
            cache.get_or_build(&w, (0, 0), || {
                builds += 1;
                frame(0)
            });
        }
        assert_eq!(builds, 1, "a cached chunk is not rebuilt");
        for x in 1..4 {
            cache.get_or_build(&w, (x, 0), || frame(x.into()));
        }
        // Touch (0, 0) so (1, 0) is the oldest, then go over the bound.
        cache.get_or_build(&w, (0, 0), || panic!("cached"));
        cache.get_or_build(&v, (0, 0), || frame(9));
        assert!(cache.bytes() <= 450, "bound kept: {}", cache.bytes());
        let mut rebuilt = false;
        cache.get_or_build(&w, (1, 0), || {
            rebuilt = true;
            frame(1)
        });
        assert!(rebuilt, "the least recently used chunk was evicted");
        cache.get_or_build(&w, (0, 0), || panic!("recently used chunks stay"));
        cache.forget_world("w");
        assert_eq!(cache.bytes(), 100, "only the other world's chunk is left");
    }
}
