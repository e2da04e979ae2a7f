//! # jbc-miner: a JBC miner that is not a node
//!
//! Mines for any JBC node over its HTTP API (PROTOCOL.md §7) like the browser page
//! does: `GET /tip` for the work, `POST /mined` for the result, `GET
//! /events` to switch to a new tip at once. It mines on CPU threads with
//! jbc-core's kernels and, with `--gpu`, on a GPU through wgpu with
//! jbc-core's WGSL shader ([`jbc_core::pow::gpu`]).
//!
//! The node's API is called with jbc-client's [`HttpPeer`](jbc_client::HttpPeer)
//! (jbc-core's wire rules: every answer bounded while it is read), and the
//! mining threads take their work from jbc-core's mining coordinator, a
//! [`MinerHandle`](jbc_core::MinerHandle).
//!
//! - [`threads`]: the CPU threads and the GPU thread.
//! - [`found`]: what the threads report.
//! - [`gpu`]: [`GpuMiner`], the wgpu device running the shader.
//! - [`pipeline`]: [`Pipeline`], several GPU dispatches in flight.
//! - [`gpu_loop`]: [`GpuLoop`], the GPU thread's loop over the pipeline.
//! - [`run`](mod@run): the driver (failover, events, the live line).
//! - [`report`]: [`Report`], what a run did, with each device's rate.
//!
//! The GPU path returns exactly what the CPU kernels return:
//!
//! ```no_run
//! use jbc_core::{BlockHash, Header, mine_round, pow::Template};
//! use jbc_miner::GpuMiner;
//!
//! let gpu = GpuMiner::new()?; // an error when there is no Vulkan adapter
//! println!("mining on {}", gpu.adapter());
//! let header = Header { index: 1, timestamp_ms: 1, difficulty: 12,
//!     prev_hash: BlockHash::ZERO, data_hash: BlockHash::ZERO, nonce: 0 };
//! let template = Template::new(&header);
//! assert_eq!(gpu.mine_round(&template, 0, 1 << 20, 1 << 16)?, mine_round(&template, 0, 1 << 20));
//! # Ok::<(), jbc_miner::gpu::GpuMinerError>(())
//! ```
#![warn(missing_docs)]

pub mod found;
pub mod gpu;
pub mod gpu_error;
pub mod gpu_loop;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod threads;

pub use gpu::GpuMiner;
pub use gpu_loop::GpuLoop;
pub use pipeline::Pipeline;
pub use run::{Options, Report, run};

/// The Rust examples of the README and of docs/gpu.md, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDocTests;

/// See [`ReadmeDocTests`].
#[cfg(doctest)]
#[doc = include_str!("../../docs/gpu.md")]
pub struct GpuDocTests;
