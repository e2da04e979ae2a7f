//! Hash rates of the mining kernels, for `cargo xtask bench`.
//!
//! ```text
//! cargo run --release -p jbc-core --example kernel_bench -- [--secs 1.0]
//! ```
//!
//! Prints one line per measurement,
//! `<what> <name> <threads> <per_wall_sec> <per_cpu_sec> <best_call_per_sec>`:
//! every available kernel on one thread, `mine_round_naive` (full SHA-256 of
//! the 96-byte header per nonce), and the kernel `mine_round` uses on one and
//! on two threads; `reference sha2-compress256`: single-stream SHA-256
//! compressions (sha2's, SHA-NI where present, like `openssl speed`); and
//! `ratio <kernel> 1 <total> <best>`: the kernel's speed over that reference
//! when the two are called in turn. Every measurement is a fixed wall-clock
//! time, so the program always ends.

use std::hint::black_box;
use std::time::{Duration, Instant};

use jbc_core::pow::{Kernel, kernel_name, mine_round, mine_round_naive, mine_round_with};
use jbc_core::{BlockHash, Header, Template};

/// Nonces per `mine_round` call: large enough that the call overhead vanishes.
const ROUND: u64 = 1 << 14;

/// A header that never meets its difficulty in practice (64 bits), so every
/// round is exhausted and every nonce is hashed.
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

/// Nanoseconds this thread has run on a CPU (Linux: /proc/thread-self/schedstat),
/// or `None` where that is not available.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A measured rate: hashes per second of wall-clock time and of this
/// thread's CPU time (the same when the machine is otherwise idle; on a busy
/// machine the CPU-time rate is what the code achieves while it runs, which
/// is also how `openssl speed` counts by default).
/// `best` is the rate of the fastest single call: the speed of a call that
/// no other process interrupted.
#[derive(Clone, Copy, Default)]
struct Rate {
    wall: f64,
    cpu: f64,
    best: f64,
}

impl Rate {
    /// The three figures, space-separated.
    fn line(&self) -> String {
        format!("{:.0} {:.0} {:.0}", self.wall, self.cpu, self.best)
    }
}

/// Hashes per second of `round(start, count)`, called for `secs` seconds.
fn rate(secs: f64, round_len: u64, start: u64, mut round: impl FnMut(u64, u64)) -> Rate {
    let budget = Duration::from_secs_f64(secs);
    // Warm up (page in, clock up) for a tenth of the budget.
    let warm = Instant::now();
    let mut nonce = start;
    while warm.elapsed() < budget / 10 {
        round(nonce, round_len);
        nonce = nonce.wrapping_add(round_len);
    }
    let began = Instant::now();
    let cpu_began = thread_cpu_ns();
    let mut hashed = 0u64;
    let mut fastest = Duration::MAX;
    while began.elapsed() < budget {
        let call = Instant::now();
        round(nonce, round_len);
        fastest = fastest.min(call.elapsed());
        nonce = nonce.wrapping_add(round_len);
        hashed += round_len;
    }
    let wall_secs = began.elapsed().as_secs_f64();
    let cpu_secs = match (cpu_began, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => wall_secs,
    };
    Rate {
        wall: hashed as f64 / wall_secs,
        cpu: hashed as f64 / cpu_secs,
        best: round_len as f64 / fastest.as_secs_f64().max(1e-9),
    }
}

/// Speed of `a` relative to `b`, measured by calling them in turn for
/// `secs` seconds (each call hashes `ROUND` items), so that both see the same
/// machine load: (ratio of total rates, ratio of fastest calls).
fn interleaved_ratio(secs: f64, mut a: impl FnMut(u64), mut b: impl FnMut(u64)) -> (f64, f64) {
    let budget = Duration::from_secs_f64(secs);
    let began = Instant::now();
    let (mut time_a, mut time_b) = (Duration::ZERO, Duration::ZERO);
    let (mut best_a, mut best_b) = (Duration::MAX, Duration::MAX);
    let mut nonce = 0u64;
    while began.elapsed() < budget {
        let call = Instant::now();
        a(nonce);
        let took_a = call.elapsed();
        let call = Instant::now();
        b(nonce);
        let took_b = call.elapsed();
        time_a += took_a;
        time_b += took_b;
        best_a = best_a.min(took_a);
        best_b = best_b.min(took_b);
        nonce = nonce.wrapping_add(ROUND);
    }
    let ratio = |x: Duration, y: Duration| y.as_secs_f64() / x.as_secs_f64().max(1e-12);
    (ratio(time_a, time_b), ratio(best_a, best_b))
}

/// The combined rate of `threads` threads mining disjoint nonce ranges.
fn threaded_rate(secs: f64, threads: u64) -> Rate {
    let template = Template::new(&header());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let template = &template;
                scope.spawn(move || {
                    rate(secs, ROUND, t << 48, |n, r| {
                        black_box(mine_round(black_box(template), n, r));
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .fold(Rate::default(), |sum, r| Rate {
                wall: sum.wall + r.wall,
                cpu: sum.cpu + r.cpu,
                best: sum.best + r.best,
            })
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 60.0)
        .unwrap_or(1.0);
    let header = header();
    let template = Template::new(&header);

    for kernel in Kernel::available() {
        let hps = rate(secs, ROUND, 0, |n, r| {
            black_box(mine_round_with(kernel, black_box(&template), n, r));
        });
        println!("kernel {} 1 {}", kernel.name(), hps.line());
    }
    let naive = rate(secs, ROUND / 16, 0, |n, r| {
        black_box(mine_round_naive(black_box(&header), n, r));
    });
    println!("naive mine_round_naive 1 {}", naive.line());
    // In-process single-stream reference: sha2's compression function on one
    // 64-byte block at a time (SHA-NI where the CPU has it, like OpenSSL).
    let blocks = [[0x5au8; 64]; 64];
    let mut state = [0u32; 8];
    let single = rate(secs, ROUND, 0, |_, _| {
        for _ in 0..ROUND / 64 {
            sha2::block_api::compress256(&mut state, black_box(&blocks));
        }
    });
    println!("reference sha2-compress256 1 {}", single.line());
    // Each kernel against that reference, called in turn.
    for kernel in Kernel::available() {
        let (total, best) = interleaved_ratio(
            secs,
            |n| {
                black_box(mine_round_with(kernel, black_box(&template), n, ROUND));
            },
            |_| {
                for _ in 0..ROUND / 64 {
                    sha2::block_api::compress256(&mut state, black_box(&blocks));
                }
            },
        );
        println!("ratio {} 1 {total:.3} {best:.3}", kernel.name());
    }
    black_box(state);
    // What a node would pick at start-up by measuring.
    println!("calibrate {}", jbc_core::pow::calibrate(300).name());
    for threads in [1, 2] {
        let hps = threaded_rate(secs, threads);
        println!("threads {} {threads} {}", kernel_name(), hps.line());
    }
}
