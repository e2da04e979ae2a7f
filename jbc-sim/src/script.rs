//! [`Script`]: a scripted run. Instead of a random network mining by
//! chance, the run is given who links to whom (a [`Topology`]), the
//! network's [`Params`], the wall-clock time at simulated time 0, and a
//! schedule of blocks: each [`Submission`] hands one block to one node at
//! one time, with `handle_block(block, Source::Submitted, now)`, as
//! `POST /mined` does on a jbc-node. Nothing is mined. The run ends
//! `settle_ms` after the last submission, and the [`Outcome`] says what each
//! node ended with: its tip, whether it stores a block, and what each
//! submission was answered.
//!
//! The same schedule can be fed to real jbc-node processes; jbc-node's
//! `tests/sim_agrees.rs` does, and checks both end the same way.
//!
//! ```
//! use jbc_core::{Chain, Params, Status};
//! use jbc_sim::network::Topology;
//! use jbc_sim::script::{Script, Submission};
//! use jbc_sim::world::mine_difficulty_1;
//!
//! let params = Params {
//!     network: "doc".into(),
//!     initial_difficulty: 1,
//!     min_difficulty: 1,
//!     ..Params::default()
//! };
//! let epoch_ms = 1_800_000_000_000;
//! let chain = Chain::new(params.clone());
//! let block = mine_difficulty_1(&chain.next_template("b1".into(), epoch_ms));
//! // Three nodes in a line: 0 - 1 - 2.
//! let topology = Topology::from_outbound(vec![vec![1], vec![2], vec![]]).unwrap();
//! let submissions = vec![Submission { at_ms: 500, node: 0, block: block.clone() }];
//! let mut script = Script::new(topology, params, epoch_ms, submissions);
//! script.settle_ms = 5_000;
//! let outcome = script.run().unwrap();
//! assert_eq!(outcome.answer(0), Some(&Ok(Status::NewTip)));
//! for node in 0..3 {
//!     assert_eq!(outcome.tip(node), block.hash);
//!     assert!(outcome.stores(node, &block.hash));
//! }
//! ```

use jbc_core::{BlockError, BlockHash, Chain, Params, Status};

use crate::config::Config;
use crate::network::{Network, Topology};
use crate::observations::Observations;
pub use crate::schedule::Submission;
use crate::schedule::{Scripted, Setup};
use crate::world::World;

/// A scripted run: the topology, params, epoch and schedule, and the network
/// model the messages cross.
#[derive(Debug, Clone)]
pub struct Script {
    /// Who links to whom; both ends of a link add each other as a peer.
    pub topology: Topology,
    /// The params of every node (genesis is derived from them).
    pub params: Params,
    /// Simulated time 0, in ms since the Unix epoch: the nodes' clock, for
    /// the 120 s future-block rule and the median time past.
    pub epoch_ms: u64,
    /// The blocks to hand out.
    pub submissions: Vec<Submission>,
    /// How long the run goes on after the last submission (ms).
    pub settle_ms: u64,
    /// Latencies are the network's means times this (0: none).
    pub latency_scale: f64,
    /// Messages take no time on the wire.
    pub infinite_bandwidth: bool,
    /// Nodes find more peers as the node does ([`Config::discovery`]).
    pub discovery: bool,
    /// The safety-net poll interval (ms), as [`Config::poll_every_ms`].
    pub poll_every_ms: u64,
    /// Nodes follow their peers' `/events`, as [`Config::follow`].
    pub follow: bool,
    /// The nodes that cannot be dialled (they only dial out), as
    /// [`Config::unreachable_share`] draws them.
    pub unreachable: Vec<u32>,
    /// The seed of the latency draws and of the nodes' regions.
    pub seed: u64,
    /// Regions, latencies and bandwidths (nodes are placed by the seed).
    pub network: Network,
}

impl Script {
    /// A run of `submissions` on `topology` with `params`, simulated time 0
    /// at `epoch_ms`; the rest as in [`Config::new`]: the 2019 network's
    /// latencies and bandwidths, the node's cadences, following on, every
    /// node reachable, 60 s to settle, seed 1.
    pub fn new(
        topology: Topology,
        params: Params,
        epoch_ms: u64,
        submissions: Vec<Submission>,
    ) -> Script {
        Script {
            topology,
            params,
            epoch_ms,
            submissions,
            settle_ms: 60_000,
            latency_scale: 1.0,
            infinite_bandwidth: false,
            discovery: false,
            poll_every_ms: jbc_core::node_state::POLL_EVERY_MS,
            follow: true,
            unreachable: Vec::new(),
            seed: 1,
            network: Network::default_2019(),
        }
    }

    /// Checks the run makes sense: valid params, at least one node, every
    /// link and submission naming a node of the topology.
    pub fn check(&self) -> Result<(), String> {
        self.params.check().map_err(|e| e.to_string())?;
        let nodes = self.topology.nodes();
        if nodes < 1 || nodes > u32::MAX as usize / 2 {
            return Err("a script needs 1 to 2^31 nodes".into());
        }
        if self.topology.outbound.len() != nodes
            || self
                .topology
                .neighbours
                .iter()
                .flatten()
                .any(|n| *n as usize >= nodes)
        {
            return Err("the topology's links name nodes it does not have".into());
        }
        if let Some(s) = self.submissions.iter().find(|s| s.node as usize >= nodes) {
            return Err(format!("a submission goes to node {} of {nodes}", s.node));
        }
        if let Some(n) = self.unreachable.iter().find(|n| **n as usize >= nodes) {
            return Err(format!("unreachable node {n} of {nodes}"));
        }
        if self.poll_every_ms < 1 || self.latency_scale < 0.0 {
            return Err("poll interval at least 1 ms, latency scale at least 0".into());
        }
        Ok(())
    }

    /// The configuration the world runs with: this script's network model,
    /// `blocks` = the number of submissions, `block_ms` = the params' target,
    /// `peers` = 0 (the topology is given), no faults (the unreachable
    /// nodes are given to the world apart: `unreachable_share` stays 0).
    pub fn config(&self) -> Config {
        let mut config = Config::new(
            self.topology.nodes(),
            self.submissions.len() as u64,
            self.params.target_block_ms,
            self.seed,
        );
        config.peers = 0;
        config.poll_every_ms = self.poll_every_ms;
        config.follow = self.follow;
        config.settle_ms = self.settle_ms;
        config.latency_scale = self.latency_scale;
        config.infinite_bandwidth = self.infinite_bandwidth;
        config.discovery = self.discovery;
        config.network = self.network.clone();
        config
    }

    /// Runs the script to its end.
    pub fn run(self) -> Result<Outcome, String> {
        self.check()?;
        let config = self.config();
        let answers = vec![None; self.submissions.len()];
        let setup = Setup {
            topology: self.topology,
            params: self.params,
            epoch_ms: self.epoch_ms,
            unreachable: self.unreachable,
            script: Scripted {
                submissions: self.submissions,
                settle_ms: self.settle_ms,
                answers,
            },
        };
        let mut world = World::build(config, Some(setup));
        world.run_script();
        Ok(Outcome { world })
    }
}

/// How a scripted run ended: each node's chain, and each submission's answer.
pub struct Outcome {
    world: World,
}

impl Outcome {
    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.world.node_count()
    }

    /// `node`'s best tip at the end (what its `GET /tip` would answer).
    pub fn tip(&self, node: usize) -> BlockHash {
        self.world.tip_of(node)
    }

    /// Every node's best tip at the end.
    pub fn tips(&self) -> Vec<BlockHash> {
        (0..self.nodes()).map(|n| self.tip(n)).collect()
    }

    /// Whether `node` stores `hash` at the end, on its best chain or a side
    /// branch (its `GET /blocks/{hash}` would answer 200). Blocks waiting
    /// in its memory pool (orphans, ignored blocks) are not stored.
    pub fn stores(&self, node: usize, hash: &BlockHash) -> bool {
        self.world.chain_of(node).contains(hash)
    }

    /// `node`'s chain at the end.
    pub fn chain(&self, node: usize) -> &Chain {
        self.world.chain_of(node)
    }

    /// What submission `index` was answered by its node (the status of
    /// `POST /mined`, or why the block was rejected); `None` if there is no
    /// such submission.
    pub fn answer(&self, index: usize) -> Option<&Result<Status, BlockError>> {
        self.world.answers().get(index)?.as_ref()
    }

    /// What the run recorded, for [`crate::Report::of`]: the scripted blocks
    /// are the `mined` ones (each distinct block once, by the node it was
    /// first handed to, at that time), and the arrival table says when each
    /// node stored each.
    pub fn into_observations(self) -> Observations {
        self.world.into_observations()
    }
}
