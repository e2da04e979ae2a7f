//! [`World`]: the discrete-event loop that drives one real
//! [`NodeState`] per simulated node.
//!
//! The simulator is a driver in the sense of `jbc_core::node_state`: it
//! feeds each node its events with the (simulated) time and carries out the
//! actions the node hands back, in order. Storage actions write nothing
//! (the chain in memory is the store), but the blocks a `Store` lists fill
//! the arrival table: that is when the node counts as having them. `Relay`
//! and `Request` become messages that arrive after a latency draw plus
//! their size over the bandwidth; the timer is honoured at `poll_timeout`.
//! Everything runs on one thread from one seeded [`Rng`], ordered by
//! (time, sequence number), so a configuration gives one run.
//!
//! This module holds the loop: the events, the nodes, and how each action
//! is carried out. The rest is one concern per submodule: `build` (placing
//! and linking the nodes, drawing the faults), `queue` (the event queue),
//! `links` (when a message arrives), `faults` (which messages are lost:
//! offline nodes, the partition, nodes that cannot be dialled), `mining`,
//! `relay` (`POST /mined`), `requests` (sync requests), `streams`
//! (`GET /events`), `discovery` (finding peers), `recorder` (what the run
//! observed) and `script` (the world's side of a scripted run).

use std::sync::Arc;

use jbc_core::BlockHash;
use jbc_core::node_state::{Action, NodeState, PeerId};
use jbc_core::peer::{PeerError, TipInfo};
use jbc_core::sync::{Request, Response};

use crate::config::Config;
use crate::network::Network;
use crate::observations::Observations;
use crate::rng::Rng;
use crate::schedule::Scripted;

mod build;
mod by_hash;
mod discovery;
mod faults;
mod links;
mod mining;
mod queue;
mod recorder;
mod relay;
mod requests;
mod script;
mod streams;

pub use build::{EPOCH_MS, sim_params};
pub use links::HTTP_OVERHEAD_BYTES;
pub use mining::mine_difficulty_1;

use faults::Side;
use links::BodySizes;
use queue::Queue;
use recorder::Recorder;
use streams::{StreamEvent, Streams};

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
        block: Arc<jbc_core::Block>,
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

/// The simulation: nodes, network, events and what was observed.
pub struct World {
    config: Config,
    network: Network,
    nodes: Vec<SimNode>,
    rng: Rng,
    queue: Queue<Event>,
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
    /// What the run observed.
    record: Recorder,
    /// The JSON length of each block and `/tip` answer sent.
    sizes: BodySizes,
    /// When the run ends (µs), once known.
    end_us: Option<u64>,
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

    fn schedule(&mut self, at_us: u64, event: Event) {
        self.queue.push(at_us, event);
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
            self.record.events += 1;
            let mined_before = self.record.mined.len();
            self.handle(next.event);
            if self.record.mined.len() != mined_before {
                progress(self.record.mined.len() as u64);
            }
            self.record.check_one_tip(self.now_us);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Mine => self.mine(),
            Event::Timer { node, generation } => self.timer(node, generation),
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
            Event::Response { node, peer, answer } => self.response(node, peer, *answer),
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

    /// `node`'s timer fires: `handle_timeout`, unless the node is off (then
    /// it is honoured when the node is back) or the timer was re-armed.
    fn timer(&mut self, node: u32, generation: u64) {
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

    /// Carries out `node`'s actions, then re-arms its timer.
    fn after(&mut self, node: u32) {
        let mut tip_changed = false;
        while let Some(action) = self.nodes[node as usize].state.poll_action() {
            match action {
                Action::Store { blocks, .. } => {
                    let hashes = blocks.iter().map(|b| &b.hash);
                    self.record.stored(node, hashes, self.now_us);
                }
                Action::Flush => {}
                Action::TipChanged { change, .. } => {
                    tip_changed = true;
                    self.publish(node, &change.connected);
                    let depth = change.disconnected.len() as u64;
                    if depth > 0 {
                        let side = Side::of(node, self.nodes.len());
                        self.record.reorg(depth, side);
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
            self.record.tip_moved(old, tip);
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

    /// Whether `node`'s chain stores `hash`, from the arrival table (one
    /// array per block, so asking across nodes stays in cache) rather than
    /// from each node's own tree. The table is filled from the `Store`
    /// actions, which list every block a chain stores, so the two agree
    /// (checked in debug builds).
    fn has_stored(&self, node: u32, hash: &BlockHash) -> bool {
        self.stores(node, self.record.row_of(hash), hash)
    }

    /// [`World::has_stored`] with the block's row of the arrival table
    /// (`mined`) looked up already, for a caller asking about many nodes.
    fn stores(&self, node: u32, mined: Option<u32>, hash: &BlockHash) -> bool {
        let known = match mined {
            Some(row) => self.record.arrived(row, node),
            None => self.nodes[node as usize].state.chain().contains(hash),
        };
        debug_assert_eq!(
            known,
            self.nodes[node as usize].state.chain().contains(hash)
        );
        known
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_stay_small_in_the_heap() {
        assert!(core::mem::size_of::<super::queue::Scheduled<super::Event>>() <= 64);
    }
}
