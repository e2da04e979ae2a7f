//! Many whole-chain readers at once cost the node a bounded amount of
//! memory: each gets the whole chain or `503 busy` with `Retry-After`, none
//! is cut off, `/tip` keeps answering, and the process's resident memory
//! rises by less than [`RISE_BOUND`] while they read a 20 MB chain over and
//! over. (Its own test binary: the bound is on this process, so no other
//! test may run beside it.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{DIFFICULTY_1_FLAGS, client, temp_dir};

/// Readers at once.
const READERS: usize = 64;
/// Whole-chain reads each reader tries.
const TRIES: usize = 3;
/// The most the process's resident memory may rise. Readers that each held
/// the chain's bytes would take 64 × 20 MB; admitted readers hold a chunk
/// (64 KiB) and a store snapshot each, the page cache is capped (16 MiB by
/// default, warmed before the baseline), and the readers here read their
/// answers chunk by chunk.
const RISE_BOUND: u64 = 64 << 20;

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Reads `url` chunk by chunk, comparing with `expected` as it goes:
/// `Some(true)` for the whole chain, `None` for a `503 busy` with
/// `Retry-After`.
async fn read_whole(url: &str, expected: &[u8]) -> Option<bool> {
    let mut answer = client().get(url).send().await.expect("GET");
    if answer.status() == 503 {
        assert!(answer.headers().contains_key("retry-after"));
        let body: serde_json::Value = answer.json().await.expect("JSON error");
        assert_eq!(body["error"], "busy");
        return None;
    }
    assert_eq!(answer.status(), 200);
    let mut at = 0;
    while let Some(chunk) = answer.chunk().await.expect("never cut off") {
        assert_eq!(
            &expected[at..at + chunk.len()],
            chunk.as_ref(),
            "at byte {at}"
        );
        at += chunk.len();
    }
    Some(at == expected.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_whole_chain_readers_cost_a_bounded_amount_of_memory() {
    tokio::time::timeout(Duration::from_secs(240), async {
        let dir = temp_dir("reads-memory");
        let (chain, blocks) = common::data_dir_of(&dir, 5_000, |i| format!("{i:04}").repeat(1_000));
        let expected = Arc::new(
            serde_json::to_vec(&chain.best_chain().cloned().collect::<Vec<_>>()).expect("json"),
        );
        drop((chain, blocks));
        let node = common::start(&dir, &DIFFICULTY_1_FLAGS).await;
        let url = format!("{}/blockchain.json", node.url());
        // Warm the page cache and the allocator, then take the baseline.
        assert_eq!(read_whole(&url, &expected).await, Some(true));
        let baseline = resident_bytes();

        let peak = Arc::new(AtomicU64::new(baseline));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let tips = {
            let (done, tip_url) = (done.clone(), format!("{}/tip", node.url()));
            tokio::spawn(async move {
                let mut answered = 0;
                while !done.load(Ordering::Relaxed) {
                    let tip = client().get(&tip_url).send().await.expect("GET /tip");
                    assert_eq!(tip.status(), 200);
                    answered += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                answered
            })
        };
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (url, expected) = (url.clone(), expected.clone());
                tokio::spawn(async move {
                    let (mut whole, mut busy) = (0, 0);
                    for _ in 0..TRIES {
                        match read_whole(&url, &expected).await {
                            Some(complete) => {
                                assert!(complete, "a whole-chain read ended early");
                                whole += 1;
                            }
                            None => busy += 1,
                        }
                    }
                    (whole, busy)
                })
            })
            .collect();
        let (mut whole, mut busy) = (0, 0);
        for reader in readers {
            let (w, b) = reader.await.expect("reader");
            whole += w;
            busy += b;
        }
        done.store(true, Ordering::Relaxed);
        sampler.await.expect("sampler");
        let answered = tips.await.expect("/tip");
        assert_eq!(whole + busy, READERS * TRIES);
        assert!(whole >= 1 && busy >= 1, "{whole} whole, {busy} busy");
        assert!(answered > 0);
        let rise = peak.load(Ordering::Relaxed).saturating_sub(baseline);
        eprintln!(
            "rise {} KiB, {whole} whole, {busy} busy, /tip answered {answered}",
            rise >> 10
        );
        assert!(
            rise < RISE_BOUND,
            "resident memory rose by {} MB with {READERS} readers",
            rise >> 20
        );
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
