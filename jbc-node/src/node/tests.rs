//! A node that is stopping (a write failed) refuses every event and says
//! so truthfully, and a failed task is answered as one, not as a storage
//! failure.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use jbc_core::node_state::{NodeConfig, PeerSource};
use jbc_core::peer::ErrorBody;
use jbc_core::{Block, Chain, Params};
use tower::ServiceExt;

use super::{AcceptError, AddPeer, Node, now_ms};
use crate::api::{ApiError, app};
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

/// `request` through the router: the status and the error body.
async fn answer(node: &Arc<Node>, request: Request<Body>) -> (StatusCode, ErrorBody) {
    let response = app(node.clone(), None)
        .oneshot(request)
        .await
        .expect("an answer");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let error = serde_json::from_slice(&body).expect("an error body");
    (status, error)
}

fn post(path: &str, json: String) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(json))
        .expect("a request")
}

#[tokio::test]
async fn a_stopping_node_answers_503_and_adds_no_peer_and_no_block() {
    let (node, dir) = node("stopping");
    let block = next_block(&node.chain());
    // What a failed write leaves behind (see `Node::handle_as`).
    node.write().failed = true;

    let refused = node.add_peer("http://127.0.0.1:9", PeerSource::Api);
    assert!(
        matches!(refused, Err(AddPeer::Stopping(StoreError::Stopped))),
        "{refused:?}"
    );
    let peer = serde_json::json!({ "url": "http://127.0.0.1:9" }).to_string();
    let (status, error) = answer(&node, post("/peers", peer)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error.error, "unavailable");
    assert_eq!(
        error.message,
        "the node is stopping after a storage failure"
    );
    assert!(node.peer_views().is_empty(), "no peer was added");

    let (status, error) = answer(&node, post("/mined", block.to_json())).await;
    assert_eq!(
        (status, error.error.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert_eq!(node.chain().height(), 0, "no block was added");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_bad_url_is_still_400_malformed_while_the_node_runs() {
    let (node, dir) = node("bad-url");
    let peer = serde_json::json!({ "url": "ftp://127.0.0.1:9" }).to_string();
    let (status, error) = answer(&node, post("/peers", peer)).await;
    assert_eq!(
        (status, error.error.as_str()),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    assert!(node.peer_views().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_failed_task_is_answered_500_internal_not_as_a_storage_failure() {
    // A task that ended without its answer (cancelled here; a panic reads
    // the same way).
    let task = tokio::spawn(std::future::pending::<()>());
    task.abort();
    let failed = task.await.expect_err("the task was cancelled");
    let e = AcceptError::Task(failed);
    assert!(
        e.to_string()
            .starts_with("the task accepting the block failed"),
        "{e}"
    );
    let response = ApiError::from(e).into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let error: ErrorBody = serde_json::from_slice(&body).expect("an error body");
    assert_eq!(error.error, "internal");
    assert!(error.message.contains("cancelled"), "{}", error.message);
    assert!(!error.message.contains("storage"), "{}", error.message);
}
