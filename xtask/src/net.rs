//! `cargo xtask net --nodes N --miners M [--secs S] [--check] [--difficulty D]
//! [--port P]`: a JBC network of any size on this machine.
//!
//! Each node listens on its own loopback address (127.0.0.2, 127.0.0.3, …,
//! all on port P) where the platform allows binding them, else on
//! 127.0.0.1 with ports P, P+1, …. Node 0 is the seed; every other node is
//! told only the seed's address and finds the rest itself (PROTOCOL.md §7.1). The
//! first M nodes mine with one thread each. Data lives under
//! `<target>/net/`, fresh every run.
//!
//! Without `--check` it prints the table of URLs and runs until Ctrl-C.
//! With `--check` it runs S seconds (default 30), then exits non-zero unless
//! all N nodes agree on one tip, the best chain holds blocks of more than
//! one miner, and every node knows at least 3 peers it was not given on its
//! command line (learned from others' `GET /peers`, or announced to it; in a
//! network of fewer than 5 nodes, all the N − 2 it can find). Nodes ask for
//! peer lists about once a minute, so the check waits up to 75 s more for a
//! node that has not found its peers yet.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::nodes::{Nodes, get_json};
use crate::{TaskResult, cargo, run_cmd};

const USAGE: &str =
    "usage: cargo xtask net --nodes N --miners M [--secs S] [--check] [--difficulty D] [--port P]";

/// Peers a node must have found by itself for `--check`.
const FOUND_PEERS: usize = 3;

struct Options {
    nodes: usize,
    miners: usize,
    secs: u64,
    check: bool,
    difficulty: u32,
    port: u16,
}

fn number<T: std::str::FromStr>(value: Option<&String>, flag: &str) -> Result<T, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        nodes: 5,
        miners: 2,
        secs: 30,
        check: false,
        difficulty: 18,
        port: 5000,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--nodes" => options.nodes = number(args.next(), "--nodes")?,
            "--miners" => options.miners = number(args.next(), "--miners")?,
            "--secs" => options.secs = number(args.next(), "--secs")?,
            "--difficulty" => options.difficulty = number(args.next(), "--difficulty")?,
            "--port" => options.port = number(args.next(), "--port")?,
            "--check" => options.check = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown net option {other:?}\n{USAGE}")),
        }
    }
    if !(1..=250).contains(&options.nodes) {
        return Err("--nodes must be between 1 and 250".into());
    }
    if options.miners > options.nodes {
        return Err("--miners cannot exceed --nodes".into());
    }
    if !(1..=40).contains(&options.difficulty) {
        return Err("--difficulty must be between 1 and 40".into());
    }
    Ok(options)
}

/// Where node `i` listens: its own loopback address when this platform lets
/// a process bind 127.0.0.2 (Linux does), else 127.0.0.1 with its own port.
fn addresses(count: usize, port: u16) -> Result<Vec<(String, u16)>, String> {
    let own_addresses = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).is_ok();
    (0..count)
        .map(|i| {
            if own_addresses {
                Ok((format!("127.0.0.{}", i + 2), port))
            } else {
                let port = port
                    .checked_add(i as u16)
                    .ok_or("--port too high for this many nodes")?;
                Ok(("127.0.0.1".to_string(), port))
            }
        })
        .collect()
}

/// Starts the network; with `--check`, judges it.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse(args)?;
    run_cmd(cargo().args(["build", "--release", "-p", "jbc-node"]))?;
    let target = crate::target_dir();
    let binary = target.join("release/jbc-node");
    let data_root = target.join("net");
    let _ = std::fs::remove_dir_all(&data_root);
    std::fs::create_dir_all(&data_root).map_err(|e| format!("cannot create {data_root:?}: {e}"))?;
    let addrs = addresses(options.nodes, options.port)?;
    let urls: Vec<String> = addrs
        .iter()
        .map(|(h, p)| format!("http://{h}:{p}"))
        .collect();
    let difficulty = options.difficulty.to_string();
    let min_difficulty = options.difficulty.saturating_sub(4).max(1).to_string();
    let params = [
        "--network",
        "net",
        "--difficulty",
        &difficulty,
        "--block-time-ms",
        "1000",
        "--retarget-window",
        "10",
        "--min-difficulty",
        &min_difficulty,
    ];

    let stop = crate::nodes::interrupted()?;
    let mut nodes = Nodes {
        children: Vec::new(),
    };
    for (i, (host, port)) in addrs.iter().enumerate() {
        let mut cmd = Command::new(&binary);
        cmd.args(["--host", host, "--port", &port.to_string()])
            .args(["--miner", &format!("node{i}")])
            .arg("--data-dir")
            .arg(data_root.join(format!("node-{i}")))
            .args(params);
        if i < options.miners {
            cmd.args(["--mine", "--threads", "1"]);
        }
        if i > 0 {
            cmd.args(["--peer", &urls[0]]);
        }
        let log_path = data_root.join(format!("node-{i}.log"));
        nodes.spawn(i as u16, cmd, log_path, !options.check)?;
    }

    println!();
    println!(
        "JBC network of {} nodes ({} mining), data and logs in {}",
        options.nodes,
        options.miners,
        data_root.display()
    );
    println!("  {:<7} {:<8} {:<24} told about", "node", "role", "url");
    for (i, url) in urls.iter().enumerate() {
        let role = if i < options.miners {
            "mining"
        } else {
            "relaying"
        };
        let told = if i == 0 {
            "nobody (the seed)"
        } else {
            "the seed"
        };
        println!("  node{i:<3} {role:<8} {url:<24} {told}");
    }
    println!();

    let deadline = options
        .check
        .then(|| Instant::now() + Duration::from_secs(options.secs));
    if !options.check {
        println!("Press Ctrl-C to stop all nodes.");
    }
    loop {
        if stop.load(Ordering::SeqCst) {
            let clean = nodes.stop();
            return if options.check {
                Err("interrupted".into())
            } else if clean {
                println!("all nodes stopped");
                Ok(())
            } else {
                Err("a node did not stop cleanly".into())
            };
        }
        if let Some((label, status)) = nodes.exited() {
            return Err(format!(
                "node{label} stopped on its own ({status}); log: {}",
                data_root.join(format!("node-{label}.log")).display()
            ));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    nodes.finish("net", check(&addrs), &data_root)
}

/// How long `--check` waits for every node to have found its peers: a node
/// asks each peer for its list about once a minute (PROTOCOL.md §7.1), so a node
/// whose first answer came before the others had announced themselves finds
/// them in its next round, up to a minute later.
const DISCOVERY_WAIT: Duration = Duration::from_secs(75);

/// The fewest peers any node found itself (not given on its command line),
/// or the first node that has found too few.
fn fewest_found(addrs: &[(String, u16)]) -> Result<usize, String> {
    let mut fewest = usize::MAX;
    for (i, (host, port)) in addrs.iter().enumerate() {
        let peers = get_json(host, *port, "/peers")?;
        let found = peers["peers"]
            .as_array()
            .ok_or("no peer list in /peers")?
            .iter()
            .filter(|p| p["source"] != "config")
            .count();
        // A node not the seed can find at most the N − 2 that are neither it
        // nor its --peer.
        if found < FOUND_PEERS.min(addrs.len().saturating_sub(2)) {
            return Err(format!("node{i} found only {found} peers itself"));
        }
        fewest = fewest.min(found);
    }
    Ok(fewest)
}

/// Every node found ≥ [`FOUND_PEERS`] peers itself (waiting up to
/// [`DISCOVERY_WAIT`] for the last of them); all agree on one tip (sampled
/// for up to 20 s, since the miners keep going) whose chain holds blocks of
/// more than one miner.
fn check(addrs: &[(String, u16)]) -> Result<String, String> {
    let deadline = Instant::now() + DISCOVERY_WAIT;
    let mut waiting = false;
    let fewest = loop {
        match fewest_found(addrs) {
            Ok(fewest) => break fewest,
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{e} after waiting {DISCOVERY_WAIT:?} more"));
            }
            Err(e) => {
                if !waiting {
                    println!("{e} yet; waiting for its next discovery round…");
                    waiting = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let tips: Result<Vec<(u64, String)>, String> = addrs
            .iter()
            .map(|(host, port)| {
                let tip = get_json(host, *port, "/tip")?;
                let height = tip["height"].as_u64().ok_or("no height in /tip")?;
                let hash = tip["hash"].as_str().ok_or("no hash in /tip")?.to_string();
                Ok((height, hash))
            })
            .collect();
        let last = match tips {
            Ok(tips) if tips.iter().all(|t| t == &tips[0]) => {
                let (height, hash) = &tips[0];
                let (host, port) = &addrs[addrs.len() - 1];
                let chain = get_json(host, *port, "/blockchain.json")?;
                let miners: BTreeSet<&str> = chain
                    .as_array()
                    .ok_or("/blockchain.json is not a list")?
                    .iter()
                    .skip(1)
                    .filter_map(|b| b["data"].as_str())
                    .collect();
                if miners.len() < 2 {
                    return Err(format!("the {height} blocks come from {miners:?}"));
                }
                return Ok(format!(
                    "{} nodes on tip {height} {}…, blocks from {} miners, every node found ≥ {fewest} peers itself",
                    addrs.len(),
                    &hash[..8.min(hash.len())],
                    miners.len()
                ));
            }
            Ok(tips) => {
                let distinct: BTreeSet<_> = tips.iter().collect();
                format!(
                    "{} different tips among {} nodes",
                    distinct.len(),
                    tips.len()
                )
            }
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
