//! The CPU miner against real nodes on 127.0.0.1 port 0: it lands blocks,
//! fails over from a dead node, and survives nodes that never answer.

mod common;

use std::time::Duration;

use jbc_core::{Chain, Status};
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
