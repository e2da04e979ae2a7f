//! # jbc-core: the JBC1 rules
//!
//! The 96-byte [`Header`], [`Block`]s and their JSON, proof of work with a
//! stepwise [`mine_round`], the validity rules of PROTOCOL.md §5, difficulty
//! retargeting, and a sans-IO block tree ([`Chain`]) with fork choice by most
//! work. `no_std` + `alloc`: the same code runs in the native node, in a
//! browser tab (wasm32) and in tests. It never reads a clock, a file or a
//! socket; callers pass the time in.
//!
//! The rules are those of the JBC1 protocol, described in the repository's
//! `docs/PROTOCOL.md`; "PROTOCOL.md §5" in these docs means its section 5.
//!
//! ```
//! use jbc_core::{Chain, Params, Status, genesis, mine_round, RoundResult};
//!
//! // A tiny network where a block needs 8 leading zero bits.
//! let params = Params { network: "doc".into(), initial_difficulty: 8,
//!                       min_difficulty: 8, ..Params::default() };
//! let mut chain = Chain::new(params.clone());
//! assert_eq!(chain.tip(), &genesis(&params));
//!
//! // Ask what to mine next, then mine it in rounds of 10 000 nonces.
//! let now_ms = 1_700_000_000_000;
//! let candidate = chain.next_template("Mined by the docs".into(), now_ms);
//! let template = candidate.template();
//! let mut start = 0;
//! let block = loop {
//!     match mine_round(&template, start, 10_000) {
//!         RoundResult::Found { nonce, .. } => break candidate.block(nonce),
//!         RoundResult::Exhausted { next_nonce } => start = next_nonce.unwrap(),
//!     }
//! };
//!
//! let accepted = chain.accept(block.clone(), now_ms).unwrap();
//! assert_eq!(accepted.status, Status::NewTip);
//! assert_eq!(chain.height(), 1);
//! assert_eq!(chain.tip(), &block);
//! ```
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod block;
pub mod chain;
pub mod difficulty;
pub mod hash;
pub mod header;
pub mod legacy;
pub mod miner;
pub mod node_state;
pub mod params;
pub mod peer;
pub mod pool;
pub mod pow;
pub mod sse;
pub mod sync;
pub mod validation;
pub mod wire;

/// The Rust examples of the repository's README.md and docs/async.md,
/// compiled and run by `cargo test --doc` so the docs cannot drift from the
/// API (only built for doc tests: a packaged crate has no `docs/`).
#[cfg(doctest)]
pub mod doc_examples {
    #[doc = include_str!("../../README.md")]
    pub struct Readme;
    #[doc = include_str!("../../docs/async.md")]
    pub struct AsyncMd;
}

pub use block::{Block, MAX_DATA_BYTES, StoredHeader};
pub use chain::{Accepted, Candidate, Chain, LoadError, Status};
pub use hash::BlockHash;
pub use header::Header;
pub use miner::{
    Assignment, Job, MineOutcome, MinerConfig, MinerHandle, RoundPacer, mine, mine_blocking,
};
pub use params::{Params, genesis};
pub use peer::{MemoryPeer, Peer};
pub use pool::MAX_POOLED;
pub use pow::{Kernel, RoundResult, Template, kernel_name, mine_round};
pub use sync::{Refusal, SyncConfig, SyncOutcome, SyncReport, SyncTarget, sync};
pub use validation::{BlockError, NextRules};
