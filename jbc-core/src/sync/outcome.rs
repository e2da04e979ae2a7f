//! How a sync ended ([`SyncOutcome`], [`Misbehaviour`]) and what it did
//! ([`SyncStats`], [`SyncReport`]).

use crate::hash::BlockHash;
use crate::peer::PeerError;
use crate::validation::BlockError;

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

/// The result of [`sync`](super::sync): how it ended and what it did.
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
