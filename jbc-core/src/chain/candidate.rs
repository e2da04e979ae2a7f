//! [`Candidate`]: the block a miner works on, built from the rules of the
//! next block ([`NextRules`]).

use alloc::string::String;

use super::Chain;
use crate::block::Block;
use crate::hash::BlockHash;
use crate::header::Header;
use crate::pow::Template;
use crate::validation::NextRules;

/// A block to mine next: the header (nonce 0) and the data it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The header, with `nonce` 0.
    pub header: Header,
    /// The block's data.
    pub data: String,
}

impl Candidate {
    /// The block to mine as the child `rules` describe: its index, parent
    /// and difficulty, and a timestamp of `now_ms` raised to the median time
    /// past + 1 when the clock is behind.
    pub fn from_rules(rules: &NextRules, data: String, now_ms: u64) -> Candidate {
        Candidate {
            header: Header {
                index: rules.index,
                timestamp_ms: now_ms.max(rules.min_timestamp_ms),
                difficulty: rules.difficulty,
                prev_hash: rules.prev_hash,
                data_hash: BlockHash::sha256(data.as_bytes()),
                nonce: 0,
            },
            data,
        }
    }

    /// The midstate template for [`crate::pow::mine_round`].
    pub fn template(&self) -> Template {
        Template::new(&self.header)
    }

    /// The block with `nonce` filled in (and its hash).
    pub fn block(&self, nonce: u64) -> Block {
        Block::new(
            self.header.index,
            self.header.timestamp_ms,
            self.data.clone(),
            self.header.prev_hash,
            self.header.difficulty,
            nonce,
        )
    }
}

impl Chain {
    /// The block a miner should mine next on the best tip
    /// ([`Candidate::from_rules`] with [`Chain::next_rules`]).
    pub fn next_template(&self, data: String, now_ms: u64) -> Candidate {
        Candidate::from_rules(&self.next_rules(), data, now_ms)
    }
}
