//! Read-only support for blocks of the original Python JackBlockChain.
//!
//! The original JBC hashed a *string* header: the decimal index, the parent
//! hash, the data, the decimal timestamp and the decimal nonce, concatenated
//! with no separator, and asked for a number of leading hex zeros:
//!
//! ```text
//! sha256(str(index) + prev_hash + data + str(timestamp) + str(nonce))
//! ```
//!
//! Without separators or lengths, two different blocks can produce the same
//! string and therefore the same hash. Moving one character across a field
//! boundary is enough: `data = "I block #1", timestamp = "1508895386"` and
//! `data = "I block #11", timestamp = "508895386"` both contribute
//! `"I block #11508895386"`. This crate verifies such blocks but never mines
//! them; JBC1's fixed-width binary [`crate::Header`] gives every field its own
//! bytes, so two different blocks always encode differently.
//!
//! ```
//! use jbc_core::legacy::LegacyBlock;
//! let a = LegacyBlock { index: "1".into(), prev_hash: "00".into(), data: "I block #1".into(),
//!     timestamp: "1508895386".into(), nonce: "7".into(), hash: String::new() };
//! let b = LegacyBlock { data: "I block #11".into(), timestamp: "508895386".into(), ..a.clone() };
//! assert_ne!(a, b);
//! assert_eq!(a.header_string(), b.header_string());
//! assert_eq!(a.computed_hash(), b.computed_hash());
//! ```

use alloc::string::{String, ToString};
use serde::{Deserialize, Serialize};

use crate::hash::BlockHash;

/// A block of the original JBC: every field is a string, as in its chaindata files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyBlock {
    /// Decimal height.
    pub index: String,
    /// Hex hash of the parent, empty for the first block.
    pub prev_hash: String,
    /// Free text.
    pub data: String,
    /// Decimal timestamp of any length (some do not fit in a u64).
    pub timestamp: String,
    /// Decimal nonce.
    pub nonce: String,
    /// The claimed hex hash.
    pub hash: String,
}

/// Why a legacy block or chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    /// A numeric field is not a non-empty string of decimal digits.
    #[error("field {0} is not a decimal number")]
    NotDecimal(&'static str),
    /// The claimed hash is not the hash of the header string.
    #[error("hash does not match the block's header string")]
    BadHash,
    /// The hash lacks the required leading hex zeros.
    #[error("hash does not start with {0} hex zeros")]
    BadPow(usize),
    /// Block `position` of a chain does not link to the block before it.
    #[error("block at position {0} does not link to its predecessor")]
    BadLink(usize),
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl LegacyBlock {
    /// The concatenated header string the original JBC hashed.
    pub fn header_string(&self) -> String {
        let mut s = String::with_capacity(
            self.index.len()
                + self.prev_hash.len()
                + self.data.len()
                + self.timestamp.len()
                + self.nonce.len(),
        );
        for part in [
            &self.index,
            &self.prev_hash,
            &self.data,
            &self.timestamp,
            &self.nonce,
        ] {
            s.push_str(part);
        }
        s
    }

    /// The lowercase hex SHA-256 of [`LegacyBlock::header_string`].
    pub fn computed_hash(&self) -> String {
        BlockHash::sha256(self.header_string().as_bytes()).to_string()
    }

    /// Checks the number fields, the hash and `zeros` leading hex zeros.
    pub fn verify(&self, zeros: usize) -> Result<(), LegacyError> {
        for (name, value) in [
            ("index", &self.index),
            ("timestamp", &self.timestamp),
            ("nonce", &self.nonce),
        ] {
            if !is_decimal(value) {
                return Err(LegacyError::NotDecimal(name));
            }
        }
        if self.computed_hash() != self.hash {
            return Err(LegacyError::BadHash);
        }
        if !self.hash.bytes().take(zeros).all(|b| b == b'0') || self.hash.len() < zeros {
            return Err(LegacyError::BadPow(zeros));
        }
        Ok(())
    }
}

/// Whether the decimal string `next` is `prev + 1`, for numbers of any
/// length (computed on the digits, so nothing overflows).
fn is_successor(prev: &str, next: &str) -> bool {
    if !is_decimal(prev) || !is_decimal(next) {
        return false;
    }
    // prev + 1: the trailing 9s become 0s and the digit before them goes up by one.
    let digits = prev.trim_start_matches('0');
    let nines = digits.bytes().rev().take_while(|&b| b == b'9').count();
    let head = &digits[..digits.len() - nines];
    let mut sum = String::with_capacity(digits.len() + 1);
    match head.as_bytes().last() {
        Some(&last) => {
            sum.push_str(&head[..head.len() - 1]);
            sum.push((last + 1) as char);
        }
        None => sum.push('1'),
    }
    sum.extend(core::iter::repeat_n('0', nines));
    next.trim_start_matches('0') == sum
}

/// Verifies a legacy chain: each block verifies, the first has an empty
/// `prev_hash`, and each other block names its predecessor's hash with the
/// next index.
pub fn verify_chain(blocks: &[LegacyBlock], zeros: usize) -> Result<(), LegacyError> {
    for (position, block) in blocks.iter().enumerate() {
        block.verify(zeros)?;
        let linked = match position.checked_sub(1).map(|p| &blocks[p]) {
            None => block.prev_hash.is_empty(),
            Some(prev) => block.prev_hash == prev.hash && is_successor(&prev.index, &block.index),
        };
        if !linked {
            return Err(LegacyError::BadLink(position));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_successor;
    use alloc::format;

    #[test]
    fn successor_on_decimal_strings_of_any_length() {
        assert!(is_successor("0", "1"));
        assert!(is_successor("9", "10"));
        assert!(is_successor("1299", "1300"));
        assert!(is_successor("00041", "42"));
        let max = "340282366920938463463374607431768211455"; // u128::MAX
        assert!(is_successor(max, "340282366920938463463374607431768211456"));
        assert!(!is_successor(max, "0"));
        assert!(!is_successor(&"9".repeat(50), &"5".repeat(45)));
        assert!(is_successor(
            &"9".repeat(50),
            &format!("1{}", "0".repeat(50))
        ));
        assert!(!is_successor("3", "3"));
        assert!(!is_successor("", "1"));
        assert!(!is_successor("1", "2x"));
    }
}
