//! [`Node`]: the driver of jbc-core's [`NodeState`]. It feeds the state
//! machine events (a block from the miner or `POST /mined`, a peer's answer,
//! a relay's outcome, the sync timer) and carries out the actions it hands
//! back: writes to redb, events and logs, relays and requests over reqwest.
//! Every decision — what to store, when to relay, whom to sync with, whom to
//! back off from — is the state machine's.
//!
//! # Invariants
//! - One lock, `Node::core`, serialises the state machine and the writes
//!   to the store: events are handled and their storage actions carried out
//!   under it, so the order of the database is the order of acceptance.
//! - Readers do not wait for writes. `GET /tip` and `GET /status` read
//!   `Published`, which is replaced once an event's writes are done (so no
//!   reader sees a block of the miner or of `POST /mined` that is not on disk
//!   yet); bodies are read from a store [`Snapshot`](crate::store::Snapshot), which takes no lock.
//! - Memory grows with headers, not with bytes: the chain is headers-only
//!   ([`Chain::headers_only`]); bodies live in the store.
//! - A block is durable before the node answers `accepted`, `reorg`, `side`
//!   or `duplicate` and before it is relayed (the state machine orders its
//!   `Store`/`Flush` actions before relays). `orphan` and `ignored` blocks are
//!   never written (PROTOCOL.md §6.1).
//! - Nothing slow is done under the lock but the writes themselves (and the
//!   `block`/`reorg` events and log lines of a tip change, published there
//!   so they keep their order): relays and requests start after it is
//!   released, and every request is bounded in time, so no peer can block
//!   the API.
//! - A storage failure is fatal: the node stops (non-zero exit) rather than
//!   acknowledge blocks it could not keep.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jbc_core::node_state::{AddPeerError, NodeConfig, NodeState, PeerId, PeerSource};
use jbc_core::peer::TipInfo;
use jbc_core::wire::{BadUrl, normalize_url};
use jbc_core::{Accepted, Block, BlockError, Chain, Params};
use tokio::sync::{Notify, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Source, StatusEvent};
use crate::metrics::{Metrics, Task};
use crate::miner::Miner;
use crate::peers::PeerView;
use crate::status::StatusInfo;
use crate::store::{Store, StoreError};

mod calls;
pub mod follow;
mod handle;
#[cfg(test)]
mod tests;

/// Timeout of one relay (`POST /mined` to a peer).
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(3);
/// Capacity of the event channel: a subscriber more than this many events
/// behind skips ahead (it is told so by `Lagged` and carries on).
const EVENTS_CAPACITY: usize = 1024;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a block was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// It breaks a rule of PROTOCOL.md §5.
    #[error("invalid block: {0}")]
    Invalid(BlockError),
    /// It is valid but could not be stored; the node is stopping.
    #[error(transparent)]
    Storage(StoreError),
    /// The blocking task that offers it to the node failed (it panicked, or
    /// the runtime is shutting down): neither the block's fault nor the
    /// store's.
    #[error("the task accepting the block failed: {0}")]
    Task(tokio::task::JoinError),
}

/// Why a peer cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum AddPeer {
    /// Not an `http://` or `https://` URL.
    #[error("{}", .0.0)]
    BadUrl(BadUrl),
    /// The list of API peers is full.
    #[error(transparent)]
    Full(AddPeerError),
    /// The node is stopping after a storage failure: nothing is added.
    #[error(transparent)]
    Stopping(StoreError),
}

/// What [`Node::core`] guards: the state machine.
struct Core {
    state: NodeState,
    /// Set once a write failed: the node is stopping.
    failed: bool,
}

/// What the cheap reads (`GET /tip`, `GET /status`) see: the state after
/// the last event whose writes are done.
#[derive(Debug, Clone)]
struct Published {
    tip: TipInfo,
    pooled: usize,
    peers: usize,
    peers_up: usize,
}

impl Published {
    fn of(state: &NodeState) -> Published {
        let (peers, peers_up) = state.peers().counts();
        Published {
            tip: TipInfo::of(state.chain()),
            pooled: state.chain().pooled_count(),
            peers,
            peers_up,
        }
    }
}

/// Read access to the chain; holds the node's lock, so keep it briefly.
pub struct ChainGuard<'a>(RwLockReadGuard<'a, Core>);

impl Deref for ChainGuard<'_> {
    type Target = Chain;

    fn deref(&self) -> &Chain {
        self.0.state.chain()
    }
}

/// Who runs an event through [`Node::handle_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The timer task: its answer is the timeout it will sleep until.
    Timer,
    /// Anything else (a request, a reply, the miner).
    Event,
}

/// A running node's shared state, used by the API, the miner and the
/// background tasks.
pub struct Node {
    core: RwLock<Core>,
    /// The block database; written under `core`, read without it.
    store: Store,
    /// What `GET /tip` and `GET /status` answer.
    published: RwLock<Arc<Published>>,
    params: Params,
    block_data: String,
    events: broadcast::Sender<Event>,
    miner: Option<Miner>,
    /// The client of every call to a peer, streams included.
    client: jbc_client::Client,
    /// Relay permits per peer (RAII: a finished relay gives its permit back).
    relay_permits: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
    /// The task reading each followed peer's stream, to abort on `Unfollow`.
    streams: Mutex<HashMap<PeerId, tokio::task::AbortHandle>>,
    /// Wakes the timer task when an event moved the state machine's timeout
    /// earlier than the one it sleeps until ([`Node::timer_armed_ms`]).
    timer: Notify,
    /// The timeout the timer task sleeps until (ms since the epoch); set and
    /// compared under the core's write lock, so no earlier timeout is missed
    /// and the task's own call never wakes it again.
    timer_armed_ms: AtomicU64,
    shutdown: CancellationToken,
    started: Instant,
    metrics: Metrics,
    /// Whole-chain reads admitted at once.
    reads: crate::reads::Reads,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node on `chain` (loaded from `store`), mining with `miner` if given.
    pub(crate) fn new(
        chain: Chain,
        store: Store,
        block_data: String,
        miner: Option<Miner>,
        node_config: NodeConfig,
    ) -> Node {
        let state = NodeState::new(chain, node_config);
        Node {
            params: state.chain().params().clone(),
            published: RwLock::new(Arc::new(Published::of(&state))),
            core: RwLock::new(Core {
                state,
                failed: false,
            }),
            store,
            block_data,
            events: broadcast::channel(EVENTS_CAPACITY).0,
            miner,
            client: crate::peers::client(),
            relay_permits: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            timer: Notify::new(),
            timer_armed_ms: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
            started: Instant::now(),
            metrics: Metrics::new(),
            reads: crate::reads::Reads::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Core> {
        self.core.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Core> {
        self.core.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Read access to the chain (hold it briefly).
    pub fn chain(&self) -> ChainGuard<'_> {
        ChainGuard(self.read())
    }

    /// A consistent view of the stored blocks as of now (takes no lock).
    pub fn snapshot(&self) -> Result<crate::store::Snapshot, StoreError> {
        self.store.snapshot()
    }

    fn published(&self) -> Arc<Published> {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The network's params.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The miner, when mining.
    pub fn miner(&self) -> Option<&Miner> {
        self.miner.as_ref()
    }

    /// The permits of whole-chain reads.
    pub fn reads(&self) -> &crate::reads::Reads {
        &self.reads
    }

    /// The node's figures (`GET /metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `GET /metrics` text: the node's figures with its state now.
    pub fn scrape_metrics(&self) -> String {
        let status = self.status();
        let core = self.read();
        let peers = core.state.peers().iter().map(|(_, info)| info);
        self.metrics.scrape(&status, peers, now_ms())
    }

    /// A receiver of the node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Cancelled when the node shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Whether the node stopped because of a storage failure.
    pub fn has_failed(&self) -> bool {
        self.read().failed
    }

    /// The `GET /tip` answer.
    pub fn tip_info(&self) -> TipInfo {
        self.published().tip.clone()
    }

    /// The peers as `GET /peers` shows them: all but those down for more
    /// than an hour (PROTOCOL.md §7.1).
    pub fn peer_views(&self) -> Vec<PeerView> {
        let now = now_ms();
        let core = self.read();
        core.state
            .shared_peers(now)
            .map(|(id, info)| PeerView::of(info, core.state.stream(id), now))
            .collect()
    }

    /// The `GET /status` answer.
    pub fn status(&self) -> StatusInfo {
        let published = self.published();
        StatusInfo {
            version: env!("CARGO_PKG_VERSION"),
            params: self.params.clone(),
            height: published.tip.height,
            hash: published.tip.hash,
            work: published.tip.work,
            blocks_stored: self.store.len(),
            pooled: published.pooled,
            peers: published.peers,
            peers_up: published.peers_up,
            mining: self.miner.is_some(),
            threads: self.miner.as_ref().map_or(0, Miner::thread_count),
            kernel: jbc_core::kernel_name(),
            hashes_per_sec: self.miner.as_ref().map_or(0.0, Miner::hashes_per_sec),
            hashes_total: self.miner.as_ref().map_or(0, Miner::hashes),
            miner: self.block_data.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    /// The `status` event (sent periodically, and first to each new
    /// `/events` subscriber).
    pub fn status_event(&self) -> Event {
        let status = self.status();
        Event::Status(StatusEvent {
            height: status.height,
            hash: status.hash,
            hashes_per_sec: status.hashes_per_sec,
            peers: status.peers,
            peers_up: status.peers_up,
            mining: status.mining,
        })
    }

    /// Publishes an event to `/events` subscribers.
    pub(crate) fn publish(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Adds a peer (`--peer` or `POST /peers`); `Ok(false)` if known.
    pub fn add_peer(self: &Arc<Self>, url: &str, source: PeerSource) -> Result<bool, AddPeer> {
        let url = normalize_url(url).map_err(AddPeer::BadUrl)?;
        if url.starts_with("https://") && !cfg!(feature = "tls") {
            tracing::warn!(peer = %url, "this build has no TLS (build with --features tls): the https peer will stay down");
        }
        let added = self
            .handle(|state| state.add_peer(url.clone(), source, now_ms()))
            .map_err(AddPeer::Stopping)?
            .map_err(AddPeer::Full)?;
        if added {
            tracing::info!(peer = %url, ?source, "peer added");
        }
        Ok(added)
    }

    /// Offers a block from the miner or `POST /mined` (blocking: it may
    /// fsync): the answer, once what the chain stored is durable.
    pub fn accept_block(
        self: &Arc<Self>,
        block: Block,
        source: Source,
    ) -> Result<Accepted, AcceptError> {
        let answer = self
            .handle(|state| state.handle_block(block, source, now_ms()))
            .map_err(AcceptError::Storage)?;
        let outcome = match &answer {
            Ok(accepted) => accepted.status.as_str(),
            Err(e) => e.code(),
        };
        self.metrics.block_offered(source, outcome);
        answer.map_err(AcceptError::Invalid)
    }

    /// [`Node::accept_block`] on a blocking thread.
    pub async fn submit(
        self: &Arc<Self>,
        block: Block,
        source: Source,
    ) -> Result<Accepted, AcceptError> {
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.accept_block(block, source))
            .await
            .map_err(AcceptError::Task)?
    }

    /// Sets the address this node announces to its peers.
    pub(crate) fn set_own_url(self: &Arc<Self>, url: String, public: bool) {
        let _ = self.handle(|state| state.set_own_url(url, public));
    }

    /// Starts the syncs that are due, and says when to come back.
    pub(crate) fn on_timer(self: &Arc<Self>) -> Option<u64> {
        self.metrics.task_wakeup(Task::Timer);
        self.handle_as(Caller::Timer, |state| {
            state.handle_timeout(now_ms());
            state.poll_timeout()
        })
        .ok()
    }

    /// Waits until an event moves the state machine's timeout earlier than
    /// the one the last [`Node::on_timer`] returned.
    pub(crate) async fn timer_changed(&self) {
        self.timer.notified().await;
    }

    /// Gives the miner a fresh template on the current tip (new timestamp).
    pub fn refresh_work(&self) {
        if let Some(miner) = &self.miner {
            let candidate = self
                .chain()
                .next_template(self.block_data.clone(), now_ms());
            miner.set_work(candidate);
        }
    }

    /// Makes every write durable (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }
}
