//! `cargo xtask bench-gpu`: how much of its own shader's rate `jbc-miner
//! --gpu` delivers as blocks a node accepts, on child processes.
//!
//! 1. The shader's rate: `jbc-miner`'s `gpu_bench` example (one dispatch at
//!    a time, about 50 ms each), before and after the mining run.
//! 2. A release `jbc-node` at a fixed difficulty (default 22) and `jbc-miner
//!    --gpu --threads 0` mining for it for `--secs` (default 30), counted
//!    from the miner's first accepted block: blocks × 2^difficulty ÷ time,
//!    with the 95 % Poisson range of the count, and the miner's own figure
//!    (hashes of completed dispatches ÷ wall time, from its exit summary).
//! 3. Each ÷ the mean shader rate of step 1.
//!
//! On a software adapter (lavapipe) the "GPU" is the CPU, shared with the
//! node, the miner's host thread and whatever else runs: the figures say how
//! well the loop keeps the adapter busy, not how fast a GPU is. Linux only
//! (the miner is stopped with SIGINT through `kill`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::nodes::{Nodes, get_json};
use crate::{TaskResult, cargo, run_cmd};

struct Options {
    secs: f64,
    difficulty: u32,
    miner_flags: Vec<String>,
}

const USAGE: &str = "usage: cargo xtask bench-gpu [--secs S] [--difficulty D] \
                     [--gpu-depth N] [--gpu-dispatch-ms MS]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        secs: 30.0,
        difficulty: 22,
        miner_flags: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(USAGE)?;
        let number = value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 1.0 && *v <= 3600.0)
            .ok_or_else(|| format!("{flag} takes a number in [1, 3600]"))?;
        match flag.as_str() {
            "--secs" => options.secs = number,
            "--difficulty" => options.difficulty = (number as u32).min(40),
            "--gpu-depth" | "--gpu-dispatch-ms" => {
                options.miner_flags.extend([flag.clone(), value.clone()]);
            }
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(options)
}

/// Runs the benchmark and prints its figures.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse(args)?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "jbc-node",
        "-p",
        "jbc-miner",
        "--bins",
        "--example",
        "gpu_bench",
    ]))?;
    let release = crate::target_dir().join("release");
    let shader_secs = (options.secs / 3.0).clamp(2.0, 10.0);
    let before = crate::bench::gpu_rate(&crate::root(), shader_secs)?;
    println!(
        "shader (gpu_bench, ~50 ms dispatches one at a time) on {}{}: {:.2} MH/s",
        before.adapter,
        if before.software {
            " (software: the CPU runs it)"
        } else {
            ""
        },
        before.overall / 1e6
    );
    let mined = mine(&release, &options)?;
    let after = crate::bench::gpu_rate(&crate::root(), shader_secs)?;
    println!(
        "shader again after the mining run: {:.2} MH/s",
        after.overall / 1e6
    );
    let shader = (before.overall + after.overall) / 2.0;
    let work = 2f64.powi(options.difficulty as i32);
    let rate = |blocks: f64| blocks * work / mined.secs;
    let (low, high) = poisson_range(mined.blocks as f64);
    println!(
        "jbc-miner --gpu --threads 0 {}: {} blocks at difficulty {} in {:.1} s = {:.2} MH/s \
         (95 %: {:.2}–{:.2}); its own GPU figure {}",
        options.miner_flags.join(" "),
        mined.blocks,
        options.difficulty,
        mined.secs,
        rate(mined.blocks as f64) / 1e6,
        rate(low) / 1e6,
        rate(high) / 1e6,
        mined.summary.as_deref().unwrap_or("(no summary line)"),
    );
    println!(
        "blocks accepted ÷ shader (mean of both runs, {:.2} MH/s): {:.2} (95 %: {:.2}–{:.2}); goal ≥ 0.85",
        shader / 1e6,
        rate(mined.blocks as f64) / shader,
        rate(low) / shader,
        rate(high) / shader
    );
    Ok(())
}

/// What the mining run gave.
struct Mined {
    blocks: u64,
    secs: f64,
    /// The miner's `GPU, …` exit line.
    summary: Option<String>,
}

fn height(port: u16) -> Result<u64, String> {
    get_json("127.0.0.1", port, "/tip")?["height"]
        .as_u64()
        .ok_or_else(|| "/tip has no height".into())
}

/// A node at a fixed difficulty and `jbc-miner --gpu --threads 0` for it.
fn mine(release: &Path, options: &Options) -> Result<Mined, String> {
    let data_root = crate::target_dir().join("bench-gpu");
    let _ = std::fs::remove_dir_all(&data_root);
    std::fs::create_dir_all(&data_root).map_err(|e| format!("cannot create {data_root:?}: {e}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let difficulty = options.difficulty.to_string();
    let mut node = Command::new(release.join("jbc-node"));
    node.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data_root.join("node"))
        .args(["--network", "benchgpu", "--block-time-ms", "1"])
        .args(["--retarget-window", "100000", "--difficulty", &difficulty])
        .args(["--min-difficulty", &difficulty]);
    let mut nodes = Nodes {
        children: Vec::new(),
    };
    nodes.spawn(port, node, data_root.join("node.log"), false)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while height(port).is_err() {
        if Instant::now() > deadline || nodes.exited().is_some() {
            return Err("the node did not start (log target/bench-gpu/node.log)".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary_path = data_root.join("miner.log");
    let log = std::fs::File::create(&summary_path).map_err(|e| format!("{summary_path:?}: {e}"))?;
    let mut miner = Command::new(release.join("jbc-miner"))
        .args(["--node", &format!("http://127.0.0.1:{port}")])
        .args([
            "--gpu",
            "--threads",
            "0",
            "--no-progress",
            "--name",
            "bench-gpu",
        ])
        .args(&options.miner_flags)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start jbc-miner: {e}"))?;
    // Counted from the first block: the adapter is set up and warm.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut start = height(port)?;
    while start == 0 {
        if Instant::now() > deadline || miner.try_wait().ok().flatten().is_some() {
            let _ = miner.kill();
            return Err("jbc-miner found no block (log target/bench-gpu/miner.log)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
        start = height(port)?;
    }
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(options.secs));
    let end = height(port)?;
    let secs = t0.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-INT", &miner.id().to_string()])
        .status();
    let _ = miner.wait();
    nodes.stop();
    let summary = std::fs::read_to_string(&summary_path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("GPU, ").map(str::to_string));
    Ok(Mined {
        blocks: end - start,
        secs,
        summary,
    })
}

/// The 95 % range of a Poisson mean given `count` events (normal
/// approximation with a continuity term; wide enough for small counts).
fn poisson_range(count: f64) -> (f64, f64) {
    let spread = 1.96 * count.sqrt();
    ((count - spread).max(0.0), count + spread + 1.92)
}
