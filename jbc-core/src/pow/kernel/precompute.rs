//! The per-template precomputation every kernel starts from: the SHA-256
//! round constants, where the nonce sits in the second block, and
//! [`Precomputed`], the work done once per template instead of once per nonce.

use super::{Lanes, portable};

/// SHA-256 round constants (FIPS 180-4 §4.2.2).
pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Index of the first message word that depends on the nonce (the nonce's
/// high half); word 7 is its low half.
pub(crate) const NONCE_WORD: usize = 6;

/// What every kernel needs from a [`Template`](crate::pow::Template),
/// computed once by [`Template::new`](crate::pow::Template::new): the
/// midstate, the second block's message words, the nonce-independent
/// schedule words 16–20 and the state after rounds 0–5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Precomputed {
    /// State after the first block (added back at the end).
    pub(crate) midstate: [u32; 8],
    /// The second block as big-endian words; words 6 and 7 (the nonce) are
    /// whatever the header had and are replaced per nonce.
    pub(crate) w: [u32; 16],
    /// Schedule words 16..=20, which do not depend on words 6 and 7.
    pub(crate) w16_20: [u32; 5],
    /// The working variables a..h after rounds 0..=5 of the second block.
    pub(crate) state6: [u32; 8],
    /// `K[t] + W[t]` for the rounds whose message word is constant
    /// ([`word_is_constant`]); unused elsewhere.
    pub(crate) kw: [u32; 64],
    /// For schedule words 21..=36: the sum of the terms of
    /// `σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]` that are constant.
    pub(crate) sched: [u32; 64],
    /// Round 6's `h + Σ1(e) + Ch(e, f, g) + K[6]`: all but `W[6]` of T1.
    pub(crate) round6_t1: u32,
    /// Round 6's `T2 = Σ0(a) + Maj(a, b, c)`.
    pub(crate) round6_t2: u32,
}

/// Whether message word `t` of the second block is the same for every
/// nonce: words 0–5 and 8–15 of the block, and schedule words 16–20.
#[inline(always)]
pub(crate) const fn word_is_constant(t: usize) -> bool {
    t < 21 && t != NONCE_WORD && t != NONCE_WORD + 1
}

/// Whether any of the four terms of schedule word `t` (>= 21) is constant.
#[inline(always)]
pub(super) const fn schedule_has_constant(t: usize) -> bool {
    t >= 21
        && t <= 36
        && (word_is_constant(t - 2)
            || word_is_constant(t - 7)
            || word_is_constant(t - 15)
            || word_is_constant(t - 16))
}

impl Precomputed {
    /// Precomputes from the midstate and the padded second block.
    pub(crate) fn new(midstate: [u32; 8], tail: &[u8; 64]) -> Precomputed {
        let mut w = [0u32; 16];
        for (word, bytes) in w.iter_mut().zip(tail.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let mut full = [0u32; 21];
        full[..16].copy_from_slice(&w);
        for t in 16..21 {
            full[t] = portable::ssig1(full[t - 2])
                .wrapping_add(full[t - 7])
                .wrapping_add(portable::ssig0(full[t - 15]))
                .wrapping_add(full[t - 16]);
        }
        let mut w16_20 = [0u32; 5];
        w16_20.copy_from_slice(&full[16..21]);
        let mut state6 = midstate;
        for (t, word) in w.iter().enumerate().take(NONCE_WORD) {
            portable::round(&mut state6, K[t].wrapping_add(*word));
        }
        let mut kw = [0u32; 64];
        for (t, slot) in kw.iter_mut().enumerate() {
            if word_is_constant(t) {
                *slot = K[t].wrapping_add(full[t]);
            }
        }
        let mut sched = [0u32; 64];
        for (t, slot) in sched.iter_mut().enumerate().take(37).skip(21) {
            let term = |i: usize, f: fn(u32) -> u32| {
                if word_is_constant(i) { f(full[i]) } else { 0 }
            };
            *slot = term(t - 2, portable::ssig1)
                .wrapping_add(term(t - 7, |x| x))
                .wrapping_add(term(t - 15, portable::ssig0))
                .wrapping_add(term(t - 16, |x| x));
        }
        let [a, b, c, _, e, f, g, h] = state6;
        Precomputed {
            midstate,
            w,
            w16_20,
            state6,
            kw,
            sched,
            round6_t1: h
                .wrapping_add(e.bsig1())
                .wrapping_add(u32::ch(e, f, g))
                .wrapping_add(K[NONCE_WORD]),
            round6_t2: a.bsig0().wrapping_add(u32::maj(a, b, c)),
        }
    }
}

/// The high and low message words of a nonce.
#[inline(always)]
pub(crate) fn nonce_words(nonce: u64) -> (u32, u32) {
    ((nonce >> 32) as u32, nonce as u32)
}
