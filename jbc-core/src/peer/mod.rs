//! [`Peer`]: the node HTTP API of PROTOCOL.md §7 as an async trait, with the JSON
//! types both sides share ([`SubmitStatus`] among them). jbc-core holds no
//! HTTP client: a client moves bytes with a
//! [`Transport`](crate::wire::Transport) (jbc-client with reqwest for
//! jbc-node and jbc-miner, jbc-web with the browser's `fetch`), which is a
//! `Peer` decoded by the rules of [`wire`](crate::wire); tests implement the
//! trait in memory ([`MemoryPeer`]).
//!
//! # Send or not
//! A tokio node needs `Send` futures; a wasm page cannot produce them (its
//! JS values are not `Send`). The trait's futures are bounded by
//! [`MaybeSend`], which is `Send` on every target except `wasm32`, where it
//! is implemented for every type (the "maybe-Send" pattern of
//! rust-lightning). Generic code in this crate only ever asks for `MaybeSend`.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, Ref, RefCell};
use core::future::{Future, ready};

use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::chain::Chain;
use crate::hash::BlockHash;
use crate::params::Params;
use crate::validation::NextRules;

mod status;

pub use status::SubmitStatus;

/// `Send` on native targets, nothing on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// `Send` on native targets, nothing on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// Most blocks one `GET /blocks` page may hold.
pub const MAX_PAGE: u32 = 500;

/// The body of `GET /tip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TipInfo {
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub hash: BlockHash,
    /// Total work of the best chain (a decimal string in JSON).
    #[serde(with = "work_string")]
    pub work: u128,
    /// The network's params.
    pub params: Params,
    /// What the next block must look like.
    pub next: NextRules,
}

impl TipInfo {
    /// The `GET /tip` answer of `chain`.
    pub fn of(chain: &Chain) -> TipInfo {
        TipInfo {
            height: chain.height(),
            hash: chain.tip().hash,
            work: chain.best_work(),
            params: chain.params().clone(),
            next: chain.next_rules(),
        }
    }
}

/// The 200 body of `POST /mined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitReply {
    /// What the node did with the block: `accepted`, `reorg`, `side`,
    /// `duplicate`, `orphan` or `ignored`, or a status this build does not know.
    pub status: SubmitStatus,
    /// Height of the submitted block.
    pub height: u64,
    /// Hash of the submitted block.
    pub hash: BlockHash,
}

/// Every error body of the API: `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A protocol error code: a §5 code, `malformed`, `not_found`, `too_large`, ….
    pub error: String,
    /// A human-readable explanation.
    pub message: String,
}

/// Why a call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The peer could not be reached, or timed out.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with an API error.
    #[error("peer answered {status} {}: {}", body.error, body.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// The peer's answer could not be understood (bad JSON, too large, …).
    #[error("peer sent an invalid answer: {0}")]
    BadAnswer(String),
}

/// A JBC node reached over its API (PROTOCOL.md §7), seen from a client.
pub trait Peer {
    /// `GET /tip`.
    fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend;
    /// `GET /blocks?from=H&limit=N`: best-chain blocks from height `from`
    /// (callers must not trust the peer to respect `limit`).
    fn blocks(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend;
    /// `GET /blocks/{hash}`: `Ok(None)` on 404 `not_found`.
    fn block(
        &self,
        hash: BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend;
    /// `POST /mined`.
    fn submit(
        &self,
        block: &Block,
    ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend;
}

/// A [`Peer`] that is a [`Chain`] in memory: a test and demo helper, not a
/// network client. It answers like a node (PROTOCOL.md §7): `blocks` caps `limit`
/// at [`MAX_PAGE`], `submit` runs [`Chain::accept`] and maps a rejection to a
/// 422 [`PeerError::Api`] with the §5 code.
///
/// Its futures are ready at once and `Send`, but the peer itself is not
/// `Sync` (it uses a `RefCell` so that `submit` works through `&self`); drive
/// it with a single-threaded executor such as `futures::executor::block_on`.
#[derive(Debug)]
pub struct MemoryPeer {
    chain: RefCell<Chain>,
    now_ms: Cell<u64>,
}

impl MemoryPeer {
    /// A peer serving `chain`. Its clock, used to judge submitted blocks, is
    /// set to `u64::MAX` (no block is "in the future") until
    /// [`MemoryPeer::set_now_ms`] says otherwise.
    pub fn new(chain: Chain) -> MemoryPeer {
        MemoryPeer {
            chain: RefCell::new(chain),
            now_ms: Cell::new(u64::MAX),
        }
    }

    /// Sets the clock used by `submit`, in milliseconds since the epoch.
    pub fn set_now_ms(&self, now_ms: u64) {
        self.now_ms.set(now_ms);
    }

    /// The chain behind the peer.
    pub fn chain(&self) -> Ref<'_, Chain> {
        self.chain.borrow()
    }

    /// Gives the chain back.
    pub fn into_chain(self) -> Chain {
        self.chain.into_inner()
    }
}

impl Peer for MemoryPeer {
    fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
        ready(Ok(TipInfo::of(&self.chain.borrow())))
    }

    fn blocks(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
        let limit = limit.min(MAX_PAGE) as usize;
        let chain = self.chain.borrow();
        ready(Ok(chain.blocks_from(from, limit).cloned().collect()))
    }

    fn block(
        &self,
        hash: BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
        ready(Ok(self.chain.borrow().block(&hash).cloned()))
    }

    fn submit(
        &self,
        block: &Block,
    ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
        let (height, hash) = (block.index, block.hash);
        let result = self
            .chain
            .borrow_mut()
            .accept(block.clone(), self.now_ms.get());
        ready(match result {
            Ok(accepted) => Ok(SubmitReply {
                status: accepted.status.into(),
                height,
                hash,
            }),
            Err(error) => Err(PeerError::Api {
                status: 422,
                body: ErrorBody {
                    error: String::from(error.code()),
                    message: alloc::format!("{error}"),
                },
            }),
        })
    }
}

/// Serde helpers for chain work, a `u128` written as a decimal string.
pub mod work_string {
    use alloc::string::String;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `work` as a decimal string.
    pub fn serialize<S: Serializer>(work: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(work)
    }

    /// Reads a decimal string into a `u128`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(D::Error::custom("work must be a decimal string"));
        }
        s.parse().map_err(D::Error::custom)
    }
}
