//! The GPU thread's mining loop: keeps the [`Pipeline`] full of dispatches
//! of the current job, reads them oldest first, and sends a hit only when
//! its job is still the current one.
//!
//! - **A new tip switches at once**: every submission re-reads the work's
//!   generation, so the next dispatch after a new job is published is on
//!   it. The dispatches of the old job that are already in flight run out
//!   (the GPU cannot take them back) and are read and discarded: a result
//!   whose generation is not the current one is never sent, so no block is
//!   built on an old tip.
//! - **Sizing by measurement**: the GPU's time on a dispatch is from when it
//!   could start (its submission, or the previous completion when it was
//!   queued behind one) to its completion; over at least two target times
//!   of such dispatches, the [`Pacer`] sizes the next ones to the target
//!   time at the measured rate. The pacer is kept across jobs, so the size
//!   keeps adapting as the tip moves.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jbc_core::RoundResult;
use jbc_core::pow::gpu::{Dispatch, MAX_DISPATCH_NONCES};
use tokio::sync::mpsc::UnboundedSender;

use crate::found::{Counters, Device, Found};
use crate::gpu::{GpuMiner, GpuMinerError};
use crate::pipeline::Pipeline;
use crate::work::{Job, Pacer, Work};

/// Dispatches start this small and grow (at most ×4 a dispatch) to the
/// target time.
const MIN_DISPATCH_NONCES: u64 = 1 << 12;

/// The GPU mining loop on one [`GpuMiner`] (see the module docs).
pub struct GpuLoop<'a> {
    pipeline: Pipeline<'a>,
    lane: u64,
    pacer: Pacer,
    /// The job being submitted, and the next nonce of its lane.
    job: Option<(Arc<Job>, u64)>,
    /// The generation whose block this loop found: nothing more is
    /// submitted for it.
    found_generation: Option<u64>,
    /// When the previous dispatch completed.
    last_completed: Option<Instant>,
    /// Nonces and GPU time of the dispatches completed since the pacer
    /// last recorded: completions are seen in bursts (one wait can return
    /// after several finished), so single intervals are noisy.
    window: (u64, Duration),
}

impl<'a> GpuLoop<'a> {
    /// A loop mining nonce lane `lane` of each job on `gpu`, with
    /// dispatches sized to take about `dispatch_target`.
    pub fn new(
        gpu: &'a GpuMiner,
        lane: u64,
        dispatch_target: Duration,
    ) -> Result<GpuLoop<'a>, GpuMinerError> {
        Ok(GpuLoop {
            pipeline: gpu.pipeline()?,
            lane,
            pacer: Pacer::new(
                dispatch_target,
                MIN_DISPATCH_NONCES,
                u64::from(MAX_DISPATCH_NONCES),
            ),
            job: None,
            found_generation: None,
            last_completed: None,
            window: (0, Duration::ZERO),
        })
    }

    /// The same loop with dispatches of `min..=max` nonces (clamped to
    /// `1..=`[`MAX_DISPATCH_NONCES`]); tests use tiny ones to cross many
    /// dispatch boundaries.
    pub fn with_dispatch_sizes(mut self, min: u64, max: u64) -> GpuLoop<'a> {
        let max = max.clamp(1, u64::from(MAX_DISPATCH_NONCES));
        self.pacer = Pacer::new(self.pacer.target(), min.clamp(1, max), max);
        self
    }

    /// Dispatches in flight.
    pub fn in_flight(&self) -> usize {
        self.pipeline.in_flight()
    }

    /// Nonces in the next dispatch.
    pub fn dispatch_nonces(&self) -> u64 {
        self.pacer.size()
    }

    /// Submits dispatches of the work's current job until the pipeline is
    /// full (none when there is no job, or its block was found here).
    pub fn fill(&mut self, work: &Work) -> Result<(), GpuMinerError> {
        let generation = work.generation();
        if self.job.as_ref().map(|(job, _)| job.generation) != Some(generation) {
            let found = self.found_generation;
            self.job = work
                .current()
                .filter(|job| Some(job.generation) != found)
                .map(|job| {
                    let start = job.lane_start(self.lane);
                    (job, start)
                });
        }
        while !self.pipeline.is_full() {
            let Some((job, nonce)) = &mut self.job else {
                break;
            };
            // A power of two: a driver that specialises the shader on the
            // values of its uniform (lavapipe compiles a variant for each
            // new dispatch size, several milliseconds and some memory each)
            // sees a handful of sizes, not a new one after every measurement.
            // The pacer's maximum is MAX_DISPATCH_NONCES: the size fits a u32.
            let size = 1u64 << self.pacer.size().ilog2();
            let Some(dispatch) = Dispatch::new(*nonce, size as u32) else {
                break;
            };
            self.pipeline
                .submit(&dispatch, &dispatch.uniform(&job.template), job.generation)?;
            // At the top of the nonce space, wrap around to 0.
            *nonce = dispatch.last().checked_add(1).unwrap_or(0);
        }
        Ok(())
    }

    /// Waits for the oldest dispatch and counts its hashes. Returns a
    /// [`Found`] when it holds a valid nonce of the job that is still the
    /// work's current one; `None` otherwise (nothing found, nothing in
    /// flight, or a result of a replaced job, which is discarded).
    pub fn complete(
        &mut self,
        work: &Work,
        counters: &Counters,
    ) -> Result<Option<Found>, GpuMinerError> {
        let Some(done) = self.pipeline.complete_oldest()? else {
            return Ok(None);
        };
        let began = self
            .last_completed
            .map_or(done.submitted, |previous| previous.max(done.submitted));
        self.last_completed = Some(done.completed);
        self.window.0 += u64::from(done.dispatch.count());
        self.window.1 += done.completed.saturating_duration_since(began);
        if self.window.1 >= 2 * self.pacer.target() {
            self.pacer.record_nonces(self.window.0, self.window.1);
            self.window = (0, Duration::ZERO);
        }
        let hashes = done.hashes();
        counters.gpu_hashes.fetch_add(hashes, Ordering::Relaxed);
        let job = self
            .job
            .as_ref()
            .map(|(job, _)| job)
            .filter(|job| job.generation == done.tag && work.generation() == done.tag);
        let Some(job) = job else {
            counters
                .gpu_stale_hashes
                .fetch_add(hashes, Ordering::Relaxed);
            return Ok(None);
        };
        match done.dispatch.result(&job.template, done.best)? {
            RoundResult::Found { nonce, .. } => {
                self.found_generation = Some(done.tag);
                self.job = None;
                Ok(Some(Found {
                    generation: done.tag,
                    nonce,
                    device: Device::Gpu,
                }))
            }
            RoundResult::Exhausted { .. } => Ok(None),
        }
    }

    /// Mines until [`Work::stop`], sending every hit to `found`.
    pub fn run(
        &mut self,
        work: &Work,
        counters: &Counters,
        found: &UnboundedSender<Found>,
    ) -> Result<(), GpuMinerError> {
        while !work.stopped() {
            self.fill(work)?;
            if self.in_flight() == 0 {
                // No job, or only the one whose block was found: wait for
                // another (`fill` takes it).
                if work.next_job(self.found_generation.unwrap_or(0)).is_none() {
                    break;
                }
                continue;
            }
            if let Some(hit) = self.complete(work, counters)? {
                let _ = found.send(hit);
            }
        }
        // What is still in flight is waited out when the pipeline is
        // taken next (or dropped with the device).
        Ok(())
    }
}
