//! Peers as the node shows them: [`PeerView`], a peer of jbc-core's peer
//! book as `GET /peers` lists it, and how many relays to one peer may be
//! in flight. The calls to peers are jbc-client's [`HttpPeer`]s (bounded in
//! time by the node's [`Timeouts`] and in bytes by jbc-core's wire rules).
//!
//! [`HttpPeer`]: jbc_client::HttpPeer
//! [`Timeouts`]: jbc_client::Timeouts

use jbc_core::node_state::{PeerHealth, PeerInfo, PeerSource, SeenTip, StreamState};
use serde::Serialize;

/// The node's client of its peers: one connection pool, the default
/// [`Timeouts`](jbc_client::Timeouts) (2 s to connect, 5 s a call, 20 s a
/// page), `jbc-node/VERSION` as user agent.
pub fn client() -> jbc_client::Client {
    jbc_client::Client::new(
        concat!("jbc-node/", env!("CARGO_PKG_VERSION")),
        jbc_client::Timeouts::default(),
    )
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
