//! Whole-chain reads over real HTTP: `GET /blockchain.json` is the same
//! bytes as the whole chain serialised at once, readers past the limit are
//! answered `503 busy` with `Retry-After` at once (and cheap routes keep
//! answering), and a reader that stops reading holds its place only until
//! it leaves or the node closes its stalled connection. Pages and single
//! blocks are the stored blocks exactly, after a reorganisation and a
//! restart too.

mod common;

use std::time::Duration;

use common::{DIFFICULTY_1_FLAGS, client, temp_dir};
use jbc_core::{Block, Chain};
use jbc_node::reads::MAX_WHOLE_CHAIN_READS;
use jbc_node::serve::stall::WRITE_STALL_TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_chain_reads_are_exact_admitted_a_few_at_a_time_and_let_go() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let dir = temp_dir("reads");
        // 5,000 blocks of 4,000 bytes (about 20 MB of JSON: more than the
        // socket buffers take, so a reader that stops reading is stuck).
        let (chain, _) = common::data_dir_of(&dir, 5_000, |i| format!("{i:04}").repeat(1_000));
        let node = common::start(&dir, &DIFFICULTY_1_FLAGS).await;
        let url = node.url();
        let whole: Vec<Block> = chain.best_chain().cloned().collect();
        let expected = serde_json::to_vec(&whole).expect("json");
        let get = || client().get(format!("{url}/blockchain.json")).send();
        let answer = get().await.expect("GET");
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.bytes().await.expect("body").as_ref(),
            expected,
            "byte for byte"
        );

        // Readers that stop reading: each holds one of the places.
        let mut stalled = Vec::new();
        for _ in 0..MAX_WHOLE_CHAIN_READS {
            let answer = get().await.expect("GET");
            assert_eq!(answer.status(), 200);
            stalled.push(answer);
        }
        let turned_away = get().await.expect("GET");
        assert_eq!(turned_away.status(), 503);
        assert_eq!(
            turned_away
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("")),
            Some("1")
        );
        let body: serde_json::Value = turned_away.json().await.expect("JSON error");
        assert_eq!(body["error"], "busy");
        // Cheap routes are not held up.
        let tip = client()
            .get(format!("{url}/tip"))
            .send()
            .await
            .expect("GET /tip");
        assert_eq!(tip.status(), 200);
        let metrics = client()
            .get(format!("{url}/metrics"))
            .send()
            .await
            .expect("metrics");
        let text = metrics.text().await.expect("text");
        assert!(text.contains(
            "jbc_http_requests_total{method=\"GET\",route=\"/blockchain.json\",status=\"503\"} 1"
        ));
        // A stalled reader's connection is closed once a write to it waited
        // WRITE_STALL_TIMEOUT, which gives its place back (the readers here
        // still hold their answers).
        let mut served = false;
        for _ in 0..(WRITE_STALL_TIMEOUT.as_millis() / 50 + 200) {
            let answer = get().await.expect("GET");
            if answer.status() == 200 {
                assert_eq!(answer.bytes().await.expect("body").as_ref(), expected);
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served, "the places were never given back");
        // And what a stalled reader gets is cut, never a shorter list.
        for answer in stalled {
            assert!(answer.bytes().await.is_err(), "a closed answer read whole");
        }
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// `GET /blockchain.json`, `GET /blocks` and `GET /blocks/{hash}` of the
/// node at `url` are exactly `best` (genesis first), and every block of
/// `stored` is served by hash.
async fn assert_serves(url: &str, best: &[Block], stored: &[Block]) {
    let whole = client()
        .get(format!("{url}/blockchain.json"))
        .send()
        .await
        .expect("GET");
    assert_eq!(whole.status(), 200);
    let expected = serde_json::to_vec(best).expect("json");
    assert_eq!(whole.bytes().await.expect("body").as_ref(), expected);
    let tip = best.len() as u64 - 1;
    for (from, limit) in [
        (0, 1),
        (0, 500),
        (1, 7),
        (tip - 3, 100),
        (tip, 10),
        (tip + 1, 10),
        (5, 0),
    ] {
        let page = client()
            .get(format!("{url}/blocks?from={from}&limit={limit}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(page.status(), 200);
        let end = (from + limit).min(tip + 1).max(from.min(tip + 1)) as usize;
        let want = serde_json::to_vec(&best[(from.min(tip + 1) as usize)..end]).expect("json");
        assert_eq!(
            page.bytes().await.expect("body").as_ref(),
            want,
            "from {from} limit {limit}"
        );
    }
    for block in stored.iter().step_by(97).chain(stored.last()) {
        let one = client()
            .get(format!("{url}/blocks/{}", block.hash))
            .send()
            .await
            .expect("GET");
        assert_eq!(one.status(), 200);
        assert_eq!(
            one.bytes().await.expect("body").as_ref(),
            block.to_json().as_bytes()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_the_stored_blocks_across_a_reorganisation_and_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = temp_dir("reads-reorg");
        let (chain, blocks) =
            common::data_dir_of(&dir, 2_000, |i| format!("block {i} ").repeat(40));
        let node = common::start(&dir, &DIFFICULTY_1_FLAGS).await;
        let mut best: Vec<Block> = chain.best_chain().cloned().collect();
        let mut stored = blocks.clone();
        assert_serves(&node.url(), &best, &stored).await;

        // A heavier branch from height 1,990 takes over.
        let mut rival = Chain::new(common::params_of(&DIFFICULTY_1_FLAGS));
        for block in &blocks[..1_990] {
            rival
                .accept(block.clone(), common::now_ms())
                .expect("valid");
        }
        let branch = common::extend_with(&mut rival, 15, |i| format!("rival {i}"));
        for block in &branch {
            let (status, body) =
                common::post(&format!("{}/mined", node.url()), block.to_json()).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(node.node.chain().tip().hash, branch[14].hash);
        best.truncate(1_991);
        best.extend(branch.iter().cloned());
        stored.extend(branch.iter().cloned());
        assert_serves(&node.url(), &best, &stored).await;

        // After a restart, the same.
        node.shutdown().await.expect("clean shutdown");
        let node = common::start(&dir, &DIFFICULTY_1_FLAGS).await;
        assert_eq!(node.node.chain().tip().hash, branch[14].hash);
        assert_serves(&node.url(), &best, &stored).await;
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
