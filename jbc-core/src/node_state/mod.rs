//! [`NodeState`]: the decisions of a JBC node as a sans-IO state machine.
//!
//! A node is the chain plus what it does on a network: store only what has
//! the work (PROTOCOL.md §6.1, in [`Chain`]), relay a block that changed the best
//! chain once, follow its peers' `/events` so blocks flow both ways on every
//! link it dials, sync when a peer may have more work (when a stream opens,
//! when an orphan arrives, when a peer is added, and at least once a minute),
//! keep its peers' state and back off from a peer that misbehaved. All of that is decided here, with no clock,
//! no socket, no file and no async runtime: the same logic runs in jbc-node
//! (tokio, reqwest, redb) and in a simulator, and is tested event by event.
//!
//! # The contract with a driver
//! The driver feeds events, each with the time, through `handle_*` and then
//! takes the actions [`NodeState::poll_action`] hands back, **in order**,
//! until it returns `None`; after each event it re-reads
//! [`NodeState::poll_timeout`] (any event may move it earlier) and calls
//! [`NodeState::handle_timeout`] when that time comes. Nothing else: every
//! cadence is in [`NodeConfig`], so a driver keeps no timer logic of its own.
//!
//! Events:
//! - [`NodeState::handle_block`]: a block from this node's miner or from a
//!   client (`POST /mined`). Its return value is the answer; the driver must
//!   carry out the [`Action::Store`] that follows (durably, for
//!   [`Durability::Fsync`]) *before* it answers.
//! - [`NodeState::handle_stream_opened`], [`NodeState::handle_stream_block`],
//!   [`NodeState::handle_stream_ended`]: the `GET /events` stream an
//!   [`Action::Follow`] opened (see [`follow`]).
//! - [`NodeState::handle_response`]: the answer to an [`Action::Request`]
//!   (a `/tip` or a page of `/blocks`), or the error the request ended with.
//!   Every request must be answered exactly once, or the peer's sync never
//!   ends (drivers bound every request in time).
//! - [`NodeState::handle_relay`]: how an [`Action::Relay`] to one peer went.
//! - [`NodeState::handle_announced`], [`NodeState::handle_peer_list`],
//!   [`NodeState::handle_candidate`]: answers of [`Action::Announce`],
//!   [`Action::AskPeers`] and [`Action::CheckCandidate`] (see [`discovery`]).
//! - [`NodeState::handle_timeout`]: at (or after) [`NodeState::poll_timeout`];
//!   starts the syncs, streams and peer-list requests that are due.
//! - [`NodeState::add_peer`], [`NodeState::set_own_url`]: configuration
//!   (`--peer`, `POST /peers`, our address).
//!
//! Actions: [`Action::Store`] and [`Action::Flush`] are storage (in order:
//! a later action may rely on an earlier store); [`Action::TipChanged`] is
//! for events, logs and new mining work; [`Action::Relay`],
//! [`Action::Request`], [`Action::Follow`], [`Action::Unfollow`],
//! [`Action::Announce`], [`Action::AskPeers`] and [`Action::CheckCandidate`]
//! are network; [`Action::Peer`] and [`Action::SyncEnded`] are for logs.
//!
//! # Invariants
//! - A block is relayed only after the store that holds it (the `Store`
//!   action comes first; for sync, the `Flush` comes before the relay).
//! - A block is relayed at most once, and only when it changed the best
//!   chain: the same tip twice is relayed once; never back to the peer whose
//!   stream brought it.
//! - At most one sync per peer at a time; a banned peer is not synced from
//!   nor followed until its ban ends.
//! - At most [`NodeConfig::max_streams`] streams are opening or open.
//! - A peer is never forgotten because it failed: it stays in the book,
//!   down, and is tried again (polled, and its stream reopened after a
//!   back-off); only eviction under pressure or another network removes it.
//! - `poll_timeout` never returns a time that `handle_timeout` at that time
//!   leaves unchanged: a driver that honours it never spins.

mod config;
pub mod discovery;
pub mod follow;
pub mod peer_book;
mod relay;
mod syncs;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::{Accepted, Chain, Status};
use crate::hash::BlockHash;
use crate::params::Params;
use crate::sync::{Request, SyncReport, SyncSession};
use crate::validation::BlockError;

pub use config::{
    LEARN_EVERY_MS, LEARN_PER_PEER, MAX_STREAMS, NodeConfig, POLL_EVERY_MS, POLL_UNFOLLOWED_MS,
    STREAM_RETRY_MAX_MS, STREAM_RETRY_MS, STREAM_RETRY_NEVER_UP_MAX_MS, UNSUPPORTED_RETRY_MS,
    WANTED_PEERS,
};
use discovery::OwnUrl;
pub use follow::StreamState;
pub use peer_book::{
    AddPeerError, Added, DropCause, MAX_API_PEERS, MAX_LEARNED_PEERS, PeerBook, PeerHealth, PeerId,
    PeerInfo, PeerNotice, PeerSource, SeenTip,
};

/// Where a block that joined the best chain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// This node's miner.
    Local,
    /// `POST /mined` (a browser miner, another node's relay, a user).
    Submitted,
    /// The `/events` stream of a peer this node follows.
    Followed,
    /// Fetched by sync from a peer.
    Sync,
}

impl Source {
    /// The lowercase name used in events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Submitted => "submitted",
            Source::Followed => "followed",
            Source::Sync => "sync",
        }
    }
}

/// How durable an [`Action::Store`] must be when the driver carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk (fsynced) before the driver answers: the block is acknowledged.
    Fsync,
    /// Written, made durable by a later [`Action::Flush`] (sync's pages).
    Deferred,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these blocks (parents first) in one transaction. Empty with
    /// `Fsync` means "make earlier deferred writes durable" (a `duplicate`
    /// answer may be a block a sync just wrote).
    Store {
        /// The blocks the chain just stored.
        blocks: Vec<Arc<Block>>,
        /// How durable the write must be.
        durability: Durability,
    },
    /// Make every earlier deferred write durable.
    Flush,
    /// The best chain changed: publish it (events, logs) and give the miner
    /// work on the new tip.
    TipChanged {
        /// What changed.
        change: Accepted,
        /// Who brought the block.
        source: Source,
    },
    /// `POST /mined` this block to each of these peers, and report each
    /// outcome with [`NodeState::handle_relay`].
    Relay {
        /// The new best tip.
        block: Arc<Block>,
        /// To whom.
        peers: Vec<PeerId>,
    },
    /// Open `GET /events` of this peer and report what it does with
    /// [`NodeState::handle_stream_opened`], [`NodeState::handle_stream_block`]
    /// (each `block` event) and [`NodeState::handle_stream_ended`].
    Follow {
        /// Whom to follow.
        peer: PeerId,
    },
    /// Close the stream of this peer (it misbehaved, or left the book);
    /// report nothing more of it.
    Unfollow {
        /// Whose stream.
        peer: PeerId,
    },
    /// `POST /peers {"url": url}` to this peer: tell it our address
    /// (PROTOCOL.md §7.1); report with [`NodeState::handle_announced`].
    Announce {
        /// To whom.
        peer: PeerId,
        /// Our address.
        url: String,
    },
    /// `GET /peers` from this peer; report the URLs (normalised; the driver
    /// drops what is not an `http(s)://` URL) with
    /// [`NodeState::handle_peer_list`].
    AskPeers {
        /// Whom to ask.
        peer: PeerId,
    },
    /// `GET {url}/tip`: does this address serve our network? Report with
    /// [`NodeState::handle_candidate`].
    CheckCandidate {
        /// The address learned.
        url: String,
    },
    /// Send this request to this peer and report the answer with
    /// [`NodeState::handle_response`].
    Request {
        /// To whom.
        peer: PeerId,
        /// What to ask.
        request: Request,
    },
    /// A peer's state changed (for logs).
    Peer {
        /// The peer.
        peer: PeerId,
        /// Its URL.
        url: String,
        /// What changed.
        notice: PeerNotice,
    },
    /// A sync with a peer ended (for logs).
    SyncEnded {
        /// The peer.
        peer: PeerId,
        /// Its URL.
        url: String,
        /// What it did.
        report: SyncReport,
    },
}

/// A sync in progress with one peer.
#[derive(Debug)]
struct PeerSync {
    session: SyncSession,
    stored: u64,
    tip_changed: bool,
}

/// The decisions of one node: its chain, its peers, relays, streams and
/// syncs.
#[derive(Debug)]
pub struct NodeState {
    chain: Chain,
    config: NodeConfig,
    peers: PeerBook,
    /// The last block relayed, so a tip is relayed once.
    last_relayed: Option<BlockHash>,
    syncs: BTreeMap<PeerId, PeerSync>,
    /// When each peer's next sync is due (ms since the epoch).
    sync_due_ms: BTreeMap<PeerId, u64>,
    /// The `/events` stream of each peer that has or had one.
    streams: BTreeMap<PeerId, follow::Stream>,
    /// Our own address and whether it is public (`--public-url`); a
    /// loopback address is only announced to loopback peers.
    own_url: Option<OwnUrl>,
    /// When each peer was last asked for its peers (`AskPeers`).
    asked_ms: BTreeMap<PeerId, u64>,
    /// Peers our announcement did not reach (they were not listening yet,
    /// say): it is sent again when they next answer.
    unannounced: BTreeSet<PeerId>,
    /// Addresses being checked (`CheckCandidate` sent).
    candidates: BTreeSet<String>,
    /// Addresses found of another network, oldest first.
    rejected: VecDeque<String>,
    actions: VecDeque<Action>,
}

impl NodeState {
    /// A node on `chain` (as loaded from its store), with no peers yet.
    pub fn new(chain: Chain, config: NodeConfig) -> NodeState {
        NodeState {
            chain,
            config,
            peers: PeerBook::default(),
            last_relayed: None,
            syncs: BTreeMap::new(),
            sync_due_ms: BTreeMap::new(),
            streams: BTreeMap::new(),
            own_url: None,
            asked_ms: BTreeMap::new(),
            unannounced: BTreeSet::new(),
            candidates: BTreeSet::new(),
            rejected: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// The chain (read only: blocks enter through `handle_*`).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The cadences and bounds this node runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The network's params.
    pub fn params(&self) -> &Params {
        self.chain.params()
    }

    /// The peers.
    pub fn peers(&self) -> &PeerBook {
        &self.peers
    }

    /// Whether a sync with `peer` is in progress.
    pub fn is_syncing(&self, peer: PeerId) -> bool {
        self.syncs.contains_key(&peer)
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`NodeState::handle_timeout`] is due next (ms since the epoch;
    /// `u64::MAX` when nothing is due: no peers). The earliest of each
    /// peer's next sync, the next stream to open and the next peer list to
    /// ask for.
    pub fn poll_timeout(&self) -> u64 {
        [
            self.next_sync_ms(),
            self.next_stream_ms(),
            self.next_learn_ms(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX)
    }

    /// Starts what is due at `now_ms`: syncs (each peer's `/tip`, at least
    /// every [`NodeConfig::poll_every_ms`]), streams of peers to follow,
    /// and peer-list requests while the node has few reachable peers.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.learn(now_ms);
        self.fill_streams(now_ms);
        self.start_due_syncs(now_ms);
    }

    /// Adds a peer with a URL the driver has checked and normalised;
    /// `Ok(false)` if it was known. A new peer is synced with at once (and
    /// followed, when there is room); one evicted to make room is dropped.
    pub fn add_peer(
        &mut self,
        url: String,
        source: PeerSource,
        now_ms: u64,
    ) -> Result<bool, AddPeerError> {
        if self.own_url.as_ref().is_some_and(|own| own.url == url) {
            // Ourselves: nothing to add (a peer's list holds our address).
            return Ok(false);
        }
        let announce = self.announce_to(&url);
        let Added::New { id, evicted } = self.peers.add(url, source, now_ms)? else {
            return Ok(false);
        };
        if let Some((old, url)) = evicted {
            self.forget(old);
            let notice = PeerNotice::Dropped(DropCause::Evicted);
            self.actions.push_back(Action::Peer {
                peer: old,
                url,
                notice,
            });
        }
        self.sync_due_ms.insert(id, now_ms);
        self.streams.insert(id, follow::Stream::ready_at(now_ms));
        if let Some(url) = announce {
            self.actions.push_back(Action::Announce { peer: id, url });
        }
        Ok(true)
    }

    /// Brings every peer's next sync forward to `now_ms` (an orphan whose
    /// parent any of them may have).
    fn wake_sync(&mut self, now_ms: u64) {
        for due in self.sync_due_ms.values_mut() {
            *due = (*due).min(now_ms);
        }
    }

    /// Brings `peer`'s next sync forward to `now_ms`.
    fn wake_sync_with(&mut self, peer: PeerId, now_ms: u64) {
        if let Some(due) = self.sync_due_ms.get_mut(&peer) {
            *due = (*due).min(now_ms);
        }
    }

    /// A block from this node's miner ([`Source::Local`]) or a client
    /// ([`Source::Submitted`]): the chain's answer. A block the chain stored
    /// is followed by an [`Action::Store`] with [`Durability::Fsync`], which
    /// the driver carries out before it answers; a new best tip is then
    /// announced and relayed; an orphan wakes sync with every peer.
    pub fn handle_block(
        &mut self,
        block: impl Into<Arc<Block>>,
        source: Source,
        now_ms: u64,
    ) -> Result<Accepted, BlockError> {
        self.take_block(block.into(), source, None, now_ms)
    }

    /// A block from `source` (and from the stream of `from`, if any): the
    /// chain decides; what it stored is written, a new tip published and
    /// relayed (not back to `from`), an orphan wakes a sync (with `from`
    /// only, when known).
    fn take_block(
        &mut self,
        block: Arc<Block>,
        source: Source,
        from: Option<PeerId>,
        now_ms: u64,
    ) -> Result<Accepted, BlockError> {
        let accepted = self.chain.accept(block, now_ms)?;
        if accepted.status.is_stored() {
            self.actions.push_back(Action::Store {
                blocks: accepted.stored.clone(),
                durability: Durability::Fsync,
            });
        }
        if accepted.tip_changed() {
            let tip = self.chain.tip().hash;
            self.actions.push_back(Action::TipChanged {
                change: accepted.clone(),
                source,
            });
            self.relay(tip, from);
        }
        if accepted.status == Status::Orphan {
            match from {
                Some(peer) => self.wake_sync_with(peer, now_ms),
                None => self.wake_sync(now_ms),
            }
        }
        Ok(accepted)
    }
}
