//! Proof of work: the midstate [`Template`] and the stepwise [`mine_round`].
//!
//! A header is 96 bytes, so SHA-256 hashes it as two 64-byte blocks. The
//! first block (magic, index, timestamp, difficulty, prev_hash, the first 8
//! bytes of data_hash) does not contain the nonce: [`Template::new`] compresses
//! it once into a *midstate*. The second block holds the rest of data_hash,
//! the nonce and the SHA-256 padding, so each nonce costs exactly one
//! compression of that block.
//!
//! How that compression runs is up to a [`Kernel`]: [`mine_round`] uses the
//! fastest one this CPU supports ([`Kernel::best`], named by [`kernel_name`]);
//! [`mine_round_with`] picks one explicitly. All kernels give identical
//! results.

pub mod gpu;
mod kernel;

pub use kernel::Kernel;
#[cfg(feature = "std")]
pub use kernel::calibrate;

use crate::hash::BlockHash;
use crate::header::{HEADER_LEN, Header};

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Offset of the nonce inside the second SHA-256 block.
const NONCE_OFFSET: usize = 88 - 64;

/// Work of one block: 2^difficulty (PROTOCOL.md §1). Difficulties above 64 are
/// never valid; they are clamped so the function cannot overflow.
pub fn work(difficulty: u32) -> u128 {
    1u128 << difficulty.min(crate::header::MAX_DIFFICULTY)
}

/// Whether `hash` has at least `difficulty` leading zero bits.
pub fn meets_difficulty(hash: &BlockHash, difficulty: u32) -> bool {
    hash.leading_zero_bits() >= difficulty
}

/// A header prepared for mining: the midstate of its first 64 bytes and the
/// padded second block into which each nonce is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    header: Header,
    midstate: [u32; 8],
    tail: [u8; 64],
    pre: kernel::Precomputed,
}

/// What one call of [`mine_round`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundResult {
    /// The first nonce of the range whose hash meets the difficulty.
    Found {
        /// The winning nonce.
        nonce: u64,
        /// The hash of the header with that nonce.
        hash: BlockHash,
    },
    /// No nonce in the range works.
    Exhausted {
        /// The nonce to start the next round at, or `None` when the range
        /// ended at `u64::MAX` and the nonce space is used up.
        next_nonce: Option<u64>,
    },
}

impl Template {
    /// Prepares `header` for mining (its `nonce` is ignored).
    pub fn new(header: &Header) -> Template {
        let bytes = header.encode();
        let mut first = [0u8; 64];
        first.copy_from_slice(&bytes[..64]);
        let mut midstate = SHA256_IV;
        sha2::block_api::compress256(&mut midstate, &[first]);
        let mut tail = [0u8; 64];
        tail[..HEADER_LEN - 64].copy_from_slice(&bytes[64..]);
        tail[HEADER_LEN - 64] = 0x80;
        tail[56..].copy_from_slice(&((HEADER_LEN as u64) * 8).to_be_bytes());
        Template {
            header: *header,
            midstate,
            tail,
            pre: kernel::Precomputed::new(midstate, &tail),
        }
    }

    /// The header this template was built from.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Required leading zero bits.
    pub fn difficulty(&self) -> u32 {
        self.header.difficulty
    }

    /// The SHA-256 state after the first 64 header bytes.
    pub fn midstate(&self) -> &[u32; 8] {
        &self.midstate
    }

    /// The padded second SHA-256 block, with the nonce bytes (24..32) as in the header.
    pub fn tail(&self) -> &[u8; 64] {
        &self.tail
    }

    /// The hash of the header with `nonce`: one compression.
    pub fn hash_with_nonce(&self, nonce: u64) -> BlockHash {
        let mut block = self.tail;
        block[NONCE_OFFSET..NONCE_OFFSET + 8].copy_from_slice(&nonce.to_be_bytes());
        let mut state = self.midstate;
        sha2::block_api::compress256(&mut state, &[block]);
        state_to_hash(&state)
    }
}

/// The big-endian bytes of a SHA-256 state: the digest.
pub(crate) fn state_to_hash(state: &[u32; 8]) -> BlockHash {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    BlockHash(out)
}

/// Whether a final SHA-256 state has at least `difficulty` leading zero bits,
/// looking at the words in order and stopping at the first non-zero one.
#[inline]
pub(crate) fn state_meets(state: &[u32; 8], difficulty: u32) -> bool {
    let mut zeros = 0;
    for word in state {
        if zeros >= difficulty {
            return true;
        }
        if *word != 0 {
            return zeros + word.leading_zeros() >= difficulty;
        }
        zeros += 32;
    }
    zeros >= difficulty
}

/// The last nonce of `[start_nonce, start_nonce + count)`, clamped to `u64::MAX`;
/// `None` when `count` is zero.
pub(crate) fn last_nonce(start_nonce: u64, count: u64) -> Option<u64> {
    count
        .checked_sub(1)
        .map(|extra| start_nonce.saturating_add(extra))
}

/// The result for a range `[start, last]` that held no valid nonce.
pub(crate) fn exhausted_after(last: u64) -> RoundResult {
    RoundResult::Exhausted {
        next_nonce: last.checked_add(1),
    }
}

/// Tries the nonces `start_nonce, start_nonce + 1, …` (at most `count` of
/// them, never past `u64::MAX`) and returns the first whose hash meets the
/// template's difficulty, or where to continue.
///
/// After the template's midstate each nonce costs one SHA-256 compression,
/// run by the fastest [`Kernel`] available ([`kernel_name`] tells which).
///
/// ```
/// use jbc_core::{Header, BlockHash, pow::{mine_round, Template, RoundResult}};
/// let header = Header { index: 1, timestamp_ms: 1, difficulty: 4,
///     prev_hash: BlockHash::ZERO, data_hash: BlockHash::ZERO, nonce: 0 };
/// let template = Template::new(&header);
/// match mine_round(&template, 0, 1_000) {
///     RoundResult::Found { nonce, hash } => {
///         assert_eq!(Header { nonce, ..header }.hash(), hash);
///         assert!(hash.leading_zero_bits() >= 4);
///     }
///     RoundResult::Exhausted { .. } => unreachable!("1 in 16 nonces works"),
/// }
/// ```
pub fn mine_round(template: &Template, start_nonce: u64, count: u64) -> RoundResult {
    Kernel::best()
        .mine_round(template, start_nonce, count)
        .unwrap_or_else(|| kernel::portable::mine_round(template, start_nonce, count))
}

/// [`mine_round`] with a chosen kernel; `None` if that kernel cannot run on
/// this CPU or target (see [`Kernel::is_available`]).
///
/// ```
/// use jbc_core::{Header, BlockHash, pow::{mine_round, mine_round_with, Kernel, Template}};
/// let header = Header { index: 1, timestamp_ms: 1, difficulty: 6,
///     prev_hash: BlockHash::ZERO, data_hash: BlockHash::ZERO, nonce: 0 };
/// let template = Template::new(&header);
/// for kernel in Kernel::available() {
///     assert_eq!(mine_round_with(kernel, &template, 0, 5_000), Some(mine_round(&template, 0, 5_000)));
/// }
/// ```
pub fn mine_round_with(
    kernel: Kernel,
    template: &Template,
    start_nonce: u64,
    count: u64,
) -> Option<RoundResult> {
    kernel.mine_round(template, start_nonce, count)
}

/// The name of the kernel [`mine_round`] uses here, e.g. `"sha-ni"`,
/// `"avx2"`, `"simd128"` or `"portable"`: for logs, the node's `/status`
/// and the miner page.
pub fn kernel_name() -> &'static str {
    Kernel::best().name()
}

/// The reference loop that [`mine_round`] must agree with: build the whole
/// header and SHA-256 all 96 bytes for every nonce. Slow on purpose; used by
/// tests and benchmarks as the baseline.
pub fn mine_round_naive(header: &Header, start_nonce: u64, count: u64) -> RoundResult {
    let Some(last) = last_nonce(start_nonce, count) else {
        return RoundResult::Exhausted {
            next_nonce: Some(start_nonce),
        };
    };
    let mut candidate = *header;
    let mut nonce = start_nonce;
    loop {
        candidate.nonce = nonce;
        let hash = candidate.hash();
        if meets_difficulty(&hash, header.difficulty) {
            return RoundResult::Found { nonce, hash };
        }
        if nonce == last {
            return exhausted_after(last);
        }
        nonce += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(difficulty: u32) -> Header {
        Header {
            index: 3,
            timestamp_ms: 99,
            difficulty,
            prev_hash: BlockHash([7; 32]),
            data_hash: BlockHash::sha256(b"x"),
            nonce: 0,
        }
    }

    #[test]
    fn midstate_hash_equals_full_hash() {
        let h = header(0);
        let t = Template::new(&h);
        for nonce in [0, 1, 255, 1 << 40, u64::MAX] {
            assert_eq!(t.hash_with_nonce(nonce), Header { nonce, ..h }.hash());
        }
    }

    #[test]
    fn round_never_passes_the_end_of_the_nonce_space() {
        let t = Template::new(&header(255));
        assert_eq!(
            mine_round(&t, u64::MAX - 3, 100),
            RoundResult::Exhausted { next_nonce: None }
        );
        assert_eq!(
            mine_round(&t, 5, 0),
            RoundResult::Exhausted {
                next_nonce: Some(5)
            }
        );
        assert_eq!(
            mine_round(&t, 5, 3),
            RoundResult::Exhausted {
                next_nonce: Some(8)
            }
        );
    }

    #[test]
    fn state_meets_counts_across_words() {
        let mut s = [0u32; 8];
        s[1] = 1;
        assert!(state_meets(&s, 63));
        assert!(!state_meets(&s, 64));
        assert!(state_meets(&[0; 8], 256));
        assert!(!state_meets(&[0; 8], 257));
        assert_eq!(work(64), 1u128 << 64);
        assert_eq!(work(1000), 1u128 << 64);
    }
}
