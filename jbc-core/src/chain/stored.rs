//! What the chain keeps of each stored block: its [`StoredHeader`] always,
//! the body only when it was asked to ([`Kept`]).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::block::StoredHeader;
use crate::hash::BlockHash;

/// The stored blocks themselves, by id (acceptance order, genesis 0): whole
/// blocks for a chain that keeps bodies, headers only for one that does not.
#[derive(Debug, Clone)]
pub(super) enum Kept {
    /// Shared whole blocks (cloning one copies no body).
    Bodies(Vec<Arc<Block>>),
    /// Headers; the bodies are the driver's.
    Headers(Vec<StoredHeader>),
}

impl Kept {
    pub(super) fn push(&mut self, block: &Arc<Block>) {
        match self {
            Kept::Bodies(blocks) => blocks.push(block.clone()),
            Kept::Headers(headers) => headers.push(StoredHeader::from(&**block)),
        }
    }

    /// Adds a header to a headers-only chain (a chain that keeps bodies
    /// never gets one: see [`super::Chain::insert_trusted_header`]).
    pub(super) fn push_header(&mut self, header: StoredHeader) {
        if let Kept::Headers(headers) = self {
            headers.push(header);
        }
    }

    pub(super) fn truncate(&mut self, len: usize) {
        match self {
            Kept::Bodies(blocks) => blocks.truncate(len),
            Kept::Headers(headers) => headers.truncate(len),
        }
    }

    pub(super) fn header(&self, id: u32) -> StoredHeader {
        match self {
            Kept::Bodies(blocks) => StoredHeader::from(&*blocks[id as usize]),
            Kept::Headers(headers) => headers[id as usize],
        }
    }

    pub(super) fn body(&self, id: u32) -> Option<&Arc<Block>> {
        match self {
            Kept::Bodies(blocks) => Some(&blocks[id as usize]),
            Kept::Headers(_) => None,
        }
    }

    pub(super) fn index(&self, id: u32) -> u64 {
        match self {
            Kept::Bodies(blocks) => blocks[id as usize].index,
            Kept::Headers(headers) => headers[id as usize].index,
        }
    }

    pub(super) fn timestamp_ms(&self, id: u32) -> u64 {
        match self {
            Kept::Bodies(blocks) => blocks[id as usize].timestamp_ms,
            Kept::Headers(headers) => headers[id as usize].timestamp_ms,
        }
    }

    pub(super) fn hash(&self, id: u32) -> BlockHash {
        match self {
            Kept::Bodies(blocks) => blocks[id as usize].hash,
            Kept::Headers(headers) => headers[id as usize].hash,
        }
    }
}

/// A chain work (a `u128`) kept as two `u64`s, so a stored block's
/// bookkeeping packs into 24 bytes instead of 32 (a `u128` is 16-aligned);
/// it matters to the simulator, which keeps 10,000 chains.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackedWork([u64; 2]);

impl From<u128> for PackedWork {
    fn from(work: u128) -> PackedWork {
        PackedWork([(work >> 64) as u64, work as u64])
    }
}

impl From<PackedWork> for u128 {
    fn from(work: PackedWork) -> u128 {
        (u128::from(work.0[0]) << 64) | u128::from(work.0[1])
    }
}
