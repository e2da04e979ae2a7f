//! Relays: a node's `Relay` action becomes a `POST /mined` to each of its
//! peers, handed to the receiver as `handle_block(block, Submitted)`, and
//! the sender's `handle_relay` is told whether the peer answered.

use std::sync::Arc;

use jbc_core::Block;
use jbc_core::node_state::{PeerId, Source};
use jbc_core::peer::PeerError;

use super::{Event, World};

impl World {
    /// `node`'s `Relay { block, peers }`: a `POST /mined` to each peer (a
    /// silent node drops the action).
    pub(super) fn relay(&mut self, node: u32, block: Arc<Block>, peers: Vec<PeerId>) {
        if self.nodes[node as usize].silent {
            // A node that never relays drops the action.
            return;
        }
        let json_bytes = self.sizes.block(&block);
        // Looked up once for all the peers: the block's row of the arrival
        // table, if the simulation mined it.
        let mined = self.record.row_of(&block.hash);
        for peer in peers {
            let Some(to) = self.neighbour(node, peer) else {
                continue;
            };
            self.record.relays += 1;
            if self.dial_fails(node, to) {
                let at = self.failure_delay(node, to);
                self.schedule(at, Event::RelayFailed { node, peer });
                continue;
            }
            if self.stores(to, mined, &block.hash) {
                // A chain never forgets a stored block: this relay will be
                // answered `duplicate` whenever it arrives, and that answer
                // only marks the peer up. The upload is charged; the arrival
                // needs no event (nor a latency draw).
                self.upload(node, to, json_bytes);
                self.relay_answered(node, peer, Ok(()));
                continue;
            }
            if !self.faults() {
                // Nothing can make this relay fail, and the sender learns
                // only that it was answered: say so now, while the sender's
                // state is in cache, rather than at the arrival.
                self.relay_answered(node, peer, Ok(()));
            }
            let at = self.transfer(node, to, json_bytes);
            self.schedule(
                at,
                Event::Relay {
                    from: node,
                    peer,
                    to,
                    block: block.clone(),
                },
            );
        }
    }

    /// A relay from `from` reaches `to`.
    pub(super) fn deliver_relay(&mut self, from: u32, peer: PeerId, to: u32, block: Arc<Block>) {
        if self.offline(to) {
            self.relay_answered(from, peer, Err(PeerError::Unreachable("offline".into())));
            self.after(from);
            return;
        }
        let now_ms = self.now_ms();
        // `Chain::accept` answers a stored block `duplicate` before it
        // changes anything, and the node then only asks for an empty store:
        // such an arrival needs no call into the receiver.
        if !self.has_stored(to, &block.hash) {
            let receiver = &mut self.nodes[to as usize].state;
            let _ = receiver.handle_block(block, Source::Submitted, now_ms);
            self.after(to);
        }
        if self.faults() {
            // The reply only tells the sender the peer is up; it is fed back
            // at once rather than after the return trip (lost if the sender
            // is offline by now). Without faults it was fed back when the
            // relay was sent.
            let answer = self.received(from, Ok(()));
            self.relay_answered(from, peer, answer);
            self.after(from);
        }
    }

    /// Feeds a relay's outcome to its sender. The `Peer` notices this may
    /// queue are carried out by whoever drains the sender's actions: the
    /// [`World::after`] in progress when called from a `Relay` action, or
    /// the caller's own `after`.
    pub(super) fn relay_answered(
        &mut self,
        node: u32,
        peer: PeerId,
        answer: Result<(), PeerError>,
    ) {
        let now_ms = self.now_ms();
        self.nodes[node as usize]
            .state
            .handle_relay(peer, answer, now_ms);
    }
}
