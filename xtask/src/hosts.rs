//! `cargo xtask net --hosts N [--unreachable K] [--miners M] [--partition S]
//! [--secs S] [--check]`: a JBC network of N hosts on this machine, each
//! `jbc-node` in its own network namespace with its own address on a bridge
//! (see [`crate::netns`]; Linux, as root).
//!
//! Host 0 is the seed; every other host is told only the seed's address.
//! The last K hosts cannot be dialled: their node listens on its own
//! loopback only (as behind NAT), so it joins by dialling out, follows its
//! peers' `/events` and relays out, and nobody can reach it. They mine, as
//! do M reachable hosts spread over both halves. With `--partition S` the
//! first half of the hosts (the seed's) is cut off from the rest for S
//! seconds after the first `--secs`, then the cut heals.
//!
//! With `--check` it exits non-zero unless: every node, the unreachable
//! ones included, ends on one chain; the unreachable nodes received blocks
//! on their streams; and after a partition, the chain settles on one branch
//! (the lighter side's blocks since the split disconnected) within
//! [`HEAL_WAIT`]. It prints the arrival delay of blocks at reachable and
//! unreachable nodes (median, p90, from the nodes' own log lines: one clock)
//! and the time the partition took to heal.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::netns::Hosts;
use crate::nodes::Nodes;
use crate::{TaskResult, cargo, run_cmd};

const USAGE: &str = "usage: cargo xtask net --hosts N [--unreachable K] [--miners M] \
                     [--partition SECS] [--secs S] [--check] [--difficulty D]";

/// The port every node listens on (each host has its own address).
const PORT: u16 = 8000;
/// Longest wait for the network to settle on one chain after a partition
/// heals, or at the end of a run.
pub const HEAL_WAIT: Duration = Duration::from_secs(60);

struct Options {
    hosts: usize,
    unreachable: usize,
    miners: usize,
    partition: Option<u64>,
    secs: u64,
    check: bool,
    difficulty: u32,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        hosts: 7,
        unreachable: 1,
        miners: 2,
        partition: None,
        secs: 30,
        check: false,
        difficulty: 26,
    };
    let mut args = args.iter();
    let number = |v: Option<&String>, flag: &str| -> Result<u64, String> {
        v.and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--hosts" => o.hosts = number(args.next(), "--hosts")? as usize,
            "--unreachable" => o.unreachable = number(args.next(), "--unreachable")? as usize,
            "--miners" => o.miners = number(args.next(), "--miners")? as usize,
            "--partition" => o.partition = Some(number(args.next(), "--partition")?),
            "--secs" => o.secs = number(args.next(), "--secs")?,
            "--difficulty" => o.difficulty = number(args.next(), "--difficulty")? as u32,
            "--check" => o.check = true,
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if !(2..=50).contains(&o.hosts) {
        return Err("--hosts must be between 2 and 50".into());
    }
    if o.unreachable + o.miners >= o.hosts {
        return Err("the seed and the unreachable and mining hosts must fit in --hosts".into());
    }
    if !(1..=40).contains(&o.difficulty) {
        return Err("--difficulty must be between 1 and 40".into());
    }
    Ok(o)
}

/// One host's node: where it listens, whether it can be dialled, whether it
/// mines, which half it is in.
struct Host {
    listen: String,
    reachable: bool,
    mining: bool,
    first_half: bool,
}

/// The hosts: the seed first, the unreachable ones last; reachable miners
/// alternate between the halves (host 1, then the first of the second half,
/// then host 2, …).
fn plan(o: &Options, hosts: &Hosts) -> Vec<Host> {
    let half = o.hosts / 2;
    let mut miners = Vec::new();
    let (mut a, mut b) = (1, half.max(1));
    while miners.len() < o.miners {
        if miners.len() % 2 == 0 && a < half {
            miners.push(a);
            a += 1;
        } else if b < o.hosts - o.unreachable {
            miners.push(b);
            b += 1;
        } else {
            miners.push(a);
            a += 1;
        }
    }
    (0..o.hosts)
        .map(|i| {
            let reachable = i < o.hosts - o.unreachable;
            Host {
                listen: if reachable {
                    hosts.addr(i)
                } else {
                    "127.0.0.1".into()
                },
                reachable,
                mining: !reachable || miners.contains(&i),
                first_half: i < half,
            }
        })
        .collect()
}

/// Runs the network; with `--check`, judges it.
pub fn run(args: &[String]) -> TaskResult {
    let o = parse(args)?;
    crate::netns::available()
        .map_err(|e| format!("{e}; without it, `cargo xtask net` runs a network on loopback"))?;
    run_cmd(cargo().args(["build", "--release", "-p", "jbc-node"]))?;
    let binary = crate::target_dir().join("release/jbc-node");
    let data_root = crate::target_dir().join("net-hosts");
    let _ = std::fs::remove_dir_all(&data_root);
    std::fs::create_dir_all(&data_root).map_err(|e| format!("cannot create {data_root:?}: {e}"))?;
    let stop = crate::nodes::interrupted()?;
    let hosts = Hosts::create(o.hosts)?;
    let plan = plan(&o, &hosts);
    // Nodes are stopped before the namespaces go (fields drop in order).
    let mut net = Net {
        nodes: Nodes {
            children: Vec::new(),
        },
        hosts,
        plan,
        probe: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let difficulty = o.difficulty.to_string();
    let seed = format!("http://{}:{PORT}", net.hosts.addr(0));
    for (i, host) in net.plan.iter().enumerate() {
        let mut cmd = net.hosts.command(i, &binary);
        cmd.args(["--host", &host.listen, "--port", &PORT.to_string()])
            .args(["--miner", &format!("host{i}")])
            .arg("--data-dir")
            .arg(data_root.join(format!("host{i}")))
            .args(["--network", "hosts", "--difficulty", &difficulty])
            .args(["--block-time-ms", "1500", "--retarget-window", "10"])
            .args([
                "--min-difficulty",
                &o.difficulty.saturating_sub(4).max(1).to_string(),
            ])
            .env("RUST_LOG", "info");
        if host.reachable {
            cmd.args(["--public-url", &format!("http://{}:{PORT}", host.listen)]);
        }
        if host.mining {
            cmd.args(["--mine", "--threads", "1"]);
        }
        if i > 0 {
            cmd.args(["--peer", &seed]);
        }
        net.nodes.spawn(
            i as u16,
            cmd,
            data_root.join(format!("host{i}.log")),
            !o.check,
        )?;
    }
    print_plan(&net, &data_root);
    let verdict = net.drive(&o, &stop, &data_root);
    let clean = net.nodes.stop();
    match verdict {
        Ok(summary) if clean => {
            println!("net --hosts: {summary}");
            Ok(())
        }
        Ok(summary) => Err(format!("{summary}, but a node did not stop cleanly")),
        Err(e) => Err(format!(
            "net --hosts failed: {e} (logs in {})",
            data_root.display()
        )),
    }
}

fn print_plan(net: &Net, data_root: &Path) {
    println!(
        "\nJBC on {} namespaced hosts, data and logs in {}",
        net.plan.len(),
        data_root.display()
    );
    for (i, host) in net.plan.iter().enumerate() {
        let role = match (host.reachable, host.mining) {
            (true, true) => "mining",
            (true, false) => "relaying",
            (false, _) => "mining, cannot be dialled (listens on its loopback)",
        };
        let side = if host.first_half {
            "first half"
        } else {
            "second half"
        };
        println!("  host{i:<3} {:<11} {:<22} {role}", side, net.hosts.addr(i));
    }
    println!();
}

/// The running network.
struct Net {
    nodes: Nodes,
    hosts: Hosts,
    plan: Vec<Host>,
    /// This program, run inside a host to ask its node (`xtask __get`).
    probe: PathBuf,
}

impl Net {
    /// `GET path` from host `i`'s node, asked from inside its namespace.
    fn get(&self, i: usize, path: &str) -> Result<String, String> {
        let url = format!("http://{}:{PORT}{path}", self.plan[i].listen);
        let output = self
            .hosts
            .command(i, &self.probe)
            .args(["__get", &url])
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "host{i}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    fn json(&self, i: usize, path: &str) -> Result<serde_json::Value, String> {
        serde_json::from_str(&self.get(i, path)?).map_err(|e| format!("host{i} {path}: {e}"))
    }

    /// Each node's height.
    fn heights(&self) -> Result<Vec<u64>, String> {
        (0..self.plan.len())
            .map(|i| {
                self.json(i, "/tip")?["height"]
                    .as_u64()
                    .ok_or_else(|| format!("host{i}: no height"))
            })
            .collect()
    }

    /// The hash at `height` of each node's best chain (`None` above its tip).
    fn hashes_at(&self, height: u64) -> Result<Vec<Option<String>>, String> {
        (0..self.plan.len())
            .map(|i| {
                let page = self.json(i, &format!("/blocks?from={height}&limit=1"))?;
                Ok(page
                    .as_array()
                    .and_then(|b| b.first())
                    .and_then(|b| b["hash"].as_str())
                    .map(String::from))
            })
            .collect()
    }

    /// Waits until every node holds the same block at a height at least
    /// `height` on its best chain; the time it took and that block.
    fn settle(&self, height: u64, limit: Duration) -> Result<(Duration, String), String> {
        let started = Instant::now();
        let mut last = String::from("no answer yet");
        while started.elapsed() < limit {
            match self.heights() {
                Ok(heights) => {
                    let low = heights.iter().copied().min().unwrap_or(0);
                    if low >= height {
                        let hashes = self.hashes_at(low.saturating_sub(1).max(height))?;
                        if let Some(Some(first)) = hashes.first()
                            && hashes.iter().all(|h| h.as_ref() == Some(first))
                        {
                            return Ok((started.elapsed(), first.clone()));
                        }
                        last = format!(
                            "different blocks at height {}",
                            low.saturating_sub(1).max(height)
                        );
                    } else {
                        last = format!("heights {heights:?}, waiting for {height}");
                    }
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!("no single chain after {limit:?}: {last}"))
    }

    /// Sleeps `secs`, failing early on Ctrl-C or a node that stopped.
    fn wait(&mut self, secs: u64, stop: &std::sync::atomic::AtomicBool) -> Result<(), String> {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return Err("interrupted".into());
            }
            if let Some((label, status)) = self.nodes.exited() {
                return Err(format!("host{label}'s node stopped on its own ({status})"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    fn drive(
        &mut self,
        o: &Options,
        stop: &std::sync::atomic::AtomicBool,
        data_root: &Path,
    ) -> Result<String, String> {
        if !o.check {
            println!("Press Ctrl-C to stop all nodes.");
        }
        let started = chrono_now();
        self.wait(o.secs, stop)?;
        let normal_end = chrono_now();
        let mut summary = Vec::new();
        if let Some(secs) = o.partition {
            let first: Vec<usize> = (0..self.plan.len())
                .filter(|i| self.plan[*i].first_half)
                .collect();
            let cut_height = self.heights()?.into_iter().max().unwrap_or(0);
            println!("cutting hosts {first:?} off from the others for {secs} s");
            self.hosts.partition(&first, true)?;
            self.wait(secs, stop)?;
            let heights = self.heights()?;
            let works: Vec<u128> = (0..self.plan.len())
                .map(|i| {
                    self.json(i, "/tip")
                        .ok()
                        .and_then(|t| t["work"].as_str().and_then(|w| w.parse().ok()))
                        .unwrap_or(0)
                })
                .collect();
            let side_best = |first: bool| {
                (0..self.plan.len())
                    .filter(|i| self.plan[*i].first_half == first)
                    .max_by_key(|i| (works[*i], heights[*i]))
                    .unwrap_or(0)
            };
            let (a, b) = (side_best(true), side_best(false));
            let (heavy, light) = if works[a] >= works[b] { (a, b) } else { (b, a) };
            let light_tip = self.json(light, "/tip")?["hash"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let light_height = heights[light];
            self.hosts.partition(&first, false)?;
            println!(
                "links back; heaviest side's tip at height {}",
                heights[heavy]
            );
            let (took, _) = self.settle(heights[heavy].max(heights[light]), HEAL_WAIT)?;
            // The lighter side's tip is on nobody's best chain any more.
            let mined = light_height > cut_height;
            let kept = self.hashes_at(light_height)?;
            if o.check
                && mined
                && kept
                    .iter()
                    .any(|h| h.as_deref() == Some(light_tip.as_str()))
            {
                return Err("the lighter side's blocks were kept after the heal".into());
            }
            summary.push(format!(
                "partition of {secs} s healed {:.1} s after the links came back ({})",
                took.as_secs_f64(),
                if mined {
                    "the lighter side's blocks since the split disconnected"
                } else {
                    "the lighter side mined nothing meanwhile"
                }
            ));
        }
        let heights = self.heights()?;
        let high = heights.iter().copied().max().unwrap_or(0);
        let (took, hash) = self.settle(high, HEAL_WAIT)?;
        summary.insert(
            0,
            format!(
                "{} hosts ({} cannot be dialled) on one chain (block {}… at height ≥ {high}, {:.1} s)",
                self.plan.len(),
                o.unreachable,
                &hash[..8.min(hash.len())],
                took.as_secs_f64()
            ),
        );
        for (i, host) in self.plan.iter().enumerate() {
            if host.reachable {
                continue;
            }
            let streamed = self.metric(i, "jbc_stream_blocks_total")?;
            if o.check && streamed < 1.0 {
                return Err(format!(
                    "host{i} (unreachable) received no block on its streams"
                ));
            }
        }
        let reachable: Vec<bool> = self.plan.iter().map(|h| h.reachable).collect();
        let delays = crate::arrivals::arrival_delays(&reachable, data_root, started, normal_end);
        summary.push(delays);
        Ok(summary.join("; "))
    }

    fn metric(&self, i: usize, key: &str) -> Result<f64, String> {
        let text = self.get(i, "/metrics")?;
        Ok(crate::nodes::metric_value(&text, key))
    }
}

/// Now as microseconds since the epoch (the nodes' log clock).
fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// `xtask __get URL`: prints the body of `GET URL` (used inside a host's
/// namespace to ask its node).
pub fn probe(args: &[String]) -> TaskResult {
    let url = args.first().ok_or("__get URL")?;
    let rest = url.strip_prefix("http://").ok_or("http:// URL")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = authority.rsplit_once(':').ok_or("host:port")?;
    let port: u16 = port.parse().map_err(|_| "port")?;
    print!("{}", crate::nodes::get_text(host, port, &path)?);
    Ok(())
}
