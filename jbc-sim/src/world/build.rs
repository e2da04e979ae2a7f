//! Building a [`World`]: the nodes placed in regions and linked (a random
//! topology, or a scripted run's), the faults drawn, each node's
//! `NodeState` made on the network's genesis with its links as peers, and
//! the first events queued.

use jbc_core::node_state::{NodeConfig, NodeState, PeerSource};
use jbc_core::{Chain, Params};

use super::discovery::url_of;
use super::links::BodySizes;
use super::queue::Queue;
use super::recorder::Recorder;
use super::streams::{StreamEvent, Streams};
use super::{Event, SimNode, World};
use crate::config::Config;
use crate::network::{Network, Topology};
use crate::rng::Rng;
use crate::schedule::Setup;

/// The simulated clock starts here (ms since the Unix epoch), so block
/// timestamps look like real ones and the 120 s future-block rule applies
/// as on a real node.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The params of every simulated network: difficulty pinned at 1 (initial =
/// min = max), so every block has the same work, retargeting never moves
/// it and mining one costs two hashes on average.
pub fn sim_params(block_ms: u64) -> Params {
    Params {
        network: "sim".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        max_difficulty: 1,
        target_block_ms: block_ms.max(1),
        retarget_window: 10,
    }
}

impl World {
    /// [`World::new`], or a scripted run on `setup`'s topology, params and
    /// epoch that mines nothing and hands out `setup`'s blocks instead.
    pub(crate) fn build(config: Config, setup: Option<Setup>) -> World {
        let mut rng = Rng::new(config.seed);
        let network = config.network.clone();
        // The forks are taken in this order whatever the run asks for, so
        // that one part drawing more or less does not shift another's draws.
        let mut place_rng = rng.fork(1);
        let mut link_rng = rng.fork(2);
        let mut fault_rng = rng.fork(3);
        let regions = network.place(config.nodes, &mut place_rng);
        // Drawn apart (and only when asked for), so a run without
        // unreachable nodes draws everything else as before.
        let mut unreachable = if config.unreachable_share > 0.0 {
            pick(config.nodes, config.unreachable_share, &mut rng.fork(5))
        } else {
            vec![false; config.nodes]
        };
        // A node opens links only to nodes it can dial.
        let dialable: Vec<bool> = unreachable.iter().map(|u| !u).collect();
        let (topology, params, epoch_ms, script) = match setup {
            None => (
                random_topology(&config, &network, &dialable, &mut rng, &mut link_rng),
                sim_params(config.block_ms),
                EPOCH_MS,
                None,
            ),
            Some(setup) => {
                for n in setup.unreachable {
                    unreachable[n as usize] = true;
                }
                let script = Some(Box::new(setup.script));
                (setup.topology, setup.params, setup.epoch_ms, script)
            }
        };
        let shares = config.shares();
        let silent = pick(config.nodes, config.silent_share, &mut fault_rng);
        let offline = config
            .offline
            .map(|o| (pick(config.nodes, o.share, &mut fault_rng), o))
            .map(|(who, o)| (who, (o.start_ms * 1000, o.end_ms * 1000)));
        let genesis = Chain::new(params);
        let tip = genesis.tip().hash;
        let nodes: Vec<SimNode> = topology
            .neighbours
            .into_iter()
            .enumerate()
            .map(|(i, neighbours)| SimNode {
                state: node_state(&config, &genesis, i as u32, &neighbours, epoch_ms),
                neighbours,
                upload_free_us: 0,
                timer: None,
                generation: 0,
                tip,
                silent: silent[i],
                offline: offline
                    .as_ref()
                    .and_then(|(who, window)| who[i].then_some(*window)),
                share: shares[i],
            })
            .collect();
        let mut total = 0.0;
        let cumulative_share = shares
            .iter()
            .map(|s| {
                total += s;
                total
            })
            .collect();
        let mut world = World {
            regions,
            unreachable,
            streams: Streams::new(config.nodes),
            network,
            nodes,
            rng,
            queue: Queue::new(),
            now_us: 0,
            cumulative_share,
            record: Recorder::new(tip, config.nodes),
            sizes: BodySizes::default(),
            end_us: None,
            epoch_ms,
            script,
            config,
        };
        world.queue_first_events();
        world
    }

    /// Every node's timer, the first block (or the script's schedule), and
    /// the faults' starts and ends.
    fn queue_first_events(&mut self) {
        for node in 0..self.nodes.len() as u32 {
            self.arm_timer(node);
        }
        if self.script.is_some() {
            self.schedule_script();
        } else {
            let first = self.block_interval_us();
            self.schedule(first, Event::Mine);
        }
        if let Some((start_ms, end_ms)) = self.config.partition {
            self.schedule(start_ms * 1000, Event::Stream(StreamEvent::LinksCut));
            self.schedule(end_ms * 1000, Event::Heal);
        }
        if let Some(o) = self.config.offline {
            self.schedule(o.start_ms * 1000, Event::Stream(StreamEvent::LinksCut));
        }
    }
}

/// The links of a run that is not scripted: `config.peers` outbound links
/// per node, or a count drawn from the network's measured distribution,
/// each to a node that can be dialled.
fn random_topology(
    config: &Config,
    network: &Network,
    dialable: &[bool],
    rng: &mut Rng,
    link_rng: &mut Rng,
) -> Topology {
    let degrees: Vec<usize> = if config.measured_degrees {
        let mut degree_rng = rng.fork(4);
        (0..config.nodes)
            .map(|_| network.draw_outbound_degree(&mut degree_rng))
            .collect()
    } else {
        vec![config.peers; config.nodes]
    };
    Topology::random_dialable(&degrees, dialable, link_rng)
}

/// Node `node`'s state machine on `genesis`, with its `neighbours` added as
/// configured peers in order (so `PeerId(i)` is `neighbours[i]`) and the
/// actions of that set-up dropped.
fn node_state(
    config: &Config,
    genesis: &Chain,
    node: u32,
    neighbours: &[u32],
    epoch_ms: u64,
) -> NodeState {
    let node_config = NodeConfig {
        poll_every_ms: config.poll_every_ms,
        poll_unfollowed_ms: config.poll_unfollowed_ms,
        ..NodeConfig::default()
    };
    let mut state = NodeState::new(genesis.clone(), node_config);
    if config.discovery {
        // Announced to every peer the node adds (the links below are known
        // at both ends already; those first announcements are dropped with
        // the setup's actions).
        state.set_own_url(url_of(node), true);
    }
    for n in neighbours {
        // Distinct fake URLs, added in neighbour order. Config peers are
        // never dropped.
        let _ = state.add_peer(url_of(*n), PeerSource::Config, epoch_ms);
    }
    while state.poll_action().is_some() {}
    state
}

/// Marks about `share` of `nodes`, drawn without replacement.
fn pick(nodes: usize, share: f64, rng: &mut Rng) -> Vec<bool> {
    let count = ((nodes as f64 * share.clamp(0.0, 1.0)).round() as usize).min(nodes);
    let mut order: Vec<usize> = (0..nodes).collect();
    for i in (1..nodes).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut marked = vec![false; nodes];
    for &i in &order[..count] {
        marked[i] = true;
    }
    marked
}
