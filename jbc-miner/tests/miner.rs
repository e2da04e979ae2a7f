//! The CPU miner against real nodes on 127.0.0.1 port 0: it lands blocks,
//! fails over from a dead node, and survives nodes that never answer; its
//! client (jbc-client's) reports refusals with the node's code and passes
//! any 200 status on.

mod common;

use std::time::Duration;

use jbc_client::{Client, Timeouts};
use jbc_core::peer::{Peer, PeerError};
use jbc_core::{BlockHash, Candidate, Chain, Header, RoundResult, Status, mine_round};
use jbc_miner::threads::Device;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_miner_lands_valid_blocks() {
    let node = common::start_node("cpu", 12).await;
    let url = node.url();
    let options = common::options(vec![url.clone()], 1, "cpu-test", 3);
    let report = jbc_miner::run(options, None, tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("miner runs");
    assert_eq!(report.blocks_found, 3, "{report:?}");
    assert!(report.submitted.iter().all(|s| s.device == Device::Cpu));
    assert!(report.cpu_hashes > 0 && report.gpu_hashes == 0);
    // The served chain is valid from genesis by jbc-core's rules and holds
    // the three blocks.
    let served = common::chain(&url).await;
    let mut chain = Chain::new(common::params(12));
    for block in served.iter().skip(1) {
        let accepted = chain
            .accept(block.clone(), u64::MAX / 2)
            .expect("valid block");
        assert_eq!(accepted.status, Status::NewTip);
    }
    let ours = served
        .iter()
        .filter(|b| b.data == "Mined by cpu-test")
        .count();
    assert_eq!(ours, 3);
    for s in &report.submitted {
        assert!(matches!(s.status.as_str(), "accepted" | "reorg"), "{s:?}");
        assert!(served.iter().any(|b| b.hash == s.hash));
    }
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_from_a_dead_node() {
    let node = common::start_node("failover", 10).await;
    let url = node.url();
    let options = common::options(vec![common::dead_url(), url.clone()], 1, "failover", 2);
    let report = jbc_miner::run(options, None, tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("miner runs");
    assert_eq!(report.blocks_found, 2, "{report:?}");
    assert!(report.submitted.iter().all(|s| s.node == url));
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reachable_node_means_no_blocks_and_a_clean_stop() {
    let options = common::options(vec![common::dead_url()], 1, "nobody", 1);
    let report = jbc_miner::run(
        options,
        None,
        tokio::time::sleep(Duration::from_millis(1500)),
    )
    .await
    .expect("miner runs");
    assert!(report.submitted.is_empty());
    assert_eq!(report.blocks_found, 0);
}

#[tokio::test]
async fn nothing_to_mine_with_is_an_error() {
    let options = common::options(vec![common::dead_url()], 0, "none", 1);
    let error = jbc_miner::run(options, None, async {}).await.unwrap_err();
    assert!(error.to_string().contains("--threads 0"), "{error}");
    let mut options = common::options(vec!["ftp://x".into()], 1, "none", 1);
    options.threads = 1;
    assert!(jbc_miner::run(options, None, async {}).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reports_refusals_and_any_status_the_node_gives() {
    let node = common::start_node("client", 12).await;
    let client = Client::new("miner-test", Timeouts::default())
        .peer(&node.url())
        .expect("a URL");
    let tip = client.tip().await.expect("GET /tip");
    let candidate = Candidate {
        header: Header {
            index: tip.next.index,
            timestamp_ms: tip.next.min_timestamp_ms.max(1_700_000_000_000),
            difficulty: tip.next.difficulty,
            prev_hash: tip.next.prev_hash,
            data_hash: BlockHash::sha256(b"client test"),
            nonce: 0,
        },
        data: "client test".into(),
    };
    let template = candidate.template();
    // A nonce whose hash does not meet the difficulty: refused with bad_pow.
    let bad = (0..)
        .find(|&n| template.hash_with_nonce(n).leading_zero_bits() < tip.next.difficulty)
        .expect("most nonces are invalid");
    match client.submit(&candidate.block(bad)).await {
        Err(PeerError::Api { status, body }) => {
            assert_eq!(status, 422);
            assert_eq!(body.error, "bad_pow");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A valid block: accepted, then the same block again: whatever status
    // the node gives (today `duplicate`) comes back as it is.
    let RoundResult::Found { nonce, .. } = mine_round(&template, 0, 1 << 24) else {
        panic!("difficulty 12 is found within 2^24 nonces");
    };
    let block = candidate.block(nonce);
    assert_eq!(
        client.submit(&block).await.expect("POST").status,
        "accepted"
    );
    let again = client.submit(&block).await.expect("POST").status;
    assert_ne!(again, "accepted");
    assert!(!again.as_str().is_empty());
    // A node that is not there: unreachable, and the error names it.
    let dead_url = common::dead_url();
    let dead = Client::new("miner-test", Timeouts::default())
        .peer(&dead_url)
        .expect("a URL");
    let error = dead.tip().await.unwrap_err();
    assert!(matches!(error, PeerError::Unreachable(_)));
    assert!(error.to_string().contains(&dead_url), "{error}");
    node.shutdown().await.expect("clean shutdown");
}
