//! The table of `cargo xtask bench`: every rate in MH/s and as ratios to
//! openssl and Python, then the verdicts against the kernels issue's
//! targets.

use super::measured::{KernelFigures, Measured, Rate};

/// Targets from the kernels issue, as ratios to OpenSSL's single stream.
const SHA_NI_TARGET: f64 = 1.8;
const AVX512_TARGET: f64 = 3.5;
const TWO_THREADS_TARGET: f64 = 1.9;

/// The table: every rate in MH/s and as ratios to openssl and Python.
pub(super) fn print_table(measured: &Measured, figures: &KernelFigures) {
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
pub(super) fn print_verdicts(measured: &Measured, figures: &KernelFigures) {
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
