//! Helpers of the miner tests: a real jbc-node on 127.0.0.1 port 0, the
//! test vectors, the GPU (or why there is none).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::Parser;
use jbc_core::{Block, Params};
use jbc_miner::{GpuMiner, Options};
use jbc_node::{Config, RunningNode};

/// A fresh data directory under cargo's per-test tmp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "jbc-miner-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Flags of a network at a fixed difficulty of `bits`.
pub fn flags(bits: u32) -> Vec<String> {
    [
        "--network",
        "minertest",
        "--block-time-ms",
        "1",
        "--retarget-window",
        "100000",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--difficulty".into(),
        bits.to_string(),
        "--min-difficulty".into(),
        bits.to_string(),
    ])
    .collect()
}

/// A node on 127.0.0.1:0 with its data in a fresh directory.
pub async fn start_node(name: &str, bits: u32) -> RunningNode {
    let dir = temp_dir(name);
    let mut argv: Vec<String> = vec![
        "jbc-node".into(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
        "--data-dir".into(),
        dir.to_string_lossy().into(),
    ];
    argv.extend(flags(bits));
    let config = Config::try_parse_from(argv).expect("valid flags");
    jbc_node::start(config).await.expect("node starts")
}

/// The params of [`flags`].
pub fn params(bits: u32) -> Params {
    let mut argv = vec!["jbc-node".to_string()];
    argv.extend(flags(bits));
    Config::try_parse_from(argv).expect("valid flags").params()
}

/// Miner options for `nodes`, stopping after `blocks` blocks.
pub fn options(nodes: Vec<String>, threads: usize, name: &str, blocks: u64) -> Options {
    Options {
        nodes,
        threads,
        data: format!("Mined by {name}"),
        stop_after: Some(blocks),
        progress: false,
        poll: Duration::from_millis(200),
        gpu_dispatch: jbc_miner::threads::GPU_DISPATCH,
    }
}

/// The node's best chain.
pub async fn chain(url: &str) -> Vec<Block> {
    let body = reqwest::get(format!("{url}/blockchain.json"))
        .await
        .expect("GET /blockchain.json")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&body).expect("a chain")
}

/// A URL where nothing listens: a port that was just free.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// The GPU, or `None` after printing why the test is skipped. With
/// `JBC_REQUIRE_GPU=1` (set by `cargo xtask test`, where lavapipe is
/// installed) a missing adapter fails the test instead.
pub fn gpu(test: &str) -> Option<GpuMiner> {
    match GpuMiner::new() {
        Ok(gpu) => {
            eprintln!("{test}: on {}", gpu.adapter());
            Some(gpu)
        }
        Err(e) if std::env::var("JBC_REQUIRE_GPU").as_deref() != Ok("1") => {
            eprintln!("{test}: SKIPPED, no GPU: {e}");
            None
        }
        Err(e) => panic!("{test}: JBC_REQUIRE_GPU=1 but no GPU: {e}"),
    }
}

/// One [`gpu`] for the whole test binary (a device per test case would
/// be slow and noisy).
pub fn shared_gpu(test: &str) -> Option<&'static GpuMiner> {
    static GPU: std::sync::OnceLock<Option<GpuMiner>> = std::sync::OnceLock::new();
    let gpu = GPU.get_or_init(|| gpu("shared GPU")).as_ref();
    if gpu.is_none() {
        eprintln!("{test}: SKIPPED (no GPU, see above)");
    }
    gpu
}

/// The vector blocks of jbc-core/tests/vectors/jbc1-v1.json above genesis.
pub fn vector_blocks() -> Vec<Block> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../jbc-core/tests/vectors/jbc1-v1.json"
    );
    let text = std::fs::read_to_string(path).expect("read vectors");
    let value: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
    let mut blocks: Vec<Block> = Vec::new();
    for list in [
        &value["chain"],
        &value["fork"]["branch_a"],
        &value["fork"]["branch_b"],
    ] {
        let list: Vec<Block> = serde_json::from_value(list.clone()).expect("vector blocks");
        blocks.extend(list.into_iter().filter(|b| b.index > 0));
    }
    blocks
}
