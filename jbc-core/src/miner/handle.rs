//! The mining coordinator: [`MinerHandle`] (the generation every miner
//! checks, the hash counters and, with `std`, the slot of the current
//! [`Assignment`]) and [`Job`], one generation of work.
//!
//! jbc-node's mining threads and jbc-miner's CPU and GPU threads all take
//! their work from one handle: the driver [`publish`](MinerHandle::publish)es
//! an [`Assignment`] (the candidate block, its template, where the nonce
//! lanes begin), every thread waits for one newer than the last it mined
//! ([`next_assignment`](MinerHandle::next_assignment)), mines it until its
//! [`Job`] goes stale, and starts over.

use alloc::sync::Arc;
use core::ops::RangeInclusive;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::block::Block;
use crate::chain::Candidate;
use crate::pow::Template;

#[derive(Debug, Default)]
struct Shared {
    generation: AtomicU64,
    hashes: AtomicU64,
    rounds: AtomicU64,
    /// The current assignment: one lock over the slot, and a condition
    /// variable that wakes the threads waiting for a new one.
    #[cfg(feature = "std")]
    slot: std::sync::Mutex<Slot>,
    #[cfg(feature = "std")]
    changed: std::sync::Condvar,
}

/// What the mining threads are told to do.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
struct Slot {
    /// The block to mine; `None` before the first, or once withdrawn.
    assignment: Option<Arc<Assignment>>,
    /// Every thread returns.
    stopped: bool,
}

/// Controls the miners that share it: starts generations of work, cancels
/// them, and counts what they did; with `std`, also holds the current
/// [`Assignment`] for mining threads. Cheap to clone (an `Arc`); `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct MinerHandle {
    shared: Arc<Shared>,
}

impl MinerHandle {
    /// A handle with no current job.
    pub fn new() -> MinerHandle {
        MinerHandle::default()
    }

    /// Starts a new generation of work and returns its job: every earlier
    /// job becomes stale, so miners working on an older template stop
    /// within one round. Clone the job for each task or thread that mines
    /// the new template.
    pub fn new_job(&self) -> Job {
        let generation = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        Job {
            handle: self.clone(),
            generation,
        }
    }

    /// Makes every job stale: miners stop within one round.
    pub fn cancel(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The current generation (0 before the first job).
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Nonces tried by all jobs of this handle so far. Sample it twice to
    /// get a hash rate: `hashes_per_sec = Δhashes × 10^6 / Δµs`.
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.load(Ordering::Relaxed)
    }

    /// Rounds completed by all jobs of this handle so far.
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
    }
}

#[cfg(feature = "std")]
impl MinerHandle {
    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        // A thread that panicked holding the lock left a consistent slot
        // (every write is a single assignment).
        self.shared.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `candidate` every thread's block to mine, in a new generation
    /// (so every thread drops the old one within one round), with nonce
    /// lanes from `base_nonce` (see [`Assignment::lane`]); returns the
    /// generation.
    pub fn publish(&self, candidate: Candidate, base_nonce: u64) -> u64 {
        let template = candidate.template();
        let mut slot = self.slot();
        let job = self.new_job();
        let generation = job.generation();
        slot.assignment = Some(Arc::new(Assignment {
            job,
            candidate,
            template,
            base_nonce,
        }));
        drop(slot);
        self.shared.changed.notify_all();
        generation
    }

    /// The current assignment, if any (it may be stale: compare its
    /// generation with [`MinerHandle::generation`]).
    pub fn current(&self) -> Option<Arc<Assignment>> {
        self.slot().assignment.clone()
    }

    /// Takes the assignment of `generation` away (its block was found), so
    /// that every thread stops mining it; nothing when a newer one was
    /// published meanwhile.
    pub fn withdraw(&self, generation: u64) {
        let mut slot = self.slot();
        if slot
            .assignment
            .as_ref()
            .is_some_and(|a| a.job.generation() == generation)
        {
            slot.assignment = None;
            self.cancel();
        }
    }

    /// Tells every thread to return: those mining stop within one round,
    /// those waiting in [`MinerHandle::next_assignment`] get `None`.
    pub fn stop(&self) {
        let mut slot = self.slot();
        slot.stopped = true;
        slot.assignment = None;
        self.cancel();
        drop(slot);
        self.shared.changed.notify_all();
    }

    /// Whether [`MinerHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.slot().stopped
    }

    /// Blocks until there is an assignment of a generation after `seen`
    /// (0: any), or a stop (`None`). The wait re-checks at least every
    /// 100 ms, so a missed wake-up costs at most that.
    pub fn next_assignment(&self, seen: u64) -> Option<Arc<Assignment>> {
        let mut slot = self.slot();
        loop {
            if slot.stopped {
                return None;
            }
            if let Some(assignment) = &slot.assignment
                && assignment.job.generation() > seen
            {
                return Some(assignment.clone());
            }
            slot = self
                .shared
                .changed
                .wait_timeout(slot, std::time::Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// One generation of work, handed to every miner of the current template.
#[derive(Debug, Clone)]
pub struct Job {
    handle: MinerHandle,
    generation: u64,
}

impl Job {
    /// Whether no newer job was started and no cancel happened since.
    pub fn is_current(&self) -> bool {
        self.handle.generation() == self.generation
    }

    /// This job's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The handle this job belongs to.
    pub fn handle(&self) -> &MinerHandle {
        &self.handle
    }

    /// Adds one round of `hashes` nonces to the handle's counters. The
    /// miners of this module do it themselves; a caller running its own
    /// loop over [`mine_round`](crate::pow::mine_round) calls it to keep
    /// the counts right.
    pub fn record_round(&self, hashes: u64) {
        let shared = &self.handle.shared;
        shared.hashes.fetch_add(hashes, Ordering::Relaxed);
        shared.rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// Nonce lanes of an [`Assignment`] are `2^56` apart: lane `i` begins at
/// `base_nonce + i × 2^56`.
pub const LANE_STRIDE: u64 = 1 << 56;

/// A block to mine for one generation: what [`MinerHandle::publish`] hands
/// to every mining thread.
#[derive(Debug)]
pub struct Assignment {
    /// Its generation: stale once another assignment is published, or on a
    /// cancel.
    pub job: Job,
    /// The header (nonce 0) and data.
    pub candidate: Candidate,
    /// The midstate template of the header.
    pub template: Template,
    /// Where the nonce lanes begin (see [`Assignment::lane`]).
    pub base_nonce: u64,
}

impl Assignment {
    /// Its generation.
    pub fn generation(&self) -> u64 {
        self.job.generation()
    }

    /// The first nonce of lane `lane`: `base_nonce + lane × 2^56`, wrapping
    /// at the top of the nonce space.
    pub fn lane_start(&self, lane: u64) -> u64 {
        self.base_nonce.wrapping_add(lane.wrapping_mul(LANE_STRIDE))
    }

    /// The nonces of lane `lane`: [`LANE_STRIDE`] of them from
    /// [`Assignment::lane_start`], cut at `u64::MAX`. Each thread mines its
    /// own lane, so no two try the same nonce; with `base_nonce < 2^56`,
    /// lanes `0..255` are whole, and lanes `0..256` disjoint.
    pub fn lane(&self, lane: u64) -> RangeInclusive<u64> {
        let start = self.lane_start(lane);
        start..=start.saturating_add(LANE_STRIDE - 1)
    }

    /// The block with `nonce`.
    pub fn block(&self, nonce: u64) -> Block {
        self.candidate.block(nonce)
    }
}
