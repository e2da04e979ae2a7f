//! Relaying a new tip to every peer, and what each answer says of the peer:
//! whether it is up or down, and the notices a driver logs.

use alloc::string::ToString;
use alloc::vec::Vec;

use super::{Action, DropCause, NodeState, PeerHealth, PeerId, PeerNotice};
use crate::hash::BlockHash;
use crate::peer::PeerError;

impl NodeState {
    /// Queues a relay of `hash` to every peer but `except`, unless it was
    /// the last block relayed.
    pub(super) fn relay(&mut self, hash: BlockHash, except: Option<PeerId>) {
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
    /// up; one that failed is down (and tried again later). What the peer
    /// made of the block is its own business: a relay asks for nothing.
    pub fn handle_relay(&mut self, peer: PeerId, answer: Result<(), PeerError>, now_ms: u64) {
        self.answered(peer, answer, now_ms);
    }

    /// Marks `peer` up if it answered (any answer, even a refusal), else
    /// down; says whether it answered.
    pub(super) fn answered(
        &mut self,
        peer: PeerId,
        answer: Result<(), PeerError>,
        now_ms: u64,
    ) -> bool {
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

    /// Records that `peer` answered. A peer that comes back after being
    /// down (or first answers after our announcement missed it) is told our
    /// address again: it may have lost it meanwhile.
    pub(super) fn mark_up(&mut self, peer: PeerId) {
        let Some((was, notice)) = self.peers.mark_up(peer) else {
            return;
        };
        let missed = self.unannounced.remove(&peer);
        if (missed || was == PeerHealth::Down)
            && let Some(url) = self
                .peers
                .get(peer)
                .and_then(|info| self.announce_to(&info.url))
        {
            self.actions.push_back(Action::Announce { peer, url });
        }
        self.notice(peer, Some(notice));
    }

    /// Records that a request to `peer` failed: it is down (and stays in
    /// the book).
    pub(super) fn mark_down(&mut self, peer: PeerId, why: &str, now_ms: u64) {
        let notice = self.peers.mark_down(peer, why, now_ms);
        self.notice(peer, notice);
    }

    /// Removes `peer` from the book and everything kept about it (another
    /// network): its stream is closed and the driver told.
    pub(super) fn drop_peer(&mut self, peer: PeerId) {
        let Some(url) = self.peers.get(peer).map(|p| p.url.clone()) else {
            return;
        };
        self.peers.remove(peer);
        self.forget(peer);
        let notice = PeerNotice::Dropped(DropCause::OtherNetwork);
        self.actions.push_back(Action::Peer { peer, url, notice });
    }

    /// Drops what is kept about a peer that left the book (its stream is
    /// closed).
    pub(super) fn forget(&mut self, peer: PeerId) {
        self.syncs.remove(&peer);
        self.sync_due_ms.remove(&peer);
        self.asked_ms.remove(&peer);
        self.unannounced.remove(&peer);
        if self.streams.remove(&peer).is_some_and(|s| s.is_active()) {
            self.actions.push_back(Action::Unfollow { peer });
        }
    }

    pub(super) fn notice(&mut self, peer: PeerId, notice: Option<PeerNotice>) {
        if let (Some(notice), Some(info)) = (notice, self.peers.get(peer)) {
            let url = info.url.clone();
            self.actions.push_back(Action::Peer { peer, url, notice });
        }
    }
}
