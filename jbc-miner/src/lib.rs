//! jbc-miner
#![warn(missing_docs)]
pub mod gpu;
