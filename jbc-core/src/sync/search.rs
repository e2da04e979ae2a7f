//! Steps 1 and 2 of a [`SyncSession`]: the peer's tip, then the search for
//! the common ancestor.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::block::Block;
use crate::chain::ORPHAN_HORIZON;
use crate::hash::BlockHash;
use crate::params::{Params, genesis};
use crate::peer::TipInfo;

use super::{
    BranchCheck, Claim, Misbehaviour, Pages, Phase, SyncOutcome, SyncSession, SyncTarget, Tip,
    misbehaved,
};

/// The common-ancestor search: what `GET /tip` and our chain said before
/// it, the probe in flight and where the search stands.
#[derive(Debug)]
pub(super) struct Search {
    pub(super) claim: Claim,
    /// Our params, for pass one.
    pub(super) params: Params,
    /// Our genesis hash.
    pub(super) genesis: BlockHash,
    /// Our best tip and its height when the sync began.
    pub(super) best_hash: BlockHash,
    pub(super) best_height: u64,
    /// The height probed by the request in flight.
    pub(super) height: u64,
    pub(super) stage: Stage,
}

/// Where the search stands. "We store the peer's block at h" is true up to
/// the fork and false above it (a stored block's ancestors are all stored),
/// so: probe a guess, gallop away from it by doubling steps until the answer
/// flips, then bisect.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stage {
    /// The first probe, at `min(our height, its height)`.
    Guess,
    /// We store the peer's block at `low` (hash `low_hash`): galloping up.
    Up {
        low: u64,
        low_hash: BlockHash,
        step: u64,
    },
    /// We do not store the peer's block at `high`: galloping down.
    Down { high: u64, step: u64 },
    /// We store the peer's block at `low` and not the one at `high`; `high`
    /// may be the virtual height just above the peer's tip.
    Bisect {
        low: u64,
        low_hash: BlockHash,
        high: u64,
    },
}

impl SyncSession {
    /// Step 1: the peer's tip. The ancestor search starts, unless the peer
    /// is on another network or claims no more work than ours.
    pub(super) fn on_tip<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        tip: TipInfo,
    ) -> Result<Phase, SyncOutcome> {
        self.stats.peer_height = Some(tip.height);
        self.stats.peer_work = Some(tip.work);
        let params = target.params();
        // Genesis is derived from the params: equal params have the same
        // one, so only different params are hashed (a `/tip` answer is the
        // most common message a node takes).
        if tip.params != params {
            let ours = genesis(&params).hash;
            let theirs = genesis(&tip.params).hash;
            if theirs != ours {
                return Err(SyncOutcome::OtherNetwork { ours, theirs });
            }
        }
        let Tip {
            hash: best_hash,
            height: best_height,
            work: best_work,
        } = target.best();
        if tip.work <= best_work {
            return Err(SyncOutcome::UpToDate);
        }
        let ours = genesis(&params).hash;
        Ok(Phase::Search(Search {
            claim: Claim {
                height: tip.height,
                hash: tip.hash,
                work: tip.work,
            },
            params,
            genesis: ours,
            best_hash,
            best_height,
            height: best_height.min(tip.height),
            stage: Stage::Guess,
        }))
    }

    /// Step 2: the answer to the probe at `search.height`.
    pub(super) fn on_probe<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        mut search: Search,
        page: Vec<Block>,
    ) -> Result<Phase, SyncOutcome> {
        let height = search.height;
        if page.len() > 1 {
            return Err(misbehaved(Misbehaviour::TooManyBlocks {
                from: height,
                asked: 1,
                got: page.len(),
            }));
        }
        let Some(block) = page.first() else {
            return Err(SyncOutcome::PeerChanged);
        };
        if block.index != height {
            return Err(misbehaved(Misbehaviour::WrongHeight {
                expected: height,
                got: block.index,
            }));
        }
        let hash = block.hash;
        let stored = target.height_of(&hash) == Some(height);
        let other_network = || SyncOutcome::OtherNetwork {
            ours: search.genesis,
            theirs: hash,
        };
        search.stage = match search.stage {
            Stage::Guess if stored => Stage::Up {
                low: height,
                low_hash: hash,
                step: 1,
            },
            Stage::Guess if height == 0 => return Err(other_network()),
            Stage::Guess => Stage::Down {
                high: height,
                step: 1,
            },
            Stage::Up { low, low_hash, .. } if !stored => Stage::Bisect {
                low,
                low_hash,
                high: height,
            },
            Stage::Up { step, .. } => Stage::Up {
                low: height,
                low_hash: hash,
                step: step.saturating_mul(2),
            },
            Stage::Down { high, .. } if stored => Stage::Bisect {
                low: height,
                low_hash: hash,
                high,
            },
            Stage::Down { .. } if height == 0 => return Err(other_network()),
            Stage::Down { step, .. } => Stage::Down {
                high: height,
                step: step.saturating_mul(2),
            },
            Stage::Bisect { high, .. } if stored => Stage::Bisect {
                low: height,
                low_hash: hash,
                high,
            },
            Stage::Bisect { low, low_hash, .. } => Stage::Bisect {
                low,
                low_hash,
                high: height,
            },
        };
        self.next_probe(target, search)
    }

    /// The search's next probe, or, once the ancestor is found, the first
    /// phase that fetches pages.
    pub(super) fn next_probe<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        mut search: Search,
    ) -> Result<Phase, SyncOutcome> {
        let peer_height = search.claim.height;
        loop {
            match search.stage {
                // Its height was set when the search began.
                Stage::Guess => break,
                Stage::Up {
                    low,
                    low_hash,
                    step,
                } => match low.checked_add(step).filter(|h| *h <= peer_height) {
                    Some(height) => {
                        search.height = height;
                        break;
                    }
                    None => {
                        search.stage = Stage::Bisect {
                            low,
                            low_hash,
                            high: peer_height.saturating_add(1),
                        }
                    }
                },
                Stage::Down { high, step } => {
                    search.height = high.saturating_sub(step);
                    break;
                }
                Stage::Bisect {
                    low,
                    low_hash,
                    high,
                } => {
                    if high - low > 1 {
                        search.height = low + (high - low) / 2;
                        break;
                    }
                    return self.found(target, search, low, low_hash);
                }
            }
        }
        Ok(Phase::Search(search))
    }

    /// The common ancestor is at `height` (hash `hash`): step 3 if it is our
    /// best tip (as it was when the sync began), else step 4's pass one.
    pub(super) fn found<T: SyncTarget + ?Sized>(
        &mut self,
        target: &T,
        search: Search,
        height: u64,
        hash: BlockHash,
    ) -> Result<Phase, SyncOutcome> {
        self.stats.common_height = Some(height);
        let pages = Pages::new(search.claim, height, hash);
        if hash == search.best_hash {
            // The peer's chain extends ours: every block adds work to our best.
            return self.after_page(target, Phase::Extend(pages));
        }
        let slack = search.best_height.saturating_sub(height) + ORPHAN_HORIZON;
        let check = BranchCheck::new(target, search.params, &pages, slack)?;
        self.after_page(target, Phase::Check(pages, Box::new(check)))
    }
}
