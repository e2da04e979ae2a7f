//! The world's side of finding peers (PROTOCOL.md §7.1): a node's `AskPeers`,
//! `CheckCandidate` and `Announce` actions become `GET /peers`, `GET /tip`
//! and `POST /peers` messages between simulated nodes, each answered from
//! the receiving node's own state, as its API would.
//!
//! Every simulated node has the address `sim://N` and announces it (as a
//! node with `--public-url` does; one that cannot be dialled announces it
//! too, as a node whose public URL nobody can reach, and every dial to it
//! fails). A node with 8 or more reachable peers asks nobody, so with the
//! default 8 outbound links (about 16 peers each) and no faults none of
//! this happens; with fewer links nodes learn more as real ones do, at the
//! node's own cadence (`NodeConfig::learn_every_ms`).

use jbc_core::node_state::{PeerId, PeerSource};
use jbc_core::peer::{PeerError, TipInfo};

use super::{Event, World};

/// Bytes of one URL in a `GET /peers` answer (`{"url": …, "up": …,
/// "source": …, "banned_until": …}`), for the answer's time on the wire.
const PEER_ENTRY_BYTES: u64 = 90;

/// A simulated node's address.
pub(crate) fn url_of(node: u32) -> String {
    format!("sim://{node}")
}

/// The node an address names, if it is one of the simulation's.
pub(crate) fn node_of(url: &str) -> Option<u32> {
    url.strip_prefix("sim://")?.parse().ok()
}

impl World {
    /// `GET /peers` from `node` to its peer `peer`.
    pub(super) fn ask_peers(&mut self, node: u32, peer: PeerId) {
        let Some(to) = self.neighbour(node, peer) else {
            let now_ms = self.now_ms();
            let state = &mut self.nodes[node as usize].state;
            state.handle_peer_list(peer, Err(PeerError::Unreachable("unknown".into())), now_ms);
            return;
        };
        if self.dial_fails(node, to) {
            let at = self.failure_delay(node, to);
            let answer = Box::new(Err(PeerError::Unreachable("no route".into())));
            self.schedule(at, Event::PeerList { node, peer, answer });
            return;
        }
        let at = self.transfer(node, to, 0);
        self.schedule(
            at,
            Event::PeersAsked {
                from: node,
                peer,
                to,
            },
        );
    }

    /// `to` answers `GET /peers` with the peers it shares.
    pub(super) fn answer_peers(&mut self, from: u32, peer: PeerId, to: u32) {
        let answer = if self.offline(to) {
            Err(PeerError::Unreachable("offline".into()))
        } else {
            let now_ms = self.now_ms();
            Ok(self.nodes[to as usize]
                .state
                .shared_peers(now_ms)
                .map(|(_, info)| info.url.clone())
                .collect::<Vec<String>>())
        };
        let bytes = answer
            .as_ref()
            .map_or(0, |urls| urls.len() as u64 * PEER_ENTRY_BYTES);
        let at = if answer.is_ok() {
            self.transfer(to, from, bytes)
        } else {
            self.failure_delay(to, from)
        };
        let answer = Box::new(answer);
        self.schedule(
            at,
            Event::PeerList {
                node: from,
                peer,
                answer,
            },
        );
    }

    /// The answer to `GET /peers` reaches `node`.
    pub(super) fn peer_list(
        &mut self,
        node: u32,
        peer: PeerId,
        answer: Result<Vec<String>, PeerError>,
    ) {
        let now_ms = self.now_ms();
        let answer = self.received(node, answer);
        self.nodes[node as usize]
            .state
            .handle_peer_list(peer, answer, now_ms);
        self.after(node);
    }

    /// `GET {url}/tip` from `node` to an address it learned.
    pub(super) fn check_candidate(&mut self, node: u32, url: String) {
        let to = node_of(&url).filter(|&to| (to as usize) < self.nodes.len());
        let Some(to) = to.filter(|&to| !self.dial_fails(node, to)) else {
            let at = match to {
                Some(to) => self.failure_delay(node, to),
                None => self.now_us,
            };
            let answer = Box::new(Err(PeerError::Unreachable("no route".into())));
            self.schedule(at, Event::CandidateAnswer { node, url, answer });
            return;
        };
        let at = self.transfer(node, to, 0);
        self.schedule(
            at,
            Event::CandidateAsked {
                from: node,
                url,
                to,
            },
        );
    }

    /// The candidate `to` answers `GET /tip` from its chain.
    pub(super) fn answer_candidate(&mut self, from: u32, url: String, to: u32) {
        let (answer, at) = if self.offline(to) {
            let at = self.failure_delay(to, from);
            (Err(PeerError::Unreachable("offline".into())), at)
        } else {
            let tip = TipInfo::of(self.nodes[to as usize].state.chain());
            let bytes = self.sizes.tip(&tip);
            let at = self.transfer(to, from, bytes);
            (Ok(tip), at)
        };
        let answer = Box::new(answer);
        self.schedule(
            at,
            Event::CandidateAnswer {
                node: from,
                url,
                answer,
            },
        );
    }

    /// The candidate's `/tip` (or the failure) reaches `node`, which adds
    /// it as `learned` if it serves our genesis.
    pub(super) fn candidate_answer(
        &mut self,
        node: u32,
        url: String,
        answer: Result<TipInfo, PeerError>,
    ) {
        let now_ms = self.now_ms();
        let answer = self.received(node, answer);
        self.nodes[node as usize]
            .state
            .handle_candidate(url, answer, now_ms);
        self.map_new_peers(node);
        self.after(node);
    }

    /// `POST /peers {"url": url}` from `node` to its peer `peer`.
    pub(super) fn announce(&mut self, node: u32, peer: PeerId, url: String) {
        let Some(to) = self.neighbour(node, peer) else {
            return;
        };
        if self.dial_fails(node, to) {
            let now_ms = self.now_ms();
            let state = &mut self.nodes[node as usize].state;
            state.handle_announced(peer, Err(PeerError::Unreachable("no route".into())), now_ms);
            return;
        }
        let at = self.transfer(node, to, url.len() as u64);
        self.schedule(
            at,
            Event::Announced {
                from: node,
                peer,
                to,
                url,
            },
        );
    }

    /// The announcement reaches `to`, which adds the address as an `api`
    /// peer; the reply is fed back to the sender at once.
    pub(super) fn announced(&mut self, from: u32, peer: PeerId, to: u32, url: String) {
        let now_ms = self.now_ms();
        let answer = if self.offline(to) {
            Err(PeerError::Unreachable("offline".into()))
        } else {
            // A full list refuses it (the node answers 429 then); the
            // sender only learns that the peer answered.
            let _ = self.nodes[to as usize]
                .state
                .add_peer(url, PeerSource::Api, now_ms);
            self.map_new_peers(to);
            self.after(to);
            Ok(())
        };
        let answer = self.received(from, answer);
        self.nodes[from as usize]
            .state
            .handle_announced(peer, answer, now_ms);
        self.after(from);
    }

    /// The node `peer` is in `node`'s book, if it is one of the world's.
    pub(super) fn neighbour(&self, node: u32, peer: PeerId) -> Option<u32> {
        self.nodes[node as usize]
            .neighbours
            .get(peer.0 as usize)
            .copied()
            .filter(|&to| (to as usize) < self.nodes.len())
    }

    /// Extends `node`'s id → node map with the peers its book added since:
    /// ids are given in order and never reused, so the map is a vector
    /// indexed by id (an id whose peer left at once maps to no node).
    fn map_new_peers(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        let known = n.neighbours.len() as u64;
        for (id, info) in n.state.peers().iter().filter(|(id, _)| id.0 >= known) {
            while (n.neighbours.len() as u64) < id.0 {
                n.neighbours.push(u32::MAX);
            }
            n.neighbours.push(node_of(&info.url).unwrap_or(u32::MAX));
        }
    }
}
