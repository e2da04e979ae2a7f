//! [`Chain`]: the sans-IO block tree with fork choice by most work (SPEC §6).
//!
//! The chain keeps every valid block whose parent it knows, side branches
//! included, and a bounded pool of orphans (blocks whose parent is unknown).
//! [`Chain::accept`] takes a block and the caller's clock and says what
//! happened; it never reads a clock, a file or a socket, and it changes
//! nothing when it rejects a block.
//!
//! # Persistence
//! The chain does no I/O. A node persists the blocks listed in
//! [`Accepted::stored`] (in that order) and, on restart, rebuilds the tree with
//! [`Chain::insert_trusted`] in the same order. Trusted loading skips
//! re-hashing (the `hash` field and the proof of work are believed, since the
//! node checked them before writing), but still checks the links, heights and
//! difficulties, so a store from another network is refused. Replaying blocks
//! in their original acceptance order reproduces the same best tip, ties
//! included (first seen wins).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use crate::block::Block;
use crate::difficulty::{MEDIAN_SPAN, is_retarget_height, median_time_past, retarget};
use crate::hash::BlockHash;
use crate::header::Header;
use crate::params::{Params, genesis};
use crate::pow::{Template, meets_difficulty, work};
use crate::validation::{BlockError, NextRules, check_in_context, check_standalone};

/// How many orphans the chain keeps at most; the oldest is dropped first.
pub const MAX_ORPHANS: usize = 256;

/// Marks "no parent" (genesis).
const NO_PARENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    block: Block,
    parent: u32,
    /// Sum of the work of this block and all its ancestors, genesis included.
    chain_work: u128,
}

/// What happened to the block offered to [`Chain::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It extended the best chain (it, or an orphan it connected, is the new tip).
    NewTip,
    /// The best chain switched to its branch: blocks were disconnected.
    Reorg,
    /// Stored on a side branch with no more work than the best chain.
    Side,
    /// Already known (stored, or already waiting in the orphan pool).
    Duplicate,
    /// Its parent is unknown: kept in the orphan pool.
    Orphan,
}

impl Status {
    /// The name used by `POST /mined`: `accepted`, `reorg`, `side`, `duplicate`, `orphan`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::NewTip => "accepted",
            Status::Reorg => "reorg",
            Status::Side => "side",
            Status::Duplicate => "duplicate",
            Status::Orphan => "orphan",
        }
    }
}

/// The full answer of [`Chain::accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// What happened to the offered block.
    pub status: Status,
    /// Blocks newly stored in the tree, parents before children: the offered
    /// block and any orphans it connected. A node persists these.
    pub stored: Vec<BlockHash>,
    /// Blocks that left the best chain, old tip first (empty unless `Reorg`).
    pub disconnected: Vec<BlockHash>,
    /// Blocks that joined the best chain, lowest first.
    pub connected: Vec<BlockHash>,
}

impl Accepted {
    fn unchanged(status: Status) -> Accepted {
        Accepted {
            status,
            stored: Vec::new(),
            disconnected: Vec::new(),
            connected: Vec::new(),
        }
    }

    /// Whether the best chain changed.
    pub fn tip_changed(&self) -> bool {
        !self.connected.is_empty()
    }
}

/// Why [`Chain::insert_trusted`] refused a stored block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The stored block's parent was not loaded before it.
    #[error("stored block {0} comes before its parent")]
    UnknownParent(BlockHash),
    /// The stored block breaks a rule that does not need re-hashing.
    #[error("stored block {hash} is invalid here: {reason}")]
    Invalid {
        /// The block.
        hash: BlockHash,
        /// The rule it breaks.
        reason: BlockError,
    },
}

/// A block to mine next: the header (nonce 0) and the data it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The header, with `nonce` 0.
    pub header: Header,
    /// The block's data.
    pub data: String,
}

impl Candidate {
    /// The midstate template for [`crate::pow::mine_round`].
    pub fn template(&self) -> Template {
        Template::new(&self.header)
    }

    /// The block with `nonce` filled in (and its hash).
    pub fn block(&self, nonce: u64) -> Block {
        Block::new(
            self.header.index,
            self.header.timestamp_ms,
            self.data.clone(),
            self.header.prev_hash,
            self.header.difficulty,
            nonce,
        )
    }
}

/// Blocks whose parent is unknown, bounded to [`MAX_ORPHANS`].
#[derive(Debug, Clone, Default)]
struct OrphanPool {
    by_parent: BTreeMap<BlockHash, Vec<Block>>,
    hashes: BTreeSet<BlockHash>,
    /// Insertion order, for evicting the oldest: (parent, hash).
    order: VecDeque<(BlockHash, BlockHash)>,
}

impl OrphanPool {
    fn contains(&self, hash: &BlockHash) -> bool {
        self.hashes.contains(hash)
    }

    fn insert(&mut self, block: Block) {
        while self.order.len() >= MAX_ORPHANS {
            let Some((parent, hash)) = self.order.pop_front() else {
                break;
            };
            self.remove(&parent, &hash);
        }
        self.hashes.insert(block.hash);
        self.order.push_back((block.prev_hash, block.hash));
        self.by_parent
            .entry(block.prev_hash)
            .or_default()
            .push(block);
    }

    fn remove(&mut self, parent: &BlockHash, hash: &BlockHash) {
        if let Some(children) = self.by_parent.get_mut(parent) {
            children.retain(|b| b.hash != *hash);
            if children.is_empty() {
                self.by_parent.remove(parent);
            }
        }
        self.hashes.remove(hash);
    }

    /// Drops one orphan, if it is in the pool.
    fn forget(&mut self, parent: &BlockHash, hash: &BlockHash) {
        if self.contains(hash) {
            self.remove(parent, hash);
            self.order.retain(|(_, h)| h != hash);
        }
    }

    /// Removes and returns the orphans whose parent is `parent`.
    fn take_children(&mut self, parent: &BlockHash) -> Vec<Block> {
        let children = self.by_parent.remove(parent).unwrap_or_default();
        for child in &children {
            self.hashes.remove(&child.hash);
        }
        self.order.retain(|(p, _)| p != parent);
        children
    }
}

/// The block tree of one network, with its best chain.
#[derive(Debug, Clone)]
pub struct Chain {
    params: Params,
    nodes: Vec<Node>,
    by_hash: BTreeMap<BlockHash, u32>,
    /// Node ids of the best chain, by height.
    best: Vec<u32>,
    orphans: OrphanPool,
}

impl Chain {
    /// A chain holding only the genesis block of `params`.
    pub fn new(params: Params) -> Chain {
        let genesis = genesis(&params);
        let mut by_hash = BTreeMap::new();
        by_hash.insert(genesis.hash, 0);
        let chain_work = work(genesis.difficulty);
        Chain {
            params,
            nodes: alloc::vec![Node {
                block: genesis,
                parent: NO_PARENT,
                chain_work,
            }],
            by_hash,
            best: alloc::vec![0],
            orphans: OrphanPool::default(),
        }
    }

    /// The network's params.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The genesis block.
    pub fn genesis(&self) -> &Block {
        &self.nodes[0].block
    }

    fn tip_id(&self) -> u32 {
        *self.best.last().unwrap_or(&0)
    }

    /// The tip of the best chain.
    pub fn tip(&self) -> &Block {
        &self.nodes[self.tip_id() as usize].block
    }

    /// Height of the best tip (genesis is 0).
    pub fn height(&self) -> u64 {
        self.tip().index
    }

    /// Total work of the best chain, genesis included.
    pub fn best_work(&self) -> u128 {
        self.nodes[self.tip_id() as usize].chain_work
    }

    /// Total work of the chain ending at `hash`, if stored.
    pub fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        self.id(hash).map(|id| self.nodes[id as usize].chain_work)
    }

    fn id(&self, hash: &BlockHash) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    /// Any stored block, best chain or side branch.
    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.id(hash).map(|id| &self.nodes[id as usize].block)
    }

    /// Whether `hash` is stored (orphans are not).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Whether `hash` is waiting in the orphan pool.
    pub fn is_orphan(&self, hash: &BlockHash) -> bool {
        self.orphans.contains(hash)
    }

    /// Number of orphans waiting for their parent.
    pub fn orphan_count(&self) -> usize {
        self.orphans.hashes.len()
    }

    /// Whether `hash` is on the best chain.
    pub fn is_best(&self, hash: &BlockHash) -> bool {
        self.id(hash).is_some_and(|id| self.on_best(id))
    }

    fn on_best(&self, id: u32) -> bool {
        let height = self.nodes[id as usize].block.index as usize;
        self.best.get(height) == Some(&id)
    }

    /// The best-chain block at `height`.
    pub fn block_at(&self, height: u64) -> Option<&Block> {
        let id = *self.best.get(usize::try_from(height).ok()?)?;
        Some(&self.nodes[id as usize].block)
    }

    /// The best chain, genesis first.
    pub fn best_chain(&self) -> impl DoubleEndedIterator<Item = &Block> + ExactSizeIterator {
        self.best.iter().map(|&id| &self.nodes[id as usize].block)
    }

    /// At most `limit` best-chain blocks from height `from`.
    pub fn blocks_from(&self, from: u64, limit: usize) -> impl Iterator<Item = &Block> {
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.best.len());
        self.best[start..]
            .iter()
            .take(limit)
            .map(|&id| &self.nodes[id as usize].block)
    }

    /// Every stored block in the order it was stored (genesis first): parents
    /// always before children. Replaying this order through
    /// [`Chain::insert_trusted`] rebuilds the same tree and best tip.
    pub fn all_blocks(&self) -> impl ExactSizeIterator<Item = &Block> {
        self.nodes.iter().map(|n| &n.block)
    }

    /// Number of stored blocks, side branches included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a chain holds at least genesis.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ancestor of `id` at `height` (which must be ≤ the height of `id`).
    fn ancestor(&self, mut id: u32, height: u64) -> u32 {
        loop {
            if self.on_best(id) {
                return self.best[height as usize];
            }
            let node = &self.nodes[id as usize];
            if node.block.index == height {
                return id;
            }
            id = node.parent;
        }
    }

    fn next_rules_for(&self, parent_id: u32) -> NextRules {
        let parent = &self.nodes[parent_id as usize];
        let height = parent.block.index + 1;
        let difficulty = if is_retarget_height(&self.params, height) {
            let start = self.ancestor(parent_id, height - 1 - self.params.retarget_window);
            retarget(
                &self.params,
                parent.block.difficulty,
                self.nodes[start as usize].block.timestamp_ms,
                parent.block.timestamp_ms,
            )
        } else {
            parent.block.difficulty
        };
        let mut timestamps = [0u64; MEDIAN_SPAN];
        let mut len = 0;
        let mut id = parent_id;
        while id != NO_PARENT && len < MEDIAN_SPAN {
            let node = &self.nodes[id as usize];
            timestamps[len] = node.block.timestamp_ms;
            len += 1;
            id = node.parent;
        }
        NextRules {
            index: height,
            prev_hash: parent.block.hash,
            difficulty,
            min_timestamp_ms: median_time_past(timestamps[..len].iter().copied()).saturating_add(1),
        }
    }

    /// What a child of `parent` must look like, if `parent` is stored.
    pub fn next_rules_after(&self, parent: &BlockHash) -> Option<NextRules> {
        self.id(parent).map(|id| self.next_rules_for(id))
    }

    /// What the next block on the best tip must look like.
    pub fn next_rules(&self) -> NextRules {
        self.next_rules_for(self.tip_id())
    }

    /// The block a miner should mine next on the best tip: the right index,
    /// parent and difficulty, and a timestamp of `now_ms` raised to the
    /// median time past + 1 when the clock is behind.
    pub fn next_template(&self, data: String, now_ms: u64) -> Candidate {
        let next = self.next_rules();
        Candidate {
            header: Header {
                index: next.index,
                timestamp_ms: now_ms.max(next.min_timestamp_ms),
                difficulty: next.difficulty,
                prev_hash: next.prev_hash,
                data_hash: BlockHash::sha256(data.as_bytes()),
                nonce: 0,
            },
            data,
        }
    }

    /// Offers `block` at local time `now_ms` (milliseconds since the epoch).
    ///
    /// Checks SPEC §5 in order; on any error nothing changes. A valid block is
    /// stored; if its branch now has strictly more work than the best chain,
    /// the best chain moves to it (first seen wins ties). A block whose parent
    /// is unknown goes to the orphan pool, after the checks that need no
    /// parent (data size, hash, and proof of work against its own difficulty
    /// within the params' bounds), so the pool holds no cheap garbage.
    /// Orphans whose parent arrives are connected in the same call; an orphan
    /// that turns out invalid is dropped.
    pub fn accept(&mut self, block: Block, now_ms: u64) -> Result<Accepted, BlockError> {
        check_standalone(&block)?;
        if self.contains(&block.hash) || self.orphans.contains(&block.hash) {
            return Ok(Accepted::unchanged(Status::Duplicate));
        }
        let Some(parent_id) = self.id(&block.prev_hash) else {
            if block.index == 0 {
                // Genesis is derived from the params, never received: an
                // index-0 block that is not ours belongs to another network.
                return Err(BlockError::BadIndex);
            }
            if block.difficulty < self.params.min_difficulty
                || block.difficulty > self.params.max_difficulty
            {
                return Err(BlockError::BadDifficulty);
            }
            if !meets_difficulty(&block.hash, block.difficulty) {
                return Err(BlockError::BadPow);
            }
            self.orphans.insert(block);
            return Ok(Accepted::unchanged(Status::Orphan));
        };
        check_in_context(&block, &self.next_rules_for(parent_id), now_ms)?;

        let old_tip = self.tip_id();
        let first = self.store(block, parent_id);
        let mut stored = alloc::vec![first];
        // Connect waiting orphans, breadth first.
        let mut queue = VecDeque::from([first]);
        while let Some(id) = queue.pop_front() {
            let hash = self.nodes[id as usize].block.hash;
            for child in self.orphans.take_children(&hash) {
                let rules = self.next_rules_for(id);
                if check_in_context(&child, &rules, now_ms).is_ok() {
                    let child_id = self.store(child, id);
                    stored.push(child_id);
                    queue.push_back(child_id);
                }
            }
        }
        let mut best_new = old_tip;
        for &id in &stored {
            if self.nodes[id as usize].chain_work > self.nodes[best_new as usize].chain_work {
                best_new = id;
            }
        }
        let (disconnected, connected) = if best_new == old_tip {
            (Vec::new(), Vec::new())
        } else {
            self.set_best(best_new)
        };
        let status = if connected.is_empty() {
            Status::Side
        } else if disconnected.is_empty() {
            Status::NewTip
        } else {
            Status::Reorg
        };
        Ok(Accepted {
            status,
            stored: stored
                .iter()
                .map(|&id| self.nodes[id as usize].block.hash)
                .collect(),
            disconnected,
            connected,
        })
    }

    /// Adds a block previously stored by this program, trusting its `hash`
    /// field and proof of work (no SHA-256 is computed). Links, index and
    /// difficulty are still checked; blocks must come parents first, ideally
    /// in their original acceptance order (see [`Chain::all_blocks`]).
    pub fn insert_trusted(&mut self, block: Block) -> Result<Accepted, LoadError> {
        if self.contains(&block.hash) {
            return Ok(Accepted::unchanged(Status::Duplicate));
        }
        let parent_id = self
            .id(&block.prev_hash)
            .ok_or(LoadError::UnknownParent(block.hash))?;
        let rules = self.next_rules_for(parent_id);
        let invalid = |reason| LoadError::Invalid {
            hash: block.hash,
            reason,
        };
        if block.index != rules.index {
            return Err(invalid(BlockError::BadIndex));
        }
        if block.difficulty != rules.difficulty {
            return Err(invalid(BlockError::BadDifficulty));
        }
        if block.timestamp_ms < rules.min_timestamp_ms {
            return Err(invalid(BlockError::TimestampTooOld));
        }
        let old_tip = self.tip_id();
        let hash = block.hash;
        // A block waiting in the orphan pool is not an orphan any more.
        self.orphans.forget(&block.prev_hash, &hash);
        let id = self.store(block, parent_id);
        let (disconnected, connected) =
            if self.nodes[id as usize].chain_work > self.nodes[old_tip as usize].chain_work {
                self.set_best(id)
            } else {
                (Vec::new(), Vec::new())
            };
        let status = match (connected.is_empty(), disconnected.is_empty()) {
            (true, _) => Status::Side,
            (false, true) => Status::NewTip,
            (false, false) => Status::Reorg,
        };
        Ok(Accepted {
            status,
            stored: alloc::vec![hash],
            disconnected,
            connected,
        })
    }

    fn store(&mut self, block: Block, parent_id: u32) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 blocks");
        let chain_work = self.nodes[parent_id as usize].chain_work + work(block.difficulty);
        self.by_hash.insert(block.hash, id);
        self.nodes.push(Node {
            block,
            parent: parent_id,
            chain_work,
        });
        id
    }

    /// Makes `new_tip` the best tip; returns (disconnected old-tip-first,
    /// connected lowest-first). Every stored block is already valid in its
    /// branch, so the switch cannot fail halfway.
    fn set_best(&mut self, new_tip: u32) -> (Vec<BlockHash>, Vec<BlockHash>) {
        let mut path = Vec::new();
        let mut id = new_tip;
        while !self.on_best(id) {
            path.push(id);
            id = self.nodes[id as usize].parent;
        }
        let fork_height = self.nodes[id as usize].block.index as usize;
        let disconnected = self.best[fork_height + 1..]
            .iter()
            .rev()
            .map(|&id| self.nodes[id as usize].block.hash)
            .collect();
        self.best.truncate(fork_height + 1);
        path.reverse();
        self.best.extend_from_slice(&path);
        let connected = path
            .iter()
            .map(|&id| self.nodes[id as usize].block.hash)
            .collect();
        (disconnected, connected)
    }
}
