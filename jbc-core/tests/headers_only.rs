//! A headers-only chain ([`Chain::headers_only`]): the same decisions as a
//! chain that keeps bodies, while holding no body but the last
//! [`RECENT_BODIES`] it stored; rebuilt from headers alone.

use std::sync::Arc;

use jbc_core::chain::RECENT_BODIES;
use jbc_core::{Block, BlockHash, Chain, LoadError, Params, Status, StoredHeader};

#[path = "common/mining.rs"]
mod mining;

use mining::{mine_on, snapshot};

const NOW_MS: u64 = 1_700_000_000_000;

fn params() -> Params {
    Params {
        network: "headers-only-test".into(),
        initial_difficulty: 4,
        min_difficulty: 2,
        max_difficulty: 20,
        target_block_ms: 1000,
        retarget_window: 5,
    }
}

/// Blocks offered in an order that exercises every path: a main chain of
/// 40 (4 KiB of data each), a side branch of equal work, a heavier branch
/// that reorganises, and a child offered before its parent (an orphan).
fn blocks() -> Vec<Arc<Block>> {
    let mut universe = Chain::new(params());
    let mut out = Vec::new();
    let data = "x".repeat(4000);
    for i in 0..40u64 {
        let block = mine_on(&universe, None, &format!("{i}{data}"), NOW_MS + i * 1000);
        universe.accept(block.clone(), NOW_MS).unwrap();
        out.push(Arc::new(block));
    }
    // A branch from height 39: equal work at first (side), then heavier.
    let fork = universe.header_at(39).unwrap().hash;
    let mut parent = fork;
    let mut branch = Vec::new();
    for i in 0..4u64 {
        let block = mine_on(
            &universe,
            Some(parent),
            &format!("side {i}"),
            NOW_MS + 50_000 + i,
        );
        universe.accept(block.clone(), NOW_MS).unwrap();
        parent = block.hash;
        branch.push(Arc::new(block));
    }
    // The branch's last two arrive child first.
    out.extend([
        branch[0].clone(),
        branch[1].clone(),
        branch[3].clone(),
        branch[2].clone(),
    ]);
    out
}

#[test]
fn it_decides_like_a_chain_with_bodies_and_keeps_only_recent_bodies() {
    let blocks = blocks();
    let mut whole = Chain::new(params());
    let mut headers = Chain::headers_only(params());
    assert!(whole.keeps_bodies() && !headers.keeps_bodies());
    for block in &blocks {
        // The whole chain gets its own copy, so the counts below are ours
        // and the headers-only chain's only.
        let a = whole.accept(Block::clone(block), NOW_MS).unwrap();
        let b = headers.accept(block.clone(), NOW_MS).unwrap();
        assert_eq!(
            (a.status, a.stored_hashes(), &a.disconnected, &a.connected),
            (b.status, b.stored_hashes(), &b.disconnected, &b.connected)
        );
        // The bodies it stored are handed over whole, to be persisted.
        for body in &b.stored {
            assert_eq!(
                body.data.len(),
                blocks
                    .iter()
                    .find(|x| x.hash == body.hash)
                    .unwrap()
                    .data
                    .len()
            );
        }
    }
    assert_eq!(headers.tip(), whole.tip());
    assert_eq!(snapshot(&headers), snapshot(&whole));
    assert_eq!(
        headers.best_headers().collect::<Vec<_>>(),
        whole.best_headers().collect::<Vec<_>>()
    );
    assert_eq!(
        headers.all_headers().collect::<Vec<_>>(),
        whole.all_headers().collect::<Vec<_>>()
    );
    // The heavier branch won: its last block (offered before its parent).
    assert_eq!(headers.tip().hash, blocks[42].hash);
    assert_eq!(headers.height(), 43);

    // No body is held but the recent ones: every other block's `Arc` is
    // ours alone.
    let held: Vec<&Arc<Block>> = blocks.iter().filter(|b| Arc::strong_count(b) > 1).collect();
    assert!(
        !held.is_empty() && held.len() <= RECENT_BODIES,
        "{}",
        held.len()
    );
    for block in &blocks {
        let header = headers.header(&block.hash).expect("every block was stored");
        assert_eq!(header, StoredHeader::from(&**block));
        assert_eq!(whole.header(&block.hash), Some(header));
        match Arc::strong_count(block) {
            1 => assert!(headers.block(&block.hash).is_none()),
            2 => assert_eq!(headers.block(&block.hash), Some(&**block)),
            n => panic!("{n} holders of one block"),
        }
    }
    // The tip's body is among the recent ones (relaying it needs it).
    assert!(headers.shared_block(&headers.tip().hash).is_some());
}

#[test]
fn it_rebuilds_from_headers_alone() {
    let mut headers = Chain::headers_only(params());
    for block in blocks() {
        headers.accept(block, NOW_MS).unwrap();
    }
    let mut reloaded = Chain::headers_only(params());
    for header in headers.all_headers().skip(1) {
        reloaded.insert_trusted_header(header).unwrap();
    }
    assert_eq!(snapshot(&reloaded), snapshot(&headers));
    assert_eq!(
        reloaded.all_headers().collect::<Vec<_>>(),
        headers.all_headers().collect::<Vec<_>>()
    );
    // Reloaded from headers, it holds no body at all but genesis'.
    assert!(reloaded.block(&headers.tip().hash).is_none());
}

#[test]
fn trusted_headers_are_checked_and_a_refusal_changes_nothing() {
    let blocks = blocks();
    let mut chain = Chain::headers_only(params());
    chain
        .insert_trusted_header(StoredHeader::from(&*blocks[0]))
        .unwrap();
    let before = snapshot(&chain);
    // Its parent was never loaded.
    let err = chain
        .insert_trusted_header(StoredHeader::from(&*blocks[2]))
        .unwrap_err();
    assert_eq!(err, LoadError::UnknownParent(blocks[2].hash));
    // A wrong difficulty for its place.
    let mut wrong = StoredHeader::from(&*blocks[1]);
    wrong.difficulty += 1;
    assert!(matches!(
        chain.insert_trusted_header(wrong),
        Err(LoadError::Invalid { .. })
    ));
    assert_eq!(snapshot(&chain), before);

    // A chain that keeps bodies cannot take a header without its body.
    let mut whole = Chain::new(params());
    let before = snapshot(&whole);
    assert_eq!(
        whole.insert_trusted_header(StoredHeader::from(&*blocks[0])),
        Err(LoadError::MissingBody(blocks[0].hash))
    );
    assert_eq!(snapshot(&whole), before);
    // Its accept still works as before.
    let status = whole.accept(blocks[0].clone(), NOW_MS).unwrap().status;
    assert_eq!(status, Status::NewTip);
}

#[test]
#[should_panic(expected = "keeps headers only")]
fn whole_chain_reads_of_a_headers_only_chain_say_where_bodies_are() {
    let chain = Chain::headers_only(params());
    let _ = chain.best_chain().count();
}

#[test]
fn a_header_compares_equal_to_its_block_only() {
    let blocks = blocks();
    let header = StoredHeader::from(&*blocks[0]);
    assert_eq!(header, *blocks[0]);
    assert_ne!(header, *blocks[1]);
    let hash: BlockHash = header.hash;
    assert_eq!(hash, blocks[0].hash);
}

#[test]
fn the_top_of_the_tree_is_every_block_from_a_height_up() {
    let blocks = blocks();
    let mut chain = Chain::headers_only(params());
    for block in &blocks {
        chain.accept(block.clone(), NOW_MS).unwrap();
    }
    for from in [0, 1, 39, 40, 41, 43, 44, 1_000] {
        let top: Vec<StoredHeader> = chain.headers_from_height(from).collect();
        let want: Vec<StoredHeader> = chain.all_headers().filter(|h| h.index >= from).collect();
        assert_eq!(top, want, "from {from}");
    }
    // Heights 40 and 41 hold two blocks each (the side branch).
    assert_eq!(chain.headers_from_height(42).count(), 2);
    assert_eq!(chain.headers_from_height(40).count(), 5);
}
