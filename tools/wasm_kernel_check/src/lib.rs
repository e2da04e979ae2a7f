//! Inside a wasm module: checks that the simd128 kernel agrees with the
//! portable one, and the portable one with a full SHA-256 of the header
//! (`mine_round_naive`), over pseudo-random templates and nonce ranges; and
//! hashes a fixed number of nonces for timing. No imports: `check.mjs`
//! (node) calls the exports.

use jbc_core::pow::{Kernel, mine_round_naive, mine_round_with};
use jbc_core::{BlockHash, Header, Template};

/// splitmix64: a small deterministic generator, enough to spread test cases.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e3779b97f4a7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn random_header(s: &mut u64) -> Header {
    let mut h = [[0u8; 32]; 2];
    for part in h.iter_mut() {
        for chunk in part.chunks_mut(8) {
            chunk.copy_from_slice(&next(s).to_le_bytes());
        }
    }
    Header {
        index: next(s),
        timestamp_ms: next(s),
        difficulty: (next(s) % 25) as u32,
        prev_hash: BlockHash(h[0]),
        data_hash: BlockHash(h[1]),
        nonce: 0,
    }
}

/// 1 if the simd128 kernel is compiled in.
#[unsafe(no_mangle)]
pub extern "C" fn simd_available() -> u32 {
    Kernel::Simd128.is_available() as u32
}

/// Number of disagreements over `cases` pseudo-random cases (seeded): simd128
/// against portable (results and first words), portable against the full
/// SHA-256 loop.
#[unsafe(no_mangle)]
pub extern "C" fn check(seed: u64, cases: u32) -> u32 {
    let mut s = seed;
    let mut bad = 0;
    for case in 0..cases {
        let h = random_header(&mut s);
        let t = Template::new(&h);
        let start = match case % 3 {
            0 => next(&mut s),
            1 => ((next(&mut s) >> 32) << 32).wrapping_sub(next(&mut s) % 40),
            _ => u64::MAX - next(&mut s) % 40,
        };
        let rounds = next(&mut s) % 3000;
        let portable = mine_round_with(Kernel::Portable, &t, start, rounds);
        if rounds <= 300 && portable != Some(mine_round_naive(&h, start, rounds)) {
            bad += 1;
        }
        if Kernel::Simd128.is_available()
            && mine_round_with(Kernel::Simd128, &t, start, rounds) != portable
        {
            bad += 1;
        }
        let mut a = [0u32; 37];
        let mut b = [0u32; 37];
        let simd = Kernel::Simd128.first_words(&t, start, &mut a);
        Kernel::Portable.first_words(&t, start, &mut b);
        if simd && a != b {
            bad += 1;
        }
    }
    bad
}

/// Hashes `rounds` nonces with kernel 0 = portable, 1 = simd128 (at a
/// difficulty never met); returns the next nonce, so the work is used.
#[unsafe(no_mangle)]
pub extern "C" fn mine(kernel: u32, rounds: u64) -> u64 {
    let h = Header {
        index: 1,
        timestamp_ms: 1,
        difficulty: 64,
        prev_hash: BlockHash([1; 32]),
        data_hash: BlockHash([2; 32]),
        nonce: 0,
    };
    let k = if kernel == 1 { Kernel::Simd128 } else { Kernel::Portable };
    match mine_round_with(k, &Template::new(&h), 0, rounds) {
        Some(jbc_core::RoundResult::Exhausted { next_nonce }) => next_nonce.unwrap_or(0),
        Some(jbc_core::RoundResult::Found { nonce, .. }) => nonce,
        None => u64::MAX,
    }
}
