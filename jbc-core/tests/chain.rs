//! Chain behaviour beyond the vectors: orphan-pool rejections and bounds,
//! templates, trusted reload errors, reorg bookkeeping.

use jbc_core::MAX_POOLED as MAX_ORPHANS;
use jbc_core::{
    Block, BlockError, BlockHash, Chain, LoadError, Params, RoundResult, Status, mine_round,
};

#[path = "common/mining.rs"]
mod mining;

use mining::{mine_on, snapshot};

const NOW_MS: u64 = 1_700_000_000_000;

fn params() -> Params {
    Params {
        network: "chain-test".into(),
        initial_difficulty: 4,
        min_difficulty: 2,
        max_difficulty: 20,
        target_block_ms: 1000,
        retarget_window: 5,
    }
}

#[test]
fn template_mines_an_acceptable_block_with_a_raised_timestamp() {
    let mut chain = Chain::new(params());
    let b1 = mine_on(&chain, None, "one", NOW_MS);
    chain.accept(b1.clone(), NOW_MS).unwrap();
    // A clock behind the median time past is raised to median + 1.
    let candidate = chain.next_template("two".into(), 5);
    assert_eq!(
        candidate.header.timestamp_ms,
        chain.next_rules().min_timestamp_ms
    );
    assert_eq!(candidate.header.prev_hash, b1.hash);
    let template = candidate.template();
    let RoundResult::Found { nonce, hash } = mine_round(&template, 0, 1 << 20) else {
        panic!("difficulty 4 is found within 2^20 nonces");
    };
    let block = candidate.block(nonce);
    assert_eq!(block.hash, hash);
    assert_eq!(chain.accept(block, NOW_MS).unwrap().status, Status::NewTip);
    assert_eq!(chain.height(), 2);
}

#[test]
fn orphan_path_rejections_change_nothing() {
    let mut chain = Chain::new(params());
    let b1 = mine_on(&chain, None, "one", NOW_MS);
    let mut scratch = Chain::new(params());
    scratch.accept(b1.clone(), NOW_MS).unwrap();
    let b2 = mine_on(&scratch, None, "two", NOW_MS + 1);
    let before = snapshot(&chain);

    // Another network's genesis (index 0, unknown parent) is refused.
    let other = jbc_core::genesis(&Params {
        network: "elsewhere".into(),
        ..params()
    });
    assert_eq!(chain.accept(other, NOW_MS), Err(BlockError::BadIndex));
    // An orphan whose difficulty is outside the network's bounds.
    let easy = Block::new(2, NOW_MS, "x".into(), b1.hash, 1, 0);
    assert_eq!(chain.accept(easy, NOW_MS), Err(BlockError::BadDifficulty));
    // An orphan without the proof of work it claims.
    let mut lazy = b2.clone();
    while lazy.hash.leading_zero_bits() >= lazy.difficulty {
        lazy = Block::new(
            2,
            lazy.timestamp_ms,
            "two".into(),
            b1.hash,
            4,
            lazy.nonce + 1,
        );
    }
    assert_eq!(chain.accept(lazy, NOW_MS), Err(BlockError::BadPow));
    // An orphan whose hash field lies.
    let mut liar = b2.clone();
    liar.hash.0[31] ^= 1;
    assert_eq!(chain.accept(liar, NOW_MS), Err(BlockError::BadHash));
    assert_eq!(snapshot(&chain), before);

    // The honest orphan is kept, and connects when its parent arrives.
    assert_eq!(
        chain.accept(b2.clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    // Offered again it is still an orphan (not stored, so not `duplicate`).
    assert_eq!(
        chain.accept(b2.clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    let accepted = chain.accept(b1.clone(), NOW_MS).unwrap();
    assert_eq!(accepted.stored_hashes(), vec![b1.hash, b2.hash]);
    assert_eq!(chain.tip(), &b2);
}

#[test]
fn orphan_that_turns_out_invalid_is_dropped() {
    let mut chain = Chain::new(params());
    let b1 = mine_on(&chain, None, "one", NOW_MS);
    // Child of b1 with a timestamp far in the future relative to the clock used later.
    let mut scratch = Chain::new(params());
    scratch.accept(b1.clone(), NOW_MS).unwrap();
    let future = mine_on(&scratch, None, "future", NOW_MS + 10_000_000);
    assert_eq!(
        chain.accept(future.clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    let accepted = chain.accept(b1.clone(), NOW_MS).unwrap();
    assert_eq!(accepted.stored_hashes(), vec![b1.hash]);
    assert_eq!(chain.tip(), &b1);
    assert_eq!(chain.pooled_count(), 0);
    assert!(!chain.contains(&future.hash));
}

#[test]
fn orphan_pool_is_bounded_and_drops_the_oldest() {
    let mut chain = Chain::new(params());
    let mut first = None;
    for i in 0..(MAX_ORPHANS + 10) {
        let parent = BlockHash::sha256(format!("missing {i}").as_bytes());
        let mut nonce = 0;
        let orphan = loop {
            let b = Block::new(5, NOW_MS, format!("o{i}"), parent, 4, nonce);
            if b.hash.leading_zero_bits() >= 4 {
                break b;
            }
            nonce += 1;
        };
        first.get_or_insert(orphan.hash);
        assert_eq!(chain.accept(orphan, NOW_MS).unwrap().status, Status::Orphan);
        assert!(chain.pooled_count() <= MAX_ORPHANS);
    }
    assert_eq!(chain.pooled_count(), MAX_ORPHANS);
    assert!(!chain.is_pooled(&first.unwrap()));
    assert_eq!(chain.height(), 0);
}

#[test]
fn reorg_reports_disconnected_and_connected_in_order() {
    let mut chain = Chain::new(params());
    let a1 = mine_on(&chain, None, "a1", NOW_MS);
    chain.accept(a1.clone(), NOW_MS).unwrap();
    let a2 = mine_on(&chain, None, "a2", NOW_MS + 1);
    chain.accept(a2.clone(), NOW_MS).unwrap();
    let genesis = chain.genesis().hash;
    let b1 = mine_on(&chain, Some(genesis), "b1", NOW_MS);
    // Lighter than the best chain: ignored and pooled, not stored.
    assert_eq!(
        chain.accept(b1.clone(), NOW_MS).unwrap().status,
        Status::Ignored
    );
    assert!(!chain.contains(&b1.hash) && chain.is_pooled(&b1.hash));
    // Mining b2 needs b1's rules: a scratch chain that stores it.
    let mut scratch = Chain::new(params());
    scratch.accept(b1.clone(), NOW_MS).unwrap();
    let b2 = mine_on(&scratch, Some(b1.hash), "b2", NOW_MS + 1);
    // Equal work: the branch is stored whole, as a side branch.
    let side = chain.accept(b2.clone(), NOW_MS).unwrap();
    assert_eq!(side.status, Status::Side);
    assert_eq!(side.stored_hashes(), vec![b1.hash, b2.hash]);
    let b3 = mine_on(&chain, Some(b2.hash), "b3", NOW_MS + 2);
    let reorg = chain.accept(b3.clone(), NOW_MS).unwrap();
    assert_eq!(reorg.status, Status::Reorg);
    assert_eq!(reorg.disconnected, vec![a2.hash, a1.hash]);
    assert_eq!(reorg.connected, vec![b1.hash, b2.hash, b3.hash]);
    assert!(chain.is_best(&b1.hash) && !chain.is_best(&a1.hash));
    assert_eq!(chain.block(&a2.hash), Some(&a2), "side blocks stay stored");
    let page: Vec<_> = chain.blocks_from(1, 2).map(|b| b.hash).collect();
    assert_eq!(page, vec![b1.hash, b2.hash]);
    assert_eq!(chain.blocks_from(10, 5).count(), 0);
}

#[test]
fn trusted_load_refuses_inconsistent_blocks_and_changes_nothing() {
    let mut chain = Chain::new(params());
    let b1 = mine_on(&chain, None, "one", NOW_MS);
    chain.accept(b1.clone(), NOW_MS).unwrap();
    let mut store = Chain::new(params());
    let before = snapshot(&store);
    let wrong_index = Block::new(2, NOW_MS, "x".into(), store.genesis().hash, 4, 0);
    assert_eq!(
        store.insert_trusted(wrong_index.clone()),
        Err(LoadError::Invalid {
            hash: wrong_index.hash,
            reason: BlockError::BadIndex
        })
    );
    let wrong_difficulty = Block::new(1, NOW_MS, "x".into(), store.genesis().hash, 9, 0);
    assert!(matches!(
        store.insert_trusted(wrong_difficulty),
        Err(LoadError::Invalid {
            reason: BlockError::BadDifficulty,
            ..
        })
    ));
    assert_eq!(snapshot(&store), before);
    assert_eq!(
        store.insert_trusted(b1.clone()).unwrap().status,
        Status::NewTip
    );
    assert_eq!(store.insert_trusted(b1).unwrap().status, Status::Duplicate);
}

#[test]
fn retarget_raises_difficulty_when_blocks_come_fast() {
    let p = params();
    let mut chain = Chain::new(p.clone());
    // 2W blocks 1 ms apart: far faster than half the target.
    for i in 0..(2 * p.retarget_window) {
        let b = mine_on(&chain, None, "fast", NOW_MS + i);
        chain.accept(b, NOW_MS).unwrap();
    }
    assert_eq!(chain.next_rules().difficulty, p.initial_difficulty + 1);
    // A block that keeps the old difficulty is refused at the retarget height.
    let next = chain.next_rules();
    let stale = Block::new(next.index, NOW_MS + 100, "s".into(), next.prev_hash, 4, 0);
    let before = snapshot(&chain);
    assert_eq!(chain.accept(stale, NOW_MS), Err(BlockError::BadDifficulty));
    assert_eq!(snapshot(&chain), before);
}

#[test]
fn a_trusted_insert_takes_the_block_out_of_the_orphan_pool() {
    let mut chain = Chain::new(params());
    let b1 = mine_on(&chain, None, "one", NOW_MS);
    let mut scratch = Chain::new(params());
    scratch.accept(b1.clone(), NOW_MS).unwrap();
    let b2 = mine_on(&scratch, None, "two", NOW_MS + 1);
    assert_eq!(
        chain.accept(b2.clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    // A node reloading its store may insert both while b2 waits as an orphan.
    chain.insert_trusted(b1.clone()).unwrap();
    chain.insert_trusted(b2.clone()).unwrap();
    assert_eq!(chain.len(), 3);
    assert!(!chain.is_pooled(&b2.hash));
    assert_eq!(chain.pooled_count(), 0);
    assert_eq!(chain.tip(), &b2);
    assert_eq!(chain.accept(b2, NOW_MS).unwrap().status, Status::Duplicate);
}
