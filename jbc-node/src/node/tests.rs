//! A node that is stopping (a write failed) refuses every event and says
//! so: nothing is added, and the refusal names the stop, not the request.

use std::sync::Arc;

use jbc_core::node_state::{NodeConfig, PeerSource};
use jbc_core::{Block, Chain, Params};

use super::{AcceptError, AddPeer, Node, now_ms};
use crate::events::Source;
use crate::store::{Store, StoreError};

/// A node on a fresh store in its own temporary directory (removed by the
/// caller), at difficulty 1.
fn node(name: &str) -> (Arc<Node>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("jbc-node-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let params = Params {
        network: "stopping".into(),
        initial_difficulty: 1,
        min_difficulty: 1,
        ..Params::default()
    };
    let (store, chain, _) = Store::open(&dir, &params).expect("a fresh store");
    let node = Node::new(chain, store, "unit".into(), None, NodeConfig::default());
    (Arc::new(node), dir)
}

/// A valid child of `chain`'s tip (difficulty 1: about two nonces).
fn next_block(chain: &Chain) -> Block {
    let candidate = chain.next_template("next".into(), now_ms());
    (0u64..)
        .map(|nonce| candidate.block(nonce))
        .find(|b| b.hash.leading_zero_bits() >= b.difficulty)
        .expect("a nonce meets difficulty 1")
}

#[test]
fn a_stopping_node_refuses_a_peer_and_a_block_as_stopping_and_adds_neither() {
    let (node, dir) = node("stopping");
    let block = next_block(&node.chain());
    // What a failed write leaves behind (see `Node::handle_as`).
    node.write().failed = true;

    let refused = node.add_peer("http://127.0.0.1:9", PeerSource::Api);
    assert!(
        matches!(refused, Err(AddPeer::Stopping(StoreError::Stopped))),
        "{refused:?}"
    );
    assert!(node.peer_views().is_empty(), "no peer was added");
    let refused = node.accept_block(block, Source::Submitted);
    assert!(
        matches!(refused, Err(AcceptError::Storage(StoreError::Stopped))),
        "{refused:?}"
    );
    assert_eq!(node.chain().height(), 0, "no block was added");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_running_node_still_refuses_a_bad_url_as_such() {
    let (node, dir) = node("bad-url");
    let refused = node.add_peer("ftp://127.0.0.1:9", PeerSource::Api);
    assert!(matches!(refused, Err(AddPeer::BadUrl(_))), "{refused:?}");
    assert!(node.peer_views().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
