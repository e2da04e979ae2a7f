//! Property tests: round trips, header uniqueness, mine_round against a naive search.

use jbc_core::header::Header;
use jbc_core::pow::{mine_round, mine_round_naive};
use jbc_core::{Block, Template};
use proptest::prelude::*;

mod common;
use common::{hash, header_with};

fn header() -> impl Strategy<Value = Header> {
    header_with(any::<u32>())
}

fn block() -> impl Strategy<Value = Block> {
    (
        any::<u64>(),
        any::<u64>(),
        ".{0,64}",
        hash(),
        0u32..=64,
        any::<u64>(),
    )
        .prop_map(|(index, ts, data, prev, difficulty, nonce)| {
            Block::new(index, ts, data, prev, difficulty, nonce)
        })
}

proptest! {
    #[test]
    fn header_round_trip(h in header()) {
        let bytes = h.encode();
        prop_assert_eq!(Header::decode(&bytes), Ok(h));
    }

    #[test]
    fn block_json_round_trip(b in block()) {
        let json = b.to_json();
        prop_assert_eq!(Block::from_json(&json).unwrap(), b.clone());
        prop_assert!(b.hash_is_correct());
    }

    #[test]
    fn different_blocks_have_different_headers(a in block(), b in block()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.header().encode(), b.header().encode());
    }

    #[test]
    fn changing_one_field_changes_the_header(b in block(), field in 0usize..6, delta in 1u64..1000) {
        let mut c = b.clone();
        match field {
            0 => c.index = c.index.wrapping_add(delta),
            1 => c.timestamp_ms = c.timestamp_ms.wrapping_add(delta),
            2 => c.data.push('x'),
            3 => c.prev_hash.0[(delta % 32) as usize] ^= 1,
            4 => c.difficulty = c.difficulty.wrapping_add(delta as u32),
            _ => c.nonce = c.nonce.wrapping_add(delta),
        }
        prop_assert_ne!(b.header().encode(), c.header().encode());
    }

    #[test]
    fn mine_round_agrees_with_naive_search(
        h in header(),
        difficulty in 0u32..=10,
        start in any::<u64>(),
        rounds in 0u64..3000,
    ) {
        let h = Header { difficulty, ..h };
        let template = Template::new(&h);
        prop_assert_eq!(mine_round(&template, start, rounds), mine_round_naive(&h, start, rounds));
    }

    #[test]
    fn mine_round_at_the_top_of_the_nonce_space(h in header(), difficulty in 0u32..=6, back in 0u64..200, rounds in 0u64..400) {
        let h = Header { difficulty, ..h };
        let start = u64::MAX - back;
        prop_assert_eq!(mine_round(&Template::new(&h), start, rounds), mine_round_naive(&h, start, rounds));
    }
}
