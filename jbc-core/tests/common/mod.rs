//! Proptest strategies shared by the property and kernel tests.

use jbc_core::BlockHash;
use jbc_core::header::Header;
use proptest::prelude::*;

/// Any 32-byte hash.
pub fn hash() -> impl Strategy<Value = BlockHash> {
    any::<[u8; 32]>().prop_map(BlockHash)
}

/// A random header whose difficulty is drawn from `difficulty`.
pub fn header_with(difficulty: impl Strategy<Value = u32>) -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        difficulty,
        hash(),
        hash(),
        any::<u64>(),
    )
        .prop_map(
            |(index, timestamp_ms, difficulty, prev_hash, data_hash, nonce)| Header {
                index,
                timestamp_ms,
                difficulty,
                prev_hash,
                data_hash,
                nonce,
            },
        )
}
