//! Sync requests: a node's `Request` action (`GET /tip`, `GET /blocks`)
//! crosses the link to the peer, which answers from its own chain as its
//! API would, and the answer comes back into `handle_response`.

use jbc_core::Block;
use jbc_core::node_state::PeerId;
use jbc_core::peer::{PeerError, TipInfo};
use jbc_core::sync::{Request, Response};

use super::{Event, World};

impl World {
    /// `node`'s `Request { peer, request }`.
    pub(super) fn request(&mut self, node: u32, peer: PeerId, request: Request) {
        self.record.requests += 1;
        let Some(to) = self.neighbour(node, peer) else {
            let at = self.now_us;
            let answer = Box::new(Err(PeerError::Unreachable("unknown peer".into())));
            self.schedule(at, Event::Response { node, peer, answer });
            return;
        };
        if self.dial_fails(node, to) {
            let at = self.failure_delay(node, to);
            let answer = Box::new(Err(PeerError::Unreachable("no route".into())));
            self.schedule(at, Event::Response { node, peer, answer });
            return;
        }
        let at = self.transfer(node, to, 0);
        self.schedule(
            at,
            Event::Request {
                from: node,
                peer,
                to,
                request,
            },
        );
    }

    /// `to` answers `from`'s request from its own chain, as its API would.
    pub(super) fn answer(&mut self, from: u32, peer: PeerId, to: u32, request: Request) {
        if self.offline(to) {
            let at = self.failure_delay(to, from);
            let answer = Box::new(Err(PeerError::Unreachable("offline".into())));
            self.schedule(
                at,
                Event::Response {
                    node: from,
                    peer,
                    answer,
                },
            );
            return;
        }
        let chain = self.nodes[to as usize].state.chain();
        let (response, bytes) = match request {
            Request::Tip => {
                let info = TipInfo::of(chain);
                let bytes = self.sizes.tip(&info);
                (Response::Tip(info), bytes)
            }
            Request::Blocks {
                from: height,
                limit,
            } => {
                let page: Vec<Block> = chain.blocks_from(height, limit as usize).cloned().collect();
                let bytes = 2 + page
                    .iter()
                    .map(|b| b.to_json().len() as u64 + 1)
                    .sum::<u64>();
                (Response::Blocks(page), bytes)
            }
        };
        let at = self.transfer(to, from, bytes);
        self.schedule(
            at,
            Event::Response {
                node: from,
                peer,
                answer: Box::new(Ok(response)),
            },
        );
    }

    /// The answer to a request reaches `node` (lost if it is offline now).
    pub(super) fn response(
        &mut self,
        node: u32,
        peer: PeerId,
        answer: Result<Response, PeerError>,
    ) {
        let answer = self.received(node, answer);
        let now_ms = self.now_ms();
        self.nodes[node as usize]
            .state
            .handle_response(peer, answer, now_ms);
        self.after(node);
    }
}
