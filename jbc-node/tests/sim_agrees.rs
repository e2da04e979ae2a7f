//! The simulator and the real node agree: 20 `jbc-node` processes on
//! loopback and a 20-node jbc-sim run, on the same links and params, fed
//! the same block schedule, end with the same tip at every node, the same
//! blocks stored at every node, and the same answer to every submission.
//!
//! The schedule goes through the node's decisions, not only straight
//! extension: blocks extending the tip handed to different nodes, an
//! equal-work competitor (stored as `side` by the one node it is handed to,
//! and relayed by nobody), a child handed out before its parent (an orphan
//! at one node, its parent later at another), a lighter block (`ignored`),
//! a heavier branch built up at one node (`ignored`, `side`, then `reorg`)
//! that every node reorganises to, two blocks deep, and a lighter block
//! that nobody stores.
//!
//! One node cannot be dialled, as behind NAT: it announces a public URL
//! where nothing listens, and the nodes that link to it are given that URL,
//! so it only dials out — it relays its blocks to the peers it links to
//! and hears of the others' through their `/events` streams it follows.
//! The matching simulated node is unreachable (every dial to it fails).

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use jbc_core::peer::TipInfo;
use jbc_core::{Block, BlockHash, Candidate, Chain, Header, Params};
use jbc_sim::network::Topology;
use jbc_sim::rng::Rng;
use jbc_sim::script::{Outcome, Script, Submission};
use jbc_sim::world::mine_difficulty_1;

const BIN: &str = env!("CARGO_BIN_EXE_jbc-node");
const NODES: usize = 20;
/// Outbound links per node: few, so a block takes several relay hops.
const OUTBOUND: usize = 2;
const TOPOLOGY_SEED: u64 = 20;
/// The node nobody can dial (it is handed `a2`, so its blocks must reach
/// the others by its own relays, and every later block reaches it only
/// through the streams it follows: nobody can relay to it).
const UNREACHABLE: usize = 7;
/// What the unreachable node announces, and what the nodes linking to it
/// are given: nothing listens there.
const DEAD_URL: &str = "http://127.0.0.1:1";
/// The least time between two submissions.
const SPACING: Duration = Duration::from_millis(1_200);
/// The most time given to one submission to spread before the next.
const SPREAD_LIMIT: Duration = Duration::from_secs(10);
/// The most time given to the nodes to learn their inbound links. An
/// announcement that failed (the peer was not listening yet) is sent again
/// when the peer next answers, at once if its stream is open; this allows
/// for one safety-net poll (60 s, `NodeConfig::poll_every_ms`) on top, in
/// case a slow machine delays everything else.
const LINKS_LIMIT: Duration = Duration::from_secs(70);
/// Quiet time after the last submission: relays and streams carry a block
/// across a loopback link in milliseconds (a block they missed would wait
/// for the 60 s poll, and the comparison would show where).
const SETTLE: Duration = Duration::from_secs(4);

const FLAGS: [&str; 10] = [
    "--network",
    "check",
    "--difficulty",
    "1",
    "--block-time-ms",
    "1000",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "1",
];

/// The 20 child processes; every one is killed (SIGKILL) when this is
/// dropped, also when the test panics or times out.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// Node i's address: 127.0.0.(i + 2) when this platform lets a process
/// bind 127.0.0.2 (Linux does), else 127.0.0.1; each with a port that was
/// free a moment ago.
fn addresses() -> Vec<(Ipv4Addr, u16)> {
    let own = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).is_ok();
    // Held until every port is picked, so no two nodes get the same one.
    let listeners: Vec<TcpListener> = (0..NODES)
        .map(|i| {
            let ip = if own {
                Ipv4Addr::new(127, 0, 0, i as u8 + 2)
            } else {
                Ipv4Addr::LOCALHOST
            };
            TcpListener::bind((ip, 0)).expect("a free loopback port")
        })
        .collect();
    listeners
        .iter()
        .map(|l| match l.local_addr().expect("local address") {
            std::net::SocketAddr::V4(a) => (*a.ip(), a.port()),
            other => panic!("not IPv4: {other}"),
        })
        .collect()
}

/// Mines a child of `parent` into `chain` (stored whatever its work, so a
/// side branch can be built on) with the current wall-clock time.
fn child(chain: &mut Chain, parent: BlockHash, data: &str) -> Block {
    let next = chain.next_rules_after(&parent).expect("parent built");
    let candidate = Candidate {
        header: Header {
            index: next.index,
            timestamp_ms: now_ms().max(next.min_timestamp_ms),
            difficulty: next.difficulty,
            prev_hash: next.prev_hash,
            data_hash: BlockHash::sha256(data.as_bytes()),
            nonce: 0,
        },
        data: data.into(),
    };
    // Difficulty 1 (the window of 10 is never reached: no retarget).
    let block = mine_difficulty_1(&candidate);
    chain
        .accept_requested(block.clone(), now_ms())
        .expect("a valid block");
    block
}

/// The schedule: (name, node, block), handed out in this order.
///
/// Why peer discovery (nodes ask their peers for more peers while fewer
/// than 8 are up, and add what they learn; real and simulated nodes do so
/// at their own pace, so they need not end with the same links) cannot
/// change the outcome: the test waits until
/// each submission has spread (every node on one tip) before the next, so
/// no two blocks are ever in flight at once and no race is decided by path
/// lengths. Then what a node ends with depends only on the order of the
/// submissions, not on the links: a block that moves a node's best chain
/// is relayed to all its peers, so it reaches every node of a connected
/// network whatever extra links there are; a tie (`side`) and a lighter
/// block (`ignored`) are relayed by nobody, and sync fetches only a branch
/// with more work than the node's own, so no link, old or learned, carries
/// `s2` or `x3` anywhere (nor `h4`/`h5` before `h6` makes their branch the
/// heaviest); the orphan `a5` waits at its node whoever it asks, since
/// nobody has `a4` before `a4` is handed out. Extra links only add paths.
fn schedule(params: &Params) -> Vec<(&'static str, u32, Block)> {
    let mut chain = Chain::new(params.clone());
    let genesis = chain.genesis().hash;
    let a1 = child(&mut chain, genesis, "a1");
    let a2 = child(&mut chain, a1.hash, "a2");
    let s2 = child(&mut chain, a1.hash, "s2");
    let a3 = child(&mut chain, a2.hash, "a3");
    let a4 = child(&mut chain, a3.hash, "a4");
    let a5 = child(&mut chain, a4.hash, "a5");
    let h4 = child(&mut chain, a3.hash, "h4");
    let h5 = child(&mut chain, h4.hash, "h5");
    let h6 = child(&mut chain, h5.hash, "h6");
    let x3 = child(&mut chain, a2.hash, "x3");
    let a7 = child(&mut chain, h6.hash, "a7");
    vec![
        ("a1", 0, a1),  // accepted: the first block, everyone takes it
        ("a2", 7, a2),  // accepted elsewhere
        ("s2", 13, s2), // side: a tie at node 13, relayed by nobody
        ("a3", 19, a3), // accepted
        ("a5", 4, a5),  // orphan: its parent a4 is nowhere yet
        ("a4", 10, a4), // accepted; node 4 connects a5 and everyone follows
        ("h4", 16, h4), // ignored: lighter than a5 (waits in node 16's pool)
        ("h5", 16, h5), // side: h4 + h5 tie a4 + a5 at node 16
        ("h6", 16, h6), // reorg: everyone leaves a4, a5 for h4, h5, h6
        ("x3", 2, x3),  // ignored: far lighter, stored by nobody
        ("a7", 8, a7),  // accepted on the new branch
    ]
}

/// GET `url`: (status, JSON or null), or (0, null) when it fails.
async fn get(client: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    match client.get(url).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or_default())
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

async fn tip(client: &reqwest::Client, url: &str) -> Option<TipInfo> {
    let (status, body) = get(client, &format!("{url}/tip")).await;
    (status == 200).then(|| serde_json::from_value(body).ok())?
}

async fn tips(client: &reqwest::Client, urls: &[String]) -> Vec<Option<BlockHash>> {
    let mut tips = Vec::new();
    for url in urls {
        tips.push(tip(client, url).await.map(|t| t.hash));
    }
    tips
}

/// Waits (at most `limit`) until every node answers `/tip` with one hash.
async fn wait_for_one_tip(client: &reqwest::Client, urls: &[String], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let tips = tips(client, urls).await;
        if tips[0].is_some() && tips.iter().all(|t| *t == tips[0]) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The address the others know node `n` by: the unreachable node's is
/// the dead URL it announces.
fn known_url(urls: &[String], n: usize) -> &str {
    if n == UNREACHABLE { DEAD_URL } else { &urls[n] }
}

/// Waits (at most `limit`) until each node lists every neighbour of the
/// topology among its peers (its `--peer`s, and those that announced
/// themselves to it), so each link carries relays both ways as in the sim.
/// The unreachable node never hears of the nodes that link to it (their
/// announcements cannot reach it): it lists its own links only. `Err`
/// says which node missed which address.
async fn wait_for_links(
    client: &reqwest::Client,
    urls: &[String],
    topology: &Topology,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let mut missing = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let (_, body) = get(client, &format!("{url}/peers")).await;
            let known: Vec<&str> = body["peers"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["url"].as_str()).collect())
                .unwrap_or_default();
            let expected = if i == UNREACHABLE {
                &topology.outbound[i]
            } else {
                &topology.neighbours[i]
            };
            for n in expected {
                let url = known_url(urls, *n as usize);
                if !known.contains(&url) {
                    missing.push(format!("node {i} lacks node {n} ({url}); knows {known:?}"));
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(missing.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start_nodes(root: &Path, addrs: &[(Ipv4Addr, u16)], topology: &Topology) -> Children {
    let urls: Vec<String> = addrs
        .iter()
        .map(|(ip, port)| format!("http://{ip}:{port}"))
        .collect();
    let mut children = Children(Vec::new());
    for (i, (ip, port)) in addrs.iter().enumerate() {
        let dir = root.join(format!("node{i}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        let log = File::create(dir.join("node.log")).expect("log file");
        let mut command = Command::new(BIN);
        command
            .args(["--host", &ip.to_string(), "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(dir.join("db"))
            .args(FLAGS)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for out in &topology.outbound[i] {
            command.args(["--peer", known_url(&urls, *out as usize)]);
        }
        if i == UNREACHABLE {
            command.args(["--public-url", DEAD_URL]);
        }
        children.0.push(command.spawn().expect("spawn jbc-node"));
    }
    children
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_real_nodes_and_the_simulation_agree_on_a_schedule() {
    tokio::time::timeout(Duration::from_secs(170), async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let params = params_of(&FLAGS);
        let topology = Topology::random(NODES, OUTBOUND, &mut Rng::new(TOPOLOGY_SEED));
        let addrs = addresses();
        let urls: Vec<String> = addrs
            .iter()
            .map(|(ip, port)| format!("http://{ip}:{port}"))
            .collect();
        let root = temp_dir("sim-agrees");
        let mut children = start_nodes(&root, &addrs, &topology);

        // Every node answers /status (or the test says which did not).
        let deadline = Instant::now() + Duration::from_secs(30);
        for (i, url) in urls.iter().enumerate() {
            loop {
                if get(&client, &format!("{url}/status")).await.0 == 200 {
                    break;
                }
                if let Ok(Some(status)) = children.0[i].try_wait() {
                    panic!(
                        "node {i} ({url}) exited with {status}; see {}",
                        root.display()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "node {i} ({url}) does not answer /status; see {}",
                    root.display()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // A node tells each `--peer` its address when it adds it, and again
        // when a peer that missed it (not listening yet) first answers: every
        // link ends up known at both ends, as in the simulation.
        if let Err(missing) = wait_for_links(&client, &urls, &topology, LINKS_LIMIT).await {
            panic!("the nodes did not all learn their inbound links:\n{missing}");
        }

        let schedule = schedule(&params);
        // Hand out the schedule; `start` is the simulation's time 0.
        let start = Instant::now();
        let epoch_ms = now_ms();
        let mut offsets_ms = Vec::new();
        let mut real_answers = Vec::new();
        let mut last = None::<Instant>;
        for (name, node, block) in &schedule {
            if let Some(last) = last {
                let wait = SPACING.saturating_sub(last.elapsed());
                tokio::time::sleep(wait).await;
                // Let the previous one spread everywhere first (bounded:
                // if it does not, the comparison below shows where).
                wait_for_one_tip(&client, &urls, SPREAD_LIMIT).await;
            }
            let at = Instant::now();
            last = Some(at);
            offsets_ms.push(at.duration_since(start).as_millis() as u64);
            let url = format!("{}/mined", urls[*node as usize]);
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(block.to_json())
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {url} ({name}): {e}"));
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let status = body["status"].as_str().unwrap_or("?").to_string();
            real_answers.push(status);
        }
        wait_for_one_tip(&client, &urls, SPREAD_LIMIT).await;
        tokio::time::sleep(SETTLE).await;

        // What the real nodes have.
        let real_tips = tips(&client, &urls).await;
        let mut real_stores = vec![Vec::new(); NODES];
        for (i, url) in urls.iter().enumerate() {
            for (_, _, block) in &schedule {
                let (status, _) = get(&client, &format!("{url}/blocks/{}", block.hash)).await;
                real_stores[i].push(match status {
                    200 => Some(true),
                    404 => Some(false),
                    _ => None,
                });
            }
        }
        // Blocks the unreachable node took from the streams it follows.
        let streamed_to_unreachable = {
            let url = format!("{}/metrics", urls[UNREACHABLE]);
            let text = client.get(&url).send().await.ok();
            let text = match text {
                Some(response) => response.text().await.unwrap_or_default(),
                None => String::new(),
            };
            text.lines()
                .find_map(|l| l.strip_prefix("jbc_stream_blocks_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // How many peers each knows by now (discovery adds to the topology).
        let mut peers_known = Vec::new();
        for url in &urls {
            let (_, body) = get(&client, &format!("{url}/peers")).await;
            peers_known.push(body["peers"].as_array().map_or(0, Vec::len));
        }
        let real_elapsed = start.elapsed();
        drop(children);

        // The same schedule in the simulation: same links, params and
        // clock, no latency, no time on the wire.
        let submissions = schedule
            .iter()
            .zip(&offsets_ms)
            .map(|((_, node, block), at_ms)| Submission {
                at_ms: *at_ms,
                node: *node,
                block: block.clone(),
            })
            .collect();
        let mut script = Script::new(topology.clone(), params.clone(), epoch_ms, submissions);
        script.latency_scale = 0.0;
        script.infinite_bandwidth = true;
        // The simulated nodes find peers as the real ones do.
        script.discovery = true;
        script.unreachable = vec![UNREACHABLE as u32];
        script.settle_ms = (real_elapsed.as_millis() as u64)
            .saturating_sub(*offsets_ms.last().unwrap_or(&0))
            .max(1);
        let sim: Outcome = script.run().expect("a valid script");
        let sim_answers: Vec<String> = (0..schedule.len())
            .map(|i| match sim.answer(i) {
                Some(Ok(status)) => status.as_str().to_string(),
                Some(Err(e)) => format!("rejected ({e})"),
                None => "none".into(),
            })
            .collect();

        // The table: per node, real/sim tip and which blocks each stores.
        let names: Vec<&str> = schedule.iter().map(|(n, _, _)| *n).collect();
        let mut table = format!(
            "schedule (name@node +ms): {}\n",
            schedule
                .iter()
                .zip(&offsets_ms)
                .map(|((n, node, _), at)| format!("{n}@{node} +{at}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        table += &format!("answers real: {real_answers:?}\nanswers sim:  {sim_answers:?}\n");
        table += &format!(
            "node  links  peers  real tip  sim tip   stores ({})  real / sim\n",
            names.join(" ")
        );
        let mut differ = real_answers != sim_answers;
        for node in 0..NODES {
            let real_tip = real_tips[node].map_or("?".into(), |h| h.short().to_string());
            let sim_tip = sim.tip(node).short().to_string();
            let mark = |stored: Option<bool>| match stored {
                Some(true) => 'x',
                Some(false) => '.',
                None => '?',
            };
            let real_row: String = real_stores[node].iter().map(|s| mark(*s)).collect();
            let sim_row: String = schedule
                .iter()
                .map(|(_, _, b)| mark(Some(sim.stores(node, &b.hash))))
                .collect();
            let bad = real_tip != sim_tip || real_row != sim_row;
            differ |= bad;
            table += &format!(
                "{node:>4}  {:>5}  {:>5}  {real_tip:<8}  {sim_tip:<8}  {real_row} / {sim_row}{}\n",
                topology.neighbours[node].len(),
                peers_known[node],
                if bad { "  <- differs" } else { "" }
            );
        }
        assert!(
            !differ,
            "the real nodes and the simulation disagree:\n{table}"
        );

        // The scenario is not trivial: the answers went through every
        // decision, some block is stored by one node only, every node
        // reorganised (all store a5, the tip they left), and all end on a7.
        let counts: BTreeMap<&str, usize> =
            real_answers.iter().fold(BTreeMap::new(), |mut m, a| {
                *m.entry(a.as_str()).or_default() += 1;
                m
            });
        for decision in ["accepted", "side", "orphan", "ignored", "reorg"] {
            assert!(counts.contains_key(decision), "no {decision}:\n{table}");
        }
        let index = |name: &str| names.iter().position(|n| *n == name).expect("scheduled");
        let holders = |i: usize| real_stores.iter().filter(|s| s[i] == Some(true)).count();
        assert_eq!(holders(index("s2")), 1, "{table}");
        assert_eq!(holders(index("x3")), 0, "{table}");
        assert_eq!(holders(index("a5")), NODES, "{table}");
        let a7 = schedule[index("a7")].2.hash;
        assert!(real_tips.iter().all(|t| *t == Some(a7)), "{table}");
        // The unreachable node's block spread (everyone stores a2), and
        // the blocks it did not mine reached it on the streams it follows.
        assert_eq!(holders(index("a2")), NODES, "{table}");
        assert!(
            streamed_to_unreachable > 0.0,
            "the unreachable node took no block from a stream:\n{table}"
        );
        eprintln!("{table}real run {:.1} s", real_elapsed.as_secs_f64());
    })
    .await
    .expect("the cross-check ends within 170 s");
}
