//! The compression written once for any number of lanes: the [`Lanes`]
//! trait (one SIMD register of 32-bit lanes, or a plain `u32`) and
//! [`compress_tail`], rounds 6–63 of the second block on it.

use super::precompute::schedule_has_constant;
use super::{K, NONCE_WORD, Precomputed, word_is_constant};

/// One SIMD register of 32-bit lanes, with the operations SHA-256 needs.
///
/// Implemented by `u32` (one lane, the portable kernel) and by the vector
/// types of the multi-lane kernels, so that [`compress_tail`] is written once.
pub(crate) trait Lanes: Copy {
    /// Every lane set to `x`.
    fn splat(x: u32) -> Self;
    /// Lane-wise wrapping addition.
    fn add(self, other: Self) -> Self;
    /// `Ch(e, f, g) = (e & f) ^ (!e & g)`.
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// `Maj(a, b, c) = (a & b) ^ (a & c) ^ (b & c)`.
    fn maj(a: Self, b: Self, c: Self) -> Self;
    /// `Σ0(a) = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)`.
    fn bsig0(self) -> Self;
    /// `Σ1(e) = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)`.
    fn bsig1(self) -> Self;
    /// `σ0(w) = rotr(w, 7) ^ rotr(w, 18) ^ (w >> 3)`.
    fn ssig0(self) -> Self;
    /// `σ1(w) = rotr(w, 17) ^ rotr(w, 19) ^ (w >> 10)`.
    fn ssig1(self) -> Self;
}

/// Rounds 6..=63 of the second block for the nonce words `w6`, `w7` (one
/// per lane), plus the midstate: the final SHA-256 state of the header.
///
/// A caller that reads only `state[0]` lets the compiler drop the work that
/// only the other words need.
#[inline(always)]
pub(crate) fn compress_tail<V: Lanes>(pre: &Precomputed, w6: V, w7: V) -> [V; 8] {
    // The message schedule. Only the words that depend on the nonce are
    // stored: every use of a constant word reads a precomputed sum instead.
    let mut w = [V::splat(0); 64];
    w[NONCE_WORD] = w6;
    w[NONCE_WORD + 1] = w7;
    // One round, written for the variables in the roles a..h; the caller
    // rotates the names instead of moving eight values every round.
    //
    // Terms that are the same for every nonce come precomputed from `pre`
    // (`kw`, `sched`); the `if`s on `$t` are decided at compile time.
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $t:expr) => {
            if $t >= 21 {
                // `back(n)` is `$t - n`; written modulo 64 so that the
                // branch not taken (rounds below 21) still compiles.
                let back = |n: usize| ($t + 64 - n) % 64;
                let mut x: Option<V> = if schedule_has_constant($t) {
                    Some(V::splat(pre.sched[$t]))
                } else {
                    None
                };
                let mut term = |i: usize, value: &dyn Fn(V) -> V| {
                    if !word_is_constant(i) {
                        let v = value(w[i]);
                        x = Some(match x {
                            Some(sum) => sum.add(v),
                            None => v,
                        });
                    }
                };
                term(back(2), &|x| x.ssig1());
                term(back(7), &|x| x);
                term(back(15), &|x| x.ssig0());
                term(back(16), &|x| x);
                if let Some(x) = x {
                    w[$t] = x;
                }
            }
            let kw = if word_is_constant($t) {
                V::splat(pre.kw[$t])
            } else {
                V::splat(K[$t]).add(w[$t])
            };
            let t1 = $h.add($e.bsig1()).add(V::ch($e, $f, $g)).add(kw);
            $d = $d.add(t1);
            $h = t1.add($a.bsig0().add(V::maj($a, $b, $c)));
        };
    }
    macro_rules! rounds8 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $t:expr) => {
            round!($a, $b, $c, $d, $e, $f, $g, $h, $t);
            round!($h, $a, $b, $c, $d, $e, $f, $g, $t + 1);
            round!($g, $h, $a, $b, $c, $d, $e, $f, $t + 2);
            round!($f, $g, $h, $a, $b, $c, $d, $e, $t + 3);
            round!($e, $f, $g, $h, $a, $b, $c, $d, $t + 4);
            round!($d, $e, $f, $g, $h, $a, $b, $c, $t + 5);
            round!($c, $d, $e, $f, $g, $h, $a, $b, $t + 6);
            round!($b, $c, $d, $e, $f, $g, $h, $a, $t + 7);
        };
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, _] = pre.state6.map(V::splat);
    // Round 6, where everything but W[6] is known in advance; round 7; then
    // seven blocks of eight. After round 7 the roles a..h are held by
    // g, h, a, b, c, d, e, f, and every block of eight brings them back.
    let t1 = V::splat(pre.round6_t1).add(w6);
    d = d.add(t1);
    let mut h = t1.add(V::splat(pre.round6_t2));
    round!(h, a, b, c, d, e, f, g, 7);
    rounds8!(g, h, a, b, c, d, e, f, 8);
    rounds8!(g, h, a, b, c, d, e, f, 16);
    rounds8!(g, h, a, b, c, d, e, f, 24);
    rounds8!(g, h, a, b, c, d, e, f, 32);
    rounds8!(g, h, a, b, c, d, e, f, 40);
    rounds8!(g, h, a, b, c, d, e, f, 48);
    rounds8!(g, h, a, b, c, d, e, f, 56);
    let (a, b, c, d, e, f, g, h) = (g, h, a, b, c, d, e, f);
    let m = pre.midstate.map(V::splat);
    [
        a.add(m[0]),
        b.add(m[1]),
        c.add(m[2]),
        d.add(m[3]),
        e.add(m[4]),
        f.add(m[5]),
        g.add(m[6]),
        h.add(m[7]),
    ]
}
