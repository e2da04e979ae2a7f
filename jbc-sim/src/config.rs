//! [`Config`]: what one simulation run is.

use serde::Serialize;

use crate::network::Network;

/// A share of the nodes that is offline for a time window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Offline {
    /// Share of the nodes (drawn by the seed).
    pub share: f64,
    /// Offline from (ms of simulated time).
    pub start_ms: u64,
    /// Back at (ms of simulated time).
    pub end_ms: u64,
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Number of nodes.
    pub nodes: usize,
    /// Blocks to mine.
    pub blocks: u64,
    /// Target block time T (ms): blocks are found as a Poisson process of rate 1/T.
    pub block_ms: u64,
    /// The seed of every random draw.
    pub seed: u64,
    /// Outbound links per node.
    pub peers: usize,
    /// Hash power of the first nodes (e.g. a few pools); the rest is shared
    /// uniformly by the other nodes.
    pub pools: Vec<f64>,
    /// The nodes split in two halves (by index) during `[start, end)` ms.
    pub partition: Option<(u64, u64)>,
    /// Nodes that go offline and come back.
    pub offline: Option<Offline>,
    /// Share of the nodes that never relay (they still answer syncs).
    pub silent_share: f64,
    /// The safety-net poll (ms): each simulated node's
    /// `NodeConfig::poll_every_ms`, how often it asks every peer for its
    /// `/tip` at least (default the node's,
    /// [`POLL_EVERY_MS`](jbc_core::node_state::POLL_EVERY_MS)). Every other
    /// cadence is the node's default.
    pub poll_every_ms: u64,
    /// How often a peer that does not serve `/events` is polled (ms): each
    /// node's `NodeConfig::poll_unfollowed_ms` (default the node's,
    /// [`POLL_UNFOLLOWED_MS`](jbc_core::node_state::POLL_UNFOLLOWED_MS)).
    /// With [`Config::follow`] off, every peer is polled this often.
    pub poll_unfollowed_ms: u64,
    /// Nodes follow their peers' `/events` streams, as the node does. Off,
    /// every node answers `/events` with 404 (as an older node), so each
    /// polls every peer every `NodeConfig::poll_unfollowed_ms` instead.
    pub follow: bool,
    /// Share of the nodes (drawn by the seed) that cannot be dialled (NAT,
    /// a firewall, a node on loopback): every connection to them fails —
    /// relays, syncs, stream opens, peer lists, announcements and candidate
    /// checks — and they only dial out.
    pub unreachable_share: f64,
    /// How long the run goes on after the last block (ms).
    pub settle_ms: u64,
    /// Latencies are the network's means times this (0: none).
    pub latency_scale: f64,
    /// Messages take no time on the wire.
    pub infinite_bandwidth: bool,
    /// Nodes find peers as the node does (PROTOCOL.md §7.1: `GET /peers` while
    /// fewer than 8 answer, `GET /tip` of each address, `POST /peers` of
    /// their own): the links then grow beyond the random topology. Off,
    /// the topology stays as drawn (a peer's list is empty).
    pub discovery: bool,
    /// Each node's outbound link count is drawn from the network's measured
    /// distribution (`outbound_degree_cdf`) instead of being `peers`.
    pub measured_degrees: bool,
    /// Regions, latencies and bandwidths.
    #[serde(skip)]
    pub network: Network,
}

impl Config {
    /// `nodes` nodes mining `blocks` blocks every `block_ms` on average, with
    /// the defaults for everything else: 8 outbound peers, uniform hash
    /// power, no faults, every node reachable and following its peers, the
    /// node's own cadences, the 2019 network.
    pub fn new(nodes: usize, blocks: u64, block_ms: u64, seed: u64) -> Config {
        Config {
            nodes,
            blocks,
            block_ms,
            seed,
            peers: 8,
            pools: Vec::new(),
            partition: None,
            offline: None,
            silent_share: 0.0,
            poll_every_ms: jbc_core::node_state::POLL_EVERY_MS,
            poll_unfollowed_ms: jbc_core::node_state::POLL_UNFOLLOWED_MS,
            follow: true,
            unreachable_share: 0.0,
            settle_ms: 60_000,
            latency_scale: 1.0,
            infinite_bandwidth: false,
            discovery: false,
            measured_degrees: false,
            network: Network::default_2019(),
        }
    }

    /// Checks the run makes sense.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes < 1 || self.blocks < 1 || self.block_ms < 1 {
            return Err("nodes, blocks and block time must be at least 1".into());
        }
        if self.nodes > u32::MAX as usize / 2 {
            return Err("too many nodes".into());
        }
        if self.pools.len() > self.nodes {
            return Err("more pools than nodes".into());
        }
        let pooled: f64 = self.pools.iter().sum();
        if self.pools.iter().any(|p| !(0.0..=1.0).contains(p)) || pooled > 1.0 + 1e-9 {
            return Err("pool shares must be in 0..=1 and sum to at most 1".into());
        }
        if let Some((start, end)) = self.partition
            && start >= end
        {
            return Err("a partition must end after it starts".into());
        }
        if let Some(o) = self.offline
            && (o.start_ms >= o.end_ms || !(0.0..=1.0).contains(&o.share))
        {
            return Err("offline: share in 0..=1 and start before end".into());
        }
        if !(0.0..=1.0).contains(&self.silent_share)
            || !(0.0..=1.0).contains(&self.unreachable_share)
            || self.latency_scale < 0.0
        {
            return Err("silent and unreachable shares in 0..=1, latency scale at least 0".into());
        }
        if self.poll_every_ms < 1 || self.poll_unfollowed_ms < 1 {
            return Err("poll intervals must be at least 1 ms".into());
        }
        Ok(())
    }

    /// The hash power share of each node.
    pub fn shares(&self) -> Vec<f64> {
        let pooled: f64 = self.pools.iter().sum();
        let rest = self.nodes - self.pools.len();
        let each = if rest > 0 {
            (1.0 - pooled).max(0.0) / rest as f64
        } else {
            0.0
        };
        (0..self.nodes)
            .map(|i| self.pools.get(i).copied().unwrap_or(each))
            .collect()
    }
}
