//! The original Python JBC blocks of `tests/vectors/jbc-legacy-v1.json`.

use jbc_core::legacy::{LegacyBlock, LegacyError, verify_chain};
use jbc_core::{Block, BlockHash};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/jbc-legacy-v1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn legacy(v: &Value) -> LegacyBlock {
    serde_json::from_value(v.clone()).unwrap()
}

fn chain(v: &Value) -> Vec<LegacyBlock> {
    v.as_array().unwrap().iter().map(legacy).collect()
}

#[test]
fn valid_chains_verify() {
    let v = vectors();
    let zeros = v["difficulty_hex_zeros"].as_u64().unwrap() as usize;
    verify_chain(&chain(&v["valid_chain"]), zeros).unwrap();
    // 20-digit timestamps do not fit in a u64 and must still verify.
    let long = chain(&v["mined_chain_with_20_digit_timestamps"]);
    assert!(long[0].timestamp.parse::<u64>().is_err());
    verify_chain(&long, zeros).unwrap();
    // The fork block verifies on its own and links to block 2.
    let mut forked = chain(&v["valid_chain"]);
    forked[3] = legacy(&v["fork_block_at_index_3"]);
    verify_chain(&forked, zeros).unwrap();
    // Not at a higher proof of work than the blocks have.
    assert_eq!(
        forked[0].verify(zeros + 2),
        Err(LegacyError::BadPow(zeros + 2))
    );
}

#[test]
fn altered_blocks_fail() {
    let v = vectors();
    let zeros = v["difficulty_hex_zeros"].as_u64().unwrap() as usize;
    for case in v["invalid_blocks"].as_array().unwrap() {
        assert_eq!(
            legacy(&case["block"]).verify(zeros),
            Err(LegacyError::BadHash)
        );
    }
    let mut broken = chain(&v["valid_chain"]);
    broken.swap(1, 2);
    assert!(matches!(
        verify_chain(&broken, zeros),
        Err(LegacyError::BadLink(1))
    ));
}

#[test]
fn ambiguity_example_collides_in_legacy_but_not_in_jbc1() {
    let v = vectors();
    let a = legacy(&v["ambiguity_example"]["a"]);
    let b = legacy(&v["ambiguity_example"]["b"]);
    assert_ne!(a, b);
    // Same legacy header string, same hash: the legacy format cannot tell them apart.
    assert_eq!(a.header_string(), b.header_string());
    assert_eq!(a.computed_hash(), b.computed_hash());
    assert_eq!(a.computed_hash(), a.hash);
    // The same fields in a JBC1 header give different bytes and hashes.
    let jbc1 = |l: &LegacyBlock| {
        Block::new(
            l.index.parse().unwrap(),
            l.timestamp.parse().unwrap(),
            l.data.clone(),
            BlockHash::ZERO,
            0,
            l.nonce.parse().unwrap(),
        )
    };
    let (ja, jb) = (jbc1(&a), jbc1(&b));
    assert_ne!(ja.header().encode(), jb.header().encode());
    assert_ne!(ja.hash, jb.hash);
}
