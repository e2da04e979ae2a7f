//! The GPU path: jbc-core's WGSL shader ([`jbc_core::pow::gpu::SHADER`])
//! run through wgpu (Vulkan), with jbc-core's host-side preparation and
//! result decoding, with several dispatches in flight ([`Pipeline`]).
//! [`GpuMiner::mine_round`] returns exactly what [`jbc_core::mine_round`]
//! returns.

use std::sync::Mutex;

use jbc_core::RoundResult;
use jbc_core::pow::Template;
use jbc_core::pow::gpu::{self, Dispatch};

use crate::pipeline::{PIPELINE_DEPTH, Parts, Pipeline, Ring, Slot};

pub use crate::gpu_error::GpuMinerError;

/// What the adapter is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` for lavapipe.
    pub name: String,
    /// The backend, e.g. `vulkan`.
    pub backend: String,
    /// Whether this is a software adapter running on the CPU (lavapipe,
    /// SwiftShader): its hash rate says nothing about a real GPU.
    pub software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.name, self.backend)?;
        if self.software {
            f.write_str(", software adapter on the CPU")?;
        }
        f.write_str(")")
    }
}

/// A wgpu device with the mining pipeline and a ring of dispatch slots
/// ([`Pipeline`]).
pub struct GpuMiner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    /// One user of the slots at a time (a miner shared between threads
    /// serialises its pipelines here).
    ring: Mutex<Ring>,
    adapter: AdapterSummary,
}

impl GpuMiner {
    /// The first adapter wgpu offers (preferring a high-performance one),
    /// with the shader compiled and [`PIPELINE_DEPTH`] dispatch slots.
    pub fn new() -> Result<GpuMiner, GpuMinerError> {
        Self::with_depth(PIPELINE_DEPTH)
    }

    /// [`GpuMiner::new`] with `depth` dispatch slots (at least 1; 1 runs
    /// one dispatch at a time).
    pub fn with_depth(depth: usize) -> Result<GpuMiner, GpuMinerError> {
        pollster::block_on(Self::new_async(depth.max(1)))
    }

    async fn new_async(depth: usize) -> Result<GpuMiner, GpuMinerError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN;
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuMinerError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_string(),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("jbc-miner"),
                required_limits: wgpu::Limits::downlevel_defaults(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuMinerError::NoDevice {
                adapter: summary.name.clone(),
                reason: e.to_string(),
            })?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("jbc pow"),
            source: wgpu::ShaderSource::Wgsl(gpu::SHADER.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("jbc pow"),
            layout: None,
            module: &module,
            entry_point: Some(gpu::ENTRY_POINT),
            compilation_options: Default::default(),
            cache: None,
        });
        let slots = (0..depth).map(|_| Slot::new(&device, &pipeline)).collect();
        Ok(GpuMiner {
            device,
            queue,
            pipeline,
            ring: Mutex::new(Ring::new(slots)),
            adapter: summary,
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// The ring of dispatch slots, for this caller alone until the
    /// [`Pipeline`] is dropped (other callers wait).
    pub fn pipeline(&self) -> Result<Pipeline<'_>, GpuMinerError> {
        // A thread that panicked with the ring left dispatches in flight,
        // which `Pipeline::new` waits out.
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let parts = Parts {
            device: &self.device,
            queue: &self.queue,
            compute: &self.pipeline,
        };
        Pipeline::new(parts, ring)
    }

    /// Runs one dispatch alone and returns the `u32` the shader left in the
    /// result buffer (an offset into the dispatch, or [`gpu::NO_RESULT`]).
    pub fn run_dispatch(
        &self,
        dispatch: &Dispatch,
        uniform: &[u8; gpu::UNIFORM_BYTES],
    ) -> Result<u32, GpuMinerError> {
        let mut pipeline = self.pipeline()?;
        pipeline.submit(dispatch, uniform, 0)?;
        match pipeline.complete_oldest()? {
            Some(completed) => Ok(completed.best),
            None => Err(GpuMinerError::Dispatch("the dispatch went missing".into())),
        }
    }

    /// [`jbc_core::mine_round`] on the GPU, in dispatches of at most
    /// `max_dispatch_nonces`, with up to [`Pipeline::depth`] of them in
    /// flight: the same result for the same arguments. Dispatches are read
    /// in nonce order, so the first hit is the lowest valid nonce.
    pub fn mine_round(
        &self,
        template: &Template,
        start_nonce: u64,
        rounds: u64,
        max_dispatch_nonces: u32,
    ) -> Result<RoundResult, GpuMinerError> {
        let mut pipeline = self.pipeline()?;
        let mut plan = DispatchPlan::new(start_nonce, rounds, max_dispatch_nonces);
        let mut last = RoundResult::Exhausted {
            next_nonce: Some(start_nonce),
        };
        loop {
            while !pipeline.is_full()
                && let Some(dispatch) = plan.next()
            {
                pipeline.submit(&dispatch, &dispatch.uniform(template), 0)?;
            }
            // Empty: the range is done (or was empty).
            let Some(completed) = pipeline.complete_oldest()? else {
                return Ok(last);
            };
            last = completed.dispatch.result(template, completed.best)?;
            if matches!(last, RoundResult::Found { .. }) {
                // Later dispatches are waited out by the next user.
                return Ok(last);
            }
        }
    }
}

/// The dispatches that cover `[start, start + rounds)` (never past
/// `u64::MAX`), each at most `max` nonces long, in nonce order.
#[derive(Debug, Clone)]
pub struct DispatchPlan {
    next: u64,
    /// The last nonce of the range; `None` once it is covered (or empty).
    last: Option<u64>,
    max: u32,
}

impl DispatchPlan {
    /// The plan of `[start, start + rounds)` in dispatches of at most `max`
    /// (at least 1) nonces.
    pub fn new(start: u64, rounds: u64, max: u32) -> DispatchPlan {
        let last = rounds
            .checked_sub(1)
            .map(|extra| start.saturating_add(extra));
        DispatchPlan {
            next: start,
            last,
            max: max.max(1),
        }
    }
}

impl Iterator for DispatchPlan {
    type Item = Dispatch;

    fn next(&mut self) -> Option<Dispatch> {
        let last = self.last?;
        let left = (last - self.next).saturating_add(1);
        let dispatch = Dispatch::first(self.next, left, self.max)?;
        match dispatch.last().checked_add(1) {
            Some(next) if dispatch.last() < last => self.next = next,
            _ => self.last = None,
        }
        Some(dispatch)
    }
}
