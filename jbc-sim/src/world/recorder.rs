//! [`Recorder`]: what the world observes as it runs — the blocks mined and
//! when each node first stored each, how many nodes are on each tip, the
//! reorganisations, the partition's outcome and the message counts — and
//! the [`Observations`] it hands to the report at the end.

use std::collections::BTreeMap;

use jbc_core::BlockHash;

use super::by_hash::ByHash;
use super::faults::Side;
use super::{SimNode, World};
use crate::observations::{Mined, Observations, PartitionObservation};

/// What the run observed so far.
pub(super) struct Recorder {
    /// Blocks mined, in order.
    pub(super) mined: Vec<Mined>,
    /// The index of each mined block by hash (its row of `arrival`).
    mined_index: ByHash<u32>,
    /// When each node first stored each mined block (µs; `u64::MAX` never):
    /// `arrival[block][node]`.
    arrival: Vec<Vec<u64>>,
    /// How many nodes are on each tip.
    tips: ByHash<u32>,
    /// Reorganisation depths seen (blocks disconnected) → count.
    reorgs: BTreeMap<u64, u64>,
    /// The partition's outcome, from its heal on.
    partition: Option<PartitionObservation>,
    /// Events processed.
    pub(super) events: u64,
    /// `POST /mined` relays sent.
    pub(super) relays: u64,
    /// Sync requests sent.
    pub(super) requests: u64,
}

impl Recorder {
    /// Nothing observed yet; all `nodes` nodes are on `genesis`.
    pub(super) fn new(genesis: BlockHash, nodes: usize) -> Recorder {
        let mut tips = ByHash::default();
        tips.insert(genesis, nodes as u32);
        Recorder {
            mined: Vec::new(),
            mined_index: ByHash::default(),
            arrival: Vec::new(),
            tips,
            reorgs: BTreeMap::new(),
            partition: None,
            events: 0,
            relays: 0,
            requests: 0,
        }
    }

    /// A block is mined (or handed out by a script): its row of the
    /// arrival table, for `nodes` nodes, starts empty.
    pub(super) fn mined(&mut self, block: Mined, nodes: usize) {
        self.mined_index.insert(block.hash, self.mined.len() as u32);
        self.mined.push(block);
        self.arrival.push(vec![u64::MAX; nodes]);
    }

    /// The row of the arrival table of `hash`, if the run mined it.
    pub(super) fn row_of(&self, hash: &BlockHash) -> Option<u32> {
        self.mined_index.get(hash).copied()
    }

    /// Whether `node` has stored the mined block of arrival row `row`.
    pub(super) fn arrived(&self, row: u32, node: u32) -> bool {
        self.arrival[row as usize][node as usize] != u64::MAX
    }

    /// `node` stored the blocks `hashes` at `now_us`.
    pub(super) fn stored<'a>(
        &mut self,
        node: u32,
        hashes: impl Iterator<Item = &'a BlockHash>,
        now_us: u64,
    ) {
        for hash in hashes {
            if let Some(&row) = self.mined_index.get(hash) {
                let slot = &mut self.arrival[row as usize][node as usize];
                *slot = (*slot).min(now_us);
            }
        }
    }

    /// A node moved from tip `old` to tip `new`.
    pub(super) fn tip_moved(&mut self, old: BlockHash, new: BlockHash) {
        if let Some(count) = self.tips.get_mut(&old) {
            *count -= 1;
            if *count == 0 {
                self.tips.remove(&old);
            }
        }
        *self.tips.entry(new).or_default() += 1;
    }

    /// A node on `side` of the partition went through a reorganisation of
    /// `depth` blocks.
    pub(super) fn reorg(&mut self, depth: u64, side: Side) {
        *self.reorgs.entry(depth).or_default() += 1;
        if let Some(p) = &mut self.partition
            && (side == Side::First) == p.light_is_first
        {
            p.deepest_light_reorg = p.deepest_light_reorg.max(depth);
        }
    }

    /// After each event: the first moment every node is on one tip after
    /// the heal.
    pub(super) fn check_one_tip(&mut self, now_us: u64) {
        if let Some(p) = &mut self.partition
            && p.one_tip_after_heal_ms.is_none()
            && self.tips.len() == 1
        {
            p.one_tip_after_heal_ms = Some((now_us - p.healed_us) as f64 / 1000.0);
        }
    }

    /// How many nodes are on `tip`.
    fn nodes_on(&self, tip: &BlockHash) -> u32 {
        self.tips.get(tip).copied().unwrap_or(0)
    }
}

impl World {
    /// The partition ends: note which side is lighter and its best branch.
    pub(super) fn heal(&mut self) {
        let nodes = self.nodes.len();
        let best_of = |side: Side| {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| Side::of(*i as u32, nodes) == side)
                .map(|(_, n)| n.state.chain())
                .max_by_key(|c| c.best_work())
                .map(|c| {
                    (
                        c.best_work(),
                        c.best_chain().map(|b| b.hash).collect::<Vec<_>>(),
                    )
                })
                .unwrap_or_default()
        };
        let (first_work, first) = best_of(Side::First);
        let (second_work, second) = best_of(Side::Second);
        let light_is_first = first_work < second_work;
        self.record.partition = Some(PartitionObservation {
            healed_us: self.now_us,
            light_is_first,
            equal_work: first_work == second_work,
            light_branch: if light_is_first { first } else { second },
            deepest_light_reorg: 0,
            one_tip_after_heal_ms: None,
        });
        // Every node's periodic round comes as usual; nothing else is poked.
    }

    /// What the run observed, at its end.
    pub(super) fn observe(self) -> Observations {
        let record = self.record;
        let final_chain = final_chain(&self.nodes, &record);
        Observations {
            mined: record.mined,
            arrival: record.arrival,
            shares: self.nodes.iter().map(|n| n.share).collect(),
            final_chain,
            final_tips: record.tips.len() as u64,
            reorgs: record.reorgs,
            partition: record.partition,
            events: record.events,
            relays: record.relays,
            requests: record.requests,
            streams_opened: self.streams.opened,
            stream_blocks: self.streams.blocks_sent,
            unreachable: self.unreachable,
            sim_time_us: self.now_us,
            peers: self
                .nodes
                .iter()
                .map(|n| n.state.peers().len() as u32)
                .collect(),
            config: self.config,
        }
    }
}

/// The final best chain (hashes by height): the one with the most work,
/// then the most nodes on its tip, then the lowest node index.
fn final_chain(nodes: &[SimNode], record: &Recorder) -> Vec<BlockHash> {
    let mut best: Option<(u128, u32, usize)> = None;
    for (i, n) in nodes.iter().enumerate() {
        let key = (n.state.chain().best_work(), record.nodes_on(&n.tip));
        if best.is_none_or(|(w, c, _)| key > (w, c)) {
            best = Some((key.0, key.1, i));
        }
    }
    let best_node = best.map_or(0, |(_, _, i)| i);
    nodes[best_node]
        .state
        .chain()
        .best_chain()
        .map(|b| b.hash)
        .collect()
}
