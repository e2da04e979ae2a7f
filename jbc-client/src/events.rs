//! [`EventStream`]: a node's `GET /events` read as it arrives.

use std::collections::VecDeque;
use std::time::Duration;

use jbc_core::peer::PeerError;
use jbc_core::sse::{EventDecoder, MAX_EVENT_BYTES, SseEvent};
use jbc_core::wire::{StreamEvent, decode_event};

use crate::peer::unreachable;

/// An open `GET /events` stream (from [`HttpPeer::events`](crate::HttpPeer::events)):
/// each event bounded by [`MAX_EVENT_BYTES`], the stream dropped when it
/// sends nothing, not even a keep-alive, for the client's `stream_silence`.
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    decoder: EventDecoder,
    /// Events decoded but not yet returned.
    ready: VecDeque<SseEvent>,
    silence: Duration,
}

impl EventStream {
    pub(crate) fn new(response: reqwest::Response, silence: Duration) -> EventStream {
        EventStream {
            response,
            decoder: EventDecoder::new(MAX_EVENT_BYTES),
            ready: VecDeque::new(),
            silence,
        }
    }

    /// The next event; `Ok(None)` when the node closed the stream. An
    /// error (silence, a failed link, an event over its bound, a `block`
    /// event that is not a block) ends the stream: drop it.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, PeerError> {
        // Each turn waits at most `silence` for a chunk; the stream lasts
        // as long as the node keeps it open and the caller reads it.
        loop {
            if let Some(event) = self.ready.pop_front() {
                return decode_event(&event).map(Some);
            }
            let chunk = match tokio::time::timeout(self.silence, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(e)) => return Err(unreachable(e)),
                Err(_) => {
                    let silent = format!("stream silent for {} s", self.silence.as_secs());
                    return Err(PeerError::Unreachable(silent));
                }
            };
            let mut events = Vec::new();
            self.decoder
                .push(&chunk, &mut events)
                .map_err(|e| PeerError::BadAnswer(e.to_string()))?;
            self.ready.extend(events);
        }
    }
}
