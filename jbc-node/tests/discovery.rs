//! Peer discovery (PROTOCOL.md §7.1) with real nodes on loopback: five nodes, each
//! given only the first one's address, find each other; when that seed
//! stops, the others still agree on new blocks; a node of another network
//! offered to the seed is never learned.

mod common;

use std::time::{Duration, Instant};

use common::*;
use jbc_core::peer::TipInfo;
use jbc_node::RunningNode;

fn peer_urls(node: &RunningNode) -> Vec<(String, String)> {
    node.node
        .peer_views()
        .into_iter()
        .map(|p| {
            let source = serde_json::to_value(p.source).expect("source");
            (p.url, source.as_str().unwrap_or_default().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_given_one_seed_find_each_other_and_outlive_it() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let mut dirs = Vec::new();
        let seed_dir = temp_dir("seed");
        let seed = start(&seed_dir, &VECTOR_FLAGS).await;
        let seed_url = seed.url();
        let mut others = Vec::new();
        for i in 0..4 {
            let dir = temp_dir(&format!("joiner{i}"));
            let mut flags = VECTOR_FLAGS.to_vec();
            flags.extend(["--peer", &seed_url]);
            others.push(start(&dir, &flags).await);
            dirs.push(dir);
        }
        // A node of another network, offered to the seed through the API.
        let stranger_dir = temp_dir("stranger");
        let stranger = start(&stranger_dir, &FAST_FLAGS).await;
        let (status, _) = post(
            &format!("{seed_url}/peers"),
            format!(r#"{{"url": "{}"}}"#, stranger.url()),
        )
        .await;
        assert_eq!(status, 200);

        // Every joiner comes to know the three others without being told
        // on its command line: it learns those the seed knew when it asked
        // (`learned`), and those who joined later announce themselves to
        // it (`api`).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let counts: Vec<usize> = others
                .iter()
                .map(|n| peer_urls(n).iter().filter(|(_, s)| s != "config").count())
                .collect();
            for node in &others {
                assert!(
                    peer_urls(node)
                        .iter()
                        .all(|(url, _)| *url != stranger.url()),
                    "a node of another network was added: {:?}",
                    peer_urls(node)
                );
            }
            if counts.iter().all(|c| *c >= 3) {
                assert!(
                    others
                        .iter()
                        .any(|n| peer_urls(n).iter().any(|(_, s)| s == "learned")),
                    "nobody learned from the seed's list"
                );
                break;
            }
            assert!(Instant::now() < deadline, "peers found: {counts:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The seed knows them too (they announced themselves), and it
        // dropped the stranger once it saw its genesis.
        let seed_peers = peer_urls(&seed);
        for node in &others {
            assert!(
                seed_peers
                    .iter()
                    .any(|(url, source)| *url == node.url() && source == "api")
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while peer_urls(&seed)
            .iter()
            .any(|(url, _)| *url == stranger.url())
        {
            assert!(
                Instant::now() < deadline,
                "the seed kept a peer of another network"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The seed goes away; a block submitted to one joiner reaches all.
        seed.shutdown().await.expect("clean shutdown");
        let tip: TipInfo = get_json(&format!("{}/tip", others[0].url())).await;
        let block = mine(
            &tip.next,
            "after the seed",
            now_ms().max(tip.next.min_timestamp_ms),
        );
        let (status, body) = post(&format!("{}/mined", others[0].url()), block.to_json()).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{body}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !others
            .iter()
            .all(|n| n.node.chain().tip().hash == block.hash)
        {
            assert!(
                Instant::now() < deadline,
                "the network did not converge without its seed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for node in others {
            node.shutdown().await.expect("clean shutdown");
        }
        stranger.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
