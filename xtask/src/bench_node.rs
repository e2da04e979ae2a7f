//! `cargo xtask bench-node`: what a release `jbc-node` costs at rest, and how
//! its mining threads scale, measured on child processes.
//!
//! - **At rest**: a node with no peers and no miner, watched for
//!   `--idle-secs` (default 60): its CPU time from `/proc/<pid>/stat` as a
//!   share of one core, and its timer's wake-ups from `/metrics`. Then the
//!   latency of `GET /tip` (p50, p99 over [`TIP_REQUESTS`] requests, one
//!   connection each).
//! - **Mining**: the same node with `--mine --threads 1`, then `--threads 2`,
//!   each for `--mine-secs` (default 30) at a fixed difficulty (default 23):
//!   the rate of the blocks it actually found (blocks × 2^difficulty ÷ time,
//!   with the 95 % Poisson range of the count), the rate of its own hash
//!   counter, and the CPU the node's threads other than the miners used;
//!   then `openssl speed -evp sha256` as the reference of the machine.
//!
//! Linux only (it reads `/proc`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::nodes::{Nodes, get_json, get_text};
use crate::{TaskResult, cargo, run_cmd};

/// Requests of the `/tip` latency figure.
const TIP_REQUESTS: usize = 2_000;

/// The command line of `cargo xtask bench-node`.
struct Options {
    idle_secs: f64,
    mine_secs: f64,
    difficulty: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        idle_secs: 60.0,
        mine_secs: 30.0,
        difficulty: 23,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(USAGE)?;
        let number = |max: f64| {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 1.0 && *v <= max)
                .ok_or_else(|| format!("{flag} takes a number in [1, {max}]"))
        };
        match flag.as_str() {
            "--idle-secs" => options.idle_secs = number(600.0)?,
            "--mine-secs" => options.mine_secs = number(600.0)?,
            "--difficulty" => options.difficulty = number(40.0)? as u32,
            _ => return Err(USAGE.to_string()),
        }
    }
    Ok(options)
}

const USAGE: &str =
    "usage: cargo xtask bench-node [--idle-secs S] [--mine-secs S] [--difficulty D]";

/// Runs the benchmark and prints its figures.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse(args)?;
    if !Path::new("/proc/self/stat").exists() {
        return Err("bench-node reads /proc: Linux only".into());
    }
    run_cmd(cargo().args(["build", "--release", "-p", "jbc-node"]))?;
    let binary = crate::target_dir().join("release/jbc-node");
    let data_root = crate::target_dir().join("bench-node");
    let _ = std::fs::remove_dir_all(&data_root);
    std::fs::create_dir_all(&data_root).map_err(|e| format!("cannot create {data_root:?}: {e}"))?;
    let tick = clock_ticks_per_sec();

    // At rest.
    let mut node = Bench::start(&binary, &data_root.join("idle"), &["--difficulty", "20"])?;
    std::thread::sleep(Duration::from_secs(1));
    let (cpu0, wakeups0, t0) = (node.cpu_ticks()?, node.metric(TIMER)?, Instant::now());
    println!(
        "at rest: watching an idle node for {:.0} s…",
        options.idle_secs
    );
    std::thread::sleep(Duration::from_secs_f64(options.idle_secs));
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (node.cpu_ticks()? - cpu0) as f64 / tick;
    let wakeups = node.metric(TIMER)? - wakeups0;
    let (p50, p99) = node.tip_latency()?;
    node.stop()?;
    println!(
        "  CPU {:.3} s in {secs:.1} s = {:.2} % of a core (goal < 1 %); timer woke {wakeups:.0} times",
        cpu,
        100.0 * cpu / secs
    );
    println!(
        "  GET /tip over {TIP_REQUESTS} requests: p50 {:.3} ms, p99 {:.3} ms",
        p50 * 1e3,
        p99 * 1e3
    );

    // Mining.
    let difficulty = options.difficulty.to_string();
    let mut rates = Vec::new();
    for threads in [1, 2] {
        let flags = [
            "--network",
            "benchmine",
            "--difficulty",
            &difficulty,
            "--min-difficulty",
            &difficulty,
            "--block-time-ms",
            "1",
            "--mine",
            "--threads",
            &threads.to_string(),
        ];
        let dir = data_root.join(format!("mine-{threads}"));
        let mut node = Bench::start(&binary, &dir, &flags)?;
        std::thread::sleep(Duration::from_secs(1));
        let height0 = node.height()?;
        let hashes0 = node.metric(HASHES)?;
        let threads0 = node.thread_ticks()?;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(options.mine_secs));
        let secs = t0.elapsed().as_secs_f64();
        let blocks = node.height()? - height0;
        let hashes = node.metric(HASHES)? - hashes0;
        let threads1 = node.thread_ticks()?;
        node.stop()?;
        let work = 2f64.powi(options.difficulty as i32);
        let (low, high) = poisson_range(blocks as f64);
        let found = blocks as f64 * work / secs / 1e6;
        let counted = hashes / secs / 1e6;
        let (miners, others) = threads1.minus(&threads0);
        println!(
            "--threads {threads}: {blocks} blocks at difficulty {} in {secs:.1} s = {found:.1} MH/s \
             (95 %: {:.1}–{:.1}); hash counter {counted:.1} MH/s; CPU of miners {:.0} %, of the \
             node's other threads {:.2} % of a core",
            options.difficulty,
            low * work / secs / 1e6,
            high * work / secs / 1e6,
            100.0 * miners / tick / secs,
            100.0 * others / tick / secs,
        );
        rates.push((found, counted));
    }
    println!(
        "--threads 2 ÷ --threads 1: {:.2}× by blocks found, {:.2}× by hash counter (goal ≥ 1.9×)",
        rates[1].0 / rates[0].0,
        rates[1].1 / rates[0].1
    );
    match crate::reference::openssl_compressions_per_sec() {
        Ok(reference) => println!(
            "openssl speed -evp sha256 (same run, {}): {:.1} M compressions/s; one mining \
             thread's hash counter = {:.2}× that",
            crate::reference::cpu_name(),
            reference / 1e6,
            rates[0].1 * 1e6 / reference
        ),
        Err(e) => println!("no openssl reference: {e}"),
    }
    Ok(())
}

const TIMER: &str = "jbc_task_wakeups_total{task=\"timer\"}";
const HASHES: &str = "jbc_hashes_total";

/// One node under measurement.
struct Bench {
    nodes: Nodes,
    port: u16,
    pid: u32,
}

impl Bench {
    /// Starts `binary` on a free loopback port with `flags`; waits for `/tip`.
    fn start(binary: &Path, data_dir: &Path, flags: &[&str]) -> Result<Bench, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let mut cmd = Command::new(binary);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(data_dir)
            .args(flags);
        let mut nodes = Nodes {
            children: Vec::new(),
        };
        nodes.spawn(port, cmd, data_dir.with_extension("log"), false)?;
        let pid = nodes.children[0].1.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        while get_json("127.0.0.1", port, "/tip").is_err() {
            if Instant::now() > deadline || nodes.exited().is_some() {
                return Err(format!(
                    "the node did not start (log {:?})",
                    data_dir.with_extension("log")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Bench { nodes, port, pid })
    }

    fn stop(&mut self) -> TaskResult {
        if self.nodes.stop() {
            Ok(())
        } else {
            Err("the node did not stop cleanly".into())
        }
    }

    fn height(&self) -> Result<u64, String> {
        get_json("127.0.0.1", self.port, "/tip")?["height"]
            .as_u64()
            .ok_or_else(|| "/tip has no height".into())
    }

    /// The value of the series `key` in `/metrics` (0 when absent).
    fn metric(&self, key: &str) -> Result<f64, String> {
        let text = get_text("127.0.0.1", self.port, "/metrics")?;
        Ok(crate::nodes::metric_value(&text, key))
    }

    /// User plus system CPU of the whole process, in clock ticks.
    fn cpu_ticks(&self) -> Result<u64, String> {
        stat_ticks(&format!("/proc/{}/stat", self.pid))
    }

    /// CPU ticks of the mining threads and of the others.
    fn thread_ticks(&self) -> Result<ThreadTicks, String> {
        let dir = format!("/proc/{}/task", self.pid);
        let mut ticks = ThreadTicks::default();
        let tasks = std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))?;
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let Ok(used) = stat_ticks(&path.join("stat").to_string_lossy()) else {
                continue; // the thread ended meanwhile
            };
            if name.starts_with("miner-") {
                ticks.miners += used;
            } else {
                ticks.others += used;
            }
        }
        Ok(ticks)
    }

    /// `GET /tip` latencies: (p50, p99) in seconds.
    fn tip_latency(&self) -> Result<(f64, f64), String> {
        let mut times = Vec::with_capacity(TIP_REQUESTS);
        for _ in 0..TIP_REQUESTS {
            let t0 = Instant::now();
            get_json("127.0.0.1", self.port, "/tip")?;
            times.push(t0.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        Ok((at(0.50), at(0.99)))
    }
}

/// CPU ticks by kind of thread (dead threads are not counted).
#[derive(Default)]
struct ThreadTicks {
    miners: u64,
    others: u64,
}

impl ThreadTicks {
    /// Ticks used since `before`: (miners, others).
    fn minus(&self, before: &ThreadTicks) -> (f64, f64) {
        (
            self.miners.saturating_sub(before.miners) as f64,
            self.others.saturating_sub(before.others) as f64,
        )
    }
}

/// utime + stime of a `/proc/…/stat` file, in clock ticks.
fn stat_ticks(path: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    match (field(14), field(15)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => Err(format!("{path}: unexpected format")),
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 where it cannot be asked).
fn clock_ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The 95 % range of a Poisson mean given `count` events (normal
/// approximation with a continuity term; wide enough for small counts).
fn poisson_range(count: f64) -> (f64, f64) {
    let spread = 1.96 * count.sqrt();
    ((count - spread).max(0.0), count + spread + 1.92)
}
