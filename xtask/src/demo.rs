//! `cargo xtask demo [--check] [--secs N] [--base-port P]`: a local JBC
//! network of three nodes plus the browser miner page.
//!
//! - Builds the page (`cargo xtask web`; a failure is only a warning) and
//!   `jbc-node` in release.
//! - Starts three nodes on ports P, P+1, P+2 (default 5000–5002), all peered
//!   with each other: `alice` and `bob` mine, `carol` only relays and serves
//!   the page. Data lives under `target/demo/<network>/`.
//! - Interactive (default): prints the URLs (and where on the page to watch
//!   the race: its network view of the block tree), prefixes each node's log lines
//!   with its port, and stops every node on Ctrl-C.
//! - `--check --secs N`: runs N seconds (default 30) at a lower difficulty
//!   with fresh data, then exits non-zero unless all three nodes agree on one
//!   tip and the best chain holds blocks of more than one miner.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::nodes::{Nodes, get_json};
use crate::{TaskResult, cargo, root, run_cmd};

/// Interactive network: a browser can still find blocks at this difficulty,
/// and retargeting raises it towards 2 s blocks.
const DEMO_PARAMS: [&str; 10] = [
    "--network",
    "demo",
    "--difficulty",
    "18",
    "--block-time-ms",
    "2000",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "14",
];

/// `--check`: fast blocks, so 30 s on 2 cores gives dozens of blocks.
const CHECK_PARAMS: [&str; 10] = [
    "--network",
    "democheck",
    "--difficulty",
    "14",
    "--block-time-ms",
    "500",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "12",
];

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

struct Options {
    check: bool,
    secs: u64,
    base_port: u16,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        check: false,
        secs: 30,
        base_port: 5000,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => options.check = true,
            "--secs" => {
                options.secs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--secs needs a number of seconds")?
            }
            "--base-port" => {
                options.base_port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|p: &u16| *p <= u16::MAX - 2)
                    .ok_or("--base-port needs a port number")?
            }
            "-h" | "--help" => {
                return Err("usage: cargo xtask demo [--check] [--secs N] [--base-port P]".into());
            }
            other => return Err(format!("unknown demo option {other:?}")),
        }
    }
    Ok(options)
}

/// Starts a local network and the browser page.
pub fn run(args: &[String]) -> TaskResult {
    let options = parse(args)?;
    let root = root();

    if let Err(e) = crate::web::run(&[]) {
        eprintln!("demo: warning: the browser page was not built ({e}); the nodes run anyway");
    }
    run_cmd(cargo().args(["build", "--release", "-p", "jbc-node"]))?;
    let binary = crate::target_dir().join("release/jbc-node");

    let params: &[&str] = if options.check {
        &CHECK_PARAMS
    } else {
        &DEMO_PARAMS
    };
    let data_root = root.join("target/demo").join(params[1]);
    if options.check {
        // The check always starts from genesis (this is the demo's own dir).
        let _ = std::fs::remove_dir_all(&data_root);
    }
    std::fs::create_dir_all(&data_root).map_err(|e| format!("cannot create {data_root:?}: {e}"))?;

    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads = (cores / 2).max(1).to_string();
    let ports: Vec<u16> = (0..3).map(|i| options.base_port + i).collect();
    let stop = crate::nodes::interrupted()?;

    let mut nodes = Nodes {
        children: Vec::new(),
    };
    for (i, &port) in ports.iter().enumerate() {
        let mut cmd = Command::new(&binary);
        cmd.current_dir(&root)
            .args(["--port", &port.to_string(), "--miner", NAMES[i]])
            .arg("--data-dir")
            .arg(data_root.join(format!("node-{port}")))
            .arg("--www")
            .arg(root.join("www"))
            .args(params);
        if i < 2 {
            cmd.args(["--mine", "--threads", &threads]);
        }
        for &other in ports.iter().filter(|&&p| p != port) {
            cmd.args(["--peer", &format!("http://127.0.0.1:{other}")]);
        }
        let log_path = data_root.join(format!("node-{port}.log"));
        nodes.spawn(port, cmd, log_path, !options.check)?;
    }

    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    println!();
    println!(
        "JBC demo network ({}), data in {}",
        params[1],
        data_root.display()
    );
    for (i, url) in urls.iter().enumerate() {
        let role = if i < 2 { "mining" } else { "relaying" };
        println!(
            "  {:<6} {role:<9} {url}   ({url}/status, {url}/events)",
            NAMES[i]
        );
    }
    println!(
        "  browser miner page: {}/  (mines for the node that serves it)",
        urls[2]
    );
    println!(
        "  watch the race:     {}/#tree-card  (the block tree: forks, reorganisations, who \
         mined each block, where each node's tip is)",
        urls[2]
    );
    println!();

    if !options.check {
        println!("Press Ctrl-C to stop all nodes.");
        while !stop.load(Ordering::SeqCst) {
            if let Some((port, status)) = nodes.exited() {
                return Err(format!(
                    "node {port} stopped on its own ({status}); see its log above"
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!("\nstopping the nodes…");
        return if nodes.stop() {
            println!("all nodes stopped");
            Ok(())
        } else {
            Err("a node did not stop cleanly".into())
        };
    }

    // --check: run, then judge.
    println!("checking for {} s…", options.secs);
    let deadline = Instant::now() + Duration::from_secs(options.secs);
    while Instant::now() < deadline {
        if stop.load(Ordering::SeqCst) {
            nodes.stop();
            return Err("interrupted".into());
        }
        if let Some((port, status)) = nodes.exited() {
            return Err(format!(
                "node {port} stopped on its own ({status}); log: {}",
                data_root.join(format!("node-{port}.log")).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    nodes.finish("demo", check(&ports), &data_root)
}

/// All nodes on one tip, with blocks of more than one miner on its chain.
/// Tips move while the miners run, so agreement is sampled for up to 15 s.
fn check(ports: &[u16]) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let tips: Result<Vec<(u64, String)>, String> = ports
            .iter()
            .map(|&port| {
                let tip = get_json("127.0.0.1", port, "/tip")?;
                let height = tip["height"].as_u64().ok_or("no height in /tip")?;
                let hash = tip["hash"].as_str().ok_or("no hash in /tip")?.to_string();
                Ok((height, hash))
            })
            .collect();
        let last = match tips {
            Ok(tips) if tips.iter().all(|t| t == &tips[0]) => {
                let (height, hash) = &tips[0];
                let chain = get_json("127.0.0.1", ports[2], "/blockchain.json")?;
                let blocks = chain.as_array().ok_or("/blockchain.json is not a list")?;
                let miners: BTreeSet<&str> = blocks
                    .iter()
                    .skip(1)
                    .filter_map(|b| b["data"].as_str())
                    .collect();
                if *height < 2 {
                    return Err(format!("only {height} blocks were mined"));
                }
                if miners.len() < 2 {
                    return Err(format!(
                        "all {height} blocks come from one miner: {miners:?}"
                    ));
                }
                return Ok(format!(
                    "{} nodes on tip {height} {}…, blocks from {miners:?}",
                    ports.len(),
                    &hash[..8.min(hash.len())]
                ));
            }
            Ok(tips) => format!("tips differ: {tips:?}"),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(last);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
