//! The HTTP API of PROTOCOL.md §7: [`app`] builds the axum [`Router`], and
//! [`ApiError`] is every error answer (`{"error": code, "message": text}`).
//!
//! Limits: request bodies at most [`MAX_BODY_BYTES`] (413 `too_large`),
//! every request answered within [`REQUEST_TIMEOUT`] (408 `timeout`; event
//! streams are long-lived by design and only their opening is bounded),
//! pages of at most [`MAX_PAGE`] blocks, `GET /tree` ([`crate::tree`]) at
//! most [`MAX_TREE_ROWS`](crate::tree::MAX_TREE_ROWS) rows. CORS allows any origin on every
//! route but `GET /metrics` ([`crate::metrics`], which no page of another
//! site may read), private-network preflights included, so a page from anywhere can
//! mine for any node; but `POST /peers` answers 403 `forbidden` to a request
//! whose `Origin` is not the node's own, so no page of another site can
//! steer whom the node talks to (PROTOCOL.md §7). `POST` bodies are read as JSON
//! whatever their `Content-Type`, so a page can post without a preflight.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use jbc_core::peer::{ErrorBody, MAX_PAGE, SubmitReply};
use jbc_core::{Block, BlockError, BlockHash};
use serde::{Deserialize, Serialize};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

use crate::events::{Event, Source};
use crate::node::{AcceptError, AddPeer, Node};
use jbc_core::node_state::PeerSource;

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 32 * 1024;
/// Longest time to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `limit` of `GET /blocks`.
pub const DEFAULT_PAGE: u32 = 100;
pub use crate::events::KEEP_ALIVE;

#[cfg(test)]
mod tests;

/// Every error the API answers.
#[derive(Debug)]
pub enum ApiError {
    /// 422 with the PROTOCOL.md §5 code.
    Invalid(BlockError),
    /// 400 `malformed`.
    Malformed(String),
    /// 404 `not_found`.
    NotFound(String),
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 403 `forbidden`: a web page of another site asked to add a peer.
    Forbidden(String),
    /// 413 `too_large`.
    TooLarge,
    /// 408 `timeout`.
    Timeout,
    /// 503 `unavailable`: the node is stopping (after a storage failure).
    Unavailable(String),
    /// 500 `internal`: the store could not be read, or a task of the node
    /// failed (a bug); the message says which.
    Internal(String),
    /// 503 `busy` with `Retry-After: <secs>`: as many whole-chain reads
    /// as the node admits run already.
    Busy {
        /// What to tell the reader.
        message: String,
        /// When to retry, in seconds.
        retry_after_secs: u64,
    },
}

impl ApiError {
    /// Status and protocol error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.code()),
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Timeout => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Invalid(e) => e.to_string(),
            ApiError::Malformed(m)
            | ApiError::NotFound(m)
            | ApiError::Unavailable(m)
            | ApiError::Internal(m)
            | ApiError::Forbidden(m)
            | ApiError::Busy { message: m, .. } => m.clone(),
            ApiError::MethodNotAllowed => "this route does not take that method".into(),
            ApiError::TooLarge => format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            ApiError::Timeout => format!(
                "the request took longer than {} s",
                REQUEST_TIMEOUT.as_secs()
            ),
        }
    }

    fn from_body(rejection: BytesRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::Malformed(format!("cannot read the body: {}", rejection.body_text()))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = ErrorBody {
            error: code.into(),
            message: self.message(),
        };
        match self {
            ApiError::Busy {
                retry_after_secs, ..
            } => (
                status,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                Json(body),
            )
                .into_response(),
            _ => (status, Json(body)).into_response(),
        }
    }
}

/// `GET /tree`'s errors: a bad query is 400 `malformed`.
impl IntoResponse for crate::tree::TreeError {
    fn into_response(self) -> Response {
        use crate::tree::TreeError;
        match self {
            TreeError::BadQuery(message) => ApiError::Malformed(message),
            TreeError::Storage(_) => ApiError::Internal(self.to_string()),
        }
        .into_response()
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> ApiError {
        match e {
            AcceptError::Invalid(e) => ApiError::Invalid(e),
            AcceptError::Storage(e) => ApiError::Unavailable(e.to_string()),
            AcceptError::Task(e) => {
                ApiError::Internal(format!("the task accepting the block failed: {e}"))
            }
        }
    }
}

impl From<AddPeer> for ApiError {
    fn from(e: AddPeer) -> ApiError {
        match e {
            AddPeer::Stopping(e) => ApiError::Unavailable(e.to_string()),
            AddPeer::BadUrl(_) | AddPeer::Full(_) => ApiError::Malformed(e.to_string()),
        }
    }
}

type Shared = State<Arc<Node>>;

/// The router of a node: PROTOCOL.md §7 routes, limits, CORS; `www` is served at `/`.
pub fn app(node: Arc<Node>, www: Option<PathBuf>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(Any)
        .allow_private_network(true)
        .max_age(Duration::from_secs(3600));
    let timeout = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::Timeout
        }))
        .timeout(REQUEST_TIMEOUT);
    let www = www.map(|dir| Arc::new(ServeDir::new(dir)));
    let api = Router::new()
        .route("/blockchain.json", get(blockchain))
        .route("/blocks", get(blocks))
        .route("/blocks/{hash}", get(block))
        .route("/tip", get(tip))
        .route("/mined", post(mined))
        .route("/events", get(events))
        .route("/status", get(status))
        .route("/peers", get(peers).post(add_peer))
        .route("/tree", get(crate::tree::handler))
        .fallback(move |request: Request| static_page(www.clone(), request))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(node.clone())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(timeout)
        .layer(cors);
    // `GET /metrics` outside the CORS layer; every request counted.
    with_metrics(api, node)
}

/// `GET /blockchain.json`: the best chain, genesis first (see
/// [`crate::reads`]: streamed from a snapshot, admitted a few at a time).
async fn blockchain(State(node): Shared) -> Result<Response, ApiError> {
    let Some(permit) = node.reads().admit() else {
        use crate::reads::{MAX_WHOLE_CHAIN_READS, RETRY_AFTER_SECS};
        return Err(ApiError::Busy {
            message: format!(
                "this node already serves {MAX_WHOLE_CHAIN_READS} whole-chain reads; retry in \
                 {RETRY_AFTER_SECS} s"
            ),
            retry_after_secs: RETRY_AFTER_SECS,
        });
    };
    let take = move || node.snapshot();
    crate::reads::best_blocks(take, 0, u64::MAX, Some(permit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Query of `GET /blocks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    from: Option<u64>,
    limit: Option<u32>,
}

/// `GET /blocks?from=H&limit=N`: streamed from a snapshot.
async fn blocks(
    State(node): Shared,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Malformed(e.body_text()))?;
    let from = query.from.unwrap_or(0);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let take = move || node.snapshot();
    crate::reads::best_blocks(take, from, u64::from(limit), None)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /blocks/{hash}`: any branch.
async fn block(
    State(node): Shared,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(hash) =
        hash.map_err(|e| ApiError::Malformed(format!("bad block hash: {}", e.body_text())))?;
    let hash: BlockHash = hash
        .parse()
        .map_err(|e| ApiError::Malformed(format!("bad block hash: {e}")))?;
    let json = tokio::task::spawn_blocking(move || {
        let snapshot = node.snapshot().map_err(|e| e.to_string())?;
        snapshot.block_json(&hash).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading a block: {e}")))?
    .map_err(|e| ApiError::Internal(format!("reading a block: {e}")))?;
    json.map(crate::reads::one_block)
        .ok_or_else(|| ApiError::NotFound(format!("no block {hash}")))
}

/// `GET /tip`.
async fn tip(State(node): Shared) -> Response {
    Json(node.tip_info()).into_response()
}

/// `GET /status`.
async fn status(State(node): Shared) -> Response {
    Json(node.status()).into_response()
}

/// `POST /mined`.
async fn mined(
    State(node): Shared,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SubmitReply>, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let block: Block = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Malformed(format!("not a block: {e}")))?;
    let (height, hash) = (block.index, block.hash);
    let accepted = node.submit(block, Source::Submitted).await?;
    Ok(Json(SubmitReply {
        status: accepted.status.into(),
        height,
        hash,
    }))
}

/// The body of `GET /peers` and `POST /peers`.
#[derive(Debug, Serialize)]
struct PeersBody {
    peers: Vec<crate::peers::PeerView>,
}

/// `GET /peers`.
async fn peers(State(node): Shared) -> Json<PeersBody> {
    Json(PeersBody {
        peers: node.peer_views(),
    })
}

/// Whether a request comes from a web page of another site: it carries an
/// `Origin` header that is not the node's own page. The node's own page is
/// `http://` or `https://` + the `Host` the request was sent to, where that
/// host is an IP address or `localhost`: a DNS name could be rebound to this
/// node by any site, so it is never taken as the node's own. Requests
/// without `Origin` (curl, other nodes) are not from a page.
fn foreign_origin(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|host| host_is_an_address(host))
        .is_some_and(|host| {
            origin.eq_ignore_ascii_case(&format!("http://{host}"))
                || origin.eq_ignore_ascii_case(&format!("https://{host}"))
        });
    (!own).then_some(origin)
}

/// Whether a `Host` header names an IP address or `localhost` (with or
/// without a port): a name no other site can make point here.
fn host_is_an_address(host: &str) -> bool {
    if host.parse::<std::net::SocketAddr>().is_ok() || host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Body of `POST /peers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPeer {
    url: String,
}

/// `POST /peers` with `{"url": "http://host:port"}`: 403 from a page of
/// another site, 400 for a bad URL or a full list, 503 while the node is
/// stopping.
async fn add_peer(
    State(node): Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PeersBody>, ApiError> {
    if let Some(origin) = foreign_origin(&headers) {
        return Err(ApiError::Forbidden(format!(
            "a page of {origin:?} may not add peers to this node (only its own page, or a client without Origin, may)"
        )));
    }
    let body = body.map_err(ApiError::from_body)?;
    let NewPeer { url } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::Malformed(format!("expected {{\"url\": \"http://host:port\"}}: {e}"))
    })?;
    let added = {
        let node = node.clone();
        tokio::task::spawn_blocking(move || node.add_peer(&url, PeerSource::Api))
            .await
            .map_err(|e| ApiError::Internal(format!("the task adding the peer failed: {e}")))?
    };
    added?;
    Ok(Json(PeersBody {
        peers: node.peer_views(),
    }))
}

/// `GET /events`: Server-Sent Events until the client leaves or the node
/// shuts down; a `status` event first, keep-alive comments in between.
async fn events(State(node): Shared) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = node.subscribe();
    let hello = node.status_event();
    let shutdown = node.shutdown_token().clone();
    let first = futures::stream::once(async move { Ok(to_sse(&hello)) });
    let rest = futures::stream::unfold(
        (receiver, shutdown),
        |(mut receiver, shutdown)| async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    next = receiver.recv() => next,
                };
                match next {
                    Ok(event) => return Some((Ok(to_sse(&event)), (receiver, shutdown))),
                    // A slow client missed some events; carry on with the next.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    use futures::StreamExt;
    Sse::new(first.chain(rest)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default().event(event.name()).data(event.data())
}

/// Everything else: the page directory for `GET`/`HEAD`, else 404 JSON.
async fn static_page(www: Option<Arc<ServeDir>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let not_found = || ApiError::NotFound(format!("no route {path}")).into_response();
    let Some(www) = www else {
        return not_found();
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::MethodNotAllowed.into_response();
    }
    match www.as_ref().clone().oneshot(request).await {
        Ok(response) if response.status().is_success() || response.status().is_redirection() => {
            let (mut parts, body) = response.into_parts();
            // wasm must be served with its MIME type for streaming compilation.
            if path.ends_with(".wasm") {
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/wasm"),
                );
            }
            Response::from_parts(parts, Body::new(body))
        }
        Ok(response) if response.status() == StatusCode::NOT_MODIFIED => response.map(Body::new),
        _ => not_found(),
    }
}

/// Adds `GET /metrics` to `api` (outside its layers, so without CORS) and
/// counts every request of the whole router.
fn with_metrics(api: Router, node: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(node.clone())
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(node, track_http))
}

/// `GET /metrics`.
async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let text = node.scrape_metrics();
    let content_type = crate::metrics::CONTENT_TYPE;
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Counts a request by method, route and status, and times it. Requests
/// that match no route (the page's files, 404s) are counted as `other`.
async fn track_http(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only the methods the API knows, so no client can add series at will.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    node.metrics().http_request(
        &method,
        &route,
        response.status(),
        started.elapsed().as_secs_f64(),
    );
    response
}
