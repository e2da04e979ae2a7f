//! `jbc-sim`: runs one simulation, or a sweep over block times. Parses the
//! flags and calls the library; see `jbc-sim --help`.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jbc_sim::{Config, Offline, Report, model, plot, simulate};

/// A deterministic simulation of a JBC network running the real node logic.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the same network at several block times; prints a table and
    /// writes an SVG plot of stale rate and propagation against block time.
    Sweep(SweepArgs),
    /// Runs a grid of network sizes and block times and prints, for each,
    /// the stale count against the analytical model and the range counting
    /// noise allows.
    Model(ModelArgs),
}

#[derive(Args)]
struct ModelArgs {
    /// Network sizes to run (for this command, instead of `--nodes`).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    sizes: Vec<usize>,
    /// Block times to run, in ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,60000,150000,600000"
    )]
    block_ms: Vec<u64>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct RunArgs {
    /// Target block time T in ms.
    #[arg(long, default_value_t = 10_000)]
    block_ms: u64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SweepArgs {
    /// Block times to run, in ms.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,10000,30000,60000,150000,600000"
    )]
    block_ms: Vec<u64>,
    /// Where to write the plot.
    #[arg(long, default_value = "sim-sweep.svg")]
    svg: std::path::PathBuf,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct Common {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Blocks to mine.
    #[arg(long, default_value_t = 1000)]
    blocks: u64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Outbound links per node.
    #[arg(long, default_value_t = 8)]
    peers: usize,
    /// Hash power of the first nodes, e.g. 0.3,0.2 (the rest is uniform).
    #[arg(long, value_delimiter = ',')]
    pools: Vec<f64>,
    /// Split the nodes in two halves from START_MS to END_MS.
    #[arg(long, value_name = "START_MS:END_MS")]
    partition: Option<String>,
    /// A share of the nodes goes offline from START_MS to END_MS.
    #[arg(long, value_name = "SHARE:START_MS:END_MS")]
    offline: Option<String>,
    /// Share of the nodes that never relay.
    #[arg(long, default_value_t = 0.0)]
    silent_share: f64,
    /// The safety-net poll in ms: every node asks every peer for its /tip
    /// at least this often (the node's `NodeConfig::poll_every_ms`, 60000).
    #[arg(long, alias = "sync-ms", default_value_t = jbc_core::node_state::POLL_EVERY_MS)]
    poll_every_ms: u64,
    /// How often a peer that does not serve /events is polled, in ms (the
    /// node's `NodeConfig::poll_unfollowed_ms`, 3000): with --no-follow,
    /// every peer.
    #[arg(long, default_value_t = jbc_core::node_state::POLL_UNFOLLOWED_MS)]
    poll_unfollowed_ms: u64,
    /// Nodes do not follow their peers' /events (each answers 404, as an
    /// older node): every peer is polled every 3 s instead, as before
    /// nodes followed each other.
    #[arg(long)]
    no_follow: bool,
    /// Share of the nodes that cannot be dialled (they only dial out).
    #[arg(long, default_value_t = 0.0)]
    unreachable_share: f64,
    /// How long to run after the last block, in ms.
    #[arg(long, default_value_t = 60_000)]
    settle_ms: u64,
    /// Multiply every latency by this (0: no latency).
    #[arg(long, default_value_t = 1.0)]
    latency_scale: f64,
    /// Messages take no time on the wire.
    #[arg(long)]
    infinite_bandwidth: bool,
    /// Nodes find more peers as the node does (`GET /peers` while fewer
    /// than 8 answer); off, the links stay as drawn.
    #[arg(long)]
    discovery: bool,
    /// Draw each node's outbound links from the measured distribution in
    /// the network data instead of --peers.
    #[arg(long)]
    measured_degrees: bool,
    /// Print JSON instead of the summary (and no progress bar).
    #[arg(long)]
    json: bool,
}

impl Common {
    fn config(&self, block_ms: u64) -> anyhow::Result<Config> {
        self.config_of(self.nodes, block_ms)
    }

    /// The run these flags describe, with `nodes` nodes (`model` gives its
    /// own sizes).
    fn config_of(&self, nodes: usize, block_ms: u64) -> anyhow::Result<Config> {
        let mut config = Config::new(nodes, self.blocks, block_ms, self.seed);
        config.peers = self.peers;
        config.pools = self.pools.clone();
        config.partition = self
            .partition
            .as_deref()
            .map(|p| {
                let (a, b) = p.split_once(':').context("--partition START_MS:END_MS")?;
                anyhow::Ok((a.parse()?, b.parse()?))
            })
            .transpose()?;
        config.offline = self
            .offline
            .as_deref()
            .map(|o| {
                let parts: Vec<&str> = o.split(':').collect();
                let [share, start, end] = parts[..] else {
                    bail!("--offline SHARE:START_MS:END_MS");
                };
                anyhow::Ok(Offline {
                    share: share.parse()?,
                    start_ms: start.parse()?,
                    end_ms: end.parse()?,
                })
            })
            .transpose()?;
        config.silent_share = self.silent_share;
        config.poll_every_ms = self.poll_every_ms;
        config.poll_unfollowed_ms = self.poll_unfollowed_ms;
        config.follow = !self.no_follow;
        config.unreachable_share = self.unreachable_share;
        config.settle_ms = self.settle_ms;
        config.latency_scale = self.latency_scale;
        config.infinite_bandwidth = self.infinite_bandwidth;
        config.discovery = self.discovery;
        config.measured_degrees = self.measured_degrees;
        config.check().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

/// Runs one configuration with a progress bar on stderr (when it is a
/// terminal and the output is not JSON), and reports the speed there.
fn run(config: Config, json: bool, label: &str) -> Report {
    let bar = ProgressBar::new(config.blocks);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} blocks {elapsed}")
    {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    let started = Instant::now();
    let report = simulate(config, &mut |mined| bar.set_position(mined));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{label}: {} events in {secs:.2} s ({:.0} events/s){}",
        report.events,
        report.events as f64 / secs.max(1e-9),
        peak_memory().map_or(String::new(), |m| format!(", peak memory {m}")),
    );
    report
}

/// The process's peak resident memory so far, where the system tells
/// (Linux: `VmHWM` in /proc/self/status).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.0} MB", kb / 1000.0))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            let config = cli.run.common.config(cli.run.block_ms)?;
            let report = run(config, cli.run.common.json, "run");
            if cli.run.common.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.summary());
            }
        }
        Some(Command::Sweep(sweep)) => {
            let mut reports = Vec::new();
            for &block_ms in &sweep.block_ms {
                let config = sweep.common.config(block_ms)?;
                reports.push(run(
                    config,
                    sweep.common.json,
                    &format!("T = {block_ms} ms"),
                ));
            }
            if sweep.common.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                print!("{}", plot::table(&reports));
            }
            std::fs::write(&sweep.svg, plot::svg(&reports).map_err(anyhow::Error::msg)?)
                .with_context(|| format!("writing {}", sweep.svg.display()))?;
            eprintln!("plot written to {}", sweep.svg.display());
        }
        Some(Command::Model(grid)) => {
            let mut reports = Vec::new();
            for &nodes in &grid.sizes {
                for &block_ms in &grid.block_ms {
                    let config = grid.common.config_of(nodes, block_ms)?;
                    reports.push(run(
                        config,
                        grid.common.json,
                        &format!("{nodes} nodes, T = {block_ms} ms"),
                    ));
                }
            }
            if grid.common.json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                print!("{}", model::table(&reports));
            }
        }
    }
    Ok(())
}
