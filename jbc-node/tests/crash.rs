//! The `jbc-node` binary as a child process: `kill -9` while mining loses no
//! acknowledged block, and a database of another network or a damaged one
//! stops the node with a clear message and a non-zero exit.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use jbc_core::BlockHash;
use jbc_core::peer::TipInfo;

const BIN: &str = env!("CARGO_BIN_EXE_jbc-node");

/// A running child node; killed with SIGKILL when dropped.
struct ChildNode {
    child: Child,
    url: String,
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads its URL from the "node started" log line.
fn spawn(data_dir: &Path, extra: &[&str]) -> ChildNode {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jbc-node");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("url=").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the node logs its URL within 30 s");
    ChildNode { child, url }
}

/// Runs the binary to its end (bounded); returns (exit success, stderr).
fn run_to_end(data_dir: &Path, extra: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jbc-node");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            use std::io::Read;
            let _ = child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr);
            return (status.success(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("jbc-node did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `GET /tip` until `done` holds (bounded).
async fn tip_until(url: &str, limit: Duration, done: impl Fn(&TipInfo) -> bool) -> TipInfo {
    let deadline = Instant::now() + limit;
    loop {
        let tip: TipInfo = get_json(&format!("{url}/tip")).await;
        if done(&tip) || Instant::now() > deadline {
            return tip;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_mining_loses_no_acknowledged_block() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let dir = temp_dir("kill9");
        let mut flags = FAST_FLAGS.to_vec();
        flags.extend(["--mine", "--threads", "1"]);
        let mut acknowledged: Vec<BlockHash> = Vec::new();
        let mut height_before_kill = 0;
        for round in 0..4 {
            let node = spawn(&dir, &flags);
            // The database opened; every block acknowledged before is there.
            let tip: TipInfo = get_json(&format!("{}/tip", node.url)).await;
            assert!(
                tip.height >= height_before_kill,
                "round {round}: tip {} below {height_before_kill}",
                tip.height
            );
            assert_all_stored(&node.url, &acknowledged, &format!("round {round}")).await;
            // Submit blocks of our own while the node mines.
            for i in 0..3 {
                let tip: TipInfo = get_json(&format!("{}/tip", node.url)).await;
                let block = mine(
                    &tip.next,
                    &format!("test round {round} #{i}"),
                    now_ms().max(tip.next.min_timestamp_ms),
                );
                let (status, body) = post(&format!("{}/mined", node.url), block.to_json()).await;
                assert_eq!(status, 200, "{body}");
                // `accepted`, `reorg`, `side`, `duplicate` promise the block is
                // on disk; `ignored` (the node's miner got there first) does not.
                let answer = body["status"].as_str().unwrap_or_default();
                if ["accepted", "reorg", "side", "duplicate"].contains(&answer) {
                    acknowledged.push(block.hash);
                } else {
                    assert_eq!(answer, "ignored", "{body}");
                }
            }
            // Let the node mine a few blocks of its own, then kill it mid-work.
            let start = tip.height;
            let tip = tip_until(&node.url, Duration::from_secs(30), |t| {
                t.height >= start + 10
            })
            .await;
            assert!(tip.height >= start + 10, "node does not mine");
            height_before_kill = tip.height;
            drop(node); // SIGKILL
        }
        // A last start: everything is still there.
        let node = spawn(&dir, &FAST_FLAGS);
        let tip: TipInfo = get_json(&format!("{}/tip", node.url)).await;
        assert!(tip.height >= height_before_kill);
        assert_all_stored(&node.url, &acknowledged, "after the last restart").await;
        let chain: Vec<jbc_core::Block> = get_json(&format!("{}/blockchain.json", node.url)).await;
        validate_from_genesis(&params_of(&FAST_FLAGS), &chain).expect("valid chain after crashes");
    })
    .await
    .expect("test finished in time");
}

#[test]
fn another_network_or_a_damaged_database_stops_the_node() {
    let dir = temp_dir("othernet");
    // Make a database for the vectors' network, stopped cleanly by SIGTERM.
    let node = spawn(&dir, &VECTOR_FLAGS);
    let pid = node.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut node = node;
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = node.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "SIGTERM exits 0, got {exit}");
    let db = dir.join("chain.redb");
    let size = std::fs::metadata(&db).expect("database exists").len();

    // Other params: refused, nothing rewritten.
    let (ok, stderr) = run_to_end(&dir, &["--network", "other"]);
    assert!(!ok, "started on another network's database");
    assert!(stderr.contains("another network"), "{stderr}");
    assert_eq!(std::fs::metadata(&db).expect("still there").len(), size);

    // A damaged file: refused, left as it is.
    let damaged = temp_dir("damaged");
    std::fs::write(
        damaged.join("chain.redb"),
        b"this is not a redb database at all",
    )
    .expect("write");
    let (ok, stderr) = run_to_end(&damaged, &VECTOR_FLAGS);
    assert!(!ok, "started on a damaged database");
    assert!(stderr.contains("chain.redb"), "{stderr}");
    assert_eq!(
        std::fs::read(damaged.join("chain.redb")).expect("still there"),
        b"this is not a redb database at all"
    );
}

/// Asserts that the node at `url` serves every block in `hashes`.
async fn assert_all_stored(url: &str, hashes: &[BlockHash], when: &str) {
    for hash in hashes {
        let response = client()
            .get(format!("{url}/blocks/{hash}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(
            response.status(),
            200,
            "{when}: lost acknowledged block {hash}"
        );
    }
}
