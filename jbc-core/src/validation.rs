//! The validity rules of a block whose parent is known (PROTOCOL.md §5).

use serde::{Deserialize, Serialize};

use crate::block::StoredHeader;
use crate::block::{Block, MAX_DATA_BYTES};
use crate::difficulty::{MEDIAN_SPAN, is_retarget_height, median_time_past, retarget};
use crate::hash::BlockHash;
use crate::params::Params;
use crate::pow::meets_difficulty;

/// How far ahead of the local clock a timestamp may be, in milliseconds.
pub const MAX_FUTURE_MS: u64 = 120_000;

/// Why a block is invalid. Each variant is one PROTOCOL.md §5 code, checked in the
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

    /// The protocol error code, e.g. `"bad_pow"`.
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

    /// The error with this protocol error code, if any.
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
///
/// In JSON it is `{"index", "prev_hash", "difficulty", "min_timestamp"}`,
/// where `min_timestamp` is the median time past + 1 (saturating). Rule 6
/// itself is checked against the median, so a parent whose median time past
/// is `u64::MAX` has no valid child at all (no saturation loophole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "NextRulesJson", into = "NextRulesJson")]
pub struct NextRules {
    /// Height of the child.
    pub index: u64,
    /// Hash of the parent.
    pub prev_hash: BlockHash,
    /// Expected difficulty of the child.
    pub difficulty: u32,
    /// Smallest allowed timestamp: median time past + 1, saturating (JSON
    /// name `min_timestamp`). What a miner puts in its header at least.
    pub min_timestamp_ms: u64,
    /// The median time past itself: a timestamp must be greater (rule 6).
    /// Not in the JSON; read back as `min_timestamp - 1`.
    pub median_time_past_ms: u64,
}

impl NextRules {
    /// The rules for a block at height `index` on the parent `prev_hash`,
    /// which must have `difficulty` and a timestamp after
    /// `median_time_past_ms` (the median of the parent's last
    /// [`MEDIAN_SPAN`] timestamps).
    pub fn new(
        index: u64,
        prev_hash: BlockHash,
        difficulty: u32,
        median_time_past_ms: u64,
    ) -> Self {
        NextRules {
            index,
            prev_hash,
            difficulty,
            min_timestamp_ms: median_time_past_ms.saturating_add(1),
            median_time_past_ms,
        }
    }
}

/// The wire form of [`NextRules`].
#[derive(Serialize, Deserialize)]
struct NextRulesJson {
    index: u64,
    prev_hash: BlockHash,
    difficulty: u32,
    min_timestamp: u64,
}

impl From<NextRulesJson> for NextRules {
    fn from(j: NextRulesJson) -> Self {
        NextRules {
            index: j.index,
            prev_hash: j.prev_hash,
            difficulty: j.difficulty,
            min_timestamp_ms: j.min_timestamp,
            median_time_past_ms: j.min_timestamp.saturating_sub(1),
        }
    }
}

impl From<NextRules> for NextRulesJson {
    fn from(r: NextRules) -> Self {
        NextRulesJson {
            index: r.index,
            prev_hash: r.prev_hash,
            difficulty: r.difficulty,
            min_timestamp: r.min_timestamp_ms,
        }
    }
}

/// Computes the [`NextRules`] of a child of `parent` on a branch whose
/// timestamps `timestamp_at(height)` gives for every height up to the
/// parent's (PROTOCOL.md §5: retargeting and median time past). The one place the
/// rules are derived: the block tree, trusted reload and sync's header-only
/// first pass all call it with their own view of the branch.
pub fn next_rules(
    params: &Params,
    parent: &StoredHeader,
    mut timestamp_at: impl FnMut(u64) -> u64,
) -> NextRules {
    let height = parent.index + 1;
    let difficulty = if is_retarget_height(params, height) {
        let start = timestamp_at(height - 1 - params.retarget_window);
        retarget(params, parent.difficulty, start, parent.timestamp_ms)
    } else {
        parent.difficulty
    };
    let span = (MEDIAN_SPAN as u64).min(height);
    let median = median_time_past((0..span).map(|back| {
        if back == 0 {
            parent.timestamp_ms
        } else {
            timestamp_at(parent.index - back)
        }
    }));
    NextRules::new(height, parent.hash, difficulty, median)
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

/// Rules 3, 4 and 6: what links a block to its parent (index, difficulty,
/// timestamp after the median time past). Needs no hashing, so trusted
/// reload checks exactly these.
pub fn check_linkage(header: &StoredHeader, next: &NextRules) -> Result<(), BlockError> {
    check_position(header.index, header.difficulty, next)?;
    check_median_time(header.timestamp_ms, next)
}

/// Rules 3 and 4, for a block at `index` with `difficulty`.
fn check_position(index: u64, difficulty: u32, next: &NextRules) -> Result<(), BlockError> {
    if index != next.index {
        return Err(BlockError::BadIndex);
    }
    if difficulty != next.difficulty {
        return Err(BlockError::BadDifficulty);
    }
    Ok(())
}

/// Rule 6, for a block with timestamp `timestamp_ms`.
fn check_median_time(timestamp_ms: u64, next: &NextRules) -> Result<(), BlockError> {
    if timestamp_ms <= next.median_time_past_ms {
        return Err(BlockError::TimestampTooOld);
    }
    Ok(())
}

/// Rules 3–7 for a block whose `hash` is already known to be correct, in
/// the order of PROTOCOL.md §5.
pub fn check_in_context(block: &Block, next: &NextRules, now_ms: u64) -> Result<(), BlockError> {
    check_position(block.index, block.difficulty, next)?;
    if !meets_difficulty(&block.hash, block.difficulty) {
        return Err(BlockError::BadPow);
    }
    check_median_time(block.timestamp_ms, next)?;
    if block.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_MS) {
        return Err(BlockError::TimestampInFuture);
    }
    Ok(())
}

/// All of PROTOCOL.md §5, in order, for a block offered as the child described by `next`.
pub fn validate(block: &Block, next: &NextRules, now_ms: u64) -> Result<(), BlockError> {
    check_standalone(block)?;
    check_in_context(block, next, now_ms)
}
