//! The mining kernels agree exactly: every kernel available on this machine
//! returns the portable kernel's `RoundResult` (first valid nonce and hash,
//! or exhaustion and where to continue), and computes the same first hash
//! word for every nonce; the portable kernel itself agrees with a full
//! SHA-256 of the 96-byte header.

use jbc_core::header::Header;
use jbc_core::pow::{
    Kernel, RoundResult, kernel_name, mine_round, mine_round_naive, mine_round_with,
};
use jbc_core::{BlockHash, Template};
use proptest::prelude::*;

mod common;

/// A random header with a difficulty that is found now and then (0–24).
fn header() -> impl Strategy<Value = Header> {
    common::header_with(0u32..=24)
}

/// A start nonce: anywhere, near a 2^32 boundary (where the nonce's high
/// word changes inside a batch), or near the top of the nonce space.
fn start_nonce() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (any::<u32>(), 0u64..40).prop_map(|(high, back)| ((u64::from(high) + 1) << 32) - back),
        (0u64..40).prop_map(|back| u64::MAX - back),
    ]
}

/// The kernels that are not the reference and can run here.
fn fast_kernels() -> Vec<Kernel> {
    Kernel::available()
        .filter(|k| *k != Kernel::Portable)
        .collect()
}

fn portable(template: &Template, start: u64, rounds: u64) -> RoundResult {
    mine_round_with(Kernel::Portable, template, start, rounds).expect("portable runs everywhere")
}

/// The first four bytes of a hash as a big-endian word.
fn first_word(hash: &BlockHash) -> u32 {
    u32::from_be_bytes([hash.0[0], hash.0[1], hash.0[2], hash.0[3]])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn portable_agrees_with_full_sha256(h in header(), start in start_nonce(), rounds in 0u64..300) {
        let template = Template::new(&h);
        prop_assert_eq!(portable(&template, start, rounds), mine_round_naive(&h, start, rounds));
    }

    #[test]
    fn portable_first_words_are_the_hash_prefix(h in header(), start in start_nonce(), count in 0usize..20) {
        let template = Template::new(&h);
        let mut words = vec![0; count];
        prop_assert!(Kernel::Portable.first_words(&template, start, &mut words));
        for (i, word) in (0u64..).zip(&words) {
            let nonce = start.wrapping_add(i);
            prop_assert_eq!(*word, first_word(&Header { nonce, ..h }.hash()));
        }
    }

    #[test]
    fn every_kernel_returns_the_portable_result(
        h in header(),
        start in start_nonce(),
        rounds in prop_oneof![0u64..40, 0u64..3000],
    ) {
        let template = Template::new(&h);
        let expected = portable(&template, start, rounds);
        for kernel in fast_kernels() {
            prop_assert_eq!(
                mine_round_with(kernel, &template, start, rounds), Some(expected),
                "kernel {}", kernel
            );
        }
        prop_assert_eq!(mine_round(&template, start, rounds), expected);
    }

    #[test]
    fn every_kernel_computes_the_portable_first_words(
        h in header(),
        start in start_nonce(),
        count in 0usize..70,
    ) {
        let template = Template::new(&h);
        let mut expected = vec![0; count];
        prop_assert!(Kernel::Portable.first_words(&template, start, &mut expected));
        for kernel in fast_kernels() {
            let mut words = vec![0; count];
            prop_assert!(kernel.first_words(&template, start, &mut words));
            prop_assert_eq!(&words, &expected, "kernel {}", kernel);
        }
    }

    #[test]
    fn ranges_ending_at_the_top_of_the_nonce_space(
        h in header(),
        back in 0u64..100,
        extra in 0u64..100,
    ) {
        // The range asks for more nonces than remain: it must stop at u64::MAX.
        let template = Template::new(&h);
        let start = u64::MAX - back;
        let rounds = back + 1 + extra;
        let expected = portable(&template, start, rounds);
        prop_assert_eq!(expected, mine_round_naive(&h, start, rounds));
        for kernel in fast_kernels() {
            prop_assert_eq!(mine_round_with(kernel, &template, start, rounds), Some(expected), "kernel {}", kernel);
        }
    }
}

fn fixed_header(difficulty: u32) -> Header {
    Header {
        index: 7,
        timestamp_ms: 1_700_000_000_000,
        difficulty,
        prev_hash: BlockHash([0x5a; 32]),
        data_hash: BlockHash::sha256(b"kernels"),
        nonce: 0,
    }
}

/// Two valid nonces `n1 < n2` at most `gap` apart, with no valid nonce in
/// the 15 before `n1`, found by the full SHA-256.
fn close_pair(h: &Header, gap: u64) -> (u64, u64) {
    let valid: Vec<u64> = (0u64..200_000)
        .filter(|&nonce| Header { nonce, ..*h }.hash().leading_zero_bits() >= h.difficulty)
        .collect();
    valid
        .windows(3)
        .map(|w| (w[0], w[1], w[2]))
        .find(|(before, a, b)| b - a <= gap && a - before > 15)
        .map(|(_, a, b)| (a, b))
        .expect("at difficulty 3, such a pair occurs within 200 000 nonces")
}

#[test]
fn a_hit_in_a_later_lane_never_beats_the_first_valid_nonce() {
    let h = fixed_header(3);
    let template = Template::new(&h);
    let (n1, n2) = close_pair(&h, 3);
    assert!(n2 > n1);
    // Every alignment of the pair inside a batch of up to 16 lanes, with
    // n1 at lane 0..=15 of the first batch and n2 in the same or next batch.
    for start in n1.saturating_sub(15)..=n1 {
        let expected = RoundResult::Found {
            nonce: n1,
            hash: Header { nonce: n1, ..h }.hash(),
        };
        assert_eq!(mine_round_naive(&h, start, 64), expected);
        for kernel in Kernel::available() {
            assert_eq!(
                mine_round_with(kernel, &template, start, 64),
                Some(expected),
                "kernel {kernel}, start {start}"
            );
        }
    }
    // With the range ending just before n1, the hit is ignored even though
    // the kernel's batch computes it.
    for kernel in Kernel::available() {
        let start = n1 - 5;
        let found_before = mine_round_naive(&h, start, 5);
        assert_eq!(
            mine_round_with(kernel, &template, start, 5),
            Some(found_before),
            "kernel {kernel}"
        );
    }
}

#[test]
fn difficulty_zero_returns_the_start_nonce() {
    let h = fixed_header(0);
    let template = Template::new(&h);
    for kernel in Kernel::available() {
        for start in [0, 1, 12345, u64::MAX] {
            assert_eq!(
                mine_round_with(kernel, &template, start, 10),
                Some(RoundResult::Found {
                    nonce: start,
                    hash: Header { nonce: start, ..h }.hash()
                }),
                "kernel {kernel}"
            );
        }
    }
}

#[test]
fn difficulty_above_32_checks_more_than_the_first_word() {
    // Nothing is found at 40 bits in a short range; every kernel must agree
    // (a kernel that looked only at the first word would still agree here,
    // the first-word filter is covered by the first-words property above).
    let h = fixed_header(40);
    let template = Template::new(&h);
    for kernel in Kernel::available() {
        assert_eq!(
            mine_round_with(kernel, &template, 1000, 5000),
            Some(RoundResult::Exhausted {
                next_nonce: Some(6000)
            }),
            "kernel {kernel}"
        );
    }
}

#[test]
fn empty_and_exhausted_ranges() {
    let template = Template::new(&fixed_header(64));
    for kernel in Kernel::available() {
        let run = |start, rounds| mine_round_with(kernel, &template, start, rounds);
        assert_eq!(
            run(9, 0),
            Some(RoundResult::Exhausted {
                next_nonce: Some(9)
            })
        );
        assert_eq!(
            run(9, 1),
            Some(RoundResult::Exhausted {
                next_nonce: Some(10)
            })
        );
        assert_eq!(
            run(u64::MAX, 1),
            Some(RoundResult::Exhausted { next_nonce: None })
        );
        assert_eq!(
            run(u64::MAX, 0),
            Some(RoundResult::Exhausted {
                next_nonce: Some(u64::MAX)
            })
        );
        assert_eq!(
            run(u64::MAX - 20, 1000),
            Some(RoundResult::Exhausted { next_nonce: None })
        );
    }
}

/// Everything that reads or sets the process-wide kernel choice, in one test
/// so that no other test changes it meanwhile (results never depend on it).
#[test]
fn mine_round_uses_the_best_or_the_preferred_kernel() {
    let default = Kernel::best();
    assert!(default.is_available());
    assert_eq!(kernel_name(), default.name());
    assert_eq!(Kernel::available().next(), Some(default));
    assert!(Kernel::Portable.is_available());
    // Kernels of other architectures are never offered.
    #[cfg(not(target_arch = "wasm32"))]
    assert!(!Kernel::Simd128.is_available());
    #[cfg(not(target_arch = "x86_64"))]
    for kernel in [Kernel::ShaNi, Kernel::Avx2, Kernel::Avx512] {
        assert!(!kernel.is_available());
    }

    // An explicit preference is followed, an unavailable one refused.
    let template = Template::new(&fixed_header(6));
    let expected = portable(&template, 0, 5000);
    for kernel in Kernel::available() {
        assert!(Kernel::prefer(Some(kernel)));
        assert_eq!(Kernel::best(), kernel);
        assert_eq!(kernel_name(), kernel.name());
        assert_eq!(mine_round(&template, 0, 5000), expected);
    }
    for kernel in Kernel::ALL.into_iter().filter(|k| !k.is_available()) {
        let before = Kernel::best();
        assert!(!Kernel::prefer(Some(kernel)));
        assert_eq!(Kernel::best(), before);
    }
    assert!(Kernel::prefer(None));
    assert_eq!(Kernel::best(), default);

    // Calibration picks an available kernel and makes mine_round use it.
    let measured = jbc_core::pow::calibrate(30);
    assert!(measured.is_available());
    assert_eq!(Kernel::best(), measured);
    assert_eq!(kernel_name(), measured.name());
    assert_eq!(mine_round(&template, 0, 5000), expected);
    assert!(Kernel::prefer(None));
    assert_eq!(Kernel::best(), default);
}

#[test]
fn unavailable_kernels_refuse_to_run() {
    let template = Template::new(&fixed_header(8));
    for kernel in Kernel::ALL {
        let mut words = [0u32; 4];
        if kernel.is_available() {
            assert!(mine_round_with(kernel, &template, 0, 10).is_some());
            assert!(kernel.first_words(&template, 0, &mut words));
        } else {
            assert_eq!(mine_round_with(kernel, &template, 0, 10), None);
            assert!(!kernel.first_words(&template, 0, &mut words));
            assert_eq!(words, [0; 4]);
        }
    }
}

/// On Linux x86_64, a kernel is offered only if the kernel's own view of the
/// CPU (/proc/cpuinfo) lists the features it needs: AVX-512 is never picked
/// on a CPU without avx512f, SHA-NI never without sha_ni.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn detection_agrees_with_proc_cpuinfo() {
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return;
    };
    let Some(flags) = cpuinfo.lines().find(|l| l.starts_with("flags")) else {
        return;
    };
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    assert_eq!(Kernel::ShaNi.is_available(), has("sha_ni") && has("sse4_1"));
    assert_eq!(Kernel::Avx2.is_available(), has("avx2"));
    assert_eq!(Kernel::Avx512.is_available(), has("avx512f"));
}
