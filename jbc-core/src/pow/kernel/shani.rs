//! The SHA-NI kernel: x86_64 SHA extensions, [`STREAMS`] nonces at once.
//!
//! `sha256rnds2` does two rounds but its result is needed by the next one
//! several cycles later; a single stream (what OpenSSL and `sha2` do) leaves
//! the unit idle in between. Here every step is issued for each of the
//! streams in turn, so the independent dependency chains fill those gaps.
//!
//! Each stream starts from the template's state after rounds 0–5 (computed
//! once, in scalar code), runs rounds 6–7 with one `sha256rnds2` on the nonce
//! words, then rounds 8–63 as usual; schedule words 16–19 are constants too.

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_extract_epi32, _mm_loadu_si128, _mm_set_epi32,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
};

use super::{K, Precomputed, nonce_words, scan};
use crate::pow::{RoundResult, Template};

/// Nonces hashed together, one per independent stream.
const STREAMS: usize = super::SHA_NI_STREAMS;

/// Packs `[x0, x1, x2, x3]` as the lanes 0..3 of a vector.
#[inline(always)]
fn pack(x0: u32, x1: u32, x2: u32, x3: u32) -> __m128i {
    // SAFETY: `_mm_set_epi32` only needs SSE2, which every x86_64 CPU has.
    unsafe { _mm_set_epi32(x3 as i32, x2 as i32, x1 as i32, x0 as i32) }
}

/// The first word of the final state for the nonces `base + i`, `i < STREAMS`.
///
/// # Safety
/// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
unsafe fn batch(pre: &Precomputed, base: u64, out: &mut [u32; STREAMS]) {
    // The round constants, four per vector: `k[i]` holds K[4i..4i+4].
    let k: [__m128i; 16] = core::array::from_fn(|i| {
        // SAFETY: `K` has 64 words, so `K[4i..4i+4]` (i < 16) is in bounds;
        // `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(K.as_ptr().add(4 * i).cast()) }
    });
    let s = &pre.state6;
    let m = &pre.midstate;
    let w = &pre.w;
    // The register layout of `sha256rnds2`: ABEF = [f, e, b, a], CDGH = [h, g, d, c].
    let abef_mid = pack(m[5], m[4], m[1], m[0]);
    let abef6 = pack(s[5], s[4], s[1], s[0]);
    let cdgh6 = pack(s[7], s[6], s[3], s[2]);
    let w8_11 = pack(w[8], w[9], w[10], w[11]);
    let w12_15 = pack(w[12], w[13], w[14], w[15]);
    let x = &pre.w16_20;
    let w16_19 = pack(x[0], x[1], x[2], x[3]);

    let mut abef = [abef6; STREAMS];
    let mut cdgh = [cdgh6; STREAMS];
    // Five message vectors per stream, used in rotation like sha2's backend.
    let mut m0 = [w16_19; STREAMS];
    let mut m1 = [w16_19; STREAMS];
    let mut m2 = [w8_11; STREAMS];
    let mut m3 = [w12_15; STREAMS];
    let mut m4 = [w16_19; STREAMS];
    for (lane, m1) in m1.iter_mut().enumerate() {
        let (hi, lo) = nonce_words(base.wrapping_add(lane as u64));
        *m1 = pack(w[4], w[5], hi, lo);
    }

    // Rounds 6 and 7: one `sha256rnds2` with W6+K6, W7+K7 moved to lanes 0, 1.
    for i in 0..STREAMS {
        let wk = _mm_shuffle_epi32(_mm_add_epi32(m1[i], k[1]), 0x0E);
        let next = _mm_sha256rnds2_epu32(cdgh[i], abef[i], wk);
        cdgh[i] = abef[i];
        abef[i] = next;
    }

    // Four rounds on the message vector `$w` with constants `k[$g]`.
    macro_rules! rounds4 {
        ($w:ident, $g:expr) => {
            for i in 0..STREAMS {
                let wk = _mm_add_epi32($w[i], k[$g]);
                cdgh[i] = _mm_sha256rnds2_epu32(cdgh[i], abef[i], wk);
                abef[i] = _mm_sha256rnds2_epu32(abef[i], cdgh[i], _mm_shuffle_epi32(wk, 0x0E));
            }
        };
    }
    // The next four schedule words into `$out`, then four rounds on them.
    macro_rules! schedule_rounds4 {
        ($w0:ident, $w1:ident, $w2:ident, $w3:ident, $out:ident, $g:expr) => {
            for i in 0..STREAMS {
                let t = _mm_add_epi32(
                    _mm_sha256msg1_epu32($w0[i], $w1[i]),
                    _mm_alignr_epi8($w3[i], $w2[i], 4),
                );
                $out[i] = _mm_sha256msg2_epu32(t, $w3[i]);
            }
            rounds4!($out, $g);
        };
    }

    rounds4!(m2, 2);
    rounds4!(m3, 3);
    rounds4!(m4, 4);
    schedule_rounds4!(m1, m2, m3, m4, m0, 5);
    schedule_rounds4!(m2, m3, m4, m0, m1, 6);
    schedule_rounds4!(m3, m4, m0, m1, m2, 7);
    schedule_rounds4!(m4, m0, m1, m2, m3, 8);
    schedule_rounds4!(m0, m1, m2, m3, m4, 9);
    schedule_rounds4!(m1, m2, m3, m4, m0, 10);
    schedule_rounds4!(m2, m3, m4, m0, m1, 11);
    schedule_rounds4!(m3, m4, m0, m1, m2, 12);
    schedule_rounds4!(m4, m0, m1, m2, m3, 13);
    schedule_rounds4!(m0, m1, m2, m3, m4, 14);
    schedule_rounds4!(m1, m2, m3, m4, m0, 15);

    for i in 0..STREAMS {
        out[i] = _mm_extract_epi32(_mm_add_epi32(abef[i], abef_mid), 3) as u32;
    }
}

/// The whole scan, compiled with the SHA extensions so that [`batch`]
/// is inlined into it.
///
/// # Safety
/// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn run(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    scan::<STREAMS>(template, start_nonce, count, |base, words| {
        // SAFETY: `run` itself requires these CPU features.
        unsafe { batch(&template.pre, base, words) }
    })
}

/// [`crate::pow::mine_round`] with [`STREAMS`] interleaved SHA-NI streams.
/// Called only when `Kernel::ShaNi.is_available()`.
pub(super) fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    // SAFETY: the only caller, `Kernel::mine_round`, checked that the CPU
    // has the SHA extensions and SSE4.1 (`Kernel::is_available`).
    unsafe { run(template, start_nonce, count) }
}

/// First words for `out.len() <= STREAMS` nonces from `base`. Called only
/// when `Kernel::ShaNi.is_available()`.
pub(super) fn first_words(pre: &Precomputed, base: u64, out: &mut [u32]) {
    let mut words = [0; STREAMS];
    // SAFETY: the only caller, `Kernel::first_words`, checked that the CPU
    // has the SHA extensions and SSE4.1 (`Kernel::is_available`).
    unsafe { batch(pre, base, &mut words) };
    let n = out.len();
    out.copy_from_slice(&words[..n]);
}
