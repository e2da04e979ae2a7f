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
//!    is one we store (on any branch, so a long fork fetched over several
//!    syncs resumes where it stopped). Probes are `GET /blocks?from=h&limit=1`:
//!    one at `min(our height, its height)`, then steps of 1, 2, 4, … up or
//!    down until the answer flips, then a binary search: `O(log distance)`
//!    requests, never the whole chain. A different block at height 0 means
//!    another network.
//! 3. Pages of `GET /blocks?from=H&limit=N` from the ancestor up to the
//!    claimed tip height. Each block must have the height asked for and link
//!    to the block before it (so nothing lands in the orphan pool), and goes
//!    through [`Chain::accept`]; the first invalid block ends the sync and
//!    names the peer as misbehaving ([`Misbehaviour`]). A page longer than
//!    asked is refused whole.
//! 4. At the claimed tip, its real chain work must equal the claimed work.
//!
//! A peer that lies about its work gains nothing: the chain compares real
//! work, so a longer chain with less work is stored as a side branch and the
//! best chain stays; the lie costs at most one bounded sync and is reported.
//!
//! # Bounds
//! [`SyncConfig`] caps blocks per page, pages per sync and blocks per sync;
//! ancestor probes are bounded by the arithmetic (at most about 3 × 64).
//! When a cap stops a sync, the blocks so far are kept and the outcome is
//! [`SyncOutcome::LimitReached`]: call again to continue.
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

use crate::block::Block;
use crate::chain::{Accepted, Chain};
use crate::hash::BlockHash;
use crate::params::genesis;
use crate::peer::{MAX_PAGE, Peer, PeerError};
use crate::validation::BlockError;

/// The local side of a sync: what [`sync`] needs to know about our chain and
/// how it offers blocks. [`Chain`] implements it; a node can implement it on
/// its own state to persist and announce each accepted block, taking its
/// lock only for each call instead of for the whole sync.
pub trait SyncTarget {
    /// Hash of our genesis block.
    fn genesis_hash(&self) -> BlockHash;
    /// Height of our best tip.
    fn best_height(&self) -> u64;
    /// Work of our best chain.
    fn best_work(&self) -> u128;
    /// Height of `hash` if we store it (on any branch).
    fn height_of(&self, hash: &BlockHash) -> Option<u64>;
    /// Work of the chain ending at `hash`, if we store it.
    fn chain_work(&self, hash: &BlockHash) -> Option<u128>;
    /// Offers a block, like [`Chain::accept`].
    fn accept(&mut self, block: Block, now_ms: u64) -> Result<Accepted, BlockError>;
}

impl SyncTarget for Chain {
    fn genesis_hash(&self) -> BlockHash {
        self.genesis().hash
    }

    fn best_height(&self) -> u64 {
        self.height()
    }

    fn best_work(&self) -> u128 {
        Chain::best_work(self)
    }

    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.block(hash).map(|block| block.index)
    }

    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        Chain::chain_work(self, hash)
    }

    fn accept(&mut self, block: Block, now_ms: u64) -> Result<Accepted, BlockError> {
        Chain::accept(self, block, now_ms)
    }
}

/// The bounds of one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Blocks asked for per page (default 100, capped at [`MAX_PAGE`] = 500).
    /// A block's JSON is at most about 25 KiB, so a page of 100 is at most
    /// about 2.5 MiB.
    pub page_blocks: u32,
    /// Most pages fetched in one sync (default 50).
    pub max_pages: u32,
    /// Most blocks received in one sync (default 5000).
    pub max_blocks: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_blocks: 100,
            max_pages: 50,
            max_blocks: 5_000,
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
    /// A [`SyncConfig`] bound stopped the sync; the blocks so far are kept.
    /// Sync again to continue.
    LimitReached,
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
    /// `GET /blocks` page requests.
    pub pages: u32,
    /// Blocks received in pages.
    pub blocks_received: u64,
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
/// offering each block to `target` at local time `now_ms`. See the module
/// docs for the steps and bounds.
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
    let ours = target.genesis_hash();
    let theirs = genesis(&tip.params).hash;
    if theirs != ours {
        return Err(SyncOutcome::OtherNetwork { ours, theirs });
    }
    if tip.work <= target.best_work() {
        return Ok(SyncOutcome::UpToDate);
    }

    let (common_height, common_hash) = common_ancestor(peer, &*target, tip.height, stats).await?;
    stats.common_height = Some(common_height);

    let page_blocks = u64::from(config.page_blocks.clamp(1, MAX_PAGE));
    let mut next = common_height.saturating_add(1);
    let mut prev_hash = common_hash;
    while next <= tip.height {
        let blocks_left = config.max_blocks.saturating_sub(stats.blocks_received);
        if stats.pages >= config.max_pages || blocks_left == 0 {
            return Ok(SyncOutcome::LimitReached);
        }
        let wanted = (tip.height - next).saturating_add(1);
        // At most MAX_PAGE, so it fits in a u32.
        let limit = page_blocks.min(wanted).min(blocks_left) as u32;
        stats.pages += 1;
        let page = peer
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
        if page.is_empty() {
            return Err(SyncOutcome::PeerChanged);
        }
        stats.blocks_received += page.len() as u64;
        for block in page {
            if block.index != next {
                return Err(misbehaved(Misbehaviour::WrongHeight {
                    expected: next,
                    got: block.index,
                }));
            }
            if block.prev_hash != prev_hash {
                return Err(misbehaved(Misbehaviour::BrokenLink { height: next }));
            }
            let hash = block.hash;
            match target.accept(block, now_ms) {
                Ok(accepted) => {
                    stats.blocks_stored += accepted.stored.len() as u64;
                    stats.blocks_disconnected += accepted.disconnected.len() as u64;
                    stats.tip_changed |= accepted.tip_changed();
                }
                Err(BlockError::TimestampInFuture) => {
                    return Err(SyncOutcome::FutureBlock { height: next, hash });
                }
                Err(reason) => {
                    return Err(misbehaved(Misbehaviour::InvalidBlock {
                        height: next,
                        hash,
                        reason,
                    }));
                }
            }
            prev_hash = hash;
            next += 1;
        }
    }

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
    peer_height: u64,
    stats: &mut SyncStats,
) -> Result<(u64, BlockHash), SyncOutcome> {
    let other_network = |theirs| SyncOutcome::OtherNetwork {
        ours: target.genesis_hash(),
        theirs,
    };
    let guess = target.best_height().min(peer_height);
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
