//! Step 3 of a [`SyncSession`]: the pages above the common ancestor, each
//! checked ([`BranchCheck`]) before it is stored.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::block::Block;
use crate::block::StoredHeader;
use crate::difficulty::MEDIAN_SPAN;
use crate::hash::BlockHash;
use crate::params::Params;
use crate::pow::work;
use crate::validation::{BlockError, check_in_context, check_standalone, next_rules};

use super::{
    Claim, Misbehaviour, Phase, Refusal, SyncOutcome, SyncSession, SyncStats, SyncTarget,
    misbehaved, stored_up_to,
};

/// Fetching the peer's best chain above the common ancestor up to its
/// claimed tip, page by page.
#[derive(Debug)]
pub(super) struct Pages {
    pub(super) claim: Claim,
    /// The common ancestor: height and hash.
    pub(super) from_height: u64,
    pub(super) from_hash: BlockHash,
    /// The first height of the page in flight (at most `claim.height`).
    pub(super) next: u64,
    /// The hash of the block just below `next`.
    pub(super) prev_hash: BlockHash,
}

impl Pages {
    pub(super) fn new(claim: Claim, from_height: u64, from_hash: BlockHash) -> Pages {
        Pages {
            claim,
            from_height,
            from_hash,
            next: from_height.saturating_add(1),
            prev_hash: from_hash,
        }
    }

    /// The same pages from the start again (pass two).
    pub(super) fn restart(self) -> Pages {
        Pages::new(self.claim, self.from_height, self.from_hash)
    }

    /// Whether every page up to the claimed tip has been fetched.
    pub(super) fn is_done(&self) -> bool {
        self.next > self.claim.height
    }

    /// The `limit` of the page at `next` (while not done).
    pub(super) fn limit(&self, page_blocks: u64) -> u32 {
        let wanted = (self.claim.height - self.next).saturating_add(1);
        // At most MAX_PAGE, so it fits in a u32.
        page_blocks.min(wanted) as u32
    }
}

/// Pass one's state: one hash per block of the branch, the last block and a
/// window of timestamps; the work bound of the module docs ("Bounds").
#[derive(Debug)]
pub(super) struct BranchCheck {
    pub(super) params: Params,
    /// Blocks allowed beyond what the branch's work pays for.
    pub(super) slack_blocks: u64,
    /// Chain work at the common ancestor.
    pub(super) fork_work: u128,
    /// The work of a block at our pool floor.
    pub(super) unit: u128,
    /// How many timestamps `recent` keeps.
    pub(super) window: usize,
    /// Timestamps of the branch's last blocks, enough for the median time
    /// past and the retarget window; older ones come from our store.
    pub(super) recent: VecDeque<u64>,
    /// The last block checked (the common ancestor at first).
    pub(super) parent: StoredHeader,
    /// The branch's hashes, height `from_height + 1` first.
    pub(super) hashes: Vec<BlockHash>,
    /// Chain work of the last block checked.
    pub(super) work: u128,
}

impl BranchCheck {
    pub(super) fn new<T: SyncTarget + ?Sized>(
        target: &T,
        params: Params,
        pages: &Pages,
        slack_blocks: u64,
    ) -> Result<BranchCheck, SyncOutcome> {
        let fork = target
            .stored_header(&pages.from_hash)
            .ok_or(SyncOutcome::PeerChanged)?;
        let fork_work = target
            .chain_work(&pages.from_hash)
            .ok_or(SyncOutcome::PeerChanged)?;
        let unit = work(target.pool_difficulty_floor());
        let window =
            MEDIAN_SPAN.max(usize::try_from(params.retarget_window).unwrap_or(usize::MAX - 1) + 1);
        Ok(BranchCheck {
            params,
            slack_blocks,
            fork_work,
            unit,
            window,
            recent: VecDeque::new(),
            parent: fork,
            hashes: Vec::new(),
            work: fork_work,
        })
    }

    /// Checks every block of `page` (already shaped by [`SyncSession::receive`])
    /// in the branch's own context.
    pub(super) fn check<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        pages: &Pages,
        page: Vec<Block>,
        now_ms: u64,
        stats: &mut SyncStats,
    ) -> Result<(), SyncOutcome> {
        for block in page {
            let height = block.index;
            let first_recent = self.parent.index + 1 - self.recent.len() as u64;
            let recent = &self.recent;
            let rules = next_rules(&self.params, &self.parent, |h| {
                if h > pages.from_height {
                    recent[(h - first_recent) as usize]
                } else {
                    target.timestamp_at(&pages.from_hash, h).unwrap_or(0)
                }
            });
            let verdict =
                check_standalone(&block).and_then(|()| check_in_context(&block, &rules, now_ms));
            match verdict {
                Ok(()) => {}
                Err(BlockError::TimestampInFuture) => {
                    return Err(SyncOutcome::FutureBlock {
                        height,
                        hash: block.hash,
                    });
                }
                Err(reason) => {
                    return Err(misbehaved(Misbehaviour::InvalidBlock {
                        height,
                        hash: block.hash,
                        reason,
                    }));
                }
            }
            self.work += work(block.difficulty);
            self.hashes.push(block.hash);
            stats.blocks_checked += 1;
            let blocks = self.hashes.len() as u64;
            let budget = self.slack_blocks.saturating_add(
                u64::try_from((self.work - self.fork_work) / self.unit).unwrap_or(u64::MAX),
            );
            if blocks > budget {
                return Err(misbehaved(Misbehaviour::TooLight { height, blocks }));
            }
            if self.recent.len() == self.window {
                self.recent.pop_front();
            }
            self.recent.push_back(block.timestamp_ms);
            self.parent = StoredHeader::from(&block);
        }
        Ok(())
    }
}

impl SyncSession {
    /// `phase` while it has pages left to fetch, else what follows it.
    pub(super) fn after_page<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        phase: Phase,
    ) -> Result<Phase, SyncOutcome> {
        match phase {
            Phase::Extend(pages) | Phase::Store(pages, _) if pages.is_done() => {
                Err(stored_up_to(target, &pages.claim))
            }
            Phase::Check(pages, check) if pages.is_done() => {
                let claim = pages.claim;
                if check.hashes.last() != Some(&claim.hash) {
                    return Err(SyncOutcome::PeerChanged);
                }
                if check.work != claim.work {
                    return Err(misbehaved(Misbehaviour::WorkMismatch {
                        claimed: claim.work,
                        actual: check.work,
                    }));
                }
                if check.work <= target.best().work {
                    // True to its claim, but we have gained as much meanwhile.
                    return Err(SyncOutcome::UpToDate);
                }
                let BranchCheck { hashes, .. } = *check;
                Ok(Phase::Store(pages.restart(), hashes))
            }
            phase => Ok(phase),
        }
    }

    /// Checks the shape of the page answering `pages`' request (length,
    /// heights, links) and moves `pages` past it.
    pub(super) fn receive(
        &mut self,
        pages: &mut Pages,
        page: Vec<Block>,
    ) -> Result<Vec<Block>, SyncOutcome> {
        let next = pages.next;
        let limit = pages.limit(self.page_blocks);
        if page.len() > limit as usize {
            return Err(misbehaved(Misbehaviour::TooManyBlocks {
                from: next,
                asked: limit,
                got: page.len(),
            }));
        }
        let Some(first) = page.first() else {
            return Err(SyncOutcome::PeerChanged);
        };
        if first.index == next && first.prev_hash != pages.prev_hash {
            // A page that does not follow the one before: the peer's best
            // chain moved between the two requests.
            return Err(SyncOutcome::PeerChanged);
        }
        for (offset, block) in page.iter().enumerate() {
            let height = next + offset as u64;
            if block.index != height {
                return Err(misbehaved(Misbehaviour::WrongHeight {
                    expected: height,
                    got: block.index,
                }));
            }
            if offset > 0 && block.prev_hash != page[offset - 1].hash {
                return Err(misbehaved(Misbehaviour::BrokenLink { height }));
            }
        }
        self.stats.blocks_received += page.len() as u64;
        pages.next += page.len() as u64;
        pages.prev_hash = page.last().map_or(pages.prev_hash, |b| b.hash);
        Ok(page)
    }

    /// Stores a page (step 3 or pass two). In pass two, `expected` holds
    /// pass one's hashes and the common ancestor's height.
    pub(super) fn store<T: SyncTarget + ?Sized>(
        &mut self,
        target: &mut T,
        page: Vec<Block>,
        expected: Option<(&[BlockHash], u64)>,
        now_ms: u64,
    ) -> Result<(), SyncOutcome> {
        if let Some((expected, common_height)) = expected {
            for block in &page {
                let at = (block.index - common_height - 1) as usize;
                if expected.get(at) != Some(&block.hash) {
                    // Pass two differs from pass one: the peer's chain moved
                    // (what was stored so far was checked heavy).
                    return Err(SyncOutcome::PeerChanged);
                }
            }
        }
        let (first_height, hashes): (u64, Vec<BlockHash>) =
            (page[0].index, page.iter().map(|b| b.hash).collect());
        let done = target.store_page(page, now_ms);
        self.stats.blocks_stored += done.stored;
        self.stats.blocks_disconnected += done.disconnected;
        self.stats.tip_changed |= done.tip_changed;
        match done.refused {
            None => Ok(()),
            Some(Refusal::Invalid(reason)) => {
                let (height, hash) = (first_height + done.taken as u64, hashes[done.taken]);
                Err(match reason {
                    BlockError::TimestampInFuture => SyncOutcome::FutureBlock { height, hash },
                    reason => misbehaved(Misbehaviour::InvalidBlock {
                        height,
                        hash,
                        reason,
                    }),
                })
            }
        }
    }
}
