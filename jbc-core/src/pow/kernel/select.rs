//! Which kernel runs: what this CPU and target support, the kernel chosen
//! with [`Kernel::prefer`], and [`calibrate`], which measures them.

use core::sync::atomic::{AtomicU8, Ordering};

use super::Kernel;
#[cfg(feature = "std")]
use crate::pow::Template;

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
/// [`mine_round`](crate::pow::mine_round) uses ([`Kernel::prefer`]) and
/// returns it. For a long-running miner to call once at start-up: on CPUs that have
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

impl Kernel {
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

    /// The kernel [`mine_round`](crate::pow::mine_round) uses: the one set
    /// with [`Kernel::prefer`] (or measured by [`calibrate`]) if any, else
    /// the first available in the order of [`Kernel::ALL`].
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

    /// Makes [`mine_round`](crate::pow::mine_round) use `kernel`
    /// (process-wide), or, with `None`, go back to the default order. Returns
    /// `false` and changes nothing if the kernel is not available here.
    /// Results never depend on the kernel, only speed does.
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
}
