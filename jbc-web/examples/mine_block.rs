//! Mines one block natively with the browser miner's code (jbc-core's
//! fastest kernel for this CPU) and prints its JSON: the "native miner" of
//! the end-to-end tests, which submit the block to a node while a browser
//! tab mines on the same tip.
//!
//! ```text
//! cargo run --release -p jbc-web --example mine_block -- '<next JSON>' 'data' [max_secs]
//! ```
//!
//! `<next JSON>` is the `next` object of a node's `GET /tip`. The timestamp
//! is the current time. Exits with status 1 (and a message) when the JSON is
//! invalid or no block is found within `max_secs` (default 120).

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jbc_core::RoundResult;
use jbc_web::job::BlockToMine;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [next_json, data, rest @ ..] = args.as_slice() else {
        eprintln!("usage: mine_block '<next JSON>' 'data' [max_secs]");
        return ExitCode::from(2);
    };
    let max_secs = match rest.first().map(|s| s.parse::<u64>()) {
        None => 120,
        Some(Ok(secs)) => secs,
        Some(Err(e)) => {
            eprintln!("mine_block: max_secs: {e}");
            return ExitCode::from(2);
        }
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let job = match BlockToMine::from_next_json(next_json, data.clone(), now_ms) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("mine_block: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + Duration::from_secs(max_secs);
    let mut nonce = 0;
    while Instant::now() < deadline {
        match job.mine(nonce, 1 << 20) {
            Ok(RoundResult::Found { nonce, .. }) => {
                println!("{}", job.block(nonce).to_json());
                return ExitCode::SUCCESS;
            }
            Ok(RoundResult::Exhausted {
                next_nonce: Some(next),
            }) => nonce = next,
            Ok(RoundResult::Exhausted { next_nonce: None }) | Err(_) => break,
        }
    }
    eprintln!("mine_block: no block found within {max_secs} s");
    ExitCode::FAILURE
}
