//! Following peers: the driver side of jbc-core's [`Action::Follow`]. Each
//! followed peer's `GET /events` is read by one task with jbc-client's
//! [`EventStream`], and each `block` event goes into the state machine as a
//! relay from that peer ([`NodeState::handle_stream_block`]).
//!
//! Bounds (jbc-client's, from the node's [`Timeouts`]): the stream must
//! answer within 5 s; a stream silent for
//! [`STREAM_SILENCE_MS`](jbc_core::wire::STREAM_SILENCE_MS) (three
//! keep-alive intervals: a link that failed without a word) is dropped; an
//! event over [`MAX_EVENT_BYTES`](jbc_core::sse::MAX_EVENT_BYTES) drops
//! the stream. The state machine decides when to open it again.
//!
//! [`Action::Follow`]: jbc_core::node_state::Action::Follow
//! [`NodeState::handle_stream_block`]: jbc_core::node_state::NodeState::handle_stream_block
//! [`EventStream`]: jbc_client::EventStream
//! [`Timeouts`]: jbc_client::Timeouts

use std::sync::Arc;

use jbc_client::HttpPeer;
use jbc_core::node_state::PeerId;
use jbc_core::peer::PeerError;
use jbc_core::validation::BlockError;
use jbc_core::wire::StreamEvent;

use super::{Node, now_ms};

/// How a stream ended.
enum Ended {
    /// Tell the state machine (`Ok`: the peer closed it).
    Report(Result<(), PeerError>),
    /// The state machine closed it itself (an invalid block): say nothing.
    Silent,
}

/// Reads `peer`'s stream until it ends, the node stops or the task is
/// aborted ([`Action::Unfollow`](jbc_core::node_state::Action::Unfollow)).
pub(crate) async fn follow(node: Arc<Node>, peer: PeerId, client: HttpPeer) {
    let ended = tokio::select! {
        ended = read_stream(&node, peer, &client) => ended,
        () = node.shutdown_token().cancelled() => return,
    };
    if let Ended::Report(answer) = ended {
        node.metrics().stream_ended(&answer);
        call(&node, move |state, now| {
            state.handle_stream_ended(peer, answer, now)
        })
        .await;
    }
}

async fn read_stream(node: &Arc<Node>, peer: PeerId, client: &HttpPeer) -> Ended {
    let mut stream = match client.events().await {
        Ok(stream) => stream,
        Err(e) => return Ended::Report(Err(e)),
    };
    if call(node, move |state, now| {
        state.handle_stream_opened(peer, now)
    })
    .await
    .is_none()
    {
        return Ended::Silent;
    }
    loop {
        let block = match stream.next().await {
            Ok(Some(StreamEvent::Block(block))) => block,
            Ok(Some(_)) => continue,
            Ok(None) => return Ended::Report(Ok(())),
            Err(e) => return Ended::Report(Err(e)),
        };
        node.metrics().stream_block();
        let taken = call(node, move |state, now| {
            state.handle_stream_block(peer, block, now)
        })
        .await;
        match taken {
            // The stream is no longer followed, or the block got the
            // peer banned: the state machine closed it.
            None | Some(None) => return Ended::Silent,
            Some(Some(Err(e))) if e != BlockError::TimestampInFuture => return Ended::Silent,
            Some(Some(_)) => {}
        }
    }
}

/// Runs `event` through the state machine on a blocking thread (it may
/// write); `None` if the node stopped.
async fn call<R: Send + 'static>(
    node: &Arc<Node>,
    event: impl FnOnce(&mut jbc_core::node_state::NodeState, u64) -> R + Send + 'static,
) -> Option<R> {
    let node = node.clone();
    tokio::task::spawn_blocking(move || node.handle(|state| event(state, now_ms())))
        .await
        .ok()?
        .ok()
}
