//! [`Report`]: what a run measured, from the raw [`Observations`].

use std::collections::{BTreeMap, HashSet};

use jbc_core::BlockHash;
use serde::Serialize;

use crate::config::Config;
use crate::observations::{Mined, Observations};

/// Peers per node at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeerCounts {
    /// The fewest.
    pub min: u32,
    /// The mean.
    pub mean: f64,
    /// The most.
    pub max: u32,
}

/// Median and 90th percentile of a quantity over blocks (ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// The median.
    pub median_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// Over how many blocks.
    pub blocks: u64,
}

/// How long the final best chain's uncontested blocks (no stale block at
/// their height) took to reach a share of the nodes and of the hash power.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Propagation {
    /// To 50 % of the nodes.
    pub nodes_50: Option<Spread>,
    /// To 90 % of the nodes.
    pub nodes_90: Option<Spread>,
    /// To every node.
    pub nodes_100: Option<Spread>,
    /// To 50 % of the hash power.
    pub hash_50: Option<Spread>,
    /// To 90 % of the hash power.
    pub hash_90: Option<Spread>,
}

/// The blocks a group of nodes mined, and how many went stale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StaleShare {
    /// Nodes in the group.
    pub nodes: u64,
    /// Blocks they mined.
    pub mined: u64,
    /// Of those, not on the final best chain.
    pub stale: u64,
    /// `stale / mined`.
    pub rate: f64,
}

impl StaleShare {
    /// The standard error of the difference between two groups' rates if
    /// both had the same underlying stale rate (the two groups' pooled
    /// rate): `sqrt(p (1 − p) (1/n₁ + 1/n₂))`. Differences of a few times
    /// this are counting noise.
    pub fn noise_of_difference(&self, other: &StaleShare) -> f64 {
        let mined = (self.mined + other.mined) as f64;
        if self.mined == 0 || other.mined == 0 {
            return f64::INFINITY;
        }
        let p = (self.stale + other.stale) as f64 / mined;
        (p * (1.0 - p) * (1.0 / self.mined as f64 + 1.0 / other.mined as f64)).sqrt()
    }
}

/// The stale share of the blocks mined by reachable nodes and by nodes
/// that cannot be dialled.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StaleByReach {
    /// Nodes that can be dialled.
    pub reachable: StaleShare,
    /// Nodes that cannot ([`Config::unreachable_share`](crate::Config::unreachable_share)).
    pub unreachable: StaleShare,
}

/// The partition's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionReport {
    /// Which half had less work at the heal: `first` (nodes `0..N/2`),
    /// `second`, or `neither`.
    pub lighter_side: &'static str,
    /// Blocks on the lighter side's best branch above its fork from the
    /// final best chain.
    pub lighter_blocks_since_split: u64,
    /// The deepest reorganisation a lighter-side node went through after the heal.
    pub deepest_lighter_reorg: u64,
    /// From the heal to the first moment every node had one tip (ms).
    pub one_tip_after_heal_ms: Option<f64>,
}

/// What a run measured. Everything here follows from the configuration
/// alone: the same configuration gives the same report, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The run.
    pub config: Config,
    /// Blocks mined.
    pub blocks_mined: u64,
    /// Of those, not on the final best chain.
    pub stale_blocks: u64,
    /// `stale_blocks / blocks_mined`.
    pub stale_rate: f64,
    /// The same, apart for the blocks of reachable and unreachable nodes
    /// (when some nodes cannot be dialled).
    pub stale_by_reach: Option<StaleByReach>,
    /// The analytical stale rate `1 − exp(−D/T)` with D the mean delay to
    /// the hash power measured in this run.
    pub model_stale_rate: f64,
    /// D: `∫(1 − f(t)) dt` with f the share of the hash power that has a
    /// block t after it was found, averaged over the final chain's
    /// uncontested blocks (no stale block at their height) (ms).
    pub mean_delay_to_hash_power_ms: f64,
    /// Propagation of the final chain's uncontested blocks.
    pub propagation: Propagation,
    /// Reorganisation depth (blocks disconnected) → times a node went
    /// through one, over every node.
    pub reorg_depths: BTreeMap<u64, u64>,
    /// Distinct best tips at the end (1: everyone agrees).
    pub final_tips: u64,
    /// Height of the final best chain.
    pub final_height: u64,
    /// The partition, if there was one.
    pub partition: Option<PartitionReport>,
    /// Events processed.
    pub events: u64,
    /// `POST /mined` relays sent.
    pub relays: u64,
    /// Sync requests sent (`/tip` and `/blocks`).
    pub requests: u64,
    /// `GET /events` streams that opened.
    pub streams_opened: u64,
    /// `block` events sent on streams.
    pub stream_blocks: u64,
    /// Simulated time (ms).
    pub sim_time_ms: f64,
    /// Peers per node at the end: the drawn links, plus what discovery
    /// added ([`Config::discovery`](crate::Config::discovery)).
    pub peers_per_node: PeerCounts,
}

impl Report {
    /// The statistics of a run.
    pub fn of(obs: Observations) -> Report {
        let main: HashSet<BlockHash> = obs.final_chain.iter().copied().collect();
        let blocks_mined = obs.mined.len() as u64;
        let stale_blocks = obs.mined.iter().filter(|m| !main.contains(&m.hash)).count() as u64;
        let total_share: f64 = obs.shares.iter().sum();
        let nodes = obs.shares.len();
        let mut per = [const { Vec::new() }; 5];
        let mut integrals = Vec::new();
        // Hash power sorted by delay, reused per block.
        let mut by_delay: Vec<(u64, f64)> = Vec::with_capacity(nodes);
        // Heights where a block went stale: the final chain's block there
        // raced a competitor, and nodes on the competitor do not relay it
        // (a tie is not relayed), so its spread says little about the
        // network. f(t) is measured on the uncontested blocks.
        let contested: HashSet<u64> = obs
            .mined
            .iter()
            .filter(|m| !main.contains(&m.hash))
            .map(|m| m.height)
            .collect();
        for (i, m) in obs.mined.iter().enumerate() {
            if !main.contains(&m.hash) || contested.contains(&m.height) {
                continue;
            }
            by_delay.clear();
            by_delay.extend(obs.arrival[i].iter().zip(&obs.shares).map(|(at, share)| {
                let delay = if *at == u64::MAX {
                    obs.sim_time_us.saturating_sub(m.found_us)
                } else {
                    at - m.found_us
                };
                (delay, *share)
            }));
            let reached = obs.arrival[i].iter().filter(|a| **a != u64::MAX).count();
            by_delay.sort_by_key(|(d, _)| *d);
            for (k, q) in [0.5, 0.9, 1.0].into_iter().enumerate() {
                let needed = ((q * nodes as f64).ceil() as usize).max(1);
                if needed <= reached {
                    per[k].push(by_delay[needed - 1].0 as f64 / 1000.0);
                }
            }
            for (k, q) in [(3, 0.5), (4, 0.9)] {
                let mut sum = 0.0;
                if let Some((d, _)) = by_delay.iter().find(|(_, s)| {
                    sum += s;
                    sum >= q * total_share - 1e-12
                }) {
                    per[k].push(*d as f64 / 1000.0);
                }
            }
            if total_share > 0.0 {
                let weighted: f64 = by_delay.iter().map(|(d, s)| *d as f64 * s).sum();
                integrals.push(weighted / total_share / 1000.0);
            }
        }
        let mean_delay = if integrals.is_empty() {
            0.0
        } else {
            integrals.iter().sum::<f64>() / integrals.len() as f64
        };
        let [n50, n90, n100, h50, h90] = per.map(spread);
        let block_ms = obs.config.block_ms as f64;
        let partition = obs.partition.as_ref().map(|p| {
            let fork = p
                .light_branch
                .iter()
                .zip(&obs.final_chain)
                .take_while(|(a, b)| a == b)
                .count()
                .saturating_sub(1);
            PartitionReport {
                lighter_side: match (p.equal_work, p.light_is_first) {
                    (true, _) => "neither",
                    (false, true) => "first",
                    (false, false) => "second",
                },
                lighter_blocks_since_split: (p.light_branch.len().saturating_sub(1) - fork) as u64,
                deepest_lighter_reorg: p.deepest_light_reorg,
                one_tip_after_heal_ms: p.one_tip_after_heal_ms,
            }
        });
        let group = |unreachable: bool| {
            let mined: Vec<&Mined> = obs
                .mined
                .iter()
                .filter(|m| obs.unreachable.get(m.miner as usize) == Some(&unreachable))
                .collect();
            let stale = mined.iter().filter(|m| !main.contains(&m.hash)).count() as u64;
            StaleShare {
                nodes: obs
                    .unreachable
                    .iter()
                    .filter(|u| **u == unreachable)
                    .count() as u64,
                mined: mined.len() as u64,
                stale,
                rate: ratio(stale, mined.len() as u64),
            }
        };
        let stale_by_reach = obs.unreachable.contains(&true).then(|| StaleByReach {
            reachable: group(false),
            unreachable: group(true),
        });
        Report {
            blocks_mined,
            stale_blocks,
            stale_rate: ratio(stale_blocks, blocks_mined),
            stale_by_reach,
            model_stale_rate: 1.0 - (-mean_delay / block_ms).exp(),
            mean_delay_to_hash_power_ms: round3(mean_delay),
            propagation: Propagation {
                nodes_50: n50,
                nodes_90: n90,
                nodes_100: n100,
                hash_50: h50,
                hash_90: h90,
            },
            reorg_depths: obs.reorgs,
            final_tips: obs.final_tips,
            final_height: obs.final_chain.len().saturating_sub(1) as u64,
            partition,
            events: obs.events,
            relays: obs.relays,
            requests: obs.requests,
            streams_opened: obs.streams_opened,
            stream_blocks: obs.stream_blocks,
            sim_time_ms: obs.sim_time_us as f64 / 1000.0,
            peers_per_node: PeerCounts {
                min: obs.peers.iter().copied().min().unwrap_or(0),
                mean: obs.peers.iter().map(|&p| f64::from(p)).sum::<f64>()
                    / obs.peers.len().max(1) as f64,
                max: obs.peers.iter().copied().max().unwrap_or(0),
            },
            config: obs.config,
        }
    }

    /// The summary printed on stdout.
    pub fn summary(&self) -> String {
        let c = &self.config;
        let outbound = if c.measured_degrees {
            "measured outbound degrees".to_string()
        } else {
            format!("{} outbound peers", c.peers)
        };
        let mut out = format!(
            "{} nodes, {} blocks, T = {} ms, seed {}, {outbound}\n",
            c.nodes, self.blocks_mined, c.block_ms, c.seed
        );
        out += &format!(
            "stale rate        {:.4} ({} of {}); model 1-exp(-D/T) = {:.4}\n",
            self.stale_rate, self.stale_blocks, self.blocks_mined, self.model_stale_rate
        );
        if let Some(s) = &self.stale_by_reach {
            for (name, g) in [("reachable", s.reachable), ("unreachable", s.unreachable)] {
                out += &format!(
                    "  by {name:<12}  {:.4} ({} of {}, {} nodes)\n",
                    g.rate, g.stale, g.mined, g.nodes
                );
            }
            out += &format!(
                "  difference      {:+.4} (counting noise: 1 s.e. = {:.4})\n",
                s.unreachable.rate - s.reachable.rate,
                s.reachable.noise_of_difference(&s.unreachable)
            );
        }
        out += &format!(
            "mean delay to the hash power D = {:.1} ms\n",
            self.mean_delay_to_hash_power_ms
        );
        let p = &self.propagation;
        for (name, s) in [
            ("50% of nodes", p.nodes_50),
            ("90% of nodes", p.nodes_90),
            ("100% of nodes", p.nodes_100),
            ("50% of hash power", p.hash_50),
            ("90% of hash power", p.hash_90),
        ] {
            match s {
                Some(s) => {
                    out += &format!(
                        "to {name:<18} median {:>9.1} ms  p90 {:>9.1} ms\n",
                        s.median_ms, s.p90_ms
                    )
                }
                None => out += &format!("to {name:<18} never\n"),
            }
        }
        out += &format!("reorg depths      {:?}\n", self.reorg_depths);
        let peers = &self.peers_per_node;
        out += &format!(
            "peers per node    min {}, mean {:.1}, max {} at the end\n",
            peers.min, peers.mean, peers.max
        );
        out += &format!(
            "final tips        {} (height {})\n",
            self.final_tips, self.final_height
        );
        if let Some(p) = &self.partition {
            out += &format!(
                "partition         lighter side {}, {} blocks since the split, deepest reorg there {}, one tip {} after the heal\n",
                p.lighter_side,
                p.lighter_blocks_since_split,
                p.deepest_lighter_reorg,
                p.one_tip_after_heal_ms
                    .map_or("never".into(), |ms| format!("{ms:.1} ms"))
            );
        }
        out += &format!(
            "events {}, relays {}, sync requests {}, streams opened {}, stream block events {}, simulated {:.1} s\n",
            self.events,
            self.relays,
            self.requests,
            self.streams_opened,
            self.stream_blocks,
            self.sim_time_ms / 1000.0
        );
        out
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Median and p90 of `values` (nearest rank), `None` if empty.
fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some(Spread {
        median_ms: rank(0.5),
        p90_ms: rank(0.9),
        blocks: values.len() as u64,
    })
}
