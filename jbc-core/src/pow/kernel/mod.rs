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
//!
//! The shared parts live in their own modules: [`precompute`] (what every
//! kernel computes once per template), [`lanes`] (the compression written
//! once for any lane type), [`scan`](mod@scan) (the multi-lane kernels'
//! loop) and [`select`] (CPU detection, the preferred kernel, calibration).
//! This module holds the [`Kernel`] enum and its dispatch to the kernels.

use super::{RoundResult, Template};

mod lanes;
mod precompute;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod scan;
mod select;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod portable;
#[cfg(target_arch = "x86_64")]
mod shani;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

pub(crate) use lanes::{Lanes, compress_tail};
pub(crate) use precompute::{K, NONCE_WORD, Precomputed, nonce_words, word_is_constant};
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
pub(crate) use scan::scan;
#[cfg(feature = "std")]
pub use select::calibrate;

/// Independent nonce streams interleaved by the SHA-NI kernel.
pub(crate) const SHA_NI_STREAMS: usize = 4;

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

    /// [`mine_round`](super::mine_round) with this kernel, or `None` if it
    /// is not available here (see [`Kernel::is_available`]).
    pub fn mine_round(
        self,
        template: &Template,
        start_nonce: u64,
        count: u64,
    ) -> Option<RoundResult> {
        if !self.is_available() {
            return None;
        }
        Some(match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => shani::mine_round(template, start_nonce, count),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::mine_round(template, start_nonce, count),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::mine_round(template, start_nonce, count),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => simd128::mine_round(template, start_nonce, count),
            _ => portable::mine_round(template, start_nonce, count),
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
