//! Benchmarks of the JBC1 rules: mining (`mine_round` with the midstate
//! beside the naive whole-header loop), header validation, and rebuilding a
//! 100k-block tree from a trusted store.
//!
//! Before the criterion groups it prints the single-stream SHA-256 reference
//! of this machine, `openssl speed -evp sha256` on 16 KiB blocks turned into
//! compressions per second (MB/s ÷ 64), and the ratio of `mine_round` to it,
//! so figures from machines with different CPUs can be compared.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jbc_core::header::Header;
use jbc_core::pow::{Kernel, kernel_name, mine_round, mine_round_naive, mine_round_with};
use jbc_core::validation::validate;
use jbc_core::{Block, BlockHash, Chain, Params, Template};

/// A header no nonce in the measured ranges can satisfy, so every nonce is tried.
fn unreachable_header() -> Header {
    Header {
        index: 1,
        timestamp_ms: 1_700_000_000_000,
        difficulty: 64,
        prev_hash: BlockHash([1; 32]),
        data_hash: BlockHash::sha256(b"bench"),
        nonce: 0,
    }
}

/// `openssl speed -evp sha256` 16 KiB throughput as compressions per second.
fn openssl_compressions_per_sec() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "16384", "-evp", "sha256",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The result line: "sha256   <bytes/s in thousands>k" for the one block size asked.
    let line = text.lines().rev().find(|l| l.starts_with("sha256"))?;
    let kbytes: f64 = line
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kbytes * 1000.0 / 64.0)
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn hashes_per_sec(f: impl Fn(u64, u64), batch: u64) -> f64 {
    let start = Instant::now();
    let mut nonce = 0;
    while start.elapsed() < Duration::from_secs(2) {
        f(nonce, batch);
        nonce += batch;
    }
    nonce as f64 / start.elapsed().as_secs_f64()
}

fn reference_report() {
    let header = unreachable_header();
    let template = Template::new(&header);
    let mine = hashes_per_sec(
        |n, r| {
            black_box(mine_round(&template, n, r));
        },
        100_000,
    );
    let naive = hashes_per_sec(
        |n, r| {
            black_box(mine_round_naive(&header, n, r));
        },
        20_000,
    );
    println!("CPU: {}", cpu_name());
    println!("mine_round (midstate), 1 thread: {:.2} MH/s", mine / 1e6);
    println!("naive whole-header loop, 1 thread: {:.2} MH/s", naive / 1e6);
    match openssl_compressions_per_sec() {
        Some(reference) => println!(
            "openssl speed -evp sha256 (16 KiB): {:.2} M compressions/s; mine_round = {:.2}x, naive = {:.2}x",
            reference / 1e6,
            mine / reference,
            naive / reference
        ),
        None => println!("openssl not found: no single-stream reference"),
    }
}

fn mining(c: &mut Criterion) {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs each
    // benchmark once as a smoke test, where the timed report would only slow CI.
    if std::env::args().any(|a| a == "--bench") {
        reference_report();
    }
    let header = unreachable_header();
    let template = Template::new(&header);
    let mut group = c.benchmark_group("mining");
    const ROUND: u64 = 16_384;
    group.throughput(Throughput::Elements(ROUND));
    group.bench_function(format!("mine_round ({})", kernel_name()), |b| {
        b.iter(|| mine_round(black_box(&template), 0, ROUND))
    });
    for kernel in Kernel::available() {
        group.bench_function(format!("kernel {}", kernel.name()), |b| {
            b.iter(|| mine_round_with(kernel, black_box(&template), 0, ROUND))
        });
    }
    group.bench_function("naive", |b| {
        b.iter(|| mine_round_naive(black_box(&header), 0, ROUND))
    });
    // In-process single-stream reference: sha2 (SHA-NI where present)
    // compressing ROUND blocks of one stream, for the same ratio as openssl's.
    let blocks = [[0x5au8; 64]; 64];
    group.bench_function("sha2 single stream", |b| {
        b.iter(|| {
            let mut state = [0u32; 8];
            for _ in 0..ROUND / 64 {
                sha2::block_api::compress256(&mut state, black_box(&blocks));
            }
            state
        })
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/jbc1-v1.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json");
    let params: Params = serde_json::from_value(v["params"].clone()).expect("params");
    let blocks: Vec<Block> = serde_json::from_value(v["chain"].clone()).expect("chain");
    let mut chain = Chain::new(params);
    for b in &blocks[1..5] {
        chain.accept(b.clone(), u64::MAX / 2).expect("valid");
    }
    let next = chain.next_rules();
    let mut group = c.benchmark_group("validation");
    group.throughput(Throughput::Elements(1));
    group.bench_function("validate_header", |b| {
        b.iter(|| validate(black_box(&blocks[5]), &next, u64::MAX / 2))
    });
    group.finish();
}

fn rebuild(c: &mut Criterion) {
    const BLOCKS: u64 = 100_000;
    let params = Params {
        network: "bench".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        target_block_ms: 1000,
        ..Params::default()
    };
    // A trusted store does not re-check proof of work, so the blocks need not be mined.
    let mut blocks = Vec::with_capacity(BLOCKS as usize);
    let mut prev = jbc_core::genesis(&params).hash;
    for height in 1..=BLOCKS {
        let b = Block::new(height, height * 1000, format!("block {height}"), prev, 1, 0);
        prev = b.hash;
        blocks.push(b);
    }
    let mut group = c.benchmark_group("rebuild");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BLOCKS));
    group.bench_function("insert_trusted_100k", |b| {
        b.iter(|| {
            let mut chain = Chain::new(params.clone());
            for block in &blocks {
                chain.insert_trusted(block.clone()).expect("trusted");
            }
            assert_eq!(chain.height(), BLOCKS);
            chain
        })
    });
    group.finish();
}

criterion_group!(benches, mining, validation, rebuild);
criterion_main!(benches);
