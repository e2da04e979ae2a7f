//! [`SyncTarget`]: what a sync stores into (a [`Chain`], or a node's
//! wrapper of one that records what was stored).

use alloc::vec::Vec;

use crate::block::Block;
use crate::block::StoredHeader;
use crate::chain::{Accepted, Chain};
use crate::hash::BlockHash;
use crate::params::Params;
#[cfg(doc)]
use crate::peer::Peer;
use crate::validation::BlockError;

/// Why a [`SyncTarget`] did not take a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The block breaks a rule of PROTOCOL.md §5 (the peer's fault, unless the
    /// rule is `timestamp_in_future`).
    #[error("{0}")]
    Invalid(BlockError),
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

/// Our best tip, as a [`SyncTarget`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
    /// Work of the best chain it ends, genesis included.
    pub work: u128,
}

/// The local side of a sync: what [`sync`](super::sync) needs to know about our chain and
/// how it stores the blocks it fetched. [`Chain`] implements it; a node
/// implements it on its own state to persist and announce each page, taking
/// its lock only for each call instead of for the whole sync.
pub trait SyncTarget {
    /// Our network's params.
    fn params(&self) -> Params;
    /// Our best tip and the work of our best chain.
    fn best(&self) -> Tip;
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

    fn best(&self) -> Tip {
        Tip {
            hash: self.tip().hash,
            height: self.height(),
            work: self.best_work(),
        }
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
