//! [`StatusInfo`]: the body of `GET /status`.

use jbc_core::{BlockHash, Params};

/// The body of `GET /status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusInfo {
    /// Version of jbc-node.
    pub version: &'static str,
    /// The network's params.
    pub params: Params,
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub hash: BlockHash,
    /// Work of the best chain (decimal string).
    #[serde(with = "jbc_core::peer::work_string")]
    pub work: u128,
    /// Blocks stored, side branches included, genesis not counted.
    pub blocks_stored: u64,
    /// Blocks waiting in the memory pool (orphans and ignored blocks; never
    /// on disk).
    pub pooled: usize,
    /// Number of peers.
    pub peers: usize,
    /// Peers that answered their last request.
    pub peers_up: usize,
    /// Whether this node mines.
    pub mining: bool,
    /// Mining threads (0 when not mining).
    pub threads: usize,
    /// The SHA-256 kernel mining uses on this CPU (e.g. `sha-ni`, `avx2`, `portable`).
    pub kernel: &'static str,
    /// Measured hash rate (hashes per second, last second).
    pub hashes_per_sec: f64,
    /// Total hashes computed since start.
    pub hashes_total: u64,
    /// Data written in this node's blocks.
    pub miner: String,
    /// Seconds since start.
    pub uptime_secs: u64,
}
