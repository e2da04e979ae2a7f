//! Sync: catch up with a [`Peer`] that has more work, in bounded steps.
//!
//! The algorithm is a sans-IO state machine, [`SyncSession`]: it asks for
//! one [`Request`] at a time, is handed the [`Response`] and decides, like
//! quinn-proto's `Connection`. It does no I/O of its own, reads no clock
//! (the caller passes `now_ms`) and never holds the local chain (a
//! [`SyncTarget`], implemented by [`Chain`], lent to each call). [`sync`]
//! drives a session over a [`Peer`] (reqwest in jbc-node, `fetch` in
//! jbc-web, [`MemoryPeer`](crate::peer::MemoryPeer) in tests); a node or a
//! network simulator may drive one with its own I/O instead (see "Driving a
//! session").
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
//! 4. Otherwise the peer's branch forks below our tip, and PROTOCOL.md §6.1 asks
//!    for two passes. **Pass one** fetches the whole branch up to the
//!    claimed tip and checks every block (all of PROTOCOL.md §5, in the branch's
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
//! however long it is. Memory per sync is the page being handled plus, for
//! a branch forking below our tip, one hash per block of the branch (32
//! bytes, gathered in pass one, compared in pass two) and, in pass one, one
//! parent block and a window of `max(11, W + 1)` timestamps: never the
//! branch's blocks. Each request is bounded by the [`Peer`] (time and
//! bytes), or by the driver of a [`SyncSession`]. What bounds the
//! branch is work: in pass one, a branch may hold at most as many blocks as
//! our own chain has above the fork, plus [`ORPHAN_HORIZON`], plus its work
//! divided by the work of a block at [`Chain::pool_difficulty_floor`]. A
//! long branch of cheap blocks (difficulty walked down by spread-out
//! timestamps) is therefore refused after a bounded number of blocks
//! ([`Misbehaviour::TooLight`]), whatever work its peer claims.
//!
//! # Driving a session
//! A driver owns the I/O; the session decides everything else. The contract:
//!
//! 1. Make the session with [`SyncSession::new`].
//! 2. Call [`SyncSession::poll_request`]. `None` means the session has
//!    ended: read [`SyncSession::outcome`] or take
//!    [`SyncSession::into_report`]. `Some(request)` is the one request to
//!    send now; it stays the same until its answer is handled.
//! 3. Send it: [`Request::Tip`] is `GET /tip`, [`Request::Blocks`] is
//!    `GET /blocks?from=H&limit=N`. One request is in flight at a time.
//! 4. Hand its answer to [`SyncSession::handle_response`]: the
//!    [`Response`] of the same kind, or the [`PeerError`] the request failed
//!    with. The driver may retry a failed request itself first; an error
//!    handed over ends the session as [`SyncOutcome::PeerFailed`]. An answer
//!    of the other kind ends it as [`SyncOutcome::PeerFailed`] with
//!    [`PeerError::BadAnswer`]. The session checks every answer itself (its
//!    length, heights, links and blocks): the driver need not.
//! 5. Repeat from 2 until it gives `None`. Calling
//!    [`SyncSession::handle_response`] after the end does nothing.
//!
//! Each [`SyncSession::handle_response`] takes the chain (`target`) and the
//! clock (`now_ms`, against which blocks are judged; [`sync`] passes the
//! same value to every call). `target` must be the same chain at every
//! call: the common ancestor and pass one's context are blocks of it.
//! Between calls the driver may let other blocks into that chain (mined,
//! relayed, from another sync): the session reads the chain when a step
//! needs it, as [`sync`] always has: our best tip and work when the tip is
//! answered (the search starts at that height, and an ancestor that is that
//! tip means step 3), whether we store the block of each probe, the fork
//! block, its work and our pool floor when pass one starts, our timestamps
//! below the fork during pass one, and our best work again before pass two. Every block it stores goes through
//! [`SyncTarget::store_page`], which checks it against the chain as it is
//! then.
//!
//! [`SyncSession::stats`] may be read at any time; a request is counted when
//! its answer is handled. A session is plain data (`Send`, `Debug`), so a
//! driver may keep it between tasks or ticks of a simulated clock.
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

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::{Accepted, Chain, ORPHAN_HORIZON, StoredHeader};
use crate::difficulty::MEDIAN_SPAN;
use crate::hash::BlockHash;
use crate::params::{Params, genesis};
use crate::peer::{MAX_PAGE, Peer, PeerError, TipInfo};
use crate::pow::work;
use crate::validation::{BlockError, check_in_context, check_standalone, next_rules};

/// Why a [`SyncTarget`] did not take a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The block breaks a rule of PROTOCOL.md §5 (the peer's fault, unless the
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
    /// The header of a stored block.
    fn stored_header(&self, hash: &BlockHash) -> Option<StoredHeader>;
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
        self.header(hash).map(|header| header.index)
    }

    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        Chain::chain_work(self, hash)
    }

    fn stored_header(&self, hash: &BlockHash) -> Option<StoredHeader> {
        self.header(hash)
    }

    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64> {
        self.ancestor_at(of, height).map(|b| b.timestamp_ms)
    }

    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored {
        store_page_in(self, page, now_ms, |_| {})
    }
}

/// What [`SyncTarget::store_page`] does for a [`Chain`]: each block of the
/// page through [`Chain::accept_requested`], parents first, stopping at the
/// first refusal; `each` sees every answer (a target that records what was
/// stored wraps this).
pub fn store_page_in(
    chain: &mut Chain,
    page: Vec<Block>,
    now_ms: u64,
    mut each: impl FnMut(Accepted),
) -> PageStored {
    let mut done = PageStored::default();
    for block in page {
        match chain.accept_requested(block, now_ms) {
            Ok(accepted) => {
                done.add(&accepted);
                each(accepted);
            }
            Err(e) => {
                done.refused = Some(Refusal::Invalid(e));
                break;
            }
        }
    }
    done
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
    /// It served a block that breaks a permanent rule of PROTOCOL.md §5.
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

/// A request the session wants sent to its peer (see [`SyncSession`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /tip` ([`Peer::tip`]).
    Tip,
    /// `GET /blocks?from=H&limit=N` ([`Peer::blocks`]): a probe of the
    /// ancestor search (`limit` 1) or a page.
    Blocks {
        /// Height of the first block wanted.
        from: u64,
        /// Most blocks wanted: at least 1, at most [`MAX_PAGE`].
        limit: u32,
    },
}

/// The peer's answer to a [`Request`], as it came: the session checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The answer to [`Request::Tip`].
    Tip(TipInfo),
    /// The answer to [`Request::Blocks`].
    Blocks(Vec<Block>),
}

/// One sync with one peer as a state machine: the steps of the module docs,
/// one request at a time, with the I/O left to the caller (see "Driving a
/// session" in the module docs). [`sync`] drives one over a [`Peer`].
///
/// It is plain data (`Send`), holds no clock and never holds the chain: the
/// chain is lent to each [`SyncSession::handle_response`].
///
/// # Example
/// A driver that answers from a chain in memory, without any executor:
/// ```
/// use jbc_core::miner::{mine_blocking, MineOutcome, MinerConfig, MinerHandle};
/// use jbc_core::sync::{Request, Response, SyncConfig, SyncOutcome, SyncSession};
/// use jbc_core::peer::TipInfo;
/// use jbc_core::{Chain, Params};
///
/// let params = Params { network: "doc".into(), initial_difficulty: 6,
///                       min_difficulty: 6, ..Params::default() };
/// let mut theirs = Chain::new(params.clone());
/// let mut now_ms = 1_700_000_000_000;
/// for _ in 0..5 {
///     now_ms += 1_000;
///     let candidate = theirs.next_template("peer".into(), now_ms);
///     let job = MinerHandle::new().new_job();
///     let outcome = mine_blocking(&candidate.template(), &job, &MinerConfig::default(), || 0);
///     let MineOutcome::Found { nonce, .. } = outcome else { panic!("{outcome:?}") };
///     theirs.accept(candidate.block(nonce), now_ms).unwrap();
/// }
///
/// let mut ours = Chain::new(params);
/// let mut session = SyncSession::new(SyncConfig { page_blocks: 2, ..SyncConfig::default() });
/// while let Some(request) = session.poll_request() {
///     // A node would send the request over HTTP here.
///     let answer = match request {
///         Request::Tip => Response::Tip(TipInfo::of(&theirs)),
///         Request::Blocks { from, limit } => {
///             Response::Blocks(theirs.blocks_from(from, limit as usize).cloned().collect())
///         }
///     };
///     session.handle_response(&mut ours, Ok(answer), now_ms);
/// }
/// assert!(session.is_done());
/// assert_eq!(session.outcome(), Some(&SyncOutcome::Synced));
/// assert_eq!(session.stats().pages, 3);
/// let report = session.into_report().unwrap();
/// assert_eq!(report.stats.blocks_stored, 5);
/// assert_eq!(ours.tip(), theirs.tip());
/// ```
#[derive(Debug)]
pub struct SyncSession {
    /// Blocks asked for per page, in `1..=MAX_PAGE`.
    page_blocks: u64,
    stats: SyncStats,
    phase: Phase,
}

// The session must be `Send` on every target (a node moves it between
// tasks): checked at compile time.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<SyncSession>();
};

/// Where a session stands. Every phase but `Done` has exactly one request
/// in flight.
#[derive(Debug)]
enum Phase {
    /// Step 1: waiting for `GET /tip`.
    Tip,
    /// Step 2: the common-ancestor search, waiting for a probe.
    Search(Search),
    /// Step 3: the peer's chain extends our tip; storing it page by page.
    Extend(Pages),
    /// Step 4, pass one: checking the branch page by page, writing nothing.
    Check(Pages, Box<BranchCheck>),
    /// Step 4, pass two: fetching the branch again, comparing each block with
    /// pass one's hashes (height `from_height + 1` first) and storing it.
    Store(Pages, Vec<BlockHash>),
    /// Ended.
    Done(SyncOutcome),
}

/// What the peer's `GET /tip` claimed.
#[derive(Debug, Clone, Copy)]
struct Claim {
    height: u64,
    hash: BlockHash,
    work: u128,
}

/// The common-ancestor search: what `GET /tip` and our chain said before
/// it, the probe in flight and where the search stands.
#[derive(Debug)]
struct Search {
    claim: Claim,
    /// Our params, for pass one.
    params: Params,
    /// Our genesis hash.
    genesis: BlockHash,
    /// Our best tip and its height when the sync began.
    best_hash: BlockHash,
    best_height: u64,
    /// The height probed by the request in flight.
    height: u64,
    stage: Stage,
}

/// Where the search stands. "We store the peer's block at h" is true up to
/// the fork and false above it (a stored block's ancestors are all stored),
/// so: probe a guess, gallop away from it by doubling steps until the answer
/// flips, then bisect.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// The first probe, at `min(our height, its height)`.
    Guess,
    /// We store the peer's block at `low` (hash `low_hash`): galloping up.
    Up {
        low: u64,
        low_hash: BlockHash,
        step: u64,
    },
    /// We do not store the peer's block at `high`: galloping down.
    Down { high: u64, step: u64 },
    /// We store the peer's block at `low` and not the one at `high`; `high`
    /// may be the virtual height just above the peer's tip.
    Bisect {
        low: u64,
        low_hash: BlockHash,
        high: u64,
    },
}

/// Fetching the peer's best chain above the common ancestor up to its
/// claimed tip, page by page.
#[derive(Debug)]
struct Pages {
    claim: Claim,
    /// The common ancestor: height and hash.
    from_height: u64,
    from_hash: BlockHash,
    /// The first height of the page in flight (at most `claim.height`).
    next: u64,
    /// The hash of the block just below `next`.
    prev_hash: BlockHash,
}

impl Pages {
    fn new(claim: Claim, from_height: u64, from_hash: BlockHash) -> Pages {
        Pages {
            claim,
            from_height,
            from_hash,
            next: from_height.saturating_add(1),
            prev_hash: from_hash,
        }
    }

    /// The same pages from the start again (pass two).
    fn restart(self) -> Pages {
        Pages::new(self.claim, self.from_height, self.from_hash)
    }

    /// Whether every page up to the claimed tip has been fetched.
    fn is_done(&self) -> bool {
        self.next > self.claim.height
    }

    /// The `limit` of the page at `next` (while not done).
    fn limit(&self, page_blocks: u64) -> u32 {
        let wanted = (self.claim.height - self.next).saturating_add(1);
        // At most MAX_PAGE, so it fits in a u32.
        page_blocks.min(wanted) as u32
    }
}

/// Pass one's state: one hash per block of the branch, the last block and a
/// window of timestamps; the work bound of the module docs ("Bounds").
#[derive(Debug)]
struct BranchCheck {
    params: Params,
    /// Blocks allowed beyond what the branch's work pays for.
    slack_blocks: u64,
    /// Chain work at the common ancestor.
    fork_work: u128,
    /// The work of a block at our pool floor.
    unit: u128,
    /// How many timestamps `recent` keeps.
    window: usize,
    /// Timestamps of the branch's last blocks, enough for the median time
    /// past and the retarget window; older ones come from our store.
    recent: VecDeque<u64>,
    /// The last block checked (the common ancestor at first).
    parent: StoredHeader,
    /// The branch's hashes, height `from_height + 1` first.
    hashes: Vec<BlockHash>,
    /// Chain work of the last block checked.
    work: u128,
}

impl BranchCheck {
    fn new<T: SyncTarget + ?Sized>(
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
    fn check<T: SyncTarget + ?Sized>(
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
    /// A session that has sent nothing yet: its first request is
    /// [`Request::Tip`].
    pub fn new(config: SyncConfig) -> SyncSession {
        SyncSession {
            page_blocks: u64::from(config.page_blocks.clamp(1, MAX_PAGE)),
            stats: SyncStats::default(),
            phase: Phase::Tip,
        }
    }

    /// The request to send next; the same value until its answer is handled
    /// with [`SyncSession::handle_response`]; `None` once the session has
    /// ended.
    pub fn poll_request(&self) -> Option<Request> {
        match &self.phase {
            Phase::Tip => Some(Request::Tip),
            Phase::Search(search) => Some(Request::Blocks {
                from: search.height,
                limit: 1,
            }),
            Phase::Extend(pages) | Phase::Check(pages, _) | Phase::Store(pages, _) => {
                Some(Request::Blocks {
                    from: pages.next,
                    limit: pages.limit(self.page_blocks),
                })
            }
            Phase::Done(_) => None,
        }
    }

    /// Feeds the answer to the request [`SyncSession::poll_request`] gave:
    /// the peer's [`Response`], or the [`PeerError`] the request failed with
    /// (which ends the session as [`SyncOutcome::PeerFailed`]). `target` is
    /// our chain, the same one at every call (the session never holds it);
    /// `now_ms` is the caller's clock, against which blocks are judged.
    ///
    /// A response of the wrong kind ([`Response::Blocks`] to
    /// [`Request::Tip`], or [`Response::Tip`] to [`Request::Blocks`]) is
    /// taken as a failed request: the session ends as
    /// [`SyncOutcome::PeerFailed`] with [`PeerError::BadAnswer`], storing
    /// nothing. Once the session has ended, this does nothing.
    pub fn handle_response<T: SyncTarget + ?Sized>(
        &mut self,
        target: &mut T,
        answer: Result<Response, PeerError>,
        now_ms: u64,
    ) {
        if self.is_done() {
            return;
        }
        // A placeholder, replaced below before returning.
        let phase = core::mem::replace(&mut self.phase, Phase::Tip);
        self.phase = match self.step(target, phase, answer, now_ms) {
            Ok(phase) => phase,
            Err(outcome) => Phase::Done(outcome),
        };
    }

    /// Whether the session has ended (then [`SyncSession::outcome`] and
    /// [`SyncSession::into_report`] are `Some`, and
    /// [`SyncSession::poll_request`] is `None`).
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// What the session did so far. A request is counted (in
    /// [`SyncStats::probes`] or [`SyncStats::pages`]) when its answer is
    /// handled, whatever the answer.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// How the session ended, once it has.
    pub fn outcome(&self) -> Option<&SyncOutcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// The final report (outcome and stats); `None` until the session has
    /// ended.
    pub fn into_report(self) -> Option<SyncReport> {
        match self.phase {
            Phase::Done(outcome) => Some(SyncReport {
                outcome,
                stats: self.stats,
            }),
            _ => None,
        }
    }

    /// Handles the answer to `phase`'s request: the next phase, or `Err`
    /// with how the session ends.
    fn step<T: SyncTarget + ?Sized>(
        &mut self,
        target: &mut T,
        phase: Phase,
        answer: Result<Response, PeerError>,
        now_ms: u64,
    ) -> Result<Phase, SyncOutcome> {
        match phase {
            Phase::Tip => {
                let tip = match answer.map_err(SyncOutcome::PeerFailed)? {
                    Response::Tip(tip) => tip,
                    Response::Blocks(_) => return Err(wrong_kind("the tip", "blocks")),
                };
                self.on_tip(&*target, tip)
            }
            Phase::Search(search) => {
                self.stats.probes += 1;
                let page = blocks_of(answer)?;
                self.on_probe(&*target, search, page)
            }
            Phase::Extend(mut pages) => {
                self.stats.pages += 1;
                let page = self.receive(&mut pages, blocks_of(answer)?)?;
                self.store(target, page, None, now_ms)?;
                self.after_page(&*target, Phase::Extend(pages))
            }
            Phase::Check(mut pages, mut check) => {
                self.stats.pages += 1;
                let page = self.receive(&mut pages, blocks_of(answer)?)?;
                check.check(&*target, &pages, page, now_ms, &mut self.stats)?;
                self.after_page(&*target, Phase::Check(pages, check))
            }
            Phase::Store(mut pages, expected) => {
                self.stats.pages += 1;
                let page = self.receive(&mut pages, blocks_of(answer)?)?;
                self.store(target, page, Some((&expected, pages.from_height)), now_ms)?;
                self.after_page(&*target, Phase::Store(pages, expected))
            }
            Phase::Done(outcome) => Err(outcome),
        }
    }

    /// Step 1: the peer's tip. The ancestor search starts, unless the peer
    /// is on another network or claims no more work than ours.
    fn on_tip<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        tip: TipInfo,
    ) -> Result<Phase, SyncOutcome> {
        self.stats.peer_height = Some(tip.height);
        self.stats.peer_work = Some(tip.work);
        let params = target.params();
        // Genesis is derived from the params: equal params have the same
        // one, so only different params are hashed (a `/tip` answer is the
        // most common message a node takes).
        if tip.params != params {
            let ours = genesis(&params).hash;
            let theirs = genesis(&tip.params).hash;
            if theirs != ours {
                return Err(SyncOutcome::OtherNetwork { ours, theirs });
            }
        }
        let (best_hash, best_height, best_work) = target.best();
        if tip.work <= best_work {
            return Err(SyncOutcome::UpToDate);
        }
        let ours = genesis(&params).hash;
        Ok(Phase::Search(Search {
            claim: Claim {
                height: tip.height,
                hash: tip.hash,
                work: tip.work,
            },
            params,
            genesis: ours,
            best_hash,
            best_height,
            height: best_height.min(tip.height),
            stage: Stage::Guess,
        }))
    }

    /// Step 2: the answer to the probe at `search.height`.
    fn on_probe<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        mut search: Search,
        page: Vec<Block>,
    ) -> Result<Phase, SyncOutcome> {
        let height = search.height;
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
        let hash = block.hash;
        let stored = target.height_of(&hash) == Some(height);
        let other_network = || SyncOutcome::OtherNetwork {
            ours: search.genesis,
            theirs: hash,
        };
        search.stage = match search.stage {
            Stage::Guess if stored => Stage::Up {
                low: height,
                low_hash: hash,
                step: 1,
            },
            Stage::Guess if height == 0 => return Err(other_network()),
            Stage::Guess => Stage::Down {
                high: height,
                step: 1,
            },
            Stage::Up { low, low_hash, .. } if !stored => Stage::Bisect {
                low,
                low_hash,
                high: height,
            },
            Stage::Up { step, .. } => Stage::Up {
                low: height,
                low_hash: hash,
                step: step.saturating_mul(2),
            },
            Stage::Down { high, .. } if stored => Stage::Bisect {
                low: height,
                low_hash: hash,
                high,
            },
            Stage::Down { .. } if height == 0 => return Err(other_network()),
            Stage::Down { step, .. } => Stage::Down {
                high: height,
                step: step.saturating_mul(2),
            },
            Stage::Bisect { high, .. } if stored => Stage::Bisect {
                low: height,
                low_hash: hash,
                high,
            },
            Stage::Bisect { low, low_hash, .. } => Stage::Bisect {
                low,
                low_hash,
                high: height,
            },
        };
        self.next_probe(target, search)
    }

    /// The search's next probe, or, once the ancestor is found, the first
    /// phase that fetches pages.
    fn next_probe<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        mut search: Search,
    ) -> Result<Phase, SyncOutcome> {
        let peer_height = search.claim.height;
        loop {
            match search.stage {
                // Its height was set when the search began.
                Stage::Guess => break,
                Stage::Up {
                    low,
                    low_hash,
                    step,
                } => match low.checked_add(step).filter(|h| *h <= peer_height) {
                    Some(height) => {
                        search.height = height;
                        break;
                    }
                    None => {
                        search.stage = Stage::Bisect {
                            low,
                            low_hash,
                            high: peer_height.saturating_add(1),
                        }
                    }
                },
                Stage::Down { high, step } => {
                    search.height = high.saturating_sub(step);
                    break;
                }
                Stage::Bisect {
                    low,
                    low_hash,
                    high,
                } => {
                    if high - low > 1 {
                        search.height = low + (high - low) / 2;
                        break;
                    }
                    return self.found(target, search, low, low_hash);
                }
            }
        }
        Ok(Phase::Search(search))
    }

    /// The common ancestor is at `height` (hash `hash`): step 3 if it is our
    /// best tip (as it was when the sync began), else step 4's pass one.
    fn found<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        search: Search,
        height: u64,
        hash: BlockHash,
    ) -> Result<Phase, SyncOutcome> {
        self.stats.common_height = Some(height);
        let pages = Pages::new(search.claim, height, hash);
        if hash == search.best_hash {
            // The peer's chain extends ours: every block adds work to our best.
            return self.after_page(target, Phase::Extend(pages));
        }
        let slack = search.best_height.saturating_sub(height) + ORPHAN_HORIZON;
        let check = BranchCheck::new(target, search.params, &pages, slack)?;
        self.after_page(target, Phase::Check(pages, Box::new(check)))
    }

    /// `phase` while it has pages left to fetch, else what follows it.
    fn after_page<T: SyncTarget + ?Sized>(
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
                if check.work <= target.best().2 {
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
    fn receive(&mut self, pages: &mut Pages, page: Vec<Block>) -> Result<Vec<Block>, SyncOutcome> {
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
    fn store<T: SyncTarget + ?Sized>(
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
    }
}

/// How a sync ends once every page up to the claimed tip is stored.
fn stored_up_to<T: SyncTarget + ?Sized>(target: &T, claim: &Claim) -> SyncOutcome {
    match target.chain_work(&claim.hash) {
        Some(actual) if actual != claim.work => misbehaved(Misbehaviour::WorkMismatch {
            claimed: claim.work,
            actual,
        }),
        Some(_) => SyncOutcome::Synced,
        None => SyncOutcome::PeerChanged,
    }
}

/// The blocks of an answer to [`Request::Blocks`].
fn blocks_of(answer: Result<Response, PeerError>) -> Result<Vec<Block>, SyncOutcome> {
    match answer.map_err(SyncOutcome::PeerFailed)? {
        Response::Blocks(page) => Ok(page),
        Response::Tip(_) => Err(wrong_kind("blocks", "the tip")),
    }
}

/// How a session ends on an answer of the wrong kind.
fn wrong_kind(asked: &str, got: &str) -> SyncOutcome {
    SyncOutcome::PeerFailed(PeerError::BadAnswer(alloc::format!(
        "asked for {asked}, got {got}"
    )))
}

fn misbehaved(m: Misbehaviour) -> SyncOutcome {
    SyncOutcome::Misbehaved(m)
}

/// Fetches from `peer` what it has and we lack, if it claims more work,
/// storing it in `target` at local time `now_ms`: a [`SyncSession`] driven
/// over the peer, one request at a time, until it ends. See the module docs
/// for the steps and bounds.
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
    let mut session = SyncSession::new(*config);
    while let Some(request) = session.poll_request() {
        let answer = match request {
            Request::Tip => peer.tip().await.map(Response::Tip),
            Request::Blocks { from, limit } => peer.blocks(from, limit).await.map(Response::Blocks),
        };
        session.handle_response(target, answer, now_ms);
    }
    session
        .into_report()
        .expect("a session with no request to send has ended")
}
