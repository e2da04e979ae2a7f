//! The portable kernel: scalar Rust, one nonce at a time. It runs on every
//! target, it is the fallback where no faster kernel applies, and it is the
//! reference that the tests compare every other kernel against (it is itself
//! tested against a full SHA-256 of the 96-byte header).

use super::{Lanes, Precomputed, compress_tail, nonce_words};
use crate::pow::{RoundResult, Template, exhausted_after, last_nonce, state_meets, state_to_hash};

/// `σ0` of the message schedule.
#[inline(always)]
pub(crate) fn ssig0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

/// `σ1` of the message schedule.
#[inline(always)]
pub(crate) fn ssig1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// One SHA-256 round on the working variables, with `kw = K[t] + W[t]`.
pub(crate) fn round(s: &mut [u32; 8], kw: u32) {
    let [a, b, c, d, e, f, g, h] = *s;
    let t1 = h
        .wrapping_add(e.bsig1())
        .wrapping_add(u32::ch(e, f, g))
        .wrapping_add(kw);
    let t2 = a.bsig0().wrapping_add(u32::maj(a, b, c));
    *s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
}

impl Lanes for u32 {
    #[inline(always)]
    fn splat(x: u32) -> u32 {
        x
    }
    #[inline(always)]
    fn add(self, other: u32) -> u32 {
        self.wrapping_add(other)
    }
    #[inline(always)]
    fn ch(e: u32, f: u32, g: u32) -> u32 {
        (e & f) ^ (!e & g)
    }
    #[inline(always)]
    fn maj(a: u32, b: u32, c: u32) -> u32 {
        (a & b) ^ (a & c) ^ (b & c)
    }
    #[inline(always)]
    fn bsig0(self) -> u32 {
        self.rotate_right(2) ^ self.rotate_right(13) ^ self.rotate_right(22)
    }
    #[inline(always)]
    fn bsig1(self) -> u32 {
        self.rotate_right(6) ^ self.rotate_right(11) ^ self.rotate_right(25)
    }
    #[inline(always)]
    fn ssig0(self) -> u32 {
        ssig0(self)
    }
    #[inline(always)]
    fn ssig1(self) -> u32 {
        ssig1(self)
    }
}

/// The final SHA-256 state (the hash as eight big-endian words) of the
/// template's header with `nonce`.
pub(crate) fn final_state(pre: &Precomputed, nonce: u64) -> [u32; 8] {
    let (w6, w7) = nonce_words(nonce);
    compress_tail::<u32>(pre, w6, w7)
}

/// [`crate::pow::mine_round`] one nonce at a time.
pub(crate) fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    let Some(last) = last_nonce(start_nonce, count) else {
        return RoundResult::Exhausted {
            next_nonce: Some(start_nonce),
        };
    };
    let difficulty = template.difficulty();
    let mut nonce = start_nonce;
    loop {
        let state = final_state(&template.pre, nonce);
        if state_meets(&state, difficulty) {
            return RoundResult::Found {
                nonce,
                hash: state_to_hash(&state),
            };
        }
        if nonce == last {
            return exhausted_after(last);
        }
        nonce += 1;
    }
}
