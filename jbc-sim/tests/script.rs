//! Scripted runs: a given topology, params, epoch and block schedule end as
//! the node's rules say, with or without latency, and the same script gives
//! the same run.

use jbc_core::{Block, BlockHash, Candidate, Chain, Header, Params, Status};
use jbc_sim::network::Topology;
use jbc_sim::script::{Outcome, Script, Submission};
use jbc_sim::world::mine_difficulty_1;
use jbc_sim::{Report, rng::Rng};

const EPOCH_MS: u64 = 1_800_000_000_000;

fn params() -> Params {
    Params {
        network: "script".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        target_block_ms: 1_000,
        retarget_window: 10,
        ..Params::default()
    }
}

/// Mines a child of `parent` into `chain` (stored whatever its work, so
/// side branches can be built on) and returns it.
fn child(chain: &mut Chain, parent: BlockHash, data: &str) -> Block {
    let next = chain.next_rules_after(&parent).expect("parent built");
    let candidate = Candidate {
        header: Header {
            index: next.index,
            timestamp_ms: EPOCH_MS.max(next.min_timestamp_ms),
            difficulty: next.difficulty,
            prev_hash: next.prev_hash,
            data_hash: BlockHash::sha256(data.as_bytes()),
            nonce: 0,
        },
        data: data.into(),
    };
    let block = mine_difficulty_1(&candidate);
    chain
        .accept_requested(block.clone(), EPOCH_MS)
        .expect("a valid block");
    block
}

/// Six nodes in a line, 0 - 1 - 2 - 3 - 4 - 5, and a schedule that goes
/// through each decision: extension at different nodes, an equal-work
/// competitor (side, kept by one node), a child before its parent (orphan),
/// and a heavier branch everyone reorganises to.
struct Scenario {
    script: Script,
    a: Vec<Block>,
    side: Block,
    orphan_parent: Block,
    orphan: Block,
    heavy: Vec<Block>,
}

fn scenario(spacing_ms: u64) -> Scenario {
    let mut chain = Chain::new(params());
    let genesis = chain.genesis().hash;
    let a1 = child(&mut chain, genesis, "a1");
    let a2 = child(&mut chain, a1.hash, "a2");
    let side = child(&mut chain, a1.hash, "s2");
    let a3 = child(&mut chain, a2.hash, "a3");
    let orphan_parent = child(&mut chain, a3.hash, "a4");
    let orphan = child(&mut chain, orphan_parent.hash, "a5");
    let h4 = child(&mut chain, a3.hash, "h4");
    let h5 = child(&mut chain, h4.hash, "h5");
    let h6 = child(&mut chain, h5.hash, "h6");
    let schedule = [
        (0, &a1),
        (5, &a2),
        (3, &side),
        (2, &a3),
        (1, &orphan),
        (4, &orphan_parent),
        (5, &h4),
        (5, &h5),
        (5, &h6),
    ];
    let submissions = schedule
        .iter()
        .enumerate()
        .map(|(i, (node, block))| Submission {
            at_ms: (i as u64 + 1) * spacing_ms,
            node: *node,
            block: (*block).clone(),
        })
        .collect();
    let line = Topology::from_outbound(
        (0..6)
            .map(|i| (i < 5).then_some(i + 1).into_iter().collect())
            .collect(),
    )
    .expect("a valid topology");
    let mut script = Script::new(line, params(), EPOCH_MS, submissions);
    script.settle_ms = 10_000;
    Scenario {
        script,
        a: vec![a1, a2, a3],
        side,
        orphan_parent,
        orphan,
        heavy: vec![h4, h5, h6],
    }
}

fn check_outcome(s: &Scenario, outcome: &Outcome) {
    let answers: Vec<Status> = (0..9)
        .map(|i| *outcome.answer(i).unwrap().as_ref().unwrap())
        .collect();
    use Status::*;
    assert_eq!(
        answers,
        [
            NewTip, NewTip, Side, NewTip, Orphan, NewTip, Ignored, Side, Reorg
        ]
    );
    let h6 = s.heavy[2].hash;
    assert_eq!(outcome.tips(), vec![h6; 6]);
    for node in 0..6 {
        for block in s.a.iter().chain(&s.heavy) {
            assert!(outcome.stores(node, &block.hash), "node {node}");
        }
        // The branch everyone left stays stored.
        assert!(outcome.stores(node, &s.orphan_parent.hash));
        assert!(outcome.stores(node, &s.orphan.hash));
        // A tie is not relayed: only the node it was handed to has it.
        assert_eq!(outcome.stores(node, &s.side.hash), node == 3, "node {node}");
    }
    assert_eq!(outcome.chain(0).height(), 6);
}

#[test]
fn a_schedule_ends_as_the_rules_say_without_latency() {
    let mut s = scenario(1_000);
    s.script.latency_scale = 0.0;
    s.script.infinite_bandwidth = true;
    let outcome = s.script.clone().run().expect("a valid script");
    check_outcome(&s, &outcome);
    let report = Report::of(outcome.into_observations());
    // Everyone reorganised to the heavy branch, two blocks deep.
    assert_eq!(
        report.reorg_depths.get(&2),
        Some(&6),
        "{}",
        report.summary()
    );
    assert_eq!(report.blocks_mined, 9);
    assert_eq!(report.final_height, 6);
}

#[test]
fn with_latency_the_same_schedule_ends_the_same_and_runs_are_repeatable() {
    // Latencies of the 2019 network, events 10 s apart.
    let s = scenario(10_000);
    let outcome = s.script.clone().run().expect("a valid script");
    check_outcome(&s, &outcome);
    let json = |o: Outcome| serde_json::to_string(&Report::of(o.into_observations())).unwrap();
    let again = s.script.clone().run().expect("a valid script");
    assert_eq!(json(outcome), json(again));
}

#[test]
fn a_script_on_a_random_topology_spreads_a_block_to_every_node() {
    let topology = Topology::random(30, 2, &mut Rng::new(9));
    let mut chain = Chain::new(params());
    let genesis = chain.genesis().hash;
    let block = child(&mut chain, genesis, "b1");
    let submissions = vec![Submission {
        at_ms: 100,
        node: 7,
        block: block.clone(),
    }];
    let outcome = Script::new(topology, params(), EPOCH_MS, submissions)
        .run()
        .expect("a valid script");
    assert_eq!(outcome.tips(), vec![block.hash; 30]);
}

#[test]
fn a_script_naming_a_missing_node_is_refused() {
    let topology = Topology::from_outbound(vec![vec![1], vec![]]).unwrap();
    let mut chain = Chain::new(params());
    let genesis = chain.genesis().hash;
    let block = child(&mut chain, genesis, "b1");
    let submissions = vec![Submission {
        at_ms: 0,
        node: 2,
        block,
    }];
    assert!(
        Script::new(topology, params(), EPOCH_MS, submissions)
            .run()
            .is_err()
    );
}

/// Nodes 1 and 2 cannot be dialled and link out to node 0 only. A block
/// handed to node 1 reaches node 0 by relay (node 1 dials out); node 0
/// cannot relay it to node 2, which hears of it through the `/events`
/// stream it follows at once. With following off, node 2 polls node 0
/// every 3 s and has not asked again by the end of the run.
#[test]
fn an_unreachable_node_hears_of_a_block_through_the_stream_it_follows() {
    let mut chain = Chain::new(params());
    let genesis = chain.genesis().hash;
    let block = child(&mut chain, genesis, "b1");
    let run = |follow: bool| {
        let topology = Topology::from_outbound(vec![vec![], vec![0], vec![0]]).unwrap();
        let submissions = vec![Submission {
            at_ms: 1_000,
            node: 1,
            block: block.clone(),
        }];
        let mut script = Script::new(topology, params(), EPOCH_MS, submissions);
        script.latency_scale = 0.0;
        script.infinite_bandwidth = true;
        script.unreachable = vec![1, 2];
        script.follow = follow;
        script.settle_ms = 1_000;
        script.run().expect("a valid script")
    };
    let following = run(true);
    assert_eq!(following.tips(), vec![block.hash; 3]);
    let report = Report::of(following.into_observations());
    // Node 1 and node 2 each follow node 0; node 0 follows nobody.
    assert_eq!(report.streams_opened, 2, "{}", report.summary());
    let polling = run(false);
    assert!(polling.stores(0, &block.hash));
    assert!(!polling.stores(2, &block.hash));
}
