//! Peers: [`HttpPeer`], the reqwest client of PROTOCOL.md §7 implementing
//! [`jbc_core::peer::Peer`], and [`PeerView`], a peer of jbc-core's peer book
//! as `GET /peers` lists it.
//!
//! Every request is bounded in time ([`HttpPeer`]'s timeouts) and in bytes
//! (answers are read in chunks and refused past a per-route limit), so a slow,
//! dead or hostile peer costs at most one timeout.

use std::time::Duration;

use jbc_core::node_state::{PeerHealth, PeerInfo, PeerSource, SeenTip, StreamState};
use jbc_core::peer::{ErrorBody, MAX_PAGE, MaybeSend, Peer, PeerError, SubmitReply, TipInfo};
use jbc_core::{Block, BlockHash};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Connect timeout of every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Timeout of small requests (tip, one block, submit).
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a page of blocks.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest answer to `GET /tip`, `GET /blocks/{hash}` or `POST /mined`.
pub const SMALL_ANSWER_BYTES: usize = 64 * 1024;
/// Largest block JSON accepted in a page (4096 data bytes, each escaped as
/// `\u00XX`, plus the other fields, rounded up).
pub const MAX_BLOCK_JSON_BYTES: usize = 26 * 1024;

/// Why a URL cannot be a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl(pub String);

/// Checks and normalises a peer URL: `http://` or `https://`, a host, no
/// query or fragment; the trailing `/` is removed.
pub fn normalize_url(url: &str) -> Result<String, BadUrl> {
    let trimmed = url.trim();
    // The URL parser would repair `http:/host` or `http:host`; PROTOCOL.md §7 asks
    // for an `http://` or `https://` URL, so the text itself must say so.
    let lower = trimmed.get(..8).unwrap_or(trimmed).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(BadUrl(format!(
            "{url:?} must start with http:// or https://"
        )));
    }
    let parsed =
        reqwest::Url::parse(trimmed).map_err(|e| BadUrl(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(BadUrl(format!(
            "{url:?} must start with http:// or https://"
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(BadUrl(format!("{url:?} has no host")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(BadUrl(format!("{url:?} must not have a query or fragment")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(BadUrl(format!("{url:?} must not contain credentials")));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// A JBC node reached over HTTP.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    base: String,
    client: reqwest::Client,
}

/// One reqwest client for the whole node (connection pools are per client).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(PAGE_TIMEOUT)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("jbc-node/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

fn unreachable(e: impl std::fmt::Display) -> PeerError {
    PeerError::Unreachable(e.to_string())
}

impl HttpPeer {
    /// A peer at `base` (already normalised by [`normalize_url`]).
    pub fn new(base: String, client: reqwest::Client) -> HttpPeer {
        HttpPeer { base, client }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Reads at most `max_bytes` of the answer.
    async fn read_body(
        mut response: reqwest::Response,
        max_bytes: usize,
    ) -> Result<Vec<u8>, PeerError> {
        if response
            .content_length()
            .is_some_and(|len| len > max_bytes as u64)
        {
            return Err(PeerError::BadAnswer(format!(
                "answer larger than {max_bytes} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(PeerError::BadAnswer(format!(
                    "answer larger than {max_bytes} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Sends `request`, reads a bounded answer: `Ok(None)` on 404, the
    /// decoded body on 200, an API error otherwise.
    async fn call<T: DeserializeOwned>(
        request: reqwest::RequestBuilder,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Option<T>, PeerError> {
        let response = request.timeout(timeout).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = Self::read_body(response, max_bytes).await?;
        match status {
            200 => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| PeerError::BadAnswer(e.to_string())),
            404 => Ok(None),
            _ => match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(body) => Err(PeerError::Api { status, body }),
                Err(_) => Err(PeerError::BadAnswer(format!(
                    "HTTP {status} without a JSON error body"
                ))),
            },
        }
    }

    fn found<T>(answer: Option<T>) -> Result<T, PeerError> {
        answer.ok_or_else(|| PeerError::Api {
            status: 404,
            body: ErrorBody {
                error: "not_found".into(),
                message: "the peer has no such route (is it a JBC node?)".into(),
            },
        })
    }
}

impl Peer for HttpPeer {
    fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
        let request = self.client.get(format!("{}/tip", self.base));
        async move { Self::found(Self::call(request, SHORT_TIMEOUT, SMALL_ANSWER_BYTES).await?) }
    }

    fn blocks(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
        let limit = limit.min(MAX_PAGE);
        let request = self
            .client
            .get(format!("{}/blocks?from={from}&limit={limit}", self.base));
        // A page of `limit` blocks, plus room for one extra so that a peer
        // sending too many is reported as such rather than as "too large".
        let max_bytes = (limit as usize + 1) * MAX_BLOCK_JSON_BYTES + 1024;
        async move { Self::found(Self::call(request, PAGE_TIMEOUT, max_bytes).await?) }
    }

    fn block(
        &self,
        hash: BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
        let request = self.client.get(format!("{}/blocks/{hash}", self.base));
        async move { Self::call(request, SHORT_TIMEOUT, SMALL_ANSWER_BYTES).await }
    }

    fn submit(
        &self,
        block: &Block,
    ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
        let request = self
            .client
            .post(format!("{}/mined", self.base))
            .header("content-type", "application/json")
            .body(block.to_json());
        async move { Self::found(Self::call(request, SHORT_TIMEOUT, SMALL_ANSWER_BYTES).await?) }
    }
}

/// Largest answer to `GET /peers` (a few dozen peers, each a URL and a few
/// fields).
pub const PEER_LIST_BYTES: usize = 64 * 1024;

/// The body of `GET /peers` as another node sends it (only the URLs are read).
#[derive(Debug, serde::Deserialize)]
struct PeerList {
    peers: Vec<ListedPeer>,
}

#[derive(Debug, serde::Deserialize)]
struct ListedPeer {
    url: String,
}

impl HttpPeer {
    /// `GET /peers`: the URLs the peer shares, normalised; entries that are
    /// not `http(s)://` URLs are dropped.
    pub async fn peer_urls(&self) -> Result<Vec<String>, PeerError> {
        let request = self.client.get(format!("{}/peers", self.base));
        let list: PeerList =
            Self::found(Self::call(request, SHORT_TIMEOUT, PEER_LIST_BYTES).await?)?;
        Ok(list
            .peers
            .into_iter()
            .filter_map(|p| normalize_url(&p.url).ok())
            .collect())
    }

    /// `POST /peers {"url": own}`: tells the peer our address.
    pub async fn announce(&self, own: &str) -> Result<(), PeerError> {
        let body = serde_json::json!({ "url": own }).to_string();
        let request = self
            .client
            .post(format!("{}/peers", self.base))
            .header("content-type", "application/json")
            .body(body);
        Self::call::<serde_json::Value>(request, SHORT_TIMEOUT, PEER_LIST_BYTES)
            .await
            .map(|_| ())
    }
}

/// Relays in flight per peer; beyond this a dead peer's relays are dropped
/// (it will sync when it comes back).
pub const MAX_RELAYS_IN_FLIGHT: usize = 8;

/// A peer as listed by `GET /peers`.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    /// Base URL.
    pub url: String,
    /// Whether it answered its last request.
    pub up: bool,
    /// `unknown` before the first request, then `up` or `down`.
    pub status: PeerHealth,
    /// `config`, `api` or `learned`.
    pub source: PeerSource,
    /// Height it last reported (0 before the first answer).
    pub height: u64,
    /// The last tip this node saw from it, `{"height", "hash",
    /// "seen_at_ms"}`: its answer to `GET /tip`, or the last block its
    /// `/events` stream sent; `null` before either.
    pub tip: Option<SeenTip>,
    /// Until when (ms since the epoch) it is not synced from, if banned.
    pub banned_until: Option<u64>,
    /// Why it is banned.
    pub ban_reason: Option<String>,
    /// Its `/events` stream: `open` (followed), `opening`, `waiting` (not
    /// open: opened after a back-off, or when one of the node's streams is
    /// free), `unsupported` (the peer has no `/events`: polled instead).
    pub stream: Option<String>,
}

impl PeerView {
    /// What the peer book says of one peer at `now_ms`, with its stream.
    pub fn of(info: &PeerInfo, stream: Option<StreamState>, now_ms: u64) -> PeerView {
        let ban = info.ban_at(now_ms);
        PeerView {
            url: info.url.clone(),
            up: info.health == PeerHealth::Up,
            status: info.health,
            source: info.source,
            height: info.height,
            tip: info.last_tip,
            banned_until: ban.map(|ban| ban.until_ms),
            ban_reason: ban.map(|ban| ban.reason.clone()),
            stream: stream.map(|s| s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalised() {
        assert_eq!(
            normalize_url("http://127.0.0.1:5001/").as_deref(),
            Ok("http://127.0.0.1:5001")
        );
        assert_eq!(
            normalize_url("https://node.example/jbc").as_deref(),
            Ok("https://node.example/jbc")
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:5000",
            "",
            "http://",
            "http://a/?q=1",
            "http://u:p@a/",
            "http:/127.0.0.1:1",
            "http:127.0.0.1:2",
            "é",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad} accepted");
        }
    }
}
