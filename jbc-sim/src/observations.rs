//! [`Observations`]: what a run recorded, before any statistics. Data only:
//! the world fills it ([`crate::world`]) and [`crate::report`] reads it, so
//! neither depends on the other.

use std::collections::BTreeMap;

use jbc_core::BlockHash;

use crate::config::Config;

/// A block the simulation mined (or, in a scripted run, handed out).
#[derive(Debug, Clone)]
pub struct Mined {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
    /// Who mined it.
    pub miner: u32,
    /// When (µs of simulated time).
    pub found_us: u64,
}

/// What the partition looked like when it healed, and after.
#[derive(Debug, Clone)]
pub struct PartitionObservation {
    /// When it healed (µs).
    pub healed_us: u64,
    /// Whether the first half (nodes `0..N/2`) had less work at the heal.
    pub light_is_first: bool,
    /// Whether both halves had the same work (then neither is lighter).
    pub equal_work: bool,
    /// The lighter side's heaviest best chain at the heal (hashes by height).
    pub light_branch: Vec<BlockHash>,
    /// The deepest reorganisation of a lighter-side node after the heal.
    pub deepest_light_reorg: u64,
    /// When every node was first on one tip after the heal (ms after it).
    pub one_tip_after_heal_ms: Option<f64>,
}

/// Everything the world recorded, before any statistics.
#[derive(Debug)]
pub struct Observations {
    /// The run.
    pub config: Config,
    /// Blocks mined, in order.
    pub mined: Vec<Mined>,
    /// When each node first stored each mined block (µs, `u64::MAX` never).
    pub arrival: Vec<Vec<u64>>,
    /// Hash power of each node.
    pub shares: Vec<f64>,
    /// The best chain at the end (hashes by height).
    pub final_chain: Vec<BlockHash>,
    /// Distinct best tips at the end.
    pub final_tips: u64,
    /// Reorganisation depth → how many times a node went through one.
    pub reorgs: BTreeMap<u64, u64>,
    /// The partition, if there was one.
    pub partition: Option<PartitionObservation>,
    /// Events processed.
    pub events: u64,
    /// `POST /mined` relays sent.
    pub relays: u64,
    /// Sync requests sent.
    pub requests: u64,
    /// `GET /events` streams that opened.
    pub streams_opened: u64,
    /// `block` events sent on streams.
    pub stream_blocks: u64,
    /// Which nodes could not be dialled.
    pub unreachable: Vec<bool>,
    /// Simulated time at the end (µs).
    pub sim_time_us: u64,
    /// How many peers each node has at the end.
    pub peers: Vec<u32>,
}
