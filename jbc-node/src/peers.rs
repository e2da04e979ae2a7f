//! Peers: [`HttpPeer`], the reqwest client of SPEC §7 implementing
//! [`jbc_core::peer::Peer`], and [`PeerList`], the peers a node relays to and
//! syncs from, with their source, up/down state and bans.
//!
//! Every request is bounded in time ([`HttpPeer`]'s timeouts) and in bytes
//! (answers are read in chunks and refused past a per-route limit), so a slow,
//! dead or hostile peer costs at most one timeout.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jbc_core::peer::{ErrorBody, MAX_PAGE, MaybeSend, Peer, PeerError, SubmitReply, TipInfo};
use jbc_core::{Block, BlockHash};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    // The URL parser would repair `http:/host` or `http:host`; SPEC §7 asks
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

/// Whether a peer answered its last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerHealth {
    /// Not asked yet.
    Unknown,
    /// Answered.
    Up,
    /// Failed (unreachable, timeout, bad answer, other network).
    Down,
}

/// Where a peer came from (SPEC §7.1): `config` peers (`--peer`) are never
/// dropped; `api` peers (`POST /peers`) are capped and dropped after
/// [`MAX_FAILURES`] failures in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSource {
    /// Given with `--peer`.
    Config,
    /// Added with `POST /peers`.
    Api,
}

/// How long a peer that misbehaved in a sync is not synced from (SPEC §6.1).
pub const BAN: Duration = Duration::from_secs(600);
/// Failures in a row after which an `api` peer is dropped.
pub const MAX_FAILURES: u32 = 5;
/// Most peers added with `POST /peers` (SPEC §7).
pub const MAX_API_PEERS: usize = 32;
/// Relays in flight per peer; beyond this a dead peer's relays are dropped
/// (it will sync when it comes back).
pub const MAX_RELAYS_IN_FLIGHT: usize = 8;

/// What a node knows of one peer, guarded by the peer's lock.
#[derive(Debug, Clone)]
struct PeerState {
    health: PeerHealth,
    /// Height the peer last reported.
    height: u64,
    /// Failed requests in a row.
    failures: u32,
    /// Not synced from before this time (ms since the epoch), and why.
    banned: Option<(u64, String)>,
}

/// A peer of this node and what we know of it.
#[derive(Debug)]
pub struct PeerEntry {
    /// The client.
    pub client: HttpPeer,
    /// Where it came from.
    pub source: PeerSource,
    state: Mutex<PeerState>,
    /// Permits for relays in flight (RAII: a finished relay gives its
    /// permit back), so a dead peer cannot pile up tasks.
    relays: Arc<Semaphore>,
}

impl PeerEntry {
    fn new(client: HttpPeer, source: PeerSource) -> PeerEntry {
        PeerEntry {
            client,
            source,
            state: Mutex::new(PeerState {
                health: PeerHealth::Unknown,
                height: 0,
                failures: 0,
                banned: None,
            }),
            relays: Arc::new(Semaphore::new(MAX_RELAYS_IN_FLIGHT)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PeerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.client.url()
    }

    /// Current health.
    pub fn health(&self) -> PeerHealth {
        self.state().health
    }

    /// A relay permit, or `None` when [`MAX_RELAYS_IN_FLIGHT`] are in flight.
    pub fn relay_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.relays.clone().try_acquire_owned().ok()
    }

    /// Records the outcome of a request; logs a change of state.
    pub fn mark(&self, up: bool, why: &str) {
        let mut state = self.state();
        let new = if up { PeerHealth::Up } else { PeerHealth::Down };
        state.failures = if up {
            0
        } else {
            state.failures.saturating_add(1)
        };
        if state.health != new {
            if up {
                tracing::info!(peer = %self.url(), "peer up");
            } else {
                tracing::warn!(peer = %self.url(), reason = %why, "peer down");
            }
        }
        state.health = new;
    }

    /// Stops syncing from this peer until `now_ms` + [`BAN`]; logged once
    /// per ban (a peer already banned stays banned until its first ban ends).
    pub fn ban(&self, now_ms: u64, why: &str) {
        let mut state = self.state();
        if state
            .banned
            .as_ref()
            .is_some_and(|(until, _)| *until > now_ms)
        {
            return;
        }
        let until = now_ms.saturating_add(BAN.as_millis() as u64);
        tracing::warn!(peer = %self.url(), reason = %why, minutes = BAN.as_secs() / 60, "peer misbehaved: not syncing from it");
        state.banned = Some((until, why.to_string()));
    }

    /// Whether the peer is banned at `now_ms`.
    pub fn is_banned(&self, now_ms: u64) -> bool {
        self.state()
            .banned
            .as_ref()
            .is_some_and(|(until, _)| *until > now_ms)
    }

    /// Records the height the peer reported.
    pub fn set_height(&self, height: u64) {
        self.state().height = height;
    }

    /// The height the peer last reported.
    pub fn height(&self) -> u64 {
        self.state().height
    }

    fn view(&self, now_ms: u64) -> PeerView {
        let state = self.state();
        let banned = state.banned.as_ref().filter(|(until, _)| *until > now_ms);
        PeerView {
            url: self.url().to_string(),
            up: state.health == PeerHealth::Up,
            status: state.health,
            source: self.source,
            height: state.height,
            banned_until: banned.map(|(until, _)| *until),
            ban_reason: banned.map(|(_, why)| why.clone()),
        }
    }
}

/// A peer as listed by `GET /peers`.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    /// Base URL.
    pub url: String,
    /// Whether it answered its last request.
    pub up: bool,
    /// `unknown` before the first request, then `up` or `down`.
    pub status: PeerHealth,
    /// `config` or `api`.
    pub source: PeerSource,
    /// Height it last reported (0 before the first answer).
    pub height: u64,
    /// Until when (ms since the epoch) it is not synced from, if banned.
    pub banned_until: Option<u64>,
    /// Why it is banned.
    pub ban_reason: Option<String>,
}

/// Why a peer cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddPeerError {
    /// Not an `http://` or `https://` URL.
    BadUrl(BadUrl),
    /// [`MAX_API_PEERS`] `api` peers are known already.
    Full,
}

impl std::fmt::Display for AddPeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddPeerError::BadUrl(e) => f.write_str(&e.0),
            AddPeerError::Full => write!(
                f,
                "this node already has {MAX_API_PEERS} peers added through the API"
            ),
        }
    }
}

impl std::error::Error for AddPeerError {}

/// The peers of a node.
#[derive(Debug)]
pub struct PeerList {
    client: reqwest::Client,
    peers: RwLock<Vec<Arc<PeerEntry>>>,
}

impl PeerList {
    /// An empty list sharing one HTTP client.
    pub fn new() -> PeerList {
        PeerList {
            client: http_client(),
            peers: RwLock::new(Vec::new()),
        }
    }

    /// Adds a peer; `Ok(false)` if it was already known.
    pub fn add(&self, url: &str, source: PeerSource) -> Result<bool, AddPeerError> {
        let url = normalize_url(url).map_err(AddPeerError::BadUrl)?;
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        if peers.iter().any(|p| p.url() == url) {
            return Ok(false);
        }
        if source == PeerSource::Api
            && peers.iter().filter(|p| p.source == PeerSource::Api).count() >= MAX_API_PEERS
        {
            return Err(AddPeerError::Full);
        }
        if url.starts_with("https://") && !cfg!(feature = "tls") {
            tracing::warn!(peer = %url, "this build has no TLS (build with --features tls): the https peer will stay down");
        }
        tracing::info!(peer = %url, ?source, "peer added");
        peers.push(Arc::new(PeerEntry::new(
            HttpPeer::new(url, self.client.clone()),
            source,
        )));
        Ok(true)
    }

    /// Drops the `api` peers that failed [`MAX_FAILURES`] times in a row.
    pub fn drop_failing(&self) {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        peers.retain(|p| {
            let keep = p.source == PeerSource::Config || p.state().failures < MAX_FAILURES;
            if !keep {
                tracing::warn!(peer = %p.url(), failures = MAX_FAILURES, "peer dropped after failing repeatedly");
            }
            keep
        });
    }

    /// A snapshot of the peers.
    pub fn all(&self) -> Vec<Arc<PeerEntry>> {
        self.peers.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The list as `GET /peers` shows it at `now_ms`.
    pub fn views(&self, now_ms: u64) -> Vec<PeerView> {
        self.all().iter().map(|p| p.view(now_ms)).collect()
    }

    /// Number of peers, and of peers that are up.
    pub fn counts(&self) -> (usize, usize) {
        let all = self.all();
        let up = all.iter().filter(|p| p.health() == PeerHealth::Up).count();
        (all.len(), up)
    }
}

impl Default for PeerList {
    fn default() -> Self {
        PeerList::new()
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
