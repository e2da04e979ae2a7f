//! `GET /metrics`: strict Prometheus text, counters that move by exactly
//! the blocks sent, and no CORS on it while the other routes keep theirs.

mod common;

use std::collections::BTreeMap;

use common::*;
use jbc_core::{Block, Chain};

/// One scrape: `name{label="v",…}` (labels sorted) → value.
type Scrape = BTreeMap<String, f64>;

/// Parses the Prometheus text format strictly: every line is a `# HELP`,
/// a `# TYPE`, the final `# EOF`, or a sample of a declared family with
/// well-formed labels and a number; panics otherwise.
fn parse(text: &str) -> Scrape {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Scrape::new();
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "a line after # EOF: {line:?}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("HELP name");
            assert!(valid_name(name), "bad name in {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().expect("name"), parts.next().expect("type"));
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(
                [
                    "counter",
                    "gauge",
                    "histogram",
                    "summary",
                    "unknown",
                    "info"
                ]
                .contains(&kind),
                "bad type in {line:?}"
            );
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        assert!(valid_name(name), "bad name in {line:?}");
        let family = types
            .keys()
            .filter(|f| {
                name == f.as_str()
                    || ["_total", "_bucket", "_sum", "_count", "_created", "_info"]
                        .iter()
                        .any(|s| name == format!("{f}{s}"))
            })
            .max_by_key(|f| f.len());
        assert!(family.is_some(), "sample of an undeclared family: {line:?}");
        let mut pairs = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
            assert!(valid_name(key), "bad label name in {line:?}");
            let end = after.find('"').expect("closing quote");
            pairs.push(format!("{key}=\"{}\"", &after[..end]));
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        pairs.sort();
        let key = format!("{name}{{{}}}", pairs.join(","));
        assert!(samples.insert(key.clone(), value).is_none(), "{key} twice");
    }
    assert!(eof, "no # EOF at the end");
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The value of a series, 0 when absent.
fn value(scrape: &Scrape, key: &str) -> f64 {
    scrape.get(key).copied().unwrap_or(0.0)
}

async fn scrape(url: &str) -> Scrape {
    let response = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(kind.starts_with("text/plain"), "{kind}");
    parse(&response.text().await.expect("body"))
}

fn blocks(outcome: &str) -> String {
    format!("jbc_blocks_total{{outcome=\"{outcome}\",source=\"submitted\"}}")
}

/// Mines `count` blocks on `chain`'s tip.
fn extend(chain: &mut Chain, count: usize, tag: &str) -> Vec<Block> {
    (0..count)
        .map(|i| {
            let next = chain.next_rules();
            let block = mine(
                &next,
                &format!("{tag} {i}"),
                now_ms().max(next.min_timestamp_ms),
            );
            chain.accept(block.clone(), now_ms()).expect("valid");
            block
        })
        .collect()
}

#[tokio::test]
async fn counters_move_by_exactly_the_blocks_sent() {
    let dir = temp_dir("metrics");
    let node = start(&dir, &VECTOR_FLAGS).await;
    let url = node.url();
    let params = params_of(&VECTOR_FLAGS);
    let before = scrape(&url).await;
    assert_eq!(value(&before, "jbc_height{}"), 0.0);
    assert_eq!(value(&before, &blocks("accepted")), 0.0);

    let mut chain = Chain::new(params.clone());
    let main = extend(&mut chain, 3, "main");
    let mut side_chain = Chain::new(params);
    let side = extend(&mut side_chain, 4, "side");
    let mut bad = main[0].clone();
    bad.nonce ^= 1;

    let mined = format!("{url}/mined");
    for block in &main {
        let (status, body) = post(&mined, block.to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
    }
    let (_, body) = post(&mined, main[1].to_json()).await;
    assert_eq!(body["status"], "duplicate");
    let (_, body) = post(&mined, side[1].to_json()).await;
    assert_eq!(body["status"], "orphan");
    let (_, body) = post(&mined, side[0].to_json()).await;
    assert_eq!(body["status"], "ignored");
    let (status, body) = post(&mined, bad.to_json()).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("bad_hash")));
    let (_, body) = post(&mined, side[2].to_json()).await;
    assert_eq!(body["status"], "side");
    let (_, body) = post(&mined, side[3].to_json()).await;
    assert_eq!(body["status"], "reorg");

    let after = scrape(&url).await;
    let moved = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(moved(&blocks("accepted")), 3.0);
    assert_eq!(moved(&blocks("duplicate")), 1.0);
    assert_eq!(moved(&blocks("orphan")), 1.0);
    assert_eq!(moved(&blocks("ignored")), 1.0);
    assert_eq!(moved(&blocks("bad_hash")), 1.0);
    assert_eq!(moved(&blocks("side")), 1.0);
    assert_eq!(moved(&blocks("reorg")), 1.0);
    // The reorganisation disconnected the 3 blocks of the first branch.
    assert_eq!(value(&after, "jbc_reorg_depth_count{}"), 1.0);
    assert_eq!(value(&after, "jbc_reorg_depth_sum{}"), 3.0);
    assert_eq!(value(&after, "jbc_reorg_depth_bucket{le=\"2.0\"}"), 0.0);
    assert_eq!(value(&after, "jbc_reorg_depth_bucket{le=\"4.0\"}"), 1.0);
    assert_eq!(value(&after, "jbc_height{}"), 4.0);
    assert_eq!(value(&after, "jbc_blocks_stored{}"), 7.0);
    assert_eq!(value(&after, "jbc_pooled_blocks{}"), 0.0);
    assert!(value(&after, "jbc_chain_work{}") > value(&before, "jbc_chain_work{}"));
    let requests = |status: u16| {
        format!("jbc_http_requests_total{{method=\"POST\",route=\"/mined\",status=\"{status}\"}}")
    };
    assert_eq!(moved(&requests(200)), 8.0);
    assert_eq!(moved(&requests(422)), 1.0);
    assert_eq!(
        value(
            &after,
            "jbc_http_request_duration_seconds_count{method=\"POST\",route=\"/mined\"}"
        ),
        9.0
    );
    // The first scrape was counted too, by its route.
    assert!(
        value(
            &after,
            "jbc_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}"
        ) >= 1.0
    );
    node.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn metrics_has_no_cors_and_the_api_keeps_it() {
    let dir = temp_dir("metrics-cors");
    let node = start(&dir, &VECTOR_FLAGS).await;
    let url = node.url();
    let get = |path: &str| {
        client()
            .get(format!("{url}{path}"))
            .header("origin", "http://example.invalid")
            .send()
    };
    let metrics = get("/metrics").await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let tip = get("/tip").await.expect("GET /tip");
    assert_eq!(tip.status(), 200);
    assert_eq!(tip.headers()["access-control-allow-origin"], "*");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{url}/metrics"))
        .header("origin", "http://example.invalid")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("OPTIONS /metrics");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    node.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sync_counts_its_blocks_its_runs_and_their_durations() {
    let (a_dir, b_dir) = (temp_dir("metrics-sync-a"), temp_dir("metrics-sync-b"));
    let a = start(&a_dir, &VECTOR_FLAGS).await;
    let mut chain = Chain::new(params_of(&VECTOR_FLAGS));
    for block in extend(&mut chain, 5, "a") {
        let (status, _) = post(&format!("{}/mined", a.url()), block.to_json()).await;
        assert_eq!(status, 200);
    }
    let a_url = a.url();
    let mut flags = VECTOR_FLAGS.to_vec();
    flags.extend(["--peer", &a_url]);
    let b = start(&b_dir, &flags).await;
    let tip = chain.tip().hash;
    let mut events = [b.node.subscribe()];
    assert!(
        wait_until(&mut events, std::time::Duration::from_secs(20), || {
            b.node.chain().tip().hash == tip
        })
        .await,
        "b syncs from a"
    );
    // The sync that stored the blocks has ended once its count shows.
    let mut after = scrape(&b.url()).await;
    for _ in 0..100 {
        if value(&after, "jbc_syncs_total{outcome=\"synced\"}") >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = scrape(&b.url()).await;
    }
    assert_eq!(
        value(
            &after,
            "jbc_blocks_total{outcome=\"stored\",source=\"sync\"}"
        ),
        5.0
    );
    assert!(value(&after, "jbc_syncs_total{outcome=\"synced\"}") >= 1.0);
    assert!(value(&after, "jbc_sync_duration_seconds_count{}") >= 1.0);
    assert_eq!(value(&after, "jbc_peers{state=\"up\"}"), 1.0);
    assert_eq!(value(&after, "jbc_height{}"), 5.0);
    b.shutdown().await.expect("shutdown");
    a.shutdown().await.expect("shutdown");
}
