//! Following peers: the driver side of jbc-core's [`Action::Follow`]. Each
//! followed peer's `GET /events` is read by one task, bounded in time and in
//! bytes, and each `block` event goes into the state machine as a relay
//! from that peer ([`NodeState::handle_stream_block`]).
//!
//! Bounds: the stream must answer within [`FIRST_BYTE_TIMEOUT`]; a stream
//! silent for [`IDLE_TIMEOUT`] (three keep-alive intervals: a link that
//! failed without a word) is dropped; an event over
//! [`MAX_EVENT_BYTES`] drops the stream. The
//! state machine decides when to open it again.
//!
//! [`Action::Follow`]: jbc_core::node_state::Action::Follow
//! [`NodeState::handle_stream_block`]: jbc_core::node_state::NodeState::handle_stream_block

use std::sync::Arc;
use std::time::Duration;

use jbc_core::Block;
use jbc_core::node_state::PeerId;
use jbc_core::peer::{ErrorBody, PeerError};
use jbc_core::sse::{EventDecoder, MAX_EVENT_BYTES};
use jbc_core::validation::BlockError;

use super::{Node, now_ms};

/// Longest wait for a stream's answer (its status and headers).
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
/// A stream that sends nothing (not even a keep-alive) for this long is
/// dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(3 * crate::events::KEEP_ALIVE.as_secs());

/// The client of every stream: like the node's, but without a total
/// timeout (a stream lasts as long as the link does).
pub fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(crate::peers::CONNECT_TIMEOUT)
        .user_agent(concat!("jbc-node/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// How a stream ended.
enum Ended {
    /// Tell the state machine (`Ok`: the peer closed it).
    Report(Result<(), PeerError>),
    /// The state machine closed it itself (an invalid block): say nothing.
    Silent,
}

/// Reads `peer`'s stream at `url` until it ends, the node stops or the
/// task is aborted ([`Action::Unfollow`](jbc_core::node_state::Action::Unfollow)).
pub(crate) async fn follow(node: Arc<Node>, peer: PeerId, url: String, client: reqwest::Client) {
    let ended = tokio::select! {
        ended = read_stream(&node, peer, &url, &client) => ended,
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

async fn read_stream(node: &Arc<Node>, peer: PeerId, url: &str, client: &reqwest::Client) -> Ended {
    let request = client
        .get(format!("{url}/events"))
        .header("accept", "text/event-stream")
        .send();
    let mut response = match tokio::time::timeout(FIRST_BYTE_TIMEOUT, request).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Ended::Report(Err(PeerError::Unreachable(e.to_string()))),
        Err(_) => {
            return Ended::Report(Err(PeerError::Unreachable("/events did not answer".into())));
        }
    };
    let status = response.status().as_u16();
    if status != 200 {
        let body = ErrorBody {
            error: if status == 404 { "not_found" } else { "error" }.into(),
            message: format!("/events answered {status}"),
        };
        return Ended::Report(Err(PeerError::Api { status, body }));
    }
    if call(node, move |state, now| {
        state.handle_stream_opened(peer, now)
    })
    .await
    .is_none()
    {
        return Ended::Silent;
    }
    let mut decoder = EventDecoder::new(MAX_EVENT_BYTES);
    let mut events = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(IDLE_TIMEOUT, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Ended::Report(Ok(())),
            Ok(Err(e)) => return Ended::Report(Err(PeerError::Unreachable(e.to_string()))),
            Err(_) => {
                let silent = format!("stream silent for {} s", IDLE_TIMEOUT.as_secs());
                return Ended::Report(Err(PeerError::Unreachable(silent)));
            }
        };
        if let Err(e) = decoder.push(&chunk, &mut events) {
            return Ended::Report(Err(PeerError::BadAnswer(e.to_string())));
        }
        for event in events.drain(..) {
            if event.name != "block" {
                continue;
            }
            let block = match serde_json::from_str::<BlockEvent>(&event.data) {
                Ok(event) => event.block,
                Err(e) => {
                    let why = format!("a block event is not a block: {e}");
                    return Ended::Report(Err(PeerError::BadAnswer(why)));
                }
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
}

/// The data of a `block` event.
#[derive(serde::Deserialize)]
struct BlockEvent {
    block: Block,
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
