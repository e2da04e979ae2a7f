//! [`BlockToMine`]: one block to mine, built from the `next` object of a node's
//! `GET /tip`, mined in rounds with nonces that JavaScript reads exactly.

use alloc::string::String;
use core::fmt;

use jbc_core::header::MAX_DIFFICULTY;
use jbc_core::pow::gpu::{Dispatch, GpuError};
use jbc_core::{
    Block, Candidate, Header, MAX_DATA_BYTES, NextRules, RoundResult, Template, mine_round,
};

/// The largest nonce a browser miner uses: 2^53 − 1 (`Number.MAX_SAFE_INTEGER`),
/// so every nonce survives the trip through a JavaScript number.
pub const MAX_NONCE: u64 = (1 << 53) - 1;

/// Why a job cannot be built or mined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The `next` object is not valid JSON of PROTOCOL.md §7, or its difficulty is above 64.
    Malformed(String),
    /// The data is over 4096 bytes (PROTOCOL.md §5 `data_too_large`).
    DataTooLarge(usize),
    /// A nonce or timestamp given by JavaScript is not an integer in range.
    BadNumber(String),
}

impl JobError {
    /// The protocol error code closest to this error (`malformed`, `data_too_large`).
    pub fn code(&self) -> &'static str {
        match self {
            JobError::Malformed(_) | JobError::BadNumber(_) => "malformed",
            JobError::DataTooLarge(_) => "data_too_large",
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Malformed(why) => write!(f, "invalid mining template: {why}"),
            JobError::DataTooLarge(len) => {
                write!(
                    f,
                    "data is {len} bytes; at most {MAX_DATA_BYTES} are allowed"
                )
            }
            JobError::BadNumber(why) => f.write_str(why),
        }
    }
}

/// Reads a JavaScript number as a nonce: an integer in `0..=MAX_NONCE`.
pub fn nonce_from_f64(value: f64) -> Result<u64, JobError> {
    integer_from_f64(value, MAX_NONCE, "nonce")
}

/// Reads a JavaScript number as a block height (an integer ≥ 0 that a
/// JavaScript number holds exactly).
pub fn height_from_f64(value: f64) -> Result<u64, JobError> {
    integer_from_f64(value, MAX_NONCE, "height")
}

/// Reads a JavaScript number as milliseconds since the epoch (an integer ≥ 0
/// that a JavaScript number holds exactly).
pub fn timestamp_from_f64(value: f64) -> Result<u64, JobError> {
    integer_from_f64(value, MAX_NONCE, "timestamp")
}

fn integer_from_f64(value: f64, max: u64, what: &str) -> Result<u64, JobError> {
    // `max` is below 2^53, so it converts to f64 exactly.
    if value.is_finite() && value >= 0.0 && value <= max as f64 && value == (value as u64) as f64 {
        Ok(value as u64)
    } else {
        Err(JobError::BadNumber(alloc::format!(
            "{what} must be an integer from 0 to {max}, got {value}"
        )))
    }
}

/// A block to mine: the candidate (header with nonce 0, and data) and its
/// midstate [`Template`].
#[derive(Debug, Clone)]
pub struct BlockToMine {
    candidate: Candidate,
    template: Template,
}

impl BlockToMine {
    /// The child described by `next` (the `next` object of `GET /tip`) with
    /// `data`, stamped `timestamp_ms` raised to `next.min_timestamp` when the
    /// clock is behind: jbc-core's [`Candidate::from_rules`], once `data` and
    /// the difficulty are checked.
    pub fn new(next: &NextRules, data: String, timestamp_ms: u64) -> Result<BlockToMine, JobError> {
        if data.len() > MAX_DATA_BYTES {
            return Err(JobError::DataTooLarge(data.len()));
        }
        if next.difficulty > MAX_DIFFICULTY {
            return Err(JobError::Malformed(alloc::format!(
                "difficulty {} is above {MAX_DIFFICULTY}",
                next.difficulty
            )));
        }
        let candidate = Candidate::from_rules(next, data, timestamp_ms);
        let template = candidate.template();
        Ok(BlockToMine {
            candidate,
            template,
        })
    }

    /// Like [`BlockToMine::new`], reading `next` from its JSON.
    pub fn from_next_json(
        next_json: &str,
        data: String,
        timestamp_ms: u64,
    ) -> Result<BlockToMine, JobError> {
        let next: NextRules = serde_json::from_str(next_json)
            .map_err(|e| JobError::Malformed(alloc::format!("{e}")))?;
        BlockToMine::new(&next, data, timestamp_ms)
    }

    /// The header being mined (nonce 0).
    pub fn header(&self) -> &Header {
        &self.candidate.header
    }

    /// The data the block carries.
    pub fn data(&self) -> &str {
        &self.candidate.data
    }

    /// Tries up to `count` nonces from `start_nonce`, never past [`MAX_NONCE`]:
    /// jbc-core's [`mine_round`] on this job's template. When the range
    /// reaches [`MAX_NONCE`] without a find, `next_nonce` is `None` and the
    /// caller picks a new start.
    pub fn mine(&self, start_nonce: u64, count: u32) -> Result<RoundResult, JobError> {
        if start_nonce > MAX_NONCE {
            return Err(JobError::BadNumber(alloc::format!(
                "nonce must be at most {MAX_NONCE}, got {start_nonce}"
            )));
        }
        let rounds = u64::from(count).min(MAX_NONCE - start_nonce + 1);
        Ok(match mine_round(&self.template, start_nonce, rounds) {
            RoundResult::Exhausted { next_nonce } => RoundResult::Exhausted {
                next_nonce: next_nonce.filter(|n| *n <= MAX_NONCE),
            },
            found => found,
        })
    }

    /// The GPU dispatch of up to `count` nonces from `start_nonce` (at most
    /// [`jbc_core::pow::gpu::MAX_DISPATCH_NONCES`], never past
    /// [`MAX_NONCE`]): see [`jbc_core::pow::gpu`]. `None` when `count` is 0.
    pub fn gpu_dispatch(&self, start_nonce: u64, count: u32) -> Result<Option<Dispatch>, JobError> {
        if start_nonce > MAX_NONCE {
            return Err(JobError::BadNumber(alloc::format!(
                "nonce must be at most {MAX_NONCE}, got {start_nonce}"
            )));
        }
        let count = u64::from(count).min(MAX_NONCE - start_nonce + 1) as u32;
        Ok(Dispatch::new(start_nonce, count))
    }

    /// What the GPU's result `best` of `dispatch` means: exactly what
    /// [`BlockToMine::mine`] returns for the dispatch's nonces (`next_nonce` is
    /// `None` past [`MAX_NONCE`]).
    pub fn gpu_result(&self, dispatch: &Dispatch, best: u32) -> Result<RoundResult, GpuError> {
        Ok(match dispatch.result(&self.template, best)? {
            RoundResult::Exhausted { next_nonce } => RoundResult::Exhausted {
                next_nonce: next_nonce.filter(|n| *n <= MAX_NONCE),
            },
            found => found,
        })
    }

    /// The midstate template being mined.
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The block with `nonce`, its hash filled in.
    pub fn block(&self, nonce: u64) -> Block {
        self.candidate.block(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use jbc_core::BlockHash;

    fn next(difficulty: u32) -> NextRules {
        // Median time past 999: the smallest valid timestamp is 1 000.
        NextRules::new(7, BlockHash::sha256(b"parent"), difficulty, 999)
    }

    #[test]
    fn numbers_from_javascript_are_checked() {
        assert_eq!(nonce_from_f64(0.0), Ok(0));
        assert_eq!(nonce_from_f64(9_007_199_254_740_991.0), Ok(MAX_NONCE));
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, 9_007_199_254_740_992.0] {
            assert!(nonce_from_f64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamp_is_raised_to_the_minimum() {
        let job = BlockToMine::new(&next(1), "x".to_string(), 10).unwrap();
        assert_eq!(job.header().timestamp_ms, 1_000);
        let job = BlockToMine::new(&next(1), "x".to_string(), 5_000).unwrap();
        assert_eq!(job.header().timestamp_ms, 5_000);
    }

    #[test]
    fn bad_templates_are_refused() {
        let big = "a".repeat(MAX_DATA_BYTES + 1);
        assert_eq!(
            BlockToMine::new(&next(1), big, 0).unwrap_err(),
            JobError::DataTooLarge(MAX_DATA_BYTES + 1)
        );
        assert_eq!(
            BlockToMine::new(&next(65), "x".to_string(), 0)
                .unwrap_err()
                .code(),
            "malformed"
        );
        assert!(BlockToMine::from_next_json("{\"index\":1}", "x".to_string(), 0).is_err());
    }

    #[test]
    fn rounds_stop_at_the_largest_safe_nonce() {
        // 64 zero bits essentially never happen in 10 tries.
        let job = BlockToMine::new(&next(64), "x".to_string(), 0).unwrap();
        assert_eq!(
            job.mine(MAX_NONCE - 9, 1_000).unwrap(),
            RoundResult::Exhausted { next_nonce: None }
        );
        assert_eq!(
            job.mine(5, 10).unwrap(),
            RoundResult::Exhausted {
                next_nonce: Some(15)
            }
        );
        assert!(job.mine(MAX_NONCE + 1, 1).is_err());
    }

    #[test]
    fn gpu_dispatches_stop_at_the_largest_safe_nonce_like_mine() {
        let job = BlockToMine::new(&next(10), "x".to_string(), 0).unwrap();
        let d = job.gpu_dispatch(MAX_NONCE - 9, 1_000).unwrap().unwrap();
        assert_eq!(d.count(), 10);
        for start in [0, 12_345, MAX_NONCE - 2_000] {
            let d = job.gpu_dispatch(start, 5_000).unwrap().unwrap();
            // What a correct GPU answers, computed on the CPU.
            let best = d.reference_best(job.template());
            assert_eq!(
                job.gpu_result(&d, best),
                Ok(job.mine(start, 5_000).unwrap())
            );
        }
        assert_eq!(job.gpu_dispatch(5, 0), Ok(None));
        assert!(job.gpu_dispatch(MAX_NONCE + 1, 1).is_err());
    }

    #[test]
    fn a_found_nonce_makes_a_valid_block() {
        let rules = next(8);
        let job = BlockToMine::new(&rules, "Mined by browser test".to_string(), 2_000).unwrap();
        let RoundResult::Found { nonce, hash } = job.mine(0, 1 << 20).unwrap() else {
            panic!("2^20 tries at difficulty 8 find a block");
        };
        let block = job.block(nonce);
        assert_eq!(block.hash, hash);
        assert_eq!(
            jbc_core::validation::validate(&block, &rules, 2_000),
            Ok(())
        );
    }
}
