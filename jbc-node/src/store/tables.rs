//! The tables of the block database and the fixed form of a stored header.

use jbc_core::{BlockHash, StoredHeader};
use redb::TableDefinition;

/// `format`, `params`, `flushed_blocks`.
pub(super) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Acceptance sequence number → the block's JSON (PROTOCOL.md §3).
pub(super) const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Acceptance sequence number → the block's header ([`encode_header`]):
/// what a restart reads.
pub(super) const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// Block hash → acceptance sequence number.
pub(super) const SEQ_OF: TableDefinition<&[u8; 32], u64> = TableDefinition::new("seq_of");
/// Height → acceptance sequence number of the best chain's block there
/// (genesis, height 0, is derived from the params and never stored).
pub(super) const BEST: TableDefinition<u64, u64> = TableDefinition::new("best");
/// Written by earlier versions (orphans on disk); dropped on open.
pub(super) const OLD_ORPHANS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("orphans");

/// Bytes of an encoded header.
pub(super) const HEADER_BYTES: usize = 92;

/// A header as stored: index, timestamp, parent hash, difficulty, nonce and
/// hash, integers big-endian.
pub(super) fn encode_header(header: &StoredHeader) -> [u8; HEADER_BYTES] {
    let mut out = [0; HEADER_BYTES];
    out[0..8].copy_from_slice(&header.index.to_be_bytes());
    out[8..16].copy_from_slice(&header.timestamp_ms.to_be_bytes());
    out[16..48].copy_from_slice(&header.prev_hash.0);
    out[48..52].copy_from_slice(&header.difficulty.to_be_bytes());
    out[52..60].copy_from_slice(&header.nonce.to_be_bytes());
    out[60..92].copy_from_slice(&header.hash.0);
    out
}

/// The header [`encode_header`] wrote; `None` if `bytes` has another length.
pub(super) fn decode_header(bytes: &[u8]) -> Option<StoredHeader> {
    let bytes: &[u8; HEADER_BYTES] = bytes.try_into().ok()?;
    let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let hash_at = |at: usize| BlockHash(bytes[at..at + 32].try_into().unwrap_or_default());
    Some(StoredHeader {
        index: u64_at(0),
        timestamp_ms: u64_at(8),
        prev_hash: hash_at(16),
        difficulty: u32::from_be_bytes(bytes[48..52].try_into().unwrap_or_default()),
        nonce: u64_at(52),
        hash: hash_at(60),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_survives_encoding_and_a_wrong_length_is_refused() {
        let header = StoredHeader {
            index: u64::MAX - 1,
            timestamp_ms: 1_700_000_000_123,
            prev_hash: BlockHash([7; 32]),
            difficulty: 0x0102_0304,
            nonce: 0x0506_0708_090a_0b0c,
            hash: BlockHash([9; 32]),
        };
        let bytes = encode_header(&header);
        assert_eq!(decode_header(&bytes), Some(header));
        assert_eq!(decode_header(&bytes[..HEADER_BYTES - 1]), None);
    }
}
