//! Sync against in-memory peers, honest and lying, under `futures::executor`.
//! Every rejection checks the outcome and what our chain looks like after.

use std::cell::RefCell;
use std::future::{Future, ready};
use std::sync::{Mutex, OnceLock};

use futures::executor::block_on;
use jbc_core::chain::{ORPHAN_HORIZON, StoredHeader};
use jbc_core::miner::{MineOutcome, MinerConfig, MinerHandle, mine_blocking};
use jbc_core::peer::{MAX_PAGE, MaybeSend, PeerError, SubmitReply, TipInfo};
use jbc_core::sync::{
    Misbehaviour, PageStored, Request, Response, SyncConfig, SyncOutcome, SyncReport, SyncSession,
    SyncStats, SyncTarget, Tip, sync,
};
use jbc_core::{
    Accepted, Block, BlockError, BlockHash, Chain, MemoryPeer, Params, Peer, Status, genesis,
};

#[path = "common/mining.rs"]
mod mining;

use mining::snapshot;

const T0_MS: u64 = 1_700_000_000_000;

/// A network whose difficulty never retargets within these tests.
fn flat_params() -> Params {
    Params {
        network: "synctest".into(),
        initial_difficulty: 5,
        min_difficulty: 1,
        retarget_window: 100_000,
        target_block_ms: 1_000,
        ..Params::default()
    }
}

/// A network that retargets every 10 blocks (from height 20), between 1 and 10.
fn retarget_params() -> Params {
    Params {
        network: "retarget".into(),
        initial_difficulty: 5,
        min_difficulty: 1,
        max_difficulty: 10,
        retarget_window: 10,
        target_block_ms: 1_000,
    }
}

/// Mines `count` blocks on the best tip of `chain`, `spacing_ms` apart.
fn extend(chain: &mut Chain, count: u64, spacing_ms: u64, tag: &str) {
    let handle = MinerHandle::new();
    for _ in 0..count {
        let now_ms = chain.tip().timestamp_ms.max(T0_MS) + spacing_ms;
        let data = format!("{tag} {}", chain.height() + 1);
        let candidate = chain.next_template(data, now_ms);
        let job = handle.new_job();
        let outcome = mine_blocking(&candidate.template(), &job, &MinerConfig::default(), || 0);
        let MineOutcome::Found { nonce, .. } = outcome else {
            panic!("low difficulty must be mined: {outcome:?}");
        };
        let accepted = chain.accept(candidate.block(nonce), now_ms).unwrap();
        assert_eq!(accepted.status, Status::NewTip);
    }
}

fn chain_of(params: Params, count: u64, tag: &str) -> Chain {
    let mut chain = Chain::new(params);
    extend(&mut chain, count, 1_000, tag);
    chain
}

/// 1000 blocks on the flat network, mined once for all tests.
fn thousand() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| chain_of(flat_params(), 1_000, "peer"))
}

/// A clock late enough for every block of `chain`.
fn now_for(chain: &Chain) -> u64 {
    chain.tip().timestamp_ms
}

fn tip_hash(chain: &Chain) -> BlockHash {
    chain.tip().hash
}

type Tamper = Box<dyn Fn(u64, u32, &mut Vec<Block>)>;

/// A rewrite of one served block.
type Lie = fn(&Block) -> Block;

/// A peer serving `chain` that can lie: about its tip's work or params, or by
/// rewriting the pages it serves. It records every page request.
struct Liar {
    chain: Chain,
    tip_work: Option<u128>,
    tip_params: Option<Params>,
    tamper: Tamper,
    requests: RefCell<Vec<(u64, u32)>>,
}

impl Liar {
    fn new(chain: Chain, tamper: impl Fn(u64, u32, &mut Vec<Block>) + 'static) -> Liar {
        Liar {
            chain,
            tip_work: None,
            tip_params: None,
            tamper: Box::new(tamper),
            requests: RefCell::new(Vec::new()),
        }
    }

    fn honest(chain: Chain) -> Liar {
        Liar::new(chain, |_, _, _| {})
    }

    /// The page requests made (limit > 1), not the probes.
    fn page_requests(&self) -> Vec<(u64, u32)> {
        let requests = self.requests.borrow();
        requests.iter().copied().filter(|r| r.1 > 1).collect()
    }
}

impl Peer for Liar {
    fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
        let mut tip = TipInfo::of(&self.chain);
        if let Some(work) = self.tip_work {
            tip.work = work;
        }
        if let Some(params) = &self.tip_params {
            tip.params = params.clone();
        }
        ready(Ok(tip))
    }

    fn blocks(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
        self.requests.borrow_mut().push((from, limit));
        let mut page: Vec<Block> = self
            .chain
            .blocks_from(from, limit.min(MAX_PAGE) as usize)
            .cloned()
            .collect();
        (self.tamper)(from, limit, &mut page);
        ready(Ok(page))
    }

    fn block(
        &self,
        hash: BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
        ready(Ok(self.chain.block(&hash).cloned()))
    }

    fn submit(
        &self,
        _block: &Block,
    ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
        ready(Err(PeerError::Unreachable("read-only test peer".into())))
    }
}

/// Replaces the block at `height` in a page by `f(block)`.
fn tamper_at(height: u64, f: impl Fn(&Block) -> Block + 'static) -> Tamper {
    Box::new(move |from, _, page| {
        if let Some(block) = height
            .checked_sub(from)
            .and_then(|i| page.get_mut(i as usize))
        {
            *block = f(block);
        }
    })
}

/// Replaces the block at `height` in a page by `f(block)` and ends the page
/// there, so that the page still links (the rewritten block has a new hash).
fn tamper_and_cut_at(height: u64, f: impl Fn(&Block) -> Block + 'static) -> Tamper {
    Box::new(move |from, _, page| {
        if let Some(i) = height.checked_sub(from).filter(|i| *i < page.len() as u64) {
            page[i as usize] = f(&page[i as usize]);
            page.truncate(i as usize + 1);
        }
    })
}

/// A target that records what the chain said about each block.
struct Recorder<'a> {
    chain: &'a mut Chain,
    accepted: Vec<Accepted>,
}

/// Every question goes to the chain's own [`SyncTarget`] impl; pages are
/// stored block by block with [`Chain::accept_requested`], as that impl does,
/// keeping each answer.
impl SyncTarget for Recorder<'_> {
    fn params(&self) -> Params {
        SyncTarget::params(&*self.chain)
    }
    fn best(&self) -> Tip {
        SyncTarget::best(&*self.chain)
    }
    fn pool_difficulty_floor(&self) -> u32 {
        SyncTarget::pool_difficulty_floor(&*self.chain)
    }
    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        SyncTarget::height_of(&*self.chain, hash)
    }
    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        SyncTarget::chain_work(&*self.chain, hash)
    }
    fn stored_header(&self, hash: &BlockHash) -> Option<StoredHeader> {
        SyncTarget::stored_header(&*self.chain, hash)
    }
    fn timestamp_at(&self, of: &BlockHash, height: u64) -> Option<u64> {
        SyncTarget::timestamp_at(&*self.chain, of, height)
    }
    fn store_page(&mut self, page: Vec<Block>, now_ms: u64) -> PageStored {
        let accepted = &mut self.accepted;
        jbc_core::sync::store_page_in(self.chain, page, now_ms, |a| accepted.push(a))
    }
}

fn run(peer: &impl Peer, chain: &mut Chain, now_ms: u64, config: &SyncConfig) -> SyncReport {
    block_on(sync(peer, chain, now_ms, config))
}

/// Pages of `blocks` blocks of at most `page` each.
fn pages_for(blocks: u64, page: u32) -> u32 {
    blocks.div_ceil(u64::from(page)) as u32
}

#[test]
fn sync_from_genesis_to_1000_blocks() {
    let peer = MemoryPeer::new(thousand().clone());
    let mut ours = Chain::new(flat_params());
    let now_ms = now_for(thousand());
    let report = run(&peer, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.height(), 1_000);
    assert_eq!(ours.tip(), thousand().tip());
    assert_eq!(ours.best_work(), thousand().best_work());
    let stats = &report.stats;
    assert_eq!(stats.common_height, Some(0));
    // Ancestor search: height 0 (ours), height 1 (not ours).
    assert_eq!(stats.probes, 2);
    // It extends our tip: one pass, nothing checked ahead.
    assert_eq!(stats.pages, pages_for(1_000, MAX_PAGE));
    assert_eq!(stats.blocks_checked, 0);
    assert_eq!(stats.blocks_received, 1_000);
    assert_eq!(stats.blocks_stored, 1_000);
    assert_eq!(stats.blocks_disconnected, 0);
    assert!(stats.tip_changed);
    assert_eq!(stats.peer_height, Some(1_000));

    // A second sync has nothing to do and asks for no blocks.
    let again = run(&peer, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(again.outcome, SyncOutcome::UpToDate);
    assert_eq!((again.stats.probes, again.stats.pages), (0, 0));
}

#[test]
fn page_size_is_capped_and_a_1000_block_sync_completes_in_one_call() {
    let now_ms = now_for(thousand());
    // Pages are never asked larger than MAX_PAGE, whatever the config says.
    let peer = Liar::honest(thousand().clone());
    let mut ours = Chain::new(flat_params());
    let huge_pages = SyncConfig {
        page_blocks: 100_000,
    };
    let report = run(&peer, &mut ours, now_ms, &huge_pages);
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.tip(), thousand().tip());
    assert_eq!(
        peer.page_requests(),
        [(1, MAX_PAGE), (1 + u64::from(MAX_PAGE), 1_000 - MAX_PAGE)]
    );

    // Small pages: still one call, no cap on the number of pages or blocks.
    let peer = Liar::honest(thousand().clone());
    let mut ours = Chain::new(flat_params());
    let report = run(&peer, &mut ours, now_ms, &SyncConfig { page_blocks: 100 });
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.tip(), thousand().tip());
    assert_eq!(report.stats.pages, 10);
    assert_eq!(report.stats.blocks_stored, 1_000);
    let expected: Vec<(u64, u32)> = (0..10).map(|i| (1 + i * 100, 100)).collect();
    assert_eq!(peer.page_requests(), expected);

    // A zero page size is taken as one block a page, not as "nothing".
    let peer = Liar::honest(chain_of(flat_params(), 5, "peer"));
    let mut ours = Chain::new(flat_params());
    let report = run(
        &peer,
        &mut ours,
        now_for(&peer.chain),
        &SyncConfig { page_blocks: 0 },
    );
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(report.stats.pages, 5);
    assert_eq!(ours.tip(), peer.chain.tip());
}

#[test]
fn fork_needing_a_50_block_reorganisation() {
    let base = chain_of(flat_params(), 100, "base");
    let mut ours = base.clone();
    extend(&mut ours, 50, 1_000, "ours");
    let mut theirs = base;
    extend(&mut theirs, 51, 1_000, "theirs");
    let our_old_tip = tip_hash(&ours);
    let peer = MemoryPeer::new(theirs);
    let now_ms = now_for(&peer.chain());

    let mut recorder = Recorder {
        chain: &mut ours,
        accepted: Vec::new(),
    };
    let report = block_on(sync(&peer, &mut recorder, now_ms, &SyncConfig::default()));
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(report.stats.common_height, Some(100));
    assert_eq!(report.stats.blocks_disconnected, 50);
    // It forks below our tip: checked in a first pass, stored in a second.
    assert_eq!(report.stats.blocks_checked, 51);
    assert_eq!(report.stats.blocks_received, 2 * 51);
    assert_eq!(report.stats.blocks_stored, 51);
    assert_eq!(report.stats.pages, 2);
    // Found by galloping and bisecting, not by walking 50 heights.
    assert!(report.stats.probes <= 16, "{} probes", report.stats.probes);

    let reorgs: Vec<&Accepted> = recorder
        .accepted
        .iter()
        .filter(|a| a.status == Status::Reorg)
        .collect();
    assert_eq!(reorgs.len(), 1, "exactly one block switches the branch");
    assert_eq!(reorgs[0].disconnected.len(), 50);
    assert_eq!(reorgs[0].disconnected[0], our_old_tip);
    assert_eq!(reorgs[0].connected.len(), 51);
    // The 50 blocks before it were stored on a side branch.
    let sides = recorder
        .accepted
        .iter()
        .filter(|a| a.status == Status::Side)
        .count();
    assert_eq!(sides, 50);

    assert_eq!(ours.tip(), peer.chain().tip());
    assert_eq!(ours.best_work(), peer.chain().best_work());
    assert!(ours.contains(&our_old_tip) && !ours.is_best(&our_old_tip));
}

#[test]
fn longer_chain_with_less_work_changes_nothing() {
    // Ours: 60 fast blocks, difficulty climbing to 10. Theirs: 100 slow
    // blocks, difficulty falling to 1. Longer, but less work.
    let mut ours = Chain::new(retarget_params());
    extend(&mut ours, 60, 1, "ours");
    let mut theirs = Chain::new(retarget_params());
    extend(&mut theirs, 100, 5_000, "theirs");
    assert!(theirs.height() > ours.height());
    assert!(theirs.best_work() < ours.best_work());
    let before = snapshot(&ours);
    let now_ms = now_for(&theirs);

    // Honest about its work: we fetch nothing.
    let honest = Liar::honest(theirs.clone());
    let report = run(&honest, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, SyncOutcome::UpToDate);
    assert!(honest.requests.borrow().is_empty());
    assert_eq!(snapshot(&ours), before);

    // Claims more work than ours: the first pass checks its branch, finds
    // less work than claimed, reports the lie and stores nothing.
    let claimed = ours.best_work() + 1_000;
    let liar = Liar {
        tip_work: Some(claimed),
        ..Liar::honest(theirs.clone())
    };
    let report = run(&liar, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::WorkMismatch {
            claimed,
            actual: theirs.best_work()
        })
    );
    assert!(!report.stats.tip_changed);
    assert_eq!(report.stats.blocks_checked, 100);
    assert_eq!(report.stats.blocks_stored, 0);
    assert_eq!(snapshot(&ours), before);
    assert!(!ours.contains(&tip_hash(&theirs)));

    // Lying again gains nothing: the branch is checked again, and again
    // nothing is stored.
    let report = run(&liar, &mut ours, now_ms, &SyncConfig::default());
    assert!(matches!(
        report.misbehaviour(),
        Some(Misbehaviour::WorkMismatch { .. })
    ));
    assert_eq!(report.stats.common_height, Some(0));
    assert_eq!(report.stats.blocks_stored, 0);
    assert_eq!(snapshot(&ours), before);
}

#[test]
fn invalid_block_in_the_middle_keeps_only_the_valid_prefix() {
    let ours_base = chain_of(flat_params(), 50, "base");
    let mut theirs = ours_base.clone();
    extend(&mut theirs, 150, 1_000, "theirs");
    let now_ms = now_for(&theirs);
    // Block 120 claims the wrong difficulty (and carries a correct hash for it).
    let bad = |b: &Block| {
        Block::new(
            b.index,
            b.timestamp_ms,
            b.data.clone(),
            b.prev_hash,
            b.difficulty + 1,
            b.nonce,
        )
    };
    let bad_hash = bad(theirs.block_at(120).unwrap()).hash;
    let liar = Liar {
        tamper: tamper_and_cut_at(120, bad),
        ..Liar::honest(theirs.clone())
    };

    // The prefix before the bad block has more work than ours: it is kept.
    let mut ours = ours_base.clone();
    let report = run(&liar, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::InvalidBlock {
            height: 120,
            hash: bad_hash,
            reason: BlockError::BadDifficulty
        })
    );
    assert_eq!(ours.height(), 119);
    assert_eq!(ours.tip(), theirs.block_at(119).unwrap());
    assert!(!ours.contains(&bad_hash));
    assert_eq!(ours.pooled_count(), 0);

    // A branch forking below our tip is checked whole before anything is
    // stored: its valid prefix is not stored either.
    let mut ours = chain_of(flat_params(), 100, "ours");
    let before = snapshot(&ours);
    let mut long = Chain::new(flat_params());
    extend(&mut long, 150, 1_000, "theirs");
    let liar = Liar {
        tamper: tamper_and_cut_at(60, bad),
        ..Liar::honest(long.clone())
    };
    let report = run(&liar, &mut ours, now_for(&long), &SyncConfig::default());
    assert!(matches!(
        report.misbehaviour(),
        Some(Misbehaviour::InvalidBlock { height: 60, .. })
    ));
    assert_eq!(snapshot(&ours), before);
    assert_eq!(report.stats.blocks_stored, 0);
    assert!(!ours.contains(&long.block_at(59).unwrap().hash));
    assert!(!ours.contains(&long.block_at(60).unwrap().hash));
}

#[test]
fn another_network_is_refused() {
    let mut ours = chain_of(flat_params(), 30, "ours");
    let before = snapshot(&ours);
    let other_params = Params {
        network: "elsewhere".into(),
        ..flat_params()
    };
    let other = chain_of(other_params.clone(), 40, "other");
    let now_ms = now_for(&other);
    let expected = SyncOutcome::OtherNetwork {
        ours: genesis(&flat_params()).hash,
        theirs: genesis(&other_params).hash,
    };

    // Its params say so: refused before any block is asked for.
    let peer = Liar::honest(other.clone());
    let report = run(&peer, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, expected);
    assert!(peer.requests.borrow().is_empty());
    assert_eq!(snapshot(&ours), before);

    // It claims our params (and more work), but its height 0 is not our genesis.
    let pretender = Liar {
        tip_params: Some(flat_params()),
        tip_work: Some(u128::MAX),
        ..Liar::honest(other.clone())
    };
    let report = run(&pretender, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, expected);
    assert_eq!(report.stats.pages, 0);
    assert_eq!(snapshot(&ours), before);

    let mut empty = Chain::new(flat_params());
    let report = run(&pretender, &mut empty, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, expected);
    assert_eq!(report.stats.probes, 1);
    assert_eq!(empty.height(), 0);
}

#[test]
fn a_block_whose_hash_field_lies_is_refused() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 30, 1_000, "theirs");
    let now_ms = now_for(&theirs);
    let lies: [(&str, Lie); 2] = [
        ("hash of nothing", |b| Block {
            hash: BlockHash([0; 32]),
            ..b.clone()
        }),
        ("data changed, old hash kept", |b| Block {
            data: "rewritten".into(),
            ..b.clone()
        }),
    ];
    for (what, lie) in lies {
        let mut ours = base.clone();
        let liar = Liar {
            tamper: tamper_and_cut_at(25, lie),
            ..Liar::honest(theirs.clone())
        };
        let report = run(&liar, &mut ours, now_ms, &SyncConfig::default());
        match report.misbehaviour() {
            Some(Misbehaviour::InvalidBlock {
                height: 25,
                reason: BlockError::BadHash,
                ..
            }) => {}
            other => panic!("{what}: {other:?}"),
        }
        assert_eq!(ours.tip(), theirs.block_at(24).unwrap(), "{what}");
        assert!(!ours.contains(&theirs.block_at(25).unwrap().hash), "{what}");
        assert_eq!(ours.pooled_count(), 0);
    }
}

#[test]
fn a_page_longer_than_asked_is_refused_whole() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 30, 1_000, "theirs");
    let now_ms = now_for(&theirs);

    // Pages get one block too many (a copy of the last one).
    let padded = Liar::new(theirs.clone(), |_, limit, page| {
        if let Some(last) = page.last().cloned().filter(|_| limit > 1) {
            page.push(last);
        }
    });
    let mut ours = base.clone();
    let before = snapshot(&ours);
    let report = run(&padded, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::TooManyBlocks {
            from: 11,
            asked: 30,
            got: 31
        })
    );
    assert_eq!(snapshot(&ours), before);
    assert_eq!(ours.len(), base.len());

    // Probes too: asked for one block, got two.
    let chatty = Liar::new(theirs.clone(), |from, limit, page| {
        if limit == 1 {
            page.push(page.first().cloned().unwrap_or_else(|| panic!("{from}")));
        }
    });
    let report = run(&chatty, &mut ours, now_ms, &SyncConfig::default());
    assert!(matches!(
        report.misbehaviour(),
        Some(Misbehaviour::TooManyBlocks {
            asked: 1,
            got: 2,
            ..
        })
    ));
    assert_eq!(snapshot(&ours), before);
}

#[test]
fn gaps_and_broken_links_are_refused() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 30, 1_000, "theirs");
    let mut elsewhere = base.clone();
    extend(&mut elsewhere, 30, 1_000, "elsewhere");
    let now_ms = now_for(&theirs).max(now_for(&elsewhere));

    // Block 20 is missing from the page.
    let gap = Liar::new(theirs.clone(), |from, limit, page| {
        if limit > 1 && from <= 20 {
            page.remove((20 - from) as usize);
        }
    });
    let mut ours = base.clone();
    let before = snapshot(&ours);
    let report = run(&gap, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::WrongHeight {
            expected: 20,
            got: 21
        })
    );
    // A page's shape is checked before any of it is stored.
    assert_eq!(snapshot(&ours), before);

    // Block 20 is a valid block of another branch: right height, wrong parent.
    // Accepting it would have sent it to the orphan pool; sync refuses it.
    let foreign = elsewhere.block_at(20).unwrap().clone();
    let spliced = Liar {
        tamper: tamper_at(20, move |_| foreign.clone()),
        ..Liar::honest(theirs.clone())
    };
    let mut ours = base.clone();
    let report = run(&spliced, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::BrokenLink { height: 20 })
    );
    assert_eq!(snapshot(&ours), before);
    assert!(!ours.contains(&elsewhere.block_at(20).unwrap().hash));
}

#[test]
fn a_peer_that_ends_early_or_fails_stops_the_sync() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 30, 1_000, "theirs");
    let now_ms = now_for(&theirs);

    // It claims height 40 but serves nothing above 30.
    let short = Liar::new(theirs.clone(), |_, _, page| page.retain(|b| b.index <= 30));
    let mut ours = base.clone();
    let config = SyncConfig { page_blocks: 10 };
    let report = run(&short, &mut ours, now_ms, &config);
    assert_eq!(report.outcome, SyncOutcome::PeerChanged);
    assert_eq!(report.misbehaviour(), None);
    assert_eq!(ours.tip(), theirs.block_at(30).unwrap());

    // Its connection fails on the pages: the sync stops with that error.
    struct Broken(Liar);
    impl Peer for Broken {
        fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
            self.0.tip()
        }
        fn blocks(
            &self,
            from: u64,
            limit: u32,
        ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
            let answer = if limit > 1 {
                Err(PeerError::Unreachable("timed out".into()))
            } else {
                Ok(self.0.chain.blocks_from(from, 1).cloned().collect())
            };
            ready(answer)
        }
        fn block(
            &self,
            hash: BlockHash,
        ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
            self.0.block(hash)
        }
        fn submit(
            &self,
            block: &Block,
        ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
            self.0.submit(block)
        }
    }
    let broken = Broken(Liar::honest(theirs.clone()));
    let mut ours = base.clone();
    let before = snapshot(&ours);
    let report = run(&broken, &mut ours, now_ms, &config);
    assert_eq!(
        report.outcome,
        SyncOutcome::PeerFailed(PeerError::Unreachable("timed out".into()))
    );
    assert_eq!(snapshot(&ours), before);
}

#[test]
fn a_block_from_the_future_stops_without_blame() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    // One block a minute: at our clock, the third one is more than 120 s ahead.
    extend(&mut theirs, 10, 60_000, "theirs");
    let now_ms = now_for(&base);
    let peer = MemoryPeer::new(theirs.clone());
    let mut ours = base.clone();
    let report = run(&peer, &mut ours, now_ms, &SyncConfig::default());
    let third = theirs.block_at(13).unwrap();
    assert_eq!(
        report.outcome,
        SyncOutcome::FutureBlock {
            height: 13,
            hash: third.hash
        }
    );
    assert_eq!(report.misbehaviour(), None);
    assert_eq!(ours.tip(), theirs.block_at(12).unwrap());

    // Later, the same peer syncs fine.
    let report = run(&peer, &mut ours, now_for(&theirs), &SyncConfig::default());
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.tip(), theirs.tip());
}

#[test]
fn memory_peer_submit_answers_like_a_node() {
    let mut ours = chain_of(flat_params(), 3, "ours");
    let peer = MemoryPeer::new(ours.clone());
    extend(&mut ours, 1, 1_000, "next");
    let block = ours.block(&ours.tip().hash).unwrap().clone();
    let reply = block_on(peer.submit(&block)).unwrap();
    assert_eq!(
        (reply.status.as_str(), reply.height, reply.hash),
        ("accepted", 4, block.hash)
    );
    let reply = block_on(peer.submit(&block)).unwrap();
    assert_eq!(reply.status, "duplicate");
    let forged = Block {
        nonce: block.nonce + 1,
        ..block.clone()
    };
    match block_on(peer.submit(&forged)) {
        Err(PeerError::Api { status: 422, body }) => assert_eq!(body.error, "bad_hash"),
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.chain().tip(), &block);
    assert_eq!(block_on(peer.block(block.hash)).unwrap(), Some(block));
    assert_eq!(block_on(peer.block(BlockHash([9; 32]))).unwrap(), None);
}

#[test]
fn sync_future_is_send_for_a_sync_peer() {
    // What a tokio node needs: a `Sync` peer makes the sync future `Send`.
    struct Shared(Mutex<Chain>);
    impl Peer for Shared {
        fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
            ready(Ok(TipInfo::of(&self.0.lock().unwrap())))
        }
        fn blocks(
            &self,
            from: u64,
            limit: u32,
        ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
            let chain = self.0.lock().unwrap();
            ready(Ok(chain
                .blocks_from(from, limit as usize)
                .cloned()
                .collect()))
        }
        fn block(
            &self,
            hash: BlockHash,
        ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
            ready(Ok(self.0.lock().unwrap().block(&hash).cloned()))
        }
        fn submit(
            &self,
            _block: &Block,
        ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
            ready(Err(PeerError::Unreachable("read-only".into())))
        }
    }
    fn assert_send<F: Future + Send>(future: F) -> F {
        future
    }
    let peer = Shared(Mutex::new(chain_of(flat_params(), 5, "peer")));
    let mut ours = Chain::new(flat_params());
    let now_ms = T0_MS + 10_000;
    let report = block_on(assert_send(sync(
        &peer,
        &mut ours,
        now_ms,
        &SyncConfig::default(),
    )));
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.height(), 5);
}

/// A network that retargets every 5 blocks (from height 10), between 1 and
/// 16: spread-out timestamps walk its difficulty down one bit a window.
fn walk_params() -> Params {
    Params {
        network: "walk".into(),
        initial_difficulty: 8,
        min_difficulty: 1,
        max_difficulty: 16,
        retarget_window: 5,
        target_block_ms: 1_000,
    }
}

/// The first `count` blocks of `chain`'s best chain, in a chain of their own.
fn prefix(chain: &Chain, count: u64) -> Chain {
    let mut short = Chain::new(chain.params().clone());
    for block in chain.blocks_from(1, count as usize) {
        short.insert_trusted(block.clone()).unwrap();
    }
    short
}

#[test]
fn a_lighter_branch_claiming_more_work_is_checked_and_not_stored() {
    let base = chain_of(flat_params(), 50, "base");
    let mut ours = base.clone();
    extend(&mut ours, 20, 1_000, "ours");
    let mut theirs = base;
    extend(&mut theirs, 10, 1_000, "theirs");
    assert!(theirs.best_work() < ours.best_work());
    let claimed = ours.best_work() + 1;
    let liar = Liar {
        tip_work: Some(claimed),
        ..Liar::honest(theirs.clone())
    };
    let before = snapshot(&ours);
    let report = run(&liar, &mut ours, now_for(&theirs), &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::WorkMismatch {
            claimed,
            actual: theirs.best_work()
        })
    );
    // Before PROTOCOL.md §6.1 this branch was stored as a side branch; now the
    // first pass checks it and writes nothing.
    assert_eq!(snapshot(&ours), before);
    assert_eq!(report.stats.common_height, Some(50));
    assert_eq!(report.stats.blocks_checked, 10);
    assert_eq!(report.stats.blocks_stored, 0);
    assert!(!report.stats.tip_changed);
    for block in theirs.blocks_from(51, 10) {
        assert!(!ours.contains(&block.hash) && !ours.is_pooled(&block.hash));
    }
}

#[test]
fn a_cheap_genesis_fork_is_refused_after_a_bounded_number_of_blocks() {
    let params = walk_params();
    let ours = chain_of(params.clone(), 40, "ours");
    // Honest spacing: the difficulty stays where it started.
    assert_eq!(ours.next_rules().difficulty, params.initial_difficulty);
    // The attacker spreads its timestamps 1000 s apart from genesis on:
    // the difficulty falls to the minimum, then blocks cost next to nothing.
    let mut attacker = Chain::new(params.clone());
    extend(&mut attacker, 600, 1_000_000, "cheap");
    assert_eq!(attacker.tip().difficulty, params.min_difficulty);
    let now_ms = now_for(&attacker);

    // The budget of PROTOCOL.md §6.1 / the sync docs: our blocks above the fork,
    // plus the orphan horizon, plus the branch's work in blocks at our pool
    // floor. The first block over it ends the sync.
    let slack = ours.height() + ORPHAN_HORIZON;
    let unit = 1u128 << ours.pool_difficulty_floor();
    let mut branch_work = 0u128;
    let mut refused_at = None;
    for block in attacker.blocks_from(1, usize::MAX) {
        branch_work += 1u128 << block.difficulty;
        let budget = slack + u64::try_from(branch_work / unit).unwrap();
        if block.index > budget {
            refused_at = Some(block.index);
            break;
        }
    }
    let refused_at = refused_at.expect("the attacker's branch is longer than its budget");

    let mut target = ours.clone();
    let before = snapshot(&target);
    let claimed = ours.best_work() * 1_000_000;
    let liar = Liar {
        tip_work: Some(claimed),
        ..Liar::honest(attacker.clone())
    };
    let report = run(&liar, &mut target, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::TooLight {
            height: refused_at,
            blocks: refused_at
        })
    );
    assert_eq!(report.stats.common_height, Some(0));
    assert_eq!(report.stats.blocks_checked, refused_at);
    assert!(refused_at < attacker.height());
    assert_eq!(report.stats.blocks_stored, 0);
    assert_eq!(snapshot(&target), before);

    // A shorter cheap branch, within the budget, is caught by its work.
    let short = prefix(&attacker, refused_at - 1);
    let liar = Liar {
        tip_work: Some(claimed),
        ..Liar::honest(short.clone())
    };
    let report = run(&liar, &mut target, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::WorkMismatch {
            claimed,
            actual: short.best_work()
        })
    );
    assert_eq!(report.stats.blocks_checked, refused_at - 1);
    assert_eq!(snapshot(&target), before);
}

#[test]
fn a_heavier_fork_250_blocks_below_our_tip_wins_in_two_passes() {
    let base = chain_of(flat_params(), 20, "base");
    let mut ours = base.clone();
    extend(&mut ours, 250, 1_000, "ours");
    let mut theirs = base;
    extend(&mut theirs, 251, 1_000, "theirs");
    let our_old_tip = tip_hash(&ours);
    let peer = Liar::honest(theirs.clone());
    let now_ms = now_for(&theirs);
    let config = SyncConfig { page_blocks: 100 };

    let mut recorder = Recorder {
        chain: &mut ours,
        accepted: Vec::new(),
    };
    let report = block_on(sync(&peer, &mut recorder, now_ms, &config));
    assert_eq!(report.outcome, SyncOutcome::Synced);
    let stats = &report.stats;
    assert_eq!(stats.common_height, Some(20));
    assert_eq!(stats.pages, 2 * pages_for(251, 100));
    assert_eq!(stats.blocks_checked, 251);
    assert_eq!(stats.blocks_received, 2 * 251);
    assert_eq!(stats.blocks_stored, 251);
    assert_eq!(stats.blocks_disconnected, 250);
    // Both passes asked for the same pages.
    let one_pass: Vec<(u64, u32)> = vec![(21, 100), (121, 100), (221, 51)];
    let both: Vec<(u64, u32)> = one_pass.iter().chain(&one_pass).copied().collect();
    assert_eq!(peer.page_requests(), both);
    let reorgs = recorder
        .accepted
        .iter()
        .filter(|a| a.status == Status::Reorg)
        .count();
    assert_eq!(reorgs, 1);
    assert_eq!(ours.tip(), theirs.tip());
    assert_eq!(ours.best_work(), theirs.best_work());
    assert!(ours.contains(&our_old_tip) && !ours.is_best(&our_old_tip));
}

#[test]
fn a_20000_block_heavier_fork_wins_in_one_sync_call() {
    let mut ours = chain_of(cheap_params(), 100, "ours");
    let theirs = chain_of(cheap_params(), 20_000, "long");
    let peer = MemoryPeer::new(theirs);
    let now_ms = now_for(&peer.chain());
    let report = run(&peer, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(report.stats.common_height, Some(0));
    assert_eq!(report.stats.blocks_checked, 20_000);
    assert_eq!(report.stats.blocks_stored, 20_000);
    assert_eq!(report.stats.blocks_disconnected, 100);
    assert_eq!(report.stats.pages, 2 * pages_for(20_000, MAX_PAGE));
    assert_eq!(ours.tip(), peer.chain().tip());
    assert_eq!(ours.len(), 1 + 100 + 20_000);
}

/// A peer whose best chain is `first` until the first pass is over: from its
/// second page request at the fork it serves `second` instead.
struct Switcher {
    first: Chain,
    second: Chain,
    fork_height: u64,
    passes: std::cell::Cell<u32>,
}

impl Peer for Switcher {
    fn tip(&self) -> impl Future<Output = Result<TipInfo, PeerError>> + MaybeSend {
        ready(Ok(TipInfo::of(&self.first)))
    }

    fn blocks(
        &self,
        from: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Block>, PeerError>> + MaybeSend {
        if limit > 1 && from == self.fork_height + 1 {
            self.passes.set(self.passes.get() + 1);
        }
        let chain = if self.passes.get() >= 2 {
            &self.second
        } else {
            &self.first
        };
        ready(Ok(chain
            .blocks_from(from, limit as usize)
            .cloned()
            .collect()))
    }

    fn block(
        &self,
        hash: BlockHash,
    ) -> impl Future<Output = Result<Option<Block>, PeerError>> + MaybeSend {
        ready(Ok(self.first.block(&hash).cloned()))
    }

    fn submit(
        &self,
        _block: &Block,
    ) -> impl Future<Output = Result<SubmitReply, PeerError>> + MaybeSend {
        ready(Err(PeerError::Unreachable("read-only test peer".into())))
    }
}

#[test]
fn a_second_pass_that_differs_from_the_first_is_refused() {
    let base = chain_of(flat_params(), 20, "base");
    let mut ours = base.clone();
    extend(&mut ours, 15, 1_000, "ours");
    let config = SyncConfig { page_blocks: 10 };

    // The whole branch differs on the second fetch: nothing is stored.
    let mut first = base.clone();
    extend(&mut first, 30, 1_000, "first");
    let mut second = base.clone();
    extend(&mut second, 30, 1_000, "second");
    let now_ms = now_for(&first).max(now_for(&second));
    let peer = Switcher {
        first: first.clone(),
        second: second.clone(),
        fork_height: 20,
        passes: Default::default(),
    };
    let mut target = ours.clone();
    let before = snapshot(&target);
    let report = run(&peer, &mut target, now_ms, &config);
    assert_eq!(report.outcome, SyncOutcome::PeerChanged);
    assert_eq!(peer.passes.get(), 2);
    assert_eq!(report.stats.blocks_checked, 30);
    assert_eq!(report.stats.blocks_stored, 0);
    assert_eq!(snapshot(&target), before);

    // It differs from its second page on: the first page (the same blocks
    // as in pass one) is stored, no block of the differing page is.
    let mut shared = base.clone();
    extend(&mut shared, 10, 1_000, "first");
    let mut first = shared.clone();
    extend(&mut first, 20, 1_000, "first");
    let mut second = shared;
    extend(&mut second, 20, 1_000, "second");
    let now_ms = now_for(&first).max(now_for(&second));
    let peer = Switcher {
        first: first.clone(),
        second: second.clone(),
        fork_height: 20,
        passes: Default::default(),
    };
    let mut target = ours.clone();
    let before = snapshot(&target);
    let report = run(&peer, &mut target, now_ms, &config);
    assert_eq!(report.outcome, SyncOutcome::PeerChanged);
    assert_eq!(report.stats.blocks_stored, 10);
    assert!(!report.stats.tip_changed);
    let after = snapshot(&target);
    assert_eq!(
        (after.0, after.1, after.3, after.4),
        (before.0, before.1, before.3, before.4)
    );
    assert_eq!(after.2, before.2 + 10);
    for block in first.blocks_from(21, 10) {
        assert!(target.contains(&block.hash));
    }
    for block in first.blocks_from(31, 20).chain(second.blocks_from(31, 20)) {
        assert!(!target.contains(&block.hash) && !target.is_pooled(&block.hash));
    }
}

#[test]
fn unlinked_pages_of_a_forking_branch_change_nothing() {
    let base = chain_of(flat_params(), 10, "base");
    let mut ours = base.clone();
    extend(&mut ours, 5, 1_000, "ours");
    let mut theirs = base.clone();
    extend(&mut theirs, 30, 1_000, "theirs");
    let mut elsewhere = base;
    extend(&mut elsewhere, 30, 1_000, "elsewhere");
    let now_ms = now_for(&theirs).max(now_for(&elsewhere));
    let config = SyncConfig { page_blocks: 10 };
    let before = snapshot(&ours);

    // The second page (21..=30) starts with a block of another branch: it
    // does not follow the first page, so the peer's chain moved.
    let foreign = elsewhere.block_at(21).unwrap().clone();
    let moved = Liar {
        tamper: tamper_at(21, move |_| foreign.clone()),
        ..Liar::honest(theirs.clone())
    };
    let report = run(&moved, &mut ours, now_ms, &config);
    assert_eq!(report.outcome, SyncOutcome::PeerChanged);
    assert_eq!(report.misbehaviour(), None);
    assert_eq!(report.stats.pages, 2);
    assert_eq!(snapshot(&ours), before);

    // Inside a page, a block of another branch breaks the page: misbehaviour.
    let foreign = elsewhere.block_at(25).unwrap().clone();
    let broken = Liar {
        tamper: tamper_at(25, move |_| foreign.clone()),
        ..Liar::honest(theirs.clone())
    };
    let report = run(&broken, &mut ours, now_ms, &config);
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::BrokenLink { height: 25 })
    );
    assert_eq!(report.stats.blocks_stored, 0);
    assert_eq!(snapshot(&ours), before);
    assert!(!ours.contains(&elsewhere.block_at(25).unwrap().hash));
}

/// A network where a block needs 1 leading zero bit: forks are cheap to mine.
fn cheap_params() -> Params {
    Params {
        network: "cheap".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        retarget_window: 100_000,
        ..Params::default()
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever the fork geometry and the page size, one sync ends with the
    /// chain of most work as our best chain (ours on a tie), finds the
    /// ancestor in a logarithmic number of probes, and fetches each block
    /// once when it extends our tip, twice (check, then store) when it forks
    /// below it.
    #[test]
    fn one_sync_reaches_the_chain_of_most_work(
        base in 0u64..60,
        our_extra in 0u64..40,
        their_extra in 0u64..80,
        page_blocks in 1u32..25,
    ) {
        let common = chain_of(cheap_params(), base, "base");
        let mut ours = common.clone();
        extend(&mut ours, our_extra, 1_000, "ours");
        let mut theirs = common;
        extend(&mut theirs, their_extra, 1_000, "theirs");
        let now_ms = now_for(&ours).max(now_for(&theirs));
        let their_tip = tip_hash(&theirs);
        let heavier = theirs.best_work() > ours.best_work();
        let expected_tip = if heavier { their_tip } else { tip_hash(&ours) };
        let peer = MemoryPeer::new(theirs);
        let config = SyncConfig { page_blocks };
        let report = run(&peer, &mut ours, now_ms, &config);
        // Gallop (≤ 2 log2 + 2) and bisect (≤ log2) over at most 140 heights.
        proptest::prop_assert!(report.stats.probes <= 30, "{} probes", report.stats.probes);
        let expected_outcome = if heavier { SyncOutcome::Synced } else { SyncOutcome::UpToDate };
        proptest::prop_assert_eq!(&report.outcome, &expected_outcome);
        proptest::prop_assert_eq!(tip_hash(&ours), expected_tip);
        let passes = match (heavier, our_extra) {
            (false, _) => 0,
            (true, 0) => 1,
            (true, _) => 2,
        };
        proptest::prop_assert_eq!(report.stats.blocks_received, passes * their_extra);
        proptest::prop_assert_eq!(
            report.stats.pages,
            passes as u32 * pages_for(their_extra, page_blocks)
        );
        let checked = if passes == 2 { their_extra } else { 0 };
        proptest::prop_assert_eq!(report.stats.blocks_checked, checked);
        let stored = if heavier { their_extra } else { 0 };
        proptest::prop_assert_eq!(report.stats.blocks_stored, stored);
        proptest::prop_assert_eq!(ours.contains(&their_tip), heavier || their_extra == 0);
    }
}

/// Drives a [`SyncSession`] by hand over `peer`, one request at a time,
/// checking the contract on the way: the request is stable until answered,
/// the session is not done while it has one, and the report matches
/// `outcome` and `stats`. Gives the report and the requests sent.
fn drive_by_hand(
    peer: &impl Peer,
    target: &mut Chain,
    now_ms: u64,
    config: &SyncConfig,
) -> (SyncReport, Vec<Request>) {
    let mut session = SyncSession::new(*config);
    let mut requests = Vec::new();
    while let Some(request) = session.poll_request() {
        assert!(!session.is_done());
        assert_eq!(session.outcome(), None);
        requests.push(request);
        let answer = match request {
            Request::Tip => block_on(peer.tip()).map(Response::Tip),
            Request::Blocks { from, limit } => {
                block_on(peer.blocks(from, limit)).map(Response::Blocks)
            }
        };
        // Asking again before answering changes nothing.
        let stats = session.stats().clone();
        assert_eq!(session.poll_request(), Some(request));
        assert_eq!(session.stats(), &stats);
        session.handle_response(target, answer, now_ms);
    }
    assert!(session.is_done());
    let outcome = session.outcome().cloned();
    let stats = session.stats().clone();
    let report = session.into_report().expect("a done session has a report");
    assert_eq!(Some(&report.outcome), outcome.as_ref());
    assert_eq!(report.stats, stats);
    (report, requests)
}

#[test]
fn a_session_driven_by_hand_does_what_sync_does() {
    struct Shape {
        what: &'static str,
        ours: Chain,
        peer: Box<dyn Fn() -> Liar>,
        config: SyncConfig,
        expected: fn(&SyncOutcome) -> bool,
    }
    let base = chain_of(flat_params(), 20, "base");
    let mut longer = base.clone();
    extend(&mut longer, 40, 1_000, "theirs");
    let mut ours_ahead = base.clone();
    extend(&mut ours_ahead, 15, 1_000, "ours");
    let mut lighter = base.clone();
    extend(&mut lighter, 10, 1_000, "lighter");
    let bad = |b: &Block| {
        Block::new(
            b.index,
            b.timestamp_ms,
            b.data.clone(),
            b.prev_hash,
            b.difficulty + 1,
            b.nonce,
        )
    };
    let shapes = vec![
        Shape {
            what: "extend our tip",
            ours: base.clone(),
            peer: Box::new({
                let longer = longer.clone();
                move || Liar::honest(longer.clone())
            }),
            config: SyncConfig { page_blocks: 7 },
            expected: |o| *o == SyncOutcome::Synced,
        },
        Shape {
            what: "two-pass reorganisation",
            ours: ours_ahead.clone(),
            peer: Box::new({
                let longer = longer.clone();
                move || Liar::honest(longer.clone())
            }),
            config: SyncConfig { page_blocks: 10 },
            expected: |o| *o == SyncOutcome::Synced,
        },
        Shape {
            what: "a lighter branch claiming more work",
            ours: ours_ahead.clone(),
            peer: Box::new({
                let (lighter, claimed) = (lighter.clone(), ours_ahead.best_work() + 1);
                move || Liar {
                    tip_work: Some(claimed),
                    ..Liar::honest(lighter.clone())
                }
            }),
            config: SyncConfig { page_blocks: 4 },
            expected: |o| {
                matches!(
                    o,
                    SyncOutcome::Misbehaved(Misbehaviour::WorkMismatch { .. })
                )
            },
        },
        Shape {
            what: "an invalid block after a valid prefix",
            ours: base.clone(),
            peer: Box::new({
                let longer = longer.clone();
                move || Liar {
                    tamper: tamper_and_cut_at(33, bad),
                    ..Liar::honest(longer.clone())
                }
            }),
            config: SyncConfig { page_blocks: 5 },
            expected: |o| {
                matches!(
                    o,
                    SyncOutcome::Misbehaved(Misbehaviour::InvalidBlock { height: 33, .. })
                )
            },
        },
        Shape {
            what: "up to date",
            ours: longer.clone(),
            peer: Box::new({
                let base = base.clone();
                move || Liar::honest(base.clone())
            }),
            config: SyncConfig::default(),
            expected: |o| *o == SyncOutcome::UpToDate,
        },
    ];
    let now_ms = now_for(&longer);
    for shape in shapes {
        let what = shape.what;
        let (by_sync, by_hand) = ((shape.peer)(), (shape.peer)());
        let mut ours_sync = shape.ours.clone();
        let mut ours_hand = shape.ours.clone();
        let report = run(&by_sync, &mut ours_sync, now_ms, &shape.config);
        let (hand_report, requests) =
            drive_by_hand(&by_hand, &mut ours_hand, now_ms, &shape.config);
        assert!((shape.expected)(&report.outcome), "{what}: {report:?}");
        assert_eq!(hand_report, report, "{what}");
        assert_eq!(snapshot(&ours_hand), snapshot(&ours_sync), "{what}");
        assert_eq!(
            by_hand.requests.borrow().as_slice(),
            by_sync.requests.borrow().as_slice(),
            "{what}"
        );
        // The session asked for the tip once, first, then only blocks.
        assert_eq!(requests.first(), Some(&Request::Tip), "{what}");
        let blocks: Vec<(u64, u32)> = requests[1..]
            .iter()
            .map(|r| match *r {
                Request::Blocks { from, limit } => (from, limit),
                Request::Tip => panic!("{what}: a second tip request"),
            })
            .collect();
        assert_eq!(blocks, *by_hand.requests.borrow(), "{what}");
        let counted = u64::from(report.stats.probes) + u64::from(report.stats.pages);
        assert_eq!(counted, blocks.len() as u64, "{what}");
    }
}

#[test]
fn poll_request_is_stable_until_the_answer_is_handled() {
    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 12, 1_000, "theirs");
    let mut ours = base.clone();
    let now_ms = now_for(&theirs);
    let mut session = SyncSession::new(SyncConfig { page_blocks: 5 });

    for _ in 0..3 {
        assert_eq!(session.poll_request(), Some(Request::Tip));
    }
    assert_eq!(session.stats(), &SyncStats::default());
    session.handle_response(&mut ours, Ok(Response::Tip(TipInfo::of(&theirs))), now_ms);
    assert_eq!(session.stats().peer_height, Some(22));

    // The first probe, at our height, stays asked for until answered.
    let probe = Request::Blocks { from: 10, limit: 1 };
    for _ in 0..3 {
        assert_eq!(session.poll_request(), Some(probe));
    }
    assert_eq!(session.stats().probes, 0);
    let answer = theirs.blocks_from(10, 1).cloned().collect();
    session.handle_response(&mut ours, Ok(Response::Blocks(answer)), now_ms);
    assert_eq!(session.stats().probes, 1);
    let next = session.poll_request();
    assert_eq!(next, Some(Request::Blocks { from: 11, limit: 1 }));
    assert_eq!(session.poll_request(), next);
    assert!(!session.is_done());
    assert_eq!(session.outcome(), None);
    // Plain data: Send and Debug.
    fn send_and_debug<T: Send + std::fmt::Debug>(_: &T) {}
    send_and_debug(&session);
    assert!(format!("{session:?}").contains("Search"));
    // Nothing stored while searching.
    assert_eq!(snapshot(&ours), snapshot(&base));
}

/// Drives `session` honestly over `peer` until its request is one
/// `stop_at` picks; gives that request.
fn drive_until(
    session: &mut SyncSession,
    peer: &impl Peer,
    target: &mut Chain,
    now_ms: u64,
    stop_at: impl Fn(&Request) -> bool,
) -> Request {
    loop {
        let request = session.poll_request().expect("the session ended early");
        if stop_at(&request) {
            return request;
        }
        let answer = match request {
            Request::Tip => block_on(peer.tip()).map(Response::Tip),
            Request::Blocks { from, limit } => {
                block_on(peer.blocks(from, limit)).map(Response::Blocks)
            }
        };
        session.handle_response(target, answer, now_ms);
    }
}

#[test]
fn a_response_of_the_wrong_kind_ends_the_session_and_changes_nothing() {
    let base = chain_of(flat_params(), 10, "base");
    let mut ours_ahead = base.clone();
    extend(&mut ours_ahead, 5, 1_000, "ours");
    let mut theirs = base.clone();
    extend(&mut theirs, 20, 1_000, "theirs");
    let now_ms = now_for(&theirs);
    let peer = MemoryPeer::new(theirs.clone());
    let bad_answer = |o: Option<&SyncOutcome>| {
        matches!(o, Some(SyncOutcome::PeerFailed(PeerError::BadAnswer(_))))
    };

    // Blocks for the tip.
    let mut ours = base.clone();
    let mut session = SyncSession::new(SyncConfig::default());
    let page = theirs.blocks_from(11, 5).cloned().collect();
    session.handle_response(&mut ours, Ok(Response::Blocks(page)), now_ms);
    assert!(session.is_done());
    assert!(bad_answer(session.outcome()), "{:?}", session.outcome());
    assert_eq!(session.poll_request(), None);
    assert_eq!(session.stats(), &SyncStats::default());
    assert_eq!(snapshot(&ours), snapshot(&base));

    // The tip for a probe, for a page extending our tip, for a page of pass
    // one and for a page of pass two: the request is spent, nothing is stored.
    let config = SyncConfig { page_blocks: 4 };
    // (what, our chain, which request to answer wrongly, its occurrence).
    type Pick = fn(&Request) -> bool;
    let cases: [(&str, &Chain, Pick, u32); 4] = [
        ("probe", &base, |r| matches!(r, Request::Blocks { .. }), 1),
        (
            "second page extending our tip",
            &base,
            |r| matches!(r, Request::Blocks { limit: 4, .. }),
            2,
        ),
        (
            "pass one page",
            &ours_ahead,
            |r| matches!(r, Request::Blocks { limit: 4, .. }),
            1,
        ),
        (
            "pass two page",
            &ours_ahead,
            |r| matches!(r, Request::Blocks { from: 11, limit: 4 }),
            2,
        ),
    ];
    for (what, start, pick, nth) in cases {
        let mut ours = start.clone();
        let before = snapshot(&ours);
        let mut session = SyncSession::new(config);
        let seen = std::cell::Cell::new(0);
        drive_until(&mut session, &peer, &mut ours, now_ms, |r| {
            if pick(r) {
                seen.set(seen.get() + 1);
            }
            pick(r) && seen.get() == nth
        });
        let stats_before = session.stats().clone();
        let stored_before = snapshot(&ours);
        let tip = Response::Tip(TipInfo::of(&peer.chain()));
        session.handle_response(&mut ours, Ok(tip), now_ms);
        assert!(
            bad_answer(session.outcome()),
            "{what}: {:?}",
            session.outcome()
        );
        assert_eq!(session.poll_request(), None, "{what}");
        // The request is spent (counted); nothing else changed.
        let stats = session.stats();
        assert_eq!(
            stats.probes + stats.pages,
            stats_before.probes + stats_before.pages + 1,
            "{what}"
        );
        assert_eq!(
            stats.blocks_received, stats_before.blocks_received,
            "{what}"
        );
        assert_eq!(stats.blocks_checked, stats_before.blocks_checked, "{what}");
        assert_eq!(stats.blocks_stored, stats_before.blocks_stored, "{what}");
        assert_eq!(snapshot(&ours), stored_before, "{what}");
        match what {
            "second page extending our tip" => {
                // The first page (11..=14) was stored before the bad answer.
                assert_eq!(stats.blocks_stored, 4, "{what}");
                assert_eq!(ours.tip(), theirs.block_at(14).unwrap(), "{what}");
            }
            "pass two page" => {
                assert_eq!(stats.blocks_checked, 20, "{what}");
                assert_eq!(snapshot(&ours), before, "{what}");
            }
            _ => assert_eq!(snapshot(&ours), before, "{what}"),
        }
    }
}

#[test]
fn a_done_session_asks_for_nothing_more() {
    assert_eq!(SyncSession::new(SyncConfig::default()).into_report(), None);

    let base = chain_of(flat_params(), 10, "base");
    let mut theirs = base.clone();
    extend(&mut theirs, 10, 1_000, "theirs");
    let now_ms = now_for(&theirs);
    let peer = MemoryPeer::new(theirs.clone());

    let outcomes = [
        // Synced.
        None,
        // Failed.
        Some(PeerError::Unreachable("gone".into())),
    ];
    for failure in outcomes {
        let mut ours = base.clone();
        let mut session = SyncSession::new(SyncConfig { page_blocks: 3 });
        while let Some(request) = session.poll_request() {
            let answer = match (&failure, request) {
                (Some(e), Request::Blocks { limit: 3, .. }) => Err(e.clone()),
                (_, Request::Tip) => block_on(peer.tip()).map(Response::Tip),
                (_, Request::Blocks { from, limit }) => {
                    block_on(peer.blocks(from, limit)).map(Response::Blocks)
                }
            };
            session.handle_response(&mut ours, answer, now_ms);
        }
        let expected = match &failure {
            None => SyncOutcome::Synced,
            Some(e) => SyncOutcome::PeerFailed(e.clone()),
        };
        assert_eq!(session.outcome(), Some(&expected));
        let (stats, after) = (session.stats().clone(), snapshot(&ours));
        // Whatever comes after the end is ignored.
        for _ in 0..3 {
            assert!(session.is_done());
            assert_eq!(session.poll_request(), None);
            let late = theirs.blocks_from(11, 3).cloned().collect();
            session.handle_response(&mut ours, Ok(Response::Blocks(late)), now_ms);
            session.handle_response(&mut ours, Ok(Response::Tip(TipInfo::of(&theirs))), now_ms);
            session.handle_response(&mut ours, Err(PeerError::BadAnswer("late".into())), now_ms);
        }
        assert_eq!(session.stats(), &stats);
        assert_eq!(snapshot(&ours), after);
        let report = session.into_report().expect("done");
        assert_eq!((report.outcome, report.stats), (expected, stats));
    }
}
