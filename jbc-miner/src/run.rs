//! The driver: asks a node for work (jbc-client's [`HttpPeer`]),
//! publishes it to the mining threads through jbc-core's [`MinerHandle`],
//! submits what they find, follows `/events` to switch tips at once, fails
//! over between nodes, and draws the live line.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use jbc_client::{Client, HttpPeer, Timeouts};
use jbc_core::peer::{Peer, PeerError, TipInfo};
use jbc_core::wire::{BadUrl, StreamEvent};
use jbc_core::{Candidate, MinerHandle, NextRules};
use tokio::sync::{Notify, mpsc};

use crate::gpu::{AdapterSummary, GpuMiner};
pub use crate::report::{Report, SubmitOutcome, Submitted, format_rate};
use crate::threads::{self, Counters, Device, Found};

/// How the miner runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Node base URLs, in order of preference (the first reachable one is used).
    pub nodes: Vec<String>,
    /// CPU mining threads (0 with a GPU: GPU only).
    pub threads: usize,
    /// The block's data.
    pub data: String,
    /// Stop after this many blocks the node took as its new tip.
    pub stop_after: Option<u64>,
    /// Draw the live line (indicatif) instead of plain log lines.
    pub progress: bool,
    /// How often `/tip` is polled besides `/events` (missed events, liveness).
    pub poll: Duration,
    /// Target duration of one GPU dispatch ([`threads::GPU_DISPATCH`] by default).
    pub gpu_dispatch: Duration,
}

/// Why the miner could not run.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    /// No `--node` given.
    #[error("no node given: pass at least one --node URL")]
    NoNodes,
    /// Nothing to mine with.
    #[error("nothing to mine with: --threads 0 needs --gpu")]
    NoDevices,
    /// A node URL is not usable.
    #[error("--node: {0}")]
    BadNode(#[from] BadUrl),
}

/// A job is refreshed (new timestamp) after this long on the same tip.
const JOB_MAX_AGE: Duration = Duration::from_secs(30);
/// Pause before reconnecting to `/events`.
const EVENTS_RETRY: Duration = Duration::from_secs(1);

/// A miner's timeouts: longer than a node's for a call (a busy node may
/// take a while to store a block before it answers `POST /mined`).
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(3),
    call: Duration::from_secs(10),
    page: Duration::from_secs(20),
    stream_answer: Duration::from_secs(10),
    stream_silence: Duration::from_millis(jbc_core::wire::STREAM_SILENCE_MS),
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A random base nonce below 2^56 (so that every lane of the threads is
/// whole, see [`jbc_core::Assignment::lane`]), from the standard library's
/// randomly keyed hasher.
fn random_base_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now_ms() as u128);
    hasher.finish() >> 8
}

/// What a run keeps between events: the nodes, the shared work, the live line.
struct Driver {
    options: Options,
    nodes: Vec<HttpPeer>,
    active: usize,
    handle: MinerHandle,
    counters: Arc<Counters>,
    bar: ProgressBar,
    tip: Option<TipInfo>,
    job_next: Option<NextRules>,
    job_generation: u64,
    job_started: Instant,
    last_error: Option<String>,
    report: Report,
    gpu_name: Option<AdapterSummary>,
    rates: Rates,
}

/// Hash rates from the counters, smoothed.
#[derive(Default)]
struct Rates {
    last: Option<(Instant, u64, u64)>,
    cpu: f64,
    gpu: f64,
}

impl Rates {
    fn update(&mut self, cpu: u64, gpu: u64) {
        let now = Instant::now();
        if let Some((then, cpu0, gpu0)) = self.last {
            let dt = now.duration_since(then).as_secs_f64();
            if dt > 0.0 {
                let smooth = |old: f64, new: f64| {
                    if old == 0.0 {
                        new
                    } else {
                        0.7 * old + 0.3 * new
                    }
                };
                self.cpu = smooth(self.cpu, (cpu - cpu0) as f64 / dt);
                self.gpu = smooth(self.gpu, (gpu - gpu0) as f64 / dt);
            }
        }
        self.last = Some((now, cpu, gpu));
    }
}

impl Driver {
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Prints an error once (until a different one, or a success, comes).
    fn error(&mut self, message: String) {
        if self.last_error.as_ref() != Some(&message) {
            self.say(format!("error: {message}"));
            self.last_error = Some(message);
        }
    }

    /// Fetches `/tip`, trying the active node first, then the others in order.
    /// Returns whether the node in use changed.
    async fn refresh(&mut self) -> bool {
        let n = self.nodes.len();
        let mut errors = Vec::new();
        for step in 0..n {
            let i = (self.active + step) % n;
            match self.nodes[i].tip().await {
                Ok(tip) => {
                    let switched = i != self.active;
                    if switched || self.last_error.is_some() || self.tip.is_none() {
                        self.say(format!("mining for {}", self.nodes[i].url()));
                    }
                    self.active = i;
                    self.last_error = None;
                    self.on_tip(tip);
                    return switched;
                }
                Err(e) => errors.push(format!("{}: {e}", self.nodes[i].url())),
            }
        }
        self.error(format!("no node answers (retrying): {}", errors.join("; ")));
        false
    }

    fn on_tip(&mut self, tip: TipInfo) {
        let same = self.job_next.as_ref() == Some(&tip.next)
            && self.handle.generation() == self.job_generation
            && self.job_started.elapsed() < JOB_MAX_AGE;
        if !same {
            let candidate = Candidate::from_rules(&tip.next, self.options.data.clone(), now_ms());
            self.job_generation = self.handle.publish(candidate, random_base_nonce());
            self.job_next = Some(tip.next);
            self.job_started = Instant::now();
        }
        self.tip = Some(tip);
    }

    /// Submits a found block: to the active node, then to the others if it
    /// cannot be reached. Returns true when the run should stop.
    async fn submit(&mut self, found: Found) -> bool {
        let Some(assignment) = self
            .handle
            .current()
            .filter(|a| a.generation() == found.generation)
        else {
            return false; // found on work that was replaced meanwhile
        };
        self.handle.withdraw(found.generation);
        let block = assignment.block(found.nonce);
        let n = self.nodes.len();
        let mut status = SubmitOutcome::Unsubmitted;
        let mut node = String::new();
        for step in 0..n {
            let i = (self.active + step) % n;
            let client = &self.nodes[i];
            node = client.url().to_string();
            match client.submit(&block).await {
                Ok(reply) => {
                    status = SubmitOutcome::Answered(reply.status);
                    break;
                }
                Err(PeerError::Api { status: code, body }) => {
                    self.say(format!(
                        "the node at {node} rejected block #{} ({code} {}): {}",
                        block.index, body.error, body.message
                    ));
                    status = SubmitOutcome::Rejected(body.error);
                    break;
                }
                Err(e) => self.say(format!("error: {node}: {e}")),
            }
        }
        let device = match found.device {
            Device::Cpu => "CPU",
            Device::Gpu => "GPU",
        };
        if status.is_new_tip() {
            self.report.blocks_found += 1;
        }
        if !matches!(status, SubmitOutcome::Rejected(_)) {
            self.say(format!(
                "block #{} {} mined on the {device}: {status} by {node}",
                block.index, block.hash
            ));
        }
        self.report.submitted.push(Submitted {
            index: block.index,
            hash: block.hash,
            device: found.device,
            status,
            node,
        });
        self.options
            .stop_after
            .is_some_and(|n| self.report.blocks_found >= n)
    }

    fn draw(&mut self) {
        self.rates.update(
            self.handle.hashes(),
            self.counters.gpu_hashes.load(Ordering::Relaxed),
        );
        let mut parts = Vec::new();
        if let Some(tip) = &self.tip {
            parts.push(format!(
                "height {} · {} bits",
                tip.height, tip.next.difficulty
            ));
        }
        if self.options.threads > 0 {
            parts.push(format!(
                "CPU {}×: {}",
                self.options.threads,
                format_rate(self.rates.cpu)
            ));
        }
        if let Some(adapter) = &self.gpu_name {
            parts.push(format!(
                "GPU {}{}: {}",
                adapter.name,
                if adapter.software { " (software)" } else { "" },
                format_rate(self.rates.gpu)
            ));
        }
        parts.push(format!("blocks found {}", self.report.blocks_found));
        parts.push(self.nodes[self.active].url().to_string());
        self.bar.set_message(parts.join(" · "));
        self.bar.tick();
    }
}

/// Follows `/events` of `node` until aborted (reconnecting after
/// [`EVENTS_RETRY`]), waking `notify` when the stream opens (the tip may
/// have changed while it was not) and on every `block` or `reorg`.
async fn follow(node: HttpPeer, notify: Arc<Notify>) {
    loop {
        // A failure is reported by the /tip polling; just retry.
        if let Ok(mut stream) = node.events().await {
            notify.notify_one();
            while let Ok(Some(event)) = stream.next().await {
                if matches!(event, StreamEvent::Block(_) | StreamEvent::Reorg) {
                    notify.notify_one();
                }
            }
        }
        tokio::time::sleep(EVENTS_RETRY).await;
    }
}

/// Mines until `shutdown` resolves (or `options.stop_after` blocks were
/// taken): CPU threads, plus the GPU when `gpu` is given.
pub async fn run(
    options: Options,
    gpu: Option<GpuMiner>,
    shutdown: impl Future<Output = ()>,
) -> Result<Report, MinerError> {
    if options.nodes.is_empty() {
        return Err(MinerError::NoNodes);
    }
    if options.threads == 0 && gpu.is_none() {
        return Err(MinerError::NoDevices);
    }
    let client = Client::new(concat!("jbc-miner/", env!("CARGO_PKG_VERSION")), TIMEOUTS);
    let nodes = options
        .nodes
        .iter()
        .map(|url| client.peer(url))
        .collect::<Result<Vec<_>, _>>()?;
    let bar = if options.progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let handle = MinerHandle::new();
    let counters = Arc::new(Counters::default());
    // Unbounded: at most one message per thread per assignment, and the
    // assignment is withdrawn on the first one.
    let (found_tx, mut found_rx) = mpsc::unbounded_channel();
    let mut threads = threads::spawn_cpu(options.threads, &handle, &found_tx);
    let gpu_name = gpu.as_ref().map(|g| g.adapter().clone());
    let (gpu_error_tx, mut gpu_error_rx) = mpsc::unbounded_channel();
    if let Some(gpu) = gpu {
        threads.push(threads::spawn_gpu(
            gpu,
            options.threads as u64,
            options.gpu_dispatch,
            &handle,
            &counters,
            &found_tx,
            move |message| {
                let _ = gpu_error_tx.send(message);
            },
        ));
    }
    drop(found_tx);
    let mut c = Driver {
        options,
        nodes,
        active: 0,
        handle: handle.clone(),
        counters: counters.clone(),
        bar,
        tip: None,
        job_next: None,
        job_generation: 0,
        job_started: Instant::now(),
        last_error: None,
        report: Report::default(),
        gpu_name,
        rates: Rates::default(),
    };
    if let Some(adapter) = &c.gpu_name {
        c.say(format!("GPU: {adapter}"));
    }
    if c.options.threads > 0 {
        c.say(format!(
            "CPU: {} threads, kernel {}",
            c.options.threads,
            jbc_core::kernel_name()
        ));
    }
    let notify = Arc::new(Notify::new());
    let mut events = tokio::spawn(follow(c.nodes[0].clone(), notify.clone()));
    let mut poll = tokio::time::interval(c.options.poll);
    let mut draw = tokio::time::interval(Duration::from_millis(250));
    tokio::pin!(shutdown);
    loop {
        let switched = tokio::select! {
            () = &mut shutdown => break,
            Some(found) = found_rx.recv() => {
                if c.submit(found).await {
                    break;
                }
                c.refresh().await
            }
            () = notify.notified() => c.refresh().await,
            _ = poll.tick() => c.refresh().await,
            _ = draw.tick() => { c.draw(); false }
            Some(message) = gpu_error_rx.recv() => {
                c.say(format!("error: the GPU stopped mining: {message}"));
                if c.options.threads == 0 {
                    break;
                }
                false
            }
        };
        if switched {
            events.abort();
            events = tokio::spawn(follow(c.nodes[c.active].clone(), notify.clone()));
        }
    }
    events.abort();
    handle.stop();
    // Each thread returns within one round.
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    c.report.cpu_hashes = handle.hashes();
    c.report.gpu_hashes = counters.gpu_hashes.load(Ordering::Relaxed);
    c.report.gpu_stale_hashes = counters.gpu_stale_hashes.load(Ordering::Relaxed);
    c.report.gpu_adapter = c.gpu_name.clone();
    c.report.threads = c.options.threads;
    c.report.elapsed = started.elapsed();
    c.draw();
    c.bar.finish();
    Ok(c.report)
}
