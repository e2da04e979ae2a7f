//! Mining blocks by hand for chain tests, and the state a rejection must
//! not change. Shared by `chain.rs`, `sync.rs` and `storage_policy.rs`
//! (included with `#[path]`, so each test crate uses only what it needs).
#![allow(dead_code)]

use jbc_core::{Block, BlockHash, Chain};

/// Mines the next block on `parent` (or the best tip) with `data` at
/// `timestamp_ms`, raised to the parent's median time past + 1 if needed.
/// `parent` must be stored in `chain`.
pub fn mine_on(chain: &Chain, parent: Option<BlockHash>, data: &str, timestamp_ms: u64) -> Block {
    let next = match parent {
        Some(p) => chain.next_rules_after(&p).expect("parent stored"),
        None => chain.next_rules(),
    };
    let mut nonce = 0;
    loop {
        let candidate = Block::new(
            next.index,
            timestamp_ms.max(next.min_timestamp_ms),
            data.into(),
            next.prev_hash,
            next.difficulty,
            nonce,
        );
        if candidate.hash.leading_zero_bits() >= candidate.difficulty {
            return candidate;
        }
        nonce += 1;
    }
}

/// What a rejected block or sync must leave as it was: best tip, height,
/// stored blocks, pooled blocks and best work.
pub fn snapshot(chain: &Chain) -> (BlockHash, u64, usize, usize, u128) {
    (
        chain.tip().hash,
        chain.height(),
        chain.len(),
        chain.pooled_count(),
        chain.best_work(),
    )
}
