//! `jbc-miner`: mines for JBC nodes over HTTP on CPU threads and a GPU.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use jbc_miner::{GpuMiner, Options};

/// Mines JBC blocks for any node over HTTP (GET /tip, POST /mined, GET /events).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// A node's URL, e.g. http://127.0.0.1:5000; repeat for failover (the
    /// first one that answers is used).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// CPU mining threads (default: all cores; 0 with --gpu mines on the GPU only).
    #[arg(long)]
    threads: Option<usize>,
    /// Also mine on a GPU (wgpu, Vulkan).
    #[arg(long)]
    gpu: bool,
    /// Who mined: the blocks' data is "Mined by NAME".
    #[arg(long, default_value = "jbc-miner")]
    name: String,
    /// Exit after this many blocks that a node took as its new tip.
    #[arg(long)]
    blocks: Option<u64>,
    /// How often to poll GET /tip besides following /events, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Target duration of one GPU dispatch in milliseconds: longer dispatches
    /// waste less time between them, shorter ones switch to a new tip sooner.
    #[arg(long, default_value_t = jbc_miner::threads::GPU_DISPATCH.as_millis() as u64)]
    gpu_dispatch_ms: u64,
    /// GPU dispatches in flight: the next ones are queued while the host
    /// reads the last (1: one at a time).
    #[arg(long, default_value_t = jbc_miner::pipeline::PIPELINE_DEPTH)]
    gpu_depth: usize,
    /// Plain log lines instead of the live status line.
    #[arg(long)]
    no_progress: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let depth = cli.gpu_depth.clamp(1, 16);
    let gpu = if cli.gpu {
        Some(
            tokio::task::spawn_blocking(move || GpuMiner::with_depth(depth))
                .await
                .context("GPU set-up")?
                .context("--gpu")?,
        )
    } else {
        None
    };
    let options = Options {
        nodes: cli.nodes,
        threads,
        data: format!("Mined by {}", cli.name),
        stop_after: cli.blocks,
        progress: !cli.no_progress,
        poll: Duration::from_millis(cli.poll_ms.max(10)),
        gpu_dispatch: Duration::from_millis(cli.gpu_dispatch_ms.clamp(1, 1000)),
    };
    let shutdown = async {
        // If the handler cannot be installed, mine until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = jbc_miner::run(options, gpu, shutdown).await?;
    eprintln!("{}", report.summary());
    Ok(())
}
