//! # jbc-client: the native client of a JBC node's API
//!
//! One client for every native program that talks to a node (PROTOCOL.md
//! §7): jbc-node calls its peers with it, jbc-miner the nodes it mines for.
//! The rules are jbc-core's [`wire`](jbc_core::wire) (routes, the most
//! bytes each answer may have, what a status means, what a node's URL
//! looks like); this crate only moves the bytes, with reqwest and tokio:
//!
//! - [`Client`]: one connection pool and its [`Timeouts`].
//! - [`HttpPeer`]: one node at a base URL. It implements jbc-core's
//!   [`Transport`] (send a route, read its answer), which makes it a
//!   [`Peer`] (`GET /tip`, `GET /blocks`, `POST /mined`, decoded by
//!   jbc-core), plus `GET /peers` and `POST /peers`. Every answer is read
//!   chunk by chunk and refused as soon as it passes its route's limit, so a
//!   hostile node costs at most that many bytes.
//! - [`EventStream`]: a node's `GET /events` as it arrives, each event
//!   bounded, dropped when it falls silent ([`HttpPeer::events`]).
//!
//! ```no_run
//! use jbc_client::{Client, Timeouts};
//! use jbc_core::Peer;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("my-tool/1", Timeouts::default());
//! let node = client.peer("http://127.0.0.1:5000")?;
//! let tip = node.tip().await?;
//! println!("{} is at height {}", node.url(), tip.height);
//! # Ok(()) }
//! ```
//!
//! [`Peer`]: jbc_core::Peer
//! [`Transport`]: jbc_core::wire::Transport
#![warn(missing_docs)]

mod events;
mod peer;

use std::time::Duration;

use jbc_core::wire::{BadUrl, STREAM_SILENCE_MS};

pub use events::EventStream;
pub use peer::HttpPeer;

/// How long each part of a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect.
    pub connect: Duration,
    /// A whole call but a page of blocks, its answer read.
    pub call: Duration,
    /// A whole `GET /blocks` page, its answer read.
    pub page: Duration,
    /// From asking for `GET /events` to its answer's status.
    pub stream_answer: Duration,
    /// The longest a followed stream may send nothing, not even a
    /// keep-alive, before it is dropped.
    pub stream_silence: Duration,
}

impl Default for Timeouts {
    /// A node's: 2 s to connect, 5 s a call, 20 s a page, 5 s for a
    /// stream's answer, and the protocol's 15 s of silence.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(2),
            call: Duration::from_secs(5),
            page: Duration::from_secs(20),
            stream_answer: Duration::from_secs(5),
            stream_silence: Duration::from_millis(STREAM_SILENCE_MS),
        }
    }
}

/// The client of a program: one connection pool (cheap to clone) and the
/// timeouts of its calls.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl Client {
    /// A client sending `user_agent`, bounded by `timeouts`.
    pub fn new(user_agent: &str, timeouts: Timeouts) -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(user_agent)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Client { http, timeouts }
    }

    /// Its timeouts.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The node at `url`, checked and normalised by
    /// [`normalize_url`](jbc_core::wire::normalize_url).
    pub fn peer(&self, url: &str) -> Result<HttpPeer, BadUrl> {
        HttpPeer::new(url, self)
    }
}
