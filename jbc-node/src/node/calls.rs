//! What [`Node`] carries out after the lock is released: relays,
//! requests, streams, announcements and peer-list questions, each a
//! background task bounded in time whose answer goes back into the state
//! machine through [`Node::handle`]; and the log lines of peers and syncs.

use std::sync::Arc;

use jbc_client::HttpPeer;
use jbc_core::Block;
use jbc_core::node_state::{Action, NodeState, PeerId, PeerNotice};
use jbc_core::peer::{Peer, PeerError};
use jbc_core::sync::{Request, Response};
use tokio::sync::Semaphore;

use super::{Node, RELAY_TIMEOUT, now_ms};
use crate::announce;
use crate::peers::MAX_RELAYS_IN_FLIGHT;

impl Node {
    /// Carries out an action that needs no lock: relays, requests, peer and
    /// sync logs.
    pub(super) fn carry_out(self: &Arc<Self>, action: Action) {
        match action {
            Action::Relay { block, peers } => {
                for peer in peers {
                    self.relay(peer, block.clone());
                }
            }
            Action::Request { peer, request } => {
                self.metrics.sync_request(peer);
                self.request(peer, request)
            }
            Action::Announce { peer, url } => self.announce_to(peer, url),
            Action::AskPeers { peer } => self.ask_peers(peer),
            Action::CheckCandidate { url } => self.check_candidate(url),
            Action::Follow { peer } => self.follow(peer),
            Action::Unfollow { peer } => {
                let task = self
                    .streams
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&peer);
                if let Some(task) = task {
                    task.abort();
                }
            }
            Action::Peer { peer, url, notice } => {
                if matches!(notice, PeerNotice::Dropped(_)) {
                    // Its ids are never reused: forget its relay slots.
                    self.relay_permits
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&peer);
                }
                self.metrics.peer_notice(peer, &notice);
                announce::peer_notice(&url, &notice)
            }
            Action::SyncEnded { peer, url, report } => {
                self.metrics.sync_ended(peer, &report.outcome);
                announce::sync_ended(self.chain().height(), &url, &report)
            }
            // Storage and announcements are carried out under the lock.
            Action::Store { .. } | Action::Flush | Action::TipChanged { .. } => {}
        }
    }

    fn http_peer(&self, peer: PeerId) -> Option<HttpPeer> {
        let core = self.read();
        let info = core.state.peers().get(peer)?;
        // The book holds normalised URLs only.
        HttpPeer::new(&info.url, &self.client).ok()
    }

    /// POSTs `block` to `peer` in the background, bounded by
    /// [`RELAY_TIMEOUT`]; dropped when [`MAX_RELAYS_IN_FLIGHT`] relays to it
    /// are in flight already (it will sync when it comes back).
    fn relay(self: &Arc<Self>, peer: PeerId, block: Arc<Block>) {
        let Some(client) = self.http_peer(peer) else {
            return;
        };
        let permits = self
            .relay_permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(peer)
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_RELAYS_IN_FLIGHT)))
            .clone();
        let Ok(permit) = permits.try_acquire_owned() else {
            return;
        };
        let node = self.clone();
        let call = async move {
            let answer = tokio::time::timeout(RELAY_TIMEOUT, client.submit(&block))
                .await
                .unwrap_or_else(|_| Err(PeerError::Unreachable("relay timed out".into())));
            drop(permit);
            if let Err(e) = &answer {
                node.metrics
                    .relay_failed(matches!(e, PeerError::Api { .. }));
            }
            announce::relayed(client.url(), &answer);
            answer
        };
        self.spawn_call(call, move |state, answer| {
            state.handle_relay(peer, answer.map(|_| ()), now_ms());
        });
    }

    /// Starts reading `peer`'s `/events` (see [`super::follow`]).
    fn follow(self: &Arc<Self>, peer: PeerId) {
        let Some(client) = self.http_peer(peer) else {
            return;
        };
        let task = tokio::spawn(super::follow::follow(self.clone(), peer, client));
        let old = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Sends a sync request to `peer` in the background and feeds the
    /// answer back (every request is bounded in time and bytes by [`HttpPeer`]).
    fn request(self: &Arc<Self>, peer: PeerId, request: Request) {
        let Some(client) = self.http_peer(peer) else {
            return;
        };
        let call = async move {
            match request {
                Request::Tip => client.tip().await.map(Response::Tip),
                Request::Blocks { from, limit } => {
                    client.blocks(from, limit).await.map(Response::Blocks)
                }
            }
        };
        self.spawn_call(call, move |state, answer| {
            state.handle_response(peer, answer, now_ms());
        });
    }

    /// Runs `call` in the background (bounded by the client's timeouts,
    /// dropped at shutdown) and feeds its answer to the state machine with
    /// `handle`, on a blocking thread.
    fn spawn_call<T, F>(
        self: &Arc<Self>,
        call: F,
        handle: impl FnOnce(&mut NodeState, T) + Send + 'static,
    ) where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let node = self.clone();
        tokio::spawn(async move {
            let answer = tokio::select! {
                answer = call => answer,
                () = node.shutdown.cancelled() => return,
            };
            let _ = tokio::task::spawn_blocking(move || node.handle(|state| handle(state, answer)))
                .await;
        });
    }

    /// Tells `peer` our address (`POST /peers`).
    fn announce_to(self: &Arc<Self>, peer: PeerId, own: String) {
        let Some(client) = self.http_peer(peer) else {
            return;
        };
        self.spawn_call(
            async move { client.announce(&own).await },
            move |state, answer| {
                state.handle_announced(peer, answer, now_ms());
            },
        );
    }

    /// Asks `peer` for the peers it knows (`GET /peers`).
    fn ask_peers(self: &Arc<Self>, peer: PeerId) {
        let Some(client) = self.http_peer(peer) else {
            return;
        };
        self.spawn_call(
            async move { client.peer_urls().await },
            move |state, answer| {
                state.handle_peer_list(peer, answer, now_ms());
            },
        );
    }

    /// Checks whether a learned address serves our network (`GET /tip`).
    fn check_candidate(self: &Arc<Self>, url: String) {
        // Learned addresses come normalised from `GET /peers` lists.
        let client = HttpPeer::new(&url, &self.client);
        self.spawn_call(
            async move { client.map_err(|e| PeerError::Unreachable(e.0))?.tip().await },
            move |state, answer| {
                state.handle_candidate(url, answer, now_ms());
            },
        );
    }
}
