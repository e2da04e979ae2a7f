//! GPU hash rate through wgpu, for `cargo xtask bench`:
//! `cargo run --release -p jbc-miner --example gpu_bench -- --secs 2`.
//!
//! Mines a header at difficulty 64 (never found) in dispatches sized to
//! about 50 ms, for `--secs` seconds after a warm-up, and prints one line:
//! `gpu <hashes/s overall> <hashes/s fastest dispatch> <software 0|1> <adapter name…>`,
//! or `gpu none <why>` when there is no adapter.

use std::time::{Duration, Instant};

use jbc_core::pow::Template;
use jbc_core::pow::gpu::{Dispatch, MAX_DISPATCH_NONCES, NO_RESULT};
use jbc_core::{BlockHash, Header, RoundPacer};
use jbc_miner::GpuMiner;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0)
        .clamp(0.1, 60.0);
    let gpu = match GpuMiner::new() {
        Ok(gpu) => gpu,
        Err(e) => {
            println!("gpu none {e}");
            return;
        }
    };
    let template = Template::new(&Header {
        index: 1,
        timestamp_ms: 1,
        difficulty: 64,
        prev_hash: BlockHash::ZERO,
        data_hash: BlockHash::ZERO,
        nonce: 0,
    });
    // Dispatches of about 50 ms, from 2^12 nonces up.
    let mut pacer = RoundPacer::new(50_000, 1 << 12, 1 << 12, u64::from(MAX_DISPATCH_NONCES));
    let mut nonce = 0u64;
    let mut run = |pacer: &mut RoundPacer| -> (u64, Duration) {
        let dispatch = Dispatch::new(nonce, pacer.size() as u32).expect("non-empty");
        let started = Instant::now();
        let best = gpu
            .run_dispatch(&dispatch, &dispatch.uniform(&template))
            .expect("dispatch");
        let took = started.elapsed();
        assert_eq!(best, NO_RESULT, "difficulty 64 is never met");
        pacer.observe(u64::from(dispatch.count()), took.as_micros() as u64);
        nonce += u64::from(dispatch.count());
        (u64::from(dispatch.count()), took)
    };
    // Warm-up: the pacer finds its size, the driver compiles the pipeline.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(500) {
        run(&mut pacer);
    }
    let started = Instant::now();
    let mut hashes = 0u64;
    let mut best = 0f64;
    while started.elapsed().as_secs_f64() < secs {
        let (count, took) = run(&mut pacer);
        hashes += count;
        best = best.max(count as f64 / took.as_secs_f64().max(1e-9));
    }
    let overall = hashes as f64 / started.elapsed().as_secs_f64();
    let adapter = gpu.adapter();
    println!(
        "gpu {overall:.0} {best:.0} {} {}",
        u8::from(adapter.software),
        adapter.name
    );
}
