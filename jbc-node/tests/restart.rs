//! A restart restores the same best tip and side branches, including which
//! of two equal-work branches was seen first (acceptance-order replay).

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
    let stored = node.node.chain().len();
    node.shutdown().await.expect("clean shutdown");

    let node = start(&dir, &VECTOR_FLAGS).await;
    assert_eq!(
        node.node.chain().tip().hash,
        tip,
        "{name}: best tip changed on restart"
    );
    assert_eq!(
        node.node.chain().len(),
        stored,
        "{name}: blocks lost on restart"
    );
    for block in first.iter().chain(second) {
        let served: Block = get_json(&format!("{}/blocks/{}", node.url(), block.hash)).await;
        assert_eq!(&served, block);
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

        // More work wins whatever the order; the lighter branch is kept.
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
async fn an_acknowledged_orphan_survives_a_restart() {
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
        assert_eq!(node.node.chain().orphan_count(), 2);
        node.shutdown().await.expect("clean shutdown");

        // After the restart the orphans are still waiting: their parent
        // connects all three.
        let node = start(&dir, &VECTOR_FLAGS).await;
        assert_eq!(node.node.chain().orphan_count(), 2);
        let (status, body) = post(&format!("{}/mined", node.url()), chain[1].to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
        assert_eq!(node.node.chain().tip().hash, chain[3].hash);
        assert_eq!(node.node.chain().orphan_count(), 0);
        node.shutdown().await.expect("clean shutdown");

        // Connected orphans are regular stored blocks now, not orphans.
        let node = start(&dir, &VECTOR_FLAGS).await;
        assert_eq!(node.node.chain().tip().hash, chain[3].hash);
        assert_eq!(node.node.chain().orphan_count(), 0);
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
