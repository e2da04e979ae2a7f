//! Sync against in-memory peers, honest and lying, under `futures::executor`.
//! Every rejection checks the outcome and what our chain looks like after.

use std::cell::RefCell;
use std::future::{Future, ready};
use std::sync::{Mutex, OnceLock};

use futures::executor::block_on;
use jbc_core::miner::{MineOutcome, MinerConfig, MinerHandle, mine_blocking};
use jbc_core::peer::{MAX_PAGE, MaybeSend, PeerError, SubmitReply, TipInfo};
use jbc_core::sync::{Misbehaviour, SyncConfig, SyncOutcome, SyncReport, SyncTarget, sync};
use jbc_core::{
    Accepted, Block, BlockError, BlockHash, Chain, MemoryPeer, Params, Peer, Status, genesis,
};

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

/// A target that records what the chain said about each block.
struct Recorder<'a> {
    chain: &'a mut Chain,
    accepted: Vec<Accepted>,
}

impl SyncTarget for Recorder<'_> {
    fn genesis_hash(&self) -> BlockHash {
        self.chain.genesis_hash()
    }
    fn best_height(&self) -> u64 {
        self.chain.best_height()
    }
    fn best_work(&self) -> u128 {
        self.chain.best_work()
    }
    fn height_of(&self, hash: &BlockHash) -> Option<u64> {
        self.chain.height_of(hash)
    }
    fn chain_work(&self, hash: &BlockHash) -> Option<u128> {
        self.chain.chain_work(hash)
    }
    fn accept(&mut self, block: Block, now_ms: u64) -> Result<Accepted, BlockError> {
        let accepted = self.chain.accept(block, now_ms)?;
        self.accepted.push(accepted.clone());
        Ok(accepted)
    }
}

fn run(peer: &impl Peer, chain: &mut Chain, now_ms: u64, config: &SyncConfig) -> SyncReport {
    block_on(sync(peer, chain, now_ms, config))
}

/// The state of a chain that a rejected sync must not change.
fn snapshot(chain: &Chain) -> (BlockHash, u64, u128) {
    (chain.tip().hash, chain.height(), chain.best_work())
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
    assert_eq!(stats.pages, 10);
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
fn bounds_stop_a_sync_and_the_next_one_resumes() {
    let peer = Liar::honest(thousand().clone());
    let mut ours = Chain::new(flat_params());
    let now_ms = now_for(thousand());

    let pages_cap = SyncConfig {
        page_blocks: 100,
        max_pages: 3,
        max_blocks: 100_000,
    };
    let report = run(&peer, &mut ours, now_ms, &pages_cap);
    assert_eq!(report.outcome, SyncOutcome::LimitReached);
    assert_eq!(ours.height(), 300);
    assert_eq!(ours.tip(), thousand().block_at(300).unwrap());

    let blocks_cap = SyncConfig {
        page_blocks: 100,
        max_pages: 100,
        max_blocks: 250,
    };
    let report = run(&peer, &mut ours, now_ms, &blocks_cap);
    assert_eq!(report.outcome, SyncOutcome::LimitReached);
    assert_eq!(report.stats.blocks_received, 250);
    assert_eq!(ours.height(), 550);

    // Pages are never asked larger than MAX_PAGE, whatever the config says.
    peer.requests.borrow_mut().clear();
    let huge_pages = SyncConfig {
        page_blocks: 100_000,
        ..SyncConfig::default()
    };
    let report = run(&peer, &mut ours, now_ms, &huge_pages);
    assert_eq!(report.outcome, SyncOutcome::Synced);
    assert_eq!(ours.tip(), thousand().tip());
    assert_eq!(peer.page_requests(), [(551, 450)]);

    let mut fresh = Chain::new(flat_params());
    peer.requests.borrow_mut().clear();
    run(&peer, &mut fresh, now_ms, &huge_pages);
    assert_eq!(peer.page_requests(), [(1, 500), (501, 500)]);
    assert_eq!(fresh.tip(), thousand().tip());
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
    assert_eq!(report.stats.blocks_received, 51);
    assert_eq!(report.stats.pages, 1);
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

    // Claims more work than ours: we fetch its chain (bounded), the chain
    // compares real work, the best chain stays, the lie is reported.
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
    assert_eq!(snapshot(&ours), before);
    assert!(ours.contains(&tip_hash(&theirs)));

    // Lying again gains nothing: its blocks are known, nothing is fetched.
    liar.requests.borrow_mut().clear();
    let report = run(&liar, &mut ours, now_ms, &SyncConfig::default());
    assert!(matches!(
        report.misbehaviour(),
        Some(Misbehaviour::WorkMismatch { .. })
    ));
    assert_eq!(report.stats.pages, 0);
    assert_eq!(report.stats.common_height, Some(100));
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
        tamper: tamper_at(120, bad),
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

    // Our own branch has more work than their valid prefix: it stays best.
    let mut ours = chain_of(flat_params(), 100, "ours");
    let before = snapshot(&ours);
    let mut long = Chain::new(flat_params());
    extend(&mut long, 150, 1_000, "theirs");
    let liar = Liar {
        tamper: tamper_at(60, bad),
        ..Liar::honest(long.clone())
    };
    let report = run(&liar, &mut ours, now_for(&long), &SyncConfig::default());
    assert!(matches!(
        report.misbehaviour(),
        Some(Misbehaviour::InvalidBlock { height: 60, .. })
    ));
    assert_eq!(snapshot(&ours), before);
    assert!(ours.contains(&long.block_at(59).unwrap().hash));
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
            tamper: tamper_at(25, lie),
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
    let report = run(&gap, &mut ours, now_ms, &SyncConfig::default());
    assert_eq!(
        report.outcome,
        SyncOutcome::Misbehaved(Misbehaviour::WrongHeight {
            expected: 20,
            got: 21
        })
    );
    assert_eq!(ours.tip(), theirs.block_at(19).unwrap());

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
    assert_eq!(ours.tip(), theirs.block_at(19).unwrap());
    assert_eq!(ours.pooled_count(), 0);
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
    let config = SyncConfig {
        page_blocks: 10,
        ..SyncConfig::default()
    };
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
    let block = ours.tip().clone();
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

    /// Whatever the fork geometry and the bounds, repeated syncs end with the
    /// chain of most work as our best chain (ours on a tie), each sync finds
    /// the ancestor in a logarithmic number of probes, and a long fork
    /// fetched over several bounded syncs resumes instead of starting over.
    #[test]
    fn repeated_bounded_syncs_reach_the_chain_of_most_work(
        base in 0u64..60,
        our_extra in 0u64..40,
        their_extra in 0u64..80,
        page_blocks in 1u32..25,
        max_pages in 1u32..4,
    ) {
        let common = chain_of(cheap_params(), base, "base");
        let mut ours = common.clone();
        extend(&mut ours, our_extra, 1_000, "ours");
        let mut theirs = common;
        extend(&mut theirs, their_extra, 1_000, "theirs");
        let now_ms = now_for(&ours).max(now_for(&theirs));
        let their_tip = tip_hash(&theirs);
        let expected_tip = if theirs.best_work() > ours.best_work() {
            their_tip
        } else {
            tip_hash(&ours)
        };
        let peer = MemoryPeer::new(theirs);
        let config = SyncConfig { page_blocks, max_pages, max_blocks: 1_000 };
        let mut received = 0;
        let mut syncs = 0;
        let outcome = loop {
            syncs += 1;
            proptest::prop_assert!(syncs <= 200, "sync never finished");
            let report = run(&peer, &mut ours, now_ms, &config);
            // Gallop (≤ 2 log2 + 2) and bisect (≤ log2) over at most 140 heights.
            proptest::prop_assert!(report.stats.probes <= 30, "{} probes", report.stats.probes);
            received += report.stats.blocks_received;
            if report.outcome != SyncOutcome::LimitReached {
                break report.outcome;
            }
        };
        proptest::prop_assert!(
            matches!(outcome, SyncOutcome::Synced | SyncOutcome::UpToDate),
            "{:?}", outcome
        );
        proptest::prop_assert_eq!(tip_hash(&ours), expected_tip);
        // Every block was fetched once: resumed syncs do not fetch again.
        let fetched = if outcome == SyncOutcome::UpToDate { 0 } else { their_extra };
        proptest::prop_assert_eq!(received, fetched);
        proptest::prop_assert!(ours.contains(&their_tip) || outcome == SyncOutcome::UpToDate);
    }
}
