//! Offering blocks to the [`Chain`]: the checks of PROTOCOL.md §5, the
//! storage policy of §6.1 (store, pool or ignore) and fork choice by work.

use alloc::collections::VecDeque;
use alloc::collections::btree_map::Entry;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Accepted, Chain, Link, LoadError, NO_PARENT, ORPHAN_HORIZON, Status, StoredHeader};
use crate::block::Block;
use crate::hash::BlockHash;
use crate::pool::Age;
use crate::pow::{meets_difficulty, work};
use crate::validation::{BlockError, check_in_context, check_linkage, check_standalone};

/// What [`Chain::connect_pooled`] did.
struct Connected {
    /// Ids of the blocks it stored, parents first.
    stored: Vec<u32>,
    /// Their bodies, in the same order.
    bodies: Vec<Arc<Block>>,
    /// The offered block, when it turned out too light to store.
    light: Option<Arc<Block>>,
    /// Why the watched pooled block is invalid in its branch, if it is.
    offered_error: Option<BlockError>,
}

impl Chain {
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
            return Ok(self.settle(connected.stored, connected.bodies));
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
        Ok(self.settle(connected.stored, connected.bodies))
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
        let mark = self.links.len();
        // Tentative blocks are appended at `mark..`; `tentative[i]` is the
        // body of the block at `mark + i` and `ages[i]` its pool age (None
        // for `first`).
        let mut tentative: Vec<Arc<Block>> = Vec::new();
        let mut ages: Vec<Option<Age>> = Vec::new();
        let mut queue = VecDeque::new();
        match first {
            Some(block) => {
                queue.push_back((self.store(&block, parent_id), block.hash));
                tentative.push(block);
                ages.push(None);
            }
            None => queue.push_back((parent_id, self.kept.hash(parent_id))),
        }
        let mut offered_error = None;
        while let Some((id, hash)) = queue.pop_front() {
            let children = self.pool.take_children(&hash);
            if children.is_empty() {
                continue;
            }
            let rules = self.next_rules_for(id);
            for (child, age) in children {
                match check_in_context(&child, &rules, now_ms) {
                    Ok(()) => {
                        queue.push_back((self.store(&child, id), child.hash));
                        tentative.push(child);
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
            .map(|id| self.work_of(id as u32))
            .collect();
        for i in (0..count).rev() {
            let parent = self.links[mark + i].parent as usize;
            if parent >= mark {
                reach[parent - mark] = reach[parent - mark].max(reach[i]);
            }
        }
        let keep: Vec<bool> = (0..count)
            .map(|i| reach[i] >= best_work || (keep_first && ages[i].is_none()))
            .collect();
        let mut light = None;
        if keep.iter().all(|k| *k) {
            return Connected {
                stored: (mark..mark + count).map(|id| id as u32).collect(),
                bodies: tentative,
                light,
                offered_error,
            };
        }
        // Rebuild the tentative part with the kept blocks only. A kept
        // block's parent is kept too (its reach is at least as high).
        let links = self.links.split_off(mark);
        self.kept.truncate(mark);
        // Heights first reached by a tentative block are reached again
        // below if it is kept.
        while self.first_at.last().is_some_and(|&id| id as usize >= mark) {
            self.first_at.pop();
        }
        for block in &tentative {
            self.by_hash.remove(&block.hash);
        }
        let mut new_ids = alloc::vec![NO_PARENT; count];
        let mut stored = Vec::new();
        let mut bodies = Vec::new();
        for (i, (link, block)) in links.into_iter().zip(tentative).enumerate() {
            if keep[i] {
                let parent = link.parent as usize;
                let parent = if parent >= mark {
                    new_ids[parent - mark]
                } else {
                    link.parent
                };
                new_ids[i] = self.store(&block, parent);
                stored.push(new_ids[i]);
                bodies.push(block);
            } else {
                match ages[i] {
                    Some(age) => self.pool.put_back(block, age),
                    None => light = Some(block),
                }
            }
        }
        Connected {
            stored,
            bodies,
            light,
            offered_error,
        }
    }

    /// Moves the best chain to the stored block with the most work among
    /// `stored` (whose bodies are `bodies`) if it has strictly more than the
    /// best chain (first seen wins ties), and says what happened to the first
    /// of them.
    fn settle(&mut self, stored: Vec<u32>, bodies: Vec<Arc<Block>>) -> Accepted {
        let old_tip = self.tip_id();
        let mut best_new = old_tip;
        for &id in &stored {
            if self.work_of(id) > self.work_of(best_new) {
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
        for body in &bodies {
            self.remember_recent(body);
        }
        Accepted {
            status,
            stored: bodies,
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
        let parent_id = self.trusted_parent(&StoredHeader::from(&*block))?;
        self.pool.remove(&block.hash);
        let id = self.store(&block, parent_id);
        Ok(self.settle(alloc::vec![id], alloc::vec![block]))
    }

    /// [`Chain::insert_trusted`] for a headers-only chain, from the header
    /// alone (what a node reads back on restart): the same checks, and
    /// whether it became the best tip. A chain that keeps bodies refuses it
    /// ([`LoadError::MissingBody`]).
    pub fn insert_trusted_header(&mut self, header: StoredHeader) -> Result<bool, LoadError> {
        if self.keeps_bodies() {
            return Err(LoadError::MissingBody(header.hash));
        }
        let parent_id = self.trusted_parent(&header)?;
        // One search of the hash index, to refuse a duplicate and to index
        // the block (a restart replays a million of these).
        let id = u32::try_from(self.links.len()).expect("fewer than 2^32 blocks");
        match self.by_hash.entry(header.hash) {
            Entry::Occupied(_) => return Ok(false),
            Entry::Vacant(slot) => slot.insert(id),
        };
        self.pool.remove(&header.hash);
        self.link(parent_id, header.index, header.difficulty);
        self.kept.push_header(header);
        if self.work_of(id) > self.best_work() {
            self.set_best(id);
            return Ok(true);
        }
        Ok(false)
    }

    /// The id of a trusted block's parent, after [`check_linkage`].
    fn trusted_parent(&self, header: &StoredHeader) -> Result<u32, LoadError> {
        // Blocks are replayed in acceptance order: the parent is most often
        // the block stored last.
        let last = (self.links.len() - 1) as u32;
        let parent_id = if self.kept.hash(last) == header.prev_hash {
            last
        } else {
            self.id(&header.prev_hash)
                .ok_or(LoadError::UnknownParent(header.hash))?
        };
        check_linkage(header, &self.next_rules_for(parent_id)).map_err(|reason| {
            LoadError::Invalid {
                hash: header.hash,
                reason,
            }
        })?;
        Ok(parent_id)
    }

    fn store(&mut self, block: &Arc<Block>, parent_id: u32) -> u32 {
        let id = self.push_link(parent_id, block.hash, block.difficulty);
        self.kept.push(block);
        id
    }

    /// Adds the bookkeeping of a new stored block (its header or body goes
    /// into `kept` under the same id).
    fn push_link(&mut self, parent_id: u32, hash: BlockHash, difficulty: u32) -> u32 {
        let id = u32::try_from(self.links.len()).expect("fewer than 2^32 blocks");
        self.by_hash.insert(hash, id);
        let height = self.kept.index(parent_id) + 1;
        self.link(parent_id, height, difficulty)
    }

    /// The links and height index of a new stored block at `height` (whose
    /// hash is indexed already): its id.
    fn link(&mut self, parent_id: u32, height: u64, difficulty: u32) -> u32 {
        let id = u32::try_from(self.links.len()).expect("fewer than 2^32 blocks");
        let chain_work = self.work_of(parent_id) + work(difficulty);
        if height as usize == self.first_at.len() {
            self.first_at.push(id);
        }
        self.links.push(Link {
            parent: parent_id,
            chain_work: chain_work.into(),
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
            id = self.links[id as usize].parent;
        }
        let fork_height = self.kept.index(id) as usize;
        let disconnected = self.best[fork_height + 1..]
            .iter()
            .rev()
            .map(|&id| self.kept.hash(id))
            .collect();
        self.best.truncate(fork_height + 1);
        path.reverse();
        self.best.extend_from_slice(&path);
        self.tip_rules = self.derive_next_rules(new_tip);
        let connected = path.iter().map(|&id| self.kept.hash(id)).collect();
        (disconnected, connected)
    }
}
