//! Sync and submission figures of a real node over loopback HTTP:
//! - initial sync: a fresh node catches up 100 000 blocks from a peer;
//! - a two-pass reorganisation: a node on a 10 000-block branch adopts a
//!   peer's heavier 10 001-block branch forking below it (checked once
//!   without writing, then fetched again and stored);
//! - `POST /mined` of a block the node already has (`duplicate`): requests
//!   per second and latency percentiles with 16 concurrent clients.
//!
//! Run: `cargo bench -p jbc-node --bench sync` (`cargo test --benches` runs
//! it in a quick mode with small sizes).

mod common;

use common::now_ms;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use jbc_core::{Block, Chain, Params};
use jbc_node::store::{Durability, Store};
use jbc_node::{Config, RunningNode};

/// The network of this benchmark.
const NETWORK: &str = "syncbench";

fn params() -> Params {
    config(Path::new("unused"), &[]).params()
}

fn config(dir: &Path, extra: &[&str]) -> Config {
    let data = dir.to_string_lossy().to_string();
    let mut argv = vec!["jbc-node", "--port", "0", "--data-dir", &data];
    argv.extend(common::flags(NETWORK));
    argv.extend_from_slice(extra);
    Config::try_parse_from(argv).expect("valid flags")
}

/// Mines `count` blocks on the tip of `chain`, 10 ms apart after its tip
/// (a chain of this bench starts 2 000 s ago, so it stays in the past).
fn extend(chain: &mut Chain, count: u64, tag: &str) -> Vec<Block> {
    let start = (chain.tip().timestamp_ms + 10).max(now_ms() - 2_000_000);
    let mut blocks = Vec::with_capacity(count as usize);
    for i in 0..count {
        let candidate = chain.next_template(format!("{tag} #{i}"), start + i * 10);
        let block = (0..)
            .map(|nonce| candidate.block(nonce))
            .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
            .expect("a nonce");
        chain.accept(block.clone(), now_ms()).expect("valid");
        blocks.push(block);
    }
    blocks
}

/// A data dir holding `blocks` (parents first).
fn data_dir(name: &str, blocks: &[Block]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jbc-sync-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, _, _) = Store::open(&dir, &params()).expect("open");
    for batch in blocks.chunks(10_000) {
        store.append(batch, Durability::Deferred).expect("append");
    }
    store.flush().expect("flush");
    dir
}

async fn start(dir: &Path, extra: &[&str]) -> RunningNode {
    jbc_node::start(config(dir, extra))
        .await
        .expect("node starts")
}

/// Waits (at most `limit`) until `node`'s tip is `tip`; the time it took.
async fn time_to_tip(node: &RunningNode, tip: jbc_core::BlockHash, limit: Duration) -> Duration {
    let started = Instant::now();
    while node.node.chain().tip().hash != tip {
        assert!(started.elapsed() < limit, "no sync within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

async fn initial_sync(blocks: u64) {
    let mut chain = Chain::new(params());
    let all = extend(&mut chain, blocks, "source");
    let source_dir = data_dir("source", &all);
    let source = start(&source_dir, &[]).await;
    let fresh_dir =
        std::env::temp_dir().join(format!("jbc-sync-bench-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh_dir);
    let url = source.url();
    let fresh = start(&fresh_dir, &["--peer", &url]).await;
    let took = time_to_tip(&fresh, chain.tip().hash, Duration::from_secs(600)).await;
    println!(
        "initial sync: {blocks} blocks in {:.2} s ({:.0} blocks/s)",
        took.as_secs_f64(),
        blocks as f64 / took.as_secs_f64()
    );
    fresh.shutdown().await.expect("shutdown");
    source.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&source_dir);
    let _ = std::fs::remove_dir_all(&fresh_dir);
}

async fn two_pass_reorg(depth: u64) {
    let mut base = Chain::new(params());
    let common = extend(&mut base, 100, "base");
    let mut ours = base.clone();
    let our_branch = extend(&mut ours, depth, "ours");
    let mut theirs = base;
    let their_branch = extend(&mut theirs, depth + 1, "theirs");
    let our_dir = data_dir("ours", &[common.clone(), our_branch].concat());
    let their_dir = data_dir("theirs", &[common, their_branch].concat());
    let peer = start(&their_dir, &[]).await;
    let url = peer.url();
    let node = start(&our_dir, &["--peer", &url]).await;
    let took = time_to_tip(&node, theirs.tip().hash, Duration::from_secs(600)).await;
    println!(
        "two-pass reorganisation: {} blocks disconnected, {} connected in {:.2} s",
        depth,
        depth + 1,
        took.as_secs_f64()
    );
    node.shutdown().await.expect("shutdown");
    peer.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&our_dir);
    let _ = std::fs::remove_dir_all(&their_dir);
}

async fn duplicates(requests: usize) {
    let mut chain = Chain::new(params());
    let blocks = extend(&mut chain, 10, "dup");
    let dir = data_dir("dup", &blocks);
    let node = start(&dir, &[]).await;
    let url = format!("{}/mined", node.url());
    let body = blocks[5].to_json();
    let client = reqwest::Client::new();
    let clients = 16;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(requests / clients);
                for _ in 0..requests / clients {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .body(body.clone())
                        .send()
                        .await
                        .expect("POST");
                    assert_eq!(response.status(), 200);
                    let _ = response.bytes().await;
                    times.push(sent.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed();
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "POST /mined duplicates: {} requests, {clients} clients: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        times.len(),
        times.len() as f64 / elapsed.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    node.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (sync_blocks, reorg_depth, requests) = if quick {
            (2_000, 300, 1_600)
        } else {
            (100_000, 10_000, 48_000)
        };
        initial_sync(sync_blocks).await;
        two_pass_reorg(reorg_depth).await;
        duplicates(requests).await;
    });
}
