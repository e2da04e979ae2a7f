//! Helpers shared by the integration tests: temp dirs, nodes on port 0,
//! the test vectors, in-process mining, waiting on node events.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use jbc_core::{Block, Chain, NextRules, Params, RoundResult, Status, genesis, mine_round};
use jbc_node::events::Event;
use jbc_node::{Config, RunningNode};
use tokio::sync::broadcast;

/// A fresh directory under cargo's per-test tmp dir, removed when dropped
/// (kept when the test panics, for a look at the database and logs).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh [`TempDir`].
pub fn temp_dir(name: &str) -> TempDir {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "jbc-node-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// Flags of the vectors' network (jbc-core/tests/vectors).
pub const VECTOR_FLAGS: [&str; 10] = [
    "--network",
    "vectors",
    "--difficulty",
    "8",
    "--block-time-ms",
    "1000",
    "--retarget-window",
    "4",
    "--min-difficulty",
    "6",
];

/// A fast, low-difficulty network for mining tests: difficulty stays at 10
/// (min = initial, and blocks are never "too slow" to lower it... nor can
/// they be fast enough to raise it with a 1 ms target).
pub const FAST_FLAGS: [&str; 10] = [
    "--network",
    "fasttest",
    "--difficulty",
    "10",
    "--block-time-ms",
    "1",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "10",
];

/// Starts a node on 127.0.0.1:0 with `args` and its data in `data_dir`.
pub async fn start(data_dir: &Path, args: &[&str]) -> RunningNode {
    let data = data_dir.to_string_lossy().to_string();
    let mut argv = vec!["jbc-node", "--port", "0", "--data-dir", &data];
    argv.extend_from_slice(args);
    let config = Config::try_parse_from(argv).expect("valid flags");
    jbc_node::start(config).await.expect("node starts")
}

/// The params a set of flags defines.
pub fn params_of(args: &[&str]) -> Params {
    let mut argv = vec!["jbc-node"];
    argv.extend_from_slice(args);
    Config::try_parse_from(argv).expect("valid flags").params()
}

/// `jbc-core/tests/vectors/jbc1-v1.json`.
pub fn vectors() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../jbc-core/tests/vectors/jbc1-v1.json"
    );
    let text = std::fs::read_to_string(path).expect("read vectors");
    serde_json::from_str(&text).expect("vectors are JSON")
}

/// A list of blocks from the vectors.
pub fn blocks(value: &serde_json::Value) -> Vec<Block> {
    serde_json::from_value(value.clone()).expect("vector blocks")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    jbc_node::node::now_ms()
}

/// Mines a block following `next` in-process (low difficulty only).
pub fn mine(next: &NextRules, data: &str, timestamp_ms: u64) -> Block {
    let candidate = jbc_core::Candidate {
        header: jbc_core::Header {
            index: next.index,
            timestamp_ms,
            difficulty: next.difficulty,
            prev_hash: next.prev_hash,
            data_hash: jbc_core::BlockHash::sha256(data.as_bytes()),
            nonce: 0,
        },
        data: data.to_string(),
    };
    let template = candidate.template();
    let mut start = 0;
    loop {
        match mine_round(&template, start, 1 << 20) {
            RoundResult::Found { nonce, .. } => return candidate.block(nonce),
            RoundResult::Exhausted { next_nonce } => {
                start = next_nonce.expect("nonce space is not exhausted")
            }
        }
    }
}

/// Checks a served best chain from genesis with jbc-core's rules: the first
/// block is our genesis and every next one is accepted as the new tip.
pub fn validate_from_genesis(params: &Params, chain_json: &[Block]) -> Result<Chain, String> {
    let (first, rest) = chain_json.split_first().ok_or("empty chain")?;
    if first != &genesis(params) {
        return Err("first block is not genesis".into());
    }
    let mut chain = Chain::new(params.clone());
    for block in rest {
        let accepted = chain
            .accept(block.clone(), now_ms())
            .map_err(|e| format!("block {} invalid: {e}", block.index))?;
        if accepted.status != Status::NewTip {
            return Err(format!("block {} is {:?}", block.index, accepted.status));
        }
    }
    Ok(chain)
}

/// Waits until `done()` holds, re-checking after every event of any of
/// `receivers` (each tip change is an event); false at the deadline.
pub async fn wait_until(
    receivers: &mut [broadcast::Receiver<Event>],
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let next = futures::future::select_all(receivers.iter_mut().map(|r| Box::pin(r.recv())));
        // The timeout only guards against a condition that changes without
        // an event (none should); the wait is for the next event.
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), next).await;
    }
}

/// A reqwest client for tests, with a timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// GET `url` and decode the JSON body (panics on any error).
pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let response = client().get(url).send().await.expect("GET");
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.expect("JSON body")
}

/// POST `body` to `url`: (status, JSON body).
pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// GET `url`: (status, JSON body or null), whatever the status.
pub async fn get_status(url: &str) -> (u16, serde_json::Value) {
    let response = client().get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Serves `app` on 127.0.0.1:0 (a fake peer): its URL and the server task.
pub async fn serve_on_loopback(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

/// The value of the series `key` (name and labels, as printed) in the
/// `/metrics` of the node at `url`; 0 when it has not been created yet.
pub async fn metric(url: &str, key: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    let prefix = format!("{key} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

/// Difficulty 1 and blocks 10 ms apart (as in the sync bench): about two
/// hashes a block, for tests that need long chains.
pub const DIFFICULTY_1_FLAGS: [&str; 10] = [
    "--network",
    "filesbench",
    "--difficulty",
    "1",
    "--block-time-ms",
    "10",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "1",
];

/// Mines `count` blocks on `chain`'s tip, 10 ms apart, in the past, block
/// `i` with `data(i)` (at difficulty 1: about two hashes a block).
pub fn extend_with(
    chain: &mut Chain,
    count: u64,
    mut data: impl FnMut(u64) -> String,
) -> Vec<Block> {
    let start = (chain.tip().timestamp_ms + 10).max(now_ms() - 3_000_000);
    (0..count)
        .map(|i| {
            let candidate = chain.next_template(data(i), start + i * 10);
            let block = (0..)
                .map(|nonce| candidate.block(nonce))
                .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
                .expect("a nonce");
            chain.accept(block.clone(), now_ms()).expect("valid");
            block
        })
        .collect()
}

/// A data dir in `dir` holding a difficulty-1 chain of `count` blocks, block
/// `i` with `data(i)`, written as an import would: the chain (which keeps
/// its bodies) and the blocks.
#[allow(dead_code)]
pub fn data_dir_of(dir: &Path, count: u64, data: impl FnMut(u64) -> String) -> (Chain, Vec<Block>) {
    let params = params_of(&DIFFICULTY_1_FLAGS);
    let mut chain = Chain::new(params.clone());
    let blocks = extend_with(&mut chain, count, data);
    let (store, _, _) = jbc_node::store::Store::open(dir, &params).expect("open");
    store
        .append(&blocks, jbc_node::store::Durability::Deferred)
        .expect("append");
    store.flush().expect("flush");
    (chain, blocks)
}
