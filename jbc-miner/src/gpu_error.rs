//! [`GpuMinerError`]: why no GPU can be used, or a dispatch failed.

use jbc_core::pow::gpu::GpuError;

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
    /// A dispatch was submitted while every slot was in flight (a caller
    /// that does not check `Pipeline::is_full`).
    #[error("all {0} dispatch slots are in flight")]
    PipelineFull(usize),
    /// The GPU's answer is not a possible answer of the shader.
    #[error(transparent)]
    BadResult(#[from] GpuError),
}
