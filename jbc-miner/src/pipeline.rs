//! Dispatches in flight: a ring of slots, each with its own parameter,
//! result and read-back buffers, so that the next dispatch is submitted
//! before the last one is read and the GPU never waits for the host's
//! round trip (submit, wait, map, read back).
//!
//! A [`Pipeline`] is the ring, locked for one user: [`Pipeline::submit`]
//! puts a dispatch into the next free slot and asks for its result buffer
//! to be mapped once the GPU is done; [`Pipeline::complete_oldest`] waits
//! for the oldest dispatch and reads what the shader left. Dispatches
//! complete in the order they were submitted (one queue), so reading the
//! oldest first never waits for a later one.

use std::collections::VecDeque;
use std::sync::{MutexGuard, mpsc};
use std::time::{Duration, Instant};

use jbc_core::pow::gpu::{self, Dispatch};

use crate::gpu_error::GpuMinerError;

/// Dispatches in flight by default: while the GPU runs one, the next is
/// queued behind it, so the host's round trip (wait, map, read back, submit
/// the next) overlaps the GPU's work. More would only add to what is thrown
/// away when the tip moves (every dispatch in flight is of the old job).
pub const PIPELINE_DEPTH: usize = 2;

/// How long one dispatch may take before it counts as a lost device.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The buffers of one dispatch and the bind group that names them.
pub(crate) struct Slot {
    bind_group: wgpu::BindGroup,
    uniform: wgpu::Buffer,
    result: wgpu::Buffer,
    readback: wgpu::Buffer,
}

impl Slot {
    /// The buffers of one dispatch of `pipeline`'s shader.
    pub(crate) fn new(device: &wgpu::Device, pipeline: &wgpu::ComputePipeline) -> Slot {
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: gpu::UNIFORM_BYTES as u64,
            // Storage, read-only in the shader (see jbc-core's gpu.wgsl).
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let result = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("best"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("best readback"),
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("jbc pow"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: result.as_entire_binding(),
                },
            ],
        });
        Slot {
            bind_group,
            uniform,
            result,
            readback,
        }
    }
}

/// The slots and the dispatches in flight in them, oldest first.
pub(crate) struct Ring {
    slots: Vec<Slot>,
    in_flight: VecDeque<InFlight>,
    /// The slot of the next submission: slots are used round-robin and
    /// freed in submission order, so it is free whenever one is.
    next_slot: usize,
}

impl Ring {
    /// A ring of `slots` (at least one).
    pub(crate) fn new(slots: Vec<Slot>) -> Ring {
        assert!(!slots.is_empty(), "a pipeline needs a slot");
        Ring {
            slots,
            in_flight: VecDeque::new(),
            next_slot: 0,
        }
    }
}

/// A dispatch submitted and not read yet.
struct InFlight {
    slot: usize,
    dispatch: Dispatch,
    tag: u64,
    submission: wgpu::SubmissionIndex,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    submitted: Instant,
}

/// A dispatch the GPU finished, with what its shader left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// The caller's tag given to [`Pipeline::submit`] (jbc-miner's loop
    /// passes the job's generation).
    pub tag: u64,
    /// The dispatch.
    pub dispatch: Dispatch,
    /// The `u32` the shader left: an offset into the dispatch, or
    /// [`gpu::NO_RESULT`]. Decode it with [`Dispatch::result`].
    pub best: u32,
    /// When it was submitted.
    pub submitted: Instant,
    /// When the host saw it complete.
    pub completed: Instant,
}

impl Completed {
    /// Nonces the dispatch tried: all of them, or up to its hit (an
    /// invocation stops at its first valid nonce).
    pub fn hashes(&self) -> u64 {
        if self.best == gpu::NO_RESULT {
            u64::from(self.dispatch.count())
        } else {
            u64::from(self.best.min(self.dispatch.count() - 1)) + 1
        }
    }
}

/// The device a [`Pipeline`] submits to: its queue and compiled shader.
pub(crate) struct Parts<'a> {
    /// The device.
    pub(crate) device: &'a wgpu::Device,
    /// Its queue.
    pub(crate) queue: &'a wgpu::Queue,
    /// The compute pipeline of jbc-core's shader.
    pub(crate) compute: &'a wgpu::ComputePipeline,
}

/// The GPU's ring of slots, held by one user (see the module docs). Made by
/// `GpuMiner::pipeline`; dispatches still in flight when it is dropped
/// are waited for and dropped by the next user.
pub struct Pipeline<'a> {
    gpu: Parts<'a>,
    ring: MutexGuard<'a, Ring>,
}

impl<'a> Pipeline<'a> {
    /// Takes the ring, waiting out what a previous user left in flight.
    pub(crate) fn new(
        gpu: Parts<'a>,
        ring: MutexGuard<'a, Ring>,
    ) -> Result<Pipeline<'a>, GpuMinerError> {
        let mut pipeline = Pipeline { gpu, ring };
        while pipeline.complete_oldest()?.is_some() {}
        Ok(pipeline)
    }

    /// How many dispatches may be in flight at once.
    pub fn depth(&self) -> usize {
        self.ring.slots.len()
    }

    /// How many are in flight now.
    pub fn in_flight(&self) -> usize {
        self.ring.in_flight.len()
    }

    /// Whether [`Pipeline::submit`] must wait for [`Pipeline::complete_oldest`].
    pub fn is_full(&self) -> bool {
        self.in_flight() >= self.depth()
    }

    /// Submits `dispatch` with its `uniform` into the next slot, marked
    /// with `tag`, without waiting for anything. An error when the
    /// pipeline [is full](Pipeline::is_full).
    pub fn submit(
        &mut self,
        dispatch: &Dispatch,
        uniform: &[u8; gpu::UNIFORM_BYTES],
        tag: u64,
    ) -> Result<(), GpuMinerError> {
        if self.is_full() {
            return Err(GpuMinerError::PipelineFull(self.depth()));
        }
        let Parts {
            device,
            queue,
            compute,
        } = self.gpu;
        let ring = &mut *self.ring;
        let index = ring.next_slot;
        let slot = &ring.slots[index];
        // Both writes land before this submission's commands run, and after
        // those of every earlier submission (the slot's previous dispatch
        // was read already).
        queue.write_buffer(&slot.uniform, 0, uniform);
        queue.write_buffer(&slot.result, 0, &gpu::NO_RESULT.to_le_bytes());
        let mut encoder =
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            pass.set_pipeline(compute);
            pass.set_bind_group(0, &slot.bind_group, &[]);
            pass.dispatch_workgroups(dispatch.workgroups(), 1, 1);
        }
        encoder.copy_buffer_to_buffer(&slot.result, 0, &slot.readback, 0, 4);
        let submitted = Instant::now();
        let submission = queue.submit([encoder.finish()]);
        // Mapped once the GPU is done with this submission; the callback
        // runs in a later `poll`.
        let (sender, mapped) = mpsc::channel();
        slot.readback
            .map_async(wgpu::MapMode::Read, .., move |result| {
                let _ = sender.send(result);
            });
        ring.in_flight.push_back(InFlight {
            slot: index,
            dispatch: *dispatch,
            tag,
            submission,
            mapped,
            submitted,
        });
        ring.next_slot = (index + 1) % ring.slots.len();
        Ok(())
    }

    /// Waits for the oldest dispatch in flight and reads its result; `None`
    /// when none is in flight.
    pub fn complete_oldest(&mut self) -> Result<Option<Completed>, GpuMinerError> {
        let Some(oldest) = self.ring.in_flight.pop_front() else {
            return Ok(None);
        };
        let device = self.gpu.device;
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(oldest.submission),
                timeout: Some(DISPATCH_TIMEOUT),
            })
            .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
        let completed = Instant::now();
        oldest
            .mapped
            .recv_timeout(DISPATCH_TIMEOUT)
            .map_err(|_| GpuMinerError::Dispatch("the result buffer was never mapped".into()))?
            .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
        let readback = &self.ring.slots[oldest.slot].readback;
        let best = {
            let view = readback
                .get_mapped_range(..)
                .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
            u32::from_le_bytes([view[0], view[1], view[2], view[3]])
        };
        readback.unmap();
        Ok(Some(Completed {
            tag: oldest.tag,
            dispatch: oldest.dispatch,
            best,
            submitted: oldest.submitted,
            completed,
        }))
    }
}
