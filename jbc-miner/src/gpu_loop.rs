//! The GPU thread's mining loop: keeps the [`Pipeline`] full of dispatches
//! of the current [`Assignment`], reads them oldest first, and sends a hit
//! only when its assignment is still the current one.
//!
//! - **A new tip switches at once**: every submission re-reads the
//!   [`MinerHandle`]'s generation, so the next dispatch after a new
//!   assignment is published is on it. The dispatches of the old one that
//!   are already in flight run out
//!   (the GPU cannot take them back) and are read and discarded: a result
//!   whose generation is not the current one is never sent, so no block is
//!   built on an old tip.
//! - **Sizing by measurement**: the GPU's time on a dispatch is from when it
//!   could start (its submission, or the previous completion when it was
//!   queued behind one) to its completion; over at least two target times
//!   of such dispatches, the pacer sizes the next ones to the target
//!   time at the measured rate (jbc-core's [`RoundPacer`], at most ×2 a
//!   step). The pacer is kept across assignments, so the size keeps
//!   adapting as the tip moves.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jbc_core::pow::gpu::{Dispatch, MAX_DISPATCH_NONCES};
use jbc_core::{Assignment, MinerHandle, RoundPacer, RoundResult};
use tokio::sync::mpsc::UnboundedSender;

use crate::found::{Counters, Device, Found};
use crate::gpu::{GpuMiner, GpuMinerError};
use crate::pipeline::Pipeline;

/// Dispatches start this small and grow (at most ×2 a measurement) to the
/// target time.
const MIN_DISPATCH_NONCES: u64 = 1 << 12;

/// The GPU mining loop on one [`GpuMiner`] (see the module docs).
pub struct GpuLoop<'a> {
    pipeline: Pipeline<'a>,
    lane: u64,
    pacer: RoundPacer,
    /// The assignment being submitted, and the next nonce of its lane.
    job: Option<(Arc<Assignment>, u64)>,
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
            pacer: RoundPacer::new(
                dispatch_target.as_micros() as u64,
                MIN_DISPATCH_NONCES,
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
        let min = min.clamp(1, max);
        self.pacer = RoundPacer::new(self.pacer.target_us(), min, min, max);
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

    /// Submits dispatches of the handle's current assignment until the
    /// pipeline is full (none when there is none, or its block was found
    /// here).
    pub fn fill(&mut self, handle: &MinerHandle) -> Result<(), GpuMinerError> {
        let generation = handle.generation();
        if self.job.as_ref().map(|(job, _)| job.generation()) != Some(generation) {
            let found = self.found_generation;
            self.job = handle
                .current()
                .filter(|job| Some(job.generation()) != found)
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
            self.pipeline.submit(
                &dispatch,
                &dispatch.uniform(&job.template),
                job.generation(),
            )?;
            // At the top of the nonce space, wrap around to 0.
            *nonce = dispatch.last().checked_add(1).unwrap_or(0);
        }
        Ok(())
    }

    /// Waits for the oldest dispatch and counts its hashes. Returns a
    /// [`Found`] when it holds a valid nonce of the assignment that is still
    /// the handle's current one; `None` otherwise (nothing found, nothing in
    /// flight, or a result of a replaced assignment, which is discarded).
    pub fn complete(
        &mut self,
        handle: &MinerHandle,
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
        if self.window.1 >= 2 * Duration::from_micros(self.pacer.target_us()) {
            let elapsed_us = u64::try_from(self.window.1.as_micros()).unwrap_or(u64::MAX);
            self.pacer.observe(self.window.0, elapsed_us);
            self.window = (0, Duration::ZERO);
        }
        let hashes = done.hashes();
        counters.gpu_hashes.fetch_add(hashes, Ordering::Relaxed);
        let job = self
            .job
            .as_ref()
            .map(|(job, _)| job)
            .filter(|job| job.generation() == done.tag && handle.generation() == done.tag);
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

    /// Mines until [`MinerHandle::stop`], sending every hit to `found`.
    pub fn run(
        &mut self,
        handle: &MinerHandle,
        counters: &Counters,
        found: &UnboundedSender<Found>,
    ) -> Result<(), GpuMinerError> {
        while !handle.is_stopped() {
            self.fill(handle)?;
            if self.in_flight() == 0 {
                // No job, or only the one whose block was found: wait for
                // another (`fill` takes it).
                if handle
                    .next_assignment(self.found_generation.unwrap_or(0))
                    .is_none()
                {
                    break;
                }
                continue;
            }
            if let Some(hit) = self.complete(handle, counters)? {
                let _ = found.send(hit);
            }
        }
        // What is still in flight is waited out when the pipeline is
        // taken next (or dropped with the device).
        Ok(())
    }
}
