//! The HTTP accept loop: axum's router on hyper, with the limits
//! `axum::serve` cannot set: a deadline for reading request headers (so a
//! client that never finishes a request cannot hold a connection), one for
//! a write the client does not take ([`stall`]: a reader that stops reading
//! cannot either), a cap on open connections, and a graceful drain on
//! shutdown.

pub mod stall;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Time a client has to send a request's headers once it starts one (and
/// to send the first request after connecting).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections open at once (event streams included); further
/// connections are closed at once until one ends.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long shutdown waits for open requests to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops
/// accepting and drains open connections for at most [`DRAIN_TIMEOUT`].
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("{MAX_CONNECTIONS} connections open: refusing another");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        // Answers are written as they are produced (streamed lists end with
        // a small last chunk): without this, Nagle's algorithm holds that
        // chunk until the client's delayed ACK, ~40 ms a request.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let (stream, stall) = stall::Watched::new(stream);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                // Errors here are the client's (reset, timeout): nothing to report.
                _ = connection => {}
                () = stall::stalled(stall) => {
                    tracing::debug!("closed a connection whose client stopped reading");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "HTTP connections still open after {} s; closing them",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}
