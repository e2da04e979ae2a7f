//! The GPU thread's pipelined loop ([`GpuLoop`], several dispatches in
//! flight) finds exactly the nonce jbc-core's portable search finds, and a
//! job replaced while its dispatches are in flight never yields a hit.
//! Lavapipe in CI; without an adapter each test says why it is skipped
//! (`JBC_REQUIRE_GPU=1` makes that a failure).

mod common;

use std::time::Duration;

use jbc_core::pow::Template;
use jbc_core::{BlockHash, Candidate, Header, MinerHandle, RoundResult, mine_round};
use jbc_miner::threads::{Counters, Device, Found};
use jbc_miner::{GpuLoop, GpuMiner};
use proptest::prelude::*;

const TARGET: Duration = Duration::from_millis(8);

fn candidate(difficulty: u32, seed: u64) -> Candidate {
    Candidate {
        header: Header {
            index: 1 + seed % 1000,
            timestamp_ms: 1_700_000_000_000 + seed,
            difficulty,
            prev_hash: BlockHash::sha256(&seed.to_le_bytes()),
            data_hash: BlockHash::sha256(b"gpu loop test"),
            nonce: 0,
        },
        data: String::new(),
    }
}

/// Drives `gpu_loop` until it reports a hit (at most `limit` dispatches).
fn next_hit(gpu_loop: &mut GpuLoop<'_>, work: &MinerHandle, counters: &Counters) -> Found {
    for _ in 0..100_000 {
        gpu_loop.fill(work).expect("submit");
        assert!(
            gpu_loop.in_flight() > 0,
            "a current job keeps dispatches in flight"
        );
        if let Some(found) = gpu_loop.complete(work, counters).expect("dispatch") {
            return found;
        }
    }
    panic!("no hit in 100 000 dispatches");
}

/// The first valid nonce from `start` on, wrapping at `u64::MAX` like the
/// miner's lanes: the portable search, in rounds of 2^20.
fn portable_first(template: &Template, start: u64) -> u64 {
    let mut nonce = start;
    loop {
        match mine_round(template, nonce, 1 << 20) {
            RoundResult::Found { nonce, .. } => return nonce,
            RoundResult::Exhausted { next_nonce } => nonce = next_nonce.unwrap_or(0),
        }
    }
}

#[test]
fn every_vector_block_is_found_at_its_nonce_by_the_loop() {
    let Some(gpu) = common::shared_gpu("loop vectors") else {
        return;
    };
    let work = MinerHandle::new();
    let counters = Counters::default();
    // Dispatches of 97 nonces, so the hits lie several dispatches deep.
    let mut gpu_loop = GpuLoop::new(gpu, 0, TARGET)
        .expect("pipeline")
        .with_dispatch_sizes(97, 97);
    for block in common::vector_blocks() {
        let job = Candidate {
            header: block.header(),
            data: block.data.clone(),
        };
        // The vectors were mined from nonce 0: lane 0 of base 0.
        let generation = work.publish(job, 0);
        let found = next_hit(&mut gpu_loop, &work, &counters);
        assert_eq!(
            found,
            Found {
                generation,
                nonce: block.nonce,
                device: Device::Gpu
            },
            "block {}",
            block.index
        );
        let rebuilt = work.current().expect("job").block(found.nonce);
        assert_eq!(rebuilt.hash, block.hash, "block {}", block.index);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_loop_finds_the_first_nonce_of_its_lane(
        difficulty in 0u32..=14,
        seed in any::<u64>(),
        base in prop_oneof![
            any::<u64>(),
            // Below the top of the nonce space: the lane wraps to 0.
            (0u64..20_000).prop_map(|d| u64::MAX - d),
            // Below a 2^32 boundary: the carry into the nonce's high word.
            (1u64..1 << 31, 0u64..5000).prop_map(|(hi, d)| (hi << 32) - d),
        ],
        lane in 0u64..4,
        max_dispatch in prop_oneof![1u64..300, 300u64..1 << 16],
    ) {
        let Some(gpu) = common::shared_gpu("loop proptest") else { return Ok(()); };
        let work = MinerHandle::new();
        let counters = Counters::default();
        let job = candidate(difficulty, seed);
        let template = job.template();
        let generation = work.publish(job, base);
        let start = work.current().expect("job").lane_start(lane);
        let mut gpu_loop = GpuLoop::new(gpu, lane, TARGET)
            .expect("pipeline")
            .with_dispatch_sizes(1, max_dispatch);
        let found = next_hit(&mut gpu_loop, &work, &counters);
        prop_assert_eq!(found.generation, generation);
        prop_assert_eq!(found.nonce, portable_first(&template, start));
    }
}

#[test]
fn a_job_replaced_mid_pipeline_never_yields_a_hit() {
    let Some(gpu) = common::shared_gpu("tip change") else {
        return;
    };
    for round in 0..4u64 {
        let work = MinerHandle::new();
        let counters = Counters::default();
        let mut gpu_loop = GpuLoop::new(gpu, 0, TARGET).expect("pipeline");
        // The old tip: difficulty 0, so every dispatch of it holds a hit.
        let old = work.publish(candidate(0, round), round);
        gpu_loop.fill(&work).expect("submit");
        let in_flight = gpu_loop.in_flight();
        assert!(in_flight >= 2, "{in_flight} dispatches in flight");
        if round % 2 == 1 {
            // Also with the oldest one read before the tip moves.
            let hit = gpu_loop.complete(&work, &counters).expect("dispatch");
            assert_eq!(hit.map(|f| f.generation), Some(old));
        }
        // A new tip while the old job's dispatches are in flight.
        let new_job = candidate(10, 1000 + round);
        let template = new_job.template();
        let new = work.publish(new_job, 77 * round);
        let found = next_hit(&mut gpu_loop, &work, &counters);
        assert_eq!(found.generation, new, "round {round}: a hit of the old tip");
        assert_eq!(found.nonce, portable_first(&template, 77 * round));
        assert!(
            counters
                .gpu_stale_hashes
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0,
            "the old job's dispatches were read and discarded"
        );
        // After the hit, nothing more is submitted for that job.
        while gpu_loop.in_flight() > 0 {
            assert_eq!(gpu_loop.complete(&work, &counters).expect("dispatch"), None);
        }
        gpu_loop.fill(&work).expect("submit");
        assert_eq!(gpu_loop.in_flight(), 0);
    }
}

#[test]
fn pipelines_of_every_depth_equal_mine_round() {
    let Some(_) = common::shared_gpu("depths") else {
        return;
    };
    for depth in [1, 2, 5] {
        let gpu = GpuMiner::with_depth(depth).expect("the same adapter");
        assert_eq!(gpu.pipeline().expect("pipeline").depth(), depth);
        for seed in 0..4 {
            let t = Template::new(&candidate(11, seed).header);
            for (start, rounds, max) in [(0, 1 << 16, 500), (u64::MAX - 3000, 5000, 700)] {
                assert_eq!(
                    gpu.mine_round(&t, start, rounds, max).expect("dispatch"),
                    mine_round(&t, start, rounds),
                    "depth {depth}, seed {seed}, start {start}"
                );
            }
        }
    }
}
