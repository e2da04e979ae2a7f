//! The validity rules of a block whose parent is known (SPEC §5).

use serde::{Deserialize, Serialize};

use crate::block::{Block, MAX_DATA_BYTES};
use crate::hash::BlockHash;
use crate::pow::meets_difficulty;

/// How far ahead of the local clock a timestamp may be, in milliseconds.
pub const MAX_FUTURE_MS: u64 = 120_000;

/// Why a block is invalid. Each variant is one SPEC §5 code, checked in the
/// order of the variants; the first failing rule is the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum BlockError {
    /// `data_too_large`: data over 4096 bytes.
    #[error("data is larger than 4096 bytes")]
    DataTooLarge,
    /// `bad_hash`: the `hash` field is not the hash of the header.
    #[error("hash is not the SHA-256 of the block's header")]
    BadHash,
    /// `bad_index`: the index is not the parent's index + 1.
    #[error("index is not the parent's index + 1")]
    BadIndex,
    /// `bad_difficulty`: not the difficulty the retarget rule expects.
    #[error("difficulty is not the expected difficulty at this height")]
    BadDifficulty,
    /// `bad_pow`: the hash has fewer leading zero bits than the difficulty.
    #[error("hash does not meet the difficulty (too few leading zero bits)")]
    BadPow,
    /// `timestamp_too_old`: not after the median time past of the parent.
    #[error("timestamp is not after the median time past of the last 11 blocks")]
    TimestampTooOld,
    /// `timestamp_in_future`: more than 120 s ahead of the local clock. Not
    /// permanent: the block may be offered again later.
    #[error("timestamp is more than 120 s ahead of this node's clock")]
    TimestampInFuture,
}

impl BlockError {
    /// Every code, in the order the rules are checked.
    pub const ALL: [BlockError; 7] = [
        BlockError::DataTooLarge,
        BlockError::BadHash,
        BlockError::BadIndex,
        BlockError::BadDifficulty,
        BlockError::BadPow,
        BlockError::TimestampTooOld,
        BlockError::TimestampInFuture,
    ];

    /// The SPEC code, e.g. `"bad_pow"`.
    pub fn code(&self) -> &'static str {
        match self {
            BlockError::DataTooLarge => "data_too_large",
            BlockError::BadHash => "bad_hash",
            BlockError::BadIndex => "bad_index",
            BlockError::BadDifficulty => "bad_difficulty",
            BlockError::BadPow => "bad_pow",
            BlockError::TimestampTooOld => "timestamp_too_old",
            BlockError::TimestampInFuture => "timestamp_in_future",
        }
    }

    /// The error with this SPEC code, if any.
    pub fn from_code(code: &str) -> Option<BlockError> {
        BlockError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Whether the block can never become valid (everything but a future timestamp).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, BlockError::TimestampInFuture)
    }
}

/// What the child of a given parent must look like: all a miner needs, and
/// the context for rules 3–6 (the `next` object of `GET /tip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRules {
    /// Height of the child.
    pub index: u64,
    /// Hash of the parent.
    pub prev_hash: BlockHash,
    /// Expected difficulty of the child.
    pub difficulty: u32,
    /// Smallest allowed timestamp: median time past + 1 (JSON name `min_timestamp`).
    #[serde(rename = "min_timestamp")]
    pub min_timestamp_ms: u64,
}

/// Rules 1–2, which need no parent: data size, and that `hash` is the hash of
/// the header.
pub fn check_standalone(block: &Block) -> Result<(), BlockError> {
    if block.data.len() > MAX_DATA_BYTES {
        return Err(BlockError::DataTooLarge);
    }
    if !block.hash_is_correct() {
        return Err(BlockError::BadHash);
    }
    Ok(())
}

/// Rules 3–7 for a block whose `hash` is already known to be correct.
pub fn check_in_context(block: &Block, next: &NextRules, now_ms: u64) -> Result<(), BlockError> {
    if block.index != next.index {
        return Err(BlockError::BadIndex);
    }
    if block.difficulty != next.difficulty {
        return Err(BlockError::BadDifficulty);
    }
    if !meets_difficulty(&block.hash, block.difficulty) {
        return Err(BlockError::BadPow);
    }
    if block.timestamp_ms < next.min_timestamp_ms {
        return Err(BlockError::TimestampTooOld);
    }
    if block.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(BlockError::TimestampInFuture);
    }
    Ok(())
}

/// All of SPEC §5, in order, for a block offered as the child described by `next`.
pub fn validate(block: &Block, next: &NextRules, now_ms: u64) -> Result<(), BlockError> {
    check_standalone(block)?;
    check_in_context(block, next, now_ms)
}
