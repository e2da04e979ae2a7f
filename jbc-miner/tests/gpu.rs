//! The wgpu path (jbc-core's WGSL shader on a real Vulkan adapter: lavapipe
//! in CI) returns exactly what jbc-core's `mine_round` returns, and mines
//! blocks a real node accepts. Without an adapter each test says why it is
//! skipped (`JBC_REQUIRE_GPU=1` makes that a failure).

mod common;

use std::time::Duration;

use jbc_core::pow::Template;
use jbc_core::pow::gpu::Dispatch;
use jbc_core::{BlockHash, Header, RoundResult, mine_round};
use jbc_miner::threads::Device;
use proptest::prelude::*;

fn template(difficulty: u32, seed: u64) -> Template {
    Template::new(&Header {
        index: seed % 1000,
        timestamp_ms: 1_700_000_000_000 + seed,
        difficulty,
        prev_hash: BlockHash::sha256(&seed.to_be_bytes()),
        data_hash: BlockHash::sha256(b"gpu test"),
        nonce: 0,
    })
}

#[test]
fn every_vector_block_is_found_at_its_nonce() {
    let Some(gpu) = common::shared_gpu("vectors") else {
        return;
    };
    let blocks = common::vector_blocks();
    assert!(blocks.len() >= 20);
    for block in &blocks {
        let template = Template::new(&block.header());
        // The vectors were mined from nonce 0; small dispatches make the
        // search cross dispatch boundaries.
        let rounds = block.nonce + 1000;
        let got = gpu.mine_round(&template, 0, rounds, 97).expect("dispatch");
        assert_eq!(
            got,
            RoundResult::Found {
                nonce: block.nonce,
                hash: block.hash
            },
            "block {}",
            block.index
        );
        assert_eq!(got, mine_round(&template, 0, rounds));
    }
}

#[test]
fn a_range_that_ends_inside_a_dispatch_stops_there() {
    let Some(gpu) = common::shared_gpu("range end") else {
        return;
    };
    for seed in 0..8 {
        let t = template(10, seed);
        let RoundResult::Found { nonce: hit, .. } = mine_round(&t, 0, 1 << 20) else {
            panic!("difficulty 10 is found within 2^20 nonces");
        };
        // A range that ends just before the hit: exhausted, even though the
        // hit lies within the workgroups of the last dispatch.
        let before = gpu.mine_round(&t, 0, hit, 1 << 16).expect("dispatch");
        assert_eq!(
            before,
            RoundResult::Exhausted {
                next_nonce: Some(hit)
            }
        );
        assert_eq!(before, mine_round(&t, 0, hit));
        let through = gpu.mine_round(&t, 0, hit + 1, 1 << 16).expect("dispatch");
        assert_eq!(through, mine_round(&t, 0, hit + 1));
        // One dispatch whose count is not a multiple of the workgroup size.
        let d = Dispatch::new(0, (hit as u32) | 1).expect("dispatch");
        let best = gpu.run_dispatch(&d, &d.uniform(&t)).expect("dispatch");
        assert_eq!(best, d.reference_best(&t));
    }
}

#[test]
fn the_top_of_the_nonce_space_and_the_high_word_carry() {
    let Some(gpu) = common::shared_gpu("u64 top") else {
        return;
    };
    let hard = template(48, 1);
    assert_eq!(
        gpu.mine_round(&hard, u64::MAX - 5000, 1 << 20, 1 << 12)
            .expect("dispatch"),
        RoundResult::Exhausted { next_nonce: None }
    );
    assert_eq!(
        gpu.mine_round(&hard, u64::MAX, 1, 1).expect("dispatch"),
        RoundResult::Exhausted { next_nonce: None }
    );
    for seed in 0..4 {
        let easy = template(9, seed);
        for start in [u64::MAX - 3000, (1 << 32) - 700, (7 << 32) - 1] {
            let got = gpu
                .mine_round(&easy, start, 1 << 16, 1 << 10)
                .expect("dispatch");
            assert_eq!(got, mine_round(&easy, start, 1 << 16), "start {start}");
        }
    }
    // Difficulty 0: the first nonce; an empty range: nothing tried.
    let zero = template(0, 2);
    assert_eq!(
        gpu.mine_round(&zero, 77, 10, 10).expect("dispatch"),
        mine_round(&zero, 77, 10)
    );
    assert_eq!(
        gpu.mine_round(&zero, 77, 0, 10).expect("dispatch"),
        RoundResult::Exhausted {
            next_nonce: Some(77)
        }
    );
}

fn start_nonce() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        (0u64..5000).prop_map(|d| u64::MAX - d),
        (1u64..1 << 31, 0u64..5000).prop_map(|(hi, d)| (hi << 32) - d),
        0u64..1 << 20,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_templates_and_ranges_equal_mine_round(
        difficulty in 0u32..=18,
        seed in any::<u64>(),
        start in start_nonce(),
        rounds in 0u64..200_000,
        pieces in 1u64..40,
    ) {
        // At most 40 dispatches of any size (a dispatch costs milliseconds
        // outside the shader, so the case count stays bounded in time);
        // dispatches of 97 nonces are covered by the vector test.
        let max_dispatch = (rounds / pieces + 1) as u32;
        let Some(gpu) = common::shared_gpu("proptest") else { return Ok(()); };
        let t = template(difficulty, seed);
        let got = gpu.mine_round(&t, start, rounds, max_dispatch).expect("dispatch");
        prop_assert_eq!(got, mine_round(&t, start, rounds));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_mined_blocks_are_accepted_by_a_node() {
    let Some(gpu) = common::gpu("node") else {
        return;
    };
    let node = common::start_node("gpu", 12).await;
    let url = node.url();
    // GPU only: every block comes from the shader.
    let options = common::options(vec![url.clone()], 0, "gpu-test", 2);
    let report = jbc_miner::run(
        options,
        Some(gpu),
        tokio::time::sleep(Duration::from_secs(120)),
    )
    .await
    .expect("miner runs");
    assert_eq!(report.blocks_found, 2, "{report:?}");
    assert!(report.submitted.iter().all(|s| s.device == Device::Gpu));
    // Only this miner mines, so a block on an old tip would be refused or
    // kept aside: every one it submitted became the tip.
    assert!(
        report.submitted.iter().all(|s| s.status == "accepted"),
        "{report:?}"
    );
    assert!(report.gpu_hashes > 0 && report.cpu_hashes == 0);
    let chain = common::chain(&url).await;
    let ours: Vec<_> = chain
        .iter()
        .filter(|b| b.data == "Mined by gpu-test")
        .collect();
    assert_eq!(ours.len(), 2);
    for s in &report.submitted {
        assert!(chain.iter().any(|b| b.hash == s.hash), "{s:?} in the chain");
    }
    node.shutdown().await.expect("clean shutdown");
}
