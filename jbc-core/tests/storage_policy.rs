//! The storage policy of PROTOCOL.md §6.1, rule by rule with tiny params, and a
//! model-based property test of [`Chain::accept`] against a small reference
//! model of PROTOCOL.md §6 and §6.1.

use std::collections::{HashMap, HashSet};

use jbc_core::chain::ORPHAN_HORIZON;
use jbc_core::{
    Block, BlockError, BlockHash, Chain, LoadError, MAX_POOLED, Params, Status, genesis,
};
use proptest::prelude::*;

#[path = "common/mining.rs"]
mod mining;

use mining::{mine_on, snapshot};

const T0_MS: u64 = 1_700_000_000_000;
/// A clock late enough for every block these tests make.
const NOW_MS: u64 = T0_MS + 10_000_000_000;

/// Difficulty 6, at least 3, retargeting every 5 blocks (from height 10):
/// the pool floor on an honest chain is 4, one above the minimum.
fn params() -> Params {
    Params {
        network: "policy".into(),
        initial_difficulty: 6,
        min_difficulty: 3,
        max_difficulty: 20,
        target_block_ms: 1_000,
        retarget_window: 5,
    }
}

/// Mines a block with exactly these fields (no rules consulted).
fn mine_raw(index: u64, timestamp_ms: u64, data: &str, prev: BlockHash, difficulty: u32) -> Block {
    (0..)
        .map(|nonce| Block::new(index, timestamp_ms, data.into(), prev, difficulty, nonce))
        .find(|b| b.hash.leading_zero_bits() >= difficulty)
        .unwrap()
}

/// Mines `count` blocks on the best tip, 1 s apart (the target spacing, so
/// the difficulty stays put), and accepts them.
fn grow(chain: &mut Chain, count: u64, tag: &str) -> Vec<Block> {
    (0..count)
        .map(|i| {
            let timestamp_ms = chain.tip().timestamp_ms.max(T0_MS) + 1_000;
            let block = mine_on(chain, None, &format!("{tag} {i}"), timestamp_ms);
            let accepted = chain.accept(block.clone(), NOW_MS).unwrap();
            assert_eq!(accepted.status, Status::NewTip);
            block
        })
        .collect()
}

/// Mines a branch of `count` blocks on the stored block `parent` of `chain`,
/// `spacing_ms` apart, without offering them to `chain` (a scratch copy
/// stores them with `insert_trusted`, which has no storage policy).
fn branch(chain: &Chain, parent: BlockHash, count: u64, spacing_ms: u64, tag: &str) -> Vec<Block> {
    let mut scratch = chain.clone();
    let mut parent = parent;
    (0..count)
        .map(|i| {
            let timestamp_ms = scratch.block(&parent).unwrap().timestamp_ms.max(T0_MS) + spacing_ms;
            let block = mine_on(&scratch, Some(parent), &format!("{tag} {i}"), timestamp_ms);
            scratch.insert_trusted(block.clone()).unwrap();
            parent = block.hash;
            block
        })
        .collect()
}

/// A block of height `index` whose parent nobody has.
fn orphan(index: u64, difficulty: u32, tag: &str) -> Block {
    let parent = BlockHash::sha256(format!("missing parent of {tag}").as_bytes());
    mine_raw(index, T0_MS + index * 1_000, tag, parent, difficulty)
}

#[test]
fn a_light_block_is_ignored_pooled_and_not_stored() {
    let mut chain = Chain::new(params());
    grow(&mut chain, 3, "a");
    let light = branch(&chain, chain.genesis().hash, 1, 1_000, "b").remove(0);
    let before = snapshot(&chain);
    let accepted = chain.accept(light.clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::Ignored);
    assert!(accepted.stored.is_empty() && !accepted.tip_changed());
    assert!(!chain.contains(&light.hash));
    assert!(chain.is_pooled(&light.hash));
    let after = snapshot(&chain);
    assert_eq!(
        (after.0, after.1, after.2, after.4),
        (before.0, before.1, before.2, before.4)
    );
    assert_eq!(after.3, before.3 + 1);
    // Offered again: its pooled status, not `duplicate`, and nothing moves.
    assert_eq!(chain.accept(light, NOW_MS).unwrap().status, Status::Ignored);
    assert_eq!(snapshot(&chain), after);
}

#[test]
fn implausible_blocks_are_ignored_and_not_pooled() {
    let mut chain = Chain::new(params());
    grow(&mut chain, 25, "a");
    let floor = chain.pool_difficulty_floor();
    assert_eq!(floor, chain.next_rules().difficulty - 2);
    assert!(floor > params().min_difficulty);
    let height = chain.height();

    let cases = [
        (
            "below the floor",
            orphan(height + 1, floor - 1, "low"),
            Status::Ignored,
        ),
        (
            "at the floor",
            orphan(height + 1, floor, "floor"),
            Status::Orphan,
        ),
        (
            "beyond the horizon",
            orphan(height + ORPHAN_HORIZON + 1, floor, "far"),
            Status::Ignored,
        ),
        (
            "at the horizon",
            orphan(height + ORPHAN_HORIZON, floor, "edge"),
            Status::Orphan,
        ),
    ];
    for (what, block, expected) in cases {
        let before = snapshot(&chain);
        let accepted = chain.accept(block.clone(), NOW_MS).unwrap();
        assert_eq!(accepted.status, expected, "{what}");
        assert!(!chain.contains(&block.hash), "{what}");
        let pooled = expected == Status::Orphan;
        assert_eq!(chain.is_pooled(&block.hash), pooled, "{what}");
        let after = snapshot(&chain);
        assert_eq!(after.3, before.3 + usize::from(pooled), "{what}");
        assert_eq!(
            (after.0, after.2, after.4),
            (before.0, before.2, before.4),
            "{what}"
        );
    }

    // A valid but light branch whose timestamps walked its difficulty below
    // the floor: its blocks at the floor or above wait, the others do not.
    let cheap = branch(&chain, chain.genesis().hash, 22, 1_000_000, "cheap");
    assert!(cheap.iter().any(|b| b.difficulty < floor));
    for block in cheap {
        let before = snapshot(&chain);
        let accepted = chain.accept(block.clone(), NOW_MS).unwrap();
        assert_eq!(accepted.status, Status::Ignored, "height {}", block.index);
        assert!(!chain.contains(&block.hash));
        assert_eq!(chain.is_pooled(&block.hash), block.difficulty >= floor);
        let after = snapshot(&chain);
        assert_eq!((after.0, after.2, after.4), (before.0, before.2, before.4));
    }
}

#[test]
fn equal_work_is_stored_as_side_and_first_seen_stays_best() {
    let mut chain = Chain::new(params());
    let ours = grow(&mut chain, 2, "a");
    // A competitor of the tip.
    let rival = branch(&chain, ours[0].hash, 1, 2_000, "c").remove(0);
    let before = snapshot(&chain);
    let accepted = chain.accept(rival.clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::Side);
    assert_eq!(accepted.stored_hashes(), vec![rival.hash]);
    assert!(chain.contains(&rival.hash) && !chain.is_best(&rival.hash));
    assert_eq!(chain.chain_work(&rival.hash), Some(chain.best_work()));
    let after = snapshot(&chain);
    assert_eq!((after.0, after.1, after.4), (before.0, before.1, before.4));
    assert_eq!(after.2, before.2 + 1);

    // An equal-work branch from genesis: ignored, then stored whole as side.
    let other = branch(&chain, chain.genesis().hash, 2, 3_000, "b");
    assert_eq!(
        chain.accept(other[0].clone(), NOW_MS).unwrap().status,
        Status::Ignored
    );
    let accepted = chain.accept(other[1].clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::Side);
    assert_eq!(accepted.stored_hashes(), vec![other[0].hash, other[1].hash]);
    assert_eq!(chain.tip(), &ours[1]);
    assert_eq!(chain.pooled_count(), 0);
}

/// Every permutation of `0..n`, in lexicographic order.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut all = Vec::new();
    for first in 0..n {
        for rest in permutations(n - 1) {
            let mut p = vec![first];
            p.extend(rest.into_iter().map(|i| if i >= first { i + 1 } else { i }));
            all.push(p);
        }
    }
    all
}

#[test]
fn a_heavier_branch_offered_block_by_block_wins_in_any_order() {
    let mut start = Chain::new(params());
    let ours = grow(&mut start, 3, "a");
    let theirs = branch(&start, start.genesis().hash, 5, 1_000, "b");

    // Parents first: light, light, equal work (stored whole), heavier, tip.
    let mut chain = start.clone();
    let statuses: Vec<Status> = theirs
        .iter()
        .map(|b| chain.accept(b.clone(), NOW_MS).unwrap().status)
        .collect();
    use Status::*;
    assert_eq!(statuses, [Ignored, Ignored, Side, Reorg, NewTip]);
    assert_eq!(chain.tip(), &theirs[4]);

    for order in permutations(theirs.len()) {
        let mut chain = start.clone();
        let mut stored = Vec::new();
        let mut reorgs = 0;
        for &i in &order {
            let accepted = chain.accept(theirs[i].clone(), NOW_MS).unwrap();
            reorgs += usize::from(accepted.status == Status::Reorg);
            if accepted.status == Status::Reorg {
                let old: Vec<BlockHash> = ours.iter().rev().map(|b| b.hash).collect();
                assert_eq!(accepted.disconnected, old, "{order:?}");
            }
            stored.extend(accepted.stored_hashes());
        }
        assert_eq!(reorgs, 1, "{order:?}");
        // Every block of the branch stored exactly once, parents first.
        let expected: Vec<BlockHash> = theirs.iter().map(|b| b.hash).collect();
        assert_eq!(stored, expected, "{order:?}");
        assert_eq!(chain.tip(), &theirs[4], "{order:?}");
        assert_eq!(chain.pooled_count(), 0, "{order:?}");
        assert_eq!(chain.len(), start.len() + theirs.len(), "{order:?}");
    }
}

#[test]
fn blocks_disconnected_by_a_reorganisation_stay_stored() {
    let mut chain = Chain::new(params());
    let ours = grow(&mut chain, 3, "a");
    let theirs = branch(&chain, chain.genesis().hash, 4, 1_000, "b");
    for block in &theirs {
        chain.accept(block.clone(), NOW_MS).unwrap();
    }
    assert_eq!(chain.tip(), &theirs[3]);
    for block in &ours {
        assert_eq!(chain.block(&block.hash), Some(block));
        assert!(!chain.is_best(&block.hash));
    }
    // So the old branch can be extended again, and win back.
    let back = branch(&chain, ours[2].hash, 2, 1_000, "back");
    assert_eq!(
        chain.accept(back[0].clone(), NOW_MS).unwrap().status,
        Status::Side
    );
    let accepted = chain.accept(back[1].clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::Reorg);
    let mut connected: Vec<BlockHash> = ours.iter().map(|b| b.hash).collect();
    connected.extend(back.iter().map(|b| b.hash));
    assert_eq!(accepted.connected, connected);
    for block in &theirs {
        assert_eq!(chain.block(&block.hash), Some(block));
    }
}

#[test]
fn the_pool_never_holds_more_than_max_pooled() {
    let mut chain = Chain::new(params());
    grow(&mut chain, 2, "a");
    let genesis = chain.genesis().hash;
    let floor = chain.pool_difficulty_floor();
    let stored = chain.len();
    let mut offered = Vec::new();
    for i in 0..MAX_POOLED + 40 {
        // Alternately a light child of genesis (ignored) and an orphan.
        let block = if i % 2 == 0 {
            let rules = chain.next_rules_after(&genesis).unwrap();
            mine_raw(
                1,
                T0_MS + i as u64,
                &format!("light {i}"),
                genesis,
                rules.difficulty,
            )
        } else {
            orphan(3, floor, &format!("orphan {i}"))
        };
        let status = chain.accept(block.clone(), NOW_MS).unwrap().status;
        assert!(
            matches!(status, Status::Ignored | Status::Orphan),
            "{status:?}"
        );
        assert!(chain.pooled_count() <= MAX_POOLED);
        offered.push(block.hash);
    }
    assert_eq!(chain.pooled_count(), MAX_POOLED);
    assert_eq!(chain.len(), stored);
    // The oldest left first; the youngest MAX_POOLED are there.
    let (evicted, kept) = offered.split_at(offered.len() - MAX_POOLED);
    assert!(evicted.iter().all(|h| !chain.is_pooled(h)));
    assert!(kept.iter().all(|h| chain.is_pooled(h)));
}

#[test]
fn junk_orphans_at_min_difficulty_cannot_evict_a_real_orphan() {
    let p = params();
    let mut chain = Chain::new(p.clone());
    grow(&mut chain, 3, "a");
    assert!(chain.next_rules().difficulty >= p.min_difficulty + 3);
    let real = branch(&chain, chain.tip().hash, 2, 1_000, "real");
    assert_eq!(
        chain.accept(real[1].clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    // More junk than the pool holds: none of it gets in.
    for i in 0..MAX_POOLED + 100 {
        let junk = orphan(chain.height() + 2, p.min_difficulty, &format!("junk {i}"));
        let before = snapshot(&chain);
        assert_eq!(
            chain.accept(junk.clone(), NOW_MS).unwrap().status,
            Status::Ignored
        );
        assert!(!chain.is_pooled(&junk.hash));
        assert_eq!(snapshot(&chain), before);
    }
    assert!(chain.is_pooled(&real[1].hash));
    let accepted = chain.accept(real[0].clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::NewTip);
    assert_eq!(accepted.stored_hashes(), vec![real[0].hash, real[1].hash]);
    assert_eq!(chain.tip(), &real[1]);
}

#[test]
fn a_parent_whose_median_time_past_is_u64_max_has_no_valid_child() {
    let mut chain = Chain::new(params());
    // Timestamps this large fail the future rule, so load it as trusted.
    let top = mine_on(&chain, None, "top", u64::MAX);
    assert_eq!(top.timestamp_ms, u64::MAX);
    assert_eq!(
        chain.insert_trusted(top.clone()).unwrap().status,
        Status::NewTip
    );
    let next = chain.next_rules();
    assert_eq!(next.median_time_past_ms, u64::MAX);
    assert_eq!(next.min_timestamp_ms, u64::MAX);
    // The only timestamp not below the saturated minimum is u64::MAX itself,
    // which is not after the median.
    let child = mine_on(&chain, None, "child", u64::MAX);
    assert_eq!(child.timestamp_ms, u64::MAX);
    let before = snapshot(&chain);
    for now_ms in [NOW_MS, u64::MAX] {
        assert_eq!(
            chain.accept(child.clone(), now_ms),
            Err(BlockError::TimestampTooOld)
        );
    }
    assert_eq!(
        chain.insert_trusted(child.clone()),
        Err(LoadError::Invalid {
            hash: child.hash,
            reason: BlockError::TimestampTooOld
        })
    );
    assert_eq!(snapshot(&chain), before);
}

/// A block that `accept` rejects in its pooled branch must not evict the
/// oldest pooled block from a full pool (an attacker could otherwise flush
/// real orphans with invalid children of a pooled block).
#[test]
fn a_rejected_block_does_not_evict_a_pooled_one() {
    let mut chain = Chain::new(params());
    grow(&mut chain, 3, "a");
    let genesis = chain.genesis().hash;
    let floor = chain.pool_difficulty_floor();
    // The oldest pooled block: an unrelated orphan.
    let oldest = orphan(2, floor, "oldest");
    assert_eq!(
        chain.accept(oldest.clone(), NOW_MS).unwrap().status,
        Status::Orphan
    );
    // A light child of genesis (ignored, pooled), then fill the pool.
    let light = branch(&chain, genesis, 1, 1_000, "light").remove(0);
    assert_eq!(
        chain.accept(light.clone(), NOW_MS).unwrap().status,
        Status::Ignored
    );
    for i in 0..MAX_POOLED - 2 {
        chain
            .accept(orphan(2, floor, &format!("fill {i}")), NOW_MS)
            .unwrap();
    }
    assert_eq!(chain.pooled_count(), MAX_POOLED);
    // A child of the pooled block with the wrong difficulty (its own proof
    // of work is fine): invalid in its branch.
    let wrong = light.difficulty + 1;
    let bad = mine_raw(2, light.timestamp_ms + 1_000, "bad", light.hash, wrong);
    let before = snapshot(&chain);
    assert_eq!(chain.accept(bad, NOW_MS), Err(BlockError::BadDifficulty));
    assert_eq!(snapshot(&chain), before, "a rejection changes nothing");
    assert!(chain.is_pooled(&oldest.hash), "a rejection evicts nothing");
}

// ---------------------------------------------------------------------------
// Model-based test: random operations against a reference model.

/// Flat difficulty 5 (never retargets), at least 2: every valid block is at
/// the pool floor (3) or above, and junk at difficulty 2 is below it.
fn model_params() -> Params {
    Params {
        network: "model".into(),
        initial_difficulty: 5,
        min_difficulty: 2,
        max_difficulty: 20,
        target_block_ms: 1_000,
        retarget_window: 100_000,
    }
}

/// One thing that happens to a node.
#[derive(Debug, Clone)]
enum Op {
    /// An honest block on our best tip.
    Tip,
    /// A competitor of our best tip (same parent: equal work).
    Competitor,
    /// A block on an old block of our best chain (a light fork).
    Fork(u8),
    /// A block on any block made so far (stored, pooled or withheld).
    Grow(u16),
    /// A block X on any block made so far, withheld, and X's child offered.
    Orphan(u16),
    /// A withheld block offered at last.
    Release(u16),
    /// A block offered before, offered again.
    Again(u16),
    /// An implausible orphan: below the floor (true) or beyond the horizon.
    Junk(bool),
    /// An invalid child of our tip: bad hash, bad pow, bad difficulty,
    /// timestamp not after the median time past.
    Invalid(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Tip),
        1 => Just(Op::Competitor),
        2 => any::<u8>().prop_map(Op::Fork),
        3 => any::<u16>().prop_map(Op::Grow),
        2 => any::<u16>().prop_map(Op::Orphan),
        3 => any::<u16>().prop_map(Op::Release),
        1 => any::<u16>().prop_map(Op::Again),
        1 => any::<bool>().prop_map(Op::Junk),
        1 => (0u8..4).prop_map(Op::Invalid),
    ]
}

/// The reference model: every valid block made, with its parent and its
/// chain work (summed here, not asked of the chain), which were offered,
/// and the order the chain stored them in.
struct Model {
    parent: HashMap<BlockHash, BlockHash>,
    work: HashMap<BlockHash, u128>,
    offered: HashSet<BlockHash>,
    /// Every valid block offered, in order (for `Again`).
    offered_blocks: Vec<Block>,
    stored: Vec<BlockHash>,
    stored_set: HashSet<BlockHash>,
}

impl Model {
    fn new(genesis: &Block) -> Model {
        Model {
            parent: HashMap::new(),
            work: HashMap::from([(genesis.hash, 1u128 << genesis.difficulty)]),
            offered: HashSet::from([genesis.hash]),
            offered_blocks: Vec::new(),
            stored: vec![genesis.hash],
            stored_set: HashSet::from([genesis.hash]),
        }
    }

    fn add(&mut self, block: &Block) {
        let work = self.work[&block.prev_hash] + (1u128 << block.difficulty);
        self.parent.insert(block.hash, block.prev_hash);
        self.work.insert(block.hash, work);
    }

    /// PROTOCOL.md §6: the stored block with the most work, first stored on ties.
    fn best(&self) -> (BlockHash, u128) {
        let mut best = (self.stored[0], self.work[&self.stored[0]]);
        for hash in &self.stored {
            if self.work[hash] > best.1 {
                best = (*hash, self.work[hash]);
            }
        }
        best
    }

    /// Whether `ancestor` is `hash` or one of its ancestors.
    fn descends(&self, hash: BlockHash, ancestor: BlockHash) -> bool {
        let mut at = hash;
        loop {
            if at == ancestor {
                return true;
            }
            match self.parent.get(&at) {
                Some(p) => at = *p,
                None => return false,
            }
        }
    }

    /// The blocks whose whole ancestry has been offered. Nothing is evicted
    /// or dropped in cases this small and every valid block is plausible,
    /// so the best chain must reach the most work among them, and each of
    /// them with at least the best work must be stored.
    fn fully_offered(&self) -> Vec<BlockHash> {
        let mut memo: HashMap<BlockHash, bool> = HashMap::new();
        let mut complete_blocks = Vec::new();
        for hash in &self.offered {
            let mut path = Vec::new();
            let mut at = *hash;
            let complete = loop {
                if let Some(&known) = memo.get(&at) {
                    break known;
                }
                if !self.offered.contains(&at) {
                    break false;
                }
                path.push(at);
                match self.parent.get(&at) {
                    Some(p) => at = *p,
                    None => break true, // genesis
                }
            };
            for h in path {
                memo.insert(h, complete);
            }
            if complete {
                complete_blocks.push(*hash);
            }
        }
        complete_blocks
    }

    /// The status a pooled block answers when offered again.
    fn pooled_status(&self, hash: BlockHash) -> Status {
        let mut at = hash;
        while self.offered.contains(&at) && !self.stored_set.contains(&at) {
            at = self.parent[&at];
        }
        if self.stored_set.contains(&at) {
            Status::Ignored
        } else {
            Status::Orphan
        }
    }
}

/// The node under test, the universe of blocks made so far (stored with
/// `insert_trusted`, to mine on any of them) and the model.
struct Run {
    chain: Chain,
    universe: Chain,
    model: Model,
    withheld: Vec<Block>,
    made: u64,
}

impl Run {
    fn new() -> Run {
        let chain = Chain::new(model_params());
        let model = Model::new(&genesis(&model_params()));
        Run {
            universe: chain.clone(),
            chain,
            model,
            withheld: Vec::new(),
            made: 0,
        }
    }

    /// Mines a valid child of `parent` (a block of the universe).
    fn make(&mut self, parent: BlockHash) -> Block {
        self.made += 1;
        let block = mine_on(
            &self.universe,
            Some(parent),
            &format!("m{}", self.made),
            T0_MS + self.made * 1_000,
        );
        self.universe.insert_trusted(block.clone()).unwrap();
        self.model.add(&block);
        block
    }

    fn universe_block(&self, pick: u16) -> BlockHash {
        let all = self.universe.len();
        self.universe
            .all_blocks()
            .nth(usize::from(pick) % all)
            .unwrap()
            .hash
    }

    /// Offers a valid block and checks what the chain did against the model.
    fn offer_valid(&mut self, block: Block) -> Result<(), TestCaseError> {
        let (_, work_before) = self.model.best();
        let before = snapshot(&self.chain);
        let again = self.model.offered.contains(&block.hash);
        let expected_again = again.then(|| {
            if self.model.stored_set.contains(&block.hash) {
                Status::Duplicate
            } else {
                self.model.pooled_status(block.hash)
            }
        });
        let accepted = self.chain.accept(block.clone(), NOW_MS);
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => return Err(TestCaseError::fail(format!("valid block refused: {e}"))),
        };
        if let Some(expected) = expected_again {
            prop_assert_eq!(accepted.status, expected);
            prop_assert_eq!(snapshot(&self.chain), before);
            return Ok(());
        }
        self.model.offered.insert(block.hash);
        self.model.offered_blocks.push(block.clone());
        prop_assert_eq!(
            accepted.status.is_stored(),
            self.chain.contains(&block.hash)
        );
        let stored = accepted.stored_hashes();
        for hash in &stored {
            prop_assert!(!self.model.stored_set.contains(hash), "stored twice");
            prop_assert!(self.model.offered.contains(hash), "stored, never offered");
            prop_assert!(
                self.model.stored_set.contains(&self.model.parent[hash]),
                "stored before its parent"
            );
            // Stored only as part of a branch that has the best work.
            let reach = stored
                .iter()
                .filter(|d| self.model.descends(**d, *hash))
                .map(|d| self.model.work[d])
                .max()
                .unwrap();
            prop_assert!(reach >= work_before, "a light block was stored");
            self.model.stored.push(*hash);
            self.model.stored_set.insert(*hash);
        }
        Ok(())
    }

    /// Offers an invalid or implausible block: nothing may change.
    fn offer_bad(
        &mut self,
        block: Block,
        expected: Result<Status, BlockError>,
    ) -> Result<(), TestCaseError> {
        let before = snapshot(&self.chain);
        let result = self.chain.accept(block.clone(), NOW_MS).map(|a| a.status);
        prop_assert_eq!(result, expected);
        prop_assert_eq!(snapshot(&self.chain), before);
        prop_assert!(!self.chain.is_pooled(&block.hash));
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let tip = self.chain.tip();
        match *op {
            Op::Tip => {
                let block = self.make(tip.hash);
                self.offer_valid(block)?;
            }
            Op::Competitor => {
                let parent = if tip.index == 0 {
                    tip.hash
                } else {
                    tip.prev_hash
                };
                let block = self.make(parent);
                self.offer_valid(block)?;
            }
            Op::Fork(back) => {
                let height = tip
                    .index
                    .saturating_sub(1 + u64::from(back) % tip.index.max(1));
                let parent = self.chain.block_at(height).unwrap().hash;
                let block = self.make(parent);
                self.offer_valid(block)?;
            }
            Op::Grow(pick) => {
                let parent = self.universe_block(pick);
                let block = self.make(parent);
                self.offer_valid(block)?;
            }
            Op::Orphan(pick) => {
                let parent = self.universe_block(pick);
                let hidden = self.make(parent);
                let child = self.make(hidden.hash);
                self.withheld.push(hidden);
                self.offer_valid(child)?;
            }
            Op::Release(pick) => {
                if self.withheld.is_empty() {
                    return self.step(&Op::Tip);
                }
                let at = usize::from(pick) % self.withheld.len();
                let block = self.withheld.remove(at);
                self.offer_valid(block)?;
            }
            Op::Again(pick) => {
                if self.model.offered_blocks.is_empty() {
                    return self.step(&Op::Tip);
                }
                let at = usize::from(pick) % self.model.offered_blocks.len();
                let block = self.model.offered_blocks[at].clone();
                self.offer_valid(block)?;
            }
            Op::Junk(low) => {
                self.made += 1;
                let tag = format!("junk {}", self.made);
                let p = model_params();
                let block = if low {
                    orphan(tip.index + 1, p.min_difficulty, &tag)
                } else {
                    orphan(tip.index + ORPHAN_HORIZON + 1, p.initial_difficulty, &tag)
                };
                self.offer_bad(block, Ok(Status::Ignored))?;
            }
            Op::Invalid(kind) => {
                self.made += 1;
                let data = format!("bad {}", self.made);
                let next = self.chain.next_rules();
                let ts = next.min_timestamp_ms.max(T0_MS + self.made * 1_000);
                let (block, error) = match kind {
                    0 => {
                        let mut b =
                            mine_raw(next.index, ts, &data, next.prev_hash, next.difficulty);
                        b.hash.0[31] ^= 1;
                        (b, BlockError::BadHash)
                    }
                    1 => {
                        let b = (0..)
                            .map(|n| {
                                Block::new(
                                    next.index,
                                    ts,
                                    data.clone(),
                                    next.prev_hash,
                                    next.difficulty,
                                    n,
                                )
                            })
                            .find(|b| b.hash.leading_zero_bits() < b.difficulty)
                            .unwrap();
                        (b, BlockError::BadPow)
                    }
                    2 => {
                        let b =
                            mine_raw(next.index, ts, &data, next.prev_hash, next.difficulty + 1);
                        (b, BlockError::BadDifficulty)
                    }
                    _ => {
                        let old = next.median_time_past_ms;
                        let b = mine_raw(next.index, old, &data, next.prev_hash, next.difficulty);
                        (b, BlockError::TimestampTooOld)
                    }
                };
                self.offer_bad(block, Err(error))?;
            }
        }
        Ok(())
    }

    /// The properties that hold after every step.
    fn check(&self) -> Result<(), TestCaseError> {
        let (best, best_work) = self.model.best();
        prop_assert_eq!(self.chain.tip().hash, best);
        prop_assert_eq!(self.chain.best_work(), best_work);
        let complete = self.model.fully_offered();
        let most = complete.iter().map(|h| self.model.work[h]).max();
        prop_assert_eq!(Some(self.chain.best_work()), most);
        for hash in &complete {
            if self.model.work[hash] >= best_work {
                prop_assert!(
                    self.chain.contains(hash),
                    "a branch with the best work is not stored"
                );
            }
        }
        prop_assert!(self.chain.pooled_count() <= MAX_POOLED);
        let all: Vec<BlockHash> = self.chain.all_blocks().map(|b| b.hash).collect();
        prop_assert_eq!(&all, &self.model.stored);
        // The top of the tree from any height is every stored block there
        // or above (what `GET /tree` reads), also after pooled branches
        // were connected and partly put back.
        for from in 0..=self.chain.height() + 1 {
            let top: Vec<_> = self.chain.headers_from_height(from).collect();
            let want: Vec<_> = self
                .chain
                .all_headers()
                .filter(|h| h.index >= from)
                .collect();
            prop_assert_eq!(top, want, "from {}", from);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `Chain::accept` against the model of PROTOCOL.md §6 and §6.1: the best tip
    /// is the stored block of most work (first stored on ties); nothing is
    /// stored unless its branch reached the best work in the same call;
    /// every fully offered branch with more work wins; rejections and
    /// implausible blocks change nothing; a trusted replay of
    /// `all_blocks()` rebuilds the same best chain.
    #[test]
    fn accept_follows_the_storage_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op)?;
            run.check()?;
        }
        let mut replay = Chain::new(model_params());
        for block in run.chain.all_blocks() {
            replay.insert_trusted(block.clone()).unwrap();
        }
        prop_assert_eq!(replay.tip(), run.chain.tip());
        prop_assert_eq!(replay.best_work(), run.chain.best_work());
        prop_assert_eq!(replay.len(), run.chain.len());
    }
}
