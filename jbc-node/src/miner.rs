//! [`Miner`]: N OS threads mining the current template on disjoint nonce
//! ranges, with jbc-core's [`mine_blocking`] in short rounds (about 1 ms, [`ROUND_US`]).
//!
//! [`Miner::set_work`] starts a new generation of jbc-core's
//! [`MinerHandle`]; every thread checks its [`Job`] after each round, so all
//! of them drop stale work within one round and pick up the new template
//! (waiting on a condition variable, not polling). Each thread records the
//! generation it is working on ([`Miner::threads_on`]), which is how tests
//! and the `miner_switch` benchmark measure the switch time.
//!
//! A thread that finds a block sends it on a channel; the node offers it to
//! the chain like any other block, unless the tip has moved on meanwhile
//! (the block would only be stale). A new template on the same tip (a fresh
//! timestamp every 2 s) does not make a block found on the old one stale.

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jbc_core::miner::{Job, MineOutcome, MinerConfig, MinerHandle, mine_blocking, split_nonces};
use jbc_core::{Block, Candidate, Template};
use tokio::sync::mpsc;

/// Target length of one mining round, in microseconds: a thread notices new
/// work within about this long (plus scheduling), and the check between
/// rounds costs nothing measurable at this size.
pub const ROUND_US: u64 = 1_000;

/// A block found by a mining thread.
#[derive(Debug, Clone)]
pub struct Found {
    /// The block.
    pub block: Block,
}

/// The work all threads share.
#[derive(Debug)]
struct Work {
    job: Job,
    candidate: Candidate,
    template: Template,
}

#[derive(Debug, Default)]
struct Slot {
    work: Option<Arc<Work>>,
    stopped: bool,
}

#[derive(Debug)]
struct Shared {
    handle: MinerHandle,
    slot: Mutex<Slot>,
    wake: Condvar,
    /// Per thread: the generation it is mining (0 = none yet).
    on_generation: Vec<AtomicU64>,
    stopped: AtomicBool,
}

/// The mining threads of a node.
#[derive(Debug)]
pub struct Miner {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    started: Instant,
    /// The last hash-rate sample.
    rate: Mutex<RateSample>,
}

/// A hash-rate sample: when, how many hashes then, and the rate since the
/// sample before.
#[derive(Debug)]
struct RateSample {
    at: Instant,
    hashes: u64,
    hashes_per_sec: f64,
}

impl Miner {
    /// Starts `threads` mining threads (at least one), idle until
    /// [`Miner::set_work`]; found blocks go to `found`.
    pub fn start(threads: usize, found: mpsc::UnboundedSender<Found>) -> Miner {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            handle: MinerHandle::new(),
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            on_generation: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            stopped: AtomicBool::new(false),
        });
        let started = Instant::now();
        let ranges = split_nonces(0..=u64::MAX, threads as u64);
        let handles = ranges
            .into_iter()
            .enumerate()
            .filter_map(|(index, nonces)| {
                let shared = shared.clone();
                let found = found.clone();
                std::thread::Builder::new()
                    .name(format!("miner-{index}"))
                    .spawn(move || mine_loop(&shared, index, nonces, &found, started))
                    .map_err(|e| tracing::error!("cannot start mining thread {index}: {e}"))
                    .ok()
            })
            .collect();
        Miner {
            shared,
            threads: Mutex::new(handles),
            started,
            rate: Mutex::new(RateSample {
                at: started,
                hashes: 0,
                hashes_per_sec: 0.0,
            }),
        }
    }

    /// Replaces the work of every thread; returns its generation.
    pub fn set_work(&self, candidate: Candidate) -> u64 {
        let template = candidate.template();
        let mut slot = self.lock_slot();
        // The new generation makes every thread's current job stale at once.
        let job = self.shared.handle.new_job();
        let generation = job.generation();
        slot.work = Some(Arc::new(Work {
            job,
            candidate,
            template,
        }));
        drop(slot);
        self.shared.wake.notify_all();
        generation
    }

    /// The generation of the latest work.
    pub fn generation(&self) -> u64 {
        self.shared.handle.generation()
    }

    /// Whether every thread is working on `generation` (or a later one).
    pub fn threads_on(&self, generation: u64) -> bool {
        self.shared
            .on_generation
            .iter()
            .all(|g| g.load(Ordering::Acquire) >= generation)
    }

    /// Blocks until every thread works on `generation` or `limit` passes;
    /// returns how long that took from the call (checked every 50 µs).
    pub fn wait_threads_on(&self, generation: u64, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if self.threads_on(generation) {
                return Some(started.elapsed());
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Number of mining threads.
    pub fn thread_count(&self) -> usize {
        self.shared.on_generation.len()
    }

    /// Hashes computed so far by all threads.
    pub fn hashes(&self) -> u64 {
        self.shared.handle.hashes()
    }

    /// Time since the miner started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Takes a hash-rate sample: the rate since the previous sample becomes
    /// [`Miner::hashes_per_sec`]. The node calls it every second.
    pub fn sample_rate(&self) {
        let (now, hashes) = (Instant::now(), self.hashes());
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let secs = now.duration_since(rate.at).as_secs_f64();
        if secs > 0.0 {
            rate.hashes_per_sec = hashes.saturating_sub(rate.hashes) as f64 / secs;
        }
        rate.at = now;
        rate.hashes = hashes;
    }

    /// The hash rate between the last two samples, hashes per second.
    pub fn hashes_per_sec(&self) -> f64 {
        self.rate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hashes_per_sec
    }

    /// Stops every thread and waits for them (each ends within one round).
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.lock_slot().stopped = true;
        self.shared.handle.cancel();
        self.shared.wake.notify_all();
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in handles {
            let _ = handle.join();
        }
    }

    fn lock_slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.shared.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One mining thread: wait for work newer than the last, mine it until it
/// is found, replaced or the range is used up, repeat.
fn mine_loop(
    shared: &Shared,
    index: usize,
    nonces: RangeInclusive<u64>,
    found: &mpsc::UnboundedSender<Found>,
    started: Instant,
) {
    let config = MinerConfig {
        nonces,
        target_round_us: ROUND_US,
        ..MinerConfig::default()
    };
    let clock_us = || started.elapsed().as_micros() as u64;
    let mut last_generation = 0;
    loop {
        let work = {
            let mut slot = shared.slot.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if slot.stopped {
                    return;
                }
                match &slot.work {
                    Some(work) if work.job.generation() > last_generation => break work.clone(),
                    _ => {
                        slot = shared
                            .wake
                            .wait_timeout(slot, Duration::from_millis(500))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            }
        };
        last_generation = work.job.generation();
        shared.on_generation[index].store(last_generation, Ordering::Release);
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        match mine_blocking(&work.template, &work.job, &config, clock_us) {
            MineOutcome::Found { nonce, .. } => {
                let block = work.candidate.block(nonce);
                if found.send(Found { block }).is_err() {
                    return;
                }
            }
            // Replaced: the loop picks up the new work. Used up (2^64 /
            // threads nonces, never in practice): wait for new work.
            MineOutcome::Cancelled { .. } | MineOutcome::Exhausted => {}
        }
    }
}
