//! What the [`Chain`](super::Chain) answers: [`Status`] and [`Accepted`] for
//! an offered block, [`LoadError`] for a trusted reload.

use alloc::sync::Arc;
use alloc::vec::Vec;

#[cfg(doc)]
use super::Chain;
use crate::block::Block;
use crate::hash::BlockHash;
use crate::validation::BlockError;

/// What happened to the block offered to [`Chain::accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It extended the best chain (it, or a pooled block it connected, is the new tip).
    NewTip,
    /// The best chain switched to its branch: blocks were disconnected.
    Reorg,
    /// Stored on a side branch with exactly the work of the best chain.
    Side,
    /// Already stored.
    Duplicate,
    /// Its parent is unknown: it waits in the memory pool (not stored).
    Orphan,
    /// Valid or plausible, but its branch has less work than the best chain
    /// (PROTOCOL.md §6.1): not stored; it may wait in the memory pool.
    Ignored,
}

impl Status {
    /// The name used by `POST /mined`: `accepted`, `reorg`, `side`,
    /// `duplicate`, `orphan`, `ignored`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::NewTip => "accepted",
            Status::Reorg => "reorg",
            Status::Side => "side",
            Status::Duplicate => "duplicate",
            Status::Orphan => "orphan",
            Status::Ignored => "ignored",
        }
    }

    /// Whether the block is stored (and so must be durable before a node
    /// acknowledges it): `accepted`, `reorg`, `side`, `duplicate`.
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            Status::NewTip | Status::Reorg | Status::Side | Status::Duplicate
        )
    }
}

/// The full answer of [`Chain::accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// What happened to the offered block.
    pub status: Status,
    /// Blocks newly stored in the tree, parents before children: the offered
    /// block and any pooled blocks it connected, whole. A node persists
    /// these (a headers-only chain keeps no body but the recent ones).
    pub stored: Vec<Arc<Block>>,
    /// Blocks that left the best chain, old tip first (empty unless `Reorg`).
    /// They stay stored.
    pub disconnected: Vec<BlockHash>,
    /// Blocks that joined the best chain, lowest first.
    pub connected: Vec<BlockHash>,
}

impl Accepted {
    pub(super) fn unchanged(status: Status) -> Accepted {
        Accepted {
            status,
            stored: Vec::new(),
            disconnected: Vec::new(),
            connected: Vec::new(),
        }
    }

    /// Whether the best chain changed.
    pub fn tip_changed(&self) -> bool {
        !self.connected.is_empty()
    }

    /// The hashes of [`Accepted::stored`], in order.
    pub fn stored_hashes(&self) -> Vec<BlockHash> {
        self.stored.iter().map(|block| block.hash).collect()
    }
}

/// Why [`Chain::insert_trusted`] refused a stored block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The stored block's parent was not loaded before it.
    #[error("stored block {0} comes before its parent")]
    UnknownParent(BlockHash),
    /// A chain that keeps bodies was given a header without its body.
    #[error("stored block {0} comes without its body, and this chain keeps bodies")]
    MissingBody(BlockHash),
    /// The stored block breaks a rule that does not need re-hashing.
    #[error("stored block {hash} is invalid here: {reason}")]
    Invalid {
        /// The block.
        hash: BlockHash,
        /// The rule it breaks.
        reason: BlockError,
    },
}
