//! Syncs: when each peer's `/tip` is asked (its next sync is due), and what
//! a sync's answers do — blocks stored by deferred writes, a flush and a
//! relay at the end, and what the outcome says of the peer.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::follow::StreamState;
use super::{Action, Durability, NodeState, PeerId, PeerSource, PeerSync, SeenTip, Source};
use crate::block::Block;
use crate::block::StoredHeader;
use crate::chain::{Accepted, Chain};
use crate::hash::BlockHash;
use crate::params::Params;
use crate::peer::PeerError;
use crate::sync::{PageStored, Response, SyncOutcome, SyncSession, SyncTarget, Tip, store_page_in};

impl NodeState {
    /// How often `peer` is asked for its `/tip`: often for a peer that does
    /// not serve `/events`, otherwise only as a safety net under following.
    fn poll_interval_ms(&self, peer: PeerId) -> u64 {
        match self.streams.get(&peer).map(|s| s.state) {
            Some(StreamState::Unsupported { .. }) => self.config.poll_unfollowed_ms,
            _ => self.config.poll_every_ms,
        }
    }

    /// Starts a sync with every peer whose sync is due, is not banned and
    /// has none running; sets when each is due next. A sync that comes due
    /// while one with the same peer runs stays due: it starts when that one
    /// ends (what woke it may be newer than what the running one asked).
    pub(super) fn start_due_syncs(&mut self, now_ms: u64) {
        let due: Vec<PeerId> = self
            .sync_due_ms
            .iter()
            .filter(|(peer, due)| **due <= now_ms && !self.syncs.contains_key(peer))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let ban = self.peers.get(peer).and_then(|p| p.ban_at(now_ms));
            let next = match ban {
                Some(ban) => ban.until_ms,
                None => now_ms.saturating_add(self.poll_interval_ms(peer)),
            };
            self.sync_due_ms.insert(peer, next);
            if ban.is_none() {
                self.start_sync(peer);
            }
        }
    }

    /// When the next sync may start: the earliest due time of a peer with
    /// no sync running.
    pub(super) fn next_sync_ms(&self) -> Option<u64> {
        self.sync_due_ms
            .iter()
            .filter(|(peer, _)| !self.syncs.contains_key(peer))
            .map(|(_, due)| *due)
            .min()
    }

    fn start_sync(&mut self, peer: PeerId) {
        let session = SyncSession::new(self.config.sync);
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

    /// The answer to a [`Action::Request`] sent to `peer` (or the error the
    /// request ended with): a `/tip` answer of our network is recorded as
    /// the peer's tip ([`PeerBook::saw_tip`](super::PeerBook::saw_tip)), and
    /// the sync takes its next step. Blocks it stores
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
        // Its tip, as it said (a peer of another network's tip is no tip of ours).
        if let Ok(Response::Tip(tip)) = &answer
            && tip.params == *self.chain.params()
        {
            let (height, hash) = (tip.height, tip.hash);
            let seen = SeenTip {
                height,
                hash,
                seen_at_ms: now_ms,
            };
            self.peers.saw_tip(peer, seen);
        }
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
            self.actions.push_back(Action::Store {
                blocks: stored,
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
        if let Some(sync) = self.syncs.remove(&peer) {
            self.end_sync(peer, sync, now_ms);
        }
    }

    /// A sync with `peer` ended: flush, relay a new tip, judge the peer.
    fn end_sync(&mut self, peer: PeerId, sync: PeerSync, now_ms: u64) {
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
                    self.drop_peer(peer);
                }
            }
            SyncOutcome::PeerFailed(e) => {
                let why = alloc::string::ToString::to_string(e);
                self.mark_down(peer, &why, now_ms);
            }
            SyncOutcome::Misbehaved(m) => {
                self.mark_up(peer);
                let why = alloc::string::ToString::to_string(m);
                self.ban(peer, &why, now_ms);
            }
        }
        if let Some(url) = url {
            self.actions
                .push_back(Action::SyncEnded { peer, url, report });
        }
    }

    /// Bans `peer` (not synced from nor followed until the ban ends); its
    /// stream, if any, is closed.
    pub(super) fn ban(&mut self, peer: PeerId, why: &str, now_ms: u64) {
        let notice = self.peers.ban(peer, now_ms, why);
        self.notice(peer, notice);
        if let Some(until) = self
            .peers
            .get(peer)
            .and_then(|p| p.ban_at(now_ms))
            .map(|ban| ban.until_ms)
        {
            self.stop_stream_until(peer, until);
        }
    }
}

/// The chain as a sync target, recording what it stored and each change of
/// the best chain, so the node can emit its actions.
struct Recording<'a> {
    chain: &'a mut Chain,
    stored: Vec<Arc<Block>>,
    changes: Vec<Accepted>,
}

impl SyncTarget for Recording<'_> {
    fn params(&self) -> Params {
        self.chain.params().clone()
    }

    fn best(&self) -> Tip {
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

    fn stored_header(&self, hash: &BlockHash) -> Option<StoredHeader> {
        self.chain.header(hash)
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
