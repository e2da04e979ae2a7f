//! Mining: blocks are found as a Poisson process of rate 1/T over the whole
//! network, each by a node drawn by hash power, on that node's own template
//! at difficulty 1.

use jbc_core::node_state::Source;
use jbc_core::{Block, Candidate};

use super::{Event, World};
use crate::observations::Mined;

impl World {
    /// The time to the next block (µs): an exponential draw of mean T.
    pub(super) fn block_interval_us(&mut self) -> u64 {
        self.rng
            .exponential(self.config.block_ms as f64 * 1000.0)
            .round() as u64
    }

    /// The network finds a block: queues the next one (until `blocks` are
    /// mined, then sets the end of the run), draws the miner, and hands
    /// the block to it as its own miner would.
    pub(super) fn mine(&mut self) {
        let mined = self.record.mined.len() as u64;
        if mined + 1 < self.config.blocks {
            let next = self.now_us + self.block_interval_us();
            self.schedule(next, Event::Mine);
        }
        let total = *self.cumulative_share.last().unwrap_or(&0.0);
        let x = self.rng.unit() * total;
        let miner = self
            .cumulative_share
            .partition_point(|c| *c <= x)
            .min(self.nodes.len() - 1) as u32;
        if mined + 1 >= self.config.blocks {
            self.end_us = Some(self.now_us + self.config.settle_ms * 1000);
        }
        if self.offline(miner) {
            // Its hash power is off with it: this block is never found.
            return;
        }
        let now_ms = self.now_ms();
        let nodes = self.nodes.len();
        let state = &mut self.nodes[miner as usize].state;
        let candidate = state
            .chain()
            .next_template(format!("sim block {mined} by node {miner}"), now_ms);
        let block = mine_difficulty_1(&candidate);
        self.record.mined(
            Mined {
                hash: block.hash,
                height: block.index,
                miner,
                found_us: self.now_us,
            },
            nodes,
        );
        // A block mined on the node's own template is valid: the answer is
        // `accepted` (or `side`/`ignored` never, as it extends the tip).
        let _ = state.handle_block(block, Source::Local, now_ms);
        self.after(miner);
    }
}

/// Mines `candidate` at difficulty 1: on average two nonces.
pub fn mine_difficulty_1(candidate: &Candidate) -> Block {
    // Bounded: each nonce meets difficulty 1 with probability 1/2, so 2^64
    // failures in a row do not happen.
    (0u64..)
        .map(|nonce| candidate.block(nonce))
        .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
        .expect("a nonce meets difficulty 1")
}
