//! Criterion benchmarks of each mining kernel available on this machine,
//! beside the naive loop and sha2's single-stream compression (the in-process
//! stand-in for `openssl speed -evp sha256`). Throughput is in hashes
//! (compressions): criterion prints it as Melem/s.
//!
//! ```text
//! cargo bench -p jbc-core --bench kernels
//! ```
//!
//! `cargo xtask bench` gives the side-by-side table with OpenSSL and the
//! Python loop.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jbc_core::pow::{Kernel, mine_round_naive, mine_round_with};
use jbc_core::{BlockHash, Header, Template};

/// Nonces per measured call.
const ROUND: u64 = 16_384;

/// A header whose difficulty is never met, so every nonce is hashed.
fn header() -> Header {
    Header {
        index: 1,
        timestamp_ms: 1_700_000_000_000,
        difficulty: 64,
        prev_hash: BlockHash([0x11; 32]),
        data_hash: BlockHash::sha256(b"kernel bench"),
        nonce: 0,
    }
}

fn kernels(c: &mut Criterion) {
    let header = header();
    let template = Template::new(&header);
    let mut group = c.benchmark_group("kernels");
    group.throughput(Throughput::Elements(ROUND));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(20);
    for kernel in Kernel::available() {
        group.bench_function(kernel.name(), |b| {
            b.iter(|| mine_round_with(kernel, black_box(&template), 0, ROUND))
        });
    }
    group.bench_function("naive", |b| {
        b.iter(|| mine_round_naive(black_box(&header), 0, ROUND))
    });
    let blocks = [[0x5au8; 64]; 64];
    group.bench_function("sha2-single-stream", |b| {
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

criterion_group!(benches, kernels);
criterion_main!(benches);
