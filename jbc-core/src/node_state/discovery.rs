//! Finding peers (PROTOCOL.md §7.1): our own address and to whom it
//! is announced, asking reachable peers for their lists while we have few,
//! and checking a learned address serves our network before adding it.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Action, MAX_LEARNED_PEERS, NodeState, PeerHealth, PeerId, PeerInfo, PeerSource};
use crate::params::genesis;
use crate::peer::{PeerError, TipInfo};

/// The address this node announces, and whether it is public (given with
/// `--public-url`; a loopback address is told to loopback peers only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OwnUrl {
    pub(super) url: String,
    pub(super) public: bool,
}

/// Addresses found to be of another network, which are not checked again;
/// the oldest is forgotten beyond this.
const MAX_REJECTED: usize = 256;

impl NodeState {
    /// Our own address, announced to the peers we add: a `public` one
    /// (`--public-url`) to every peer, a loopback one
    /// (`http://127.0.0.1:PORT`) only to loopback peers. A node with none
    /// (it cannot be dialled) announces nothing, and still joins: it dials
    /// out, follows and relays.
    pub fn set_own_url(&mut self, url: String, public: bool) {
        self.own_url = Some(OwnUrl { url, public });
    }

    /// The address to announce to a peer at `peer_url`, if any.
    pub(super) fn announce_to(&self, peer_url: &str) -> Option<String> {
        let OwnUrl { url: own, public } = self.own_url.as_ref()?;
        (*public || (is_loopback_url(own) && is_loopback_url(peer_url))).then(|| own.clone())
    }

    /// How an [`Action::Announce`] went (like a relay: it says whether the
    /// peer is up). An announcement that did not reach the peer is sent
    /// again when the peer next answers anything (it goes from down to up).
    ///
    /// One that failed while the peer's stream is open (the two raced the
    /// peer's start: it answers) is sent again at once, once.
    pub fn handle_announced(&mut self, peer: PeerId, answer: Result<(), PeerError>, now_ms: u64) {
        let unreachable = matches!(answer, Err(PeerError::Unreachable(_)));
        if unreachable
            && self.stream(peer) == Some(super::StreamState::Open)
            && self.unannounced.insert(peer)
            && let Some(url) = self.peers.get(peer).and_then(|p| self.announce_to(&p.url))
        {
            self.actions.push_back(Action::Announce { peer, url });
            return;
        }
        if self.answered(peer, answer, now_ms) {
            self.unannounced.remove(&peer);
        } else if self.peers.get(peer).is_some() {
            self.unannounced.insert(peer);
        }
    }

    /// A peer's `GET /peers` (normalised URLs): new addresses, at most
    /// [`NodeConfig::learn_per_peer`](super::NodeConfig) from this list and
    /// within [`MAX_LEARNED_PEERS`] (pending checks included), are checked
    /// with [`Action::CheckCandidate`] before they are added.
    pub fn handle_peer_list(
        &mut self,
        peer: PeerId,
        answer: Result<Vec<String>, PeerError>,
        now_ms: u64,
    ) {
        let mut urls = match answer {
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
            .min(self.config.learn_per_peer);
        // Start at a place of the list that differs from node to node, so
        // that nodes learning from the same peer spread over its list
        // instead of all taking its first entries.
        let start = self.own_url.as_ref().map_or(0, |OwnUrl { url: own, .. }| {
            own.bytes().fold(0usize, |h, b| {
                h.wrapping_mul(31).wrapping_add(usize::from(b))
            })
        });
        let turn = if urls.is_empty() {
            0
        } else {
            start % urls.len()
        };
        urls.rotate_left(turn);
        for url in urls {
            if room == 0 {
                break;
            }
            let own = self.own_url.as_ref().is_some_and(|own| own.url == url);
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

    /// While fewer than [`NodeConfig::wanted_peers`](super::NodeConfig) peers
    /// are up, asks each peer that is up for its peers, each at most once
    /// every `learn_every_ms` (a peer as soon as it is up, the first time).
    pub(super) fn learn(&mut self, now_ms: u64) {
        let asks: Vec<PeerId> = self
            .learn_due()
            .filter(|(_, due)| *due <= now_ms)
            .map(|(id, _)| id)
            .collect();
        for peer in asks {
            self.asked_ms.insert(peer, now_ms);
            self.actions.push_back(Action::AskPeers { peer });
        }
    }

    /// When the next peer list is due, if the node is learning.
    pub(super) fn next_learn_ms(&self) -> Option<u64> {
        self.learn_due().map(|(_, due)| due).min()
    }

    /// Each peer that is up with when it may be asked for its list next, if
    /// the node has fewer reachable peers than it wants.
    fn learn_due(&self) -> impl Iterator<Item = (PeerId, u64)> + '_ {
        let (_, up) = self.peers.counts();
        let learning = up > 0 && up < self.config.wanted_peers;
        self.peers
            .iter()
            .filter(move |(_, info)| learning && info.health == PeerHealth::Up)
            .map(|(id, _)| {
                let due = self
                    .asked_ms
                    .get(&id)
                    .map_or(0, |at| at.saturating_add(self.config.learn_every_ms));
                (id, due)
            })
    }

    /// The peers that `GET /peers` shares at `now_ms`: all but those down
    /// for more than an hour.
    pub fn shared_peers(&self, now_ms: u64) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers
            .iter()
            .filter(move |(_, info)| info.is_shareable(now_ms))
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
