//! Memory and reads of a real node (the release `jbc-node` binary, so the
//! figures are its own): for a chain of N blocks of B bytes of data,
//! - resident memory after start-up, and the start-up time (spawn to the
//!   first `GET /tip` answered);
//! - one whole-chain download (`GET /blockchain.json`);
//! - with R concurrent whole-chain readers for a few seconds (each reads
//!   every answer to its end, and waits 100 ms after a `503 busy`): the
//!   rise of resident memory, how many reads were whole or busy, and
//!   `GET /tip` latency (p50, p99) measured beside them.
//!
//! Run: `cargo bench -p jbc-node --bench reads` (100,000 blocks of 16 bytes,
//! then 1,000,000 of 4,000 bytes — about 4.3 GB of database, kept under
//! `target/bench-reads/` for the next run), or with `-- --chains 20000x4000`
//! for others. `cargo test --benches` runs it quickly with small sizes.

mod common;

use common::now_ms;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use jbc_core::{Block, Params};
use jbc_node::Config;
use jbc_node::store::{Durability, Store};

/// The network of this benchmark.
const NETWORK: &str = "readsbench";

fn params() -> Params {
    let mut argv = vec!["jbc-node"];
    argv.extend(common::flags(NETWORK));
    Config::try_parse_from(argv).expect("valid flags").params()
}

/// A data dir holding `blocks` blocks of `bytes` bytes of data, made once
/// and kept (its name says what it holds).
fn data_dir(root: &Path, blocks: u64, bytes: usize) -> PathBuf {
    let dir = root.join(format!("chain-{blocks}x{bytes}"));
    let done = dir.join("complete");
    if done.is_file() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let params = params();
    let (store, mut chain, _) = Store::open(&dir, &params).expect("open");
    let start = now_ms() - blocks * 10 - 60_000;
    let mut batch = Vec::new();
    for i in 0..blocks {
        let tag = format!("{i:08}");
        let data = tag.repeat(bytes.div_ceil(8).max(1))[..bytes.max(1)].to_string();
        let candidate = chain.next_template(data, start + i * 10);
        let block: Block = (0..)
            .map(|nonce| candidate.block(nonce))
            .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
            .expect("a nonce");
        let accepted = chain.accept(block, now_ms()).expect("valid");
        batch.extend(accepted.stored);
        if batch.len() == 10_000 || i + 1 == blocks {
            store.append(&batch, Durability::Deferred).expect("append");
            batch.clear();
        }
    }
    store.set_best(1, &chain).expect("best");
    store.flush().expect("flush");
    std::fs::write(&done, b"").expect("mark");
    println!(
        "  (made {blocks} blocks of {bytes} bytes in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    dir
}

/// A running release node.
struct Node {
    child: Child,
    url: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts the node on `dir` and waits for its address (from its log).
    fn start(dir: &Path) -> (Node, Duration) {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_jbc-node"))
            .args(["--port", "0", "--data-dir"])
            .arg(dir)
            .args(common::flags(NETWORK))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jbc-node");
        // The log goes to stderr: find the address, then keep draining it
        // (the thread ends with the process).
        let log = BufReader::new(child.stderr.take().expect("stderr"));
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in log.lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("url=")
                    && let Some(found) = found.take()
                {
                    let url = line[at + 4..].split_whitespace().next().unwrap_or("");
                    let _ = found.send(url.to_string());
                }
            }
        });
        let url = address
            .recv_timeout(Duration::from_secs(120))
            .expect("the node says where it listens");
        (Node { child, url }, started.elapsed())
    }

    fn resident_bytes(&self) -> u64 {
        resident_of(self.child.id())
    }
}

fn resident_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// Reads a whole answer to its end; its status and size.
async fn read_all(client: &reqwest::Client, url: &str) -> (u16, u64) {
    let Ok(mut answer) = client.get(url).send().await else {
        return (0, 0);
    };
    let status = answer.status().as_u16();
    let mut size = 0;
    while let Ok(Some(chunk)) = answer.chunk().await {
        size += chunk.len() as u64;
    }
    (status, size)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `readers` concurrent whole-chain readers for `seconds`, with `/tip`
/// timed beside them.
async fn readers(node: &Node, readers: usize, seconds: u64) {
    let before = node.resident_bytes();
    let peak = Arc::new(AtomicU64::new(before));
    let stop = Arc::new(AtomicBool::new(false));
    let pid = node.child.id();
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(resident_of(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let url = format!("{}/blockchain.json", node.url);
    let tasks: Vec<_> = (0..readers)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = client();
                let (mut whole, mut busy) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    match read_all(&client, &url).await {
                        (200, _) => whole += 1,
                        (503, _) => {
                            busy += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                (whole, busy)
            })
        })
        .collect();
    let tip_url = format!("{}/tip", node.url);
    let tip_client = client();
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let asked = Instant::now();
        let answer = tip_client.get(&tip_url).send().await.expect("/tip");
        let _ = answer.bytes().await;
        latencies.push(asked.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    // Readers in the middle of a long download are not waited for.
    let (mut whole, mut busy) = (0, 0);
    for task in tasks {
        if let Ok(Ok((w, b))) = tokio::time::timeout(Duration::from_millis(200), task).await {
            whole += w;
            busy += b;
        }
    }
    let _ = sampler.await;
    latencies.sort_by(f64::total_cmp);
    let rise = peak.load(Ordering::Relaxed).saturating_sub(before);
    println!(
        "  {readers:>3} readers, {seconds} s: resident +{:.1} MB (peak {:.1} MB); {whole} whole \
         reads finished, {busy} busy; /tip p50 {:.2} ms, p99 {:.2} ms ({} asked)",
        rise as f64 / 1e6,
        peak.load(Ordering::Relaxed) as f64 / 1e6,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len()
    );
}

async fn run_chain(root: &Path, blocks: u64, bytes: usize, quick: bool) {
    println!("chain of {blocks} blocks with {bytes} bytes of data each:");
    let dir = data_dir(root, blocks, bytes);
    let (node, startup) = Node::start(&dir);
    // Let the start-up settle (the first status tick, the allocator).
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "  start-up {:.2} s; resident {:.1} MB ({:.0} bytes a block)",
        startup.as_secs_f64(),
        node.resident_bytes() as f64 / 1e6,
        node.resident_bytes() as f64 / blocks as f64
    );
    let started = Instant::now();
    let (status, size) = read_all(&client(), &format!("{}/blockchain.json", node.url)).await;
    assert_eq!(status, 200);
    println!(
        "  one whole-chain download: {:.1} MB in {:.2} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let seconds = if quick { 1 } else { 8 };
    for count in if quick { vec![8] } else { vec![32, 256] } {
        readers(&node, count, seconds).await;
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let chains: Vec<(u64, usize)> = match std::env::args().skip_while(|a| a != "--chains").nth(1) {
        Some(list) => list
            .split(',')
            .map(|c| {
                let (n, b) = c.split_once('x').expect("--chains NxBYTES,...");
                (n.parse().expect("blocks"), b.parse().expect("bytes"))
            })
            .collect(),
        None if quick => vec![(2_000, 100)],
        None => vec![(100_000, 16), (1_000_000, 4_000)],
    };
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-reads");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (blocks, bytes) in chains {
            run_chain(&root, blocks, bytes, quick).await;
        }
    });
}
