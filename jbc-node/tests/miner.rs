//! Mining threads drop stale work when the tip changes: every thread moves
//! to each new work and mines it. How fast is a figure, not a test: `cargo
//! bench -p jbc-node --bench miner_switch` prints p50/p99 (the waits here
//! are bounded only so that the test always ends).

use std::time::Duration;

use jbc_core::{Chain, Params};
use jbc_node::miner::Miner;

#[test]
fn every_thread_switches_to_each_new_work() {
    // Difficulty 60: nothing is ever found, the threads only mine and switch.
    let params = Params {
        network: "switch".into(),
        initial_difficulty: 60,
        min_difficulty: 60,
        ..Params::default()
    };
    let chain = Chain::new(params);
    let (found_tx, _found_rx) = tokio::sync::mpsc::unbounded_channel();
    let miner = Miner::start(2, found_tx);
    let first = miner.set_work(chain.next_template("warm up".into(), 1));
    assert!(
        miner
            .wait_threads_on(first, Duration::from_secs(10))
            .is_some()
    );
    // Let the threads settle into full-size rounds before measuring.
    let warm = miner.hashes();
    while miner.hashes() < warm + 100_000 {
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut times = Vec::new();
    for i in 0..40 {
        let generation = miner.set_work(chain.next_template(format!("tip {i}"), 2 + i));
        let took = miner
            .wait_threads_on(generation, Duration::from_secs(5))
            .expect("every thread switched within 5 s");
        times.push(took);
        // Mine the new work a little before replacing it again.
        let before = miner.hashes();
        while miner.hashes() < before + 20_000 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "switch times: median {median:?}, max {:?}",
        times[times.len() - 1]
    );
    assert_eq!(times.len(), 40, "every switch reached every thread");
    assert!(miner.threads_on(miner.generation()));
    // Stopping joins every thread: no hash is computed afterwards.
    miner.stop();
    let after = miner.hashes();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(miner.hashes(), after);
}
