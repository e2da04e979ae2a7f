//! The node's decisions, event by event: relay once, storage before
//! relay, sync triggers, a sync driven to its end, back-off from a peer that
//! lied, and keeping peers that keep failing (to try them again). Pure and deterministic:
//! events in, actions out, the time passed by the test.

#[path = "common/mining.rs"]
mod mining;

use jbc_core::node_state::{
    Action, DropCause, Durability, MAX_API_PEERS, NodeConfig, NodeState, POLL_EVERY_MS, PeerHealth,
    PeerId, PeerNotice, PeerSource, Source,
};
use jbc_core::peer::{PeerError, TipInfo};
use jbc_core::sync::{Request, Response, SyncConfig, SyncOutcome};
use jbc_core::{Block, Chain, Params, Status};
use mining::mine_on;

const NOW_MS: u64 = 1_700_000_000_000;

fn params() -> Params {
    Params {
        network: "node-state-test".into(),
        initial_difficulty: 4,
        min_difficulty: 4,
        max_difficulty: 20,
        target_block_ms: 1000,
        retarget_window: 5,
    }
}

/// `count` blocks on the tip of `chain`, 1 s apart.
fn grow(chain: &mut Chain, count: u64, tag: &str) -> Vec<Block> {
    (0..count)
        .map(|i| {
            let ts = chain.tip().timestamp_ms.max(NOW_MS - 1_000_000) + 1_000;
            let block = mine_on(chain, None, &format!("{tag} {i}"), ts);
            chain.accept(block.clone(), NOW_MS).expect("valid");
            block
        })
        .collect()
}

fn drain(state: &mut NodeState) -> Vec<Action> {
    std::iter::from_fn(|| state.poll_action()).collect()
}

fn peer_ids(state: &NodeState) -> Vec<PeerId> {
    state.peers().iter().map(|(id, _)| id).collect()
}

/// The first request a sync round made to each peer (drains the actions).
fn first_requests(state: &mut NodeState) -> Vec<(PeerId, Request)> {
    drain(state)
        .into_iter()
        .filter_map(|a| match a {
            Action::Request { peer, request } => Some((peer, request)),
            _ => None,
        })
        .collect()
}

/// Answers `first` and every later request `state` makes to `peer` from
/// `theirs` (the peer's `/tip` claiming `claimed_work` if given), until its
/// sync ends; returns every action seen.
fn serve(
    state: &mut NodeState,
    peer: PeerId,
    first: Request,
    theirs: &Chain,
    claimed_work: Option<u128>,
) -> Vec<Action> {
    let mut seen = Vec::new();
    let mut pending: Vec<Request> = vec![first];
    for _ in 0..10_000 {
        for action in drain(state) {
            if let Action::Request { peer: to, request } = &action {
                assert_eq!(*to, peer);
                pending.push(*request);
            }
            seen.push(action);
        }
        let Some(request) = pending.pop() else {
            return seen;
        };
        let answer = match request {
            Request::Tip => {
                let mut tip = TipInfo::of(theirs);
                if let Some(work) = claimed_work {
                    tip.work = work;
                }
                Response::Tip(tip)
            }
            Request::Blocks { from, limit } => {
                Response::Blocks(theirs.blocks_from(from, limit as usize).cloned().collect())
            }
        };
        state.handle_response(peer, Ok(answer), NOW_MS);
    }
    panic!("the sync did not end");
}

#[test]
fn a_new_tip_is_stored_then_announced_then_relayed_once() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state
        .add_peer("http://a".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    state
        .add_peer("http://b".into(), PeerSource::Api, NOW_MS)
        .unwrap();
    drain(&mut state);
    let block = mine_on(state.chain(), None, "mined here", NOW_MS);
    let accepted = state
        .handle_block(block.clone(), Source::Local, NOW_MS)
        .unwrap();
    assert_eq!(accepted.status, Status::NewTip);
    let actions = drain(&mut state);
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(
        actions[0],
        Action::Store {
            blocks: vec![block.clone().into()],
            durability: Durability::Fsync
        }
    );
    assert!(matches!(
        &actions[1],
        Action::TipChanged {
            source: Source::Local,
            ..
        }
    ));
    assert_eq!(
        actions[2],
        Action::Relay {
            block: block.clone().into(),
            peers: peer_ids(&state)
        }
    );

    // The same block again: a duplicate is made durable (an empty Fsync
    // store) and never relayed again.
    let again = state
        .handle_block(block, Source::Submitted, NOW_MS)
        .unwrap();
    assert_eq!(again.status, Status::Duplicate);
    assert_eq!(
        drain(&mut state),
        vec![Action::Store {
            blocks: vec![],
            durability: Durability::Fsync
        }]
    );
}

#[test]
fn side_blocks_are_stored_but_not_relayed_and_rejections_cause_no_action() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    let genesis = state.chain().genesis().hash;
    let tip = mine_on(state.chain(), None, "tip", NOW_MS);
    state.handle_block(tip, Source::Local, NOW_MS).unwrap();
    let mut other = Chain::new(params());
    grow(&mut other, 1, "other");
    let competitor = mine_on(&other, Some(genesis), "competitor", NOW_MS + 7);
    // Same height as the tip: equal work, stored as side, not relayed.
    drain(&mut state);
    let side = state
        .handle_block(competitor, Source::Submitted, NOW_MS)
        .unwrap();
    assert_eq!(side.status, Status::Side);
    let actions = drain(&mut state);
    assert!(
        actions.iter().all(|a| matches!(a, Action::Store { .. })),
        "{actions:?}"
    );
    // A block with a lying hash: rejected, nothing to do.
    let mut liar = mine_on(state.chain(), None, "liar", NOW_MS);
    liar.hash.0[0] ^= 0xff;
    assert!(state.handle_block(liar, Source::Submitted, NOW_MS).is_err());
    assert!(drain(&mut state).is_empty());
}

#[test]
fn syncs_start_for_new_peers_orphans_and_at_least_once_a_minute() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state.handle_timeout(NOW_MS);
    assert!(drain(&mut state).is_empty(), "no peers, no requests");
    assert_eq!(state.poll_timeout(), u64::MAX, "nothing to wake for");

    // A new peer wakes sync at once: one /tip request to it.
    state
        .add_peer("http://a".into(), PeerSource::Config, NOW_MS + 10)
        .unwrap();
    assert_eq!(state.poll_timeout(), NOW_MS + 10);
    state.handle_timeout(NOW_MS + 10);
    let a = peer_ids(&state)[0];
    assert_eq!(first_requests(&mut state), vec![(a, Request::Tip)]);
    assert!(state.is_syncing(a));
    // Not due yet, and a peer already syncing gets no second session.
    state.handle_timeout(NOW_MS + 20);
    state.handle_timeout(NOW_MS + 10 + POLL_EVERY_MS);
    assert!(first_requests(&mut state).is_empty());

    // The sync ends (the peer has nothing more); an orphan wakes the next.
    let theirs = Chain::new(params());
    state.handle_response(a, Ok(Response::Tip(TipInfo::of(&theirs))), NOW_MS + 30);
    assert!(!state.is_syncing(a));
    // It answered, so it is asked for its peers (the node has few).
    assert_eq!(state.poll_timeout(), 0);
    state.handle_timeout(NOW_MS + 30);
    assert!(drain(&mut state).contains(&Action::AskPeers { peer: a }));
    // Next: a's periodic sync (a round skipped while it ran is not lost).
    assert_eq!(state.poll_timeout(), NOW_MS + 10 + POLL_EVERY_MS);
    let mut other = Chain::new(params());
    let blocks = grow(&mut other, 2, "o");
    let accepted = state
        .handle_block(blocks[1].clone(), Source::Submitted, NOW_MS + 40)
        .unwrap();
    assert_eq!(accepted.status, Status::Orphan);
    assert_eq!(state.poll_timeout(), NOW_MS + 40);
    drain(&mut state);
    state.handle_timeout(NOW_MS + 40);
    assert_eq!(first_requests(&mut state), vec![(a, Request::Tip)]);
}

#[test]
fn a_sync_stores_deferred_flushes_then_relays_to_the_others() {
    let mut theirs = Chain::new(params());
    grow(&mut theirs, 30, "theirs");
    let mut state = NodeState::new(
        Chain::new(params()),
        NodeConfig {
            sync: SyncConfig { page_blocks: 10 },
            ..NodeConfig::default()
        },
    );
    state
        .add_peer("http://a".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    state
        .add_peer("http://b".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let ids = peer_ids(&state);
    let (a, b) = (ids[0], ids[1]);
    state.handle_timeout(NOW_MS);
    assert_eq!(
        first_requests(&mut state),
        vec![(a, Request::Tip), (b, Request::Tip)]
    );
    // Let b's session end at once: it has only genesis.
    let genesis_only = Chain::new(params());
    serve(&mut state, b, Request::Tip, &genesis_only, None);
    let actions = serve(&mut state, a, Request::Tip, &theirs, None);
    assert_eq!(state.chain().tip(), theirs.tip());
    let stores: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Store { blocks, durability } => Some((blocks.len(), *durability)),
            _ => None,
        })
        .collect();
    assert_eq!(stores, vec![(10, Durability::Deferred); 3]);
    let flush = actions
        .iter()
        .position(|a| *a == Action::Flush)
        .expect("a flush");
    let relay = actions
        .iter()
        .position(|a| matches!(a, Action::Relay { .. }))
        .expect("a relay");
    assert!(flush < relay, "flush before relay: {actions:?}");
    assert_eq!(
        actions[relay],
        Action::Relay {
            block: theirs.shared_block(&theirs.tip().hash).unwrap().clone(),
            peers: vec![b]
        },
        "relayed to the others only"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(
                a,
                Action::TipChanged {
                    source: Source::Sync,
                    ..
                }
            ))
            .count(),
        30
    );
    assert!(actions.iter().any(
        |a| matches!(a, Action::SyncEnded { report, .. } if report.outcome == SyncOutcome::Synced)
    ));
    assert_eq!(state.peers().get(a).unwrap().height, 30);
}

#[test]
fn a_peer_that_lies_is_banned_for_ten_minutes() {
    let mut ours = Chain::new(params());
    let base = grow(&mut ours, 5, "base");
    grow(&mut ours, 10, "ours");
    let mut liar_chain = Chain::new(params());
    for block in &base {
        liar_chain.accept(block.clone(), NOW_MS).unwrap();
    }
    grow(&mut liar_chain, 3, "liar");
    let stored = ours.len();
    let mut state = NodeState::new(ours, NodeConfig::default());
    state
        .add_peer("http://liar".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let liar = peer_ids(&state)[0];
    state.handle_timeout(NOW_MS);
    assert_eq!(first_requests(&mut state), vec![(liar, Request::Tip)]);
    let actions = serve(
        &mut state,
        liar,
        Request::Tip,
        &liar_chain,
        Some(u128::MAX / 2),
    );
    assert_eq!(state.chain().len(), stored, "nothing of the liar is stored");
    let banned = actions
        .iter()
        .find_map(|a| match a {
            Action::Peer {
                notice: PeerNotice::Banned(until, why),
                ..
            } => Some((*until, why.clone())),
            _ => None,
        })
        .expect("banned");
    assert_eq!(banned.0, NOW_MS + jbc_core::node_state::peer_book::BAN_MS);
    assert!(banned.1.contains("claimed chain work"), "{}", banned.1);
    // Not synced from during the ban, synced again after it.
    state.handle_timeout(NOW_MS + POLL_EVERY_MS);
    assert!(first_requests(&mut state).is_empty());
    let after = NOW_MS + jbc_core::node_state::peer_book::BAN_MS;
    state.handle_timeout(after);
    assert_eq!(first_requests(&mut state), vec![(liar, Request::Tip)]);
}

#[test]
fn peers_that_keep_failing_stay_down_and_are_asked_again() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state
        .add_peer("http://gone".into(), PeerSource::Api, NOW_MS)
        .unwrap();
    state
        .add_peer("http://seed".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let ids = peer_ids(&state);
    let (gone, seed) = (ids[0], ids[1]);
    drain(&mut state);
    let down = || Err(PeerError::Unreachable("connection refused".into()));
    for _ in 0..50 {
        state.handle_relay(gone, down(), NOW_MS);
        state.handle_relay(seed, down(), NOW_MS);
    }
    for peer in [gone, seed] {
        let info = state.peers().get(peer).expect("a peer that fails is kept");
        assert_eq!(info.health, PeerHealth::Down);
    }
    let notices: Vec<_> = drain(&mut state)
        .into_iter()
        .filter_map(|a| match a {
            Action::Peer { peer, notice, .. } => Some((peer, notice)),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices.len(),
        2,
        "down is noticed once per peer: {notices:?}"
    );
    assert!(
        !notices
            .iter()
            .any(|(_, n)| matches!(n, PeerNotice::Dropped(_)))
    );
    // Both are asked again when their sync is due: a partition heals.
    let due = state.poll_timeout();
    assert!(due <= NOW_MS + POLL_EVERY_MS);
    state.handle_timeout(NOW_MS + POLL_EVERY_MS);
    let asked: Vec<PeerId> = first_requests(&mut state)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(asked, vec![gone, seed]);
}

fn up(state: &mut NodeState, peer: PeerId) {
    state.handle_relay(peer, Ok(()), NOW_MS);
}

#[test]
fn a_node_announces_its_loopback_address_to_loopback_peers_only_and_a_public_one_to_all() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state.set_own_url("http://127.0.0.1:5000".into(), false);
    state
        .add_peer("http://127.0.0.2:5001".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    state
        .add_peer(
            "http://node.example:5000".into(),
            PeerSource::Config,
            NOW_MS,
        )
        .unwrap();
    // Our own address is never a peer.
    assert_eq!(
        state.add_peer("http://127.0.0.1:5000".into(), PeerSource::Api, NOW_MS),
        Ok(false)
    );
    let announced: Vec<_> = drain(&mut state)
        .into_iter()
        .filter_map(|a| match a {
            Action::Announce { url, peer } => {
                Some((state.peers().get(peer).unwrap().url.clone(), url))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        announced,
        vec![(
            "http://127.0.0.2:5001".to_string(),
            "http://127.0.0.1:5000".to_string()
        )]
    );
    let mut public = NodeState::new(Chain::new(params()), NodeConfig::default());
    public.set_own_url("https://me.example".into(), true);
    public
        .add_peer(
            "http://node.example:5000".into(),
            PeerSource::Config,
            NOW_MS,
        )
        .unwrap();
    assert!(
        drain(&mut public)
            .iter()
            .any(|a| matches!(a, Action::Announce { url, .. } if url == "https://me.example"))
    );
}

/// A peer started after us misses our announcement; it gets it again when
/// it first answers, and once it has it, never again.
#[test]
fn an_announcement_that_did_not_arrive_is_sent_again_when_the_peer_answers() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state.set_own_url("http://127.0.0.1:5000".into(), false);
    state
        .add_peer("http://127.0.0.2:5001".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let announces = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Announce { url, .. } if url == "http://127.0.0.1:5000"))
            .count()
    };
    let first = drain(&mut state);
    assert_eq!(announces(&first), 1);
    let peer = state.peers().iter().next().unwrap().0;
    let up = |state: &mut NodeState, at: u64| state.handle_relay(peer, Ok(()), at);
    let down = |state: &mut NodeState, at: u64| {
        state.handle_relay(peer, Err(PeerError::Unreachable("refused".into())), at);
    };
    state.handle_announced(
        peer,
        Err(PeerError::Unreachable("refused".into())),
        NOW_MS + 1,
    );
    assert_eq!(announces(&drain(&mut state)), 0, "not while it is down");
    up(&mut state, NOW_MS + 2);
    assert_eq!(announces(&drain(&mut state)), 1, "again once it answers");
    up(&mut state, NOW_MS + 3);
    assert_eq!(announces(&drain(&mut state)), 0, "one at a time");
    state.handle_announced(peer, Ok(()), NOW_MS + 4);
    down(&mut state, NOW_MS + 5);
    up(&mut state, NOW_MS + 6);
    assert_eq!(
        announces(&drain(&mut state)),
        1,
        "a peer that comes back after being down is told again (it may have lost our address)"
    );
    up(&mut state, NOW_MS + 7);
    assert_eq!(
        announces(&drain(&mut state)),
        0,
        "a peer that stays up is not told again"
    );
}

#[test]
fn peers_are_learned_only_after_their_genesis_is_checked_within_the_caps() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state.set_own_url("http://127.0.0.1:5000".into(), false);
    state
        .add_peer("http://127.0.0.1:5001".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let seed = peer_ids(&state)[0];
    // Nobody is up yet: nothing to ask.
    state.handle_timeout(NOW_MS);
    assert!(
        !drain(&mut state)
            .iter()
            .any(|a| matches!(a, Action::AskPeers { .. }))
    );
    up(&mut state, seed);
    state.handle_timeout(NOW_MS + 1);
    assert!(drain(&mut state).contains(&Action::AskPeers { peer: seed }));
    // Once a minute, not more.
    state.handle_timeout(NOW_MS + 2);
    assert!(
        !drain(&mut state)
            .iter()
            .any(|a| matches!(a, Action::AskPeers { .. }))
    );

    let list: Vec<String> = [
        "http://127.0.0.1:5000", // ourselves
        "http://127.0.0.1:5001", // the seed, known
        "http://127.0.0.1:5002",
        "http://127.0.0.1:5003",
        "http://127.0.0.1:5004",
        "http://127.0.0.1:5005",
        "http://127.0.0.1:5006",
    ]
    .map(String::from)
    .to_vec();
    state.handle_peer_list(seed, Ok(list), NOW_MS + 3);
    let checks: Vec<String> = drain(&mut state)
        .into_iter()
        .filter_map(|a| match a {
            Action::CheckCandidate { url } => Some(url),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), jbc_core::node_state::LEARN_PER_PEER);
    let new: Vec<String> = (2..=6)
        .map(|p| format!("http://127.0.0.1:500{p}"))
        .collect();
    assert!(
        checks.iter().all(|c| new.contains(c)),
        "only new addresses: {checks:?}"
    );
    let distinct: std::collections::BTreeSet<_> = checks.iter().collect();
    assert_eq!(distinct.len(), checks.len());
    assert_eq!(
        state.peers().len(),
        1,
        "nothing is added before it is checked"
    );

    // Same network: added as learned (and told our address). Another
    // network, or no answer: never added, and not checked again.
    let ours = TipInfo::of(&Chain::new(params()));
    let other = TipInfo::of(&Chain::new(Params {
        network: "elsewhere".into(),
        ..params()
    }));
    state.handle_candidate(checks[0].clone(), Ok(ours), NOW_MS + 4);
    state.handle_candidate(checks[1].clone(), Ok(other), NOW_MS + 4);
    state.handle_candidate(
        checks[2].clone(),
        Err(PeerError::Unreachable("x".into())),
        NOW_MS + 4,
    );
    let learned: Vec<_> = state
        .peers()
        .iter()
        .filter(|(_, p)| p.source == PeerSource::Learned)
        .map(|(_, p)| p.url.clone())
        .collect();
    assert_eq!(learned, vec![checks[0].clone()]);
    assert!(
        drain(&mut state)
            .iter()
            .any(|a| matches!(a, Action::Announce { .. }))
    );
    // Another network is never checked again; no answer may be retried.
    state.handle_peer_list(
        seed,
        Ok(vec![checks[1].clone(), checks[2].clone()]),
        NOW_MS + 5,
    );
    assert_eq!(
        drain(&mut state),
        vec![Action::CheckCandidate {
            url: checks[2].clone()
        }]
    );
    // A late answer for an address never asked about changes nothing.
    state.handle_candidate(
        "http://127.0.0.1:9".into(),
        Ok(TipInfo::of(&Chain::new(params()))),
        NOW_MS,
    );
    assert_eq!(state.peers().len(), 2);
}

#[test]
fn learned_peers_are_capped_at_32() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state
        .add_peer("http://seed".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let seed = peer_ids(&state)[0];
    let ours = TipInfo::of(&Chain::new(params()));
    for round in 0..20 {
        let list = (0..4).map(|i| format!("http://n{round}-{i}")).collect();
        state.handle_peer_list(seed, Ok(list), NOW_MS);
        for action in drain(&mut state) {
            if let Action::CheckCandidate { url } = action {
                state.handle_candidate(url, Ok(ours.clone()), NOW_MS);
            }
        }
    }
    assert_eq!(
        state.peers().count(PeerSource::Learned),
        jbc_core::node_state::MAX_LEARNED_PEERS
    );
}

#[test]
fn peers_down_for_more_than_an_hour_are_not_shared() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    state
        .add_peer("http://a".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    state
        .add_peer("http://b".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let ids = peer_ids(&state);
    state.handle_relay(ids[0], Err(PeerError::Unreachable("x".into())), NOW_MS);
    up(&mut state, ids[1]);
    let hour = jbc_core::node_state::peer_book::SHARE_DOWN_FOR_MS;
    assert_eq!(state.shared_peers(NOW_MS + hour).count(), 2);
    let shared: Vec<_> = state
        .shared_peers(NOW_MS + hour + 1)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(shared, vec![ids[1]]);
}

/// The causes of the `Dropped` notices among `actions`.
fn drops(actions: &[Action]) -> Vec<DropCause> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Peer {
                notice: PeerNotice::Dropped(cause),
                ..
            } => Some(*cause),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dropped_peer_is_noticed_with_its_cause() {
    let mut state = NodeState::new(Chain::new(params()), NodeConfig::default());
    // A peer of another network: its `/tip` derives another genesis.
    state
        .add_peer("http://127.0.0.1:1".into(), PeerSource::Api, NOW_MS)
        .expect("room");
    state.handle_timeout(NOW_MS);
    let (peer, first) = first_requests(&mut state)[0];
    let other = Chain::new(Params {
        network: "another".into(),
        ..params()
    });
    let seen = serve(&mut state, peer, first, &other, None);
    assert_eq!(drops(&seen), vec![DropCause::OtherNetwork]);
    assert!(state.peers().get(peer).is_none(), "it left the book");

    // A full list of API peers that never answered makes room for one more.
    for i in 0..MAX_API_PEERS {
        let url = format!("http://127.0.0.2:{}", 1000 + i);
        state.add_peer(url, PeerSource::Api, NOW_MS).expect("room");
    }
    assert_eq!(drops(&drain(&mut state)), vec![]);
    let url = "http://127.0.0.3:1".to_string();
    state
        .add_peer(url, PeerSource::Api, NOW_MS + 1)
        .expect("room made");
    assert_eq!(drops(&drain(&mut state)), vec![DropCause::Evicted]);
    assert_eq!(state.peers().iter().count(), MAX_API_PEERS);
}
