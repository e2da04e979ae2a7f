//! [`Params`]: what defines a network, and its derived genesis block.

use alloc::format;
use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::header::MAX_DIFFICULTY;

/// Largest retarget window [`Params::check`] allows (keeps `2 × W` and
/// `W × target_block_ms` far from overflow).
pub const MAX_RETARGET_WINDOW: u64 = 1_000_000;
/// Largest target block time [`Params::check`] allows: one year.
pub const MAX_TARGET_BLOCK_MS: u64 = 365 * 24 * 3600 * 1000;

/// The parameters of a network (PROTOCOL.md §4). Two nodes agree on blocks only when
/// their params are equal, because the genesis block is derived from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Name of the network (default `main`).
    pub network: String,
    /// Difficulty of genesis and of the first blocks, in leading zero bits (default 24).
    pub initial_difficulty: u32,
    /// Target time between blocks in milliseconds (default 10000).
    pub target_block_ms: u64,
    /// Retarget window W: difficulty may change every W blocks (default 10).
    pub retarget_window: u64,
    /// Lowest difficulty retargeting may reach (default 1).
    pub min_difficulty: u32,
    /// Highest difficulty retargeting may reach (default 64, never above 64).
    pub max_difficulty: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            network: String::from("main"),
            initial_difficulty: 24,
            target_block_ms: 10_000,
            retarget_window: 10,
            min_difficulty: 1,
            max_difficulty: MAX_DIFFICULTY,
        }
    }
}

/// Why a set of [`Params`] cannot define a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// `min_difficulty <= initial_difficulty <= max_difficulty <= 64` does not hold.
    #[error(
        "difficulties must satisfy min <= initial <= max <= 64 (got min {min}, initial {initial}, max {max})"
    )]
    Difficulty {
        /// `min_difficulty`
        min: u32,
        /// `initial_difficulty`
        initial: u32,
        /// `max_difficulty`
        max: u32,
    },
    /// The retarget window or target block time is zero or out of range.
    #[error("retarget_window must be 1..=1000000 and target_block_ms 1..=31536000000 (one year)")]
    OutOfRange,
    /// The network name is empty or contains whitespace (it is part of the genesis data).
    #[error("network name must be non-empty and contain no whitespace")]
    Network,
}

impl Params {
    /// Checks that these params can define a network.
    pub fn check(&self) -> Result<(), ParamsError> {
        if !(self.min_difficulty <= self.initial_difficulty
            && self.initial_difficulty <= self.max_difficulty
            && self.max_difficulty <= MAX_DIFFICULTY)
        {
            return Err(ParamsError::Difficulty {
                min: self.min_difficulty,
                initial: self.initial_difficulty,
                max: self.max_difficulty,
            });
        }
        if self.retarget_window == 0
            || self.target_block_ms == 0
            || self.retarget_window > MAX_RETARGET_WINDOW
            || self.target_block_ms > MAX_TARGET_BLOCK_MS
        {
            return Err(ParamsError::OutOfRange);
        }
        if self.network.is_empty() || self.network.chars().any(char::is_whitespace) {
            return Err(ParamsError::Network);
        }
        Ok(())
    }

    /// The `data` of this network's genesis block (PROTOCOL.md §4).
    pub fn genesis_data(&self) -> String {
        format!(
            "JBC1 genesis network={} difficulty={} block_ms={} window={} min={} max={}",
            self.network,
            self.initial_difficulty,
            self.target_block_ms,
            self.retarget_window,
            self.min_difficulty,
            self.max_difficulty
        )
    }
}

/// The genesis block of the network `params` defines: derived, never mined.
pub fn genesis(params: &Params) -> Block {
    Block::new(
        0,
        0,
        params.genesis_data(),
        crate::BlockHash::ZERO,
        params.initial_difficulty,
        0,
    )
}
