//! The HTTP API on a real server (127.0.0.1, port 0): invalid blocks from
//! the test vectors, malformed and oversized bodies, limits, CORS, events.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use jbc_core::peer::{ErrorBody, SubmitReply, TipInfo};
use jbc_core::{Block, BlockError};

/// What must not change when a request is refused.
async fn snapshot(url: &str) -> (TipInfo, u64, Vec<Block>) {
    let tip: TipInfo = get_json(&format!("{url}/tip")).await;
    let status: serde_json::Value = get_json(&format!("{url}/status")).await;
    assert_eq!(
        status["kernel"],
        jbc_core::kernel_name(),
        "/status names the kernel"
    );
    let chain: Vec<Block> = get_json(&format!("{url}/blockchain.json")).await;
    (
        tip,
        status["blocks_stored"].as_u64().expect("blocks_stored"),
        chain,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_blocks_get_422_with_their_code_and_change_nothing() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let vectors = vectors();
        let chain = blocks(&vectors["chain"]);
        let dir = temp_dir("invalid");
        let node = start(&dir, &VECTOR_FLAGS).await;
        let url = node.url();

        // chain[1..=4] are accepted, each as the new tip.
        for block in &chain[1..=4] {
            let (status, body) = post(&format!("{url}/mined"), block.to_json()).await;
            assert_eq!(status, 200, "{body}");
            let reply: SubmitReply = serde_json::from_value(body).expect("reply");
            assert_eq!(reply.status, "accepted");
            assert_eq!((reply.height, reply.hash), (block.index, block.hash));
        }
        let before = snapshot(&url).await;
        assert_eq!(before.0.hash, chain[4].hash);
        assert_eq!(before.1, 4);

        // Each invalid block of the vectors: 422 with the code of its key.
        let invalid = vectors["invalid_after_block_4"]
            .as_object()
            .expect("object");
        let mut checked = 0;
        for (code, block) in invalid.iter().filter(|(k, _)| *k != "note") {
            assert!(BlockError::from_code(code).is_some(), "unknown code {code}");
            let (status, body) = post(&format!("{url}/mined"), block.to_string()).await;
            assert_eq!(status, 422, "{code}: {body}");
            let body: ErrorBody = serde_json::from_value(body).expect("error body");
            assert_eq!(&body.error, code);
            assert!(!body.message.is_empty());
            assert_eq!(snapshot(&url).await, before, "{code} changed the chain");
            let hash = block["hash"].as_str().expect("hash");
            let lookup = client()
                .get(format!("{url}/blocks/{hash}"))
                .send()
                .await
                .expect("GET");
            assert_eq!(lookup.status(), 404, "{code} was stored");
            checked += 1;
        }
        assert_eq!(checked, 6);

        // A timestamp too far in the future (rule 7, against our real clock).
        let future = mine(&before.0.next, "from the future", now_ms() + 600_000);
        let (status, body) = post(&format!("{url}/mined"), future.to_json()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("timestamp_in_future"))
        );
        assert_eq!(snapshot(&url).await, before);

        // Malformed JSON, wrong types, unknown fields: 400 malformed.
        let mut extra: serde_json::Value = serde_json::from_str(&chain[5].to_json()).unwrap();
        extra["extra"] = 1.into();
        let mut missing = extra.clone();
        missing.as_object_mut().unwrap().remove("extra");
        missing.as_object_mut().unwrap().remove("nonce");
        let mut upper = missing.clone();
        upper["nonce"] = chain[5].nonce.into();
        upper["hash"] = chain[5].hash.to_string().to_uppercase().into();
        for bad in [
            "{not json".to_string(),
            "".to_string(),
            "[1,2,3]".to_string(),
            r#"{"index": "five"}"#.to_string(),
            extra.to_string(),
            missing.to_string(),
            upper.to_string(),
        ] {
            let (status, body) = post(&format!("{url}/mined"), bad.clone()).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("malformed")),
                "{bad}"
            );
        }
        assert_eq!(snapshot(&url).await, before);

        // A 40 KiB body: 413 too_large.
        let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(40 * 1024));
        let (status, body) = post(&format!("{url}/mined"), big).await;
        assert_eq!((status, body["error"].as_str()), (413, Some("too_large")));
        assert_eq!(snapshot(&url).await, before);

        // A valid block whose data is 4096 control characters, each escaped
        // as \u00XX in JSON (about 25 KiB), fits and is accepted.
        // (\b \t \n \f \r have short escapes; every other control character
        // is written \u00XX.)
        let controls: Vec<char> = (1u8..0x20)
            .filter(|b| ![8, 9, 10, 12, 13].contains(b))
            .map(char::from)
            .collect();
        let data: String = (0..4096).map(|i| controls[i % controls.len()]).collect();
        let next = before.0.next;
        let heavy = mine(&next, &data, now_ms().max(next.min_timestamp_ms));
        let json = heavy.to_json();
        assert!(
            json.len() > 6 * 4096,
            "data is escaped: {} bytes",
            json.len()
        );
        assert!(json.len() <= 32 * 1024);
        let (status, body) = post(&format!("{url}/mined"), json).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("accepted")),
            "{body}"
        );
        let tip: TipInfo = get_json(&format!("{url}/tip")).await;
        assert_eq!(tip.hash, heavy.hash);
        let served: Block = get_json(&format!("{url}/blocks/{}", heavy.hash)).await;
        assert_eq!(served, heavy);

        // Sending it again: duplicate, nothing changes.
        let (status, body) = post(&format!("{url}/mined"), heavy.to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_side_blocks_pages_and_lookups() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let vectors = vectors();
        let chain = blocks(&vectors["chain"]);
        let branch_a = blocks(&vectors["fork"]["branch_a"]);
        let dir = temp_dir("orphans");
        let node = start(&dir, &VECTOR_FLAGS).await;
        let url = node.url();

        // chain[2] before chain[1]: an orphan, then both connect.
        let (status, body) = post(&format!("{url}/mined"), chain[2].to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("orphan")));
        let tip: TipInfo = get_json(&format!("{url}/tip")).await;
        assert_eq!(tip.height, 0);
        let (status, body) = post(&format!("{url}/mined"), chain[1].to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
        let tip: TipInfo = get_json(&format!("{url}/tip")).await;
        assert_eq!(tip.hash, chain[2].hash);

        for block in &chain[3..] {
            let (status, _) = post(&format!("{url}/mined"), block.to_json()).await;
            assert_eq!(status, 200);
        }
        // A fork block with less work than the best chain: ignored, not
        // stored, not served (PROTOCOL.md §6.1).
        let light = branch_a
            .iter()
            .find(|b| chain.iter().all(|c| c.hash != b.hash))
            .expect("branch_a diverges");
        assert!(chain.iter().any(|c| c.hash == light.prev_hash));
        let stored_before = node.node.status().blocks_stored;
        let (status, body) = post(&format!("{url}/mined"), light.to_json()).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ignored")),
            "{body}"
        );
        assert_eq!(node.node.status().blocks_stored, stored_before);
        let (status, body) = get_status(&format!("{url}/blocks/{}", light.hash)).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        let tip: TipInfo = get_json(&format!("{url}/tip")).await;
        assert_eq!(tip.hash, chain[chain.len() - 1].hash);

        let all: Vec<Block> = get_json(&format!("{url}/blockchain.json")).await;
        assert_eq!(all, chain);
        let page: Vec<Block> = get_json(&format!("{url}/blocks?from=3&limit=4")).await;
        assert_eq!(page, chain[3..7]);
        let default: Vec<Block> = get_json(&format!("{url}/blocks")).await;
        assert_eq!(default, chain);
        let capped: Vec<Block> = get_json(&format!("{url}/blocks?from=0&limit=100000")).await;
        assert_eq!(capped.len(), chain.len());
        let beyond: Vec<Block> = get_json(&format!("{url}/blocks?from=999999999")).await;
        assert!(beyond.is_empty());

        let c = client();
        for (path, code, status) in [
            ("/blocks/00".to_string(), "malformed", 400),
            ("/blocks/%ff".to_string(), "malformed", 400),
            (format!("/blocks/{}", "0".repeat(64)), "not_found", 404),
            ("/blocks?from=-1".to_string(), "malformed", 400),
            ("/blocks?limit=x".to_string(), "malformed", 400),
            ("/no/such/route".to_string(), "not_found", 404),
        ] {
            let response = c.get(format!("{url}{path}")).send().await.expect("GET");
            assert_eq!(response.status(), status, "{path}");
            let body: ErrorBody = response.json().await.expect("JSON error");
            assert_eq!(body.error, code, "{path}");
        }
        let response = c.delete(format!("{url}/tip")).send().await.expect("DELETE");
        assert_eq!(response.status(), 405);
        let body: ErrorBody = response.json().await.expect("JSON error");
        assert_eq!(body.error, "method_not_allowed");
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_peers_status_and_events() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let chain = blocks(&vectors()["chain"]);
        let dir = temp_dir("events");
        let node = start(&dir, &VECTOR_FLAGS).await;
        let url = node.url();
        let c = client();

        // Private-network CORS preflight, and CORS on answers and errors.
        let preflight = c
            .request(reqwest::Method::OPTIONS, format!("{url}/mined"))
            .header("origin", "https://example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .header("access-control-request-private-network", "true")
            .send()
            .await
            .expect("OPTIONS");
        assert!(preflight.status().is_success());
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(headers["access-control-allow-private-network"], "true");
        for path in ["/tip", "/nothing"] {
            let response = c
                .get(format!("{url}{path}"))
                .header("origin", "https://example.com")
                .send()
                .await
                .expect("GET");
            assert_eq!(
                response.headers()["access-control-allow-origin"],
                "*",
                "{path}"
            );
        }

        // Peers: bad URLs are malformed, a known one again is fine.
        for bad in [
            r#"{"url": "ftp://x"}"#,
            r#"{"url": 5}"#,
            "nope",
            r#"{"url": "localhost:1"}"#,
        ] {
            let (status, body) = post(&format!("{url}/peers"), bad).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("malformed")),
                "{bad}"
            );
        }
        for _ in 0..2 {
            let (status, body) =
                post(&format!("{url}/peers"), r#"{"url": "http://127.0.0.1:9/"}"#).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["peers"].as_array().map(Vec::len), Some(1));
        }
        let peers: serde_json::Value = get_json(&format!("{url}/peers")).await;
        assert_eq!(peers["peers"][0]["url"], "http://127.0.0.1:9");

        let status: serde_json::Value = get_json(&format!("{url}/status")).await;
        assert_eq!(status["params"]["network"], "vectors");
        assert_eq!(status["mining"], false);
        assert_eq!(status["peers"], 1);
        assert_eq!(status["height"], 0);

        // Events: a status event first, then one block event per new tip.
        let response = c.get(format!("{url}/events")).send().await.expect("events");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut stream = response.bytes_stream();
        let mut text = String::new();
        let mut read_until = async |done: &dyn Fn(&str) -> bool, text: &mut String| {
            while !done(text) {
                let chunk = stream.next().await.expect("stream open").expect("chunk");
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        read_until(&|t| t.contains("event: status"), &mut text).await;
        let (status, _) = post(&format!("{url}/mined"), chain[1].to_json()).await;
        assert_eq!(status, 200);
        // The whole block event: its name, its data line, the blank line.
        let block_event = |t: &str| {
            t.split_once("event: block")
                .is_some_and(|(_, rest)| rest.contains("\n\n"))
        };
        read_until(&block_event, &mut text).await;
        let data = text
            .lines()
            .skip_while(|l| *l != "event: block")
            .find_map(|l| l.strip_prefix("data: "))
            .expect("block data");
        let event: serde_json::Value = serde_json::from_str(data).expect("JSON data");
        assert_eq!(event["source"], "submitted");
        assert_eq!(event["block"]["hash"], chain[1].hash.to_string());

        // Shutdown ends the stream (and the node stops in bounded time).
        let shutdown = tokio::spawn(node.shutdown());
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "event stream still open after shutdown");
        shutdown.await.expect("join").expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// A tiny deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mangled_requests_never_get_a_5xx() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let chain = blocks(&vectors()["chain"]);
        let dir = temp_dir("mangled");
        let node = start(&dir, &VECTOR_FLAGS).await;
        let url = node.url();
        for block in &chain[1..=4] {
            let (status, _) = post(&format!("{url}/mined"), block.to_json()).await;
            assert_eq!(status, 200);
        }
        let before = snapshot(&url).await;
        let valid = chain[5].to_json().into_bytes();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let c = client();
        for round in 0..300 {
            // Mutate the valid next block: flip, insert, delete or truncate bytes.
            let mut body = valid.clone();
            for _ in 0..1 + rng.below(4) {
                if body.is_empty() {
                    break;
                }
                let at = rng.below(body.len());
                match rng.below(4) {
                    0 => body[at] ^= 1 << rng.below(8),
                    1 => {
                        let alphabet = br#"{}[]\",:0-9eu"#;
                        body.insert(at, alphabet[rng.below(alphabet.len())])
                    }
                    2 => {
                        body.remove(at);
                    }
                    _ => body.truncate(at),
                }
            }
            let (status, answer) = post(&format!("{url}/mined"), body.clone()).await;
            assert!(
                matches!(status, 200 | 400 | 422),
                "round {round}: {status} {answer} for {}",
                String::from_utf8_lossy(&body)
            );
            if status != 200 {
                assert!(answer["error"].is_string(), "round {round}: {answer}");
            }
            // Mangled paths and queries too.
            let path = match rng.below(4) {
                0 => format!("/blocks?from={}&limit={}", rng.next(), rng.next()),
                1 => format!(
                    "/blocks/{}",
                    String::from_utf8_lossy(&body[..body.len().min(64)])
                ),
                2 => format!("/blocks?from=%ff%00&limit=-{}", rng.below(9)),
                _ => format!("/{}", rng.next()),
            };
            if let Ok(response) = c.get(format!("{url}{path}")).send().await {
                assert!(
                    response.status().as_u16() < 500,
                    "round {round}: GET {path}"
                );
            }
        }
        // Whatever was accepted must have been valid: the chain still
        // validates, and it only ever grew by valid blocks.
        let after: Vec<Block> = get_json(&format!("{url}/blockchain.json")).await;
        let params = params_of(&VECTOR_FLAGS);
        validate_from_genesis(&params, &after).expect("valid chain");
        assert!(after.starts_with(&before.2));
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
