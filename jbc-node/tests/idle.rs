//! A node at rest does (almost) nothing: its background tasks wake only
//! when there is work — the state machine's timeout, a hash-rate sample, a
//! template refresh — never because of their own work. Counted with
//! `jbc_task_wakeups_total` (a spinning loop shows as thousands a second);
//! no test asserts a time.

mod common;

use std::time::{Duration, Instant};

use common::temp_dir;
use jbc_node::RunningNode;

/// How long each test watches a node at rest.
const WATCH: Duration = Duration::from_secs(4);

/// `jbc_task_wakeups_total{task="<task>"}` of the node at `url` (0 when the
/// series has not been created yet).
async fn wakeups(url: &str, task: &str) -> u64 {
    let key = format!("jbc_task_wakeups_total{{task=\"{task}\"}}");
    common::metric(url, &key).await as u64
}

/// The wake-ups of `task` on each node over [`WATCH`], and the seconds
/// actually watched.
async fn watch(nodes: &[&RunningNode], task: &str) -> (Vec<u64>, f64) {
    let mut before = Vec::new();
    for node in nodes {
        before.push(wakeups(&node.url(), task).await);
    }
    let started = Instant::now();
    tokio::time::sleep(WATCH).await;
    let mut counts = Vec::new();
    for (node, before) in nodes.iter().zip(before) {
        counts.push(wakeups(&node.url(), task).await - before);
    }
    (counts, started.elapsed().as_secs_f64())
}

/// `GET /peers`: the list.
async fn peer_list(node: &RunningNode) -> Vec<serde_json::Value> {
    let body: serde_json::Value = common::get_json(&format!("{}/peers", node.url())).await;
    body["peers"].as_array().expect("a list of peers").clone()
}

/// The most timer wake-ups at rest over `secs` with `peers` peers: one per
/// peer and second (streams reopened after a back-off, polls, peer lists),
/// and two more for the edges of the window. A timer woken by its own call
/// counts tens of thousands.
fn timer_bound(secs: f64, peers: u64) -> u64 {
    (secs.ceil() as u64 + 2) * peers.max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_without_peers_sleeps() {
    let dir = temp_dir("idle-alone");
    let node = common::start(&dir, &common::FAST_FLAGS).await;
    // The first pass at start-up is over once the timer has run once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        wakeups(&node.url(), "timer").await >= 1,
        "the timer ran at start"
    );
    let (counts, secs) = watch(&[&node], "timer").await;
    // With no peer nothing is ever due: the timer sleeps until an event.
    assert!(
        counts[0] <= 1,
        "{} timer wake-ups in {secs:.1} s at rest with no peers",
        counts[0]
    );
    // Not mining: the status task wakes only for its event (every 5 s).
    let (status, secs) = watch(&[&node], "status").await;
    assert!(
        status[0] <= 2,
        "{} status wake-ups in {secs:.1} s",
        status[0]
    );
    assert_eq!(wakeups(&node.url(), "mining").await, 0, "no mining task");
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_node_whose_peers_are_all_down_does_not_spin() {
    let dir = temp_dir("idle-down");
    // Three addresses on loopback where nothing listens (bound, then freed).
    let mut peers = Vec::new();
    for _ in 0..3 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        peers.push(format!("http://{}", listener.local_addr().expect("addr")));
    }
    let mut args: Vec<&str> = common::FAST_FLAGS.to_vec();
    for peer in &peers {
        args.extend(["--peer", peer.as_str()]);
    }
    let node = common::start(&dir, &args).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (counts, secs) = watch(&[&node], "timer").await;
    let bound = timer_bound(secs, peers.len() as u64);
    assert!(
        counts[0] <= bound,
        "{} timer wake-ups in {secs:.1} s with peers down (at most {bound})",
        counts[0]
    );
    let down = peer_list(&node).await;
    assert_eq!(down.len(), peers.len(), "the peers are kept: {down:?}");
    assert!(down.iter().all(|p| p["up"] == false), "all down: {down:?}");
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_nodes_whose_peers_are_up_and_quiet_do_not_spin() {
    let (a_dir, b_dir, c_dir) = (
        temp_dir("idle-up-a"),
        temp_dir("idle-up-b"),
        temp_dir("idle-up-c"),
    );
    let a = common::start(&a_dir, &common::FAST_FLAGS).await;
    let mut args: Vec<&str> = common::FAST_FLAGS.to_vec();
    let a_url = a.url();
    args.extend(["--peer", a_url.as_str()]);
    let b = common::start(&b_dir, &args).await;
    let c = common::start(&c_dir, &args).await;
    // Each has its peers up once it has heard from them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all_up = true;
        for node in [&a, &b, &c] {
            let peers = peer_list(node).await;
            all_up &= !peers.is_empty() && peers.iter().all(|p| p["up"] == true);
        }
        if all_up {
            break;
        }
        assert!(Instant::now() < deadline, "peers never all came up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (counts, secs) = watch(&[&a, &b, &c], "timer").await;
    for (name, count) in ["a", "b", "c"].iter().zip(&counts) {
        assert!(
            *count <= timer_bound(secs, 2),
            "node {name}: {count} timer wake-ups in {secs:.1} s with quiet peers (at most {})",
            timer_bound(secs, 2)
        );
    }
    for node in [a, b, c] {
        node.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mining_node_wakes_only_its_miners_while_nothing_happens() {
    let dir = temp_dir("idle-mining");
    // Difficulty 60: no block is found while the test watches.
    let flags = [
        "--network",
        "idlemine",
        "--difficulty",
        "60",
        "--min-difficulty",
        "60",
        "--mine",
        "--threads",
        "2",
    ];
    let node = common::start(&dir, &flags).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let miner = node.node.miner().expect("mining");
    let hashes_before = miner.hashes();
    let (timer, secs) = watch(&[&node], "timer").await;
    assert!(
        timer[0] <= 1,
        "{} timer wake-ups in {secs:.1} s while mining with no peers",
        timer[0]
    );
    // The mining task wakes for a new template every 2 s; the status task
    // samples the rate every second.
    let (mining, secs) = watch(&[&node], "mining").await;
    let refresh = jbc_node::run::REFRESH_WORK_EVERY.as_secs_f64();
    assert!(
        mining[0] <= (secs / refresh).ceil() as u64 + 1,
        "{} mining-task wake-ups in {secs:.1} s",
        mining[0]
    );
    let (status, secs) = watch(&[&node], "status").await;
    let sample = jbc_node::run::SAMPLE_EVERY.as_secs_f64();
    assert!(
        status[0] <= (secs / sample).ceil() as u64 + 1,
        "{} status wake-ups in {secs:.1} s",
        status[0]
    );
    // Meanwhile the threads mined.
    assert!(miner.hashes() > hashes_before, "the mining threads worked");
    assert_eq!(node.node.chain().height(), 0, "nothing was found");
    node.shutdown().await.expect("clean shutdown");
}
