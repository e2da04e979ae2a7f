//! Each refusal of the node is answered with the status and code of its
//! cause: a stopping node is 503 `unavailable` (never `400 malformed`),
//! a failed task is 500 `internal` (never a storage failure).

use axum::http::StatusCode;
use axum::response::IntoResponse;
use jbc_core::node_state::AddPeerError;
use jbc_core::peer::ErrorBody;
use jbc_core::wire::BadUrl;

use super::ApiError;
use crate::node::{AcceptError, AddPeer};
use crate::store::StoreError;

/// The status and body `error` answers.
async fn answer(error: impl Into<ApiError>) -> (StatusCode, ErrorBody) {
    let response = error.into().into_response();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (
        status,
        serde_json::from_slice(&body).expect("an error body"),
    )
}

#[tokio::test]
async fn a_peer_refused_by_a_stopping_node_is_503_unavailable() {
    let (status, body) = answer(AddPeer::Stopping(StoreError::Stopped)).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert_eq!(body.message, "the node is stopping after a storage failure");
}

#[tokio::test]
async fn a_bad_url_or_a_full_list_is_400_malformed() {
    let (status, body) = answer(AddPeer::BadUrl(BadUrl("\"ftp://x\" is not http".into()))).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    assert_eq!(body.message, "\"ftp://x\" is not http");
    let (status, body) = answer(AddPeer::Full(AddPeerError::Full(32))).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::BAD_REQUEST, "malformed")
    );
}

#[tokio::test]
async fn a_failed_task_is_500_internal_not_a_storage_failure() {
    // A task that ended without its answer (cancelled here; a panic reads
    // the same way).
    let task = tokio::spawn(std::future::pending::<()>());
    task.abort();
    let failed = task.await.expect_err("the task was cancelled");
    let (status, body) = answer(AcceptError::Task(failed)).await;
    assert_eq!(
        (status, body.error.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal")
    );
    assert!(
        body.message
            .starts_with("the task accepting the block failed")
            && body.message.contains("cancelled"),
        "{}",
        body.message
    );
    assert!(!body.message.contains("storage"), "{}", body.message);
}
