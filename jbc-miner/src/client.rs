//! [`NodeClient`]: the three routes of a node's API a miner needs (PROTOCOL.md §7):
//! `GET /tip`, `POST /mined` and the `GET /events` stream.

use std::time::Duration;

use futures::StreamExt;
use jbc_core::Block;
use jbc_core::peer::{ErrorBody, SubmitReply, TipInfo};
use jbc_core::sse::{EventDecoder, MAX_EVENT_BYTES};

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: connection refused, timeout, reset.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The node's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The node refused the request with an API error (e.g. a 422 with a
    /// PROTOCOL.md §5 code for an invalid block).
    #[error("the node at {url} answered {status} {}: {}", body.error, body.message)]
    Refused {
        /// The node's URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ErrorBody,
    },
    /// The answer could not be read.
    #[error("the node at {url} sent an answer this miner cannot read: {reason}")]
    BadAnswer {
        /// The node's URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// Events of a node's `GET /events` stream that mean new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TipEvent {
    /// The stream is open (a tip may have changed while it was not).
    Connected,
    /// A `block` or `reorg` event: the best tip changed.
    Changed,
}

/// A node at a base URL such as `http://127.0.0.1:5000`.
#[derive(Debug, Clone)]
pub struct NodeClient {
    url: String,
    http: reqwest::Client,
}

/// Time limit of one `/tip` or `/mined` request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit to connect (also for `/events`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl NodeClient {
    /// A client for the node at `url` (trailing slashes are dropped).
    pub fn new(url: &str) -> Result<NodeClient, ClientError> {
        let url = url.trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::Unreachable {
                url,
                reason: "a node URL starts with http:// or https://".into(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(NodeClient { url, http })
    }

    /// The node's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn unreachable(&self, error: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            reason: error.to_string(),
        }
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if status == 200 {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::BadAnswer {
                url: self.url.clone(),
                reason: e.to_string(),
            });
        }
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            error: "http_error".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
        Err(ClientError::Refused {
            url: self.url.clone(),
            status,
            body,
        })
    }

    /// `GET /tip`.
    pub async fn tip(&self) -> Result<TipInfo, ClientError> {
        let response = self
            .http
            .get(format!("{}/tip", self.url))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.read(response).await
    }

    /// `POST /mined`: the node's 200 answer, whatever its status string
    /// (`accepted`, `reorg`, `side`, `duplicate`, `orphan`, `ignored`, or
    /// one this miner does not know yet).
    pub async fn submit(&self, block: &Block) -> Result<SubmitReply, ClientError> {
        let response = self
            .http
            .post(format!("{}/mined", self.url))
            .header("content-type", "application/json")
            .body(block.to_json())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.read(response).await
    }

    /// Follows `GET /events` and calls `on_event` for every tip change
    /// until the stream ends or fails (the caller reconnects).
    pub async fn follow_events(
        &self,
        mut on_event: impl FnMut(TipEvent),
    ) -> Result<(), ClientError> {
        let response = self
            .http
            .get(format!("{}/events", self.url))
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if response.status() != 200 {
            return Err(ClientError::BadAnswer {
                url: self.url.clone(),
                reason: format!("/events answered {}", response.status()),
            });
        }
        on_event(TipEvent::Connected);
        let mut stream = response.bytes_stream();
        let mut decoder = EventDecoder::new(MAX_EVENT_BYTES);
        let mut events = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(e))?;
            decoder
                .push(&chunk, &mut events)
                .map_err(|e| ClientError::BadAnswer {
                    url: self.url.clone(),
                    reason: e.to_string(),
                })?;
            for event in events.drain(..) {
                if matches!(event.name.as_str(), "block" | "reorg") {
                    on_event(TipEvent::Changed);
                }
            }
        }
        Ok(())
    }
}
