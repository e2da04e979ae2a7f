//! GPU mining without a GPU dependency: the WGSL compute shader ([`SHADER`])
//! and everything a host needs around it, for WebGPU in a browser (jbc-web)
//! and for wgpu natively (jbc-miner). This module does no I/O; the host
//! creates the buffers, runs the dispatch and reads one `u32` back.
//!
//! A range of nonces is mined in [`Dispatch`]es of at most 2^30 nonces:
//!
//! 1. [`Dispatch::new`] (or [`Dispatch::first`] for the first piece of a
//!    longer range) describes one dispatch: its nonces, how many workgroups
//!    of [`WORKGROUP_SIZE`] invocations to launch, how many nonces each
//!    invocation tries.
//! 2. [`Dispatch::uniform`] gives the [`UNIFORM_BYTES`] bytes of the shader's
//!    parameters (binding 0, a read-only storage buffer: lavapipe compiles
//!    a new variant of a shader for each new content of a uniform buffer):
//!    the template's midstate, the state after rounds
//!    0–5 (which do not depend on the nonce), the second block's constant
//!    words, the range and the difficulty, as little-endian `u32`s.
//! 3. The host sets the result buffer (binding 1, one `u32`, storage,
//!    read-write) to [`NO_RESULT`], dispatches `workgroups()` workgroups of
//!    the entry point [`ENTRY_POINT`], and reads the `u32` back.
//! 4. [`Dispatch::result`] turns it into exactly what
//!    [`mine_round`](super::mine_round) returns for that range: the first
//!    valid nonce and its hash (recomputed and checked on the CPU), or
//!    exhaustion with the next nonce (`None` past `u64::MAX`).
//!
//! [`mine_round_gpu`] runs those steps for a whole range with a closure that
//! does step 3, so that a host only writes the GPU calls.
//!
//! ```
//! use jbc_core::{BlockHash, Header, mine_round};
//! use jbc_core::pow::{Template, gpu::{self, Dispatch}};
//!
//! let header = Header { index: 1, timestamp_ms: 1, difficulty: 8,
//!     prev_hash: BlockHash::ZERO, data_hash: BlockHash::ZERO, nonce: 0 };
//! let template = Template::new(&header);
//! // A stand-in for the GPU: what the shader computes, on the CPU.
//! let fake_gpu = |d: &Dispatch, _uniform: &[u8; gpu::UNIFORM_BYTES]| {
//!     Ok::<u32, gpu::GpuError>(d.reference_best(&template))
//! };
//! let result = gpu::mine_round_gpu(&template, 0, 5_000, 1_000, fake_gpu).unwrap();
//! assert_eq!(result, mine_round(&template, 0, 5_000));
//! ```

use super::kernel::portable;
use super::{RoundResult, Template, last_nonce, state_meets, state_to_hash};

/// The WGSL source of the mining shader.
pub const SHADER: &str = include_str!("gpu.wgsl");

/// The shader's compute entry point.
pub const ENTRY_POINT: &str = "main";

/// Invocations per workgroup (`@workgroup_size` in [`SHADER`]).
pub const WORKGROUP_SIZE: u32 = 64;

/// Most workgroups one dispatch launches: WebGPU's default
/// `maxComputeWorkgroupsPerDimension`.
pub const MAX_WORKGROUPS: u32 = 65_535;

/// Most nonces one dispatch tries (2^30), which keeps every offset the
/// shader computes below 2^32.
pub const MAX_DISPATCH_NONCES: u32 = 1 << 30;

/// Size of the parameters (binding 0, a read-only storage buffer) in bytes.
pub const UNIFORM_BYTES: usize = 160;

/// The result buffer's value when no nonce of the dispatch is valid; the
/// host writes it before each dispatch.
pub const NO_RESULT: u32 = u32::MAX;

/// Why a value read back from the GPU cannot be the shader's answer: a
/// broken driver or a host bug, never a property of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// The reported offset is past the end of the dispatch.
    #[error("the GPU reported offset {offset} in a dispatch of {count} nonces")]
    OutOfRange {
        /// The offset read back.
        offset: u32,
        /// How many nonces the dispatch tried.
        count: u32,
    },
    /// The reported nonce does not meet the difficulty when rechecked on the CPU.
    #[error("the GPU reported nonce {nonce}, whose hash does not meet the difficulty")]
    NotValid {
        /// The nonce the GPU reported.
        nonce: u64,
    },
}

/// One dispatch of the shader: `count` consecutive nonces from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    start: u64,
    count: u32,
    per_invocation: u32,
    workgroups: u32,
}

impl Dispatch {
    /// The dispatch of the nonces `start, start + 1, …`: `count` of them
    /// (at most [`MAX_DISPATCH_NONCES`]), fewer where the nonce space ends
    /// at `u64::MAX`. `None` when `count` is zero.
    pub fn new(start: u64, count: u32) -> Option<Dispatch> {
        let count = count.min(MAX_DISPATCH_NONCES);
        let last = last_nonce(start, u64::from(count))?;
        // `last - start + 1` is at most `count`, so it fits in a u32.
        let count = (last - start + 1) as u32;
        let invocations_max = WORKGROUP_SIZE * MAX_WORKGROUPS;
        let per_invocation = count.div_ceil(invocations_max).max(1);
        let workgroups = count.div_ceil(per_invocation * WORKGROUP_SIZE);
        Some(Dispatch {
            start,
            count,
            per_invocation,
            workgroups,
        })
    }

    /// The first dispatch of the range `[start, start + rounds)` (what
    /// [`mine_round`](super::mine_round) would try), at most `max_nonces`
    /// long; `None` when the range is empty (`rounds` or `max_nonces` zero).
    pub fn first(start: u64, rounds: u64, max_nonces: u32) -> Option<Dispatch> {
        let count = rounds.min(u64::from(max_nonces)).min(u64::from(u32::MAX)) as u32;
        Dispatch::new(start, count)
    }

    /// The first nonce tried.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// How many nonces are tried (at least 1).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The last nonce tried.
    pub fn last(&self) -> u64 {
        self.start + u64::from(self.count - 1)
    }

    /// Workgroups to dispatch (in x; y and z are 1).
    pub fn workgroups(&self) -> u32 {
        self.workgroups
    }

    /// Nonces each invocation tries.
    pub fn per_invocation(&self) -> u32 {
        self.per_invocation
    }

    /// The parameters (binding 0, read-only storage) for `template`: [`UNIFORM_BYTES`] bytes,
    /// little-endian `u32`s in the order of the shader's `Params`.
    pub fn uniform(&self, template: &Template) -> [u8; UNIFORM_BYTES] {
        let pre = &template.pre;
        let mut words = [0u32; UNIFORM_BYTES / 4];
        words[0..8].copy_from_slice(&pre.midstate);
        words[8..16].copy_from_slice(&pre.state6);
        words[16..32].copy_from_slice(&pre.w);
        // The nonce words are set by the shader.
        words[16 + 6] = 0;
        words[16 + 7] = 0;
        words[32] = self.start as u32;
        words[33] = (self.start >> 32) as u32;
        words[34] = self.count;
        words[35] = self.per_invocation;
        words[36] = template.difficulty();
        let mut bytes = [0u8; UNIFORM_BYTES];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// What the dispatch found, from the `u32` read back: exactly
    /// [`mine_round`](super::mine_round)`(template, start, count)`. A found
    /// nonce is rechecked on the CPU, and its hash computed there.
    pub fn result(&self, template: &Template, best: u32) -> Result<RoundResult, GpuError> {
        if best == NO_RESULT {
            return Ok(RoundResult::Exhausted {
                next_nonce: self.last().checked_add(1),
            });
        }
        if best >= self.count {
            return Err(GpuError::OutOfRange {
                offset: best,
                count: self.count,
            });
        }
        let nonce = self.start + u64::from(best);
        let state = portable::final_state(&template.pre, nonce);
        if !state_meets(&state, template.difficulty()) {
            return Err(GpuError::NotValid { nonce });
        }
        Ok(RoundResult::Found {
            nonce,
            hash: state_to_hash(&state),
        })
    }

    /// What a correct GPU writes into the result buffer for this dispatch,
    /// computed on the CPU with the portable kernel: the offset of the first
    /// valid nonce, or [`NO_RESULT`]. For tests and for hosts without a GPU.
    pub fn reference_best(&self, template: &Template) -> u32 {
        match portable::mine_round(template, self.start, u64::from(self.count)) {
            RoundResult::Found { nonce, .. } => (nonce - self.start) as u32,
            RoundResult::Exhausted { .. } => NO_RESULT,
        }
    }
}

/// [`mine_round`](super::mine_round) on a GPU: tries `[start_nonce,
/// start_nonce + rounds)` (never past `u64::MAX`) in dispatches of at most
/// `max_dispatch_nonces`, each run by `run(dispatch, uniform)`, which
/// returns the `u32` the shader left in the result buffer (see the module
/// docs). Stops at the first dispatch that finds a nonce.
///
/// Returns exactly what `mine_round` returns, or the first error of `run` or
/// of [`Dispatch::result`].
pub fn mine_round_gpu<E: From<GpuError>>(
    template: &Template,
    start_nonce: u64,
    rounds: u64,
    max_dispatch_nonces: u32,
    mut run: impl FnMut(&Dispatch, &[u8; UNIFORM_BYTES]) -> Result<u32, E>,
) -> Result<RoundResult, E> {
    let max = max_dispatch_nonces.max(1);
    let Some(last) = last_nonce(start_nonce, rounds) else {
        return Ok(RoundResult::Exhausted {
            next_nonce: Some(start_nonce),
        });
    };
    let mut start = start_nonce;
    loop {
        let left = (last - start).saturating_add(1);
        let Some(dispatch) = Dispatch::first(start, left, max) else {
            unreachable!("`left` and `max` are at least 1: the dispatch is not empty");
        };
        let best = run(&dispatch, &dispatch.uniform(template))?;
        let result = dispatch.result(template, best)?;
        match result {
            RoundResult::Exhausted {
                next_nonce: Some(next),
            } if dispatch.last() < last => start = next,
            _ => return Ok(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::BlockHash;
    use crate::header::Header;
    use crate::pow::mine_round;

    fn template(difficulty: u32) -> Template {
        Template::new(&Header {
            index: 9,
            timestamp_ms: 1_700_000_000_000,
            difficulty,
            prev_hash: BlockHash([3; 32]),
            data_hash: BlockHash::sha256(b"gpu"),
            nonce: 0,
        })
    }

    #[test]
    fn dispatch_clips_at_the_top_of_the_nonce_space() {
        let d = Dispatch::new(u64::MAX - 9, 1000).unwrap();
        assert_eq!(d.count(), 10);
        assert_eq!(d.last(), u64::MAX);
        assert_eq!(Dispatch::new(5, 0), None);
        assert_eq!(Dispatch::first(5, 0, 100), None);
        assert_eq!(Dispatch::first(5, 1 << 40, 100).unwrap().count(), 100);
        let t = template(64);
        assert_eq!(
            d.result(&t, NO_RESULT),
            Ok(RoundResult::Exhausted { next_nonce: None })
        );
    }

    #[test]
    fn workgroups_cover_the_dispatch_within_u32_offsets() {
        for count in [1, 63, 64, 65, 1 << 20, (1 << 22) + 7, u32::MAX] {
            let d = Dispatch::new(0, count).unwrap();
            assert!(d.workgroups() >= 1 && d.workgroups() <= MAX_WORKGROUPS);
            let covered = u64::from(d.workgroups())
                * u64::from(WORKGROUP_SIZE)
                * u64::from(d.per_invocation());
            assert!(covered >= u64::from(d.count()), "count {count}");
            assert!(covered < 1 << 32, "count {count}");
        }
    }

    #[test]
    fn uniform_layout() {
        let t = template(17);
        let d = Dispatch::new(0x0102_0304_0506_0708, 1000).unwrap();
        let u = d.uniform(&t);
        let word = |i: usize| u32::from_le_bytes(u[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(0), t.midstate()[0]);
        assert_eq!(
            word(16),
            u32::from_be_bytes(t.tail()[0..4].try_into().unwrap())
        );
        assert_eq!(word(32), 0x0506_0708);
        assert_eq!(word(33), 0x0102_0304);
        assert_eq!(word(34), 1000);
        assert_eq!(word(36), 17);
    }

    #[test]
    fn results_are_checked() {
        let t = template(12);
        let d = Dispatch::new(0, 100_000).unwrap();
        let best = d.reference_best(&t);
        assert_eq!(d.result(&t, best), Ok(mine_round(&t, 0, 100_000)));
        assert!(matches!(
            d.result(&t, 100_000),
            Err(GpuError::OutOfRange { .. })
        ));
        // Offset 0 is valid only by a 1 in 4096 chance; find an invalid one.
        let invalid = (0..best).next().unwrap_or(best + 1);
        assert!(matches!(
            d.result(&t, invalid),
            Err(GpuError::NotValid { .. })
        ));
    }

    #[test]
    fn split_rounds_equal_mine_round() {
        let t = template(10);
        for (start, rounds, max) in [
            (0, 10_000, 7),
            (123, 0, 10),
            (u64::MAX - 50, 200, 16),
            ((1 << 32) - 5, 3000, 64),
        ] {
            let got: Result<_, GpuError> =
                mine_round_gpu(&t, start, rounds, max, |d, _| Ok(d.reference_best(&t)));
            assert_eq!(got, Ok(mine_round(&t, start, rounds)), "{start} {rounds}");
        }
    }
}
