//! The miner: mines a [`Template`] in rounds of [`mine_round`], for an async
//! executor ([`mine`]) or a plain thread ([`mine_blocking`]).
//!
//! Nothing here knows a runtime. Between rounds the async miner awaits
//! [`yield_now`], a hand-written future that wakes itself and returns
//! `Pending` once, so tokio, `futures::executor` and `wasm-bindgen-futures`
//! all get the thread back; a caller that needs a different pause (a browser
//! that must reach its event loop, say) passes its own to [`mine_with_pause`].
//!
//! # Cancelling and replacing work
//! A [`MinerHandle`] is shared by whoever controls mining and every task or
//! thread that mines. [`MinerHandle::new_job`] starts a new *generation* and
//! returns a [`Job`] for it; starting another generation (a new tip arrived,
//! the template changed) or calling [`MinerHandle::cancel`] makes every older
//! `Job` stale. A miner checks its job after every round, so it stops within
//! one round. The handle also counts the hashes and rounds done by all its
//! jobs, which is what a caller samples to show a hash rate.
//!
//! # Mining threads (`std`)
//! With the `std` feature the handle is also the coordinator of mining
//! threads (jbc-node's and jbc-miner's): [`MinerHandle::publish`] makes a
//! [`Candidate`](crate::Candidate) the [`Assignment`] of a new generation,
//! [`MinerHandle::next_assignment`] blocks a thread until there is one newer
//! than the last it mined, [`MinerHandle::withdraw`] takes one whose block
//! was found away, and [`MinerHandle::stop`] ends them all. The candidate
//! itself comes from [`Candidate::from_rules`](crate::Candidate::from_rules),
//! the one builder of a block to mine from [`NextRules`](crate::NextRules).
//!
//! # Round size
//! A round cannot be interrupted, so it should be short (about 2 ms by
//! default) yet long enough that the checks and yields between rounds cost
//! nothing. `core` has no clock, so the caller passes one: a function that
//! returns microseconds from any fixed origin (`Instant` on a node,
//! `performance.now() * 1000` in a browser). A [`RoundPacer`] measures every
//! round with it and scales the next one towards
//! [`MinerConfig::target_round_us`]; a clock that never moves (`|| 0`) lets
//! rounds grow to [`MinerConfig::max_round`], and `min_round == max_round`
//! fixes the size.
//!
//! # Example
//! ```
//! use futures::executor::block_on;
//! use jbc_core::{Chain, Params, Status};
//! use jbc_core::miner::{mine, MineOutcome, MinerConfig, MinerHandle};
//!
//! let params = Params { network: "doc".into(), initial_difficulty: 8,
//!                       min_difficulty: 8, ..Params::default() };
//! let mut chain = Chain::new(params);
//! let now_ms = 1_700_000_000_000;
//! let candidate = chain.next_template("Mined in a doc test".into(), now_ms);
//!
//! let handle = MinerHandle::new();
//! let job = handle.new_job();
//! let start = std::time::Instant::now();
//! let clock_us = || start.elapsed().as_micros() as u64;
//! let outcome = block_on(mine(&candidate.template(), &job, &MinerConfig::default(), clock_us));
//!
//! let MineOutcome::Found { nonce, .. } = outcome else { panic!("{outcome:?}") };
//! assert!(handle.hashes() > nonce); // nonces 0..=nonce were tried
//! let accepted = chain.accept(candidate.block(nonce), now_ms).unwrap();
//! assert_eq!(accepted.status, Status::NewTip);
//! ```

use alloc::vec::Vec;
use core::future::Future;
use core::ops::RangeInclusive;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::hash::BlockHash;
use crate::pow::{RoundResult, Template, mine_round};

mod handle;
mod pacer;

pub use handle::{Assignment, Job, LANE_STRIDE, MinerHandle};
pub use pacer::RoundPacer;

/// The largest nonce a JavaScript number holds exactly (2^53 − 1): browser
/// miners use `0..=MAX_JS_NONCE` (PROTOCOL.md §3).
pub const MAX_JS_NONCE: u64 = (1 << 53) - 1;

/// What a miner found, or why it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MineOutcome {
    /// A nonce whose hash meets the template's difficulty: the first one of
    /// the nonces tried, in order. Reported even if the job went stale
    /// during that last round; check [`Job::is_current`] if that matters.
    Found {
        /// The winning nonce.
        nonce: u64,
        /// The header's hash with that nonce.
        hash: BlockHash,
    },
    /// The job went stale (cancelled or replaced); `next_nonce` is the first
    /// nonce not tried.
    Cancelled {
        /// Where mining this template would continue.
        next_nonce: u64,
    },
    /// Every nonce of the range was tried and none works.
    Exhausted,
}

/// How the miner walks the nonces and sizes its rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerConfig {
    /// The nonces to try, in order (default: all of them). Parallel miners
    /// take disjoint ranges, see [`split_nonces`]; browsers use
    /// `0..=`[`MAX_JS_NONCE`].
    pub nonces: RangeInclusive<u64>,
    /// How long a round should take, in microseconds (default 2000).
    pub target_round_us: u64,
    /// Nonces in the first round, before anything is measured (default 1024).
    pub first_round: u64,
    /// Fewest nonces per round (default 64).
    pub min_round: u64,
    /// Most nonces per round (default 2^24).
    pub max_round: u64,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            nonces: 0..=u64::MAX,
            target_round_us: 2_000,
            first_round: 1_024,
            min_round: 64,
            max_round: 1 << 24,
        }
    }
}

impl MinerConfig {
    /// The pacer for this configuration.
    pub fn pacer(&self) -> RoundPacer {
        RoundPacer::new(
            self.target_round_us,
            self.first_round,
            self.min_round,
            self.max_round,
        )
    }
}

/// Splits `nonces` into `parts` disjoint ranges of nearly equal size that
/// cover it, in order (fewer when the range has fewer nonces than `parts`;
/// none when `parts` is 0). Give one to each thread.
pub fn split_nonces(nonces: RangeInclusive<u64>, parts: u64) -> Vec<RangeInclusive<u64>> {
    let (start, last) = (*nonces.start(), *nonces.end());
    if parts == 0 || start > last {
        return Vec::new();
    }
    let count = u128::from(last - start) + 1;
    let parts = u128::from(parts).min(count);
    let mut ranges = Vec::new();
    let mut from = u128::from(start);
    for i in 0..parts {
        // Spread the remainder over the first parts.
        let len = count / parts + u128::from(i < count % parts);
        let to = from + len - 1;
        // Both ends lie within start..=last, so they fit in a u64.
        ranges.push(from as u64..=to as u64);
        from = to + 1;
    }
    ranges
}

/// A future that returns `Pending` once, after waking its own task, then
/// `Ready`: it hands the thread back to whatever executor polls it.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Yields to the executor once (see [`YieldNow`]).
pub fn yield_now() -> YieldNow {
    YieldNow::default()
}

/// Where a miner is in its range, shared by the async and blocking loops.
struct Rounds<'a> {
    template: &'a Template,
    job: &'a Job,
    next_nonce: u64,
    last_nonce: u64,
    pacer: RoundPacer,
}

impl<'a> Rounds<'a> {
    fn new(template: &'a Template, job: &'a Job, config: &MinerConfig) -> Rounds<'a> {
        Rounds {
            template,
            job,
            next_nonce: *config.nonces.start(),
            last_nonce: *config.nonces.end(),
            pacer: config.pacer(),
        }
    }

    /// Runs one round; `Some` when mining is over.
    fn step(&mut self, clock_us: &mut impl FnMut() -> u64) -> Option<MineOutcome> {
        if self.next_nonce > self.last_nonce {
            return Some(MineOutcome::Exhausted);
        }
        if !self.job.is_current() {
            return Some(self.cancelled());
        }
        let left = (self.last_nonce - self.next_nonce).saturating_add(1);
        let size = self.pacer.size().min(left);
        let started_us = clock_us();
        let result = mine_round(self.template, self.next_nonce, size);
        let hashes = match result {
            RoundResult::Found { nonce, .. } => nonce - self.next_nonce + 1,
            RoundResult::Exhausted { .. } => size,
        };
        self.job.record_round(hashes);
        let elapsed_us = clock_us().saturating_sub(started_us);
        match result {
            RoundResult::Found { nonce, hash } => Some(MineOutcome::Found { nonce, hash }),
            RoundResult::Exhausted { next_nonce } => {
                self.pacer.observe(size, elapsed_us);
                match next_nonce {
                    Some(next) if next <= self.last_nonce => {
                        self.next_nonce = next;
                        (!self.job.is_current()).then(|| self.cancelled())
                    }
                    _ => Some(MineOutcome::Exhausted),
                }
            }
        }
    }

    fn cancelled(&self) -> MineOutcome {
        MineOutcome::Cancelled {
            next_nonce: self.next_nonce,
        }
    }
}

/// Mines `template` over `config.nonces` until a nonce is found, the range
/// is used up, or `job` goes stale; yields to the executor after every round.
///
/// `clock_us` returns microseconds from any fixed origin; it is read before
/// and after each round to size the next one. The future is `Send` when the
/// clock is, so a tokio node can spawn it; in a browser it runs under
/// `wasm-bindgen-futures`.
pub async fn mine(
    template: &Template,
    job: &Job,
    config: &MinerConfig,
    clock_us: impl FnMut() -> u64,
) -> MineOutcome {
    mine_with_pause(template, job, config, clock_us, yield_now).await
}

/// [`mine`] with the caller's pause between rounds instead of [`yield_now`].
///
/// In a browser, a waker-based yield only reaches the microtask queue, so a
/// miner on the page's (or a worker's) only thread would keep timers and
/// messages waiting; pass a pause that resolves on a macrotask there (e.g. a
/// `setTimeout(0)` promise) every round or every few rounds.
pub async fn mine_with_pause<C, P, F>(
    template: &Template,
    job: &Job,
    config: &MinerConfig,
    mut clock_us: C,
    mut pause: P,
) -> MineOutcome
where
    C: FnMut() -> u64,
    P: FnMut() -> F,
    F: Future<Output = ()>,
{
    let mut rounds = Rounds::new(template, job, config);
    loop {
        if let Some(outcome) = rounds.step(&mut clock_us) {
            return outcome;
        }
        pause().await;
    }
}

/// The blocking twin of [`mine`], for a miner thread: the same rounds, the
/// same checks of `job` after each one, no executor. A node runs one per
/// core, each on its own range from [`split_nonces`], all with clones of
/// one [`Job`].
pub fn mine_blocking(
    template: &Template,
    job: &Job,
    config: &MinerConfig,
    mut clock_us: impl FnMut() -> u64,
) -> MineOutcome {
    let mut rounds = Rounds::new(template, job, config);
    loop {
        if let Some(outcome) = rounds.step(&mut clock_us) {
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_the_range_disjointly() {
        assert_eq!(split_nonces(0..=9, 3), [0..=3, 4..=6, 7..=9]);
        assert_eq!(split_nonces(5..=6, 4), [5..=5, 6..=6]);
        assert!(split_nonces(0..=9, 0).is_empty());
        let all = split_nonces(0..=u64::MAX, 3);
        assert_eq!(all.len(), 3);
        assert_eq!(*all[0].start(), 0);
        assert_eq!(*all[2].end(), u64::MAX);
        for pair in all.windows(2) {
            assert_eq!(*pair[0].end() + 1, *pair[1].start());
        }
    }
}
