//! [`Candidate::from_rules`]: the one place a block to mine is built from
//! [`NextRules`] (a chain's own rules, or the `next` object of a node's
//! `GET /tip`).

use alloc::string::String;

use crate::chain::Candidate;
use crate::hash::BlockHash;
use crate::header::Header;
use crate::validation::NextRules;

impl Candidate {
    /// The child described by `next`, carrying `data`, stamped `now_ms`
    /// raised to `next.min_timestamp_ms` when the clock is behind the
    /// median time past; nonce 0.
    ///
    /// Nothing is checked: data over [`MAX_DATA_BYTES`](crate::MAX_DATA_BYTES)
    /// or a difficulty over [`MAX_DIFFICULTY`](crate::header::MAX_DIFFICULTY)
    /// make a block no node accepts, so a caller holding untrusted input
    /// checks it first.
    ///
    /// ```
    /// use jbc_core::{BlockHash, Candidate, NextRules};
    ///
    /// let next = NextRules::new(7, BlockHash::ZERO, 12, 999); // min timestamp 1000
    /// let candidate = Candidate::from_rules(&next, "Mined by me".into(), 10);
    /// assert_eq!(candidate.header.index, 7);
    /// assert_eq!(candidate.header.timestamp_ms, 1_000);
    /// assert_eq!(candidate.header.data_hash, BlockHash::sha256(b"Mined by me"));
    /// ```
    pub fn from_rules(next: &NextRules, data: String, now_ms: u64) -> Candidate {
        Candidate {
            header: Header {
                index: next.index,
                timestamp_ms: now_ms.max(next.min_timestamp_ms),
                difficulty: next.difficulty,
                prev_hash: next.prev_hash,
                data_hash: BlockHash::sha256(data.as_bytes()),
                nonce: 0,
            },
            data,
        }
    }
}
