//! [`Chain`]: the sans-IO block tree with fork choice by most work (PROTOCOL.md §6)
//! and the storage policy of PROTOCOL.md §6.1.
//!
//! The chain *stores* (keeps in its tree, for the node to persist) only
//! blocks whose branch has at least the work of the best chain: a valid
//! block that extends the best chain, ties it (`Side`), or completes a
//! heavier branch. Everything else that is plausible waits in a bounded
//! memory [`Pool`]: orphans (parent unknown) and `Ignored` blocks (valid,
//! but too light). When a later block gives a pooled branch at least the
//! best chain's work, the branch is checked and stored whole, so a heavier
//! branch offered block by block still wins, whichever order it comes in.
//! [`Chain::accept`] takes a block and the caller's clock and says what
//! happened; it never reads a clock, a file or a socket, and it changes
//! nothing when it rejects a block. Blocks a node asked for itself (sync,
//! after checking that the branch has the work) go through
//! [`Chain::accept_requested`].
//!
//! # Persistence
//! The chain does no I/O. A node persists the blocks listed in
//! [`Accepted::stored`] (in that order) and, on restart, rebuilds the tree with
//! [`Chain::insert_trusted`] in the same order. Trusted loading skips
//! re-hashing (the `hash` field and the proof of work are believed, since the
//! node checked them before writing), but still checks the links, heights,
//! difficulties and timestamps ([`check_linkage`]), so a store from another
//! network is refused. Replaying blocks in their original acceptance order
//! reproduces the same best tip, ties included (first seen wins). The pool
//! is never persisted.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::hash::BlockHash;
use crate::header::Header;
use crate::params::{Params, genesis};
use crate::pool::{Age, Pool};
use crate::pow::{Template, meets_difficulty, work};
use crate::validation::{
    BlockError, NextRules, check_in_context, check_linkage, check_standalone, next_rules,
};

/// How far above the best height an orphan may be to wait in the pool
/// (PROTOCOL.md §6.1: index at most best height + 288).
pub const ORPHAN_HORIZON: u64 = 288;

/// How many bits below the best tip's next difficulty a block may be and
/// still wait in the pool (PROTOCOL.md §6.1: at least next difficulty − 2). A
/// pooled block costs at least a quarter of a block on the best tip.
pub const POOL_DIFFICULTY_SLACK: u32 = 2;

/// Marks "no parent" (genesis).
const NO_PARENT: u32 = u32::MAX;

/// A block in the tree.
#[derive(Debug, Clone)]
struct Stored {
    /// Shared: cloning a stored block for a driver copies no body.
    block: Arc<Block>,
    parent: u32,
    /// Sum of the work of this block and all its ancestors, genesis included.
    chain_work: u128,
}

/// What happened to the block offered to [`Chain::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It extended the best chain (it, or a pooled block it connected, is the new tip).
    NewTip,
    /// The best chain switched to its branch: blocks were disconnected.
    Reorg,
    /// Stored on a side branch with exactly the work of the best chain.
    Side,
    /// Already stored.
    Duplicate,
    /// Its parent is unknown: it waits in the memory pool (not stored).
    Orphan,
    /// Valid or plausible, but its branch has less work than the best chain
    /// (PROTOCOL.md §6.1): not stored; it may wait in the memory pool.
    Ignored,
}

impl Status {
    /// The name used by `POST /mined`: `accepted`, `reorg`, `side`,
    /// `duplicate`, `orphan`, `ignored`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::NewTip => "accepted",
            Status::Reorg => "reorg",
            Status::Side => "side",
            Status::Duplicate => "duplicate",
            Status::Orphan => "orphan",
            Status::Ignored => "ignored",
        }
    }

    /// Whether the block is stored (and so must be durable before a node
    /// acknowledges it): `accepted`, `reorg`, `side`, `duplicate`.
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            Status::NewTip | Status::Reorg | Status::Side | Status::Duplicate
        )
    }
}

/// The full answer of [`Chain::accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// What happened to the offered block.
    pub status: Status,
    /// Blocks newly stored in the tree, parents before children: the offered
    /// block and any pooled blocks it connected. A node persists these.
    pub stored: Vec<BlockHash>,
    /// Blocks that left the best chain, old tip first (empty unless `Reorg`).
    /// They stay stored.
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

/// What [`Chain::connect_pooled`] did.
struct Connected {
    /// Ids of the blocks it stored, parents first.
    stored: Vec<u32>,
    /// The offered block, when it turned out too light to store.
    light: Option<Arc<Block>>,
    /// Why the watched pooled block is invalid in its branch, if it is.
    offered_error: Option<BlockError>,
}

/// The block tree of one network, with its best chain and its memory pool.
#[derive(Debug, Clone)]
pub struct Chain {
    params: Params,
    nodes: Vec<Stored>,
    by_hash: BTreeMap<BlockHash, u32>,
    /// Ids of the best chain, by height.
    best: Vec<u32>,
    /// The rules of a child of the best tip, kept as the tip moves: every
    /// block offered on the tip, every template and the pool floor need them.
    tip_rules: NextRules,
    pool: Pool,
}

impl Chain {
    /// A chain holding only the genesis block of `params`.
    pub fn new(params: Params) -> Chain {
        let genesis = genesis(&params);
        let mut by_hash = BTreeMap::new();
        by_hash.insert(genesis.hash, 0);
        let chain_work = work(genesis.difficulty);
        // A placeholder, derived from the tree below.
        let tip_rules = NextRules::new(1, genesis.hash, genesis.difficulty, genesis.timestamp_ms);
        let mut chain = Chain {
            params,
            nodes: alloc::vec![Stored {
                block: Arc::new(genesis),
                parent: NO_PARENT,
                chain_work,
            }],
            by_hash,
            best: alloc::vec![0],
            tip_rules,
            pool: Pool::default(),
        };
        chain.tip_rules = chain.derive_next_rules(0);
        chain
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
        self.id(hash).map(|id| &*self.nodes[id as usize].block)
    }

    /// Any stored block, shared: a clone of the `Arc` is how a block is
    /// handed on (to a store, to peers) without copying it.
    pub fn shared_block(&self, hash: &BlockHash) -> Option<&Arc<Block>> {
        self.id(hash).map(|id| &self.nodes[id as usize].block)
    }

    /// Whether `hash` is stored (pooled blocks are not).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Whether `hash` waits in the memory pool (an orphan or an ignored block).
    pub fn is_pooled(&self, hash: &BlockHash) -> bool {
        self.pool.contains(hash)
    }

    /// Number of blocks waiting in the memory pool (at most
    /// [`MAX_POOLED`](crate::pool::MAX_POOLED)).
    pub fn pooled_count(&self) -> usize {
        self.pool.len()
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

    /// The ancestor-or-self at `height` of the stored block `hash`, on
    /// whatever branch `hash` is.
    pub fn ancestor_at(&self, hash: &BlockHash, height: u64) -> Option<&Block> {
        let id = self.id(hash)?;
        (height <= self.nodes[id as usize].block.index)
            .then(|| &*self.nodes[self.ancestor(id, height) as usize].block)
    }

    /// The best chain, genesis first.
    pub fn best_chain(&self) -> impl DoubleEndedIterator<Item = &Block> + ExactSizeIterator {
        self.best.iter().map(|&id| &*self.nodes[id as usize].block)
    }

    /// The best chain's blocks as their shared handles (cloning one copies
    /// no body), genesis first.
    pub fn best_chain_shared(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Arc<Block>> + ExactSizeIterator {
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
            .map(|&id| &*self.nodes[id as usize].block)
    }

    /// Every stored block in the order it was stored (genesis first): parents
    /// always before children. Replaying this order through
    /// [`Chain::insert_trusted`] rebuilds the same tree and best tip.
    pub fn all_blocks(&self) -> impl ExactSizeIterator<Item = &Block> {
        self.nodes.iter().map(|n| &*n.block)
    }

    /// Number of stored blocks, side branches included (genesis counts).
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
        if parent_id == self.tip_id() {
            debug_assert_eq!(self.tip_rules, self.derive_next_rules(parent_id));
            return self.tip_rules;
        }
        self.derive_next_rules(parent_id)
    }

    fn derive_next_rules(&self, parent_id: u32) -> NextRules {
        next_rules(
            &self.params,
            &self.nodes[parent_id as usize].block,
            |height| {
                self.nodes[self.ancestor(parent_id, height) as usize]
                    .block
                    .timestamp_ms
            },
        )
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

    /// The lowest difficulty a block may have to wait in the pool: the best
    /// tip's next difficulty − [`POOL_DIFFICULTY_SLACK`].
    pub fn pool_difficulty_floor(&self) -> u32 {
        self.next_rules()
            .difficulty
            .saturating_sub(POOL_DIFFICULTY_SLACK)
            .max(self.params.min_difficulty)
    }

    /// Whether a block that is not stored may wait in the pool (PROTOCOL.md §6.1):
    /// difficulty at least [`Chain::pool_difficulty_floor`], index at most
    /// the best height + [`ORPHAN_HORIZON`].
    fn may_pool(&self, block: &Block) -> bool {
        block.difficulty >= self.pool_difficulty_floor()
            && block.index <= self.height().saturating_add(ORPHAN_HORIZON)
    }

    /// The status of a pooled block: `Ignored` when its pooled branch hangs
    /// from a stored block, `Orphan` when an ancestor is still unknown.
    fn pooled_status(&self, hash: &BlockHash) -> Status {
        match self
            .pool
            .root_of(hash)
            .and_then(|r| self.pool.parent_of(&r))
        {
            Some(parent) if self.contains(&parent) => Status::Ignored,
            _ => Status::Orphan,
        }
    }

    /// Offers an unrequested block (`POST /mined`, a relay, this node's
    /// miner) at local time `now_ms` (milliseconds since the epoch).
    ///
    /// Checks PROTOCOL.md §5 in order; on any error nothing is stored. Then
    /// PROTOCOL.md §6.1 decides:
    /// - parent stored: the block is stored if its branch has at least the
    ///   best chain's work (alone or with pooled descendants it connects);
    ///   the best chain moves to the branch with strictly more work (first
    ///   seen wins ties). Otherwise it is `Ignored` (and pooled if plausible).
    /// - parent unknown: after the checks that need no parent (data size,
    ///   hash, difficulty within the params' bounds, proof of work against
    ///   its own difficulty), a plausible block (difficulty at least the
    ///   tip's next − 2, index at most best height + 288) waits in the pool
    ///   as an `Orphan`; an implausible one is `Ignored` and dropped.
    /// - parent pooled: it joins the pooled branch; when the branch hangs
    ///   from a stored block it is checked whole and stored if it now has
    ///   the work (or the block is `Ignored`, or rejected if it breaks a
    ///   rule in that branch).
    pub fn accept(
        &mut self,
        block: impl Into<Arc<Block>>,
        now_ms: u64,
    ) -> Result<Accepted, BlockError> {
        self.offer(block.into(), now_ms, false)
    }

    /// Offers a block this node requested (sync), whose branch the caller
    /// has already shown to have more work than the best chain: a valid
    /// block whose parent is stored is stored whatever its own chain work.
    /// A block whose parent is not stored is offered as by [`Chain::accept`].
    pub fn accept_requested(
        &mut self,
        block: impl Into<Arc<Block>>,
        now_ms: u64,
    ) -> Result<Accepted, BlockError> {
        self.offer(block.into(), now_ms, true)
    }

    fn offer(
        &mut self,
        block: Arc<Block>,
        now_ms: u64,
        requested: bool,
    ) -> Result<Accepted, BlockError> {
        check_standalone(&block)?;
        if self.contains(&block.hash) {
            return Ok(Accepted::unchanged(Status::Duplicate));
        }
        if self.pool.contains(&block.hash) {
            return Ok(Accepted::unchanged(self.pooled_status(&block.hash)));
        }
        if let Some(parent_id) = self.id(&block.prev_hash) {
            check_in_context(&block, &self.next_rules_for(parent_id), now_ms)?;
            let plausible = self.may_pool(&block);
            let connected = self.connect_pooled(parent_id, Some(block), requested, None, now_ms);
            if let Some(light) = connected.light {
                if plausible {
                    self.pool.insert(light);
                }
                return Ok(Accepted::unchanged(Status::Ignored));
            }
            return Ok(self.settle(connected.stored));
        }
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
        if !self.may_pool(&block) {
            return Ok(Accepted::unchanged(Status::Ignored));
        }
        let hash = block.hash;
        // The block its pooled ancestors hang from, if the parent is pooled.
        let hanging_from = self
            .pool
            .root_of(&block.prev_hash)
            .and_then(|root| self.pool.parent_of(&root))
            .and_then(|parent| self.id(&parent));
        let Some(stored_parent) = hanging_from else {
            // An ancestor is unknown: wait for it.
            self.pool.insert(block);
            return Ok(Accepted::unchanged(Status::Orphan));
        };
        // Its pooled branch hangs from a stored block: check the branch with
        // it. It takes a pool slot only once it is known valid (an invalid
        // block must not push another out).
        self.pool.insert_unchecked(block);
        let connected = self.connect_pooled(stored_parent, None, false, Some(hash), now_ms);
        self.pool.trim();
        if let Some(error) = connected.offered_error
            && connected.stored.is_empty()
        {
            // It broke a rule of its branch and was dropped from the pool;
            // nothing was stored.
            return Err(error);
        }
        if !self.contains(&hash) {
            return Ok(Accepted::unchanged(self.pooled_status(&hash)));
        }
        Ok(self.settle(connected.stored))
    }

    /// Tentatively stores `first` (a checked child of `parent_id`), or the
    /// pooled children of `parent_id`, and every pooled descendant valid in
    /// its branch; keeps the blocks whose branch reaches at least the best
    /// chain's work (`first` always when `keep_first`) and returns the others
    /// to the pool. Pooled blocks that break a rule are dropped; if one of
    /// them is `watch`, its error is reported.
    fn connect_pooled(
        &mut self,
        parent_id: u32,
        first: Option<Arc<Block>>,
        keep_first: bool,
        watch: Option<BlockHash>,
        now_ms: u64,
    ) -> Connected {
        let best_work = self.best_work();
        let mark = self.nodes.len();
        // Tentative blocks are appended at `mark..`; `ages[i]` is the pool
        // age of the block at `mark + i` (None for `first`).
        let mut ages: Vec<Option<Age>> = Vec::new();
        let mut queue = VecDeque::new();
        match first {
            Some(block) => {
                queue.push_back(self.store(block, parent_id));
                ages.push(None);
            }
            None => queue.push_back(parent_id),
        }
        let mut offered_error = None;
        while let Some(id) = queue.pop_front() {
            let hash = self.nodes[id as usize].block.hash;
            let children = self.pool.take_children(&hash);
            if children.is_empty() {
                continue;
            }
            let rules = self.next_rules_for(id);
            for (child, age) in children {
                match check_in_context(&child, &rules, now_ms) {
                    Ok(()) => {
                        queue.push_back(self.store(child, id));
                        ages.push(Some(age));
                    }
                    // Dropped: its own pooled children stay, as orphans.
                    Err(e) if watch == Some(child.hash) => offered_error = Some(e),
                    Err(_) => {}
                }
            }
        }

        // The most work reachable in each tentative block's subtree.
        let count = ages.len();
        let mut reach: Vec<u128> = (mark..mark + count)
            .map(|id| self.nodes[id].chain_work)
            .collect();
        for i in (0..count).rev() {
            let parent = self.nodes[mark + i].parent as usize;
            if parent >= mark {
                reach[parent - mark] = reach[parent - mark].max(reach[i]);
            }
        }
        let keep: Vec<bool> = (0..count)
            .map(|i| reach[i] >= best_work || (keep_first && ages[i].is_none()))
            .collect();
        let mut light = None;
        let stored = if keep.iter().all(|k| *k) {
            (mark..mark + count).map(|id| id as u32).collect()
        } else {
            // Rebuild the tentative part with the kept blocks only. A kept
            // block's parent is kept too (its reach is at least as high).
            let tentative = self.nodes.split_off(mark);
            for node in &tentative {
                self.by_hash.remove(&node.block.hash);
            }
            let mut new_ids = alloc::vec![NO_PARENT; count];
            let mut stored = Vec::new();
            for (i, node) in tentative.into_iter().enumerate() {
                if keep[i] {
                    let parent = node.parent as usize;
                    let parent = if parent >= mark {
                        new_ids[parent - mark]
                    } else {
                        node.parent
                    };
                    new_ids[i] = self.store(node.block, parent);
                    stored.push(new_ids[i]);
                } else {
                    match ages[i] {
                        Some(age) => self.pool.put_back(node.block, age),
                        None => light = Some(node.block),
                    }
                }
            }
            stored
        };
        Connected {
            stored,
            light,
            offered_error,
        }
    }

    /// Moves the best chain to the stored block with the most work among
    /// `stored` if it has strictly more than the best chain (first seen wins
    /// ties), and says what happened to the first of them.
    fn settle(&mut self, stored: Vec<u32>) -> Accepted {
        let old_tip = self.tip_id();
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
        let status = match (connected.is_empty(), disconnected.is_empty()) {
            (true, _) => Status::Side,
            (false, true) => Status::NewTip,
            (false, false) => Status::Reorg,
        };
        Accepted {
            status,
            stored: stored
                .iter()
                .map(|&id| self.nodes[id as usize].block.hash)
                .collect(),
            disconnected,
            connected,
        }
    }

    /// Adds a block previously stored by this program, trusting its `hash`
    /// field and proof of work (no SHA-256 is computed). Links, index,
    /// difficulty and timestamp are still checked ([`check_linkage`]);
    /// blocks must come parents first, ideally in their original acceptance
    /// order (see [`Chain::all_blocks`]).
    pub fn insert_trusted(&mut self, block: impl Into<Arc<Block>>) -> Result<Accepted, LoadError> {
        let block = block.into();
        if self.contains(&block.hash) {
            return Ok(Accepted::unchanged(Status::Duplicate));
        }
        let parent_id = self
            .id(&block.prev_hash)
            .ok_or(LoadError::UnknownParent(block.hash))?;
        check_linkage(&block, &self.next_rules_for(parent_id)).map_err(|reason| {
            LoadError::Invalid {
                hash: block.hash,
                reason,
            }
        })?;
        self.pool.remove(&block.hash);
        let id = self.store(block, parent_id);
        Ok(self.settle(alloc::vec![id]))
    }

    fn store(&mut self, block: Arc<Block>, parent_id: u32) -> u32 {
        let id = u32::try_from(self.nodes.len()).expect("fewer than 2^32 blocks");
        let chain_work = self.nodes[parent_id as usize].chain_work + work(block.difficulty);
        self.by_hash.insert(block.hash, id);
        self.nodes.push(Stored {
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
        self.tip_rules = self.derive_next_rules(new_tip);
        let connected = path
            .iter()
            .map(|&id| self.nodes[id as usize].block.hash)
            .collect();
        (disconnected, connected)
    }
}
