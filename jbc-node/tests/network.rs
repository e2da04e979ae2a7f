//! Several nodes on 127.0.0.1 talking real HTTP: mining nodes converge, a
//! late node catches up, and a peer with a longer but lighter chain (even
//! one that lies about its work) does not take over.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query};
use axum::routing::get;
use common::*;
use jbc_core::peer::TipInfo;
use jbc_core::{Block, BlockHash, Chain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_mining_nodes_in_a_line_converge() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let params = params_of(&FAST_FLAGS);
        let dirs: Vec<_> = (0..3).map(|i| temp_dir(&format!("line{i}"))).collect();
        let mine_flags = |name: &'static str| {
            let mut flags = FAST_FLAGS.to_vec();
            flags.extend(["--mine", "--threads", "1", "--miner", name]);
            flags
        };
        // A first, then B peered with A, then C peered with B; A and B learn
        // their other neighbour through POST /peers (the line A–B–C).
        let a = start(&dirs[0], &mine_flags("A")).await;
        let mut b_flags = mine_flags("B");
        let a_url = a.url();
        b_flags.extend(["--peer", &a_url]);
        let b = start(&dirs[1], &b_flags).await;
        let mut c_flags = mine_flags("C");
        let b_url = b.url();
        c_flags.extend(["--peer", &b_url]);
        let c = start(&dirs[2], &c_flags).await;
        for (from, to) in [(&a, &b), (&b, &c)] {
            let body = format!(r#"{{"url": "{}"}}"#, to.url());
            let (status, _) = post(&format!("{}/peers", from.url()), body).await;
            assert_eq!(status, 200);
        }
        let nodes = [&a, &b, &c];

        // Run until each node has at least 20 blocks.
        let mut events: Vec<_> = nodes.iter().map(|n| n.node.subscribe()).collect();
        let grown = wait_until(&mut events, Duration::from_secs(60), || {
            nodes.iter().all(|n| n.node.chain().height() >= 20)
        })
        .await;
        assert!(
            grown,
            "heights {:?}",
            nodes.map(|n| n.node.chain().height())
        );

        // Stop mining. Two nodes may now sit on different tips of equal work
        // (first seen wins on each, as PROTOCOL.md §6 says), which only a next block
        // resolves: the test mines it on B's tip and submits it to B. Relay
        // and sync must bring every node to that block.
        for node in nodes {
            node.node.miner().expect("mining").stop();
        }
        // (A block found just before a miner stopped, or still being
        // relayed, can tie with the test's block; then one more block
        // settles it, as on a live network.)
        let mut converged = false;
        let mut attempts = 0;
        while !converged && attempts < 5 {
            attempts += 1;
            let tip: TipInfo = get_json(&format!("{}/tip", b.url())).await;
            let data = format!("Mined by the test #{attempts}");
            let last = mine(&tip.next, &data, now_ms().max(tip.next.min_timestamp_ms));
            let (status, body) = post(&format!("{}/mined", b.url()), last.to_json()).await;
            assert_eq!(status, 200, "{body}");
            converged = wait_until(&mut events, Duration::from_secs(10), || {
                nodes.iter().all(|n| n.node.chain().tip().hash == last.hash)
            })
            .await;
        }
        assert!(
            converged,
            "tips (height, hash, work): {:?}",
            nodes.map(|n| {
                let chain = n.node.chain();
                (
                    chain.height(),
                    chain.tip().hash.short().to_string(),
                    chain.best_work(),
                )
            })
        );

        // Every node's /blockchain.json passes validation from genesis.
        let mut miners = BTreeSet::new();
        for node in nodes {
            let served: Vec<Block> = get_json(&format!("{}/blockchain.json", node.url())).await;
            let chain = validate_from_genesis(&params, &served).expect("valid chain");
            assert_eq!(chain.tip().hash, a.node.chain().tip().hash);
            assert!(chain.height() >= 20);
            miners.extend(served.iter().skip(1).map(|b| b.data.clone()));
        }
        let known = |m: &str| {
            ["Mined by A", "Mined by B", "Mined by C"].contains(&m)
                || m.starts_with("Mined by the test")
        };
        assert!(miners.iter().all(|m| known(m)), "{miners:?}");
        for node in [a, b, c] {
            node.shutdown().await.expect("clean shutdown");
        }
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_catches_up_200_blocks() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut flags = FAST_FLAGS.to_vec();
        flags.extend(["--mine", "--threads", "1"]);
        let early_dir = temp_dir("early");
        let a = start(&early_dir, &flags).await;
        let mut events = vec![a.node.subscribe()];
        let mined = wait_until(&mut events, Duration::from_secs(60), || {
            a.node.chain().height() >= 200
        })
        .await;
        assert!(mined, "height {}", a.node.chain().height());
        // A block found while the miner stops may still land: the late
        // node must reach whatever A's tip is then.
        a.node.miner().expect("mining").stop();

        let mut late_flags = FAST_FLAGS.to_vec();
        let a_url = a.url();
        late_flags.extend(["--peer", &a_url]);
        let late_dir = temp_dir("late");
        let late = start(&late_dir, &late_flags).await;
        let mut late_events = vec![late.node.subscribe()];
        // The late node may already be there before we subscribed: the
        // condition is checked first.
        let caught_up = wait_until(&mut late_events, Duration::from_secs(30), || {
            late.node.chain().tip().hash == a.node.chain().tip().hash
        })
        .await;
        assert!(caught_up, "late node at {}", late.node.chain().height());
        let served: Vec<Block> = get_json(&format!("{}/blockchain.json", late.url())).await;
        let theirs: Vec<Block> = get_json(&format!("{}/blockchain.json", a.url())).await;
        assert_eq!(served, theirs);
        assert!(served.len() > 200);
        late.shutdown().await.expect("clean shutdown");
        a.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// A fake peer serving `chain` honestly, except that `GET /tip` claims
/// `claimed_work`.
async fn lying_peer(chain: Chain, claimed_work: u128) -> (String, tokio::task::JoinHandle<()>) {
    #[derive(serde::Deserialize)]
    struct Page {
        from: u64,
        limit: usize,
    }
    let chain = Arc::new(chain);
    let (c1, c2, c3) = (chain.clone(), chain.clone(), chain.clone());
    let app = axum::Router::new()
        .route(
            "/tip",
            get(move || async move {
                Json(TipInfo {
                    height: c1.height(),
                    hash: c1.tip().hash,
                    work: claimed_work,
                    params: c1.params().clone(),
                    next: c1.next_rules(),
                })
            }),
        )
        .route(
            "/blocks",
            get(move |Query(page): Query<Page>| async move {
                Json(
                    c2.blocks_from(page.from, page.limit.min(500))
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            }),
        )
        .route(
            "/blocks/{hash}",
            get(move |Path(hash): Path<BlockHash>| async move {
                c3.block(&hash)
                    .cloned()
                    .map(Json)
                    .ok_or(axum::http::StatusCode::NOT_FOUND)
            }),
        );
    let (url, server) = serve_on_loopback(app).await;
    (url, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_longer_chain_with_less_work_does_not_take_over() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let fork = &vectors()["fork"];
        let branch_a = blocks(&fork["branch_a"]);
        let branch_b = blocks(&fork["branch_b"]);
        assert!(branch_b.len() > branch_a.len());
        let params = params_of(&VECTOR_FLAGS);

        // X has branch_a (shorter, more work).
        let heavy_dir = temp_dir("heavy");
        let x = start(&heavy_dir, &VECTOR_FLAGS).await;
        for block in &branch_a[1..] {
            let (status, _) = post(&format!("{}/mined", x.url()), block.to_json()).await;
            assert_eq!(status, 200);
        }
        let heavy_tip = branch_a[branch_a.len() - 1].hash;
        assert_eq!(x.node.chain().tip().hash, heavy_tip);

        // Y, an honest node, has branch_b (longer, less work).
        let light_dir = temp_dir("light");
        let y = start(&light_dir, &VECTOR_FLAGS).await;
        for block in &branch_b[1..] {
            let (status, _) = post(&format!("{}/mined", y.url()), block.to_json()).await;
            assert_eq!(status, 200);
        }
        // A liar serves branch_b too but claims more work than X has.
        let mut light = Chain::new(params.clone());
        for block in &branch_b[1..] {
            light.accept(block.clone(), now_ms()).expect("valid vector");
        }
        let light_tip = light.tip().hash;
        let (liar_url, liar) = lying_peer(light, u128::MAX / 2).await;

        // X peers with both. It asks the honest one for its tip (less work:
        // nothing to fetch). It checks the liar's branch in a first pass,
        // finds less work than claimed, stores none of it and bans the liar.
        let stored_before = x.node.chain().len();
        for url in [y.url(), liar_url.clone()] {
            let (status, _) = post(
                &format!("{}/peers", x.url()),
                format!(r#"{{"url": "{url}"}}"#),
            )
            .await;
            assert_eq!(status, 200);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let liar_view = loop {
            let peers: serde_json::Value = get_json(&format!("{}/peers", x.url())).await;
            let view = peers["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["url"] == liar_url.as_str())
                .cloned()
                .unwrap();
            if !view["banned_until"].is_null() || std::time::Instant::now() > deadline {
                break view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            liar_view["banned_until"].as_u64().unwrap_or(0) >= now_ms() + 9 * 60 * 1000,
            "the liar is not backed off for 10 minutes: {liar_view}"
        );
        assert!(
            liar_view["ban_reason"]
                .as_str()
                .is_some_and(|r| r.contains("claimed chain work")),
            "{liar_view}"
        );
        assert!(!x.node.chain().contains(&light_tip));
        assert_eq!(
            x.node.chain().len(),
            stored_before,
            "X stored the lighter branch"
        );
        assert_eq!(
            x.node.chain().tip().hash,
            heavy_tip,
            "the lighter chain took over"
        );
        let peers: serde_json::Value = get_json(&format!("{}/peers", x.url())).await;
        let y_view = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["url"] == y.url())
            .cloned()
            .unwrap();
        assert_eq!(
            y_view["height"],
            branch_b.len() as u64 - 1,
            "X asked Y for its tip"
        );
        let tip: TipInfo = get_json(&format!("{}/tip", x.url())).await;
        assert_eq!(tip.hash, heavy_tip);

        // The other way round, the heavier chain wins: Y reorganises to
        // branch_a once it peers with X.
        let mut y_events = vec![y.node.subscribe()];
        let (status, _) = post(
            &format!("{}/peers", y.url()),
            format!(r#"{{"url": "{}"}}"#, x.url()),
        )
        .await;
        assert_eq!(status, 200);
        let reorged = wait_until(&mut y_events, Duration::from_secs(20), || {
            y.node.chain().tip().hash == heavy_tip
        })
        .await;
        assert!(reorged, "Y did not switch to the heavier branch");
        liar.abort();
        x.shutdown().await.expect("clean shutdown");
        y.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
