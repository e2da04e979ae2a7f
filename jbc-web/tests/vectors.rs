//! The browser miner's mining code, run natively, finds exactly the nonces
//! of `jbc-core/tests/vectors/jbc1-v1.json`: the vector blocks were mined
//! from nonce 0, so mining each header from 0 must stop at the vector's
//! nonce. The same check runs in headless Chromium on both wasm builds
//! (tests-e2e/test/vectors.test.mjs).

use jbc_core::pow::mine_round_naive;
use jbc_core::{Block, BlockHash, NextRules, RoundResult};
use jbc_web::job::BlockToMine;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../jbc-core/tests/vectors/jbc1-v1.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors file");
    serde_json::from_str(&text).expect("vectors JSON")
}

/// Every mined block of the vectors: the main chain and both fork branches,
/// without the genesis blocks (which are derived, never mined).
fn mined_blocks(v: &Value) -> Vec<Block> {
    let mut blocks = Vec::new();
    for list in [&v["chain"], &v["fork"]["branch_a"], &v["fork"]["branch_b"]] {
        for b in list.as_array().expect("a list of blocks") {
            let block: Block = serde_json::from_value(b.clone()).expect("a block");
            if block.index > 0 {
                blocks.push(block);
            }
        }
    }
    blocks
}

/// Mines `block`'s header from nonce 0 in rounds of `round` nonces.
fn mine_from_zero(block: &Block, round: u32) -> (u64, BlockHash, Block) {
    let next = NextRules::new(block.index, block.prev_hash, block.difficulty, 0);
    let job = BlockToMine::new(&next, block.data.clone(), block.timestamp_ms).expect("a valid job");
    let mut start = 0;
    for _ in 0..1_000_000 {
        match job.mine(start, round).expect("nonce in range") {
            RoundResult::Found { nonce, hash } => return (nonce, hash, job.block(nonce)),
            RoundResult::Exhausted { next_nonce } => start = next_nonce.expect("not at 2^53"),
        }
    }
    panic!("block {} not found", block.index);
}

#[test]
fn mining_from_zero_finds_the_vector_nonces() {
    let v = vectors();
    let blocks = mined_blocks(&v);
    assert!(blocks.len() >= 20, "the vectors hold a chain and a fork");
    for block in &blocks {
        // Odd round sizes cross round boundaries at different places.
        for round in [1, 37, 100_000] {
            let (nonce, hash, mined) = mine_from_zero(block, round);
            assert_eq!(nonce, block.nonce, "block {} round {round}", block.index);
            assert_eq!(hash, block.hash, "block {}", block.index);
            assert_eq!(&mined, block, "block {}", block.index);
        }
    }
}

#[test]
fn the_miner_agrees_with_the_naive_reference() {
    let v = vectors();
    for block in mined_blocks(&v).iter().take(8) {
        let header = block.header();
        let naive = mine_round_naive(&header, 0, 1 << 20);
        let (nonce, hash, _) = mine_from_zero(block, 4096);
        assert_eq!(naive, RoundResult::Found { nonce, hash });
    }
}

#[test]
fn the_next_json_of_the_api_builds_the_same_job() {
    let v = vectors();
    let block = &mined_blocks(&v)[0];
    let next_json = format!(
        r#"{{"index":{},"prev_hash":"{}","difficulty":{},"min_timestamp":0}}"#,
        block.index, block.prev_hash, block.difficulty
    );
    let job =
        BlockToMine::from_next_json(&next_json, block.data.clone(), block.timestamp_ms).unwrap();
    let RoundResult::Found { nonce, .. } = job.mine(0, 1 << 20).unwrap() else {
        panic!("not found");
    };
    assert_eq!(job.block(nonce), *block);
    // A `next` object that is not the protocol's JSON is refused with a clear error.
    let bad =
        BlockToMine::from_next_json(r#"{"index":1,"prev_hash":"ZZ"}"#, "x".into(), 0).unwrap_err();
    assert_eq!(bad.code(), "malformed");
}
