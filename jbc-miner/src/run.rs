//! The coordinator: asks a node for work, publishes jobs to the mining
//! threads, submits what they find, follows `/events` to switch tips at
//! once, fails over between nodes, and draws the live line.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use jbc_core::peer::TipInfo;
use jbc_core::{BlockHash, Candidate, Header, NextRules};
use tokio::sync::{Notify, mpsc};

use crate::client::{ClientError, NodeClient, TipEvent};
use crate::gpu::{AdapterSummary, GpuMiner};
pub use crate::report::{Report, Submitted, format_rate};
use crate::threads::{self, Counters, Device, Found};
use crate::work::Work;

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
    #[error(transparent)]
    BadNode(#[from] ClientError),
}

/// A job is refreshed (new timestamp) after this long on the same tip.
const JOB_MAX_AGE: Duration = Duration::from_secs(30);
/// Pause before reconnecting to `/events`.
const EVENTS_RETRY: Duration = Duration::from_secs(1);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A random u64 from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now_ms() as u128);
    hasher.finish()
}

struct Coordinator {
    options: Options,
    clients: Vec<NodeClient>,
    active: usize,
    work: Arc<Work>,
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
    fn update(&mut self, counters: &Counters) {
        let now = Instant::now();
        let cpu = counters.cpu_hashes.load(Ordering::Relaxed);
        let gpu = counters.gpu_hashes.load(Ordering::Relaxed);
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

impl Coordinator {
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
        let n = self.clients.len();
        let mut errors = Vec::new();
        for step in 0..n {
            let i = (self.active + step) % n;
            match self.clients[i].tip().await {
                Ok(tip) => {
                    let switched = i != self.active;
                    if switched || self.last_error.is_some() || self.tip.is_none() {
                        self.say(format!("mining for {}", self.clients[i].url()));
                    }
                    self.active = i;
                    self.last_error = None;
                    self.on_tip(tip);
                    return switched;
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        self.error(format!("no node answers (retrying): {}", errors.join("; ")));
        false
    }

    fn on_tip(&mut self, tip: TipInfo) {
        let same = self.job_next.as_ref() == Some(&tip.next)
            && self.work.generation() == self.job_generation
            && self.job_started.elapsed() < JOB_MAX_AGE;
        if !same {
            let candidate = Candidate {
                header: Header {
                    index: tip.next.index,
                    timestamp_ms: now_ms().max(tip.next.min_timestamp_ms),
                    difficulty: tip.next.difficulty,
                    prev_hash: tip.next.prev_hash,
                    data_hash: BlockHash::sha256(self.options.data.as_bytes()),
                    nonce: 0,
                },
                data: self.options.data.clone(),
            };
            self.job_generation = self.work.publish(candidate, random_u64());
            self.job_next = Some(tip.next);
            self.job_started = Instant::now();
        }
        self.tip = Some(tip);
    }

    /// Submits a found block: to the active node, then to the others if it
    /// cannot be reached. Returns true when the run should stop.
    async fn submit(&mut self, found: Found) -> bool {
        let Some(job) = self
            .work
            .current()
            .filter(|job| job.generation == found.generation)
        else {
            return false; // found on a job that was replaced meanwhile
        };
        self.work.clear(found.generation);
        let block = job.block(found.nonce);
        let n = self.clients.len();
        let mut status = String::from("unsubmitted");
        let mut node = String::new();
        for step in 0..n {
            let i = (self.active + step) % n;
            let client = &self.clients[i];
            node = client.url().to_string();
            match client.submit(&block).await {
                Ok(reply) => {
                    status = reply.status;
                    break;
                }
                Err(ClientError::Refused {
                    body, status: code, ..
                }) => {
                    status = format!("rejected {}", body.error);
                    self.say(format!(
                        "the node at {node} rejected block #{} ({code} {}): {}",
                        block.index, body.error, body.message
                    ));
                    break;
                }
                Err(e) => self.say(format!("error: {e}")),
            }
        }
        let device = match found.device {
            Device::Cpu => "CPU",
            Device::Gpu => "GPU",
        };
        let taken = matches!(status.as_str(), "accepted" | "reorg");
        if taken {
            self.report.blocks_found += 1;
        }
        if !status.starts_with("rejected") {
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
        self.rates.update(&self.counters);
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
        parts.push(self.clients[self.active].url().to_string());
        self.bar.set_message(parts.join(" · "));
        self.bar.tick();
    }
}

/// Follows `/events` of `client` forever (reconnecting), waking `notify`
/// on every tip change.
async fn follow(client: NodeClient, notify: Arc<Notify>) {
    loop {
        let result = client
            .follow_events(|event| match event {
                TipEvent::Connected | TipEvent::Changed => notify.notify_one(),
            })
            .await;
        // A failure is reported by the /tip polling; just retry.
        let _ = result;
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
    let clients = options
        .nodes
        .iter()
        .map(|url| NodeClient::new(url))
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
    let work = Arc::new(Work::default());
    let counters = Arc::new(Counters::default());
    // Unbounded: at most one message per thread per job, and the job is
    // cleared on the first one.
    let (found_tx, mut found_rx) = mpsc::unbounded_channel();
    let mut handles = threads::spawn_cpu(options.threads, &work, &counters, &found_tx);
    let gpu_name = gpu.as_ref().map(|g| g.adapter().clone());
    let (gpu_error_tx, mut gpu_error_rx) = mpsc::unbounded_channel();
    if let Some(gpu) = gpu {
        handles.push(threads::spawn_gpu(
            gpu,
            options.threads as u64,
            options.gpu_dispatch,
            &work,
            &counters,
            &found_tx,
            move |message| {
                let _ = gpu_error_tx.send(message);
            },
        ));
    }
    drop(found_tx);
    let mut c = Coordinator {
        options,
        clients,
        active: 0,
        work: work.clone(),
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
    let mut events = tokio::spawn(follow(c.clients[0].clone(), notify.clone()));
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
            events = tokio::spawn(follow(c.clients[c.active].clone(), notify.clone()));
        }
    }
    events.abort();
    work.stop();
    // Each thread returns within one round.
    for handle in handles {
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
    c.report.cpu_hashes = counters.cpu_hashes.load(Ordering::Relaxed);
    c.report.gpu_hashes = counters.gpu_hashes.load(Ordering::Relaxed);
    c.report.gpu_stale_hashes = counters.gpu_stale_hashes.load(Ordering::Relaxed);
    c.report.gpu_adapter = c.gpu_name.clone();
    c.report.threads = c.options.threads;
    c.report.elapsed = started.elapsed();
    c.draw();
    c.bar.finish();
    Ok(c.report)
}
