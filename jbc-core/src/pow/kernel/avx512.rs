//! The AVX-512 kernel: sixteen nonces, one per 32-bit lane of a 512-bit
//! register. Needs only AVX-512F: `vprord` rotates in one instruction and
//! `vpternlogd` does `Ch`, `Maj` and three-way XORs in one.
//!
//! Like the AVX2 kernel it keeps only the first output word. Not run on the
//! development machine (an AMD EPYC without AVX-512): its results are checked
//! by the same equality tests wherever the CPU has AVX-512F.

use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_ror_epi32, _mm512_set1_epi32,
    _mm512_srli_epi32, _mm512_storeu_si512, _mm512_ternarylogic_epi32,
};

use super::{Lanes, Precomputed, compress_tail, nonce_words, scan};
use crate::pow::{RoundResult, Template};

/// Nonces per batch.
const LANES: usize = 16;

/// Sixteen `u32` lanes. Values of this type are only created inside
/// [`batch`], which runs only on CPUs with AVX-512F; that is what makes the
/// intrinsic calls in its methods sound.
#[derive(Clone, Copy)]
struct V(__m512i);

/// `vpternlogd` truth tables: bit `4a + 2b + c` of the immediate is the result.
const XOR3: i32 = 0x96;
/// `a ? b : c`.
const CHOOSE: i32 = 0xCA;
/// At least two of three bits set.
const MAJORITY: i32 = 0xE8;

impl Lanes for V {
    #[inline(always)]
    fn splat(x: u32) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe { _mm512_set1_epi32(x as i32) })
    }
    #[inline(always)]
    fn add(self, other: V) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe { _mm512_add_epi32(self.0, other.0) })
    }
    #[inline(always)]
    fn ch(e: V, f: V, g: V) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe { _mm512_ternarylogic_epi32::<CHOOSE>(e.0, f.0, g.0) })
    }
    #[inline(always)]
    fn maj(a: V, b: V, c: V) -> V {
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe { _mm512_ternarylogic_epi32::<MAJORITY>(a.0, b.0, c.0) })
    }
    #[inline(always)]
    fn bsig0(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe {
            _mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<2>(x),
                _mm512_ror_epi32::<13>(x),
                _mm512_ror_epi32::<22>(x),
            )
        })
    }
    #[inline(always)]
    fn bsig1(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe {
            _mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<6>(x),
                _mm512_ror_epi32::<11>(x),
                _mm512_ror_epi32::<25>(x),
            )
        })
    }
    #[inline(always)]
    fn ssig0(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe {
            _mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<7>(x),
                _mm512_ror_epi32::<18>(x),
                _mm512_srli_epi32::<3>(x),
            )
        })
    }
    #[inline(always)]
    fn ssig1(self) -> V {
        let x = self.0;
        // SAFETY: a `V` only exists inside `batch`, on a CPU with AVX-512F.
        V(unsafe {
            _mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<17>(x),
                _mm512_ror_epi32::<19>(x),
                _mm512_srli_epi32::<10>(x),
            )
        })
    }
}

/// The first word of the final state for the nonces `base + i`, `i < LANES`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn batch(pre: &Precomputed, base: u64, out: &mut [u32; LANES]) {
    let mut hi = [0u32; LANES];
    let mut lo = [0u32; LANES];
    for lane in 0..LANES {
        (hi[lane], lo[lane]) = nonce_words(base.wrapping_add(lane as u64));
    }
    // SAFETY: `hi` and `lo` are 16 `u32`s = 64 bytes; `loadu` needs no alignment.
    let (w6, w7) = unsafe {
        (
            V(_mm512_loadu_si512(hi.as_ptr().cast())),
            V(_mm512_loadu_si512(lo.as_ptr().cast())),
        )
    };
    let state = compress_tail(pre, w6, w7);
    // SAFETY: `out` is 16 `u32`s = 64 bytes; `storeu` needs no alignment.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), state[0].0) };
}

/// The whole scan, compiled with AVX-512F so that [`batch`] is inlined.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn run(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    scan::<LANES>(template, start_nonce, count, |base, words| {
        // SAFETY: `run` itself requires AVX-512F.
        unsafe { batch(&template.pre, base, words) }
    })
}

/// [`crate::pow::mine_round`] sixteen nonces at a time. Called only when
/// `Kernel::Avx512.is_available()`.
pub(super) fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    // SAFETY: the only caller, `Kernel::mine_round`, checked that the CPU
    // has AVX-512F (`Kernel::is_available`).
    unsafe { run(template, start_nonce, count) }
}

/// First words for `out.len() <= LANES` nonces from `base`. Called only
/// when `Kernel::Avx512.is_available()`.
pub(super) fn first_words(pre: &Precomputed, base: u64, out: &mut [u32]) {
    let mut words = [0; LANES];
    // SAFETY: the only caller, `Kernel::first_words`, checked that the CPU
    // has AVX-512F (`Kernel::is_available`).
    unsafe { batch(pre, base, &mut words) };
    let n = out.len();
    out.copy_from_slice(&words[..n]);
}

#[cfg(test)]
mod tests {
    use super::{CHOOSE, MAJORITY, XOR3};
    use crate::pow::kernel::Lanes;

    /// What `vpternlogd` computes for one bit of each input: bit
    /// `4a + 2b + c` of the immediate.
    fn ternlog(imm: i32, a: u32, b: u32, c: u32) -> u32 {
        (0..32)
            .map(|bit| {
                let index = ((a >> bit) & 1) << 2 | ((b >> bit) & 1) << 1 | ((c >> bit) & 1);
                (((imm as u32) >> index) & 1) << bit
            })
            .fold(0, |acc, x| acc | x)
    }

    /// The truth tables this kernel passes to `vpternlogd` are the portable
    /// kernel's functions. (The AVX-512 kernel itself cannot run on CPUs
    /// without AVX-512F; there, this is what can be checked.)
    #[test]
    fn ternary_logic_immediates_are_ch_maj_and_xor3() {
        let words = [
            0u32,
            u32::MAX,
            0x6a09e667,
            0xbb67ae85,
            0x3c6ef372,
            0x0f0f00ff,
            0x12345678,
        ];
        for &a in &words {
            for &b in &words {
                for &c in &words {
                    assert_eq!(ternlog(CHOOSE, a, b, c), <u32 as Lanes>::ch(a, b, c));
                    assert_eq!(ternlog(MAJORITY, a, b, c), <u32 as Lanes>::maj(a, b, c));
                    assert_eq!(ternlog(XOR3, a, b, c), a ^ b ^ c);
                }
            }
        }
    }
}
