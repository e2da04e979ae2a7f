//! `GET /tree` over real HTTP: side branches and the best chain with the
//! right parents and branches, across a reorganisation and a restart; the
//! bound of 500 rows; every refused query (400 `malformed`, nothing
//! changed); and `GET /peers` tips that follow what each peer said.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{DIFFICULTY_1_FLAGS, get_json, get_status, mine, post, start, temp_dir};
use jbc_core::{Block, Chain};
use jbc_node::RunningNode;
use serde_json::Value;

/// `GET /tree` (with `query`) of `node`.
async fn tree(node: &RunningNode, query: &str) -> Value {
    get_json(&format!("{}/tree{query}", node.url())).await
}

/// The tree's rows as (height, hash, branch, miner).
fn rows(tree: &Value) -> Vec<(u64, String, String, String)> {
    tree["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| {
            (
                b["index"].as_u64().expect("index"),
                b["hash"].as_str().expect("hash").to_string(),
                b["branch"].as_str().expect("branch").to_string(),
                b["miner"].as_str().expect("miner").to_string(),
            )
        })
        .collect()
}

/// The block `block` is a row of the tree as it should be: its header
/// fields, the branch, and its data as the miner.
fn row_of(block: &Block, branch: &str) -> (u64, String, String, String) {
    (
        block.index,
        block.hash.to_string(),
        branch.to_string(),
        block.data.clone(),
    )
}

/// Every row's parent is the row one height below it, or below `from`;
/// every header field is the block's own.
fn check_links(tree: &Value, blocks: &BTreeMap<String, Block>) {
    let from = tree["from"].as_u64().expect("from");
    let rows = tree["blocks"].as_array().expect("blocks");
    for row in rows {
        let hash = row["hash"].as_str().expect("hash");
        let block = &blocks[hash];
        assert_eq!(row["prev_hash"], block.prev_hash.to_string());
        assert_eq!(row["timestamp"], block.timestamp_ms);
        assert_eq!(row["difficulty"], block.difficulty);
        assert_eq!(row["nonce"], block.nonce);
        if block.index > from {
            let parent = rows
                .iter()
                .find(|r| r["hash"] == row["prev_hash"])
                .unwrap_or_else(|| panic!("the parent of {hash} is not in the tree"));
            assert_eq!(parent["index"].as_u64(), Some(block.index - 1));
        }
    }
}

/// Submits `block` to `node`, expecting `status`.
async fn submit(node: &RunningNode, block: &Block, status: &str) {
    let (code, body) = post(&format!("{}/mined", node.url()), block.to_json()).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some(status)),
        "{body}"
    );
}

/// Mines a block on `parent` of `chain` (stored there too).
fn mine_on(chain: &mut Chain, parent: &Block, data: &str) -> Block {
    let next = chain.next_rules_after(&parent.hash).expect("parent stored");
    let timestamp_ms = next.min_timestamp_ms.max(parent.timestamp_ms + 10);
    let block = mine(&next, data, timestamp_ms);
    chain
        .accept(block.clone(), common::now_ms())
        .expect("valid");
    block
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_shows_both_branches_follows_a_reorganisation_and_survives_a_restart() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = temp_dir("tree-fork");
        let node = start(&dir, &DIFFICULTY_1_FLAGS).await;
        let mut chain = Chain::new(common::params_of(&DIFFICULTY_1_FLAGS));
        let genesis = jbc_core::genesis(chain.params());
        let mut best = vec![genesis.clone()];
        for i in 1..=3 {
            let block = mine_on(&mut chain, &best[i - 1], "Mined by alice");
            submit(&node, &block, "accepted").await;
            best.push(block);
        }
        // Two blocks at height 4: alice's first (best), bob's then (side).
        let alice4 = mine_on(&mut chain, &best[3], "Mined by alice");
        let bob4 = mine_on(&mut chain, &best[3], "Mined by bob");
        submit(&node, &alice4, "accepted").await;
        submit(&node, &bob4, "side").await;
        let mut all: BTreeMap<String, Block> = best
            .iter()
            .chain([&alice4, &bob4])
            .map(|b| (b.hash.to_string(), b.clone()))
            .collect();

        let before = tree(&node, "?from=0").await;
        assert_eq!(before["from"], 0);
        assert_eq!(before["height"], 4);
        assert_eq!(before["tip"], alice4.hash.to_string());
        assert_eq!(before["truncated"], false);
        let mut expected = vec![row_of(&alice4, "best"), row_of(&bob4, "side")];
        expected.extend(best[1..].iter().rev().map(|b| row_of(b, "best")));
        let genesis_row = rows(&before).pop().expect("genesis row");
        assert_eq!(genesis_row.1, genesis.hash.to_string());
        assert!(genesis.data.starts_with(&genesis_row.3), "{genesis_row:?}");
        assert_eq!(rows(&before)[..5], expected[..]);
        check_links(&before, &all);

        // Bob extends his block: a reorganisation of depth 1.
        let bob5 = mine_on(&mut chain, &bob4, "Mined by bob");
        submit(&node, &bob5, "reorg").await;
        all.insert(bob5.hash.to_string(), bob5.clone());
        let after = tree(&node, "?from=3").await;
        assert_eq!(after["height"], 5);
        assert_eq!(after["tip"], bob5.hash.to_string());
        assert_eq!(
            rows(&after),
            vec![
                row_of(&bob5, "best"),
                row_of(&bob4, "best"),
                row_of(&alice4, "side"),
                row_of(&best[3], "best"),
            ]
        );
        check_links(&after, &all);
        // Without `from`: the last 30 heights, here all of them.
        let default = tree(&node, "").await;
        assert_eq!(default["from"], 0);
        assert_eq!(rows(&default).len(), 7);
        // Above the tip: no rows, no error.
        let above = tree(&node, "?from=6").await;
        assert_eq!(above["blocks"], serde_json::json!([]));

        let whole = tree(&node, "?from=0").await;
        node.shutdown().await.expect("clean shutdown");
        let node = start(&dir, &DIFFICULTY_1_FLAGS).await;
        assert_eq!(
            tree(&node, "?from=0").await,
            whole,
            "the same tree after a restart"
        );
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_is_bounded_to_500_rows_highest_first() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = temp_dir("tree-bound");
        let node = start(&dir, &DIFFICULTY_1_FLAGS).await;
        let mut chain = Chain::new(common::params_of(&DIFFICULTY_1_FLAGS));
        // 260 heights, each with a best block and an equal-work side block:
        // 521 stored blocks with genesis.
        let mut tip = jbc_core::genesis(chain.params());
        for h in 1..=260u64 {
            let best = mine_on(&mut chain, &tip, &format!("best {h}"));
            let side = mine_on(&mut chain, &tip, &format!("side {h}"));
            submit(&node, &best, "accepted").await;
            submit(&node, &side, "side").await;
            tip = best;
        }
        let whole = tree(&node, "?from=0").await;
        let rows = rows(&whole);
        assert_eq!(rows.len(), jbc_node::tree::MAX_TREE_ROWS);
        assert_eq!(whole["truncated"], true);
        // Heights 260 down to 11, two rows each, best first.
        for (i, (height, _, branch, miner)) in rows.iter().enumerate() {
            let h = 260 - i as u64 / 2;
            let kind = if i % 2 == 0 { "best" } else { "side" };
            assert_eq!((*height, branch.as_str()), (h, kind));
            assert_eq!(miner, &format!("{kind} {h}"));
        }
        let part = tree(&node, "?from=200").await;
        assert_eq!(part["truncated"], false);
        assert_eq!(part["blocks"].as_array().map(Vec::len), Some(122));
        let default = tree(&node, "").await;
        assert_eq!(default["from"], 231);
        assert_eq!(default["blocks"].as_array().map(Vec::len), Some(60));
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_query_is_refused_with_400_malformed_and_changes_nothing() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = temp_dir("tree-refused");
        let node = start(&dir, &DIFFICULTY_1_FLAGS).await;
        let mut chain = Chain::new(common::params_of(&DIFFICULTY_1_FLAGS));
        let genesis = jbc_core::genesis(chain.params());
        let first = mine_on(&mut chain, &genesis, "Mined by alice");
        submit(&node, &first, "accepted").await;
        let tip_before: Value = get_json(&format!("{}/tip", node.url())).await;
        let tree_before = tree(&node, "?from=0").await;
        for (query, says) in [
            ("?from=abc", "from must be a height"),
            ("?from=-1", "from must be a height"),
            ("?from=", "from must be a height"),
            ("?from=1.5", "from must be a height"),
            ("?from=18446744073709551616", "from must be a height"),
            ("?limit=3", "takes one parameter, from=HEIGHT"),
            ("?from=1&from=2", "takes one parameter, from=HEIGHT"),
        ] {
            let (status, body) = get_status(&format!("{}/tree{query}", node.url())).await;
            assert_eq!(status, 400, "{query}: {body}");
            assert_eq!(body["error"], "malformed", "{query}");
            let message = body["message"].as_str().expect("message");
            assert!(message.contains(says), "{query}: {message}");
        }
        let (status, body) = post(&format!("{}/tree", node.url()), "{}").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed"))
        );
        let tip_after: Value = get_json(&format!("{}/tip", node.url())).await;
        assert_eq!(tip_after, tip_before);
        assert_eq!(tree(&node, "?from=0").await, tree_before);
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// Waits (bounded) until `check` holds for `node`'s entry of `peer` in
/// `GET /peers`; the last entry seen.
async fn wait_peer(node: &RunningNode, peer: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let body: Value = get_json(&format!("{}/peers", node.url())).await;
        last = body["peers"]
            .as_array()
            .and_then(|peers| peers.iter().find(|p| p["url"] == peer))
            .cloned()
            .unwrap_or(Value::Null);
        if check(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{peer} never got there: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_show_the_last_tip_each_peer_reported() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let (a_dir, b_dir) = (temp_dir("tips-a"), temp_dir("tips-b"));
        let b = start(&b_dir, &DIFFICULTY_1_FLAGS).await;
        let mut chain = Chain::new(common::params_of(&DIFFICULTY_1_FLAGS));
        let genesis = jbc_core::genesis(chain.params());
        let b1 = mine_on(&mut chain, &genesis, "Mined by bob");
        submit(&b, &b1, "accepted").await;
        let mut args = DIFFICULTY_1_FLAGS.to_vec();
        let b_url = b.url();
        args.extend(["--peer", b_url.as_str()]);
        let before_ms = common::now_ms();
        let a = start(&a_dir, &args).await;

        // Its /tip answer at the start.
        let seen = wait_peer(&a, &b_url, |p| p["tip"]["hash"] == b1.hash.to_string()).await;
        assert_eq!(seen["tip"]["height"], 1);
        let at = seen["tip"]["seen_at_ms"].as_u64().expect("seen_at_ms");
        assert!(at >= before_ms && at <= common::now_ms(), "{seen}");

        // A fork on b: its new tip, then the branch it reorganised to.
        let alt1 = mine_on(&mut chain, &genesis, "Mined by carol");
        let alt2 = mine_on(&mut chain, &alt1, "Mined by carol");
        submit(&b, &alt1, "side").await;
        let b2 = mine_on(&mut chain, &b1, "Mined by bob");
        submit(&b, &b2, "accepted").await;
        wait_peer(&a, &b_url, |p| p["tip"]["hash"] == b2.hash.to_string()).await;
        let alt3 = mine_on(&mut chain, &alt2, "Mined by carol");
        submit(&b, &alt2, "side").await;
        submit(&b, &alt3, "reorg").await;
        let seen = wait_peer(&a, &b_url, |p| p["tip"]["hash"] == alt3.hash.to_string()).await;
        assert_eq!(seen["tip"]["height"], 3);

        // b stops: its last tip stays, the peer is down.
        b.shutdown().await.expect("clean shutdown");
        let seen = wait_peer(&a, &b_url, |p| p["up"] == false).await;
        assert_eq!(seen["tip"]["hash"], alt3.hash.to_string());
        a.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
