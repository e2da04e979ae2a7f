//! The WebAssembly `simd128` kernel: four nonces per 128-bit register.
//!
//! Compiled only into a wasm module built with
//! `RUSTFLAGS="-C target-feature=+simd128"`; such a module does not even
//! validate in a browser without SIMD, so the page chooses between this
//! build and the scalar one (with `WebAssembly.validate`), and no run-time
//! check is needed here. wasm has no vector rotate: `rotr` is two shifts and
//! an OR; `Ch` and `Maj` are one `v128.bitselect` each.

use core::arch::wasm32::{
    i32x4_shl, u32x4, u32x4_add, u32x4_extract_lane, u32x4_shr, u32x4_splat, v128, v128_bitselect,
    v128_or, v128_xor,
};

use super::{Lanes, Precomputed, compress_tail, nonce_words, scan};
use crate::pow::{RoundResult, Template};

/// 128-bit vectors processed side by side. Two (eight lanes) would give the
/// CPU two independent dependency chains, but in V8 (node 20) they ran at
/// 4.1 MH/s against 6.4 MH/s for one (register spills), so one it is.
const VECTORS: usize = 1;

/// Nonces per batch.
const LANES: usize = 4 * VECTORS;

/// `4 * VECTORS` `u32` lanes.
#[derive(Clone, Copy)]
struct V([v128; VECTORS]);

#[inline(always)]
fn rotr(x: v128, n: u32) -> v128 {
    v128_or(u32x4_shr(x, n), i32x4_shl(x, 32 - n))
}

#[inline(always)]
fn map1(x: V, f: impl Fn(v128) -> v128) -> V {
    V(x.0.map(f))
}

#[inline(always)]
fn map2(x: V, y: V, f: impl Fn(v128, v128) -> v128) -> V {
    V(core::array::from_fn(|i| f(x.0[i], y.0[i])))
}

#[inline(always)]
fn map3(x: V, y: V, z: V, f: impl Fn(v128, v128, v128) -> v128) -> V {
    V(core::array::from_fn(|i| f(x.0[i], y.0[i], z.0[i])))
}

impl Lanes for V {
    #[inline(always)]
    fn splat(x: u32) -> V {
        V([u32x4_splat(x); VECTORS])
    }
    #[inline(always)]
    fn add(self, other: V) -> V {
        map2(self, other, |a, b| u32x4_add(a, b))
    }
    #[inline(always)]
    fn ch(e: V, f: V, g: V) -> V {
        // Where a bit of e is set take f's bit, else g's.
        map3(e, f, g, |e, f, g| v128_bitselect(f, g, e))
    }
    #[inline(always)]
    fn maj(a: V, b: V, c: V) -> V {
        // Where a and b agree the majority is their bit, else c's.
        map3(a, b, c, |a, b, c| v128_bitselect(c, b, v128_xor(a, b)))
    }
    #[inline(always)]
    fn bsig0(self) -> V {
        map1(self, |x| {
            v128_xor(v128_xor(rotr(x, 2), rotr(x, 13)), rotr(x, 22))
        })
    }
    #[inline(always)]
    fn bsig1(self) -> V {
        map1(self, |x| {
            v128_xor(v128_xor(rotr(x, 6), rotr(x, 11)), rotr(x, 25))
        })
    }
    #[inline(always)]
    fn ssig0(self) -> V {
        map1(self, |x| {
            v128_xor(v128_xor(rotr(x, 7), rotr(x, 18)), u32x4_shr(x, 3))
        })
    }
    #[inline(always)]
    fn ssig1(self) -> V {
        map1(self, |x| {
            v128_xor(v128_xor(rotr(x, 17), rotr(x, 19)), u32x4_shr(x, 10))
        })
    }
}

/// The first word of the final state for the nonces `base + i`, `i < LANES`.
fn batch(pre: &Precomputed, base: u64, out: &mut [u32; LANES]) {
    let n: [(u32, u32); LANES] = core::array::from_fn(|i| nonce_words(base.wrapping_add(i as u64)));
    let w6 = V(core::array::from_fn(|v| {
        let n = &n[4 * v..];
        u32x4(n[0].0, n[1].0, n[2].0, n[3].0)
    }));
    let w7 = V(core::array::from_fn(|v| {
        let n = &n[4 * v..];
        u32x4(n[0].1, n[1].1, n[2].1, n[3].1)
    }));
    let first = compress_tail(pre, w6, w7)[0].0;
    for (chunk, v) in out.chunks_exact_mut(4).zip(first) {
        chunk.copy_from_slice(&[
            u32x4_extract_lane::<0>(v),
            u32x4_extract_lane::<1>(v),
            u32x4_extract_lane::<2>(v),
            u32x4_extract_lane::<3>(v),
        ]);
    }
}

/// [`crate::pow::mine_round`] [`LANES`] nonces at a time.
pub(super) fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    scan::<LANES>(template, start_nonce, count, |base, words| {
        batch(&template.pre, base, words)
    })
}

/// First words for `out.len() <= LANES` nonces from `base`.
pub(super) fn first_words(pre: &Precomputed, base: u64, out: &mut [u32]) {
    let mut words = [0; LANES];
    batch(pre, base, &mut words);
    let n = out.len();
    out.copy_from_slice(&words[..n]);
}
