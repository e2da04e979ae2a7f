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
use alloc::vec::Vec;

use crate::block::Block;
use crate::hash::BlockHash;
use crate::peer::{MAX_PAGE, Peer, PeerError};
#[cfg(doc)]
use crate::{Chain, chain::ORPHAN_HORIZON};

mod outcome;
mod pages;
mod request;
mod search;
mod target;

pub use outcome::{Misbehaviour, SyncOutcome, SyncReport, SyncStats};
use pages::{BranchCheck, Pages};
pub use request::{Request, Response};
use search::Search;
pub use target::{PageStored, Refusal, SyncTarget, Tip, store_page_in};

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
