//! [`NodeState`]: the decisions of a JBC node as a sans-IO state machine.
//!
//! A node is the chain plus what it does on a network: store only what has
//! the work (PROTOCOL.md §6.1, in [`Chain`]), relay a block that changed the best
//! chain once, sync when a peer may have more work (periodically, when an
//! orphan arrives, when a peer is added), keep its peers' state and back off
//! from a peer that misbehaved. All of that is decided here, with no clock,
//! no socket, no file and no async runtime: the same logic runs in jbc-node
//! (tokio, reqwest, redb) and in a simulator, and is tested event by event.
//!
//! # The contract with a driver
//! The driver feeds events, each with the time, through `handle_*` and then
//! takes the actions [`NodeState::poll_action`] hands back, **in order**,
//! until it returns `None`:
//! - [`NodeState::handle_block`]: a block from this node's miner or from a
//!   client (`POST /mined`). Its return value is the answer; the driver must
//!   carry out the [`Action::Store`] that follows (durably, for
//!   [`Durability::Fsync`]) *before* it answers.
//! - [`NodeState::handle_response`]: the answer to an [`Action::Request`]
//!   (a `/tip` or a page of `/blocks`), or the error the request ended with.
//!   Every request must be answered exactly once, or the peer's sync never
//!   ends (drivers bound every request in time).
//! - [`NodeState::handle_relay`]: how an [`Action::Relay`] to one peer went.
//! - [`NodeState::handle_timeout`]: called at (or after) the time
//!   [`NodeState::poll_timeout`] gives; starts the syncs that are due.
//! - [`NodeState::add_peer`]: a new peer (`--peer`, `POST /peers`).
//!
//! Actions: [`Action::Store`] and [`Action::Flush`] are storage (in order:
//! a later action may rely on an earlier store); [`Action::TipChanged`] is
//! for events, logs and new mining work; [`Action::Relay`] and
//! [`Action::Request`] are network; [`Action::Peer`] and
//! [`Action::SyncEnded`] are for logs. `poll_timeout` may move earlier after
//! any `handle_*` call (an orphan or a new peer wakes sync), so a driver
//! re-reads it after each event.
//!
//! # Invariants
//! - A block is relayed only after the store that holds it (the `Store`
//!   action comes first; for sync, the `Flush` comes before the relay).
//! - A block is relayed at most once, and only when it changed the best
//!   chain: the same tip twice is relayed once.
//! - At most one sync per peer at a time; a banned peer is not synced from
//!   until its ban ends.

pub mod peer_book;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::{Accepted, Chain};
use crate::hash::BlockHash;
use crate::params::Params;
use crate::params::genesis;
use crate::peer::{PeerError, TipInfo};
use crate::sync::{
    PageStored, Request, Response, SyncConfig, SyncOutcome, SyncReport, SyncSession, SyncTarget,
    store_page_in,
};
use crate::validation::BlockError;

pub use peer_book::{
    AddPeerError, MAX_LEARNED_PEERS, PeerBook, PeerHealth, PeerId, PeerInfo, PeerNotice, PeerSource,
};

/// How often a node syncs with every peer, in milliseconds (and at start).
pub const SYNC_EVERY_MS: u64 = 3_000;
/// How often a node with few reachable peers asks them for theirs (PROTOCOL.md §7.1).
pub const LEARN_EVERY_MS: u64 = 60_000;
/// Below this many reachable peers a node learns more (PROTOCOL.md §7.1).
pub const WANTED_PEERS: usize = 8;
/// Most addresses learned from one peer's list per round (PROTOCOL.md §7.1: 4 a minute).
pub const LEARN_PER_PEER: usize = 4;
/// Addresses found to be of another network, which are not checked again;
/// the oldest is forgotten beyond this.
const MAX_REJECTED: usize = 256;

/// Where a block that joined the best chain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// This node's miner.
    Local,
    /// `POST /mined` (a browser miner, another node's relay, a user).
    Submitted,
    /// Fetched by sync from a peer.
    Sync,
}

impl Source {
    /// The lowercase name used in events and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Submitted => "submitted",
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

/// The decisions of one node: its chain, its peers, relays and syncs.
#[derive(Debug)]
pub struct NodeState {
    chain: Chain,
    peers: PeerBook,
    sync_config: SyncConfig,
    /// The last block relayed, so a tip is relayed once.
    last_relayed: Option<BlockHash>,
    syncs: BTreeMap<PeerId, PeerSync>,
    /// When the next round of syncs is due (ms since the epoch).
    next_sync_ms: u64,
    /// Our own address and whether it is public (`--public-url`); a
    /// loopback address is only announced to loopback peers.
    own_url: Option<(String, bool)>,
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
    /// A node on `chain` (as loaded from its store), with no peers yet; its
    /// first syncs are due at once.
    pub fn new(chain: Chain, sync_config: SyncConfig) -> NodeState {
        NodeState {
            chain,
            peers: PeerBook::default(),
            sync_config,
            last_relayed: None,
            syncs: BTreeMap::new(),
            next_sync_ms: 0,
            own_url: None,
            asked_ms: BTreeMap::new(),
            unannounced: BTreeSet::new(),
            candidates: BTreeSet::new(),
            rejected: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// Our own address, announced to the peers we add (PROTOCOL.md §7.1): a
    /// `public` one (`--public-url`) to every peer, a loopback one
    /// (`http://127.0.0.1:PORT`) only to loopback peers.
    pub fn set_own_url(&mut self, url: String, public: bool) {
        self.own_url = Some((url, public));
    }

    /// The address to announce to a peer at `peer_url`, if any.
    fn announce_to(&self, peer_url: &str) -> Option<String> {
        let (own, public) = self.own_url.as_ref()?;
        (*public || (is_loopback_url(own) && is_loopback_url(peer_url))).then(|| own.clone())
    }

    /// The chain (read only: blocks enter through `handle_*`).
    pub fn chain(&self) -> &Chain {
        &self.chain
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

    /// When [`NodeState::handle_timeout`] is due next (ms since the epoch).
    pub fn poll_timeout(&self) -> u64 {
        self.next_sync_ms
    }

    /// Adds a peer with a URL the driver has checked and normalised;
    /// `Ok(false)` if it was known. A new peer is synced with at once.
    pub fn add_peer(
        &mut self,
        url: String,
        source: PeerSource,
        now_ms: u64,
    ) -> Result<bool, AddPeerError> {
        if self.own_url.as_ref().is_some_and(|(own, _)| *own == url) {
            // Ourselves: nothing to add (a peer's list holds our address).
            return Ok(false);
        }
        let announce = self.announce_to(&url);
        let (peer, added) = self.peers.add(url, source)?;
        if added {
            self.wake_sync(now_ms);
            if let Some(url) = announce {
                self.actions.push_back(Action::Announce { peer, url });
            }
        }
        Ok(added)
    }

    fn wake_sync(&mut self, now_ms: u64) {
        self.next_sync_ms = self.next_sync_ms.min(now_ms);
    }

    /// A block from this node's miner ([`Source::Local`]) or a client
    /// ([`Source::Submitted`]): the chain's answer. A block the chain stored
    /// is followed by an [`Action::Store`] with [`Durability::Fsync`], which
    /// the driver carries out before it answers; a new best tip is then
    /// announced and relayed; an orphan wakes sync.
    pub fn handle_block(
        &mut self,
        block: impl Into<Arc<Block>>,
        source: Source,
        now_ms: u64,
    ) -> Result<Accepted, BlockError> {
        let accepted = self.chain.accept(block, now_ms)?;
        if accepted.status.is_stored() {
            let blocks = self.blocks_of(&accepted.stored);
            self.actions.push_back(Action::Store {
                blocks,
                durability: Durability::Fsync,
            });
        }
        if accepted.tip_changed() {
            let tip = self.chain.tip().hash;
            self.actions.push_back(Action::TipChanged {
                change: accepted.clone(),
                source,
            });
            self.relay(tip, None);
        }
        if accepted.status == crate::chain::Status::Orphan {
            self.wake_sync(now_ms);
        }
        Ok(accepted)
    }

    fn blocks_of(&self, hashes: &[BlockHash]) -> Vec<Arc<Block>> {
        hashes
            .iter()
            .filter_map(|hash| self.chain.shared_block(hash).cloned())
            .collect()
    }

    /// Queues a relay of `hash` to every peer but `except`, unless it was
    /// the last block relayed.
    fn relay(&mut self, hash: BlockHash, except: Option<PeerId>) {
        if self.last_relayed == Some(hash) {
            return;
        }
        let Some(block) = self.chain.shared_block(&hash).cloned() else {
            return;
        };
        self.last_relayed = Some(hash);
        let peers: Vec<PeerId> = self
            .peers
            .iter()
            .map(|(id, _)| id)
            .filter(|id| Some(*id) != except)
            .collect();
        if !peers.is_empty() {
            self.actions.push_back(Action::Relay { block, peers });
        }
    }

    /// How a relay to `peer` went: `Ok` if it answered with any status.
    /// A peer that answered (even with a refusal, [`PeerError::Api`]) is
    /// up; one that failed is down (an `api` or `learned` peer that keeps
    /// failing is dropped). What the peer made of the block is its own
    /// business: a relay asks for nothing.
    pub fn handle_relay(&mut self, peer: PeerId, answer: Result<(), PeerError>, now_ms: u64) {
        self.answered(peer, answer, now_ms);
    }

    /// How an [`Action::Announce`] went (like a relay: it says whether the
    /// peer is up).
    /// An announcement that did not reach the peer is sent again when the
    /// peer next answers anything (it goes from down to up).
    pub fn handle_announced(&mut self, peer: PeerId, answer: Result<(), PeerError>, now_ms: u64) {
        if !self.answered(peer, answer, now_ms) && self.peers.get(peer).is_some() {
            self.unannounced.insert(peer);
        }
    }

    /// Marks `peer` up if it answered (any answer, even a refusal), else
    /// down; says whether it answered.
    fn answered(&mut self, peer: PeerId, answer: Result<(), PeerError>, now_ms: u64) -> bool {
        match answer {
            Ok(()) | Err(PeerError::Api { .. }) => {
                self.mark_up(peer);
                true
            }
            Err(e) => {
                self.mark_down(peer, &e.to_string(), now_ms);
                false
            }
        }
    }

    /// A peer's `GET /peers` (normalised URLs): new addresses, at most
    /// [`LEARN_PER_PEER`] from this list and within [`MAX_LEARNED_PEERS`]
    /// (pending checks included), are checked with
    /// [`Action::CheckCandidate`] before they are added.
    pub fn handle_peer_list(
        &mut self,
        peer: PeerId,
        answer: Result<Vec<String>, PeerError>,
        now_ms: u64,
    ) {
        let urls = match answer {
            Ok(urls) => {
                self.mark_up(peer);
                urls
            }
            Err(e) => {
                self.answered(peer, Err(e), now_ms);
                return;
            }
        };
        let mut room = MAX_LEARNED_PEERS
            .saturating_sub(self.peers.count(PeerSource::Learned) + self.candidates.len())
            .min(LEARN_PER_PEER);
        // Start at a place of the list that differs from node to node, so
        // that nodes learning from the same peer spread over its list
        // instead of all taking its first entries.
        let start = self.own_url.as_ref().map_or(0, |(own, _)| {
            own.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            })
        });
        let turn = if urls.is_empty() {
            0
        } else {
            start % urls.len()
        };
        let mut urls = urls;
        urls.rotate_left(turn);
        for url in urls {
            if room == 0 {
                break;
            }
            let own = self.own_url.as_ref().is_some_and(|(own, _)| *own == url);
            if own
                || self.peers.knows(&url)
                || self.candidates.contains(&url)
                || self.rejected.contains(&url)
            {
                continue;
            }
            room -= 1;
            self.candidates.insert(url.clone());
            self.actions.push_back(Action::CheckCandidate { url });
        }
    }

    /// What a learned address answered to `GET /tip`: it is added (as
    /// `learned`) only if it serves our genesis; one of another network is
    /// never asked again, one that did not answer may be in a later round.
    pub fn handle_candidate(
        &mut self,
        url: String,
        answer: Result<TipInfo, PeerError>,
        now_ms: u64,
    ) {
        if !self.candidates.remove(&url) {
            return;
        }
        let ours = self.chain.genesis().hash;
        let tip = match answer {
            Ok(tip) => tip,
            // No answer (yet): it may be tried again in a later round.
            Err(_) => return,
        };
        if genesis(&tip.params).hash == ours {
            // Only a full list refuses it; it may be learned later then.
            let _ = self.add_peer(url, PeerSource::Learned, now_ms);
            return;
        }
        if self.rejected.len() >= MAX_REJECTED {
            self.rejected.pop_front();
        }
        self.rejected.push_back(url);
    }

    /// Starts a sync with every peer that is not banned and not syncing
    /// already, when one is due (every [`SYNC_EVERY_MS`], or at once after
    /// an orphan or a new peer).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.learn(now_ms);
        if now_ms < self.next_sync_ms {
            return;
        }
        self.next_sync_ms = now_ms.saturating_add(SYNC_EVERY_MS);
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, info)| !info.is_banned(now_ms) && !self.syncs.contains_key(id))
            .map(|(id, _)| id)
            .collect();
        for peer in due {
            let session = SyncSession::new(self.sync_config);
            if let Some(request) = session.poll_request() {
                self.actions.push_back(Action::Request { peer, request });
            }
            self.syncs.insert(
                peer,
                PeerSync {
                    session,
                    stored: 0,
                    tip_changed: false,
                },
            );
        }
    }

    /// While fewer than [`WANTED_PEERS`] peers are up, asks each peer that
    /// is up for its peers, each at most once every [`LEARN_EVERY_MS`] (a
    /// peer as soon as it is up, the first time).
    fn learn(&mut self, now_ms: u64) {
        let (_, up) = self.peers.counts();
        if up == 0 || up >= WANTED_PEERS {
            return;
        }
        let asks: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, info)| {
                info.health == PeerHealth::Up
                    && self
                        .asked_ms
                        .get(id)
                        .is_none_or(|at| now_ms >= at.saturating_add(LEARN_EVERY_MS))
            })
            .map(|(id, _)| id)
            .collect();
        for peer in asks {
            self.asked_ms.insert(peer, now_ms);
            self.actions.push_back(Action::AskPeers { peer });
        }
    }

    /// The peers that `GET /peers` shares at `now_ms`: all but those down
    /// for more than an hour (PROTOCOL.md §7.1).
    pub fn shared_peers(&self, now_ms: u64) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers
            .iter()
            .filter(move |(_, info)| info.is_shareable(now_ms))
    }

    /// The answer to a [`Action::Request`] sent to `peer` (or the error the
    /// request ended with): the sync takes its next step. Blocks it stores
    /// are followed by an [`Action::Store`] with [`Durability::Deferred`];
    /// when the sync ends, a [`Action::Flush`] (if it stored anything), the
    /// relay of a new tip, and what the outcome means for the peer.
    pub fn handle_response(
        &mut self,
        peer: PeerId,
        answer: Result<Response, PeerError>,
        now_ms: u64,
    ) {
        let Some(sync) = self.syncs.get_mut(&peer) else {
            // The peer was dropped meanwhile: nothing waits for this.
            return;
        };
        let mut target = Recording {
            chain: &mut self.chain,
            stored: Vec::new(),
            changes: Vec::new(),
        };
        sync.session.handle_response(&mut target, answer, now_ms);
        let Recording {
            stored, changes, ..
        } = target;
        sync.stored += stored.len() as u64;
        sync.tip_changed |= !changes.is_empty();
        let next = sync.session.poll_request();
        if !stored.is_empty() {
            let blocks = self.blocks_of(&stored);
            self.actions.push_back(Action::Store {
                blocks,
                durability: Durability::Deferred,
            });
        }
        for change in changes {
            self.actions.push_back(Action::TipChanged {
                change,
                source: Source::Sync,
            });
        }
        if let Some(request) = next {
            self.actions.push_back(Action::Request { peer, request });
            return;
        }
        let Some(sync) = self.syncs.remove(&peer) else {
            return;
        };
        let Some(report) = sync.session.into_report() else {
            return;
        };
        if sync.stored > 0 {
            self.actions.push_back(Action::Flush);
        }
        if sync.tip_changed {
            let tip = self.chain.tip().hash;
            self.relay(tip, Some(peer));
        }
        if let Some(height) = report.stats.peer_height {
            self.peers.set_height(peer, height);
        }
        let url = self.peers.get(peer).map(|p| p.url.clone());
        match &report.outcome {
            SyncOutcome::UpToDate
            | SyncOutcome::Synced
            | SyncOutcome::PeerChanged
            | SyncOutcome::FutureBlock { .. } => self.mark_up(peer),
            SyncOutcome::OtherNetwork { .. } => {
                self.mark_down(peer, "other network", now_ms);
                // Only a `--peer` of another network is kept (the user's
                // mistake to see); others are never kept.
                if self
                    .peers
                    .get(peer)
                    .is_some_and(|p| p.source != PeerSource::Config)
                {
                    self.peers.remove(peer);
                    self.forget(peer);
                    if let Some(url) = url.clone() {
                        let notice = PeerNotice::Dropped;
                        self.actions.push_back(Action::Peer { peer, url, notice });
                    }
                }
            }
            SyncOutcome::PeerFailed(e) => self.mark_down(peer, &e.to_string(), now_ms),
            SyncOutcome::LocalFailure(_) => {}
            SyncOutcome::Misbehaved(m) => {
                self.mark_up(peer);
                let notice = self.peers.ban(peer, now_ms, &m.to_string());
                self.notice(peer, notice);
            }
        }
        if let Some(url) = url {
            self.actions
                .push_back(Action::SyncEnded { peer, url, report });
        }
    }

    fn mark_up(&mut self, peer: PeerId) {
        let notice = self.peers.mark_up(peer);
        if notice == Some(PeerNotice::Up)
            && self.unannounced.remove(&peer)
            && let Some(url) = self
                .peers
                .get(peer)
                .and_then(|info| self.announce_to(&info.url))
        {
            self.actions.push_back(Action::Announce { peer, url });
        }
        self.notice(peer, notice);
    }

    fn mark_down(&mut self, peer: PeerId, why: &str, now_ms: u64) {
        let url = self.peers.get(peer).map(|p| p.url.clone());
        let notice = self.peers.mark_down(peer, why, now_ms);
        if notice == Some(PeerNotice::Dropped) {
            self.forget(peer);
        }
        if let (Some(url), Some(notice)) = (url, notice) {
            self.actions.push_back(Action::Peer { peer, url, notice });
        }
    }

    /// Drops what is kept about a peer that left the book.
    fn forget(&mut self, peer: PeerId) {
        self.syncs.remove(&peer);
        self.asked_ms.remove(&peer);
        self.unannounced.remove(&peer);
    }

    fn notice(&mut self, peer: PeerId, notice: Option<PeerNotice>) {
        if let (Some(notice), Some(info)) = (notice, self.peers.get(peer)) {
            let url = info.url.clone();
            self.actions.push_back(Action::Peer { peer, url, notice });
        }
    }
}

/// Whether `url` (`http://HOST[:PORT]…`) names a loopback host.
fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The chain as a sync target, recording what it stored and each change of
/// the best chain, so the node can emit its actions.
struct Recording<'a> {
    chain: &'a mut Chain,
    stored: Vec<BlockHash>,
    changes: Vec<Accepted>,
}

impl SyncTarget for Recording<'_> {
    fn params(&self) -> Params {
        self.chain.params().clone()
    }

    fn best(&self) -> (BlockHash, u64, u128) {
        SyncTarget::best(&*self.chain)
    }

    fn pool_difficulty_floor(&self) -> u32 {
        self.chain.pool_difficulty_floor()
    }

    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        SyncTarget::height_of(&*self.chain, hash)
    }

    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        self.chain.chain_work(hash)
    }

    fn stored_block(&self, hash: &BlockHash) -> Option<Block> {
        self.chain.block(hash).cloned()
    }

    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64> {
        SyncTarget::timestamp_at(&*self.chain, of, height)
    }

    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored {
        let (stored, changes) = (&mut self.stored, &mut self.changes);
        store_page_in(self.chain, page, now_ms, |accepted| {
            stored.extend_from_slice(&accepted.stored);
            if accepted.tip_changed() {
                changes.push(accepted);
            }
        })
    }
}
