//! The world's side of following peers (PROTOCOL "Following peers"): a
//! node's `Follow` opens a simulated `GET /events` stream to that peer,
//! which carries each block that joins the peer's best chain back to the
//! follower, over the same links as relays.
//!
//! The model:
//! - **Opening.** The request crosses the link to the peer (a latency draw,
//!   its headers over the bandwidth), the peer starts serving it, and the
//!   answer's headers come back the same way: then the follower's
//!   `handle_stream_opened`. A peer that cannot be dialled (an unreachable
//!   node, offline, across the partition) refuses it: the follower's
//!   `handle_stream_ended` with an error after a round trip.
//! - **Blocks.** Each block that joins the serving node's best chain (the
//!   `connected` blocks of its `TipChanged`, lowest first, as jbc-node's
//!   `/events` sends them) goes to every follower: it waits for the
//!   server's upload link, takes its JSON plus [`EVENT_OVERHEAD_BYTES`] over
//!   the bandwidth and a latency draw, and never overtakes an earlier event
//!   of the same stream (a stream is one TCP connection). On arrival it is
//!   `handle_stream_block`. As with relays, an event for a block the
//!   follower stores already is charged on the upload but needs no arrival
//!   (the answer would be `duplicate`, which changes nothing). A silent
//!   node ([`Config::silent_share`](crate::Config::silent_share)) sends no
//!   block events.
//! - **Ending.** A stream across a link that is cut (either end goes
//!   offline, the partition starts) dies at once; the follower learns it
//!   when its bound runs out, as jbc-node's follower does on a link that
//!   failed without a word: [`STREAM_IDLE_TIMEOUT_MS`] after the cut for an
//!   open stream (keep-alives stop), [`STREAM_FIRST_BYTE_TIMEOUT_MS`] for
//!   one still opening. (A real follower's idle clock starts at the last
//!   keep-alive, up to 5 s before the cut: the model takes the longest
//!   wait.) A follower that is offline then learns it when it is back.
//!   `Unfollow` closes a stream at once and reports nothing.
//! - With [`Config::follow`](crate::Config::follow) off, every node answers
//!   `/events` with 404, as an older node: each peer is then polled every
//!   `NodeConfig::poll_unfollowed_ms`.

use std::sync::Arc;

use jbc_core::Block;
use jbc_core::node_state::PeerId;
use jbc_core::peer::{ErrorBody, PeerError};

use super::{Event, World};

/// How long a follower waits on an open stream that sends nothing before
/// it gives up (ms): jbc-node's `follow::IDLE_TIMEOUT`, three keep-alive
/// intervals of 5 s.
pub const STREAM_IDLE_TIMEOUT_MS: u64 = 15_000;
/// How long a follower waits for a stream's answer (ms): jbc-node's
/// `follow::FIRST_BYTE_TIMEOUT`.
pub const STREAM_FIRST_BYTE_TIMEOUT_MS: u64 = 5_000;
/// Bytes of a `block` event around the block's JSON (`event: block`,
/// `data: {"source": …, "block": …}` and the blank line).
pub const EVENT_OVERHEAD_BYTES: u64 = 50;

/// Something that happens to a stream.
#[derive(Debug)]
pub(super) enum StreamEvent {
    /// `GET /events` from `node` (its stream `id` of `peer`) reaches `server`.
    Open {
        node: u32,
        peer: PeerId,
        server: u32,
        id: u64,
    },
    /// The answer's headers reach `node`: the stream is open.
    Opened { node: u32, peer: PeerId, id: u64 },
    /// A `block` event reaches `node`.
    Block {
        node: u32,
        peer: PeerId,
        id: u64,
        block: Arc<Block>,
    },
    /// `node` learns that the stream ended (or was refused).
    Ended {
        node: u32,
        peer: PeerId,
        id: u64,
        why: &'static str,
    },
    /// A fault starts (the partition, nodes going offline): every stream
    /// across a link cut now dies.
    LinksCut,
}

/// Where a stream stands at its follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Opening,
    Open,
    /// Cut: its end is on its way to the follower.
    Dead,
}

/// A stream as its follower holds it.
#[derive(Debug, Clone, Copy)]
struct Followed {
    peer: PeerId,
    server: u32,
    id: u64,
    link: Link,
}

/// A stream as its server holds it.
#[derive(Debug, Clone, Copy)]
struct Served {
    follower: u32,
    id: u64,
    peer: PeerId,
    /// When its last event arrives (µs): the next one comes after it.
    last_at_us: u64,
}

/// Every stream of the world: by follower and by server (a few per node,
/// so each list is scanned).
pub(super) struct Streams {
    following: Vec<Vec<Followed>>,
    served: Vec<Vec<Served>>,
    next_id: u64,
    /// Streams that opened.
    pub(super) opened: u64,
    /// `block` events sent.
    pub(super) blocks_sent: u64,
}

impl Streams {
    /// No streams between `nodes` nodes.
    pub(super) fn new(nodes: usize) -> Streams {
        Streams {
            following: vec![Vec::new(); nodes],
            served: vec![Vec::new(); nodes],
            next_id: 0,
            opened: 0,
            blocks_sent: 0,
        }
    }

    /// `node`'s stream `id`, if it still has it.
    fn find(&mut self, node: u32, id: u64) -> Option<&mut Followed> {
        self.following[node as usize]
            .iter_mut()
            .find(|f| f.id == id)
    }

    /// Removes `node`'s stream of `peer` at both ends.
    fn remove(&mut self, node: u32, peer: PeerId) {
        let list = &mut self.following[node as usize];
        if let Some(i) = list.iter().position(|f| f.peer == peer) {
            let gone = list.swap_remove(i);
            self.stop_serving(gone.server, gone.id);
        }
    }

    fn stop_serving(&mut self, server: u32, id: u64) {
        if let Some(list) = self.served.get_mut(server as usize)
            && let Some(i) = list.iter().position(|s| s.id == id)
        {
            list.swap_remove(i);
        }
    }
}

impl World {
    /// `node`'s `Follow { peer }`: opens the stream (or answers 404 when
    /// following is off).
    pub(super) fn follow(&mut self, node: u32, peer: PeerId) {
        let now_ms = self.now_ms();
        if !self.config.follow {
            let not_served = PeerError::Api {
                status: 404,
                body: ErrorBody {
                    error: "not_found".into(),
                    message: "following is off (--no-follow)".into(),
                },
            };
            let state = &mut self.nodes[node as usize].state;
            state.handle_stream_ended(peer, Err(not_served), now_ms);
            return;
        }
        let Some(server) = self.neighbour(node, peer) else {
            let unknown = Err(PeerError::Unreachable("unknown peer".into()));
            let state = &mut self.nodes[node as usize].state;
            state.handle_stream_ended(peer, unknown, now_ms);
            return;
        };
        self.streams.remove(node, peer);
        let id = self.streams.next_id;
        self.streams.next_id += 1;
        self.streams.following[node as usize].push(Followed {
            peer,
            server,
            id,
            link: Link::Opening,
        });
        let (at, event) = if self.dial_fails(node, server) {
            let why = "connection refused";
            let at = self.failure_delay(node, server);
            (
                at,
                StreamEvent::Ended {
                    node,
                    peer,
                    id,
                    why,
                },
            )
        } else {
            let at = self.transfer(node, server, 0);
            (
                at,
                StreamEvent::Open {
                    node,
                    peer,
                    server,
                    id,
                },
            )
        };
        self.schedule(at, Event::Stream(event));
    }

    /// `node`'s `Unfollow { peer }`: the stream is closed at both ends;
    /// nothing more of it is reported.
    pub(super) fn unfollow(&mut self, node: u32, peer: PeerId) {
        self.streams.remove(node, peer);
    }

    /// `node`'s best chain gained `connected`: a `block` event of each, in
    /// order, to every follower.
    pub(super) fn publish(&mut self, node: u32, connected: &[jbc_core::BlockHash]) {
        if self.streams.served[node as usize].is_empty() || self.nodes[node as usize].silent {
            return;
        }
        for hash in connected {
            let Some(block) = self.nodes[node as usize]
                .state
                .chain()
                .shared_block(hash)
                .cloned()
            else {
                continue;
            };
            let wire_bytes = self.sizes.block(&block) + EVENT_OVERHEAD_BYTES;
            let mined = self.record.row_of(hash);
            for i in 0..self.streams.served[node as usize].len() {
                let served = self.streams.served[node as usize][i];
                self.streams.blocks_sent += 1;
                if self.stores(served.follower, mined, hash) {
                    // Answered `duplicate` whenever it arrives: only the
                    // upload is charged.
                    self.upload_wire(node, served.follower, wire_bytes);
                    continue;
                }
                let at = self
                    .transfer_wire(node, served.follower, wire_bytes)
                    .max(served.last_at_us);
                self.streams.served[node as usize][i].last_at_us = at;
                let event = StreamEvent::Block {
                    node: served.follower,
                    peer: served.peer,
                    id: served.id,
                    block: block.clone(),
                };
                self.schedule(at, Event::Stream(event));
            }
        }
    }

    /// Carries out a stream event.
    pub(super) fn stream_event(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Open {
                node,
                peer,
                server,
                id,
            } => self.serve(node, peer, server, id),
            StreamEvent::Opened { node, peer, id } => {
                let Some(stream) = self.streams.find(node, id) else {
                    return;
                };
                if stream.link != Link::Opening {
                    return;
                }
                stream.link = Link::Open;
                self.streams.opened += 1;
                let now_ms = self.now_ms();
                self.nodes[node as usize]
                    .state
                    .handle_stream_opened(peer, now_ms);
                self.after(node);
            }
            StreamEvent::Block {
                node,
                peer,
                id,
                block,
            } => {
                let open = self
                    .streams
                    .find(node, id)
                    .is_some_and(|s| s.link == Link::Open);
                if !open || self.has_stored(node, &block.hash) {
                    return;
                }
                let now_ms = self.now_ms();
                let state = &mut self.nodes[node as usize].state;
                let _ = state.handle_stream_block(peer, block, now_ms);
                self.after(node);
            }
            StreamEvent::Ended {
                node,
                peer,
                id,
                why,
            } => self.ended(node, peer, id, why),
            StreamEvent::LinksCut => self.cut_streams(),
        }
    }

    /// `GET /events` reaches `server`: it serves the stream from now on
    /// and its answer's headers go back.
    fn serve(&mut self, node: u32, peer: PeerId, server: u32, id: u64) {
        let opening = self
            .streams
            .find(node, id)
            .is_some_and(|s| s.link == Link::Opening);
        // A stream cut on its way is ended by the cut already.
        if !opening || self.cut(node, server) {
            return;
        }
        let at = self.transfer(server, node, 0);
        self.streams.served[server as usize].push(Served {
            follower: node,
            id,
            peer,
            last_at_us: at,
        });
        self.schedule(at, Event::Stream(StreamEvent::Opened { node, peer, id }));
    }

    /// `node` learns that its stream `id` ended (when it is online).
    fn ended(&mut self, node: u32, peer: PeerId, id: u64, why: &'static str) {
        if self.streams.find(node, id).is_none() {
            return;
        }
        if let Some((_, back_us)) = self.nodes[node as usize]
            .offline
            .filter(|w| self.is_offline_at(*w))
        {
            let event = StreamEvent::Ended {
                node,
                peer,
                id,
                why,
            };
            self.schedule(back_us, Event::Stream(event));
            return;
        }
        self.streams.remove(node, peer);
        let now_ms = self.now_ms();
        let answer = Err(PeerError::Unreachable(why.into()));
        self.nodes[node as usize]
            .state
            .handle_stream_ended(peer, answer, now_ms);
        self.after(node);
    }

    /// A fault starts: every stream across a link that is cut now dies;
    /// its follower learns it when its bound runs out.
    fn cut_streams(&mut self) {
        for node in 0..self.nodes.len() as u32 {
            for i in 0..self.streams.following[node as usize].len() {
                let stream = self.streams.following[node as usize][i];
                if stream.link == Link::Dead || !self.cut(node, stream.server) {
                    continue;
                }
                self.streams.following[node as usize][i].link = Link::Dead;
                self.streams.stop_serving(stream.server, stream.id);
                let (wait_ms, why) = match stream.link {
                    Link::Open => (STREAM_IDLE_TIMEOUT_MS, "stream silent"),
                    _ => (STREAM_FIRST_BYTE_TIMEOUT_MS, "/events did not answer"),
                };
                let event = StreamEvent::Ended {
                    node,
                    peer: stream.peer,
                    id: stream.id,
                    why,
                };
                self.schedule(self.now_us + wait_ms * 1000, Event::Stream(event));
            }
        }
    }
}
