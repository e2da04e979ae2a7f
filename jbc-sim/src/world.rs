//! [`World`]: the discrete-event loop that drives one real
//! [`NodeState`] per simulated node.
//!
//! The simulator is a driver in the sense of `jbc_core::node_state`: it
//! feeds each node its events with the (simulated) time and carries out the
//! actions the node hands back, in order. Storage actions are no-ops (the
//! chain in memory is the store); `Relay` and `Request` become messages
//! that arrive after a latency draw plus their size over the bandwidth;
//! the timer is honoured at `poll_timeout`. Everything runs on one thread
//! from one seeded [`Rng`], ordered by (time, sequence number), so a
//! configuration gives one run.

use std::collections::BTreeMap;
use std::sync::Arc;

use jbc_core::node_state::{Action, NodeConfig, NodeState, PeerId, PeerSource, Source};
use jbc_core::peer::{PeerError, TipInfo};
use jbc_core::sync::{Request, Response};
use jbc_core::{Block, BlockHash, Chain, Params};

use crate::config::Config;
use crate::network::{Network, Topology};
use crate::report::{Observations, PartitionObservation};
use crate::rng::Rng;

mod by_hash;
mod discovery;
mod links;
mod queue;
mod script;
mod streams;
pub(crate) use script::{Scripted, Setup};

use by_hash::ByHash;
use queue::{Queue, Scheduled};
use streams::{StreamEvent, Streams};

/// The simulated clock starts here (ms since the Unix epoch), so block
/// timestamps look like real ones and the 120 s future-block rule applies
/// as on a real node.
pub const EPOCH_MS: u64 = 1_700_000_000_000;

pub use links::HTTP_OVERHEAD_BYTES;

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

#[derive(Debug)]
enum Event {
    /// The network finds a block (the miner is drawn by hash power).
    Mine,
    /// A node's timer (stale unless `generation` is the node's current one).
    Timer { node: u32, generation: u64 },
    /// `POST /mined` from `from` arrives at `to`; `peer` is `to` in `from`'s book.
    Relay {
        from: u32,
        peer: PeerId,
        to: u32,
        /// The block the sender's chain holds, shared by every node it is
        /// sent to: the receiver's chain keeps this same body.
        block: Arc<Block>,
    },
    /// A relay that could not reach its peer fails back at the sender.
    RelayFailed { node: u32, peer: PeerId },
    /// A sync request from `from` arrives at `to`.
    Request {
        from: u32,
        peer: PeerId,
        to: u32,
        request: Request,
    },
    /// The answer to a request arrives back at `node`.
    Response {
        node: u32,
        peer: PeerId,
        /// Boxed: the answer is large and events move inside the heap.
        answer: Box<Result<Response, PeerError>>,
    },
    /// `GET /peers` from `from` arrives at `to`.
    PeersAsked { from: u32, peer: PeerId, to: u32 },
    /// The answer to `GET /peers` arrives back at `node`.
    PeerList {
        node: u32,
        peer: PeerId,
        answer: Box<Result<Vec<String>, PeerError>>,
    },
    /// `GET {url}/tip` from `from` arrives at the candidate `to`.
    CandidateAsked { from: u32, url: String, to: u32 },
    /// The candidate's answer arrives back at `node`.
    CandidateAnswer {
        node: u32,
        url: String,
        answer: Box<Result<TipInfo, PeerError>>,
    },
    /// `POST /peers {"url": url}` from `from` arrives at `to`.
    Announced {
        from: u32,
        peer: PeerId,
        to: u32,
        url: String,
    },
    /// The partition ends.
    Heal,
    /// A scripted block is handed to its node (`POST /mined`).
    Submit { index: u32 },
    /// Something of a `GET /events` stream ([`streams`]).
    Stream(StreamEvent),
}

/// One simulated node: the real state machine plus what the driver keeps.
struct SimNode {
    state: NodeState,
    /// The node in `neighbours[i]` is this node's `PeerId(i)`.
    neighbours: Vec<u32>,
    /// When this node's upload link is free again (µs).
    upload_free_us: u64,
    /// The timer armed, and its generation.
    timer: Option<(u64, u64)>,
    generation: u64,
    tip: BlockHash,
    silent: bool,
    /// Offline in `[start, end)` µs, if at all.
    offline: Option<(u64, u64)>,
    /// Hash power share.
    share: f64,
}

/// A block the simulation mined.
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

/// The simulation: nodes, network, events and what was observed.
pub struct World {
    config: Config,
    network: Network,
    nodes: Vec<SimNode>,
    rng: Rng,
    queue: Queue<Event>,
    seq: u64,
    now_us: u64,
    /// Each node's region, apart from the nodes so that sending to a node
    /// does not load its whole state.
    regions: Vec<u8>,
    /// Which nodes cannot be dialled ([`Config::unreachable_share`]).
    unreachable: Vec<bool>,
    /// The `GET /events` streams open or opening between nodes.
    streams: Streams,
    /// Cumulative hash power, for drawing the miner.
    cumulative_share: Vec<f64>,
    /// Blocks mined, in order, and the index of each by hash.
    mined: Vec<Mined>,
    mined_index: ByHash<u32>,
    /// When each node first stored each mined block (µs; `u64::MAX` never):
    /// `arrival[block][node]`.
    arrival: Vec<Vec<u64>>,
    /// How many nodes are on each tip.
    tips: ByHash<u32>,
    /// `GET /tip` body length by tip (every node on a tip answers the same).
    tip_json: ByHash<u64>,
    /// Block JSON length by hash (every relay of a block has the same body).
    block_json: ByHash<u64>,
    /// Reorganisation depths seen (blocks disconnected) → count.
    reorgs: BTreeMap<u64, u64>,
    /// Deepest reorganisation of each side after the heal.
    partition: Option<PartitionObservation>,
    end_us: Option<u64>,
    events: u64,
    relays: u64,
    requests: u64,
    /// Simulated time 0 in ms since the Unix epoch ([`EPOCH_MS`] unless scripted).
    epoch_ms: u64,
    /// The block schedule of a scripted run (then nothing is mined).
    script: Option<Box<Scripted>>,
}

impl World {
    /// Builds the network of `config`: places the nodes, links them, gives
    /// each a `NodeState` on the sim genesis with its peers added.
    pub fn new(config: Config) -> World {
        World::build(config, None)
    }

    /// [`World::new`], or a scripted run on `setup`'s topology, params and
    /// epoch that mines nothing and hands out `setup`'s blocks instead.
    pub(crate) fn build(config: Config, setup: Option<Setup>) -> World {
        let mut rng = Rng::new(config.seed);
        let network = config.network.clone();
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
        let (topology, params, epoch_ms, script, given_unreachable) = match setup {
            None if config.measured_degrees => {
                let mut degree_rng = rng.fork(4);
                let degrees: Vec<usize> = (0..config.nodes)
                    .map(|_| network.draw_outbound_degree(&mut degree_rng))
                    .collect();
                (
                    Topology::random_dialable(&degrees, &dialable, &mut link_rng),
                    sim_params(config.block_ms),
                    EPOCH_MS,
                    None,
                    Vec::new(),
                )
            }
            None => (
                Topology::random_dialable(
                    &vec![config.peers; config.nodes],
                    &dialable,
                    &mut link_rng,
                ),
                sim_params(config.block_ms),
                EPOCH_MS,
                None,
                Vec::new(),
            ),
            Some(setup) => (
                setup.topology,
                setup.params,
                setup.epoch_ms,
                Some(Box::new(setup.script)),
                setup.unreachable,
            ),
        };
        for n in given_unreachable {
            unreachable[n as usize] = true;
        }
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
            .map(|(i, neighbours)| {
                let node_config = NodeConfig {
                    poll_every_ms: config.poll_every_ms,
                    poll_unfollowed_ms: config.poll_unfollowed_ms,
                    ..NodeConfig::default()
                };
                let mut state = NodeState::new(genesis.clone(), node_config);
                if config.discovery {
                    // Announced to every peer the node adds (the links below
                    // are known at both ends already; those first
                    // announcements are dropped with the setup's actions).
                    state.set_own_url(discovery::url_of(i as u32), true);
                }
                for n in &neighbours {
                    // Distinct fake URLs, added in neighbour order: PeerId(i)
                    // is neighbours[i]. Config peers are never dropped.
                    let _ = state.add_peer(discovery::url_of(*n), PeerSource::Config, epoch_ms);
                }
                while state.poll_action().is_some() {}
                SimNode {
                    state,
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
                }
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
        let mut tips = ByHash::default();
        tips.insert(tip, config.nodes as u32);
        let mut world = World {
            regions,
            unreachable,
            streams: Streams::new(config.nodes),
            network,
            nodes,
            rng,
            queue: Queue::new(),
            seq: 0,
            now_us: 0,
            cumulative_share,
            mined: Vec::new(),
            mined_index: ByHash::default(),
            arrival: Vec::new(),
            tips,
            tip_json: ByHash::default(),
            block_json: ByHash::default(),
            reorgs: BTreeMap::new(),
            partition: None,
            end_us: None,
            events: 0,
            relays: 0,
            requests: 0,
            epoch_ms,
            script,
            config,
        };
        for node in 0..world.nodes.len() as u32 {
            world.arm_timer(node);
        }
        if world.script.is_some() {
            world.schedule_script();
        } else {
            let first = world.block_interval_us();
            world.schedule(first, Event::Mine);
        }
        if let Some((start_ms, end_ms)) = world.config.partition {
            world.schedule(start_ms * 1000, Event::Stream(StreamEvent::LinksCut));
            world.schedule(end_ms * 1000, Event::Heal);
        }
        if let Some(o) = world.config.offline {
            world.schedule(o.start_ms * 1000, Event::Stream(StreamEvent::LinksCut));
        }
        world
    }

    fn block_interval_us(&mut self) -> u64 {
        self.rng
            .exponential(self.config.block_ms as f64 * 1000.0)
            .round() as u64
    }

    fn schedule(&mut self, at_us: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at_us,
            seq: self.seq,
            event,
        });
    }

    fn now_ms(&self) -> u64 {
        self.epoch_ms + self.now_us / 1000
    }

    /// Runs to the end: `blocks` blocks mined, then `settle_ms` for the last
    /// ones to spread. `progress` is told the number of blocks mined so far
    /// after each block.
    pub fn run(mut self, progress: &mut dyn FnMut(u64)) -> Observations {
        self.run_events(progress);
        self.observe()
    }

    /// Processes events to the end of the run.
    fn run_events(&mut self, progress: &mut dyn FnMut(u64)) {
        // Bounded: mining stops after `blocks` blocks and the run ends
        // `settle_ms` later; events before then are finite because every
        // event other than a timer is caused by a block or a timer, and
        // timers fire at least 1 ms apart per node.
        while let Some(next) = self.queue.pop() {
            if self.end_us.is_some_and(|end| next.at_us > end) {
                break;
            }
            self.now_us = next.at_us;
            self.events += 1;
            let mined_before = self.mined.len();
            self.handle(next.event);
            if self.mined.len() != mined_before {
                progress(self.mined.len() as u64);
            }
            if let Some(p) = &mut self.partition
                && p.one_tip_after_heal_ms.is_none()
                && self.tips.len() == 1
            {
                p.one_tip_after_heal_ms = Some((self.now_us - p.healed_us) as f64 / 1000.0);
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Mine => self.mine(),
            Event::Timer { node, generation } => {
                let n = &mut self.nodes[node as usize];
                if n.timer.map(|(_, g)| g) != Some(generation) {
                    return;
                }
                n.timer = None;
                let offline = n.offline;
                if let Some((_, back_us)) = offline.filter(|w| self.is_offline_at(*w)) {
                    // Powered off: the timer is honoured when it comes back.
                    self.arm_at(node, back_us);
                    return;
                }
                let now_ms = self.now_ms();
                self.nodes[node as usize].state.handle_timeout(now_ms);
                self.after(node);
            }
            Event::Relay {
                from,
                peer,
                to,
                block,
            } => self.deliver_relay(from, peer, to, block),
            Event::RelayFailed { node, peer } => {
                self.relay_answered(node, peer, Err(PeerError::Unreachable("no route".into())));
                self.after(node);
            }
            Event::Request {
                from,
                peer,
                to,
                request,
            } => self.answer(from, peer, to, request),
            Event::Response { node, peer, answer } => {
                let answer = self.received(node, *answer);
                let now_ms = self.now_ms();
                self.nodes[node as usize]
                    .state
                    .handle_response(peer, answer, now_ms);
                self.after(node);
            }
            Event::PeersAsked { from, peer, to } => self.answer_peers(from, peer, to),
            Event::PeerList { node, peer, answer } => self.peer_list(node, peer, *answer),
            Event::CandidateAsked { from, url, to } => self.answer_candidate(from, url, to),
            Event::CandidateAnswer { node, url, answer } => {
                self.candidate_answer(node, url, *answer)
            }
            Event::Announced {
                from,
                peer,
                to,
                url,
            } => self.announced(from, peer, to, url),
            Event::Heal => self.heal(),
            Event::Submit { index } => self.submit(index),
            Event::Stream(event) => self.stream_event(event),
        }
    }

    fn mine(&mut self) {
        let mined = self.mined.len() as u64;
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
        let hash = block.hash;
        self.mined_index.insert(hash, self.mined.len() as u32);
        self.mined.push(Mined {
            hash,
            height: block.index,
            miner,
            found_us: self.now_us,
        });
        self.arrival.push(vec![u64::MAX; nodes]);
        // A block mined on the node's own template is valid: the answer is
        // `accepted` (or `side`/`ignored` never, as it extends the tip).
        let _ = state.handle_block(block, Source::Local, now_ms);
        self.after(miner);
    }

    /// Carries out `node`'s actions, then re-arms its timer.
    fn after(&mut self, node: u32) {
        let mut tip_changed = false;
        while let Some(action) = self.nodes[node as usize].state.poll_action() {
            match action {
                Action::Store { blocks, .. } => {
                    for block in &blocks {
                        if let Some(&i) = self.mined_index.get(&block.hash) {
                            let slot = &mut self.arrival[i as usize][node as usize];
                            *slot = (*slot).min(self.now_us);
                        }
                    }
                }
                Action::Flush => {}
                Action::TipChanged { change, .. } => {
                    tip_changed = true;
                    self.publish(node, &change.connected);
                    let depth = change.disconnected.len() as u64;
                    if depth > 0 {
                        *self.reorgs.entry(depth).or_default() += 1;
                        if let Some(p) = &mut self.partition {
                            let light = (node < self.nodes.len() as u32 / 2) == p.light_is_first;
                            if light {
                                p.deepest_light_reorg = p.deepest_light_reorg.max(depth);
                            }
                        }
                    }
                }
                Action::Relay { block, peers } => self.relay(node, block, peers),
                Action::Request { peer, request } => self.request(node, peer, request),
                Action::AskPeers { peer } if self.config.discovery => self.ask_peers(node, peer),
                Action::AskPeers { peer } => {
                    // The topology stays as drawn: a peer's list adds nobody.
                    let now_ms = self.now_ms();
                    self.nodes[node as usize]
                        .state
                        .handle_peer_list(peer, Ok(Vec::new()), now_ms);
                }
                Action::CheckCandidate { url } => self.check_candidate(node, url),
                Action::Announce { peer, url } => self.announce(node, peer, url),
                Action::Follow { peer } => self.follow(node, peer),
                Action::Unfollow { peer } => self.unfollow(node, peer),
                Action::Peer { .. } | Action::SyncEnded { .. } => {}
            }
        }
        // The tip moves only with a `TipChanged`: read it (a cold load at
        // 10,000 nodes) only then.
        let tip = if tip_changed {
            self.nodes[node as usize].state.chain().tip().hash
        } else {
            self.nodes[node as usize].tip
        };
        debug_assert_eq!(tip, self.nodes[node as usize].state.chain().tip().hash);
        let old = std::mem::replace(&mut self.nodes[node as usize].tip, tip);
        if old != tip {
            if let Some(count) = self.tips.get_mut(&old) {
                *count -= 1;
                if *count == 0 {
                    self.tips.remove(&old);
                }
            }
            *self.tips.entry(tip).or_default() += 1;
        }
        self.arm_timer(node);
    }

    /// Arms `node`'s timer for its `poll_timeout` (every cadence is the
    /// node's own, in its `NodeConfig`).
    fn arm_timer(&mut self, node: u32) {
        let n = &self.nodes[node as usize];
        let due_ms = n.state.poll_timeout();
        let due_us = due_ms
            .saturating_sub(self.epoch_ms)
            .saturating_mul(1000)
            .max(self.now_us);
        if n.timer.is_some_and(|(at, _)| at <= due_us) {
            return;
        }
        self.arm_at(node, due_us);
    }

    fn arm_at(&mut self, node: u32, at_us: u64) {
        let n = &mut self.nodes[node as usize];
        n.generation += 1;
        let generation = n.generation;
        n.timer = Some((at_us, generation));
        self.schedule(at_us, Event::Timer { node, generation });
    }

    fn relay(&mut self, node: u32, block: Arc<Block>, peers: Vec<PeerId>) {
        if self.nodes[node as usize].silent {
            // A node that never relays drops the action.
            return;
        }
        let json_bytes = self.block_bytes(&block);
        // Looked up once for all the peers: the block's row of the arrival
        // table, if the simulation mined it.
        let mined = self.mined_index.get(&block.hash).copied();
        for peer in peers {
            let Some(to) = self.neighbour(node, peer) else {
                continue;
            };
            self.relays += 1;
            if self.dial_fails(node, to) {
                let at = self.failure_delay(node, to);
                self.schedule(at, Event::RelayFailed { node, peer });
                continue;
            }
            if self.stores(to, mined, &block.hash) {
                // A chain never forgets a stored block: this relay will be
                // answered `duplicate` whenever it arrives, and that answer
                // only marks the peer up. The upload is charged; the arrival
                // needs no event (nor a latency draw).
                self.upload(node, to, json_bytes);
                self.relay_answered(node, peer, Ok(()));
                continue;
            }
            if !self.faults() {
                // Nothing can make this relay fail, and the sender learns
                // only that it was answered: say so now, while the sender's
                // state is in cache, rather than at the arrival.
                self.relay_answered(node, peer, Ok(()));
            }
            let at = self.transfer(node, to, json_bytes);
            self.schedule(
                at,
                Event::Relay {
                    from: node,
                    peer,
                    to,
                    block: block.clone(),
                },
            );
        }
    }

    fn deliver_relay(&mut self, from: u32, peer: PeerId, to: u32, block: Arc<Block>) {
        if self.offline(to) {
            self.relay_answered(from, peer, Err(PeerError::Unreachable("offline".into())));
            self.after(from);
            return;
        }
        let now_ms = self.now_ms();
        // `Chain::accept` answers a stored block `duplicate` before it
        // changes anything, and the node then only asks for an empty store:
        // such an arrival needs no call into the receiver.
        if !self.has_stored(to, &block.hash) {
            let receiver = &mut self.nodes[to as usize].state;
            let _ = receiver.handle_block(block, Source::Submitted, now_ms);
            self.after(to);
        }
        if self.faults() {
            // The reply only tells the sender the peer is up; it is fed back
            // at once rather than after the return trip (lost if the sender
            // is offline by now). Without faults it was fed back when the
            // relay was sent.
            let answer = self.received(from, Ok(()));
            self.relay_answered(from, peer, answer);
            self.after(from);
        }
    }

    /// The JSON length of `block` (measured once per block).
    fn block_bytes(&mut self, block: &Block) -> u64 {
        *self
            .block_json
            .entry(block.hash)
            .or_insert_with(|| block.to_json().len() as u64)
    }

    /// Whether `node`'s chain stores `hash`, from the arrival table (one
    /// array per block, so asking across nodes stays in cache) rather than
    /// from each node's own tree. The table is filled from the `Store`
    /// actions, which list every block a chain stores, so the two agree
    /// (checked in debug builds).
    fn has_stored(&self, node: u32, hash: &BlockHash) -> bool {
        self.stores(node, self.mined_index.get(hash).copied(), hash)
    }

    /// [`World::has_stored`] with the block's row of the arrival table
    /// (`mined`) looked up already, for a caller asking about many nodes.
    fn stores(&self, node: u32, mined: Option<u32>, hash: &BlockHash) -> bool {
        let known = match mined {
            Some(i) => self.arrival[i as usize][node as usize] != u64::MAX,
            None => self.nodes[node as usize].state.chain().contains(hash),
        };
        debug_assert_eq!(
            known,
            self.nodes[node as usize].state.chain().contains(hash)
        );
        known
    }

    /// Feeds a relay's outcome to its sender. The `Peer` notices this may
    /// queue are carried out by whoever drains the sender's actions: the
    /// [`World::after`] in progress when called from a `Relay` action, or
    /// the caller's own `after`.
    fn relay_answered(&mut self, node: u32, peer: PeerId, answer: Result<(), PeerError>) {
        let now_ms = self.now_ms();
        self.nodes[node as usize]
            .state
            .handle_relay(peer, answer, now_ms);
    }

    fn request(&mut self, node: u32, peer: PeerId, request: Request) {
        self.requests += 1;
        let Some(to) = self.neighbour(node, peer) else {
            let at = self.now_us;
            let answer = Box::new(Err(PeerError::Unreachable("unknown peer".into())));
            self.schedule(at, Event::Response { node, peer, answer });
            return;
        };
        if self.dial_fails(node, to) {
            let at = self.failure_delay(node, to);
            let answer = Box::new(Err(PeerError::Unreachable("no route".into())));
            self.schedule(at, Event::Response { node, peer, answer });
            return;
        }
        let at = self.transfer(node, to, 0);
        self.schedule(
            at,
            Event::Request {
                from: node,
                peer,
                to,
                request,
            },
        );
    }

    /// `to` answers `from`'s request from its own chain, as its API would.
    fn answer(&mut self, from: u32, peer: PeerId, to: u32, request: Request) {
        if self.offline(to) {
            let at = self.failure_delay(to, from);
            let answer = Box::new(Err(PeerError::Unreachable("offline".into())));
            self.schedule(
                at,
                Event::Response {
                    node: from,
                    peer,
                    answer,
                },
            );
            return;
        }
        let chain = self.nodes[to as usize].state.chain();
        let (response, bytes) = match request {
            Request::Tip => {
                let info = TipInfo::of(chain);
                let bytes = self.tip_bytes(&info);
                (Response::Tip(info), bytes)
            }
            Request::Blocks {
                from: height,
                limit,
            } => {
                let page: Vec<Block> = chain.blocks_from(height, limit as usize).cloned().collect();
                let bytes = 2 + page
                    .iter()
                    .map(|b| b.to_json().len() as u64 + 1)
                    .sum::<u64>();
                (Response::Blocks(page), bytes)
            }
        };
        let at = self.transfer(to, from, bytes);
        self.schedule(
            at,
            Event::Response {
                node: from,
                peer,
                answer: Box::new(Ok(response)),
            },
        );
    }

    /// The JSON length of a `GET /tip` answer (every node on a tip answers
    /// the same, so it is measured once per tip).
    fn tip_bytes(&mut self, info: &TipInfo) -> u64 {
        *self
            .tip_json
            .entry(info.hash)
            .or_insert_with(|| serde_json::to_string(info).map_or(0, |s| s.len() as u64))
    }

    /// The partition ends: note which side is lighter and its best branch.
    fn heal(&mut self) {
        let half = self.nodes.len() / 2;
        let best_of = |nodes: &[SimNode]| {
            nodes
                .iter()
                .map(|n| n.state.chain())
                .max_by_key(|c| c.best_work())
                .map(|c| {
                    (
                        c.best_work(),
                        c.best_chain().map(|b| b.hash).collect::<Vec<_>>(),
                    )
                })
                .unwrap_or_default()
        };
        let (first_work, first) = best_of(&self.nodes[..half]);
        let (second_work, second) = best_of(&self.nodes[half..]);
        let light_is_first = first_work < second_work;
        self.partition = Some(PartitionObservation {
            healed_us: self.now_us,
            light_is_first,
            equal_work: first_work == second_work,
            light_branch: if light_is_first { first } else { second },
            deepest_light_reorg: 0,
            one_tip_after_heal_ms: None,
        });
        // Every node's periodic round comes as usual; nothing else is poked.
    }

    fn observe(self) -> Observations {
        // The final best chain: the most work, then the most nodes on it,
        // then the lowest node index.
        let mut best: Option<(u128, u32, usize)> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            let key = (
                n.state.chain().best_work(),
                self.tips.get(&n.tip).copied().unwrap_or(0),
            );
            if best.is_none_or(|(w, c, _)| key > (w, c)) {
                best = Some((key.0, key.1, i));
            }
        }
        let best_node = best.map_or(0, |(_, _, i)| i);
        let final_chain: Vec<BlockHash> = self.nodes[best_node]
            .state
            .chain()
            .best_chain()
            .map(|b| b.hash)
            .collect();
        Observations {
            mined: self.mined,
            arrival: self.arrival,
            shares: self.nodes.iter().map(|n| n.share).collect(),
            final_chain,
            final_tips: self.tips.len() as u64,
            reorgs: self.reorgs,
            partition: self.partition,
            events: self.events,
            relays: self.relays,
            requests: self.requests,
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

/// Mines `candidate` at difficulty 1: on average two nonces.
pub fn mine_difficulty_1(candidate: &jbc_core::Candidate) -> Block {
    // Bounded: each nonce meets difficulty 1 with probability 1/2, so 2^64
    // failures in a row do not happen.
    (0u64..)
        .map(|nonce| candidate.block(nonce))
        .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
        .expect("a nonce meets difficulty 1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_stay_small_in_the_heap() {
        assert!(core::mem::size_of::<super::Scheduled<super::Event>>() <= 64);
    }
}
