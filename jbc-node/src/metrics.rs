//! [`Metrics`]: what `GET /metrics` shows, in the OpenMetrics text format
//! (prometheus-client's text encoder: `# HELP` and `# TYPE` under each
//! family's name, a counter's samples named `<family>_total`, `# EOF` at
//! the end), served with the OpenMetrics [`CONTENT_TYPE`].
//!
//! Each node owns its own [`Registry`]: nothing is global, so several
//! nodes in one process (the tests, the benches) never mix their figures.
//! That is why this uses `prometheus-client` (a registry is a plain value)
//! rather than the `metrics` facade, whose recorder is process-global.
//!
//! The driver counts, never jbc-core: the node reports each answer of the
//! state machine and each action it carries out here. Gauges of state
//! (height, work, stored and pooled blocks, peers, hash rate) are read from
//! the node when scraped. The chain work is a gauge of `f64`: exact up to
//! 2^53, then rounded (the exact figure is `work` in `GET /status`).
//!
//! `/metrics` is served outside the CORS layer (no page of another site can
//! read it), and every request of the API is counted with its route (the
//! matched path, never the raw URI) and status (both in `api.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::http::StatusCode;
use jbc_core::node_state::{PeerHealth, PeerId, PeerInfo, PeerNotice};
use jbc_core::sync::SyncOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::events::Source;
use crate::status::StatusInfo;

/// The `Content-Type` of the OpenMetrics text format, version 1.0.0: what
/// [`Metrics::scrape`] writes. (The older Prometheus text format,
/// `text/plain; version=0.0.4`, has no `# EOF` and puts a counter's
/// `# HELP` under the sample's name; a scraper told that would misread it.)
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of `jbc_blocks_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlockLabels {
    source: &'static str,
    outcome: &'static str,
}

/// Labels of `jbc_peers`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    state: &'static str,
}

/// Labels of the counters with one `outcome`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Labels of `jbc_task_wakeups_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: &'static str,
}

/// A background task of the node, as counted in `jbc_task_wakeups_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Runs the state machine's timeout when it is due.
    Timer,
    /// Samples the hash rate and sends `status` events.
    Status,
    /// Hands the miner new templates and takes its blocks.
    Mining,
}

impl Task {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Task::Timer => "timer",
            Task::Status => "status",
            Task::Mining => "mining",
        }
    }
}

/// Labels of `jbc_relay_failures_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RelayLabels {
    reason: &'static str,
}

/// Labels of `jbc_http_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// Labels of `jbc_http_request_duration_seconds`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// Buckets of request latencies: 0.1 ms to about 13 s.
#[derive(Debug, Clone)]
struct LatencyBuckets;

impl MetricConstructor<Histogram> for LatencyBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(0.000_1, 4.0, 10))
    }
}

/// The figures of one node.
pub struct Metrics {
    registry: Registry,
    height: Gauge,
    chain_work: Gauge<f64, AtomicU64>,
    blocks_stored: Gauge,
    pooled: Gauge,
    blocks: Family<BlockLabels, Counter>,
    reorg_depth: Histogram,
    peers: Family<PeerLabels, Gauge>,
    syncs: Family<OutcomeLabels, Counter>,
    sync_seconds: Histogram,
    relay_failures: Family<RelayLabels, Counter>,
    hashes_per_sec: Gauge<f64, AtomicU64>,
    hashes: Counter,
    wakeups: Family<TaskLabels, Counter>,
    stream_blocks: Counter,
    stream_ends: Family<RelayLabels, Counter>,
    /// The miner's total at the last scrape (the counter moves by the difference).
    hashes_seen: Mutex<u64>,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<RouteLabels, Histogram, LatencyBuckets>,
    /// When each running sync sent its first request.
    sync_started: Mutex<HashMap<PeerId, Instant>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every series of the node, under the prefix `jbc`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jbc");
        let m = Metrics {
            height: Gauge::default(),
            chain_work: Gauge::default(),
            blocks_stored: Gauge::default(),
            pooled: Gauge::default(),
            blocks: Family::default(),
            reorg_depth: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            peers: Family::default(),
            syncs: Family::default(),
            sync_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 10)),
            relay_failures: Family::default(),
            hashes_per_sec: Gauge::default(),
            hashes: Counter::default(),
            wakeups: Family::default(),
            stream_blocks: Counter::default(),
            stream_ends: Family::default(),
            hashes_seen: Mutex::new(0),
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(LatencyBuckets),
            sync_started: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        registry.register("height", "Height of the best tip", m.height.clone());
        registry.register(
            "chain_work",
            "Work of the best chain (expected hashes; f64, rounded above 2^53)",
            m.chain_work.clone(),
        );
        registry.register(
            "blocks_stored",
            "Blocks in the database, side branches included, genesis not counted",
            m.blocks_stored.clone(),
        );
        registry.register(
            "pooled_blocks",
            "Orphans and ignored blocks waiting in memory (never on disk)",
            m.pooled.clone(),
        );
        registry.register(
            "blocks",
            "Blocks offered by the miner (local) or POST /mined (submitted), by answer \
             (accepted, reorg, side, duplicate, orphan, ignored, or the protocol error code), \
             and blocks stored by sync (outcome stored)",
            m.blocks.clone(),
        );
        registry.register(
            "reorg_depth",
            "Blocks disconnected by each reorganisation",
            m.reorg_depth.clone(),
        );
        registry.register(
            "peers",
            "Peers by state (up, down, unknown; banned counts banned peers whatever their state)",
            m.peers.clone(),
        );
        registry.register("syncs", "Sync runs by outcome", m.syncs.clone());
        registry.register(
            "sync_duration_seconds",
            "Time from a sync's first request to its end",
            m.sync_seconds.clone(),
        );
        registry.register(
            "relay_failures",
            "Relays that failed (refused: the peer answered an error; failed: unreachable or timed out)",
            m.relay_failures.clone(),
        );
        registry.register(
            "hashes_per_second",
            "Measured hash rate of the miner (0 when not mining)",
            m.hashes_per_sec.clone(),
        );
        registry.register(
            "hashes",
            "Hashes computed by the miner since start",
            m.hashes.clone(),
        );
        registry.register(
            "task_wakeups",
            "Times each background task woke up: timer (ran the state machine's timeout), \
             status (hash-rate sample), mining (new template or found block); at rest a few \
             a second at most, more means a loop that wakes itself",
            m.wakeups.clone(),
        );
        registry.register(
            "stream_blocks",
            "Blocks received on the /events streams of followed peers",
            m.stream_blocks.clone(),
        );
        registry.register(
            "stream_ends",
            "Streams of followed peers that ended, each reopened after a back-off \
             (closed: by the peer; failed: unreachable, silent or broken; refused: an error \
             status, e.g. 404 from a node without /events; bad: an event over 64 KiB, or a block \
             event that is not a block)",
            m.stream_ends.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by method, route (matched path) and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (for /events: to open the stream)",
            m.http_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    /// A block offered by the miner or a client, and the chain's answer:
    /// its status, or the PROTOCOL.md §5 code it broke.
    pub fn block_offered(&self, source: Source, outcome: &'static str) {
        self.blocks
            .get_or_create(&BlockLabels {
                source: source_name(source),
                outcome,
            })
            .inc();
    }

    /// Blocks a sync stored.
    pub fn blocks_synced(&self, count: usize) {
        self.blocks
            .get_or_create(&BlockLabels {
                source: "sync",
                outcome: "stored",
            })
            .inc_by(count as u64);
    }

    /// A reorganisation that disconnected `depth` blocks.
    pub fn reorg(&self, depth: usize) {
        self.reorg_depth.observe(depth as f64);
    }

    /// A request of a sync to `peer`: the first one starts the sync's clock.
    pub fn sync_request(&self, peer: PeerId) {
        self.sync_started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(peer)
            .or_insert_with(Instant::now);
    }

    /// The end of a sync with `peer`.
    pub fn sync_ended(&self, peer: PeerId, outcome: &SyncOutcome) {
        let started = self
            .sync_started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
        if let Some(started) = started {
            self.sync_seconds.observe(started.elapsed().as_secs_f64());
        }
        self.syncs
            .get_or_create(&OutcomeLabels {
                outcome: sync_outcome_name(outcome),
            })
            .inc();
    }

    /// A peer's state changed: a dropped peer's sync ends without a report.
    pub fn peer_notice(&self, peer: PeerId, notice: &PeerNotice) {
        if matches!(notice, PeerNotice::Dropped(_)) {
            self.sync_started
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        }
    }

    /// A background task woke up to do its work.
    pub fn task_wakeup(&self, task: Task) {
        self.wakeups
            .get_or_create(&TaskLabels { task: task.name() })
            .inc();
    }

    /// A block arrived on a followed peer's stream.
    pub fn stream_block(&self) {
        self.stream_blocks.inc();
    }

    /// A followed peer's stream ended (`Ok`: the peer closed it).
    pub fn stream_ended(&self, answer: &Result<(), jbc_core::peer::PeerError>) {
        use jbc_core::peer::PeerError;
        let reason = match answer {
            Ok(()) => "closed",
            Err(PeerError::Unreachable(_)) => "failed",
            Err(PeerError::Api { .. }) => "refused",
            Err(PeerError::BadAnswer(_)) => "bad",
        };
        self.stream_ends
            .get_or_create(&RelayLabels { reason })
            .inc();
    }

    /// A relay failed: `refused` when the peer answered with an error.
    pub fn relay_failed(&self, refused: bool) {
        let reason = if refused { "refused" } else { "failed" };
        self.relay_failures
            .get_or_create(&RelayLabels { reason })
            .inc();
    }

    /// One HTTP request answered.
    pub fn http_request(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.as_u16(),
            })
            .inc();
        self.http_seconds
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Sets the gauges from the node's `status` and the state of each of
    /// its `peers` at `now_ms`, and encodes every series as OpenMetrics
    /// text (serve it as [`CONTENT_TYPE`]).
    pub fn scrape<'a>(
        &self,
        status: &StatusInfo,
        peers: impl IntoIterator<Item = &'a PeerInfo>,
        now_ms: u64,
    ) -> String {
        self.height.set(status.height as i64);
        self.chain_work.set(status.work as f64);
        self.blocks_stored.set(status.blocks_stored as i64);
        self.pooled.set(status.pooled as i64);
        self.hashes_per_sec.set(status.hashes_per_sec);
        {
            let mut seen = self.hashes_seen.lock().unwrap_or_else(|p| p.into_inner());
            self.hashes
                .inc_by(status.hashes_total.saturating_sub(*seen));
            *seen = (*seen).max(status.hashes_total);
        }
        let (mut up, mut down, mut unknown, mut banned) = (0, 0, 0, 0);
        for info in peers {
            match info.health {
                PeerHealth::Up => up += 1,
                PeerHealth::Down => down += 1,
                PeerHealth::Unknown => unknown += 1,
            }
            if info.is_banned(now_ms) {
                banned += 1;
            }
        }
        for (state, count) in [
            ("up", up),
            ("down", down),
            ("unknown", unknown),
            ("banned", banned),
        ] {
            self.peers.get_or_create(&PeerLabels { state }).set(count);
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

fn source_name(source: Source) -> &'static str {
    source.as_str()
}

/// The label of a sync's outcome.
fn sync_outcome_name(outcome: &SyncOutcome) -> &'static str {
    match outcome {
        SyncOutcome::UpToDate => "up_to_date",
        SyncOutcome::Synced => "synced",
        SyncOutcome::PeerChanged => "peer_changed",
        SyncOutcome::FutureBlock { .. } => "future_block",
        SyncOutcome::OtherNetwork { .. } => "other_network",
        SyncOutcome::PeerFailed(_) => "peer_failed",
        SyncOutcome::Misbehaved(_) => "misbehaved",
    }
}
