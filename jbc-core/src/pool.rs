//! [`Pool`]: blocks a chain holds in memory but does not store (PROTOCOL.md §6.1):
//! orphans (parent unknown) and `ignored` blocks (valid, but their branch has
//! less work than the best chain). Bounded to [`MAX_POOLED`] blocks; the
//! block that entered first leaves first.
//!
//! The pool is only a waiting room: nothing in it is on disk, and it never
//! decides anything. [`Chain`](crate::Chain) puts blocks in, takes the
//! children of a block out when it examines a branch, and puts back (with
//! their original age) the ones that still lack the work.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::hash::BlockHash;

/// Most blocks the pool holds (orphans and ignored blocks together). A
/// block's JSON is at most about 25 KiB and its data 4 KiB, so the pool
/// stays within a few MiB whatever is sent.
pub const MAX_POOLED: usize = 512;

/// A pooled block and its age.
#[derive(Debug, Clone)]
struct Entry {
    block: Arc<Block>,
    /// Insertion sequence number: the smallest is evicted first.
    seq: u64,
}

/// Blocks waiting in memory, indexed by parent.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// Pooled blocks by their parent's hash.
    by_parent: BTreeMap<BlockHash, Vec<Entry>>,
    /// Parent of each pooled block, by hash.
    parents: BTreeMap<BlockHash, BlockHash>,
    /// Age order: sequence number → hash.
    order: BTreeMap<u64, BlockHash>,
    next_seq: u64,
}

/// The age of a block taken out with [`Pool::take_children`], so that
/// [`Pool::put_back`] returns it to its place in the eviction order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(u64);

impl Pool {
    /// Number of pooled blocks.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.parents.contains_key(hash)
    }

    /// The parent of a pooled block.
    pub fn parent_of(&self, hash: &BlockHash) -> Option<BlockHash> {
        self.parents.get(hash).copied()
    }

    /// Adds a block as the youngest, evicting the oldest while full.
    /// A block already pooled is left as it is.
    pub fn insert(&mut self, block: Arc<Block>) {
        if self.contains(&block.hash) {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.put(Entry { block, seq });
    }

    /// Adds a block as the youngest without evicting anything, so that a
    /// block which may still turn out invalid costs no other block its
    /// place; the pool may exceed [`MAX_POOLED`] by this block until
    /// [`Pool::trim`].
    pub fn insert_unchecked(&mut self, block: Arc<Block>) {
        if self.contains(&block.hash) {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let (hash, parent) = (block.hash, block.prev_hash);
        self.parents.insert(hash, parent);
        self.order.insert(seq, hash);
        self.by_parent
            .entry(parent)
            .or_default()
            .push(Entry { block, seq });
    }

    /// Evicts the oldest blocks until the pool is within [`MAX_POOLED`].
    pub fn trim(&mut self) {
        while self.len() > MAX_POOLED {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
    }

    /// Puts back a block taken by [`Pool::take_children`], keeping its age.
    pub fn put_back(&mut self, block: Arc<Block>, age: Age) {
        if !self.contains(&block.hash) {
            self.put(Entry { block, seq: age.0 });
        }
    }

    fn put(&mut self, entry: Entry) {
        while self.len() >= MAX_POOLED {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let (hash, parent) = (entry.block.hash, entry.block.prev_hash);
        self.parents.insert(hash, parent);
        self.order.insert(entry.seq, hash);
        self.by_parent.entry(parent).or_default().push(entry);
    }

    /// Removes one block (if pooled) and returns it.
    pub fn remove(&mut self, hash: &BlockHash) -> Option<Arc<Block>> {
        let parent = self.parents.remove(hash)?;
        let children = self.by_parent.get_mut(&parent)?;
        let at = children.iter().position(|e| e.block.hash == *hash)?;
        let entry = children.swap_remove(at);
        if children.is_empty() {
            self.by_parent.remove(&parent);
        }
        self.order.remove(&entry.seq);
        Some(entry.block)
    }

    /// Removes and returns the pooled children of `parent`, oldest first.
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<(Arc<Block>, Age)> {
        let mut children = self.by_parent.remove(parent).unwrap_or_default();
        children.sort_by_key(|e| e.seq);
        children
            .into_iter()
            .map(|e| {
                self.parents.remove(&e.block.hash);
                self.order.remove(&e.seq);
                (e.block, Age(e.seq))
            })
            .collect()
    }

    /// The oldest pooled ancestor-or-self of `hash` reached through pooled
    /// parents: the root of its pooled branch. Its parent is not pooled
    /// (it is stored, or unknown).
    pub fn root_of(&self, hash: &BlockHash) -> Option<BlockHash> {
        let mut root = *hash;
        let mut parent = self.parent_of(hash)?;
        // Each step goes one pooled block up; the pool is finite and a
        // block cannot be its own ancestor (hashes commit to parents).
        for _ in 0..MAX_POOLED {
            match self.parent_of(&parent) {
                Some(grand) => {
                    root = parent;
                    parent = grand;
                }
                None => return Some(root),
            }
        }
        Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(index: u64, prev: BlockHash, tag: u64) -> Arc<Block> {
        Arc::new(Block::new(index, tag, "pool".into(), prev, 1, tag))
    }

    #[test]
    fn oldest_leaves_first_and_put_back_keeps_age() {
        let mut pool = Pool::default();
        let first = block(1, BlockHash::ZERO, 0);
        pool.insert(first.clone());
        let child = block(2, first.hash, 1);
        pool.insert(child.clone());
        assert_eq!(pool.root_of(&child.hash), Some(first.hash));
        let mut taken = pool.take_children(&BlockHash::ZERO);
        assert_eq!(taken.len(), 1);
        assert!(!pool.contains(&first.hash));
        let (taken_block, age) = taken.pop().unwrap();
        pool.put_back(taken_block, age);
        // Fill up: `first` is still the oldest and goes first.
        for tag in 2..MAX_POOLED as u64 + 1 {
            pool.insert(block(1, BlockHash::ZERO, tag));
        }
        assert_eq!(pool.len(), MAX_POOLED);
        assert!(!pool.contains(&first.hash));
        assert!(pool.contains(&child.hash));
        assert_eq!(pool.remove(&child.hash).map(|b| b.hash), Some(child.hash));
        assert_eq!(pool.len(), MAX_POOLED - 1);
    }
}
