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
//! # Bodies
//! [`Chain::new`] keeps every stored block whole (what the simulator, the
//! browser, tests and small embedders want: no store of their own).
//! [`Chain::headers_only`] keeps a [`StoredHeader`] per block — about 100
//! bytes, whatever the block's data — plus the last [`RECENT_BODIES`] bodies
//! it stored (what relaying the tip needs); the driver keeps the bodies. Either
//! way the chain decides from the whole block when one is offered (its data's
//! size and hash are checked then), and hands the bodies it stored to the
//! driver in [`Accepted::stored`].
//!
//! # Persistence
//! The chain does no I/O. A node persists the blocks listed in
//! [`Accepted::stored`] (in that order) and, on restart, rebuilds the tree with
//! [`Chain::insert_trusted`] (or, for a headers-only chain,
//! [`Chain::insert_trusted_header`]) in the same order. Trusted loading skips
//! re-hashing (the `hash` field and the proof of work are believed, since the
//! node checked them before writing), but still checks the links, heights,
//! difficulties and timestamps ([`check_linkage`]), so a store from another
//! network is refused. Replaying blocks in their original acceptance order
//! reproduces the same best tip, ties included (first seen wins). The pool
//! is never persisted.

mod accepted;
mod candidate;
mod offer;
mod stored;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::hash::BlockHash;
use crate::params::{Params, genesis};
use crate::pool::Pool;
use crate::pow::work;
#[cfg(doc)]
use crate::validation::check_linkage;
use crate::validation::{NextRules, next_rules};

pub use crate::block::StoredHeader;
pub use accepted::{Accepted, LoadError, Status};
pub use candidate::Candidate;
use stored::{Kept, PackedWork};

/// How far above the best height an orphan may be to wait in the pool
/// (PROTOCOL.md §6.1: index at most best height + 288).
pub const ORPHAN_HORIZON: u64 = 288;

/// How many bits below the best tip's next difficulty a block may be and
/// still wait in the pool (PROTOCOL.md §6.1: at least next difficulty − 2). A
/// pooled block costs at least a quarter of a block on the best tip.
pub const POOL_DIFFICULTY_SLACK: u32 = 2;

/// Marks "no parent" (genesis).
const NO_PARENT: u32 = u32::MAX;

/// How many of the last stored bodies a headers-only chain keeps: the tip
/// and its neighbourhood, so the state machine can relay a new tip (or the
/// tip a sync or a reorganisation reached) without asking its driver. 16
/// bodies of at most 4 KiB are at most 64 KiB.
pub const RECENT_BODIES: usize = 16;

/// A stored block's place in the tree (its header or body is in [`Kept`]
/// under the same id).
#[derive(Debug, Clone, Copy)]
struct Link {
    parent: u32,
    /// Sum of the work of this block and all its ancestors, genesis included.
    chain_work: PackedWork,
}

/// The block tree of one network, with its best chain and its memory pool.
#[derive(Debug, Clone)]
pub struct Chain {
    params: Params,
    /// Each stored block's header or body, by id (acceptance order).
    kept: Kept,
    /// Each stored block's parent and chain work, by id.
    links: Vec<Link>,
    by_hash: BTreeMap<BlockHash, u32>,
    /// Ids of the best chain, by height.
    best: Vec<u32>,
    /// The smallest id of a stored block at each height. A block's parent
    /// has a smaller id, so every block at height h or above has an id of at
    /// least `first_at[h]`: reads of the top of the tree start there.
    first_at: Vec<u32>,
    /// The rules of a child of the best tip, kept as the tip moves: every
    /// block offered on the tip, every template and the pool floor need them.
    tip_rules: NextRules,
    pool: Pool,
    /// A headers-only chain's last stored bodies, oldest first (at most
    /// [`RECENT_BODIES`]); empty for a chain that keeps bodies.
    recent: VecDeque<Arc<Block>>,
}

impl Chain {
    /// A chain holding only the genesis block of `params`, which keeps every
    /// stored block whole.
    pub fn new(params: Params) -> Chain {
        Chain::with_kept(params, Kept::Bodies(Vec::new()))
    }

    /// A chain holding only the genesis block of `params`, which keeps of
    /// each stored block its [`StoredHeader`] and of the bodies only the last
    /// [`RECENT_BODIES`]: a node's chain, whose memory grows with headers,
    /// not with bytes (the driver persists [`Accepted::stored`]).
    pub fn headers_only(params: Params) -> Chain {
        Chain::with_kept(params, Kept::Headers(Vec::new()))
    }

    fn with_kept(params: Params, mut kept: Kept) -> Chain {
        let genesis = Arc::new(genesis(&params));
        let mut by_hash = BTreeMap::new();
        by_hash.insert(genesis.hash, 0);
        kept.push(&genesis);
        let chain_work = work(genesis.difficulty);
        // A placeholder, derived from the tree below.
        let tip_rules = NextRules::new(1, genesis.hash, genesis.difficulty, genesis.timestamp_ms);
        let mut chain = Chain {
            params,
            kept,
            links: alloc::vec![Link {
                parent: NO_PARENT,
                chain_work: chain_work.into(),
            }],
            by_hash,
            best: alloc::vec![0],
            first_at: alloc::vec![0],
            tip_rules,
            pool: Pool::default(),
            recent: VecDeque::new(),
        };
        chain.remember_recent(&genesis);
        chain.tip_rules = chain.derive_next_rules(0);
        chain
    }

    /// Whether this chain keeps every stored block whole ([`Chain::new`])
    /// rather than headers only ([`Chain::headers_only`]).
    pub fn keeps_bodies(&self) -> bool {
        matches!(self.kept, Kept::Bodies(_))
    }

    /// The network's params.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The genesis block's header.
    pub fn genesis(&self) -> StoredHeader {
        self.kept.header(0)
    }

    fn tip_id(&self) -> u32 {
        *self.best.last().unwrap_or(&0)
    }

    /// The header of the tip of the best chain.
    pub fn tip(&self) -> StoredHeader {
        self.kept.header(self.tip_id())
    }

    /// Height of the best tip (genesis is 0).
    pub fn height(&self) -> u64 {
        (self.best.len() - 1) as u64
    }

    fn work_of(&self, id: u32) -> u128 {
        self.links[id as usize].chain_work.into()
    }

    /// Total work of the best chain, genesis included.
    pub fn best_work(&self) -> u128 {
        self.work_of(self.tip_id())
    }

    /// Total work of the chain ending at `hash`, if stored.
    pub fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        self.id(hash).map(|id| self.work_of(id))
    }

    fn id(&self, hash: &BlockHash) -> Option<u32> {
        self.by_hash.get(hash).copied()
    }

    /// The header of any stored block, best chain or side branch.
    pub fn header(&self, hash: &BlockHash) -> Option<StoredHeader> {
        self.id(hash).map(|id| self.kept.header(id))
    }

    /// Any stored block whose body this chain holds: every stored block for
    /// a chain that keeps bodies, the last [`RECENT_BODIES`] stored for a
    /// headers-only one.
    pub fn block(&self, hash: &BlockHash) -> Option<&Block> {
        self.shared_block(hash).map(|block| &**block)
    }

    /// [`Chain::block`], shared: a clone of the `Arc` is how a block is
    /// handed on (to a store, to peers) without copying it.
    pub fn shared_block(&self, hash: &BlockHash) -> Option<&Arc<Block>> {
        match self.id(hash).and_then(|id| self.kept.body(id)) {
            Some(block) => Some(block),
            None => self.recent.iter().rev().find(|block| block.hash == *hash),
        }
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
        let height = self.kept.index(id) as usize;
        self.best.get(height) == Some(&id)
    }

    /// The header of the best-chain block at `height`.
    pub fn header_at(&self, height: u64) -> Option<StoredHeader> {
        let id = *self.best.get(usize::try_from(height).ok()?)?;
        Some(self.kept.header(id))
    }

    /// The hash of the best-chain block at `height`.
    pub fn hash_at(&self, height: u64) -> Option<BlockHash> {
        let id = *self.best.get(usize::try_from(height).ok()?)?;
        Some(self.kept.hash(id))
    }

    /// The header of the ancestor-or-self at `height` of the stored block
    /// `hash`, on whatever branch `hash` is.
    pub fn ancestor_at(&self, hash: &BlockHash, height: u64) -> Option<StoredHeader> {
        let id = self.id(hash)?;
        (height <= self.kept.index(id)).then(|| self.kept.header(self.ancestor(id, height)))
    }

    /// The headers of the best chain, genesis first.
    pub fn best_headers(
        &self,
    ) -> impl DoubleEndedIterator<Item = StoredHeader> + ExactSizeIterator {
        self.best.iter().map(|&id| self.kept.header(id))
    }

    /// The headers of every stored block in the order it was stored
    /// (genesis first): parents always before children. Replaying this order
    /// rebuilds the same tree and best tip.
    pub fn all_headers(&self) -> impl ExactSizeIterator<Item = StoredHeader> {
        (0..self.links.len() as u32).map(|id| self.kept.header(id))
    }

    /// The headers of every stored block at height `from` or above, on any
    /// branch, in the order they were stored; it reads only the blocks
    /// stored since the first one at `from`, not the whole tree.
    pub fn headers_from_height(&self, from: u64) -> impl Iterator<Item = StoredHeader> + '_ {
        let start = usize::try_from(from)
            .ok()
            .and_then(|h| self.first_at.get(h))
            .map_or(self.links.len() as u32, |&id| id);
        (start..self.links.len() as u32)
            .filter(move |&id| self.kept.index(id) >= from)
            .map(|id| self.kept.header(id))
    }

    /// The whole blocks of a chain that keeps them (panics with a clear
    /// message on a headers-only chain, whose bodies are its driver's).
    fn bodies(&self) -> &[Arc<Block>] {
        match &self.kept {
            Kept::Bodies(blocks) => blocks,
            Kept::Headers(_) => panic!(
                "this chain keeps headers only (Chain::headers_only): read bodies from the \
                 driver's store, headers with best_headers/all_headers"
            ),
        }
    }

    /// The best-chain block at `height`.
    ///
    /// # Panics
    /// On a headers-only chain ([`Chain::headers_only`]).
    pub fn block_at(&self, height: u64) -> Option<&Block> {
        let id = *self.best.get(usize::try_from(height).ok()?)?;
        Some(&self.bodies()[id as usize])
    }

    /// The best chain, genesis first.
    ///
    /// # Panics
    /// On a headers-only chain ([`Chain::headers_only`]).
    pub fn best_chain(&self) -> impl DoubleEndedIterator<Item = &Block> + ExactSizeIterator {
        let bodies = self.bodies();
        self.best.iter().map(|&id| &*bodies[id as usize])
    }

    /// The best chain's blocks as their shared handles (cloning one copies
    /// no body), genesis first.
    ///
    /// # Panics
    /// On a headers-only chain ([`Chain::headers_only`]).
    pub fn best_chain_shared(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Arc<Block>> + ExactSizeIterator {
        let bodies = self.bodies();
        self.best.iter().map(|&id| &bodies[id as usize])
    }

    /// At most `limit` best-chain blocks from height `from`.
    ///
    /// # Panics
    /// On a headers-only chain ([`Chain::headers_only`]).
    pub fn blocks_from(&self, from: u64, limit: usize) -> impl Iterator<Item = &Block> {
        let bodies = self.bodies();
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(self.best.len());
        self.best[start..]
            .iter()
            .take(limit)
            .map(|&id| &*bodies[id as usize])
    }

    /// Every stored block in the order it was stored (genesis first): parents
    /// always before children. Replaying this order through
    /// [`Chain::insert_trusted`] rebuilds the same tree and best tip.
    ///
    /// # Panics
    /// On a headers-only chain ([`Chain::headers_only`]).
    pub fn all_blocks(&self) -> impl ExactSizeIterator<Item = &Block> {
        self.bodies().iter().map(|block| &**block)
    }

    /// Number of stored blocks, side branches included (genesis counts).
    pub fn len(&self) -> usize {
        self.links.len()
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
            if self.kept.index(id) == height {
                return id;
            }
            id = self.links[id as usize].parent;
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
        next_rules(&self.params, &self.kept.header(parent_id), |height| {
            self.kept.timestamp_ms(self.ancestor(parent_id, height))
        })
    }

    /// What a child of `parent` must look like, if `parent` is stored.
    pub fn next_rules_after(&self, parent: &BlockHash) -> Option<NextRules> {
        self.id(parent).map(|id| self.next_rules_for(id))
    }

    /// What the next block on the best tip must look like.
    pub fn next_rules(&self) -> NextRules {
        self.next_rules_for(self.tip_id())
    }

    /// The lowest difficulty a block may have to wait in the pool: the best
    /// tip's next difficulty − [`POOL_DIFFICULTY_SLACK`].
    pub fn pool_difficulty_floor(&self) -> u32 {
        self.next_rules()
            .difficulty
            .saturating_sub(POOL_DIFFICULTY_SLACK)
            .max(self.params.min_difficulty)
    }

    /// Keeps `block` among a headers-only chain's recent bodies.
    fn remember_recent(&mut self, block: &Arc<Block>) {
        if self.keeps_bodies() {
            return;
        }
        if self.recent.len() == RECENT_BODIES {
            self.recent.pop_front();
        }
        self.recent.push_back(block.clone());
    }
}
