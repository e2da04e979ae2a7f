//! The attacks of PROTOCOL.md §6.1 over real HTTP against real nodes: a cheap
//! branch from genesis, a peer lying about its work, junk orphans, a web
//! page steering the peer list; and the honest counterparts that must still
//! win (a heavier branch by sync, or block by block with `POST /mined`).
//!
//! Every refusal is checked twice: the answer, and that nothing was stored
//! (blocks stored, blocks in the chain, the tip and the size of
//! `<data dir>/chain.redb`, measured once the honest chain is built).

mod common;

use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query};
use axum::routing::get;
use common::*;
use jbc_core::peer::TipInfo;
use jbc_core::{Block, BlockHash, Chain, NextRules, Params, Status};
use jbc_node::RunningNode;

/// A network whose difficulty can walk from 10 down to 1 (one bit per
/// window of 10 blocks whose timestamps are more than 20 s apart).
const WALK_FLAGS: [&str; 10] = [
    "--network",
    "attacks",
    "--difficulty",
    "10",
    "--block-time-ms",
    "1000",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "1",
];

/// Like [`WALK_FLAGS`] at difficulty 8, for the long honest chains.
const LOW_FLAGS: [&str; 10] = [
    "--network",
    "attacks-low",
    "--difficulty",
    "8",
    "--block-time-ms",
    "1000",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "1",
];

/// Timestamp of honest block `i`: one second apart, starting a day ago
/// (difficulty stays where it is: a window of 10 blocks takes 10 s).
fn honest_ts(start: u64, index: u64) -> u64 {
    start + index * 1000
}

/// Mines `count` blocks on the tip of `chain` (which must accept each as its
/// new tip), the timestamp of each given by `ts(index)` (raised to the
/// median time past + 1 if needed) and its data by `data(index)`.
fn extend(
    chain: &mut Chain,
    count: u64,
    ts: impl Fn(u64) -> u64,
    data: impl Fn(u64) -> String,
) -> Vec<Block> {
    let mut mined = Vec::new();
    for _ in 0..count {
        let next = chain.next_rules();
        let block = mine(
            &next,
            &data(next.index),
            ts(next.index).max(next.min_timestamp_ms),
        );
        let accepted = chain.accept(block.clone(), now_ms()).expect("valid block");
        assert_eq!(accepted.status, Status::NewTip);
        mined.push(block);
    }
    mined
}

/// The honest chain: `count` blocks, one second apart, from a day ago.
fn honest_chain(params: &Params, count: u64) -> (Chain, Vec<Block>) {
    let start = now_ms() - 24 * 3600 * 1000;
    let mut chain = Chain::new(params.clone());
    let blocks = extend(
        &mut chain,
        count,
        |i| honest_ts(start, i),
        |i| format!("honest {i}"),
    );
    (chain, blocks)
}

/// POSTs `block` to the node's `/mined`: (HTTP status, body).
async fn submit(node: &RunningNode, block: &Block) -> (u16, serde_json::Value) {
    post(&format!("{}/mined", node.url()), block.to_json()).await
}

/// POSTs every block, each of which must be answered 200 `status`.
async fn submit_all(node: &RunningNode, blocks: &[Block], status: &str) {
    for block in blocks {
        let (code, body) = submit(node, block).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some(status)),
            "block {}: {body}",
            block.index
        );
    }
}

/// Size of the node's database file.
fn db_size(dir: &FsPath) -> u64 {
    std::fs::metadata(dir.join(jbc_node::store::FILE_NAME))
        .expect("database file")
        .len()
}

/// What a node stores: blocks in its store, blocks in its chain (genesis
/// included), its tip, its database's size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    blocks_stored: u64,
    chain_len: usize,
    tip: BlockHash,
    db_bytes: u64,
}

fn stored(node: &RunningNode, dir: &FsPath) -> Stored {
    Stored {
        blocks_stored: node.node.status().blocks_stored,
        chain_len: node.node.chain().len(),
        tip: node.node.chain().tip().hash,
        db_bytes: db_size(dir),
    }
}

/// The node's peer list (`GET /peers`), as URLs.
async fn peer_urls(node: &RunningNode) -> Vec<String> {
    let peers: serde_json::Value = get_json(&format!("{}/peers", node.url())).await;
    peers["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .map(|p| p["url"].as_str().expect("url").to_string())
        .collect()
}

/// POST /peers with an optional `Origin` header: (HTTP status, body).
async fn add_peer(node: &RunningNode, url: &str, origin: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = client()
        .post(format!("{}/peers", node.url()))
        .header("content-type", "application/json")
        .body(format!(r#"{{"url": "{url}"}}"#));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.expect("POST /peers");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// 1. A branch from genesis whose timestamps are years apart walks its
///    difficulty down to 1: longer than the honest chain, 4 KB in every
///    block, almost free. Every block is `ignored`; nothing reaches the
///    disk; `GET /tip` keeps answering within 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cheap_branch_from_genesis_is_not_stored() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let params = params_of(&WALK_FLAGS);
        let dir = temp_dir("cheap-genesis");
        let node = start(&dir, &WALK_FLAGS).await;
        let (_, honest) = honest_chain(&params, 40);
        submit_all(&node, &honest, "accepted").await;
        let before = stored(&node, &dir);
        assert_eq!(before.blocks_stored, 40);

        // The attacker's branch: 200 blocks from genesis, 100 days apart
        // (the last one ~55 years after 1970, still in the past).
        const ATTACK: u64 = 200;
        let spacing = 100 * 24 * 3600 * 1000;
        assert!(ATTACK * spacing < now_ms() - 24 * 3600 * 1000);
        let mut theirs = Chain::new(params.clone());
        let attack = extend(
            &mut theirs,
            ATTACK,
            |i| i * spacing,
            |i| format!("attacker {i:04} {}", "x".repeat(4000)),
        );
        assert_eq!(attack.last().unwrap().difficulty, 1, "the walk reached 1");
        assert!(
            attack
                .iter()
                .all(|b| b.data.len() > 4000 && b.data.len() <= 4096)
        );

        // GET /tip, each with a 1 s timeout, all through the attack.
        let running = Arc::new(AtomicBool::new(true));
        let tip_url = format!("{}/tip", node.url());
        let poller = {
            let running = running.clone();
            tokio::spawn(async move {
                let fast = reqwest::Client::builder()
                    .timeout(Duration::from_secs(1))
                    .build()
                    .expect("client");
                let (mut calls, mut worst) = (0u32, Duration::ZERO);
                while running.load(Ordering::Acquire) {
                    let started = Instant::now();
                    let response = fast.get(&tip_url).send().await;
                    let answered = match response {
                        Ok(r) if r.status() == 200 => r.json::<TipInfo>().await.is_ok(),
                        _ => false,
                    };
                    assert!(answered, "GET /tip did not answer within 1 s");
                    calls += 1;
                    worst = worst.max(started.elapsed());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (calls, worst)
            })
        };

        let attack_started = Instant::now();
        for block in &attack {
            let (code, body) = submit(&node, block).await;
            assert_eq!(
                (code, body["status"].as_str()),
                (200, Some("ignored")),
                "attacker block {} (difficulty {}): {body}",
                block.index,
                block.difficulty
            );
            assert_eq!(node.node.status().blocks_stored, before.blocks_stored);
        }
        let attack_time = attack_started.elapsed();
        running.store(false, Ordering::Release);
        let (calls, worst) = poller.await.expect("GET /tip within 1 s throughout");
        let after = stored(&node, &dir);
        assert_eq!(after, before, "the attacker's branch reached the store");
        assert!(!node.node.chain().contains(&attack.last().unwrap().hash));
        let (code, _) = get_status(&format!(
            "{}/blocks/{}",
            node.url(),
            attack.last().unwrap().hash
        ))
        .await;
        assert_eq!(code, 404);
        let pooled = node.node.status().pooled;
        assert!(pooled <= jbc_core::pool::MAX_POOLED, "pooled {pooled}");
        println!(
            "cheap genesis fork: {ATTACK} attacker blocks ({} KB of data) sent in {attack_time:?}, \
             all ignored; pooled {pooled}; blocks stored {} → {}; db {} → {} bytes; \
             GET /tip: {calls} calls, worst {worst:?}",
            attack.iter().map(|b| b.data.len()).sum::<usize>() / 1024,
            before.blocks_stored,
            after.blocks_stored,
            before.db_bytes,
            after.db_bytes,
        );
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// `GET /blocks` requests a fake peer received: when, `from`, `limit`.
type PageLog = Arc<Mutex<Vec<(Instant, u64, usize)>>>;

/// A fake peer serving `best` (its best chain, genesis first) and answering
/// `GET /tip` with `tip`; it logs every `GET /blocks`.
async fn logging_peer(
    best: Vec<Block>,
    tip: TipInfo,
) -> (String, PageLog, tokio::task::JoinHandle<()>) {
    #[derive(serde::Deserialize)]
    struct Page {
        from: u64,
        limit: usize,
    }
    let log: PageLog = Arc::new(Mutex::new(Vec::new()));
    let best = Arc::new(best);
    let (b1, b2, log2) = (best.clone(), best.clone(), log.clone());
    let app = axum::Router::new()
        .route("/tip", get(move || async move { Json(tip) }))
        .route(
            "/blocks",
            get(move |Query(page): Query<Page>| async move {
                log2.lock()
                    .unwrap()
                    .push((Instant::now(), page.from, page.limit));
                let from = usize::try_from(page.from).unwrap_or(usize::MAX);
                Json(
                    b1.iter()
                        .skip(from)
                        .take(page.limit.min(500))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            }),
        )
        .route(
            "/blocks/{hash}",
            get(move |Path(hash): Path<BlockHash>| async move {
                b2.iter()
                    .find(|b| b.hash == hash)
                    .cloned()
                    .map(Json)
                    .ok_or(axum::http::StatusCode::NOT_FOUND)
            }),
        );
    let (url, server) = serve_on_loopback(app).await;
    (url, log, server)
}

/// A fake peer serving `chain`'s best chain and claiming `claimed_work`.
async fn lying_peer(
    chain: &Chain,
    claimed_work: u128,
) -> (String, PageLog, tokio::task::JoinHandle<()>) {
    let tip = TipInfo {
        work: claimed_work,
        ..TipInfo::of(chain)
    };
    logging_peer(chain.best_chain().cloned().collect(), tip).await
}

/// Adds `peer_url` to `node` and waits (bounded) until `GET /peers` shows it
/// banned; returns its view.
async fn wait_banned(node: &RunningNode, peer_url: &str) -> serde_json::Value {
    let (code, body) = add_peer(node, peer_url, None).await;
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers: serde_json::Value = get_json(&format!("{}/peers", node.url())).await;
        let view = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["url"] == peer_url)
            .cloned()
            .expect("the peer is listed");
        if !view["banned_until"].is_null() {
            assert!(
                view["banned_until"].as_u64().unwrap() >= now_ms() + 9 * 60 * 1000,
                "banned for less than 10 minutes: {view}"
            );
            return view;
        }
        assert!(Instant::now() < deadline, "the peer was not banned: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A branch forking from `honest[..fork]` whose difficulty walks down to 1:
/// `count` blocks, `spacing_ms` apart.
fn cheap_branch(
    params: &Params,
    honest: &[Block],
    fork: usize,
    count: u64,
    spacing_ms: u64,
) -> (Chain, Vec<Block>) {
    let mut theirs = Chain::new(params.clone());
    for block in &honest[..fork] {
        theirs
            .accept(block.clone(), now_ms())
            .expect("honest block");
    }
    let fork_ts = honest[fork - 1].timestamp_ms;
    let first = fork as u64 + 1;
    let branch = extend(
        &mut theirs,
        count,
        |i| fork_ts + (i - first + 1) * spacing_ms,
        |i| format!("liar {i}"),
    );
    assert!(branch.last().unwrap().timestamp_ms < now_ms());
    assert_eq!(branch.last().unwrap().difficulty, 1);
    (theirs, branch)
}

/// 2. A peer claims enormous work and serves a valid, cheap branch forking
///    below our tip: the node checks it without writing, stores none of it,
///    bans the peer for 10 minutes and stops asking it for pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_peer_is_banned_and_nothing_of_it_is_stored() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let params = params_of(&WALK_FLAGS);
        let dir = temp_dir("liar");
        let node = start(&dir, &WALK_FLAGS).await;
        let (_, honest) = honest_chain(&params, 40);
        submit_all(&node, &honest, "accepted").await;
        let before = stored(&node, &dir);

        // The liar forks at height 5 and walks down to difficulty 1 with
        // blocks 200 s apart: 400 blocks, much less work than ours.
        let (theirs, branch) = cheap_branch(&params, &honest, 5, 400, 200_000);
        assert!(theirs.best_work() < node.node.chain().best_work());
        let liar_tip = theirs.tip().hash;
        let (liar_url, log, liar) = lying_peer(&theirs, u128::MAX / 2).await;
        let view = wait_banned(&node, &liar_url).await;
        let banned_at = Instant::now();
        let pages_at_ban = log.lock().unwrap().len();
        assert!(pages_at_ban > 0, "the node never fetched from the liar");

        // More than two sync rounds later: not one more page request.
        tokio::time::sleep(Duration::from_millis(
            jbc_core::node_state::POLL_UNFOLLOWED_MS * 2 + 1_000,
        ))
        .await;
        let requests = log.lock().unwrap().clone();
        let late: Vec<u64> = requests
            .iter()
            .filter(|(at, _, _)| *at > banned_at)
            .map(|(_, from, _)| *from)
            .collect();
        assert!(
            late.is_empty(),
            "the node kept fetching from a banned peer: {late:?}"
        );
        assert_eq!(requests.len(), pages_at_ban);

        let after = stored(&node, &dir);
        assert_eq!(after, before, "the node stored some of the liar's branch");
        assert!(!node.node.chain().contains(&liar_tip));
        assert!(branch.iter().all(|b| !node.node.chain().contains(&b.hash)));
        println!(
            "lying peer: branch of {} blocks from height 6, {} GET /blocks before the ban ({}), \
             0 after in {:?}; db {} → {} bytes; blocks stored {} → {}",
            branch.len(),
            pages_at_ban,
            view["ban_reason"],
            banned_at.elapsed(),
            before.db_bytes,
            after.db_bytes,
            before.blocks_stored,
            after.blocks_stored,
        );
        liar.abort();
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// 2b. The same liar with a branch of 1200 cheap blocks: pass one gives up
///     once the branch holds more blocks than its work allows (PROTOCOL.md §6.1:
///     memory per sync is bounded), within its first page, and bans it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_cheap_branch_is_refused_within_its_first_page() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let params = params_of(&WALK_FLAGS);
        let dir = temp_dir("too-light");
        let node = start(&dir, &WALK_FLAGS).await;
        let (_, honest) = honest_chain(&params, 40);
        submit_all(&node, &honest, "accepted").await;
        let before = stored(&node, &dir);
        let (theirs, branch) = cheap_branch(&params, &honest, 5, 1200, 60_000);
        let (liar_url, log, liar) = lying_peer(&theirs, u128::MAX / 2).await;
        let view = wait_banned(&node, &liar_url).await;
        assert!(
            view["ban_reason"]
                .as_str()
                .is_some_and(|r| r.contains("more than its work allows")),
            "{view}"
        );
        let requests = log.lock().unwrap().clone();
        let pages: Vec<(u64, usize)> = requests
            .iter()
            .filter(|(_, _, limit)| *limit > 1)
            .map(|(_, from, limit)| (*from, *limit))
            .collect();
        assert_eq!(pages, vec![(6, 500)], "pages asked of the liar");
        assert_eq!(stored(&node, &dir), before);
        assert!(branch.iter().all(|b| !node.node.chain().contains(&b.hash)));
        println!(
            "long cheap branch: {} blocks offered, {} requests ({} probes, pages {pages:?}), {}",
            branch.len(),
            requests.len(),
            requests.len() - pages.len(),
            view["ban_reason"]
        );
        liar.abort();
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// 2c. A peer's branch forking below our tip, heavier than ours if its last
///     block were valid, but that last block has too little proof of work:
///     pass one finds it before anything is written (not even the valid
///     part that ties our work), and the peer is banned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_ending_in_an_invalid_block_writes_nothing() {
    tokio::time::timeout(Duration::from_secs(120), async {
        const N: u64 = 30;
        const FORK: usize = 20;
        let params = params_of(&LOW_FLAGS);
        let dir = temp_dir("invalid-end");
        let node = start(&dir, &LOW_FLAGS).await;
        let (ours, honest) = honest_chain(&params, N);
        submit_all(&node, &honest, "accepted").await;
        let before = stored(&node, &dir);
        let mut theirs = Chain::new(params.clone());
        for block in &honest[..FORK] {
            theirs
                .accept(block.clone(), now_ms())
                .expect("honest block");
        }
        let start_ts = honest[0].timestamp_ms - 1000;
        // Equal work with ours at height N...
        extend(
            &mut theirs,
            N - FORK as u64,
            |i| honest_ts(start_ts, i) + 500,
            |i| format!("branch {i}"),
        );
        assert_eq!(theirs.best_work(), ours.best_work());
        // ...then a block at N + 1 whose hash misses its difficulty.
        let next = theirs.next_rules();
        let ts = honest_ts(start_ts, N + 1) + 500;
        let bad = (0..)
            .map(|nonce| {
                Block::new(
                    next.index,
                    ts,
                    "bad pow".into(),
                    next.prev_hash,
                    next.difficulty,
                    nonce,
                )
            })
            .find(|b| b.hash.leading_zero_bits() < b.difficulty)
            .unwrap();
        let mut best: Vec<Block> = theirs.best_chain().cloned().collect();
        best.push(bad.clone());
        let tip = TipInfo {
            height: bad.index,
            hash: bad.hash,
            work: theirs.best_work() + (1u128 << next.difficulty),
            ..TipInfo::of(&theirs)
        };
        let (url, _log, server) = logging_peer(best.clone(), tip).await;
        let view = wait_banned(&node, &url).await;
        assert!(
            view["ban_reason"]
                .as_str()
                .is_some_and(|r| r.contains("bad_pow")
                    || r.contains("proof of work")
                    || r.contains("invalid")),
            "{view}"
        );
        assert_eq!(stored(&node, &dir), before, "part of the branch was stored");
        assert!(
            best[FORK + 1..]
                .iter()
                .all(|b| !node.node.chain().contains(&b.hash))
        );
        println!("invalid last block: {}", view["ban_reason"]);
        server.abort();
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// Mines a block of difficulty 1 at `index` whose parent (`prev_hash`) no
/// one has: 2 hashes on average.
fn junk_orphan(index: u64, prev_hash: BlockHash, tag: u64) -> Block {
    let next = NextRules {
        index,
        prev_hash,
        difficulty: 1,
        min_timestamp_ms: 1,
        median_time_past_ms: 0,
    };
    mine(&next, &format!("junk {tag}"), now_ms())
}

/// 3. A real orphan waits while 300 junk orphans (difficulty 1, parents no
///    one has) are turned away; its parent then brings both in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_orphans_are_ignored_and_a_real_orphan_still_connects() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let params = params_of(&WALK_FLAGS);
        let dir = temp_dir("junk");
        let node = start(&dir, &WALK_FLAGS).await;
        let (_, honest) = honest_chain(&params, 32);
        let (posted, rest) = honest.split_at(30);
        submit_all(&node, posted, "accepted").await;
        let h = node.node.chain().height();
        let (child, grandchild) = (&rest[0], &rest[1]);
        assert_eq!((child.index, grandchild.index), (h + 1, h + 2));

        let (code, body) = submit(&node, grandchild).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("orphan")),
            "{body}"
        );
        let before = stored(&node, &dir);
        assert_eq!(node.node.status().pooled, 1);

        for tag in 0..300u64 {
            let parent = BlockHash::sha256(format!("nobody has {tag}").as_bytes());
            let junk = junk_orphan(h + 1 + tag % 200, parent, tag);
            let (code, body) = submit(&node, &junk).await;
            assert_eq!(
                (code, body["status"].as_str()),
                (200, Some("ignored")),
                "junk orphan {tag}: {body}"
            );
        }
        let after = stored(&node, &dir);
        assert_eq!(after, before, "junk orphans reached the store");
        assert_eq!(node.node.status().pooled, 1, "junk in the memory pool");
        assert!(node.node.chain().is_pooled(&grandchild.hash));
        let (code, body) = submit(&node, grandchild).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("orphan")),
            "{body}"
        );

        let (code, body) = submit(&node, child).await;
        assert_eq!(
            (code, body["status"].as_str()),
            (200, Some("accepted")),
            "{body}"
        );
        assert_eq!(node.node.chain().tip().hash, grandchild.hash);
        let tip: TipInfo = get_json(&format!("{}/tip", node.url())).await;
        assert_eq!((tip.height, tip.hash), (h + 2, grandchild.hash));
        assert_eq!(node.node.status().blocks_stored, before.blocks_stored + 2);
        assert_eq!(node.node.status().pooled, 0);
        println!(
            "junk orphans: 300 ignored, pool kept 1 real orphan; db {} → {} bytes during the junk, \
             {} after the real pair",
            before.db_bytes,
            after.db_bytes,
            db_size(&dir)
        );
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// A fake peer of `params`' network at genesis, answering `GET /tip` under
/// any path prefix (so `http://addr/pN` are distinct peers that stay up).
async fn genesis_peer(params: &Params) -> (String, tokio::task::JoinHandle<()>) {
    let tip = TipInfo::of(&Chain::new(params.clone()));
    let app = axum::Router::new().fallback(move || {
        let tip = tip.clone();
        async move { Json(tip) }
    });
    let (url, server) = serve_on_loopback(app).await;
    (url, server)
}

/// 4. A web page of another site cannot add peers (403, list unchanged);
///    a client without `Origin` or the node's own page can; at most 32
///    peers come through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_peers_refuses_foreign_origins_and_caps_api_peers() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let params = params_of(&WALK_FLAGS);
        let dir = temp_dir("origin");
        let node = start(&dir, &WALK_FLAGS).await;
        let (peer, server) = genesis_peer(&params).await;
        assert!(peer_urls(&node).await.is_empty());

        let (code, body) =
            add_peer(&node, &format!("{peer}/p0"), Some("http://evil.example")).await;
        assert_eq!(code, 403, "{body}");
        assert_eq!(body["error"], "forbidden", "{body}");
        assert!(
            peer_urls(&node).await.is_empty(),
            "a foreign page added a peer"
        );

        let (code, body) = add_peer(&node, &format!("{peer}/p0"), None).await;
        assert_eq!(code, 200, "{body}");
        let own = node.url();
        assert!(own.starts_with("http://127.0.0.1:"));
        let (code, body) = add_peer(&node, &format!("{peer}/p1"), Some(&own)).await;
        assert_eq!(code, 200, "{body}");
        // A sandboxed or file:// page sends `Origin: null`.
        let (code, body) = add_peer(&node, &format!("{peer}/p2"), Some("null")).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
        // Again, from a foreign page with an otherwise good request.
        let (code, body) =
            add_peer(&node, &format!("{peer}/p2"), Some("https://evil.example")).await;
        assert_eq!(
            (code, body["error"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
        assert_eq!(
            peer_urls(&node).await,
            vec![format!("{peer}/p0"), format!("{peer}/p1")]
        );

        for i in 2..32 {
            let (code, body) = add_peer(&node, &format!("{peer}/p{i}"), None).await;
            assert_eq!(code, 200, "peer {i}: {body}");
        }
        let full = peer_urls(&node).await;
        assert_eq!(full.len(), 32);
        let (code, body) = add_peer(&node, &format!("{peer}/p32"), None).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(body["error"], "malformed", "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains("32")),
            "{body}"
        );
        assert_eq!(peer_urls(&node).await, full, "the refusal changed the list");
        // A known peer again is not an error, even when full.
        let (code, body) = add_peer(&node, &format!("{peer}/p5"), None).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(peer_urls(&node).await, full);
        server.abort();
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// 4b. DNS rebinding: a page of `http://rebind.example:PORT` whose name
///     now resolves to 127.0.0.1 posts to "its own" origin. The browser
///     sends `Host: rebind.example:PORT` and `Origin:
///     http://rebind.example:PORT`; that is not the node's own origin
///     (`http://127.0.0.1:PORT`), so PROTOCOL.md §7 asks for 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_peers_refuses_a_dns_rebinding_page() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let dir = temp_dir("rebind");
        let node = start(&dir, &WALK_FLAGS).await;
        let port = node.addr.port();
        let host = format!("rebind.example:{port}");
        let response = client()
            .post(format!("{}/peers", node.url()))
            .header("host", &host)
            .header("origin", format!("http://{host}"))
            .body(r#"{"url": "http://attacker.example:5000"}"#)
            .send()
            .await
            .expect("POST /peers");
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let peers = peer_urls(&node).await;
        node.shutdown().await.expect("clean shutdown");
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("forbidden")),
            "a rebinding page added a peer: {body}; peers now {peers:?}"
        );
        assert!(peers.is_empty(), "{peers:?}");
    })
    .await
    .expect("test finished in time");
}

/// 5. A heavier branch forking 250 blocks below the tip, served by a real
///    node, wins by sync; the old branch stays stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heavier_branch_forking_250_blocks_below_wins_by_sync() {
    tokio::time::timeout(Duration::from_secs(180), async {
        const N: u64 = 300;
        const FORK: u64 = N - 250;
        let params = params_of(&LOW_FLAGS);
        let (ours, honest) = honest_chain(&params, N);
        let mut theirs = Chain::new(params.clone());
        for block in &honest[..FORK as usize] {
            theirs.accept(block.clone(), now_ms()).expect("honest block");
        }
        let start_ts = honest[0].timestamp_ms - 1000;
        let branch = extend(
            &mut theirs,
            251,
            |i| honest_ts(start_ts, i) + 500,
            |i| format!("branch {i}"),
        );
        assert!(theirs.best_work() > ours.best_work());
        assert_eq!(branch.last().unwrap().difficulty, 8);

        let a_dir = temp_dir("sync-a");
        let a = start(&a_dir, &LOW_FLAGS).await;
        submit_all(&a, &honest, "accepted").await;
        let old_tip = a.node.chain().tip().hash;
        let b_dir = temp_dir("sync-b");
        let b = start(&b_dir, &LOW_FLAGS).await;
        submit_all(&b, &honest[..FORK as usize], "accepted").await;
        submit_all(&b, &branch, "accepted").await;
        let new_tip = b.node.chain().tip().hash;
        assert_eq!(new_tip, branch.last().unwrap().hash);

        let started = Instant::now();
        let mut events = vec![a.node.subscribe()];
        let (code, body) = add_peer(&a, &b.url(), None).await;
        assert_eq!(code, 200, "{body}");
        let reorged = wait_until(&mut events, Duration::from_secs(60), || {
            a.node.chain().tip().hash == new_tip
        })
        .await;
        assert!(reorged, "A stayed at height {}", a.node.chain().height());
        let took = started.elapsed();
        let (code, body) = get_status(&format!("{}/blocks/{old_tip}", a.url())).await;
        assert_eq!(code, 200, "A's old tip is gone: {body}");
        assert_eq!(a.node.status().blocks_stored, N + 251);
        let served: Vec<Block> = get_json(&format!("{}/blockchain.json", a.url())).await;
        validate_from_genesis(&params, &served).expect("A's chain is valid");
        assert_eq!(served.last().unwrap().hash, new_tip);
        println!(
            "heavier branch by sync: A reorganised 250 blocks deep to B's 251-block branch in {took:?}; \
             A stores {} blocks, db {} bytes",
            a.node.status().blocks_stored,
            db_size(&a_dir)
        );
        a.shutdown().await.expect("clean shutdown");
        b.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// 6. A heavier branch offered block by block with `POST /mined`, parents
///    first: `ignored` (and not stored) while lighter, `side` at equal work
///    (stored whole), `reorg` with more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heavier_branch_submitted_block_by_block_wins() {
    tokio::time::timeout(Duration::from_secs(120), async {
        const N: u64 = 30;
        const FORK: u64 = 20;
        let params = params_of(&LOW_FLAGS);
        let dir = temp_dir("by-block");
        let node = start(&dir, &LOW_FLAGS).await;
        let (_, honest) = honest_chain(&params, N);
        submit_all(&node, &honest, "accepted").await;
        let before = stored(&node, &dir);
        let mut theirs = Chain::new(params.clone());
        for block in &honest[..FORK as usize] {
            theirs
                .accept(block.clone(), now_ms())
                .expect("honest block");
        }
        let start_ts = honest[0].timestamp_ms - 1000;
        let branch = extend(
            &mut theirs,
            N - FORK + 1,
            |i| honest_ts(start_ts, i) + 500,
            |i| format!("branch {i}"),
        );
        let mut answers = Vec::new();
        for (i, block) in branch.iter().enumerate() {
            let (code, body) = submit(&node, block).await;
            assert_eq!(code, 200, "{body}");
            let status = body["status"].as_str().unwrap().to_string();
            let expected = match block.index {
                i if i < N => "ignored",
                i if i == N => "side",
                _ => "reorg",
            };
            assert_eq!(
                status, expected,
                "branch block {i} at height {}",
                block.index
            );
            if expected == "ignored" {
                assert_eq!(stored(&node, &dir), before, "a light block was stored");
            }
            answers.push(status);
        }
        assert_eq!(node.node.chain().tip().hash, branch.last().unwrap().hash);
        for block in &branch {
            let (code, _) = get_status(&format!("{}/blocks/{}", node.url(), block.hash)).await;
            assert_eq!(code, 200, "branch block {} not stored", block.index);
        }
        let (code, _) = get_status(&format!(
            "{}/blocks/{}",
            node.url(),
            honest.last().unwrap().hash
        ))
        .await;
        assert_eq!(code, 200, "the old tip is gone");
        assert_eq!(
            node.node.status().blocks_stored,
            before.blocks_stored + branch.len() as u64
        );
        println!(
            "heavier branch by POST /mined: answers {answers:?}; db {} → {} bytes",
            before.db_bytes,
            db_size(&dir)
        );
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
