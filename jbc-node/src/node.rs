//! [`Node`]: the shared state of a running node and the one path every block
//! takes — accept, persist, announce, relay — whoever brought it (this
//! node's miner, `POST /mined`, or sync).
//!
//! # Invariants
//! - A block is durable before the node answers 200 `accepted`, `reorg`,
//!   `side` or `duplicate` for it and before it relays it: [`Node::submit`]
//!   persists with an fsync, sync persists its pages and flushes before
//!   relaying. `orphan` and `ignored` blocks are never written (SPEC §6.1):
//!   the chain keeps them in its bounded memory pool.
//! - Writers (accept + persist, and template refreshes) are serialised by one
//!   mutex, so the order of the database is the order of acceptance, and the
//!   miner's template always follows the latest tip.
//! - The chain lock is never held across an `.await` or network I/O, so the
//!   API is never blocked by a peer. It is held while newly accepted blocks
//!   are written, so readers never see a block of the miner or of
//!   `POST /mined` that is not on disk yet. (Blocks fetched by sync are
//!   written without fsync and flushed once the sync ends, before relay.)
//! - A storage failure is fatal: the node stops (non-zero exit) rather than
//!   acknowledge blocks it could not keep.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jbc_core::peer::{Peer, PeerError, TipInfo};
use jbc_core::sync::{PageStored, Refusal, SyncConfig, SyncOutcome, SyncTarget, sync};
use jbc_core::{Accepted, Block, BlockError, BlockHash, Chain, Params, Status};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{Event, Source, StatusEvent};
use crate::miner::{Found, Miner};
use crate::peers::{PeerEntry, PeerList, PeerSource};
use crate::store::{Durability, Store, StoreError};

/// How often the node syncs with every peer (also on start and on orphans).
pub const SYNC_EVERY: Duration = Duration::from_secs(3);
/// How often the miner's template is rebuilt with a fresh timestamp.
pub const REFRESH_WORK_EVERY: Duration = Duration::from_secs(2);
/// How often the hash rate is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the hash rate is logged and a `status` event sent.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);
/// Timeout of one relay (`POST /mined` to a peer).
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(3);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a block was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// It breaks a rule of SPEC §5.
    #[error("invalid block: {0}")]
    Invalid(BlockError),
    /// It is valid but could not be stored; the node is stopping.
    #[error(transparent)]
    Storage(StoreError),
}

/// The state of a running node, shared by the API, the miner, relay and sync.
pub struct Node {
    params: Params,
    block_data: String,
    chain: RwLock<Chain>,
    writer: Mutex<()>,
    store: Store,
    events: broadcast::Sender<Event>,
    miner: Option<Miner>,
    /// Mining threads (0 when not mining).
    threads: usize,
    peers: PeerList,
    sync_wakeup: Notify,
    /// The last block relayed to peers, so a tip is relayed once.
    last_relayed: Mutex<Option<BlockHash>>,
    shutdown: CancellationToken,
    failed: AtomicBool,
    hashes_per_sec: AtomicU64,
    started: Instant,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("params", &self.params)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The body of `GET /status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusInfo {
    /// Version of jbc-node.
    pub version: &'static str,
    /// The network's params.
    pub params: Params,
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub hash: BlockHash,
    /// Work of the best chain (decimal string).
    #[serde(with = "jbc_core::peer::work_string")]
    pub work: u128,
    /// Blocks stored, side branches included, genesis not counted.
    pub blocks_stored: u64,
    /// Blocks waiting in the memory pool (orphans and ignored blocks; never
    /// on disk).
    pub pooled: usize,
    /// Number of peers.
    pub peers: usize,
    /// Peers that answered their last request.
    pub peers_up: usize,
    /// Whether this node mines.
    pub mining: bool,
    /// Mining threads (0 when not mining).
    pub threads: usize,
    /// The SHA-256 kernel mining uses on this CPU (e.g. `sha-ni`, `avx2`, `portable`).
    pub kernel: &'static str,
    /// Measured hash rate (hashes per second, last second).
    pub hashes_per_sec: f64,
    /// Total hashes computed since start.
    pub hashes_total: u64,
    /// Data written in this node's blocks.
    pub miner: String,
    /// Seconds since start.
    pub uptime_secs: u64,
}

impl Node {
    /// Opens the store of `config` and builds the node (no task started).
    /// `found` receives the miner's blocks (when `config.mine`).
    fn open(config: &Config, found: mpsc::UnboundedSender<Found>) -> anyhow::Result<Node> {
        let params = config.params();
        params
            .check()
            .map_err(|e| anyhow::anyhow!("invalid network params: {e}"))?;
        let data_dir = config.data_dir();
        let (store, chain, stats) = Store::open(&data_dir, &params)?;
        tracing::info!(
            db = %store.path().display(),
            blocks = stats.blocks,
            height = chain.height(),
            tip = %chain.tip().hash.short(),
            ms = stats.elapsed.as_millis() as u64,
            "database loaded"
        );
        let threads = if config.mine {
            config.thread_count()
        } else {
            0
        };
        let miner = config.mine.then(|| Miner::start(threads, found));
        let peers = PeerList::new();
        for url in &config.peers {
            peers
                .add(url, PeerSource::Config)
                .map_err(|e| anyhow::anyhow!("--peer {url}: {e}"))?;
        }
        Ok(Node {
            params,
            block_data: config.block_data(),
            chain: RwLock::new(chain),
            writer: Mutex::new(()),
            store,
            events: broadcast::channel(1024).0,
            miner,
            threads,
            peers,
            sync_wakeup: Notify::new(),
            last_relayed: Mutex::new(None),
            shutdown: CancellationToken::new(),
            failed: AtomicBool::new(false),
            hashes_per_sec: AtomicU64::new(0f64.to_bits()),
            started: Instant::now(),
        })
    }

    /// Read access to the chain (hold it briefly).
    pub fn chain(&self) -> RwLockReadGuard<'_, Chain> {
        self.chain.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The network's params.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The peers.
    pub fn peers(&self) -> &PeerList {
        &self.peers
    }

    /// The miner, when mining.
    pub fn miner(&self) -> Option<&Miner> {
        self.miner.as_ref()
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
        self.failed.load(Ordering::Acquire)
    }

    /// Asks the sync task to run now.
    pub fn wake_sync(&self) {
        self.sync_wakeup.notify_one();
    }

    /// The `GET /tip` answer.
    pub fn tip_info(&self) -> TipInfo {
        TipInfo::of(&self.chain())
    }

    /// The `GET /status` answer.
    pub fn status(&self) -> StatusInfo {
        let (height, hash, work, pooled) = {
            let chain = self.chain();
            (
                chain.height(),
                chain.tip().hash,
                chain.best_work(),
                chain.pooled_count(),
            )
        };
        let (peers, peers_up) = self.peers.counts();
        StatusInfo {
            version: env!("CARGO_PKG_VERSION"),
            params: self.params.clone(),
            height,
            hash,
            work,
            blocks_stored: self.store.len(),
            pooled,
            peers,
            peers_up,
            mining: self.miner.is_some(),
            threads: self.threads,
            kernel: jbc_core::kernel_name(),
            hashes_per_sec: self.hash_rate(),
            hashes_total: self.miner.as_ref().map_or(0, Miner::hashes),
            miner: self.block_data.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    /// The measured hash rate, hashes per second.
    pub fn hash_rate(&self) -> f64 {
        f64::from_bits(self.hashes_per_sec.load(Ordering::Relaxed))
    }

    fn status_event(&self) -> Event {
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

    /// The event sent first to each new `/events` subscriber.
    pub fn hello_event(&self) -> Event {
        self.status_event()
    }

    /// Offers an unrequested `block` (blocking: it may fsync). Persists
    /// what the chain stored, as durable as `durability` asks, then
    /// announces a tip change (events, logs, new mining work).
    pub fn accept_block(
        &self,
        block: Block,
        source: Source,
        durability: Durability,
        now_ms: u64,
    ) -> Result<Accepted, AcceptError> {
        let _writer = self.lock_writer();
        self.check_running()?;
        let accepted = {
            // The chain lock is held while the new blocks are written (an
            // fsync, a few ms), so no reader ever sees a block of
            // `POST /mined` or of the miner that is not yet on disk.
            let mut chain = self.chain.write().unwrap_or_else(|p| p.into_inner());
            let accepted = chain.accept(block, now_ms).map_err(AcceptError::Invalid)?;
            // `duplicate` may be a block sync wrote a moment ago without
            // fsync: an Fsync append of nothing flushes it.
            let durability = if accepted.status.is_stored() {
                durability
            } else {
                Durability::Deferred
            };
            self.persist(&chain, &accepted.stored, durability)?;
            accepted
        };
        if accepted.tip_changed() {
            self.announce(std::slice::from_ref(&accepted), source);
        }
        Ok(accepted)
    }

    /// Stores a page of blocks sync requested (blocking), in one
    /// transaction without fsync; the sync flushes before it relays.
    fn accept_page(&self, page: Vec<Block>, now_ms: u64) -> PageStored {
        let _writer = self.lock_writer();
        let mut done = PageStored::default();
        if let Err(e) = self.check_running() {
            done.refused = Some(Refusal::Local(e.to_string()));
            return done;
        }
        let mut changes = Vec::new();
        {
            let mut chain = self.chain.write().unwrap_or_else(|p| p.into_inner());
            let mut stored = Vec::new();
            for block in page {
                match chain.accept_requested(block, now_ms) {
                    Ok(accepted) => {
                        done.add(&accepted);
                        stored.extend_from_slice(&accepted.stored);
                        if accepted.tip_changed() {
                            changes.push(accepted);
                        }
                    }
                    Err(e) => {
                        done.refused = Some(Refusal::Invalid(e));
                        break;
                    }
                }
            }
            if let Err(e) = self.persist(&chain, &stored, Durability::Deferred) {
                done.refused = Some(Refusal::Local(e.to_string()));
                return done;
            }
        }
        self.announce(&changes, Source::Sync);
        done
    }

    /// Refuses writes once a storage failure stopped the node.
    fn check_running(&self) -> Result<(), AcceptError> {
        if self.has_failed() {
            return Err(AcceptError::Storage(StoreError::Io(
                "the node is stopping after a storage failure".into(),
            )));
        }
        Ok(())
    }

    /// Writes the blocks `stored` (hashes the chain just stored, parents
    /// first). A failure stops the node. Called with the writer lock and the
    /// chain's write lock held.
    fn persist(
        &self,
        chain: &Chain,
        stored: &[BlockHash],
        durability: Durability,
    ) -> Result<(), AcceptError> {
        let blocks: Vec<Block> = stored
            .iter()
            .filter_map(|hash| chain.block(hash).cloned())
            .collect();
        self.store.append(&blocks, durability).map_err(|e| {
            self.fail(&e);
            AcceptError::Storage(e)
        })
    }

    /// Logs and publishes changes of the best chain, and gives the miner
    /// work on the new tip. Called with the writer lock held.
    fn announce(&self, changes: &[Accepted], source: Source) {
        if changes.is_empty() {
            return;
        }
        let chain = self.chain();
        for accepted in changes {
            self.announce_one(&chain, accepted, source);
        }
        if let Some(miner) = &self.miner {
            miner.set_work(chain.next_template(self.block_data.clone(), now_ms()));
        }
    }

    fn announce_one(&self, chain: &Chain, accepted: &Accepted, source: Source) {
        if let (Some(old), Some(new)) = (accepted.disconnected.first(), accepted.connected.last()) {
            let old_height = chain.block(old).map_or(0, |b| b.index);
            let new_height = chain.block(new).map_or(0, |b| b.index);
            let depth = accepted.disconnected.len() as u64;
            tracing::warn!(
                depth,
                old = %old.short(),
                new = %new.short(),
                old_height,
                new_height,
                "reorg"
            );
            let _ = self.events.send(Event::Reorg {
                old_tip: *old,
                old_height,
                new_tip: *new,
                new_height,
                depth,
            });
        }
        for hash in &accepted.connected {
            let Some(block) = chain.block(hash) else {
                continue;
            };
            let after = match chain.block(&block.prev_hash) {
                Some(parent) if parent.index > 0 => format!(
                    "{:.1}s after its parent",
                    block.timestamp_ms.saturating_sub(parent.timestamp_ms) as f64 / 1000.0
                ),
                _ => "first block after genesis".into(),
            };
            tracing::info!(
                "block {} {} from {} ({}) {after}, difficulty {}",
                block.index,
                block.hash.short(),
                source.as_str(),
                short_data(&block.data),
                block.difficulty,
            );
            let _ = self.events.send(Event::Block {
                source,
                block: block.clone(),
            });
        }
    }

    /// Gives the miner a fresh template on the current tip (new timestamp).
    pub fn refresh_work(&self) {
        if let Some(miner) = &self.miner {
            let _writer = self.lock_writer();
            let candidate = self
                .chain()
                .next_template(self.block_data.clone(), now_ms());
            miner.set_work(candidate);
        }
    }

    fn fail(&self, error: &StoreError) {
        if !self.failed.swap(true, Ordering::AcqRel) {
            tracing::error!("{error}; stopping the node");
            self.shutdown.cancel();
        }
    }

    /// Offers a block from the miner or `POST /mined`: durable before this
    /// returns; relayed if it changed the best chain; an orphan wakes sync.
    pub async fn submit(
        self: &Arc<Self>,
        block: Block,
        source: Source,
    ) -> Result<Accepted, AcceptError> {
        let node = self.clone();
        let accepted = tokio::task::spawn_blocking(move || {
            node.accept_block(block, source, Durability::Fsync, now_ms())
        })
        .await
        .map_err(|e| AcceptError::Storage(StoreError::Io(format!("accept task failed: {e}"))))??;
        match accepted.status {
            Status::NewTip | Status::Reorg => {
                if let Some(tip) = accepted.connected.last() {
                    self.relay_block(*tip, None);
                }
            }
            Status::Orphan => self.wake_sync(),
            Status::Side | Status::Duplicate | Status::Ignored => {}
        }
        Ok(accepted)
    }

    /// POSTs the block `hash` (a new best tip) to every peer except
    /// `except`, concurrently, each bounded by [`RELAY_TIMEOUT`]; never
    /// waits. A block is relayed once: the same hash again is ignored.
    pub fn relay_block(self: &Arc<Self>, hash: BlockHash, except: Option<&str>) {
        {
            let mut last = self.last_relayed.lock().unwrap_or_else(|p| p.into_inner());
            if *last == Some(hash) {
                return;
            }
            *last = Some(hash);
        }
        let Some(tip) = self.chain().block(&hash).cloned() else {
            return;
        };
        for peer in self.peers.all() {
            if Some(peer.url()) == except {
                continue;
            }
            let Some(permit) = peer.relay_permit() else {
                continue;
            };
            let block = tip.clone();
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                let answer = tokio::select! {
                    answer = tokio::time::timeout(RELAY_TIMEOUT, peer.client.submit(&block)) => answer,
                    () = shutdown.cancelled() => Ok(Err(PeerError::Unreachable("shutting down".into()))),
                };
                match answer {
                    Ok(Ok(reply)) => {
                        peer.mark(true, "");
                        tracing::debug!(peer = %peer.url(), status = %reply.status, height = reply.height, "relayed");
                    }
                    Ok(Err(PeerError::Api { status, body })) => {
                        peer.mark(true, "");
                        tracing::warn!(peer = %peer.url(), status, code = %body.error, "peer refused our block: {}", body.message);
                    }
                    Ok(Err(e)) => peer.mark(false, &e.to_string()),
                    Err(_) => peer.mark(false, "relay timed out"),
                }
                drop(permit);
            });
        }
    }

    /// Syncs with every peer that is not banned, concurrently (a slow peer
    /// delays no other), then drops `api` peers that keep failing.
    pub async fn sync_all(self: &Arc<Self>) {
        let now = now_ms();
        let peers: Vec<_> = self
            .peers
            .all()
            .into_iter()
            .filter(|peer| !peer.is_banned(now))
            .collect();
        futures::future::join_all(peers.iter().map(|peer| self.sync_with(peer))).await;
        self.peers.drop_failing();
    }

    /// Syncs with one peer until it has nothing more for us.
    async fn sync_with(self: &Arc<Self>, peer: &Arc<PeerEntry>) {
        let mut target = NodeSync {
            node: self,
            stored: 0,
            tip_changed: false,
        };
        let config = SyncConfig::default();
        let report = tokio::select! {
            report = sync(&peer.client, &mut target, now_ms(), &config) => report,
            () = self.shutdown.cancelled() => return,
        };
        let (stored, tip_changed) = (target.stored, target.tip_changed);
        if stored > 0 {
            let node = self.clone();
            let flushed = tokio::task::spawn_blocking(move || node.store.flush())
                .await
                .unwrap_or_else(|e| Err(StoreError::Io(e.to_string())));
            if let Err(e) = flushed {
                self.fail(&e);
                return;
            }
            tracing::info!(
                peer = %peer.url(),
                stored,
                checked = report.stats.blocks_checked,
                height = self.chain().height(),
                "synced"
            );
        }
        if tip_changed {
            let tip = self.chain().tip().hash;
            self.relay_block(tip, Some(peer.url()));
        }
        if let Some(height) = report.stats.peer_height {
            peer.set_height(height);
        }
        match report.outcome {
            SyncOutcome::UpToDate | SyncOutcome::Synced | SyncOutcome::PeerChanged => {
                peer.mark(true, "");
            }
            SyncOutcome::FutureBlock { height, hash } => {
                peer.mark(true, "");
                tracing::warn!(peer = %peer.url(), height, hash = %hash.short(), "peer's block is ahead of our clock; will retry");
            }
            SyncOutcome::OtherNetwork { ours, theirs } => {
                peer.mark(false, "other network");
                tracing::warn!(peer = %peer.url(), ours = %ours.short(), theirs = %theirs.short(), "peer is on another network (different params)");
            }
            SyncOutcome::PeerFailed(e) => peer.mark(false, &e.to_string()),
            SyncOutcome::LocalFailure(why) => {
                tracing::error!(peer = %peer.url(), "sync stopped by a local failure: {why}");
            }
            SyncOutcome::Misbehaved(m) => {
                peer.mark(true, "");
                peer.ban(now_ms(), &m.to_string());
            }
        }
    }
}

/// The log form of a block's data: at most 40 characters, escaped.
fn short_data(data: &str) -> String {
    let mut short: String = data.chars().take(40).collect();
    if short.len() < data.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// The node as seen by jbc-core's sync: each page is stored and persisted
/// (without fsync; the sync flushes at the end) as it arrives.
struct NodeSync<'a> {
    node: &'a Node,
    stored: u64,
    tip_changed: bool,
}

impl SyncTarget for NodeSync<'_> {
    fn params(&self) -> Params {
        self.node.params.clone()
    }

    fn best(&self) -> (BlockHash, u64, u128) {
        SyncTarget::best(&*self.node.chain())
    }

    fn pool_difficulty_floor(&self) -> u32 {
        self.node.chain().pool_difficulty_floor()
    }

    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.node.chain().block(hash).map(|b| b.index)
    }

    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        self.node.chain().chain_work(hash)
    }

    fn stored_block(&self, hash: &BlockHash) -> Option<Block> {
        self.node.chain().block(hash).cloned()
    }

    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64> {
        self.node.chain().timestamp_at(of, height)
    }

    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored {
        let done = self.node.accept_page(page, now_ms);
        self.stored += done.stored;
        self.tip_changed |= done.tip_changed;
        done
    }
}

/// A node with its HTTP server and background tasks running.
#[derive(Debug)]
pub struct RunningNode {
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// The node's state.
    pub node: Arc<Node>,
    server: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves when the node starts shutting down (a call to
    /// [`RunningNode::shutdown`], or a storage failure).
    pub async fn stopping(&self) {
        self.node.shutdown.cancelled().await;
    }

    /// Stops mining, closes event streams, finishes writes and the server.
    /// Returns an error if the node had stopped because of a storage failure.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.node.shutdown.cancel();
        // Stop the mining threads first: each ends within one round.
        let node = self.node.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(miner) = node.miner() {
                miner.stop();
            }
        })
        .await;
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        // The server drains its connections for at most DRAIN_TIMEOUT itself.
        let drain = crate::serve::DRAIN_TIMEOUT + Duration::from_secs(1);
        let _ = tokio::time::timeout(drain, self.server).await;
        let node = self.node.clone();
        let flushed = tokio::task::spawn_blocking(move || node.store.flush()).await;
        if self.node.has_failed() {
            anyhow::bail!("stopped after a storage failure");
        }
        match flushed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(anyhow::anyhow!("final flush failed: {e}")),
        }
    }
}

/// Opens the store, binds the API and starts mining, sync and status tasks.
pub async fn start(config: Config) -> anyhow::Result<RunningNode> {
    let (found_tx, found_rx) = mpsc::unbounded_channel();
    let node = Arc::new(Node::open(&config, found_tx)?);
    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    let app = crate::api::app(node.clone(), config.www_dir());
    let shutdown = node.shutdown.clone();
    let server = tokio::spawn(async move {
        crate::serve::serve(listener, app, shutdown).await;
    });
    tracing::info!(
        url = %format!("http://{addr}"),
        network = %node.params.network,
        difficulty = node.chain().next_rules().difficulty,
        mining = node.miner.is_some(),
        threads = node.threads,
        peers = node.peers.all().len(),
        "node started"
    );
    let mut tasks = vec![
        tokio::spawn(sync_loop(node.clone())),
        tokio::spawn(status_loop(node.clone())),
    ];
    if node.miner.is_some() {
        tasks.push(tokio::spawn(mining_loop(node.clone(), found_rx)));
    }
    Ok(RunningNode {
        addr,
        node,
        server,
        tasks,
    })
}

/// Syncs on start, every [`SYNC_EVERY`], and when woken (orphan, new peer).
async fn sync_loop(node: Arc<Node>) {
    let mut every = tokio::time::interval(SYNC_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = every.tick() => {}
            () = node.sync_wakeup.notified() => {}
        }
        node.sync_all().await;
    }
}

/// Samples the hash rate, logs it and sends `status` events.
async fn status_loop(node: Arc<Node>) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (Instant::now(), node.miner.as_ref().map_or(0, Miner::hashes));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        ticks += 1;
        if let Some(miner) = &node.miner {
            let (now, hashes) = (Instant::now(), miner.hashes());
            let secs = now.duration_since(last.0).as_secs_f64();
            if secs > 0.0 {
                let rate = hashes.saturating_sub(last.1) as f64 / secs;
                node.hashes_per_sec.store(rate.to_bits(), Ordering::Relaxed);
            }
            last = (now, hashes);
        }
        if ticks.is_multiple_of((STATUS_EVERY.as_secs() / SAMPLE_EVERY.as_secs()).max(1)) {
            if node.miner.is_some() {
                tracing::info!(
                    "hash rate {:.2} MH/s on {} threads ({} kernel), height {}",
                    node.hash_rate() / 1e6,
                    node.threads,
                    jbc_core::kernel_name(),
                    node.chain().height()
                );
            }
            let _ = node.events.send(node.status_event());
        }
    }
}

/// Feeds the miner's blocks into the accept path; refreshes its template.
async fn mining_loop(node: Arc<Node>, mut found: mpsc::UnboundedReceiver<Found>) {
    node.refresh_work();
    let mut refresh = tokio::time::interval(REFRESH_WORK_EVERY);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    loop {
        let found = tokio::select! {
            () = node.shutdown.cancelled() => return,
            _ = refresh.tick() => {
                node.refresh_work();
                continue;
            }
            found = found.recv() => match found {
                Some(found) => found,
                None => return,
            },
        };
        if found.block.prev_hash != node.chain().tip().hash {
            // Found on a tip that was already replaced (or a second thread
            // found one on the same tip): it would only make a side block.
            continue;
        }
        match node.submit(found.block, Source::Local).await {
            Ok(accepted) if accepted.tip_changed() => {}
            Ok(accepted) => {
                tracing::debug!(
                    status = accepted.status.as_str(),
                    "own block did not move the tip"
                );
                node.refresh_work();
            }
            Err(AcceptError::Invalid(e)) => {
                tracing::warn!("own block rejected: {e}");
                node.refresh_work();
            }
            Err(AcceptError::Storage(_)) => return,
        }
    }
}
