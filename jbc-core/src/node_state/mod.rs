//! [`NodeState`]: the decisions of a JBC node as a sans-IO state machine.
//!
//! A node is the chain plus what it does on a network: store only what has
//! the work (SPEC §6.1, in [`Chain`]), relay a block that changed the best
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

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::{Accepted, Chain};
use crate::hash::BlockHash;
use crate::params::Params;
use crate::peer::{PeerError, SubmitReply};
use crate::sync::{
    PageStored, Request, Response, SyncConfig, SyncOutcome, SyncReport, SyncSession, SyncTarget,
    store_page_in,
};
use crate::validation::BlockError;

pub use peer_book::{AddPeerError, PeerBook, PeerHealth, PeerId, PeerInfo, PeerNotice, PeerSource};

/// How often a node syncs with every peer, in milliseconds (and at start).
pub const SYNC_EVERY_MS: u64 = 3_000;

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
        blocks: Vec<Block>,
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
        block: Block,
        /// To whom.
        peers: Vec<PeerId>,
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
            actions: VecDeque::new(),
        }
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
        let (_, added) = self.peers.add(url, source)?;
        if added {
            self.wake_sync(now_ms);
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
        block: Block,
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

    fn blocks_of(&self, hashes: &[BlockHash]) -> Vec<Block> {
        hashes
            .iter()
            .filter_map(|hash| self.chain.block(hash).cloned())
            .collect()
    }

    /// Queues a relay of `hash` to every peer but `except`, unless it was
    /// the last block relayed.
    fn relay(&mut self, hash: BlockHash, except: Option<PeerId>) {
        if self.last_relayed == Some(hash) {
            return;
        }
        let Some(block) = self.chain.block(&hash).cloned() else {
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

    /// How a relay to `peer` went: a peer that answered (even with a
    /// refusal) is up; one that failed is down (an `api` peer that keeps
    /// failing is dropped).
    pub fn handle_relay(&mut self, peer: PeerId, answer: Result<SubmitReply, PeerError>) {
        match answer {
            Ok(_) | Err(PeerError::Api { .. }) => self.mark_up(peer),
            Err(e) => self.mark_down(peer, &e.to_string()),
        }
    }

    /// Starts a sync with every peer that is not banned and not syncing
    /// already, when one is due (every [`SYNC_EVERY_MS`], or at once after
    /// an orphan or a new peer).
    pub fn handle_timeout(&mut self, now_ms: u64) {
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
        match &report.outcome {
            SyncOutcome::UpToDate
            | SyncOutcome::Synced
            | SyncOutcome::PeerChanged
            | SyncOutcome::FutureBlock { .. } => self.mark_up(peer),
            SyncOutcome::OtherNetwork { .. } => self.mark_down(peer, "other network"),
            SyncOutcome::PeerFailed(e) => self.mark_down(peer, &e.to_string()),
            SyncOutcome::LocalFailure(_) => {}
            SyncOutcome::Misbehaved(m) => {
                self.mark_up(peer);
                let notice = self.peers.ban(peer, now_ms, &m.to_string());
                self.notice(peer, notice);
            }
        }
        if let Some(url) = self.peers.get(peer).map(|p| p.url.clone()) {
            self.actions
                .push_back(Action::SyncEnded { peer, url, report });
        }
    }

    fn mark_up(&mut self, peer: PeerId) {
        let notice = self.peers.mark_up(peer);
        self.notice(peer, notice);
    }

    fn mark_down(&mut self, peer: PeerId, why: &str) {
        let url = self.peers.get(peer).map(|p| p.url.clone());
        let notice = self.peers.mark_down(peer, why);
        if notice == Some(PeerNotice::Dropped) {
            self.syncs.remove(&peer);
        }
        if let (Some(url), Some(notice)) = (url, notice) {
            self.actions.push_back(Action::Peer { peer, url, notice });
        }
    }

    fn notice(&mut self, peer: PeerId, notice: Option<PeerNotice>) {
        if let (Some(notice), Some(info)) = (notice, self.peers.get(peer)) {
            let url = info.url.clone();
            self.actions.push_back(Action::Peer { peer, url, notice });
        }
    }
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
