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

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TaskResult, cargo, root};

/// Targets from the kernels issue, as ratios to OpenSSL's single stream.
const SHA_NI_TARGET: f64 = 1.8;
const AVX512_TARGET: f64 = 3.5;
const TWO_THREADS_TARGET: f64 = 1.9;

/// One measured rate in hashes (compressions) per second: per second of
/// wall-clock time, of CPU time, and of the fastest single call (`None`
/// where the measurement has no such figure).
#[derive(Debug, Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
    best: Option<f64>,
}

/// Runs the benchmark and prints the table.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse_args(args)?;
    let measured = collect(&options)?;
    let figures = KernelFigures::parse(&measured.rust)?;
    print_table(&measured, &figures);
    print_verdicts(&measured, &figures);
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

/// Everything measured in one run: the kernel benchmark's output and the
/// references.
struct Measured {
    rust: String,
    wasm: Result<WasmRates, String>,
    gpu: Result<GpuRate, String>,
    openssl: Result<f64, String>,
    python: Result<Rate, String>,
}

/// Builds and runs every measurement (each child bounded in time).
fn collect(options: &Options) -> Result<Measured, String> {
    let secs = options.secs;
    let root = root();

    eprintln!("building the kernel benchmark (release)…");
    let mut build = cargo();
    build
        .args([
            "build",
            "--release",
            "-p",
            "jbc-core",
            "--example",
            "kernel_bench",
        ])
        .current_dir(&root);
    run_with_timeout(&mut build, Duration::from_secs(1200), false)?;
    let exe = crate::target_dir()
        .join("release/examples")
        .join(format!("kernel_bench{}", std::env::consts::EXE_SUFFIX));

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

/// The lines of `kernel_bench`'s output, parsed.
#[derive(Default)]
struct KernelFigures {
    kernels: Vec<(String, Rate)>,
    naive: Option<Rate>,
    single_stream: Option<Rate>,
    ratios: Vec<(String, f64, f64)>,
    calibrated: Option<String>,
    threads: Vec<(String, u32, Rate)>,
}

impl KernelFigures {
    fn parse(rust: &str) -> Result<KernelFigures, String> {
        let mut kernels: Vec<(String, Rate)> = Vec::new();
        let mut naive = None;
        let mut single_stream = None;
        let mut ratios: Vec<(String, f64, f64)> = Vec::new();
        let mut calibrated = None;
        let mut threads: Vec<(String, u32, Rate)> = Vec::new();
        for line in rust.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let ["calibrate", name] = fields[..] {
                calibrated = Some(name.to_string());
                continue;
            }
            if let ["ratio", name, _, total, best] = fields[..] {
                if let (Ok(total), Ok(best)) = (total.parse(), best.parse()) {
                    ratios.push((name.to_string(), total, best));
                }
                continue;
            }
            let [what, name, count, wall, cpu, best] = fields[..] else {
                continue;
            };
            let (Ok(count), Ok(wall), Ok(cpu), Ok(best)) =
                (count.parse(), wall.parse(), cpu.parse(), best.parse())
            else {
                continue;
            };
            let rate = Rate {
                wall,
                cpu,
                best: Some(best),
            };
            match what {
                "kernel" => kernels.push((name.to_string(), rate)),
                "naive" => naive = Some(rate),
                "reference" => single_stream = Some(rate),
                "threads" => threads.push((name.to_string(), count, rate)),
                _ => {}
            }
        }
        if kernels.is_empty() {
            return Err(format!(
                "no kernel figures in the benchmark output:\n{rust}"
            ));
        }
        Ok(KernelFigures {
            kernels,
            naive,
            single_stream,
            ratios,
            calibrated,
            threads,
        })
    }
}

/// The table: every rate in MH/s and as ratios to openssl and Python.
fn print_table(measured: &Measured, figures: &KernelFigures) {
    let Measured {
        wasm,
        gpu,
        openssl,
        python,
        ..
    } = measured;
    let KernelFigures {
        kernels,
        naive,
        single_stream,
        threads,
        ..
    } = figures;
    println!();
    println!("CPU: {}", crate::reference::cpu_name());
    println!(
        "{:<40} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "MH/s, 1 thread unless said", "wall", "cpu", "best", "x ossl", "x ossl*", "x python"
    );
    let reference = openssl.as_ref().ok().copied();
    let python_cpu = python.as_ref().ok().map(|r| r.cpu);
    let row = |label: &str, r: Rate| {
        let ratio = |x: Option<f64>, base: Option<f64>| match (x, base) {
            (Some(x), Some(b)) if b > 0.0 => format!("{:.2}", x / b),
            _ => "-".into(),
        };
        println!(
            "{:<40} {:>9.2} {:>9.2} {:>9} {:>9} {:>9} {:>9}",
            label,
            r.wall / 1e6,
            r.cpu / 1e6,
            r.best.map_or("-".into(), |b| format!("{:.2}", b / 1e6)),
            ratio(Some(r.cpu), reference),
            ratio(r.best, reference),
            ratio(Some(r.cpu), python_cpu),
        );
    };
    for (name, rate) in kernels {
        row(&format!("kernel {name}"), *rate);
    }
    if let Some(rate) = naive {
        row("mine_round_naive (2 x sha2 per nonce)", *rate);
    }
    match &python {
        Ok(rate) => row("python legacy loop (hashlib)", *rate),
        Err(e) => println!("python legacy loop: not measured ({e})"),
    }
    match &openssl {
        Ok(c) => row(
            "openssl speed -evp sha256 (16 KiB) / 64",
            Rate {
                wall: *c,
                cpu: *c,
                best: None,
            },
        ),
        Err(e) => println!("openssl: not measured ({e})"),
    }
    if let Some(rate) = single_stream {
        row("sha2 compress256, single stream", *rate);
    }
    for (name, count, rate) in threads {
        row(&format!("mine_round ({name}), {count} thread(s)"), *rate);
    }
    match &wasm {
        Ok(w) => {
            for (name, hps) in &w.rates {
                row(
                    &format!("wasm {name} in node (best of 10)"),
                    Rate {
                        wall: *hps,
                        cpu: *hps,
                        best: Some(*hps),
                    },
                );
            }
        }
        Err(e) => println!("wasm kernels: not measured ({e})"),
    }
    match &gpu {
        Ok(g) => {
            let x = |r: f64| reference.map_or("-".into(), |b| format!("{:.2}x openssl", r / b));
            println!(
                "GPU via wgpu, adapter {}: {:.2} MH/s overall, {:.2} MH/s fastest dispatch ({}, {}){}",
                g.adapter,
                g.overall / 1e6,
                g.best / 1e6,
                x(g.overall),
                x(g.best),
                if g.software {
                    "\n  a software adapter (lavapipe/llvmpipe runs the shader on this CPU's cores): not a GPU figure"
                } else {
                    ""
                }
            );
        }
        Err(e) => println!("GPU: not measured ({e})"),
    }
    println!(
        "wall: hashes per wall-clock second; cpu: per second of the thread's CPU time \
         (openssl speed also counts CPU time);\nbest: the fastest single call of 16384 nonces. \
         x ossl = cpu / openssl, x ossl* = best / openssl."
    );
}

/// The ratios against the kernels issue's targets.
fn print_verdicts(measured: &Measured, figures: &KernelFigures) {
    let reference = measured.openssl.as_ref().ok().copied();
    let wasm = &measured.wasm;
    let KernelFigures {
        kernels,
        ratios,
        calibrated,
        threads,
        ..
    } = figures;
    println!();
    println!(
        "each kernel called in turn with sha2's single-stream compression (same load for both):"
    );
    for (name, total, best) in ratios {
        println!("  {name:<10} {total:.2}x overall, {best:.2}x fastest call vs fastest call");
    }
    println!();
    let best = kernels
        .iter()
        .max_by(|a, b| a.1.cpu.total_cmp(&b.1.cpu))
        .map(|(n, _)| n.clone())
        .unwrap_or_default();
    println!(
        "fastest kernel here: {best} (default choice: {}; pow::calibrate() measured: {})",
        kernels.first().map_or("-", |k| k.0.as_str()),
        calibrated.as_deref().unwrap_or("-")
    );
    if let Some(reference) = reference {
        for (name, rate) in kernels {
            let target = match name.as_str() {
                "sha-ni" => Some(SHA_NI_TARGET),
                "avx512" => Some(AVX512_TARGET),
                _ => None,
            };
            if let Some(target) = target {
                let cpu = rate.cpu / reference;
                let best = rate.best.unwrap_or(rate.cpu) / reference;
                let verdict = |r: f64| if r >= target { "met" } else { "NOT met" };
                println!(
                    "{name}: {cpu:.2}x openssl by CPU time ({}), {best:.2}x by fastest call ({}); \
                     target {target}x",
                    verdict(cpu),
                    verdict(best)
                );
            }
        }
    }
    if let Ok(w) = &wasm {
        println!(
            "wasm: simd128 = portable = full SHA-256 on {} pseudo-random cases inside the module",
            w.cases
        );
    }
    let one = threads.iter().find(|t| t.1 == 1).map(|t| t.2);
    let two = threads.iter().find(|t| t.1 == 2).map(|t| t.2);
    if let (Some(one), Some(two)) = (one, two) {
        let wall = two.wall / one.wall;
        let cpu = two.cpu / one.cpu;
        let best = two.best.unwrap_or(two.cpu) / one.best.unwrap_or(one.cpu);
        println!(
            "2 threads vs 1: {wall:.2}x wall-clock, {cpu:.2}x by CPU time, {best:.2}x by fastest \
             calls (target {TWO_THREADS_TARGET}x; the wall-clock figure needs two otherwise idle cores)"
        );
    }
}

/// What `gpu_bench` measured.
#[derive(Debug)]
pub(crate) struct GpuRate {
    /// Hashes per second over the whole run.
    pub(crate) overall: f64,
    best: f64,
    /// A software adapter (the CPU runs the shader).
    pub(crate) software: bool,
    /// The adapter's name.
    pub(crate) adapter: String,
}

/// Builds and runs `jbc-miner/examples/gpu_bench.rs` (release).
pub(crate) fn gpu_rate(root: &std::path::Path, secs: f64) -> Result<GpuRate, String> {
    let mut build = cargo();
    build
        .args([
            "build",
            "--release",
            "-p",
            "jbc-miner",
            "--example",
            "gpu_bench",
        ])
        .current_dir(root);
    run_with_timeout(&mut build, Duration::from_secs(1800), false)?;
    let exe = crate::target_dir()
        .join("release/examples")
        .join(format!("gpu_bench{}", std::env::consts::EXE_SUFFIX));
    let out = run_with_timeout(
        Command::new(&exe).args(["--secs", &secs.max(1.0).to_string()]),
        Duration::from_secs_f64(secs * 4.0 + 120.0),
        true,
    )?;
    parse_gpu_line(&out)
}

/// `gpu <overall H/s> <best H/s> <software 0|1> <adapter…>` or `gpu none <why>`.
fn parse_gpu_line(out: &str) -> Result<GpuRate, String> {
    let line = out
        .lines()
        .find(|l| l.starts_with("gpu "))
        .ok_or_else(|| format!("gpu_bench printed no result:\n{out}"))?;
    if let Some(why) = line.strip_prefix("gpu none ") {
        return Err(why.to_string());
    }
    let mut fields = line.splitn(5, ' ').skip(1);
    let overall = fields.next().and_then(|f| f.parse::<f64>().ok());
    let best = fields.next().and_then(|f| f.parse::<f64>().ok());
    match (overall, best, fields.next(), fields.next()) {
        (Some(overall), Some(best), Some(software), Some(adapter)) => Ok(GpuRate {
            overall,
            best,
            software: software == "1",
            adapter: adapter.to_string(),
        }),
        _ => Err(format!("unreadable gpu_bench line {line:?}")),
    }
}

/// The simd128 kernel's equality check inside a real wasm module (part of
/// `cargo xtask test`): fails unless every case agrees with the portable kernel.
pub fn wasm_kernel_check() -> TaskResult {
    let rates = wasm_rates(&root())?;
    if rates.cases == 0 {
        return Err("the wasm kernel check ran no case".into());
    }
    println!(
        "wasm kernels: simd128 and portable agree on all {} cases",
        rates.cases
    );
    Ok(())
}

/// What `tools/wasm_kernel_check` reported.
struct WasmRates {
    /// Cases checked, all in agreement.
    cases: u64,
    /// (kernel, hashes per second).
    rates: Vec<(String, f64)>,
}

/// Builds the wasm kernel check with simd128 and runs it under node. An
/// error if node is missing, or if any kernel disagreed inside the module.
fn wasm_rates(root: &std::path::Path) -> Result<WasmRates, String> {
    run_with_timeout(
        Command::new("node").arg("--version"),
        Duration::from_secs(30),
        true,
    )
    .map_err(|e| format!("node not available: {e}"))?;
    crate::setup::wasm_target()?;
    let dir = root.join("tools/wasm_kernel_check");
    let target_dir = root.join("target/wasm-simd");
    let mut build = cargo();
    build
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .current_dir(&dir)
        .env("RUSTFLAGS", "-C target-feature=+simd128")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir);
    run_with_timeout(&mut build, Duration::from_secs(1200), false)?;
    let wasm = target_dir.join("wasm32-unknown-unknown/release/wasm_kernel_check.wasm");
    let mut node = Command::new("node");
    node.arg(dir.join("check.mjs")).arg(&wasm);
    let out = run_with_timeout(&mut node, Duration::from_secs(300), true)?;
    let mut result = WasmRates {
        cases: 0,
        rates: Vec::new(),
    };
    for line in out.lines() {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["wasm-check", bad, cases] => {
                if bad != "0" {
                    return Err(format!("kernels DISAGREE inside wasm: {line}"));
                }
                result.cases = cases.parse().unwrap_or(0);
            }
            ["wasm", name, mhs] => {
                if let Ok(mhs) = mhs.parse::<f64>() {
                    result.rates.push((name.to_string(), mhs * 1e6));
                }
            }
            _ => {}
        }
    }
    Ok(result)
}

/// Rate of the original Python loop.
fn python_rate(root: &std::path::Path, secs: f64) -> Result<Rate, String> {
    let out = run_with_timeout(
        Command::new("python3")
            .arg(root.join("tools/legacy_miner.py"))
            .args(["--secs", &secs.to_string()]),
        Duration::from_secs_f64(secs + 60.0),
        true,
    )?;
    let fields: Vec<&str> = out.split_whitespace().collect();
    match fields[..] {
        ["legacy_python", wall, cpu, ..] => match (wall.parse(), cpu.parse()) {
            (Ok(wall), Ok(cpu)) => Ok(Rate {
                wall,
                cpu,
                best: None,
            }),
            _ => Err(format!("cannot read {out:?}")),
        },
        _ => Err(format!("cannot read {out:?}")),
    }
}

/// Runs `cmd`, killing it after `limit`; returns its stdout when `capture`
/// (else lets it print) and fails on a non-zero exit.
fn run_with_timeout(cmd: &mut Command, limit: Duration, capture: bool) -> Result<String, String> {
    eprintln!("+ {cmd:?}");
    if capture {
        cmd.stdout(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    // Read stdout on a thread so a full pipe never blocks the child.
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let began = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if began.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{:?} took longer than {limit:?}",
                    cmd.get_program()
                ));
            }
            Err(e) => return Err(format!("waiting for {:?}: {e}", cmd.get_program())),
        }
    };
    let text = reader
        .map(|r| r.join().unwrap_or_default())
        .unwrap_or_default();
    if status.success() {
        Ok(text)
    } else {
        Err(format!("{:?} failed: {status}", cmd.get_program()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gpu_line() {
        let g = parse_gpu_line("noise\ngpu 3355980 4031140 1 llvmpipe (LLVM 15.0.6, 256 bits)\n")
            .unwrap();
        assert_eq!(g.overall, 3_355_980.0);
        assert_eq!(g.best, 4_031_140.0);
        assert!(g.software);
        assert_eq!(g.adapter, "llvmpipe (LLVM 15.0.6, 256 bits)");
        assert_eq!(
            parse_gpu_line("gpu none no adapter").unwrap_err(),
            "no adapter"
        );
        assert!(parse_gpu_line("gpu x y").is_err());
    }
}
