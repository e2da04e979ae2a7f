//! # jbc-web: JBC mining in a browser tab
//!
//! jbc-core compiled to WebAssembly: a [`job::BlockToMine`] built from the `next`
//! object of a node's `GET /tip`, mined in rounds with jbc-core's
//! `mine_round` (nonces below 2^53, so JavaScript reads them exactly), and,
//! on wasm32, the JavaScript API of the `js` module and jbc-core's `Peer`
//! over `fetch` (`fetch::FetchPeer`). The page in `www/` runs one module Web
//! Worker per mining thread.
//!
//! The mining code is plain Rust, so it also runs (and is tested) natively:
//!
//! ```
//! use jbc_core::{BlockHash, NextRules, RoundResult};
//! use jbc_web::job::BlockToMine;
//!
//! // Height 1 on parent ZERO, difficulty 4, median time past 0.
//! let next = NextRules::new(1, BlockHash::ZERO, 4, 0);
//! let job = BlockToMine::new(&next, "Mined by browser doc".into(), 1_700_000_000_000).unwrap();
//! let RoundResult::Found { nonce, hash } = job.mine(0, 10_000).unwrap() else {
//!     panic!("1 in 16 nonces meets difficulty 4");
//! };
//! let block = job.block(nonce);
//! assert_eq!(block.hash, hash);
//! assert!(hash.leading_zero_bits() >= 4);
//! ```
#![warn(missing_docs)]

extern crate alloc;

pub mod job;
pub mod random;

#[cfg(target_arch = "wasm32")]
pub mod fetch;
#[cfg(target_arch = "wasm32")]
pub mod js;
