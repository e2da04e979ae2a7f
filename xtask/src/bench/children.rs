//! The programs `cargo xtask bench` runs besides the kernel benchmark —
//! the GPU benchmark, the wasm kernel check under node, the Python loop —
//! and [`run_with_timeout`], which runs each child with a time limit.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::measured::{GpuRate, Rate, WasmRates};
use crate::{TaskResult, cargo, root};

/// Builds `package`'s example `name` in release mode (within `limit`):
/// the path of its binary.
pub(crate) fn release_example(
    root: &std::path::Path,
    package: &str,
    name: &str,
    limit: Duration,
) -> Result<std::path::PathBuf, String> {
    let mut build = cargo();
    build
        .args(["build", "--release", "-p", package, "--example", name])
        .current_dir(root);
    run_with_timeout(&mut build, limit, false)?;
    Ok(crate::target_dir()
        .join("release/examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// Builds and runs `jbc-miner/examples/gpu_bench.rs` (release).
pub(crate) fn gpu_rate(root: &std::path::Path, secs: f64) -> Result<GpuRate, String> {
    let exe = release_example(root, "jbc-miner", "gpu_bench", Duration::from_secs(1800))?;
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
pub(crate) fn wasm_kernel_check() -> TaskResult {
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

/// Builds the wasm kernel check with simd128 and runs it under node. An
/// error if node is missing, or if any kernel disagreed inside the module.
pub(super) fn wasm_rates(root: &std::path::Path) -> Result<WasmRates, String> {
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
pub(super) fn python_rate(root: &std::path::Path, secs: f64) -> Result<Rate, String> {
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
pub(super) fn run_with_timeout(
    cmd: &mut Command,
    limit: Duration,
    capture: bool,
) -> Result<String, String> {
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
