//! The miner future and the blocking miner: results, cancellation within one
//! round, template replacement, adaptive round size, progress counters.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::executor::block_on;
use jbc_core::miner::{
    LANE_STRIDE, MAX_JS_NONCE, MineOutcome, MinerConfig, MinerHandle, mine, mine_blocking,
    mine_with_pause, split_nonces, yield_now,
};
use jbc_core::pow::{RoundResult, Template, mine_round};
use jbc_core::{BlockHash, Candidate, Chain, Header, Params, Status};

fn header(difficulty: u32, tag: u8) -> Header {
    Header {
        index: 1,
        timestamp_ms: 1_700_000_000_000,
        difficulty,
        prev_hash: BlockHash([tag; 32]),
        data_hash: BlockHash::sha256(&[tag]),
        nonce: 0,
    }
}

/// A difficulty no nonce in a test's range will meet.
const NEVER: u32 = 200;

/// Counts wake-ups, so a test can see the miner yield.
#[derive(Default)]
struct CountingWaker(AtomicU64);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn fixed_rounds(size: u64) -> MinerConfig {
    MinerConfig {
        first_round: size,
        min_round: size,
        max_round: size,
        ..MinerConfig::default()
    }
}

#[test]
fn mined_block_is_accepted_and_hashes_are_counted() {
    let params = Params {
        network: "minertest".into(),
        initial_difficulty: 10,
        min_difficulty: 10,
        ..Params::default()
    };
    let mut chain = Chain::new(params);
    let now_ms = 1_700_000_000_000;
    let candidate = chain.next_template("mined by tests/miner.rs".into(), now_ms);
    let template = candidate.template();
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = fixed_rounds(100);
    let outcome = block_on(mine(&template, &job, &config, || 0));
    let MineOutcome::Found { nonce, hash } = outcome else {
        panic!("difficulty 10 over all nonces must succeed: {outcome:?}");
    };
    // The miner tries nonces in order, so it finds the first valid one, the
    // same as one big round of the stepwise function.
    assert_eq!(
        mine_round(&template, 0, nonce + 1),
        RoundResult::Found { nonce, hash }
    );
    assert!(hash.leading_zero_bits() >= 10);
    assert_eq!(handle.hashes(), nonce + 1);
    assert_eq!(handle.rounds(), nonce / 100 + 1);
    let block = candidate.block(nonce);
    assert_eq!(block.hash, hash);
    assert_eq!(chain.accept(block, now_ms).unwrap().status, Status::NewTip);
}

#[test]
fn miner_yields_to_the_executor_after_every_round() {
    let template = Template::new(&header(NEVER, 1));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = MinerConfig {
        nonces: 0..=999,
        ..fixed_rounds(100)
    };
    let waker_state = Arc::new(CountingWaker::default());
    let waker = Waker::from(waker_state.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(mine(&template, &job, &config, || 0));
    let mut polls = 0;
    let outcome = loop {
        polls += 1;
        assert!(polls <= 11, "10 rounds of 100 must end by the 11th poll");
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(outcome) => break outcome,
            Poll::Pending => assert_eq!(handle.rounds(), polls),
        }
    };
    assert_eq!(outcome, MineOutcome::Exhausted);
    assert_eq!(handle.hashes(), 1_000);
    assert_eq!(handle.rounds(), 10);
    // One round per poll, and each Pending woke the task so an executor polls again.
    assert_eq!(polls, 10);
    assert_eq!(waker_state.0.load(Ordering::SeqCst), 9);
}

#[test]
fn cancel_between_polls_stops_without_another_round() {
    let template = Template::new(&header(NEVER, 2));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = fixed_rounds(50);
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(mine(&template, &job, &config, || 0));
    for _ in 0..3 {
        assert!(future.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(handle.rounds(), 3);
    handle.cancel();
    assert!(!job.is_current());
    assert_eq!(
        future.as_mut().poll(&mut cx),
        Poll::Ready(MineOutcome::Cancelled { next_nonce: 150 })
    );
    assert_eq!(handle.rounds(), 3);
    assert_eq!(handle.hashes(), 150);
}

#[test]
fn cancel_during_a_round_stops_within_that_round() {
    // The clock is read at the start and end of each round. Cancelling from
    // inside the clock at the start of round 5 is a cancel that arrives while
    // a round runs: that round may finish, no other may start.
    let template = Template::new(&header(NEVER, 3));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = fixed_rounds(64);
    let reads = Cell::new(0u64);
    let rounds_at_cancel = Cell::new(None);
    let clock = || {
        reads.set(reads.get() + 1);
        if reads.get() == 9 {
            rounds_at_cancel.set(Some(handle.rounds()));
            handle.cancel();
        }
        reads.get()
    };
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(mine(&template, &job, &config, clock));
    let mut polls = 0;
    let outcome = loop {
        polls += 1;
        assert!(polls < 100, "the miner did not stop after cancel");
        if let Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
            break outcome;
        }
    };
    let before = rounds_at_cancel.get().expect("the clock cancelled");
    assert_eq!(before, 4);
    let after = handle.rounds() - before;
    assert!(after <= 1, "{after} rounds ran after the cancel");
    assert_eq!(
        outcome,
        MineOutcome::Cancelled {
            next_nonce: handle.rounds() * 64
        }
    );
}

#[test]
fn blocking_miners_on_threads_stop_when_cancelled() {
    let template = Template::new(&header(NEVER, 4));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    // Bounded even if the cancel never came: 4 × 2.5 M nonces.
    let ranges = split_nonces(0..=9_999_999, 4);
    let workers: Vec<_> = ranges
        .into_iter()
        .map(|nonces| {
            let job = job.clone();
            let template = template.clone();
            std::thread::spawn(move || {
                let config = MinerConfig {
                    nonces,
                    ..fixed_rounds(256)
                };
                mine_blocking(&template, &job, &config, || 0)
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while handle.rounds() < 8 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    handle.cancel();
    let hashes_at_cancel = handle.hashes();
    for worker in workers {
        let outcome = worker.join().expect("miner thread panicked");
        assert!(
            matches!(outcome, MineOutcome::Cancelled { .. }),
            "{outcome:?}"
        );
    }
    // Each of the 4 threads finished at most the round it was in.
    assert!(handle.hashes() <= hashes_at_cancel + 4 * 256);
}

#[test]
fn a_new_job_replaces_the_old_template() {
    let handle = MinerHandle::new();
    let old_job = handle.new_job();
    let new_job = handle.new_job();
    assert!(!old_job.is_current());
    assert!(new_job.is_current());
    assert_eq!(new_job.generation(), old_job.generation() + 1);

    let old = Template::new(&header(NEVER, 5));
    let outcome = block_on(mine(&old, &old_job, &MinerConfig::default(), || 0));
    assert_eq!(outcome, MineOutcome::Cancelled { next_nonce: 0 });
    assert_eq!(handle.hashes(), 0);

    let new = Template::new(&header(6, 5));
    let outcome = block_on(mine(&new, &new_job, &MinerConfig::default(), || 0));
    assert!(matches!(outcome, MineOutcome::Found { .. }), "{outcome:?}");
}

#[test]
fn range_end_is_respected() {
    let template = Template::new(&header(NEVER, 6));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = MinerConfig {
        nonces: MAX_JS_NONCE - 249..=MAX_JS_NONCE,
        ..fixed_rounds(100)
    };
    assert_eq!(
        mine_blocking(&template, &job, &config, || 0),
        MineOutcome::Exhausted
    );
    assert_eq!(handle.hashes(), 250);
    assert_eq!(handle.rounds(), 3);
    // The very end of the nonce space does not overflow.
    let config = MinerConfig {
        nonces: u64::MAX - 9..=u64::MAX,
        ..fixed_rounds(4)
    };
    assert_eq!(
        mine_blocking(&template, &job, &config, || 0),
        MineOutcome::Exhausted
    );
    assert_eq!(handle.hashes(), 260);
    // An empty range does nothing.
    #[allow(clippy::reversed_empty_ranges)] // empty on purpose
    let config = MinerConfig {
        nonces: 5..=4,
        ..MinerConfig::default()
    };
    assert_eq!(
        mine_blocking(&template, &job, &config, || 0),
        MineOutcome::Exhausted
    );
    assert_eq!(handle.hashes(), 260);
}

#[test]
fn round_size_adapts_to_the_clock() {
    // A fake clock where every hash costs 4 µs: rounds of 2000 µs hold 500.
    let template = Template::new(&header(NEVER, 7));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = MinerConfig {
        nonces: 0..=19_999,
        target_round_us: 2_000,
        first_round: 10,
        min_round: 1,
        max_round: 1 << 20,
    };
    let sizes = std::cell::RefCell::new(Vec::new());
    let last = Cell::new(0u64);
    let clock = || {
        let hashes = handle.hashes();
        if hashes != last.get() {
            sizes.borrow_mut().push(hashes - last.get());
            last.set(hashes);
        }
        hashes * 4
    };
    let outcome = block_on(mine(&template, &job, &config, clock));
    assert_eq!(outcome, MineOutcome::Exhausted);
    let sizes = sizes.into_inner();
    // Starts small, doubles, then settles on the target.
    assert_eq!(&sizes[..4], &[10, 20, 40, 80]);
    let settled = &sizes[sizes.len() - 10..sizes.len() - 1];
    assert!(settled.iter().all(|&s| s == 500), "{sizes:?}");
}

#[test]
fn custom_pause_runs_between_rounds() {
    let template = Template::new(&header(NEVER, 8));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = MinerConfig {
        nonces: 0..=499,
        ..fixed_rounds(100)
    };
    let pauses = Cell::new(0);
    let pause = || {
        pauses.set(pauses.get() + 1);
        yield_now()
    };
    let outcome = block_on(mine_with_pause(&template, &job, &config, || 0, pause));
    assert_eq!(outcome, MineOutcome::Exhausted);
    assert_eq!(pauses.get(), 4);
}

#[test]
fn miner_future_is_send_with_a_send_clock() {
    fn assert_send<F: Future + Send>(_: &F) {}
    let template = Template::new(&header(NEVER, 9));
    let handle = MinerHandle::new();
    let job = handle.new_job();
    let config = MinerConfig::default();
    let start = std::time::Instant::now();
    let future = mine(&template, &job, &config, move || {
        start.elapsed().as_micros() as u64
    });
    assert_send(&future);
}

fn candidate(difficulty: u32, tag: u8) -> Candidate {
    Candidate {
        header: header(difficulty, tag),
        data: String::new(),
    }
}

#[test]
fn withdraw_only_takes_away_the_assignment_it_names() {
    let handle = MinerHandle::new();
    let first = handle.publish(candidate(NEVER, 1), 0);
    let second = handle.publish(candidate(NEVER, 2), 0);
    assert_eq!(second, first + 1);
    handle.withdraw(first);
    let current = handle
        .next_assignment(0)
        .expect("the second is still there");
    assert_eq!(current.generation(), second);
    assert!(current.job.is_current());
    handle.withdraw(second);
    assert!(handle.current().is_none());
    assert!(!current.job.is_current(), "a withdrawn assignment is stale");
    handle.stop();
    assert!(handle.next_assignment(0).is_none());
    assert!(handle.is_stopped());
}

#[test]
fn lanes_are_disjoint_and_whole() {
    let handle = MinerHandle::new();
    handle.publish(candidate(NEVER, 3), LANE_STRIDE - 1);
    let assignment = handle.current().expect("published");
    let lanes: Vec<_> = (0..256).map(|lane| assignment.lane(lane)).collect();
    for pair in lanes.windows(2) {
        assert_eq!(*pair[0].end() + 1, *pair[1].start());
    }
    // The first 255 are whole; the last one ends at the top of the nonce space.
    assert!(
        lanes[..255]
            .iter()
            .all(|l| l.end() - l.start() == LANE_STRIDE - 1)
    );
    assert_eq!(*lanes[255].end(), u64::MAX);
    assert_eq!(assignment.lane_start(1), 2 * LANE_STRIDE - 1);
}

/// Threads waiting in `next_assignment` all take a published assignment,
/// mine it on their lanes, drop it within a round when the next one comes,
/// and return on `stop`.
#[test]
fn threads_follow_the_published_assignments() {
    let handle = MinerHandle::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..3u64)
        .map(|lane| {
            let (handle, tx) = (handle.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while let Some(assignment) = handle.next_assignment(seen) {
                    seen = assignment.generation();
                    let config = MinerConfig {
                        nonces: assignment.lane(lane),
                        ..fixed_rounds(256)
                    };
                    let outcome =
                        mine_blocking(&assignment.template, &assignment.job, &config, || 0);
                    tx.send((lane, seen, outcome)).expect("the test listens");
                }
            })
        })
        .collect();
    drop(tx);
    let never = handle.publish(candidate(NEVER, 4), 0);
    // Difficulty 1: every lane finds a nonce in its first round.
    let easy = handle.publish(candidate(1, 5), 0);
    let mut found = Vec::new();
    while found.len() < 3 {
        let (lane, generation, outcome) = rx.recv().expect("a thread reports");
        if generation == never {
            assert!(
                matches!(outcome, MineOutcome::Cancelled { .. }),
                "{outcome:?}"
            );
            continue;
        }
        assert_eq!(generation, easy);
        let MineOutcome::Found { nonce, .. } = outcome else {
            panic!("{outcome:?}");
        };
        let assignment = handle.current().expect("still published");
        assert!(assignment.lane(lane).contains(&nonce));
        assert!(assignment.block(nonce).hash_is_correct());
        found.push(lane);
    }
    found.sort();
    assert_eq!(found, [0, 1, 2]);
    handle.stop();
    for thread in threads {
        thread.join().expect("a thread returns on stop");
    }
}
