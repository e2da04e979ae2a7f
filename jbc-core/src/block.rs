//! [`Block`]: the JSON form of a block (PROTOCOL.md §3).

use alloc::string::String;
use core::fmt;

use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::hash::BlockHash;
use crate::header::Header;

/// Largest allowed `data`, in bytes of UTF-8.
pub const MAX_DATA_BYTES: usize = 4096;

/// A block as it travels between nodes: exactly seven JSON fields.
///
/// Parsing rejects unknown and missing fields; it does *not* check the size of
/// `data` or the `hash`, which are rules of validation (PROTOCOL.md §5) with their own
/// error codes ([`crate::BlockError::DataTooLarge`], [`crate::BlockError::BadHash`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Block {
    /// Height; genesis is 0.
    pub index: u64,
    /// Milliseconds since the Unix epoch (JSON name `timestamp`).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: u64,
    /// Free text, at most [`MAX_DATA_BYTES`] bytes of UTF-8.
    pub data: String,
    /// Hash of the parent.
    pub prev_hash: BlockHash,
    /// Leading zero bits required of `hash`.
    pub difficulty: u32,
    /// The nonce that makes `hash` meet `difficulty`.
    pub nonce: u64,
    /// The claimed hash of the header; checked by validation.
    pub hash: BlockHash,
}

/// The seven fields as serde derives them; [`Block`]'s own `Deserialize`
/// accepts them only as an object (a derived struct would also take a JSON
/// array of seven values, which PROTOCOL.md §3 does not allow).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockFields {
    index: u64,
    timestamp: u64,
    data: String,
    prev_hash: BlockHash,
    difficulty: u32,
    nonce: u64,
    hash: BlockHash,
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Block, D::Error> {
        struct ObjectOnly;
        impl<'de> Visitor<'de> for ObjectOnly {
            type Value = Block;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a block: an object with exactly the seven block fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Block, A::Error> {
                let f = BlockFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Block {
                    index: f.index,
                    timestamp_ms: f.timestamp,
                    data: f.data,
                    prev_hash: f.prev_hash,
                    difficulty: f.difficulty,
                    nonce: f.nonce,
                    hash: f.hash,
                })
            }
        }
        deserializer.deserialize_map(ObjectOnly)
    }
}

impl Block {
    /// Builds a block from its fields and fills in the correct `hash`.
    pub fn new(
        index: u64,
        timestamp_ms: u64,
        data: String,
        prev_hash: BlockHash,
        difficulty: u32,
        nonce: u64,
    ) -> Block {
        let mut block = Block {
            index,
            timestamp_ms,
            data,
            prev_hash,
            difficulty,
            nonce,
            hash: BlockHash::ZERO,
        };
        block.hash = block.header().hash();
        block
    }

    /// The header built from the fields (everything but `hash`).
    pub fn header(&self) -> Header {
        Header {
            index: self.index,
            timestamp_ms: self.timestamp_ms,
            difficulty: self.difficulty,
            prev_hash: self.prev_hash,
            data_hash: BlockHash::sha256(self.data.as_bytes()),
            nonce: self.nonce,
        }
    }

    /// Whether the `hash` field equals the hash of the header.
    pub fn hash_is_correct(&self) -> bool {
        self.header().hash() == self.hash
    }

    /// Parses the JSON of PROTOCOL.md §3.
    pub fn from_json(json: &str) -> Result<Block, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Serialises to the JSON of PROTOCOL.md §3.
    pub fn to_json(&self) -> String {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A stored block without its data: every field of the block JSON but
/// `data` (PROTOCOL.md §3). About 100 bytes, whatever the block carried:
/// fork choice, validation, retargeting and sync need nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct StoredHeader {
    /// Height; genesis is 0.
    pub index: u64,
    /// Milliseconds since the Unix epoch (JSON name `timestamp`).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: u64,
    /// Hash of the parent.
    pub prev_hash: BlockHash,
    /// Leading zero bits required of `hash`.
    pub difficulty: u32,
    /// The nonce that makes `hash` meet `difficulty`.
    pub nonce: u64,
    /// The block's hash (checked when the block was stored).
    pub hash: BlockHash,
}

impl From<&Block> for StoredHeader {
    fn from(block: &Block) -> StoredHeader {
        StoredHeader {
            index: block.index,
            timestamp_ms: block.timestamp_ms,
            prev_hash: block.prev_hash,
            difficulty: block.difficulty,
            nonce: block.nonce,
            hash: block.hash,
        }
    }
}

/// A header equals a block when it is that block's header (all fields but
/// `data` equal): how a test or a driver checks which block a tip is.
impl PartialEq<Block> for StoredHeader {
    fn eq(&self, block: &Block) -> bool {
        *self == StoredHeader::from(block)
    }
}

impl PartialEq<&Block> for StoredHeader {
    fn eq(&self, block: &&Block) -> bool {
        *self == StoredHeader::from(*block)
    }
}
