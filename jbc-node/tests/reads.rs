//! Whole-chain reads over real HTTP: `GET /blockchain.json` is the same
//! bytes as the whole chain serialised at once, readers past the limit are
//! answered `503 busy` with `Retry-After` at once (and cheap routes keep
//! answering), and a reader that stops reading holds its place only until
//! it leaves.

mod common;

use std::time::Duration;

use common::{DIFFICULTY_1_FLAGS, client, temp_dir};
use jbc_core::{Block, Chain};
use jbc_node::reads::MAX_WHOLE_CHAIN_READS;
use jbc_node::store::{Durability, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_chain_reads_are_exact_admitted_a_few_at_a_time_and_let_go() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let dir = temp_dir("reads");
        // 5,000 blocks of 4,000 bytes (about 20 MB of JSON: more than the
        // socket buffers take, so a reader that stops reading is stuck).
        let params = common::params_of(&DIFFICULTY_1_FLAGS);
        let mut chain = Chain::new(params.clone());
        let blocks = common::extend_with(&mut chain, 5_000, |i| format!("{i:04}").repeat(1_000));
        {
            let (store, _, _) = Store::open(&dir, &params).expect("open");
            store.append(&blocks, Durability::Deferred).expect("append");
            store.flush().expect("flush");
        }
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
        // Readers that leave give their place back.
        drop(stalled);
        let mut served = false;
        for _ in 0..100 {
            let answer = get().await.expect("GET");
            if answer.status() == 200 {
                assert_eq!(answer.bytes().await.expect("body").as_ref(), expected);
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served, "the places were never given back");
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
