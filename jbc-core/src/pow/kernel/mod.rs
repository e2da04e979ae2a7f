//! Mining kernels: several ways to run the one SHA-256 compression per nonce
//! of [`mine_round`](super::mine_round), all with exactly the same result.
//!
//! Every kernel starts from the same per-template precomputation
//! ([`Precomputed`]): the second SHA-256 block's first six words (the end of
//! `data_hash`) and words 16–20 of its message schedule do not depend on the
//! nonce, so rounds 0–5 are done once per template and each nonce starts at
//! round 6. The multi-lane kernels then compute only the first output word
//! (`state[0]`, after adding the midstate) for each lane; a lane whose first
//! word has enough leading zeros is finished by the [`portable`] kernel, which
//! also decides the winner, so a found hash always comes from the reference
//! code and a later lane can never win over an earlier one.
//!
//! | kernel | where | lanes |
//! |---|---|---|
//! | [`Kernel::Portable`] | everywhere | 1 |
//! | [`Kernel::ShaNi`] | x86_64 with the SHA extensions | 4 interleaved streams |
//! | [`Kernel::Avx2`] | x86_64 with AVX2 | 8 |
//! | [`Kernel::Avx512`] | x86_64 with AVX-512F | 16 |
//! | [`Kernel::Simd128`] | wasm32 built with `-C target-feature=+simd128` | 4 |

use core::sync::atomic::{AtomicU8, Ordering};

use super::{RoundResult, Template, exhausted_after, last_nonce, state_meets, state_to_hash};

#[cfg(target_arch = "x86_64")]
mod avx2;
// The AVX-512 intrinsics are stable since Rust 1.89, above the workspace's
// declared MSRV (1.85): the lead is asked to raise it; until then clippy is
// told about this module's real requirement.
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod avx512;
pub(crate) mod portable;
#[cfg(target_arch = "x86_64")]
mod shani;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

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

/// Independent nonce streams interleaved by the SHA-NI kernel.
pub(crate) const SHA_NI_STREAMS: usize = 4;

/// Index of the first message word that depends on the nonce (the nonce's
/// high half); word 7 is its low half.
pub(crate) const NONCE_WORD: usize = 6;

/// What every kernel needs from a [`Template`], computed once by
/// [`Template::new`]: the midstate, the second block's message words, the
/// nonce-independent schedule words 16–20 and the state after rounds 0–5.
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
const fn schedule_has_constant(t: usize) -> bool {
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

/// Runs a multi-lane kernel over `[start_nonce, start_nonce + rounds)`.
///
/// `batch(base, words)` must write into `words[i]` the first word of the
/// final state for nonce `base + i` (wrapping). Lanes past the end of the
/// range are ignored. A lane whose first word passes the cheap filter is
/// recomputed by the portable kernel, which alone decides a win, and lanes
/// are examined in order, so the first valid nonce of the range wins.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_feature = "simd128")),
    allow(dead_code)
)]
#[inline(always)]
pub(crate) fn scan<const N: usize>(
    template: &Template,
    start_nonce: u64,
    rounds: u64,
    mut batch: impl FnMut(u64, &mut [u32; N]),
) -> RoundResult {
    let Some(last) = last_nonce(start_nonce, rounds) else {
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

#[cfg(target_arch = "x86_64")]
mod detect {
    cpufeatures::new!(sha_ni, "sha", "sse2", "ssse3", "sse4.1");
    cpufeatures::new!(avx2, "avx2");
    cpufeatures::new!(avx512, "avx512f");

    pub(super) fn sha_ni() -> bool {
        sha_ni::get()
    }
    pub(super) fn avx2() -> bool {
        avx2::get()
    }
    pub(super) fn avx512() -> bool {
        avx512::get()
    }
}

/// The kernel chosen with [`Kernel::prefer`]: 0 for none, else 1 + its
/// index in [`Kernel::ALL`].
static PREFERRED: AtomicU8 = AtomicU8::new(0);

/// Times every available kernel for about `millis` milliseconds in all
/// (interleaved, best call of each), makes the fastest the one
/// [`mine_round`](super::mine_round) uses ([`Kernel::prefer`]) and returns
/// it. For a long-running miner to call once at start-up: on CPUs that have
/// both AVX-512 and SHA-NI, which is faster differs between CPU models.
/// Needs the `std` feature (a clock).
#[cfg(feature = "std")]
pub fn calibrate(millis: u64) -> Kernel {
    use crate::{BlockHash, Header};
    use std::time::{Duration, Instant};

    let template = Template::new(&Header {
        index: 1,
        timestamp_ms: 0,
        // Never met: every nonce of every call is hashed.
        difficulty: 64,
        prev_hash: BlockHash::ZERO,
        data_hash: BlockHash::ZERO,
        nonce: 0,
    });
    const CALL: u64 = 4096;
    let mut fastest: [(Kernel, Duration); 5] = Kernel::ALL.map(|k| (k, Duration::MAX));
    let budget = Duration::from_millis(millis.max(1));
    let began = Instant::now();
    let mut nonce = 0u64;
    while began.elapsed() < budget {
        for (kernel, best) in fastest.iter_mut().filter(|(k, _)| k.is_available()) {
            let call = Instant::now();
            core::hint::black_box(kernel.mine_round(&template, nonce, CALL));
            *best = (*best).min(call.elapsed());
        }
        nonce = nonce.wrapping_add(CALL);
    }
    let winner = fastest
        .iter()
        .filter(|(k, d)| k.is_available() && *d != Duration::MAX)
        .min_by_key(|(_, d)| *d)
        .map_or_else(Kernel::first_available, |(k, _)| *k);
    Kernel::prefer(Some(winner));
    winner
}

/// A mining kernel: one implementation of "hash these nonces, return the
/// first that meets the difficulty". All kernels return identical results;
/// they differ only in speed and in where they can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Scalar Rust, one nonce at a time: runs everywhere, and is the
    /// reference every other kernel is tested against.
    Portable,
    /// x86_64 SHA extensions (`sha256rnds2`), four nonces interleaved to
    /// hide the instructions' latency.
    ShaNi,
    /// x86_64 AVX2: eight nonces per 256-bit register.
    Avx2,
    /// x86_64 AVX-512F: sixteen nonces per 512-bit register.
    Avx512,
    /// WebAssembly `simd128`: four nonces per 128-bit register. Available
    /// only in a wasm module compiled with `-C target-feature=+simd128`.
    Simd128,
}

impl Kernel {
    /// Every kernel, available here or not, fastest-preferred first.
    pub const ALL: [Kernel; 5] = [
        Kernel::Avx512,
        Kernel::ShaNi,
        Kernel::Avx2,
        Kernel::Simd128,
        Kernel::Portable,
    ];

    /// A short lowercase name, e.g. `"sha-ni"`, for logs, `/status` and the page.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::ShaNi => "sha-ni",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Simd128 => "simd128",
        }
    }

    /// How many nonces the kernel hashes together.
    pub fn lanes(self) -> usize {
        match self {
            Kernel::Portable => 1,
            Kernel::ShaNi => SHA_NI_STREAMS,
            Kernel::Avx2 => 8,
            Kernel::Avx512 => 16,
            Kernel::Simd128 => 4,
        }
    }

    /// Whether this kernel was compiled in and the CPU supports it. The
    /// answer of the CPU check is cached after the first call.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => detect::sha_ni(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => detect::avx2(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => detect::avx512(),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernels that can run here, fastest-preferred first.
    pub fn available() -> impl Iterator<Item = Kernel> {
        Kernel::ALL.into_iter().filter(|k| k.is_available())
    }

    /// The kernel [`mine_round`](super::mine_round) uses: the one set with
    /// [`Kernel::prefer`] (or measured by [`calibrate`](super::calibrate)) if
    /// any, else the first available in the order of [`Kernel::ALL`].
    ///
    /// That order (AVX-512, SHA-NI, AVX2, simd128, portable) follows
    /// `cargo xtask bench`: on CPUs with the SHA extensions, four interleaved
    /// SHA-NI streams beat eight AVX2 lanes. Where a CPU has both AVX-512 and
    /// SHA-NI, which wins depends on the CPU; `calibrate` measures it.
    pub fn best() -> Kernel {
        Kernel::preferred().unwrap_or_else(Kernel::first_available)
    }

    /// The first available kernel in the order of [`Kernel::ALL`].
    fn first_available() -> Kernel {
        Kernel::available().next().unwrap_or(Kernel::Portable)
    }

    /// Makes [`mine_round`](super::mine_round) use `kernel` (process-wide),
    /// or, with `None`, go back to the default order. Returns `false` and
    /// changes nothing if the kernel is not available here. Results never
    /// depend on the kernel, only speed does.
    pub fn prefer(kernel: Option<Kernel>) -> bool {
        let code = match kernel {
            Some(k) if !k.is_available() => return false,
            Some(k) => Kernel::ALL
                .iter()
                .position(|x| *x == k)
                .map_or(0, |i| i as u8 + 1),
            None => 0,
        };
        PREFERRED.store(code, Ordering::Relaxed);
        true
    }

    /// The kernel set with [`Kernel::prefer`], if any.
    fn preferred() -> Option<Kernel> {
        match PREFERRED.load(Ordering::Relaxed) {
            0 => None,
            code => Kernel::ALL.get(usize::from(code) - 1).copied(),
        }
    }

    /// [`mine_round`](super::mine_round) with this kernel, or `None` if it
    /// is not available here (see [`Kernel::is_available`]).
    pub fn mine_round(
        self,
        template: &Template,
        start_nonce: u64,
        rounds: u64,
    ) -> Option<RoundResult> {
        if !self.is_available() {
            return None;
        }
        Some(match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => shani::mine_round(template, start_nonce, rounds),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::mine_round(template, start_nonce, rounds),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::mine_round(template, start_nonce, rounds),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => simd128::mine_round(template, start_nonce, rounds),
            _ => portable::mine_round(template, start_nonce, rounds),
        })
    }

    /// For tests: the first word of the final SHA-256 state (the first four
    /// bytes of the hash, big-endian) for the nonces `start_nonce`,
    /// `start_nonce + 1`, … (wrapping), as this kernel computes it, one per
    /// element of `out`. Returns `false` (and leaves `out` alone) if the
    /// kernel is not available here.
    pub fn first_words(self, template: &Template, start_nonce: u64, out: &mut [u32]) -> bool {
        if !self.is_available() {
            return false;
        }
        let mut nonce = start_nonce;
        for chunk in out.chunks_mut(self.lanes()) {
            match self {
                #[cfg(target_arch = "x86_64")]
                Kernel::ShaNi => shani::first_words(&template.pre, nonce, chunk),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => avx2::first_words(&template.pre, nonce, chunk),
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => avx512::first_words(&template.pre, nonce, chunk),
                #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
                Kernel::Simd128 => simd128::first_words(&template.pre, nonce, chunk),
                _ => chunk[0] = portable::final_state(&template.pre, nonce)[0],
            }
            nonce = nonce.wrapping_add(chunk.len() as u64);
        }
        true
    }
}

impl core::fmt::Display for Kernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
