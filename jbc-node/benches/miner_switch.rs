//! How long after a new tip every mining thread works on the new template:
//! p50, p99 and max over many switches, with 1, 2 and all-cores threads.
//! Also: how long a restart takes to replay 100 000 stored blocks.
//!
//! Run: `cargo bench -p jbc-node --bench miner_switch`

use std::time::{Duration, Instant};

use jbc_core::{Block, Chain, Params};
use jbc_node::miner::Miner;
use jbc_node::store::{Durability, Store};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn switch_times(threads: usize, switches: u64) -> Vec<Duration> {
    let params = Params {
        network: "bench".into(),
        initial_difficulty: 60,
        min_difficulty: 60,
        ..Params::default()
    };
    let chain = Chain::new(params);
    let (found_tx, _found_rx) = tokio::sync::mpsc::unbounded_channel();
    let miner = Miner::start(threads, found_tx);
    let first = miner.set_work(chain.next_template("warm up".into(), 1));
    miner.wait_threads_on(first, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    let mut times = Vec::new();
    for i in 0..switches {
        // Let the threads be deep in a round when the tip changes.
        std::thread::sleep(Duration::from_millis(7));
        let generation = miner.set_work(chain.next_template(format!("tip {i}"), 2 + i));
        if let Some(took) = miner.wait_threads_on(generation, Duration::from_secs(5)) {
            times.push(took);
        }
    }
    miner.stop();
    times.sort();
    times
}

fn replay(blocks: u64) {
    // One difficulty forever (min = initial = max), so blocks need no real
    // proof of work: loading trusts the stored hash and PoW, and checks links,
    // heights, difficulty and timestamps.
    let params = Params {
        network: "replay".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        max_difficulty: 1,
        ..Params::default()
    };
    let dir = std::env::temp_dir().join(format!("jbc-replay-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, mut chain, _) = Store::open(&dir, &params).expect("open");
    let mut batch = Vec::new();
    for i in 1..=blocks {
        let tip = chain.tip();
        let block = Block::new(
            i,
            1_700_000_000_000 + i * 1000,
            format!("Mined by the replay bench #{i}"),
            tip.hash,
            1,
            0,
        );
        chain.insert_trusted(block.clone()).expect("valid");
        batch.push(block);
        if batch.len() == 10_000 {
            store.append(&batch, Durability::Deferred).expect("append");
            batch.clear();
        }
    }
    store.append(&batch, Durability::Deferred).expect("append");
    store.flush().expect("flush");
    let tip = chain.tip().hash;
    drop(store);
    let started = Instant::now();
    let (_store, loaded, stats) = Store::open(&dir, &params).expect("reopen");
    let elapsed = started.elapsed();
    assert_eq!(loaded.tip().hash, tip);
    let size = std::fs::metadata(dir.join("chain.redb")).map_or(0, |m| m.len());
    println!(
        "restart: replayed {} blocks in {:.2} s ({:.0} blocks/s), database {:.1} MB",
        stats.blocks,
        elapsed.as_secs_f64(),
        stats.blocks as f64 / elapsed.as_secs_f64(),
        size as f64 / 1e6
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo test --benches` runs bench binaries with no `--bench` flag: keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!("CPU: {cpu}, {cores} cores");
    let switches = if quick { 20 } else { 300 };
    let mut counts = vec![1, 2, cores];
    counts.sort();
    counts.dedup();
    for threads in counts {
        let times = switch_times(threads, switches);
        if times.is_empty() {
            println!("{threads} threads: no switch completed");
            continue;
        }
        println!(
            "new tip -> all {threads} mining threads on new work: p50 {:?}, p99 {:?}, max {:?} ({} switches)",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            times.len()
        );
    }
    replay(if quick { 10_000 } else { 100_000 });
}
