//! [`BlockHash`]: the 32-byte SHA-256 of a header, written as lowercase hex.

use core::fmt;
use core::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest: a block's hash, a parent link or a data hash.
///
/// Displayed and serialised as 64 lowercase hex characters, byte 0 first
/// (PROTOCOL.md §1). Parsing accepts lowercase hex only.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BlockHash(pub [u8; 32]);

/// Why a string is not a [`BlockHash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string is not exactly 64 characters long.
    #[error("a hash is 64 hex characters, got {0}")]
    BadLength(usize),
    /// A character is not one of `0-9a-f` (uppercase is refused).
    #[error("invalid character {0:?} in hash (lowercase hex only)")]
    BadChar(char),
}

impl BlockHash {
    /// The all-zero hash: the `prev_hash` of genesis.
    pub const ZERO: BlockHash = BlockHash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn sha256(bytes: &[u8]) -> BlockHash {
        BlockHash(Sha256::digest(bytes).into())
    }

    /// Number of leading zero bits, counted from the most significant bit of byte 0.
    pub fn leading_zero_bits(&self) -> u32 {
        let mut bits = 0;
        for byte in self.0 {
            if byte == 0 {
                bits += 8;
            } else {
                return bits + byte.leading_zeros();
            }
        }
        bits
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex characters, for logs.
    pub fn short(&self) -> ShortHash {
        ShortHash(*self)
    }
}

/// Display helper printing the first 8 hex characters of a hash.
#[derive(Clone, Copy)]
pub struct ShortHash(BlockHash);

impl fmt::Display for ShortHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

fn hex_value(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(HexError::BadChar(c as char)),
    }
}

impl FromStr for BlockHash {
    type Err = HexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            // Report a non-ASCII character rather than a confusing byte length.
            if let Some(c) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(HexError::BadChar(c));
            }
            return Err(HexError::BadLength(s.chars().count()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Ok(BlockHash(out))
    }
}

impl Serialize for BlockHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlockHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = BlockHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lowercase hex characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BlockHash, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn hex_round_trip_and_case() {
        let h = BlockHash::sha256(b"abc");
        let s = h.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s.parse::<BlockHash>(), Ok(h));
        assert!(matches!(
            s.to_uppercase().parse::<BlockHash>(),
            Err(HexError::BadChar(_))
        ));
        assert_eq!("00".parse::<BlockHash>(), Err(HexError::BadLength(2)));
    }

    #[test]
    fn leading_zero_bits_counts_from_msb_of_byte_0() {
        let mut h = BlockHash::ZERO;
        assert_eq!(h.leading_zero_bits(), 256);
        h.0[1] = 0x10;
        assert_eq!(h.leading_zero_bits(), 11);
        h.0[0] = 0x80;
        assert_eq!(h.leading_zero_bits(), 0);
    }
}
