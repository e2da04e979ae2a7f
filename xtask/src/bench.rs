//! `cargo xtask bench [--secs S]`: the mining kernels side by side with the
//! references, all measured in the same run on this machine.
//!
//! - each kernel available here (`jbc_core::pow::Kernel`), one thread;
//! - `mine_round_naive` (a full SHA-256 of the 96-byte header per nonce);
//! - the original Python JBC loop (`tools/legacy_miner.py`);
//! - `openssl speed -evp sha256`, 16 KiB blocks: single-stream SHA-256
//!   compressions per second (bytes per second ÷ 64), the reference that the
//!   kernel targets are ratios of;
//! - the kernel `mine_round` uses on two threads against one;
//! - the wasm kernels (portable and `simd128`) inside a WebAssembly module
//!   run by node (`tools/wasm_kernel_check`), after checking there that
//!   simd128 agrees with portable; skipped with `--no-wasm` or without node;
//! - the GPU through wgpu (`jbc-miner/examples/gpu_bench.rs`, jbc-core's WGSL
//!   shader in ~50 ms dispatches), naming the adapter; on lavapipe (Debian's
//!   mesa-vulkan-drivers) that is a software figure: the shader runs on this
//!   CPU's cores. Skipped with `--no-gpu`.
//!
//! The Rust figures come from `jbc-core/examples/kernel_bench.rs`, built with
//! `--release`. Each rate is given per second of wall-clock time and per
//! second of CPU time (what the code achieves while it runs; `openssl speed`
//! also divides by CPU time by default). Ratios use CPU time, so that other
//! work on a shared machine does not distort them. Every child process has a
//! time limit.
//!
//! The parts: `measured` (what a run measured, and the kernel benchmark's
//! output parsed), `children` (every other program run, each with a time
//! limit: the GPU benchmark, the wasm kernels under node, the Python loop),
//! `table` (the table and the verdicts against the targets).

use std::process::Command;
use std::time::Duration;

use crate::{TaskResult, root};

mod children;
mod measured;
mod table;

pub(crate) use children::{gpu_rate, wasm_kernel_check};

use children::{python_rate, run_with_timeout, wasm_rates};
use measured::{KernelFigures, Measured};

/// Runs the benchmark and prints the table.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse_args(args)?;
    let measured = collect(&options)?;
    let figures = KernelFigures::parse(&measured.rust)?;
    table::print_table(&measured, &figures);
    table::print_verdicts(&measured, &figures);
    Ok(())
}

/// The command line of `cargo xtask bench`.
struct Options {
    secs: f64,
    wasm: bool,
    gpu: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--no-wasm" | "--no-gpu" => {}
            "--secs" => {
                rest.next();
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: cargo xtask bench [--secs S] [--no-wasm] [--no-gpu]"
                ));
            }
        }
    }
    let secs = match args.iter().position(|a| a == "--secs") {
        Some(i) => args
            .get(i + 1)
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 30.0)
            .ok_or("--secs takes a number of seconds in (0, 30]")?,
        None => 1.0,
    };
    Ok(Options {
        secs,
        wasm: !args.iter().any(|a| a == "--no-wasm"),
        gpu: !args.iter().any(|a| a == "--no-gpu"),
    })
}

/// Builds and runs every measurement (each child bounded in time).
fn collect(options: &Options) -> Result<Measured, String> {
    let secs = options.secs;
    let root = root();

    eprintln!("building the kernel benchmark (release)…");
    let exe =
        children::release_example(&root, "jbc-core", "kernel_bench", Duration::from_secs(1200))?;

    eprintln!("measuring the kernels ({secs} s each)…");
    let rust = run_with_timeout(
        Command::new(&exe).args(["--secs", &secs.to_string()]),
        Duration::from_secs_f64(secs * 40.0 + 60.0),
        true,
    )?;
    let wasm = if !options.wasm {
        Err("skipped (--no-wasm)".to_string())
    } else {
        eprintln!("building and running the wasm kernel check (node)…");
        wasm_rates(&root)
    };
    let gpu = if !options.gpu {
        Err("skipped (--no-gpu)".to_string())
    } else {
        eprintln!("building and running the GPU benchmark (wgpu, release)…");
        gpu_rate(&root, secs)
    };
    eprintln!("measuring openssl speed -evp sha256…");
    let openssl = crate::reference::openssl_compressions_per_sec();
    eprintln!("measuring the Python JBC loop…");
    let python = python_rate(&root, secs.max(2.0));

    Ok(Measured {
        rust,
        wasm,
        gpu,
        openssl,
        python,
    })
}
