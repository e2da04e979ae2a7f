//! The GPU path: jbc-core's WGSL shader ([`jbc_core::pow::gpu::SHADER`])
//! run through wgpu (Vulkan), with jbc-core's host-side preparation and
//! result decoding. [`GpuMiner::mine_round`] returns exactly what
//! [`jbc_core::mine_round`] returns.

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use jbc_core::RoundResult;
use jbc_core::pow::Template;
use jbc_core::pow::gpu::{self, Dispatch, GpuError};

/// Why no GPU can be used, or a dispatch failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuMinerError {
    /// wgpu found no adapter (no Vulkan driver: on Debian, `apt-get install
    /// mesa-vulkan-drivers` gives lavapipe, a software one).
    #[error(
        "no GPU adapter found ({0}); on Debian `apt-get install mesa-vulkan-drivers` provides lavapipe, a software Vulkan adapter"
    )]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("the GPU adapter {adapter} refused a device: {reason}")]
    NoDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error.
        reason: String,
    },
    /// Mapping the result buffer or waiting for the GPU failed.
    #[error("GPU dispatch failed: {0}")]
    Dispatch(String),
    /// The GPU's answer is not a possible answer of the shader.
    #[error(transparent)]
    BadResult(#[from] GpuError),
}

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

/// A wgpu device with the mining pipeline and its buffers.
pub struct GpuMiner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    /// One dispatch at a time uses the buffers (a miner shared between
    /// threads serialises its dispatches here).
    buffers: Mutex<Buffers>,
    adapter: AdapterSummary,
}

/// The buffers of one dispatch and the bind group that names them.
struct Buffers {
    bind_group: wgpu::BindGroup,
    uniform: wgpu::Buffer,
    result: wgpu::Buffer,
    readback: wgpu::Buffer,
}

/// How long one dispatch may take before it counts as a lost device.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(60);

impl GpuMiner {
    /// The first adapter wgpu offers (preferring a high-performance one),
    /// with the shader compiled.
    pub fn new() -> Result<GpuMiner, GpuMinerError> {
        pollster::block_on(Self::new_async())
    }

    async fn new_async() -> Result<GpuMiner, GpuMinerError> {
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
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: gpu::UNIFORM_BYTES as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
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
        Ok(GpuMiner {
            device,
            queue,
            pipeline,
            buffers: Mutex::new(Buffers {
                bind_group,
                uniform,
                result,
                readback,
            }),
            adapter: summary,
        })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// Runs one dispatch and returns the `u32` the shader left in the
    /// result buffer (an offset into the dispatch, or
    /// [`gpu::NO_RESULT`]).
    pub fn run_dispatch(
        &self,
        dispatch: &Dispatch,
        uniform: &[u8; gpu::UNIFORM_BYTES],
    ) -> Result<u32, GpuMinerError> {
        // A thread that panicked mid-dispatch leaves buffers that the next
        // dispatch overwrites anyway.
        let buffers = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
        let Buffers {
            bind_group,
            uniform: uniform_buffer,
            result,
            readback,
        } = &*buffers;
        self.queue.write_buffer(uniform_buffer, 0, uniform);
        self.queue
            .write_buffer(result, 0, &gpu::NO_RESULT.to_le_bytes());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(dispatch.workgroups(), 1, 1);
        }
        encoder.copy_buffer_to_buffer(result, 0, readback, 0, 4);
        let submission = self.queue.submit([encoder.finish()]);
        let (sender, receiver) = mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(DISPATCH_TIMEOUT),
            })
            .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
        receiver
            .recv_timeout(DISPATCH_TIMEOUT)
            .map_err(|_| GpuMinerError::Dispatch("the result buffer was never mapped".into()))?
            .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
        let best = {
            let view = readback
                .get_mapped_range(..)
                .map_err(|e| GpuMinerError::Dispatch(e.to_string()))?;
            u32::from_le_bytes([view[0], view[1], view[2], view[3]])
        };
        readback.unmap();
        Ok(best)
    }

    /// [`jbc_core::mine_round`] on the GPU, in dispatches of at most
    /// `max_dispatch_nonces`: the same result for the same arguments.
    pub fn mine_round(
        &self,
        template: &Template,
        start_nonce: u64,
        rounds: u64,
        max_dispatch_nonces: u32,
    ) -> Result<RoundResult, GpuMinerError> {
        gpu::mine_round_gpu(
            template,
            start_nonce,
            rounds,
            max_dispatch_nonces,
            |dispatch, uniform| self.run_dispatch(dispatch, uniform),
        )
    }
}
