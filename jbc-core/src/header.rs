//! [`Header`]: the 96 bytes that are hashed (PROTOCOL.md §2).

use crate::hash::BlockHash;

/// Size of an encoded header in bytes.
pub const HEADER_LEN: usize = 96;
/// The magic bytes every header starts with.
pub const MAGIC: [u8; 4] = *b"JBC1";
/// Difficulty can never exceed 64 leading zero bits (work must fit in a `u128`).
pub const MAX_DIFFICULTY: u32 = 64;

/// A block header: every field of a block except the data itself, which it
/// commits to through `data_hash`.
///
/// ```
/// use jbc_core::{Header, BlockHash};
/// let header = Header {
///     index: 1, timestamp_ms: 1_700_000_000_000, difficulty: 8,
///     prev_hash: BlockHash::ZERO, data_hash: BlockHash::sha256(b"hi"), nonce: 42,
/// };
/// let bytes = header.encode();
/// assert_eq!(&bytes[..4], b"JBC1");
/// assert_eq!(Header::decode(&bytes), Ok(header));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Height of the block; genesis is 0.
    pub index: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Required leading zero bits of the hash.
    pub difficulty: u32,
    /// Hash of the parent block (zeros for genesis).
    pub prev_hash: BlockHash,
    /// SHA-256 of the block's UTF-8 data.
    pub data_hash: BlockHash,
    /// The value miners vary.
    pub nonce: u64,
}

/// Why bytes are not a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not exactly 96 bytes.
    #[error("a header is 96 bytes, got {0}")]
    BadLength(usize),
    /// The first four bytes are not `JBC1`.
    #[error("header does not start with the JBC1 magic")]
    BadMagic,
}

impl Header {
    /// The 96-byte big-endian encoding of PROTOCOL.md §2.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..12].copy_from_slice(&self.index.to_be_bytes());
        out[12..20].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[20..24].copy_from_slice(&self.difficulty.to_be_bytes());
        out[24..56].copy_from_slice(&self.prev_hash.0);
        out[56..88].copy_from_slice(&self.data_hash.0);
        out[88..96].copy_from_slice(&self.nonce.to_be_bytes());
        out
    }

    /// Decodes the 96 bytes of PROTOCOL.md §2.
    pub fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let bytes: &[u8; HEADER_LEN] = bytes
            .try_into()
            .map_err(|_| HeaderError::BadLength(bytes.len()))?;
        if bytes[0..4] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let hash_at = |at: usize| {
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[at..at + 32]);
            BlockHash(b)
        };
        Ok(Header {
            index: u64_at(4),
            timestamp_ms: u64_at(12),
            difficulty: u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            prev_hash: hash_at(24),
            data_hash: hash_at(56),
            nonce: u64_at(88),
        })
    }

    /// SHA-256 of the encoded header: the block's hash.
    pub fn hash(&self) -> BlockHash {
        BlockHash::sha256(&self.encode())
    }
}
