//! The work shared by the mining threads: the current [`Job`] under one
//! lock, a generation number the threads check between rounds, and the
//! [`Pacer`] that sizes rounds to a target duration.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use jbc_core::{Block, Candidate, pow::Template};

/// One block to mine: the candidate (nonce 0) and its template.
#[derive(Debug)]
pub struct Job {
    /// The generation this job was published with.
    pub generation: u64,
    /// The header and data.
    pub candidate: Candidate,
    /// The midstate template of the header.
    pub template: Template,
    /// Where the nonce ranges of this job begin (random per job).
    pub base_nonce: u64,
}

/// Nonce lanes are `2^56` apart: lane `i` starts at `base + i * 2^56`.
pub const LANE_STRIDE: u64 = 1 << 56;

impl Job {
    /// Where the nonces of lane `lane` begin in this job (each mining
    /// thread has its own lane, so no two try the same nonce).
    pub fn lane_start(&self, lane: u64) -> u64 {
        self.base_nonce.wrapping_add(lane.wrapping_mul(LANE_STRIDE))
    }

    /// The block with `nonce`.
    pub fn block(&self, nonce: u64) -> Block {
        self.candidate.block(nonce)
    }
}

/// What the mining threads are told to do.
#[derive(Debug, Default)]
struct WorkState {
    /// The job to mine; `None` while there is none (no tip yet, or the
    /// job's block was just found).
    job: Option<Arc<Job>>,
    /// Every thread returns.
    stop: bool,
}

/// The current job, shared by the coordinator (which publishes) and the
/// mining threads (which take it). One lock guards the state; the
/// generation is a copy outside the lock so that threads can notice a
/// change between rounds without locking.
#[derive(Debug, Default)]
pub struct Work {
    state: Mutex<WorkState>,
    changed: Condvar,
    generation: AtomicU64,
}

impl Work {
    fn lock(&self) -> MutexGuard<'_, WorkState> {
        // A thread that panicked holding the lock left a consistent state
        // (every write is a single assignment).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation of the current job (changes with every publish,
    /// clear and stop).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self, state: &mut WorkState, job: Option<(Candidate, u64)>) -> u64 {
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        state.job = job.map(|(candidate, base_nonce)| {
            Arc::new(Job {
                generation,
                template: candidate.template(),
                candidate,
                base_nonce,
            })
        });
        self.generation.store(generation, Ordering::Release);
        self.changed.notify_all();
        generation
    }

    /// Makes `candidate` the job of every thread; returns its generation.
    pub fn publish(&self, candidate: Candidate, base_nonce: u64) -> u64 {
        let mut state = self.lock();
        self.bump(&mut state, Some((candidate, base_nonce)))
    }

    /// Takes the job away (its block was found) if it is still `generation`.
    pub fn clear(&self, generation: u64) {
        let mut state = self.lock();
        if state
            .job
            .as_ref()
            .is_some_and(|j| j.generation == generation)
        {
            self.bump(&mut state, None);
        }
    }

    /// Tells every thread to return.
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stop = true;
        self.bump(&mut state, None);
    }

    /// Whether [`Work::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.lock().stop
    }

    /// The current job, if any.
    pub fn current(&self) -> Option<Arc<Job>> {
        self.lock().job.clone()
    }

    /// Blocks until there is a job of a generation other than `seen`, or a
    /// stop (`None`).
    pub fn next_job(&self, seen: u64) -> Option<Arc<Job>> {
        let mut state = self.lock();
        loop {
            if state.stop {
                return None;
            }
            if let Some(job) = &state.job
                && job.generation != seen
            {
                return Some(job.clone());
            }
            // Bounded wait: re-checks at least every 100 ms.
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Sizes rounds so that one takes about `target`: after each round the next
/// size is the measured rate times `target`, at most ×4 or ÷4 of the
/// current size at once, within `[min, max]`.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    size: u64,
    min: u64,
    max: u64,
    target: Duration,
}

impl Pacer {
    /// A pacer starting at `min` nonces per round.
    pub fn new(target: Duration, min: u64, max: u64) -> Pacer {
        Pacer {
            size: min,
            min,
            max,
            target,
        }
    }

    /// Nonces in the next round.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The target duration of a round.
    pub fn target(&self) -> Duration {
        self.target
    }

    /// Records that a round of [`Pacer::size`] nonces took `elapsed`.
    pub fn record(&mut self, elapsed: Duration) {
        self.record_nonces(self.size, elapsed);
    }

    /// Records that a round of `nonces` took `elapsed`: for rounds sized
    /// before the last change of size (dispatches that were in flight).
    pub fn record_nonces(&mut self, nonces: u64, elapsed: Duration) {
        let elapsed = elapsed.as_secs_f64().max(1e-6);
        let wanted = nonces as f64 * self.target.as_secs_f64() / elapsed;
        let size = self.size as f64;
        self.size = (wanted.clamp(size * 0.25, size * 4.0) as u64).clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_moves_towards_the_target_within_bounds() {
        let mut p = Pacer::new(Duration::from_millis(10), 100, 10_000);
        p.record(Duration::from_millis(1));
        assert_eq!(p.size(), 400);
        p.record(Duration::from_millis(20));
        assert_eq!(p.size(), 200);
        for _ in 0..20 {
            p.record(Duration::from_micros(1));
        }
        assert_eq!(p.size(), 10_000);
    }

    #[test]
    fn a_round_of_another_size_is_measured_by_its_own_size() {
        let mut p = Pacer::new(Duration::from_millis(10), 100, 1 << 20);
        p.record_nonces(300, Duration::from_millis(10));
        assert_eq!(p.size(), 300);
        // 600 nonces in 5 ms: 1200 in the target, but at most ×4 at once.
        p.record_nonces(600, Duration::from_millis(5));
        assert_eq!(p.size(), 1200);
        p.record_nonces(100_000, Duration::from_millis(1));
        assert_eq!(p.size(), 4800);
    }

    #[test]
    fn clear_only_takes_away_the_job_it_names() {
        let work = Work::default();
        let candidate = Candidate {
            header: jbc_core::Header {
                index: 1,
                timestamp_ms: 1,
                difficulty: 1,
                prev_hash: jbc_core::BlockHash::ZERO,
                data_hash: jbc_core::BlockHash::ZERO,
                nonce: 0,
            },
            data: String::new(),
        };
        let first = work.publish(candidate.clone(), 0);
        let second = work.publish(candidate, 0);
        work.clear(first);
        assert_eq!(work.next_job(0).map(|j| j.generation), Some(second));
        work.clear(second);
        work.stop();
        assert!(work.next_job(0).is_none());
        assert!(work.stopped());
    }
}
