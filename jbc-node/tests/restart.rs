//! A restart restores the same best tip and side branches, including which
//! of two equal-work branches was seen first (acceptance-order replay);
//! pooled blocks (orphans, ignored) are memory only and do not survive it.

mod common;

use std::time::Duration;

use common::*;
use jbc_core::Block;

/// Feeds `first` then `second` (both from genesis) to a node, restarts it,
/// and checks tip and side blocks before and after.
async fn feed_restart_compare(
    name: &str,
    first: &[Block],
    second: &[Block],
) -> jbc_core::BlockHash {
    let dir = temp_dir(name);
    let node = start(&dir, &VECTOR_FLAGS).await;
    for block in first[1..].iter().chain(&second[1..]) {
        let (status, body) = post(&format!("{}/mined", node.url()), block.to_json()).await;
        assert_eq!(status, 200, "{body}");
    }
    let tip = node.node.chain().tip().hash;
    let stored: Vec<jbc_core::BlockHash> =
        node.node.chain().all_headers().map(|h| h.hash).collect();
    let sent: std::collections::HashMap<_, _> =
        first.iter().chain(second).map(|b| (b.hash, b)).collect();
    node.shutdown().await.expect("clean shutdown");

    let node = start(&dir, &VECTOR_FLAGS).await;
    assert_eq!(
        node.node.chain().tip().hash,
        tip,
        "{name}: best tip changed on restart"
    );
    assert_eq!(
        node.node.chain().len(),
        stored.len(),
        "{name}: blocks lost on restart"
    );
    for hash in &stored {
        let served: Block = get_json(&format!("{}/blocks/{hash}", node.url())).await;
        assert_eq!(&&served, sent.get(hash).expect("a block we sent"));
    }
    node.shutdown().await.expect("clean shutdown");
    tip
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_tip_side_branches_and_first_seen() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let fork = &vectors()["fork"];
        let a = blocks(&fork["branch_a"]);
        let b = blocks(&fork["branch_b"]);
        let b13 = blocks(&fork["branch_b_13"]);
        let tip_of = |chain: &[Block]| chain[chain.len() - 1].hash;

        // More work wins whatever the order. The lighter branch is stored
        // only when it came first (it was the best chain then).
        assert_eq!(feed_restart_compare("order-ab", &a, &b).await, tip_of(&a));
        assert_eq!(feed_restart_compare("order-ba", &b, &a).await, tip_of(&a));
        // Equal work: the branch seen first stays best, also after restart.
        assert_eq!(feed_restart_compare("tie-a", &a, &b13).await, tip_of(&a));
        assert_eq!(feed_restart_compare("tie-b", &b13, &a).await, tip_of(&b13));
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_never_written_and_are_gone_after_a_restart() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let chain = blocks(&vectors()["chain"]);
        let dir = temp_dir("orphan-restart");
        let node = start(&dir, &VECTOR_FLAGS).await;
        for block in [&chain[3], &chain[2]] {
            let (status, body) = post(&format!("{}/mined", node.url()), block.to_json()).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("orphan")),
                "{body}"
            );
        }
        assert_eq!(node.node.chain().pooled_count(), 2);
        assert_eq!(
            node.node.status().blocks_stored,
            0,
            "orphans are not written"
        );
        node.shutdown().await.expect("clean shutdown");

        // After the restart the pool is empty: `orphan` promised nothing.
        let node = start(&dir, &VECTOR_FLAGS).await;
        assert_eq!(node.node.chain().pooled_count(), 0);
        assert_eq!(node.node.chain().len(), 1);
        // Offered again with their parent, they connect as usual.
        for block in [&chain[3], &chain[2], &chain[1]] {
            let (status, _) = post(&format!("{}/mined", node.url()), block.to_json()).await;
            assert_eq!(status, 200);
        }
        assert_eq!(node.node.chain().tip().hash, chain[3].hash);
        assert_eq!(node.node.status().blocks_stored, 3);
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
