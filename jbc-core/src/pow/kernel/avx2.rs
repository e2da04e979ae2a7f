//! The AVX2 kernel: eight nonces, one per 32-bit lane of a 256-bit register.
//!
//! The message schedule and the rounds run lane-wise (the generic
//! [`compress_tail`]); only the first output word is kept, so the compiler
//! drops the work that the other seven words would need.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_andnot_si256, _mm256_loadu_si256,
    _mm256_or_si256, _mm256_set1_epi32, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_storeu_si256,
    _mm256_xor_si256,
};

use super::{Lanes, Precomputed, compress_tail, nonce_words, scan};
use crate::pow::{RoundResult, Template};

/// Nonces per batch.
const LANES: usize = 8;

/// Eight `u32` lanes. Values of this type are only created inside [`batch`],
/// which runs only on CPUs with AVX2; that is what makes the intrinsic calls
/// in its methods sound.
#[derive(Clone, Copy)]
struct V(__m256i);

macro_rules! rotr {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>($x),
            _mm256_slli_epi32::<{ 32 - $n }>($x),
        )
    };
}

impl Lanes for V {
    #[inline(always)]
    fn splat(x: u32) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe { _mm256_set1_epi32(x as i32) })
    }
    #[inline(always)]
    fn add(self, other: V) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe { _mm256_add_epi32(self.0, other.0) })
    }
    #[inline(always)]
    fn ch(e: V, f: V, g: V) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe { _mm256_xor_si256(_mm256_and_si256(e.0, f.0), _mm256_andnot_si256(e.0, g.0)) })
    }
    #[inline(always)]
    fn maj(a: V, b: V, c: V) -> V {
        // Maj = (a & b) | (c & (a ^ b)): the same bits, one operation fewer.
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe {
            _mm256_or_si256(
                _mm256_and_si256(a.0, b.0),
                _mm256_and_si256(c.0, _mm256_xor_si256(a.0, b.0)),
            )
        })
    }
    #[inline(always)]
    fn bsig0(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe { _mm256_xor_si256(_mm256_xor_si256(rotr!(x, 2), rotr!(x, 13)), rotr!(x, 22)) })
    }
    #[inline(always)]
    fn bsig1(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe { _mm256_xor_si256(_mm256_xor_si256(rotr!(x, 6), rotr!(x, 11)), rotr!(x, 25)) })
    }
    #[inline(always)]
    fn ssig0(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe {
            _mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 7), rotr!(x, 18)),
                _mm256_srli_epi32::<3>(x),
            )
        })
    }
    #[inline(always)]
    fn ssig1(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX2.
        V(unsafe {
            _mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 17), rotr!(x, 19)),
                _mm256_srli_epi32::<10>(x),
            )
        })
    }
}

/// The first word of the final state for the nonces `base + i`, `i < LANES`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn batch(pre: &Precomputed, base: u64, out: &mut [u32; LANES]) {
    let mut hi = [0u32; LANES];
    let mut lo = [0u32; LANES];
    for lane in 0..LANES {
        (hi[lane], lo[lane]) = nonce_words(base.wrapping_add(lane as u64));
    }
    // SAFETY: `hi` and `lo` are 8 `u32`s = 32 bytes; `loadu` needs no alignment.
    let (w6, w7) = unsafe {
        (
            V(_mm256_loadu_si256(hi.as_ptr().cast())),
            V(_mm256_loadu_si256(lo.as_ptr().cast())),
        )
    };
    let state = compress_tail(pre, w6, w7);
    // SAFETY: `out` is 8 `u32`s = 32 bytes; `storeu` needs no alignment.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), state[0].0) };
}

/// The whole scan, compiled with AVX2 so that [`batch`] is inlined.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn run(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    scan::<LANES>(template, start_nonce, count, |base, words| {
        // SAFETY: `run` itself requires AVX2.
        unsafe { batch(&template.pre, base, words) }
    })
}

/// [`crate::pow::mine_round`] eight nonces at a time. Called only when
/// `Kernel::Avx2.is_available()`.
pub(super) fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    // SAFETY: the only caller, `Kernel::mine_round`, checked that the CPU
    // has AVX2 (`Kernel::is_available`).
    unsafe { run(template, start_nonce, count) }
}

/// First words for `out.len() <= LANES` nonces from `base`. Called only
/// when `Kernel::Avx2.is_available()`.
pub(super) fn first_words(pre: &Precomputed, base: u64, out: &mut [u32]) {
    let mut words = [0; LANES];
    // SAFETY: the only caller, `Kernel::first_words`, checked that the CPU
    // has AVX2 (`Kernel::is_available`).
    unsafe { batch(pre, base, &mut words) };
    let n = out.len();
    out.copy_from_slice(&words[..n]);
}
