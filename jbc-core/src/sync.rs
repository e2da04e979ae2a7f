//! Sync: catch up with a [`Peer`] that has more work, in bounded steps.
//!
//! [`sync`] is generic over the peer (reqwest in jbc-node, `fetch` in
//! jbc-web, [`MemoryPeer`](crate::peer::MemoryPeer) in tests) and over the
//! local chain ([`SyncTarget`], implemented by [`Chain`]). It does no I/O of
//! its own and reads no clock: the caller passes `now_ms`.
//!
//! 1. `GET /tip`. A peer whose genesis (derived from its params) is not ours
//!    is refused ([`SyncOutcome::OtherNetwork`]); a peer claiming no more
//!    work than we have is left alone ([`SyncOutcome::UpToDate`]).
//! 2. The common ancestor: the highest height at which the peer's best block
//!    is one we store (on any branch). Probes are `GET /blocks?from=h&limit=1`:
//!    one at `min(our height, its height)`, then steps of 1, 2, 4, … up or
//!    down until the answer flips, then a binary search: `O(log distance)`
//!    requests, never the whole chain. A different block at height 0 means
//!    another network.
//! 3. If the ancestor is our best tip, the peer's chain extends ours: pages
//!    of `GET /blocks?from=H&limit=N` up to the claimed tip are checked and
//!    stored page by page (each block has more work than our best chain).
//! 4. Otherwise the peer's branch forks below our tip, and SPEC §6.1 asks
//!    for two passes. **Pass one** fetches the whole branch up to the
//!    claimed tip and checks every block (all of SPEC §5, in the branch's
//!    own context) while holding only one 32-byte hash per block and a
//!    sliding window of timestamps: nothing is written. If the branch's
//!    real work is not what `/tip` claimed, the peer misbehaved. **Pass
//!    two**, only if that work is more than ours, fetches the branch again,
//!    checks that every block is the one of pass one (same hash), and stores
//!    it page by page; the reorganisation happens when it overtakes us.
//!
//! Each page must be no longer than asked, have the heights asked for and
//! link inside itself (else [`Misbehaviour`]); a page that does not link to
//! the page before it, or a pass-two block that differs from pass one, means
//! the peer's chain moved ([`SyncOutcome::PeerChanged`]). The first invalid
//! block ends the sync and names the peer as misbehaving.
//!
//! # Bounds
//! There is no cap on the length of a branch: a heavier branch is adopted
//! however long it is. Memory per sync is one hash per block of the branch
//! (32 bytes) plus one block and a window of `max(11, W + 1)` timestamps;
//! each request is bounded by the [`Peer`] (time and bytes). What bounds the
//! branch is work: in pass one, a branch may hold at most as many blocks as
//! our own chain has above the fork, plus [`ORPHAN_HORIZON`], plus its work
//! divided by the work of a block at [`Chain::pool_difficulty_floor`]. A
//! long branch of cheap blocks (difficulty walked down by spread-out
//! timestamps) is therefore refused after a bounded number of blocks
//! ([`Misbehaviour::TooLight`]), whatever work its peer claims.
//!
//! # Example
//! ```
//! use futures::executor::block_on;
//! use jbc_core::miner::{mine_blocking, MineOutcome, MinerConfig, MinerHandle};
//! use jbc_core::sync::{sync, SyncConfig, SyncOutcome};
//! use jbc_core::{Chain, MemoryPeer, Params};
//!
//! let params = Params { network: "doc".into(), initial_difficulty: 6,
//!                       min_difficulty: 6, ..Params::default() };
//! // The peer has mined 30 blocks; we only have genesis.
//! let mut theirs = Chain::new(params.clone());
//! let handle = MinerHandle::new();
//! let mut now_ms = 1_700_000_000_000;
//! for _ in 0..30 {
//!     now_ms += 1_000;
//!     let candidate = theirs.next_template("peer".into(), now_ms);
//!     let job = handle.new_job();
//!     let outcome = mine_blocking(&candidate.template(), &job, &MinerConfig::default(), || 0);
//!     let MineOutcome::Found { nonce, .. } = outcome else { panic!("{outcome:?}") };
//!     theirs.accept(candidate.block(nonce), now_ms).unwrap();
//! }
//! let peer = MemoryPeer::new(theirs);
//!
//! let mut ours = Chain::new(params);
//! let config = SyncConfig { page_blocks: 10, ..SyncConfig::default() };
//! let report = block_on(sync(&peer, &mut ours, now_ms, &config));
//! assert_eq!(report.outcome, SyncOutcome::Synced);
//! assert_eq!(report.stats.pages, 3);
//! assert_eq!(ours.tip(), peer.chain().tip());
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::{Accepted, Chain, ORPHAN_HORIZON};
use crate::difficulty::MEDIAN_SPAN;
use crate::hash::BlockHash;
use crate::params::{Params, genesis};
use crate::peer::{MAX_PAGE, Peer, PeerError};
use crate::pow::work;
use crate::validation::{BlockError, check_in_context, check_standalone, next_rules};

/// Why a [`SyncTarget`] did not take a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The block breaks a rule of SPEC §5 (the peer's fault, unless the
    /// rule is `timestamp_in_future`).
    #[error("{0}")]
    Invalid(BlockError),
    /// The block could not be kept here (e.g. a storage failure): not the
    /// peer's fault.
    #[error("local failure: {0}")]
    Local(String),
}

/// What a [`SyncTarget`] did with a page of blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageStored {
    /// Blocks of the page it took (a prefix of the page).
    pub taken: usize,
    /// Blocks newly stored (a block may connect pooled ones too).
    pub stored: u64,
    /// Blocks that left the best chain.
    pub disconnected: u64,
    /// Whether the best tip changed.
    pub tip_changed: bool,
    /// Why it stopped before the end of the page, if it did.
    pub refused: Option<Refusal>,
}

impl PageStored {
    /// Adds what one accepted block did.
    pub fn add(&mut self, accepted: &Accepted) {
        self.taken += 1;
        self.stored += accepted.stored.len() as u64;
        self.disconnected += accepted.disconnected.len() as u64;
        self.tip_changed |= accepted.tip_changed();
    }
}

/// The local side of a sync: what [`sync`] needs to know about our chain and
/// how it stores the blocks it fetched. [`Chain`] implements it; a node
/// implements it on its own state to persist and announce each page, taking
/// its lock only for each call instead of for the whole sync.
pub trait SyncTarget {
    /// Our network's params.
    fn params(&self) -> Params;
    /// Hash and height of our best tip, and the work of our best chain.
    fn best(&self) -> (BlockHash, u64, u128);
    /// The lowest difficulty a block may have to wait in our pool
    /// ([`Chain::pool_difficulty_floor`]).
    fn pool_difficulty_floor(&self) -> u32;
    /// Height of `hash` if we store it (on any branch).
    fn height_of(&self, hash: &BlockHash) -> Option<u64>;
    /// Work of the chain ending at `hash`, if we store it.
    fn chain_work(&self, hash: &BlockHash) -> Option<u128>;
    /// A stored block.
    fn stored_block(&self, hash: &BlockHash) -> Option<Block>;
    /// Timestamp of the ancestor-or-self at `height` of the stored block `of`.
    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64>;
    /// Stores a page of requested blocks, parents first, each like
    /// [`Chain::accept_requested`]; stops at the first refusal.
    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored;
}

impl SyncTarget for Chain {
    fn params(&self) -> Params {
        Chain::params(self).clone()
    }

    fn best(&self) -> (BlockHash, u64, u128) {
        (self.tip().hash, self.height(), self.best_work())
    }

    fn pool_difficulty_floor(&self) -> u32 {
        Chain::pool_difficulty_floor(self)
    }

    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.block(hash).map(|block| block.index)
    }

    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        Chain::chain_work(self, hash)
    }

    fn stored_block(&self, hash: &BlockHash) -> Option<Block> {
        self.block(hash).cloned()
    }

    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64> {
        self.ancestor_at(of, height).map(|b| b.timestamp_ms)
    }

    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored {
        let mut done = PageStored::default();
        for block in page {
            match self.accept_requested(block, now_ms) {
                Ok(accepted) => done.add(&accepted),
                Err(e) => {
                    done.refused = Some(Refusal::Invalid(e));
                    break;
                }
            }
        }
        done
    }
}

/// The bounds of one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Blocks asked for per page (default and cap: [`MAX_PAGE`] = 500). A
    /// block's JSON is at most about 25 KiB, so a page is at most about
    /// 12.5 MiB, and a page of ordinary blocks a few hundred KiB.
    pub page_blocks: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_blocks: MAX_PAGE,
        }
    }
}

/// Proof that a peer broke the protocol: a node should stop trusting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misbehaviour {
    /// It served a block that breaks a permanent rule of SPEC §5.
    #[error("block {hash} at height {height} is invalid: {reason}")]
    InvalidBlock {
        /// Height asked for.
        height: u64,
        /// The block's claimed hash.
        hash: BlockHash,
        /// The rule it breaks.
        reason: BlockError,
    },
    /// It answered a page with more blocks than asked for.
    #[error("asked for {asked} blocks from height {from}, got {got}")]
    TooManyBlocks {
        /// First height asked for.
        from: u64,
        /// The `limit` sent.
        asked: u32,
        /// How many came back.
        got: usize,
    },
    /// A block of a page is not at the height it should be.
    #[error("expected the block at height {expected}, got one at height {got}")]
    WrongHeight {
        /// The height asked for.
        expected: u64,
        /// The block's `index`.
        got: u64,
    },
    /// A block's `prev_hash` is not the hash of the block before it.
    #[error("the block at height {height} does not link to the block before it")]
    BrokenLink {
        /// Height of the block.
        height: u64,
    },
    /// Its branch holds more blocks than its work allows (see the module
    /// docs, "Bounds"): a long branch of cheap blocks.
    #[error("the branch holds {blocks} blocks at height {height}, more than its work allows")]
    TooLight {
        /// Height reached when the sync gave up.
        height: u64,
        /// Blocks of the branch checked so far.
        blocks: u64,
    },
    /// Its tip's real chain work is not what `GET /tip` claimed.
    #[error("claimed chain work {claimed}, real chain work {actual}")]
    WorkMismatch {
        /// Work claimed by `GET /tip`.
        claimed: u128,
        /// Work of the chain actually served.
        actual: u128,
    },
}

/// How a sync ended. Whatever the outcome, every block stored before it
/// was valid, and the best chain is the valid chain with the most work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The peer claims no more work than our best chain: nothing fetched.
    UpToDate,
    /// Every block up to the peer's claimed tip was fetched and checked.
    Synced,
    /// The peer served fewer blocks than its tip claimed, or a different tip:
    /// its chain moved during the sync (or it lies). Nothing wrong was stored.
    PeerChanged,
    /// A block is more than 120 s ahead of `now_ms`. Not misbehaviour (the
    /// clocks may differ): sync again later.
    FutureBlock {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
    },
    /// The peer is on another network: its genesis is not ours.
    OtherNetwork {
        /// Our genesis hash.
        ours: BlockHash,
        /// The peer's genesis hash (derived from its params, or served at height 0).
        theirs: BlockHash,
    },
    /// A request failed; the sync stopped there.
    PeerFailed(PeerError),
    /// Our side could not keep a block (e.g. storage failed): not the
    /// peer's fault.
    LocalFailure(String),
    /// The peer broke the protocol; the sync stopped there.
    Misbehaved(Misbehaviour),
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Height claimed by the peer's `GET /tip`, if it answered.
    pub peer_height: Option<u64>,
    /// Work claimed by the peer's `GET /tip`, if it answered.
    pub peer_work: Option<u128>,
    /// Height of the common ancestor, if the search finished.
    pub common_height: Option<u64>,
    /// `GET /blocks?limit=1` requests spent finding the ancestor.
    pub probes: u32,
    /// `GET /blocks` page requests (both passes).
    pub pages: u32,
    /// Blocks received in pages (both passes).
    pub blocks_received: u64,
    /// Blocks checked by a first pass (a branch forking below our tip).
    pub blocks_checked: u64,
    /// Blocks newly stored by our chain.
    pub blocks_stored: u64,
    /// Blocks that left our best chain in reorganisations.
    pub blocks_disconnected: u64,
    /// Whether our best tip changed.
    pub tip_changed: bool,
}

/// The result of [`sync`]: how it ended and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// How it ended.
    pub outcome: SyncOutcome,
    /// What it did.
    pub stats: SyncStats,
}

impl SyncReport {
    /// The peer's misbehaviour, if that is how the sync ended.
    pub fn misbehaviour(&self) -> Option<&Misbehaviour> {
        match &self.outcome {
            SyncOutcome::Misbehaved(m) => Some(m),
            _ => None,
        }
    }
}

/// Fetches from `peer` what it has and we lack, if it claims more work,
/// storing it in `target` at local time `now_ms`. See the module docs for
/// the steps and bounds.
///
/// The future is `Send` when the peer is `Sync` and the target `Send` (the
/// peer's futures are [`MaybeSend`](crate::peer::MaybeSend)), so a tokio node
/// can spawn it.
pub async fn sync<P: Peer, T: SyncTarget + ?Sized>(
    peer: &P,
    target: &mut T,
    now_ms: u64,
    config: &SyncConfig,
) -> SyncReport {
    let mut stats = SyncStats::default();
    let outcome = match run(peer, target, now_ms, config, &mut stats).await {
        Ok(outcome) | Err(outcome) => outcome,
    };
    SyncReport { outcome, stats }
}

/// The steps of [`sync`]; `Err` ends early.
async fn run<P: Peer, T: SyncTarget + ?Sized>(
    peer: &P,
    target: &mut T,
    now_ms: u64,
    config: &SyncConfig,
    stats: &mut SyncStats,
) -> Result<SyncOutcome, SyncOutcome> {
    let tip = peer.tip().await.map_err(SyncOutcome::PeerFailed)?;
    stats.peer_height = Some(tip.height);
    stats.peer_work = Some(tip.work);
    let params = target.params();
    let ours = genesis(&params).hash;
    let theirs = genesis(&tip.params).hash;
    if theirs != ours {
        return Err(SyncOutcome::OtherNetwork { ours, theirs });
    }
    let (best_hash, best_height, best_work) = target.best();
    if tip.work <= best_work {
        return Ok(SyncOutcome::UpToDate);
    }

    let (common_height, common_hash) =
        common_ancestor(peer, &*target, ours, tip.height, stats).await?;
    stats.common_height = Some(common_height);
    let fetch = Fetch {
        peer,
        page_blocks: u64::from(config.page_blocks.clamp(1, MAX_PAGE)),
        from_height: common_height,
        from_hash: common_hash,
        to_height: tip.height,
    };

    let expected = if common_hash == best_hash {
        // The peer's chain extends ours: every block adds work to our best.
        None
    } else {
        let slack = best_height.saturating_sub(common_height) + ORPHAN_HORIZON;
        let checked = check_branch(&fetch, &*target, &params, slack, now_ms, stats).await?;
        if checked.hashes.last() != Some(&tip.hash) {
            return Err(SyncOutcome::PeerChanged);
        }
        if checked.work != tip.work {
            return Err(misbehaved(Misbehaviour::WorkMismatch {
                claimed: tip.work,
                actual: checked.work,
            }));
        }
        if checked.work <= target.best().2 {
            // True to its claim, but we have gained as much meanwhile.
            return Ok(SyncOutcome::UpToDate);
        }
        Some(checked.hashes)
    };

    fetch
        .pages(stats, |page, stats| {
            if let Some(expected) = &expected {
                for block in &page {
                    let at = (block.index - common_height - 1) as usize;
                    if expected.get(at) != Some(&block.hash) {
                        // Pass two differs from pass one: the peer's chain
                        // moved (what was stored so far was checked heavy).
                        return Err(SyncOutcome::PeerChanged);
                    }
                }
            }
            let (first_height, hashes): (u64, Vec<BlockHash>) =
                (page[0].index, page.iter().map(|b| b.hash).collect());
            let done = target.store_page(page, now_ms);
            stats.blocks_stored += done.stored;
            stats.blocks_disconnected += done.disconnected;
            stats.tip_changed |= done.tip_changed;
            match done.refused {
                None => Ok(()),
                Some(Refusal::Local(why)) => Err(SyncOutcome::LocalFailure(why)),
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
        })
        .await?;

    match target.chain_work(&tip.hash) {
        Some(actual) if actual != tip.work => Err(misbehaved(Misbehaviour::WorkMismatch {
            claimed: tip.work,
            actual,
        })),
        Some(_) => Ok(SyncOutcome::Synced),
        None => Ok(SyncOutcome::PeerChanged),
    }
}

fn misbehaved(m: Misbehaviour) -> SyncOutcome {
    SyncOutcome::Misbehaved(m)
}

/// What pass one found: the branch's hashes (height `from + 1` first) and
/// its tip's chain work.
struct CheckedBranch {
    hashes: Vec<BlockHash>,
    work: u128,
}

/// Pass one: fetches the branch above the common ancestor and checks every
/// block in the branch's own context, writing nothing and holding one hash
/// per block, the last block and a window of timestamps.
async fn check_branch<P: Peer, T: SyncTarget + ?Sized>(
    fetch: &Fetch<'_, P>,
    target: &T,
    params: &Params,
    slack_blocks: u64,
    now_ms: u64,
    stats: &mut SyncStats,
) -> Result<CheckedBranch, SyncOutcome> {
    let fork = target
        .stored_block(&fetch.from_hash)
        .ok_or(SyncOutcome::PeerChanged)?;
    let fork_work = target
        .chain_work(&fetch.from_hash)
        .ok_or(SyncOutcome::PeerChanged)?;
    let unit = work(target.pool_difficulty_floor());
    // Timestamps of the branch's last blocks, enough for the median time
    // past and the retarget window; older ones come from our store.
    let window =
        MEDIAN_SPAN.max(usize::try_from(params.retarget_window).unwrap_or(usize::MAX - 1) + 1);
    let mut recent: VecDeque<u64> = VecDeque::new();
    let mut parent = fork;
    let mut checked = CheckedBranch {
        hashes: Vec::new(),
        work: fork_work,
    };
    fetch
        .pages(stats, |page, stats| {
            for block in page {
                let height = block.index;
                let first_recent = parent.index + 1 - recent.len() as u64;
                let rules = next_rules(params, &parent, |h| {
                    if h > fetch.from_height {
                        recent[(h - first_recent) as usize]
                    } else {
                        target.timestamp_at(&fetch.from_hash, h).unwrap_or(0)
                    }
                });
                let verdict = check_standalone(&block)
                    .and_then(|()| check_in_context(&block, &rules, now_ms));
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
                checked.work += work(block.difficulty);
                checked.hashes.push(block.hash);
                stats.blocks_checked += 1;
                let blocks = checked.hashes.len() as u64;
                let budget = slack_blocks.saturating_add(
                    u64::try_from((checked.work - fork_work) / unit).unwrap_or(u64::MAX),
                );
                if blocks > budget {
                    return Err(misbehaved(Misbehaviour::TooLight { height, blocks }));
                }
                if recent.len() == window {
                    recent.pop_front();
                }
                recent.push_back(block.timestamp_ms);
                parent = block;
            }
            Ok(())
        })
        .await?;
    Ok(checked)
}

/// Fetching the peer's best chain above a stored block, page by page.
struct Fetch<'a, P> {
    peer: &'a P,
    page_blocks: u64,
    /// The common ancestor: height and hash.
    from_height: u64,
    from_hash: BlockHash,
    /// The claimed tip height.
    to_height: u64,
}

impl<P: Peer> Fetch<'_, P> {
    /// Fetches every page from `from_height + 1` to `to_height`, checks its
    /// shape (length, heights, links) and hands it to `each`.
    async fn pages(
        &self,
        stats: &mut SyncStats,
        mut each: impl FnMut(Vec<Block>, &mut SyncStats) -> Result<(), SyncOutcome>,
    ) -> Result<(), SyncOutcome> {
        let mut next = self.from_height.saturating_add(1);
        let mut prev_hash = self.from_hash;
        while next <= self.to_height {
            let wanted = (self.to_height - next).saturating_add(1);
            // At most MAX_PAGE, so it fits in a u32.
            let limit = self.page_blocks.min(wanted) as u32;
            stats.pages += 1;
            let page = self
                .peer
                .blocks(next, limit)
                .await
                .map_err(SyncOutcome::PeerFailed)?;
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
            if first.index == next && first.prev_hash != prev_hash {
                // A page that does not follow the one before: the peer's
                // best chain moved between the two requests.
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
            stats.blocks_received += page.len() as u64;
            next += page.len() as u64;
            prev_hash = page.last().map_or(prev_hash, |b| b.hash);
            each(page, stats)?;
        }
        Ok(())
    }
}

/// The peer's best block at `height`, and whether we store it at that height.
async fn probe<P: Peer, T: SyncTarget + ?Sized>(
    peer: &P,
    target: &T,
    height: u64,
    stats: &mut SyncStats,
) -> Result<(BlockHash, bool), SyncOutcome> {
    stats.probes += 1;
    let page = peer
        .blocks(height, 1)
        .await
        .map_err(SyncOutcome::PeerFailed)?;
    if page.len() > 1 {
        return Err(misbehaved(Misbehaviour::TooManyBlocks {
            from: height,
            asked: 1,
            got: page.len(),
        }));
    }
    let Some(block) = page.first() else {
        return Err(SyncOutcome::PeerChanged);
    };
    if block.index != height {
        return Err(misbehaved(Misbehaviour::WrongHeight {
            expected: height,
            got: block.index,
        }));
    }
    Ok((block.hash, target.height_of(&block.hash) == Some(height)))
}

/// The highest height ≤ `peer_height` whose peer block we store, and its hash.
///
/// "We store the peer's block at h" is true up to the fork and false above
/// it (a stored block's ancestors are all stored), so: probe a guess, gallop
/// away from it by doubling steps until the answer flips, then bisect.
async fn common_ancestor<P: Peer, T: SyncTarget + ?Sized>(
    peer: &P,
    target: &T,
    ours: BlockHash,
    peer_height: u64,
    stats: &mut SyncStats,
) -> Result<(u64, BlockHash), SyncOutcome> {
    let other_network = |theirs| SyncOutcome::OtherNetwork { ours, theirs };
    let guess = target.best().1.min(peer_height);
    // Invariant: we store the peer's block at `low` (its hash is `low_hash`)
    // and not the one at `high`; `high` may be the virtual height just above
    // the peer's tip.
    let (mut low, mut low_hash, mut high);
    let (hash, stored) = probe(peer, target, guess, stats).await?;
    if stored {
        (low, low_hash) = (guess, hash);
        let mut step = 1u64;
        loop {
            let Some(height) = low.checked_add(step).filter(|h| *h <= peer_height) else {
                high = peer_height.saturating_add(1);
                break;
            };
            let (hash, stored) = probe(peer, target, height, stats).await?;
            if !stored {
                high = height;
                break;
            }
            (low, low_hash) = (height, hash);
            step = step.saturating_mul(2);
        }
    } else {
        if guess == 0 {
            return Err(other_network(hash));
        }
        high = guess;
        let mut step = 1u64;
        loop {
            let height = high.saturating_sub(step);
            let (hash, stored) = probe(peer, target, height, stats).await?;
            if stored {
                (low, low_hash) = (height, hash);
                break;
            }
            if height == 0 {
                return Err(other_network(hash));
            }
            high = height;
            step = step.saturating_mul(2);
        }
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        let (hash, stored) = probe(peer, target, mid, stats).await?;
        if stored {
            (low, low_hash) = (mid, hash);
        } else {
            high = mid;
        }
    }
    Ok((low, low_hash))
}
