//! Project tasks, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! - `test`: install what the tests need, build once, run every test suite.
//! - `demo`: a local network of nodes plus the browser miner page.
//! - `net`: N nodes on loopback, each told only the first one's address.
//! - `web`: build jbc-web to WebAssembly into `www/pkg`.
//! - `bench`: mining kernels (and the GPU through wgpu) beside reference hash rates.
//! - `bench-web`: the browser miner's hash rate (CPU workers and WebGPU) in headless Chromium.
//! - `bench-sim`: the simulator's speed, memory, the stale rate with unreachable
//!   nodes, and the stale rate against the model.
//! - `bench-node`: a release node's CPU at rest, `/tip` latency, and its
//!   mining rate on one and two threads.
//! - `bench-gpu`: `jbc-miner --gpu`'s rate in blocks a node accepted, ÷ its
//!   shader's rate on the same adapter.
//! - `setup`: install what the tests need (see the `setup` module).

mod arrivals;
mod bench;
mod bench_gpu;
mod bench_node;
mod bench_sim;
mod demo;
#[cfg(test)]
mod docs;
mod hosts;
mod net;
mod netns;
mod nodes;
mod reference;
mod setup;
mod test;
mod web;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match task.as_str() {
        "test" => test::run(rest),
        "demo" => demo::run(rest),
        "net" if rest.iter().any(|a| a == "--hosts") => hosts::run(rest),
        "net" => net::run(rest),
        "__get" => hosts::probe(rest),
        "web" => web::run(rest),
        "bench" => bench::run(rest),
        "bench-web" => web::bench(rest),
        "bench-sim" => bench_sim::run(rest),
        "bench-node" => bench_node::run(rest),
        "bench-gpu" => bench_gpu::run(rest),
        "setup" => setup::all(),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>
  test [--no-e2e]      install test tools, then fmt, clippy, wasm build, all tests
                       (--no-e2e: without the browser tests)
  demo [--check --secs N] [--base-port P]
                       three local nodes (5000-5002) and the browser page
  net --nodes N --miners M [--secs S --check] [--difficulty D] [--port P]
                       N nodes on loopback, each told only the seed's address
  net --hosts N [--unreachable K] [--miners M] [--partition SECS] [--secs S] [--check]
                       N nodes on namespaced hosts (Linux, root), K of them not
                       dialable, optionally a partition of half the hosts that heals
  web                  build the browser miner into www/pkg
  bench [--secs S] [--no-wasm]
                       mining kernels vs naive loop, Python JBC and openssl
  bench-web [--workers N --secs S --kernel auto|scalar|simd --no-screenshot]
                       browser miner hash rate in headless Chromium
  bench-sim [--quick]  jbc-sim speed and memory at 1,000 and 10,000 nodes, the stale
                       rate with 70 % unreachable nodes (following off and on), and
                       the stale rate against the analytical model
  bench-node [--idle-secs S] [--mine-secs S] [--difficulty D]
                       a release node's CPU at rest and /tip latency, and its
                       mining rate (blocks found) on 1 and 2 threads
  bench-gpu [--secs S] [--difficulty D] [--gpu-depth N] [--gpu-dispatch-ms MS]
                       jbc-miner --gpu's rate in blocks a node accepted ÷ its shader's rate
  setup                install wasm target, wasm-bindgen-cli, Node.js and npm, Chromium,
                       mesa-vulkan-drivers (lavapipe, for the GPU tests) and iproute2 (for
                       net --hosts; Debian packages, as root), npm packages";

/// Result of a task: a message for the user on failure.
pub type TaskResult = Result<(), String>;

/// The workspace root (the parent of this crate's directory).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Runs `cmd` from the workspace root, echoing it; fails on a non-zero exit.
pub fn run_cmd(cmd: &mut Command) -> TaskResult {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed: {status}", cmd.get_program()))
    }
}

/// Cargo's target directory for this workspace (`cargo metadata`'s
/// `target_directory`, which honours `CARGO_TARGET_DIR` and
/// `.cargo/config.toml`), falling back to `<root>/target`.
pub fn target_dir() -> PathBuf {
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .stderr(std::process::Stdio::null())
        .output();
    out.ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["target_directory"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| root().join("target"))
}

/// A `cargo` command, using the cargo that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}
