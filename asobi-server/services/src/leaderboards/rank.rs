//! An order-statistic index: a sorted sequence that answers "what is the rank of this key"
//! and "which keys hold ranks i..i+n" without scanning, at a million entries and more.
//!
//! The keys live in sorted blocks of at most `2 × LOAD`; a block is found by binary search on
//! the blocks' last keys, and a rank is the position inside the block plus the sizes of the
//! blocks before it, read from a Fenwick tree over block sizes. Insert and remove move at
//! most one block's worth of keys; splitting or dropping a block rebuilds the Fenwick tree
//! (rare: once per `LOAD` inserts).

/// Target block size.
const LOAD: usize = 512;

/// A sorted multiset-free sequence of keys with ranks.
#[derive(Debug, Clone)]
pub struct RankIndex<K> {
    blocks: Vec<Vec<K>>,
    /// Fenwick tree over `blocks[i].len()`.
    sizes: Vec<usize>,
    len: usize,
}

impl<K: Ord> Default for RankIndex<K> {
    fn default() -> Self {
        RankIndex {
            blocks: Vec::new(),
            sizes: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Ord> RankIndex<K> {
    /// Builds an index from keys in any order (duplicates are kept once).
    pub fn from_unsorted(mut keys: Vec<K>) -> Self {
        keys.sort_unstable();
        keys.dedup();
        let len = keys.len();
        let mut blocks = Vec::with_capacity(len / LOAD + 1);
        let mut it = keys.into_iter().peekable();
        while it.peek().is_some() {
            blocks.push(it.by_ref().take(LOAD).collect::<Vec<_>>());
        }
        let mut index = RankIndex {
            blocks,
            sizes: Vec::new(),
            len,
        };
        index.rebuild_sizes();
        index
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `key`; false if it was there.
    pub fn insert(&mut self, key: K) -> bool {
        if self.blocks.is_empty() {
            self.blocks.push(vec![key]);
            self.len = 1;
            self.rebuild_sizes();
            return true;
        }
        let b = self.block_for(&key).min(self.blocks.len() - 1);
        let block = &mut self.blocks[b];
        let at = match block.binary_search(&key) {
            Ok(_) => return false,
            Err(at) => at,
        };
        block.insert(at, key);
        self.len += 1;
        if block.len() > 2 * LOAD {
            let tail = block.split_off(LOAD);
            self.blocks.insert(b + 1, tail);
            self.rebuild_sizes();
        } else {
            self.add_size(b, 1);
        }
        true
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        let b = self.block_for(key);
        let Some(block) = self.blocks.get_mut(b) else {
            return false;
        };
        let Ok(at) = block.binary_search(key) else {
            return false;
        };
        block.remove(at);
        self.len -= 1;
        if block.is_empty() {
            self.blocks.remove(b);
            self.rebuild_sizes();
        } else {
            self.sub_size(b, 1);
        }
        true
    }

    /// The 0-based position of `key`, if present.
    pub fn rank(&self, key: &K) -> Option<usize> {
        let b = self.block_for(key);
        let at = self.blocks.get(b)?.binary_search(key).ok()?;
        Some(self.prefix(b) + at)
    }

    /// The keys at positions `start..start + n` (fewer past the end).
    pub fn range(&self, start: usize, n: usize) -> impl Iterator<Item = &K> {
        let (mut b, mut at) = self.locate(start);
        let mut left = n.min(self.len.saturating_sub(start));
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            while at >= self.blocks.get(b)?.len() {
                b += 1;
                at = 0;
            }
            let key = &self.blocks[b][at];
            at += 1;
            left -= 1;
            Some(key)
        })
    }

    /// The first block whose last key is not below `key`.
    fn block_for(&self, key: &K) -> usize {
        self.blocks
            .partition_point(|b| b.last().is_some_and(|last| last < key))
    }

    /// (block, offset) of position `pos`, by descending the Fenwick tree.
    fn locate(&self, mut pos: usize) -> (usize, usize) {
        let n = self.sizes.len();
        let mut b = 0;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = b + step;
            if next <= n && self.sizes[next - 1] <= pos {
                pos -= self.sizes[next - 1];
                b = next;
            }
            step /= 2;
        }
        (b, pos)
    }

    /// Keys in blocks `0..b`.
    fn prefix(&self, b: usize) -> usize {
        let mut i = b;
        let mut sum = 0;
        while i > 0 {
            sum += self.sizes[i - 1];
            i &= i - 1;
        }
        sum
    }

    fn add_size(&mut self, b: usize, d: usize) {
        let mut i = b + 1;
        while i <= self.sizes.len() {
            self.sizes[i - 1] += d;
            i += i & i.wrapping_neg();
        }
    }

    fn sub_size(&mut self, b: usize, d: usize) {
        let mut i = b + 1;
        while i <= self.sizes.len() {
            self.sizes[i - 1] -= d;
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild_sizes(&mut self) {
        let n = self.blocks.len();
        self.sizes = self.blocks.iter().map(Vec::len).collect();
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.sizes[parent - 1] += self.sizes[i - 1];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic xorshift, so a failure replays.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn agrees_with_a_sorted_vec_under_random_edits() {
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let mut index = RankIndex::default();
        let mut model: Vec<u32> = Vec::new();
        for step in 0..60_000u32 {
            let k = (next() % 5_000) as u32;
            if next().is_multiple_of(3) {
                let was = model.binary_search(&k).map(|i| model.remove(i)).is_ok();
                assert_eq!(index.remove(&k), was);
            } else {
                let fresh = match model.binary_search(&k) {
                    Ok(_) => false,
                    Err(i) => {
                        model.insert(i, k);
                        true
                    }
                };
                assert_eq!(index.insert(k), fresh);
            }
            assert_eq!(index.len(), model.len());
            if step.is_multiple_of(97) {
                let probe = (next() % 5_000) as u32;
                assert_eq!(index.rank(&probe), model.binary_search(&probe).ok());
                let start = (next() % (model.len() as u64 + 3)) as usize;
                let got: Vec<u32> = index.range(start, 7).copied().collect();
                let want: Vec<u32> = model.iter().skip(start).take(7).copied().collect();
                assert_eq!(got, want, "range({start}, 7)");
            }
        }
    }

    #[test]
    fn bulk_build_matches_inserts_and_spans_blocks() {
        let keys: Vec<u64> = (0..10_000).rev().map(|i| i * 3).collect();
        let index = RankIndex::from_unsorted(keys);
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.rank(&0), Some(0));
        assert_eq!(index.rank(&(9_999 * 3)), Some(9_999));
        assert_eq!(index.rank(&1), None);
        let around: Vec<u64> = index.range(LOAD - 2, 5).copied().collect();
        assert_eq!(
            around,
            (LOAD as u64 - 2..LOAD as u64 + 3)
                .map(|i| i * 3)
                .collect::<Vec<_>>()
        );
        assert_eq!(index.range(9_998, 10).count(), 2);
        assert_eq!(index.range(20_000, 10).count(), 0);
    }
}
