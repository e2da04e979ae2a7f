//! [`Event`]: what `GET /events` streams (Server-Sent Events).
//!
//! | event | data |
//! |---|---|
//! | `block` | `{"source": "local"\|"submitted"\|"sync", "block": {…}}` for each block that joins the best chain, lowest first |
//! | `reorg` | `{"old_tip", "old_height", "new_tip", "new_height", "depth"}` (depth = blocks disconnected) |
//! | `status` | `{"height", "hash", "hashes_per_sec", "peers", "peers_up", "mining"}` every few seconds, and once on connect |

use std::time::Duration;

use jbc_core::{Block, BlockHash};
use serde::Serialize;

pub use jbc_core::node_state::Source;

/// Interval of SSE keep-alive comments (PROTOCOL.md §7): a follower that
/// hears nothing for three of them drops the stream (a link that failed
/// without a word).
pub const KEEP_ALIVE: Duration = Duration::from_millis(jbc_core::wire::KEEP_ALIVE_MS);

/// The periodic `status` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusEvent {
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub hash: BlockHash,
    /// Measured hash rate of this node's miner (0 when not mining).
    pub hashes_per_sec: f64,
    /// Number of known peers.
    pub peers: usize,
    /// Peers that answered their last request.
    pub peers_up: usize,
    /// Whether this node mines.
    pub mining: bool,
}

/// One event of `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// A block joined the best chain.
    Block {
        /// Where it came from.
        source: Source,
        /// The block.
        block: Block,
    },
    /// The best chain switched branches.
    Reorg {
        /// Old best tip.
        old_tip: BlockHash,
        /// Its height.
        old_height: u64,
        /// New best tip.
        new_tip: BlockHash,
        /// Its height.
        new_height: u64,
        /// Blocks disconnected from the old best chain.
        depth: u64,
    },
    /// Periodic status.
    Status(StatusEvent),
}

impl Event {
    /// The SSE event name: `block`, `reorg` or `status`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Block { .. } => "block",
            Event::Reorg { .. } => "reorg",
            Event::Status(_) => "status",
        }
    }

    /// The JSON data line.
    pub fn data(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
