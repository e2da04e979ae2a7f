//! What the mining threads report: a [`Found`] nonce with the [`Device`]
//! that found it, and the GPU's [`Counters`] (the CPU threads count theirs
//! in jbc-core's [`MinerHandle`](jbc_core::MinerHandle)).

use std::sync::atomic::AtomicU64;

/// Which kind of thread found a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// A CPU thread.
    Cpu,
    /// The GPU thread.
    Gpu,
}

/// A valid nonce for the job of `generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The job's generation.
    pub generation: u64,
    /// The nonce.
    pub nonce: u64,
    /// Who found it.
    pub device: Device,
}

/// Nonces tried so far by the GPU.
#[derive(Debug, Default)]
pub struct Counters {
    /// By the GPU: every dispatch that completed (up to its hit).
    pub gpu_hashes: AtomicU64,
    /// The part of `gpu_hashes` whose job was replaced (a new tip, or its
    /// block found) before the dispatch was read: discarded unread.
    pub gpu_stale_hashes: AtomicU64,
}
