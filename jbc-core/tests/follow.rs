//! Following peers, event by event: which peers are followed and in what
//! order, a streamed block taken as a relay from that peer (new tip, orphan,
//! invalid, from the future), back-off after a dropped stream, a peer that
//! does not serve `/events`, polling only as the safety net, and a timer
//! that never spins.

#[path = "common/mining.rs"]
mod mining;

use jbc_core::node_state::{
    Action, NodeConfig, NodeState, PeerHealth, PeerId, PeerNotice, PeerSource, SeenTip, Source,
    StreamState,
};
use jbc_core::peer::{ErrorBody, PeerError};
use jbc_core::sync::Request;
use jbc_core::{Chain, Params, Status};
use mining::mine_on;

const NOW_MS: u64 = 1_700_000_000_000;

fn params() -> Params {
    Params {
        network: "follow-test".into(),
        initial_difficulty: 4,
        min_difficulty: 4,
        max_difficulty: 20,
        target_block_ms: 1000,
        retarget_window: 5,
    }
}

fn drain(state: &mut NodeState) -> Vec<Action> {
    std::iter::from_fn(|| state.poll_action()).collect()
}

fn follows(actions: &[Action]) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Follow { peer } => Some(*peer),
            _ => None,
        })
        .collect()
}

fn tip_requests(actions: &[Action]) -> Vec<PeerId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request {
                peer,
                request: Request::Tip,
            } => Some(*peer),
            _ => None,
        })
        .collect()
}

/// A node with `n` peers of `source` added at NOW_MS (ids in order).
fn node_with(config: NodeConfig, peers: &[(&str, PeerSource)]) -> (NodeState, Vec<PeerId>) {
    let mut state = NodeState::new(Chain::new(params()), config);
    for (url, source) in peers {
        state.add_peer(url.to_string(), *source, NOW_MS).unwrap();
    }
    let ids = state.peers().iter().map(|(id, _)| id).collect();
    drain(&mut state);
    (state, ids)
}

/// The node's defaults, without learning peers (these tests are about
/// streams and syncs).
fn quiet() -> NodeConfig {
    NodeConfig {
        wanted_peers: 0,
        ..NodeConfig::default()
    }
}

/// Answers every pending `/tip` request with a chain of genesis only.
fn answer_tips(state: &mut NodeState, now_ms: u64) {
    let genesis_only = jbc_core::peer::TipInfo::of(&Chain::new(params()));
    for peer in tip_requests(&drain(state)) {
        let tip = jbc_core::sync::Response::Tip(genesis_only.clone());
        state.handle_response(peer, Ok(tip), now_ms);
    }
    drain(state);
}

/// A node following one `--peer` (another one not followed), its stream
/// open and the syncs of the start over.
fn following_one() -> (NodeState, PeerId) {
    let (mut state, ids) = node_with(
        quiet(),
        &[
            ("http://a", PeerSource::Config),
            ("http://b", PeerSource::Config),
        ],
    );
    state.handle_timeout(NOW_MS);
    answer_tips(&mut state, NOW_MS);
    state.handle_stream_opened(ids[0], NOW_MS);
    state.handle_timeout(NOW_MS);
    answer_tips(&mut state, NOW_MS);
    (state, ids[0])
}

#[test]
fn config_peers_are_followed_first_up_to_the_cap_and_banned_ones_never() {
    let config = NodeConfig {
        max_streams: 3,
        ..NodeConfig::default()
    };
    let (mut state, ids) = node_with(
        config,
        &[
            ("http://api", PeerSource::Api),
            ("http://learned", PeerSource::Learned),
            ("http://config1", PeerSource::Config),
            ("http://config2", PeerSource::Config),
        ],
    );
    assert_eq!(state.poll_timeout(), NOW_MS, "new peers are due at once");
    state.handle_timeout(NOW_MS);
    let actions = drain(&mut state);
    assert_eq!(follows(&actions), vec![ids[2], ids[3], ids[1]]);
    assert_eq!(state.active_streams(), 3);
    assert_eq!(
        state.stream(ids[0]),
        Some(StreamState::Waiting {
            retry_at_ms: NOW_MS
        })
    );
    // Every peer is asked for its /tip once at the start.
    assert_eq!(tip_requests(&actions).len(), 4);
    // A stream that ends makes room for the next in line.
    state.handle_stream_ended(
        ids[1],
        Err(PeerError::Unreachable("refused".into())),
        NOW_MS,
    );
    state.handle_timeout(NOW_MS);
    assert_eq!(follows(&drain(&mut state)), vec![ids[0]]);
}

#[test]
fn an_open_stream_marks_the_peer_up_and_asks_its_tip_at_once_then_only_as_a_safety_net() {
    let (mut state, ids) = node_with(quiet(), &[("http://a", PeerSource::Api)]);
    let a = ids[0];
    state.handle_timeout(NOW_MS);
    assert_eq!(tip_requests(&drain(&mut state)), vec![a]);
    // The first sync ends: nothing more from a for a minute.
    let theirs = Chain::new(params());
    let tip = jbc_core::peer::TipInfo::of(&theirs);
    state.handle_response(
        a,
        Ok(jbc_core::sync::Response::Tip(tip.clone())),
        NOW_MS + 5,
    );
    drain(&mut state);
    let config = *state.config();
    state.handle_stream_opened(a, NOW_MS + 100);
    assert_eq!(state.stream(a), Some(StreamState::Open));
    assert_eq!(state.peers().get(a).unwrap().health, PeerHealth::Up);
    assert_eq!(state.poll_timeout(), NOW_MS + 100, "a sync on a new stream");
    state.handle_timeout(NOW_MS + 100);
    assert_eq!(tip_requests(&drain(&mut state)), vec![a]);
    state.handle_response(a, Ok(jbc_core::sync::Response::Tip(tip)), NOW_MS + 105);
    drain(&mut state);
    // With the stream open, the next /tip is the safety net's.
    let mut now = NOW_MS + 105;
    let mut asked = Vec::new();
    while now < NOW_MS + 3 * config.poll_every_ms {
        now = state.poll_timeout().max(now + 1);
        state.handle_timeout(now);
        if !tip_requests(&drain(&mut state)).is_empty() {
            asked.push(now);
            state.handle_response(a, Err(PeerError::Unreachable("x".into())), now);
            state.handle_stream_opened(a, now); // ignored: already open
            drain(&mut state);
        }
    }
    let every = config.poll_every_ms;
    let expected: Vec<u64> = (1..=3).map(|n| NOW_MS + 100 + n * every).collect();
    assert_eq!(asked, expected);
}

#[test]
fn a_streamed_block_is_a_relay_from_that_peer_and_goes_to_everyone_else() {
    let (mut state, a) = following_one();
    let block = mine_on(state.chain(), None, "from a", NOW_MS);
    let answer = state.handle_stream_block(a, block.clone(), NOW_MS);
    assert_eq!(answer.unwrap().unwrap().status, Status::NewTip);
    let actions = drain(&mut state);
    assert!(matches!(&actions[0], Action::Store { blocks, .. } if blocks.len() == 1));
    assert!(matches!(
        &actions[1],
        Action::TipChanged {
            source: Source::Followed,
            ..
        }
    ));
    let others: Vec<PeerId> = state
        .peers()
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != a)
        .collect();
    assert_eq!(
        actions[2],
        Action::Relay {
            block: block.clone().into(),
            peers: others
        },
        "not back to the peer it came from"
    );
    // The same block again (from a relay too): nothing is relayed twice.
    let again = state
        .handle_block(block, Source::Submitted, NOW_MS)
        .unwrap();
    assert_eq!(again.status, Status::Duplicate);
    assert!(
        !drain(&mut state)
            .iter()
            .any(|a| matches!(a, Action::Relay { .. }))
    );
}

#[test]
fn a_streamed_orphan_syncs_with_that_peer_only() {
    let (mut state, a) = following_one();
    let mut theirs = Chain::new(params());
    let first = mine_on(&theirs, None, "t1", NOW_MS);
    theirs.accept(first, NOW_MS).unwrap();
    let second = mine_on(&theirs, None, "t2", NOW_MS + 1000);
    let answer = state.handle_stream_block(a, second, NOW_MS + 50);
    assert_eq!(answer.unwrap().unwrap().status, Status::Orphan);
    assert_eq!(state.poll_timeout(), NOW_MS + 50);
    state.handle_timeout(NOW_MS + 50);
    assert_eq!(
        tip_requests(&drain(&mut state)),
        vec![a],
        "not the other peer"
    );
}

#[test]
fn an_invalid_streamed_block_bans_the_peer_and_closes_its_stream_one_from_the_future_does_not() {
    let (mut state, a) = following_one();
    let before = (state.chain().tip().hash, state.chain().len());
    let future = mine_on(state.chain(), None, "future", NOW_MS + 10 * 60 * 1000);
    let answer = state.handle_stream_block(a, future, NOW_MS).unwrap();
    assert!(answer.is_err());
    assert!(
        drain(&mut state).is_empty(),
        "a block from the future only waits"
    );
    assert_eq!(state.stream(a), Some(StreamState::Open));

    let mut liar = mine_on(state.chain(), None, "liar", NOW_MS);
    liar.hash.0[0] ^= 0xff;
    let answer = state.handle_stream_block(a, liar, NOW_MS).unwrap();
    assert!(answer.is_err());
    let actions = drain(&mut state);
    assert!(
        actions.contains(&Action::Unfollow { peer: a }),
        "{actions:?}"
    );
    assert!(actions.iter().any(|x| matches!(
        x,
        Action::Peer {
            notice: PeerNotice::Banned(..),
            ..
        }
    )));
    assert_eq!(
        (state.chain().tip().hash, state.chain().len()),
        before,
        "nothing stored"
    );
    // Later events of the closed stream are ignored.
    let late = mine_on(state.chain(), None, "late", NOW_MS);
    assert_eq!(state.handle_stream_block(a, late, NOW_MS), None);
    // Not followed while banned; followed again after.
    let ban_end = NOW_MS + jbc_core::node_state::peer_book::BAN_MS;
    state.handle_timeout(ban_end - 1);
    assert!(follows(&drain(&mut state)).is_empty());
    state.handle_timeout(ban_end);
    assert_eq!(follows(&drain(&mut state)), vec![a]);
}

#[test]
fn a_peers_last_tip_is_its_last_tip_answer_or_valid_streamed_block_of_our_network() {
    let (mut state, a) = following_one();
    let genesis = state.chain().genesis().hash;
    let seen = |state: &NodeState, peer: PeerId| state.peers().get(peer).unwrap().last_tip;
    // following_one answered every /tip with genesis at NOW_MS.
    let at_genesis = SeenTip {
        height: 0,
        hash: genesis,
        seen_at_ms: NOW_MS,
    };
    assert_eq!(seen(&state, a), Some(at_genesis));

    // A block on its stream is its new tip, whatever we make of it.
    let block = mine_on(state.chain(), None, "from a", NOW_MS);
    state.handle_stream_block(a, block.clone(), NOW_MS + 10);
    let at_block = SeenTip {
        height: 1,
        hash: block.hash,
        seen_at_ms: NOW_MS + 10,
    };
    assert_eq!(seen(&state, a), Some(at_block));
    // The same block again (duplicate for us) is still what it says.
    state.handle_stream_block(a, block, NOW_MS + 20);
    assert_eq!(seen(&state, a).map(|t| t.seen_at_ms), Some(NOW_MS + 20));
    drain(&mut state);

    // An invalid block is no tip: the record stays.
    let mut liar = mine_on(state.chain(), None, "liar", NOW_MS + 30);
    liar.hash.0[0] ^= 0xff;
    assert!(
        state
            .handle_stream_block(a, liar, NOW_MS + 30)
            .unwrap()
            .is_err()
    );
    assert_eq!(seen(&state, a).map(|t| t.hash), Some(at_block.hash));

    // A /tip answer of another network is not recorded; one of ours is.
    let b = state
        .peers()
        .iter()
        .map(|(id, _)| id)
        .find(|id| *id != a)
        .unwrap();
    let other = Chain::new(Params {
        network: "another".into(),
        ..params()
    });
    let mut theirs = Chain::new(params());
    let first = mine_on(&theirs, None, "b1", NOW_MS);
    theirs.accept(first.clone(), NOW_MS).unwrap();
    let before = seen(&state, b);
    let ask_b = |state: &mut NodeState, tip| {
        let now = state.poll_timeout();
        state.handle_timeout(now);
        assert_eq!(tip_requests(&drain(state)), vec![b]);
        state.handle_response(b, Ok(jbc_core::sync::Response::Tip(tip)), now);
        drain(state);
        now
    };
    ask_b(&mut state, jbc_core::peer::TipInfo::of(&other));
    assert_eq!(seen(&state, b), before, "another network's tip");
    let now = ask_b(&mut state, jbc_core::peer::TipInfo::of(&theirs));
    let at_first = SeenTip {
        height: 1,
        hash: first.hash,
        seen_at_ms: now,
    };
    assert_eq!(seen(&state, b), Some(at_first));
}

#[test]
fn a_dropped_stream_is_reopened_after_a_doubling_back_off_and_a_down_peer_stays() {
    let (mut state, a) = following_one();
    let config = *state.config();
    let mut now = NOW_MS;
    let mut waits = Vec::new();
    let mut first = true;
    for _ in 0..8 {
        let error = PeerError::Unreachable("connection refused".into());
        state.handle_stream_ended(a, Err(error), now);
        if first {
            // It was open: ending says nothing of the peer yet.
            assert_eq!(state.peers().get(a).unwrap().health, PeerHealth::Up);
            first = false;
        }
        let Some(StreamState::Waiting { retry_at_ms }) = state.stream(a) else {
            panic!("waiting: {:?}", state.stream(a));
        };
        waits.push(retry_at_ms - now);
        now = retry_at_ms;
        state.handle_timeout(now - 1);
        assert!(
            follows(&drain(&mut state)).is_empty(),
            "not before its time"
        );
        state.handle_timeout(now);
        assert_eq!(follows(&drain(&mut state)), vec![a]);
    }
    let expected: Vec<u64> = (1..=8)
        .map(|n| config.stream_retry_after_ms(n, true))
        .collect();
    assert_eq!(waits, expected);
    assert_eq!(expected[0], config.stream_retry_ms);
    assert_eq!(*expected.last().unwrap(), config.stream_retry_max_ms);
    // Failing to open says it is down; it stays in the book.
    let info = state.peers().get(a).unwrap();
    assert_eq!(info.health, PeerHealth::Down);
    // When the link is back, the stream opens and a sync catches up.
    state.handle_stream_opened(a, now + 1);
    assert_eq!(state.peers().get(a).unwrap().health, PeerHealth::Up);
    state.handle_timeout(now + 1);
    assert!(tip_requests(&drain(&mut state)).contains(&a));
}

#[test]
fn a_peer_without_events_is_polled_as_before_and_not_followed() {
    let (mut state, ids) = node_with(quiet(), &[("http://old", PeerSource::Config)]);
    let old = ids[0];
    let config = *state.config();
    state.handle_timeout(NOW_MS);
    assert_eq!(follows(&drain(&mut state)), vec![old]);
    let not_found = PeerError::Api {
        status: 404,
        body: ErrorBody {
            error: "not_found".into(),
            message: "no route /events".into(),
        },
    };
    state.handle_stream_ended(old, Err(not_found), NOW_MS + 1);
    assert!(matches!(
        state.stream(old),
        Some(StreamState::Unsupported { .. })
    ));
    assert_eq!(state.peers().get(old).unwrap().health, PeerHealth::Up);
    // Its first sync is still running; after it, it is asked every
    // poll_unfollowed_ms.
    state.handle_response(old, Err(PeerError::Unreachable("x".into())), NOW_MS + 2);
    drain(&mut state);
    let mut now = NOW_MS + 2;
    let mut asked = 0;
    while now < NOW_MS + 10 * config.poll_unfollowed_ms {
        now = state.poll_timeout().max(now + 1);
        state.handle_timeout(now);
        let actions = drain(&mut state);
        assert!(follows(&actions).is_empty(), "never followed meanwhile");
        if tip_requests(&actions).contains(&old) {
            asked += 1;
            state.handle_response(old, Err(PeerError::Unreachable("x".into())), now);
            drain(&mut state);
        }
    }
    assert!(
        (9..=11).contains(&asked),
        "asked {asked} times in 10 intervals"
    );
}

#[test]
fn the_timer_never_comes_due_without_moving_on() {
    // Whatever the peers do, handle_timeout at poll_timeout moves it later
    // (or to "never"): a driver that honours it never spins.
    let (mut state, ids) = node_with(
        NodeConfig {
            max_streams: 2,
            ..NodeConfig::default()
        },
        &[
            ("http://a", PeerSource::Config),
            ("http://b", PeerSource::Api),
            ("http://c", PeerSource::Learned),
        ],
    );
    let mut now = NOW_MS;
    for step in 0..500u64 {
        let due = state.poll_timeout();
        assert!(due != u64::MAX, "peers are known: something is always due");
        now = now.max(due);
        state.handle_timeout(now);
        assert!(state.poll_timeout() > now, "step {step}: due again at once");
        for action in drain(&mut state) {
            match action {
                Action::Follow { peer } if step % 3 == 0 => state.handle_stream_opened(peer, now),
                Action::Follow { peer } => {
                    state.handle_stream_ended(peer, Err(PeerError::Unreachable("x".into())), now)
                }
                Action::Request { peer, .. } => {
                    state.handle_response(peer, Err(PeerError::Unreachable("x".into())), now)
                }
                Action::AskPeers { peer } => state.handle_peer_list(peer, Ok(vec![]), now),
                _ => {}
            }
        }
        drain(&mut state);
        if step % 7 == 0 {
            let peer = ids[(step as usize / 7) % ids.len()];
            state.handle_stream_ended(peer, Ok(()), now);
        }
    }
}

#[test]
fn a_sync_woken_while_one_runs_starts_when_it_ends() {
    // The stream opens while the first sync (asked before a new block)
    // still runs: the sync the stream asks for comes after, not never.
    let (mut state, ids) = node_with(quiet(), &[("http://a", PeerSource::Config)]);
    let a = ids[0];
    state.handle_timeout(NOW_MS);
    assert_eq!(tip_requests(&drain(&mut state)), vec![a]);
    state.handle_stream_opened(a, NOW_MS + 10);
    assert!(
        state.poll_timeout() > NOW_MS + 10,
        "nothing to start while it runs"
    );
    state.handle_timeout(NOW_MS + 10);
    assert!(tip_requests(&drain(&mut state)).is_empty());
    let genesis_only = jbc_core::peer::TipInfo::of(&Chain::new(params()));
    let tip = jbc_core::sync::Response::Tip(genesis_only);
    state.handle_response(a, Ok(tip), NOW_MS + 20);
    drain(&mut state);
    assert_eq!(
        state.poll_timeout(),
        NOW_MS + 10,
        "due since the stream opened"
    );
    state.handle_timeout(NOW_MS + 20);
    assert_eq!(tip_requests(&drain(&mut state)), vec![a]);
}

#[test]
fn a_peer_that_never_answered_is_tried_less_and_less_up_to_a_minute() {
    let (mut state, ids) = node_with(quiet(), &[("http://nat", PeerSource::Config)]);
    let peer = ids[0];
    let config = *state.config();
    let mut now = NOW_MS;
    let mut waits = Vec::new();
    for _ in 0..12 {
        state.handle_timeout(now);
        assert_eq!(follows(&drain(&mut state)), vec![peer]);
        let refused = PeerError::Unreachable("connection refused".into());
        state.handle_stream_ended(peer, Err(refused), now);
        let Some(StreamState::Waiting { retry_at_ms }) = state.stream(peer) else {
            panic!("waiting");
        };
        waits.push(retry_at_ms - now);
        now = retry_at_ms;
    }
    assert_eq!(waits[0], config.stream_retry_ms);
    assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
    assert_eq!(*waits.last().unwrap(), config.stream_retry_never_up_max_ms);
    assert!(config.stream_retry_never_up_max_ms > config.stream_retry_max_ms);
}

#[test]
fn an_announcement_that_raced_an_open_stream_is_sent_again_at_once() {
    let mut state = NodeState::new(Chain::new(params()), quiet());
    state.set_own_url("http://127.0.0.1:5000".into(), false);
    state
        .add_peer("http://127.0.0.2:5001".into(), PeerSource::Config, NOW_MS)
        .unwrap();
    let peer = state.peers().iter().next().unwrap().0;
    drain(&mut state);
    state.handle_timeout(NOW_MS);
    drain(&mut state);
    // The stream got through, the announcement did not (the peer had just
    // started listening).
    state.handle_stream_opened(peer, NOW_MS + 1);
    drain(&mut state);
    let refused = || Err(PeerError::Unreachable("connection refused".into()));
    state.handle_announced(peer, refused(), NOW_MS + 2);
    let again = drain(&mut state);
    assert!(
        again.iter().any(|a| matches!(a, Action::Announce { .. })),
        "{again:?}"
    );
    assert_eq!(state.peers().get(peer).unwrap().health, PeerHealth::Up);
    // A second failure in a row is not retried at once: the peer is down.
    state.handle_announced(peer, refused(), NOW_MS + 3);
    assert!(
        !drain(&mut state)
            .iter()
            .any(|a| matches!(a, Action::Announce { .. }))
    );
    assert_eq!(state.peers().get(peer).unwrap().health, PeerHealth::Down);
}
