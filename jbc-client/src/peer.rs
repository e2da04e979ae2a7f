//! [`HttpPeer`]: one node's API over reqwest: jbc-core's [`Transport`]
//! (so also its [`Peer`](jbc_core::Peer)), by jbc-core's wire rules.

use jbc_core::peer::PeerError;
use jbc_core::wire::{self, AnswerBody, BadUrl, Method, Route, Transport, normalize_url};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::Client;
use crate::events::EventStream;

/// A JBC node reached over HTTP at a base URL.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    base: String,
    client: Client,
}

/// A transport failure.
pub(crate) fn unreachable(e: reqwest::Error) -> PeerError {
    PeerError::Unreachable(e.to_string())
}

impl HttpPeer {
    /// The node at `url` (checked and normalised), called with `client`.
    pub fn new(url: &str, client: &Client) -> Result<HttpPeer, BadUrl> {
        Ok(HttpPeer {
            base: normalize_url(url)?,
            client: client.clone(),
        })
    }

    /// The base URL, normalised.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /peers`: the URLs the node shares, normalised; entries that
    /// are not a node's URL are dropped.
    pub async fn peer_urls(&self) -> Result<Vec<String>, PeerError> {
        let (status, body) = self.call(Route::Peers).await?;
        wire::decode_peer_list(status, &body)
    }

    /// `POST /peers {"url": own}`: tells the node our address.
    pub async fn announce(&self, own: &str) -> Result<(), PeerError> {
        let (status, body) = self.call(Route::AddPeer(own)).await?;
        wire::decode_added(status, &body)
    }

    /// Opens `GET /events`: the stream once it answered 200 (within the
    /// client's `stream_answer` time), else why not (a 404 as
    /// [`PeerError::Api`] `not_found`: a node without `/events`).
    pub async fn events(&self) -> Result<EventStream, PeerError> {
        let timeouts = *self.client.timeouts();
        let route = Route::Events;
        let request = self
            .client
            .http
            .get(format!("{}{}", self.base, route.path()))
            .header(ACCEPT, "text/event-stream")
            .send();
        let response = match tokio::time::timeout(timeouts.stream_answer, request).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(unreachable(e)),
            Err(_) => return Err(PeerError::Unreachable("/events did not answer".into())),
        };
        let status = response.status().as_u16();
        if status != 200 {
            // The error body, bounded like any answer; unread if it is not
            // there in time.
            let read = tokio::time::timeout(timeouts.call, read_answer(&route, response));
            let body = read.await.ok().and_then(Result::ok).unwrap_or_default();
            return Err(wire::error_of(status, &body));
        }
        Ok(EventStream::new(response, timeouts.stream_silence))
    }
}

/// Reads `response`'s body chunk by chunk into an [`AnswerBody`], which
/// refuses it (and so drops the connection) as soon as it passes the
/// route's limit.
async fn read_answer(
    route: &Route<'_>,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, PeerError> {
    let mut body = AnswerBody::new(route, response.content_length())?;
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        body.push(&chunk)?;
    }
    Ok(body.into_bytes())
}

impl Transport for HttpPeer {
    /// Sends `route` and reads its answer, at most the route's limit
    /// (checked as each chunk arrives): the status and the body.
    async fn call(&self, route: Route<'_>) -> Result<(u16, Vec<u8>), PeerError> {
        let timeouts = self.client.timeouts();
        let method = match route.method() {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut request = self
            .client
            .http
            .request(method, format!("{}{}", self.base, route.path()))
            .timeout(if route.is_page() {
                timeouts.page
            } else {
                timeouts.call
            });
        if let Some(body) = route.body() {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = read_answer(&route, response).await?;
        Ok((status, body))
    }
}
