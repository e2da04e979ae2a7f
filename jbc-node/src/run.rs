//! The composition root: [`start`] opens the store, builds the [`Node`]
//! around jbc-core's state machine, binds the API and starts the background
//! tasks (the state machine's timer, mining, status); [`RunningNode`] stops
//! them in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jbc_core::Block;
use jbc_core::node_state::{NodeConfig, PeerSource};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::events::Source;
use crate::metrics::Task;
use crate::miner::Miner;
use crate::node::{AcceptError, Node, now_ms};
use crate::store::Store;

/// How often the miner's template is rebuilt with a fresh timestamp.
pub const REFRESH_WORK_EVERY: Duration = Duration::from_secs(2);
/// How often the hash rate is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the hash rate is logged and a `status` event sent.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

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
        self.node.shutdown_token().cancelled().await;
    }

    /// Stops mining, closes event streams, finishes writes and the server.
    /// Returns an error if the node had stopped because of a storage failure.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.node.shutdown_token().cancel();
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
        let flushed = tokio::task::spawn_blocking(move || node.flush()).await;
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
    let params = config.params();
    params
        .check()
        .map_err(|e| anyhow::anyhow!("invalid network params: {e}"))?;
    let data_dir = config.data_dir()?;
    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    let cache_bytes = (config.db_cache_mb as usize) << 20;
    let (store, chain, stats) = Store::open_with_cache(&data_dir, &params, cache_bytes)?;
    tracing::info!(
        db = %store.path().display(),
        blocks = stats.blocks,
        height = chain.height(),
        tip = %chain.tip().hash.short(),
        ms = stats.elapsed.as_millis() as u64,
        "database loaded"
    );
    // Found blocks: unbounded, since a mining thread must never block; at
    // most one block per thread per round arrives, and each is handled at once.
    let (found_tx, found_rx) = mpsc::unbounded_channel();
    let miner = config
        .mine
        .then(|| Miner::start(config.thread_count(), found_tx));
    let node = Arc::new(Node::new(
        chain,
        store,
        config.block_data(addr.port()),
        miner,
        NodeConfig::default(),
    ));
    // What this node announces to the peers it adds (PROTOCOL.md §7.1), known
    // before the first peer is added.
    if let Some(url) = &config.public_url {
        let url = jbc_core::wire::normalize_url(url)
            .map_err(|e| anyhow::anyhow!("--public-url: {}", e.0))?;
        node.set_own_url(url, true);
    } else if addr.ip().is_loopback() {
        node.set_own_url(format!("http://{addr}"), false);
    }
    for url in &config.peers {
        node.add_peer(url, PeerSource::Config)
            .map_err(|e| anyhow::anyhow!("--peer {url}: {e}"))?;
    }
    let app = crate::api::app(node.clone(), config.www_dir());
    let shutdown = node.shutdown_token().clone();
    let server = tokio::spawn(async move {
        crate::serve::serve(listener, app, shutdown).await;
    });
    tracing::info!(
        url = %format!("http://{addr}"),
        network = %node.params().network,
        difficulty = node.chain().next_rules().difficulty,
        mining = node.miner().is_some(),
        threads = node.miner().map_or(0, Miner::thread_count),
        peers = config.peers.len(),
        "node started"
    );
    let mut tasks = vec![
        tokio::spawn(timer_loop(node.clone())),
        tokio::spawn(status_loop(node.clone())),
    ];
    if node.miner().is_some() {
        tasks.push(tokio::spawn(mining_loop(node.clone(), found_rx)));
    }
    if let Some(dir) = config.chaindir.clone() {
        tasks.push(tokio::spawn(crate::chainfiles::follow(node.clone(), dir)));
    }
    Ok(RunningNode {
        addr,
        node,
        server,
        tasks,
    })
}

/// Calls the state machine's `handle_timeout` when it is due (it starts the
/// syncs), and sooner when an event moved the timeout earlier. Its own call
/// never wakes it: [`Node::on_timer`] arms the timer with the timeout it
/// returns, and only an event that moves it earlier signals the task.
async fn timer_loop(node: Arc<Node>) {
    loop {
        let handled = {
            let node = node.clone();
            tokio::task::spawn_blocking(move || node.on_timer()).await
        };
        let Ok(Some(due_ms)) = handled else {
            return;
        };
        // `u64::MAX` (nothing due) sleeps until an event arms the timer.
        let wait = Duration::from_millis(due_ms.saturating_sub(now_ms()).clamp(1, 3_600_000));
        tokio::select! {
            () = node.shutdown_token().cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = node.timer_changed() => {}
        }
    }
}

/// Samples the hash rate, logs it and sends `status` events. A node that
/// does not mine has no rate to sample: it wakes only to send the event.
async fn status_loop(node: Arc<Node>) {
    let period = if node.miner().is_some() {
        SAMPLE_EVERY
    } else {
        STATUS_EVERY
    };
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let status_ticks = (STATUS_EVERY.as_secs() / period.as_secs()).max(1);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            () = node.shutdown_token().cancelled() => return,
            _ = every.tick() => {}
        }
        node.metrics().task_wakeup(Task::Status);
        ticks += 1;
        if let Some(miner) = node.miner() {
            miner.sample_rate();
        }
        if ticks.is_multiple_of(status_ticks) {
            if let Some(miner) = node.miner() {
                tracing::info!(
                    "hash rate {:.2} MH/s on {} threads ({} kernel), height {}",
                    miner.hashes_per_sec() / 1e6,
                    miner.thread_count(),
                    jbc_core::kernel_name(),
                    node.chain().height()
                );
            }
            node.publish(node.status_event());
        }
    }
}

/// Feeds the miner's blocks into the state machine; refreshes its template.
async fn mining_loop(node: Arc<Node>, mut found: mpsc::UnboundedReceiver<Block>) {
    node.refresh_work();
    let mut refresh = tokio::time::interval(REFRESH_WORK_EVERY);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    refresh.tick().await;
    loop {
        let block = tokio::select! {
            () = node.shutdown_token().cancelled() => return,
            _ = refresh.tick() => {
                node.metrics().task_wakeup(Task::Mining);
                node.refresh_work();
                continue;
            }
            block = found.recv() => match block {
                Some(block) => block,
                None => return,
            },
        };
        node.metrics().task_wakeup(Task::Mining);
        if block.prev_hash != node.chain().tip().hash {
            // Found on a tip that was already replaced (or a second thread
            // found one on the same tip): it would only be `ignored`.
            continue;
        }
        match node.submit(block, Source::Local).await {
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
            Err(e @ AcceptError::Task(_)) => {
                tracing::error!("{e}; this node's miner submits no more blocks");
                return;
            }
        }
    }
}
