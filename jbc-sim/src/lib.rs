//! jbc-sim: a deterministic discrete-event simulation of a JBC network that
//! drives the real node logic.
//!
//! Each simulated node is a [`jbc_core::node_state::NodeState`] — the same
//! chain, storage policy, relay-once rule, sync sessions and peer book that
//! jbc-node drives with tokio, reqwest and redb. The simulator is one more
//! driver: a simulated clock, a network of regions with measured latencies
//! and bandwidths ([`network`]), Poisson mining of real JBC1 blocks at
//! difficulty 1, and faults (a partition, nodes offline, nodes that never
//! relay). See `docs/sim.md` for the model. A [`script::Script`] runs a
//! given topology and block schedule instead of random links and mining.
//!
//! ```
//! use jbc_sim::{Config, simulate};
//!
//! let report = simulate(Config::new(20, 10, 10_000, 1), &mut |_| {});
//! assert_eq!(report.blocks_mined, 10);
//! assert_eq!(report.final_tips, 1);
//! assert!(report.stale_rate < 1.0);
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod model;
pub mod network;
pub mod observations;
pub mod plot;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod script;
pub mod world;

pub use config::{Config, Offline};
pub use report::Report;
pub use script::{Outcome, Script, Submission};
pub use world::World;

/// Runs `config` to the end and measures it; `progress` hears the number of
/// blocks mined after each block.
pub fn simulate(config: Config, progress: &mut dyn FnMut(u64)) -> Report {
    Report::of(World::new(config).run(progress))
}
