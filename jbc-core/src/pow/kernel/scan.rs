//! The loop every multi-lane kernel shares: hash a batch of lanes, finish the
//! promising ones with the portable kernel, stop at the first winner.

use super::portable;
use crate::pow::{RoundResult, Template, exhausted_after, last_nonce, state_meets, state_to_hash};

/// Runs a multi-lane kernel over `[start_nonce, start_nonce + count)`.
///
/// `batch(base, words)` must write into `words[i]` the first word of the
/// final state for nonce `base + i` (wrapping). Lanes past the end of the
/// range are ignored. A lane whose first word passes the cheap filter is
/// recomputed by the portable kernel, which alone decides a win, and lanes
/// are examined in order, so the first valid nonce of the range wins.
#[inline(always)]
pub(crate) fn scan<const N: usize>(
    template: &Template,
    start_nonce: u64,
    count: u64,
    mut batch: impl FnMut(u64, &mut [u32; N]),
) -> RoundResult {
    let Some(last) = last_nonce(start_nonce, count) else {
        return RoundResult::Exhausted {
            next_nonce: Some(start_nonce),
        };
    };
    let difficulty = template.difficulty();
    let needed_in_first_word = difficulty.min(32);
    let pre = &template.pre;
    let mut words = [0u32; N];
    let mut base = start_nonce;
    loop {
        batch(base, &mut words);
        let remaining = last - base;
        let lanes = remaining.min(N as u64 - 1) as usize + 1;
        for (offset, word) in (0u64..).zip(&words[..lanes]) {
            if word.leading_zeros() >= needed_in_first_word {
                let nonce = base + offset;
                let state = portable::final_state(pre, nonce);
                if state_meets(&state, difficulty) {
                    return RoundResult::Found {
                        nonce,
                        hash: state_to_hash(&state),
                    };
                }
            }
        }
        if remaining < N as u64 {
            return exhausted_after(last);
        }
        base += N as u64;
    }
}
