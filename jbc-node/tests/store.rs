//! The block database: restart reads headers only and rebuilds the same
//! chain; the `best` table is repaired when a crash left it behind; a
//! database of the first layout is upgraded in place and serves the same
//! blocks.

mod common;

use common::{DIFFICULTY_1_FLAGS, extend_with, now_ms, params_of, temp_dir};
use jbc_core::{Block, Chain, Params};
use jbc_node::store::{Durability, FILE_NAME, FORMAT, FORMAT_1, Snapshot, Store};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};

/// Tables of the layout, as a test writes them by hand.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

/// A main chain of 300 blocks and a side branch of 5 from height 296 (of
/// equal work at its tip, so it stays on the side).
fn blocks(params: &Params) -> (Chain, Vec<Block>) {
    let mut chain = Chain::new(params.clone());
    let mut all = extend_with(&mut chain, 300, |i| format!("main {i}"));
    let mut side = Chain::new(params.clone());
    for block in &all[..295] {
        side.accept(block.clone(), now_ms()).expect("valid");
    }
    let branch = extend_with(&mut side, 5, |i| format!("side {i}"));
    for block in &branch {
        chain.accept(block.clone(), now_ms()).expect("valid");
    }
    all.extend(branch);
    (chain, all)
}

/// The snapshot's best chain is `chain`'s, block for block, and it serves
/// every block of `all` by hash.
fn assert_snapshot_is(snapshot: &Snapshot, chain: &Chain, all: &[Block]) {
    assert_eq!(snapshot.height(), chain.height());
    for (height, block) in chain.best_chain().enumerate() {
        let mut json = Vec::new();
        assert!(
            snapshot
                .write_block_at(height as u64, &mut json)
                .expect("read")
        );
        assert_eq!(json, block.to_json().as_bytes(), "height {height}");
    }
    for block in all {
        assert_eq!(
            snapshot.block(&block.hash).expect("read").as_ref(),
            Some(block)
        );
    }
}

#[test]
fn a_restart_rebuilds_the_chain_from_headers_and_repairs_best() {
    let params = params_of(&DIFFICULTY_1_FLAGS);
    let (chain, all) = blocks(&params);
    let dir = temp_dir("store-restart");
    {
        // Blocks appended, `best` never written: what a crash between the
        // two commits leaves.
        let (store, _, _) = Store::open(&dir, &params).expect("open");
        store.append(&all, Durability::Fsync).expect("append");
        assert_eq!(store.snapshot().expect("snapshot").height(), 0);
    }
    let (store, loaded, stats) = Store::open(&dir, &params).expect("reopen");
    assert_eq!(stats.blocks, all.len() as u64);
    assert!(!loaded.keeps_bodies());
    assert_eq!(loaded.tip(), chain.tip());
    assert_eq!(
        loaded.all_headers().collect::<Vec<_>>(),
        chain.all_headers().collect::<Vec<_>>()
    );
    assert_snapshot_is(&store.snapshot().expect("snapshot"), &chain, &all);
}

#[test]
fn a_first_layout_database_is_upgraded_in_place() {
    let params = params_of(&DIFFICULTY_1_FLAGS);
    let (chain, all) = blocks(&params);
    let dir = temp_dir("store-upgrade");
    {
        let db = Database::create(dir.join(FILE_NAME)).expect("create");
        let write = db.begin_write().expect("write");
        {
            let mut meta = write.open_table(META).expect("meta");
            meta.insert("format", FORMAT_1).expect("insert");
            let json = serde_json::to_string(&params).expect("json");
            meta.insert("params", json.as_str()).expect("insert");
            let mut blocks = write.open_table(BLOCKS).expect("blocks");
            for (seq, block) in all.iter().enumerate() {
                blocks
                    .insert(seq as u64, block.to_json().as_bytes())
                    .expect("insert");
            }
        }
        write.commit().expect("commit");
    }
    let (store, loaded, _) = Store::open(&dir, &params).expect("upgrade");
    assert_eq!(loaded.tip(), chain.tip());
    assert_eq!(loaded.len(), chain.len());
    assert_snapshot_is(&store.snapshot().expect("snapshot"), &chain, &all);
    drop(store);
    let db = Database::open(dir.join(FILE_NAME)).expect("open");
    let read = db.begin_read().expect("read");
    let format = read
        .open_table(META)
        .expect("meta")
        .get("format")
        .expect("get")
        .map(|v| v.value().to_string());
    assert_eq!(format.as_deref(), Some(FORMAT));
}

#[test]
fn a_damaged_header_is_refused_and_the_file_left_as_it_was() {
    let params = params_of(&DIFFICULTY_1_FLAGS);
    let (_, all) = blocks(&params);
    let dir = temp_dir("store-damaged");
    {
        let (store, _, _) = Store::open(&dir, &params).expect("open");
        store.append(&all[..10], Durability::Fsync).expect("append");
    }
    let headers: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
    {
        let db = Database::open(dir.join(FILE_NAME)).expect("open");
        let write = db.begin_write().expect("write");
        write
            .open_table(headers)
            .expect("headers")
            .insert(3, [1u8; 7].as_slice())
            .expect("insert");
        write.commit().expect("commit");
    }
    let err = Store::open(&dir, &params).expect_err("a damaged header");
    assert!(err.to_string().contains("header #3"), "{err}");
    // Nothing was rewritten: the blocks and the damaged header are there.
    let db = Database::open(dir.join(FILE_NAME)).expect("open");
    let read = db.begin_read().expect("read");
    let damaged = read.open_table(headers).expect("headers");
    assert_eq!(
        damaged.get(3).expect("get").map(|v| v.value().to_vec()),
        Some(vec![1u8; 7])
    );
    assert_eq!(
        read.open_table(BLOCKS).expect("blocks").len().expect("len"),
        10
    );
}
