//! [`Miner`]: N OS threads mining the current template on disjoint nonce
//! ranges, with jbc-core's [`mine_blocking`] in short rounds (about 1 ms, [`ROUND_US`]).
//!
//! The threads take their work from jbc-core's mining coordinator, a
//! [`MinerHandle`]: [`Miner::set_work`] publishes a new
//! [`Assignment`](jbc_core::Assignment) (a new generation), every thread
//! checks its [`Job`](jbc_core::Job) after each round, so all of them drop
//! stale work within one round and pick up the new template (waiting in
//! [`MinerHandle::next_assignment`], not polling). Each thread records the
//! generation it is working on ([`Miner::threads_on`]), which is how tests
//! and the `miner_switch` benchmark measure the switch time.
//!
//! A thread that finds a block sends it on a channel; the node offers it to
//! the chain like any other block, unless the tip has moved on meanwhile
//! (the block would only be stale). A new template on the same tip (a fresh
//! timestamp every 2 s) does not make a block found on the old one stale.

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jbc_core::miner::{MineOutcome, MinerConfig, MinerHandle, mine_blocking, split_nonces};
use jbc_core::{Block, Candidate};
use tokio::sync::mpsc;

/// Target length of one mining round, in microseconds: a thread notices new
/// work within about this long (plus scheduling), and the check between
/// rounds costs nothing measurable at this size.
pub const ROUND_US: u64 = 1_000;

/// The mining threads of a node.
#[derive(Debug)]
pub struct Miner {
    handle: MinerHandle,
    /// Per thread: the generation it is mining (0 = none yet).
    on_generation: Arc<Vec<AtomicU64>>,
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
    pub fn start(threads: usize, found: mpsc::UnboundedSender<Block>) -> Miner {
        let threads = threads.max(1);
        let handle = MinerHandle::new();
        let on_generation: Arc<Vec<AtomicU64>> =
            Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
        let started = Instant::now();
        let ranges = split_nonces(0..=u64::MAX, threads as u64);
        let handles = ranges
            .into_iter()
            .enumerate()
            .filter_map(|(index, nonces)| {
                let thread = MiningThread {
                    handle: handle.clone(),
                    on_generation: on_generation.clone(),
                    index,
                    nonces,
                    found: found.clone(),
                    started,
                };
                std::thread::Builder::new()
                    .name(format!("miner-{index}"))
                    .spawn(move || thread.run())
                    .map_err(|e| tracing::error!("cannot start mining thread {index}: {e}"))
                    .ok()
            })
            .collect();
        Miner {
            handle,
            on_generation,
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
        // Each thread mines its own range of the whole nonce space.
        self.handle.publish(candidate, 0)
    }

    /// The generation of the latest work.
    pub fn generation(&self) -> u64 {
        self.handle.generation()
    }

    /// Whether every thread is working on `generation` (or a later one).
    pub fn threads_on(&self, generation: u64) -> bool {
        self.on_generation
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
        self.on_generation.len()
    }

    /// Hashes computed so far by all threads.
    pub fn hashes(&self) -> u64 {
        self.handle.hashes()
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
        self.handle.stop();
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One mining thread and what it needs.
struct MiningThread {
    handle: MinerHandle,
    on_generation: Arc<Vec<AtomicU64>>,
    index: usize,
    nonces: RangeInclusive<u64>,
    found: mpsc::UnboundedSender<Block>,
    started: Instant,
}

impl MiningThread {
    /// Waits for work newer than the last, mines it until it is found,
    /// replaced or the range is used up, and repeats until the stop.
    fn run(self) {
        let config = MinerConfig {
            nonces: self.nonces.clone(),
            target_round_us: ROUND_US,
            ..MinerConfig::default()
        };
        let started = self.started;
        let clock_us = || started.elapsed().as_micros() as u64;
        let mut last_generation = 0;
        while let Some(assignment) = self.handle.next_assignment(last_generation) {
            last_generation = assignment.generation();
            self.on_generation[self.index].store(last_generation, Ordering::Release);
            match mine_blocking(&assignment.template, &assignment.job, &config, clock_us) {
                MineOutcome::Found { nonce, .. } => {
                    if self.found.send(assignment.block(nonce)).is_err() {
                        return;
                    }
                }
                // Replaced: the loop picks up the new work. Used up (2^64 /
                // threads nonces, never in practice): wait for new work.
                MineOutcome::Cancelled { .. } | MineOutcome::Exhausted => {}
            }
        }
    }
}
