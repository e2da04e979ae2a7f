//! # jbc-node: the JBC native node
//!
//! A node mines on all cores ([`miner`]), serves the HTTP API of SPEC §7
//! ([`api`]), keeps every block it accepts durably in redb ([`store`]),
//! relays new tips to its peers and syncs from them with jbc-core's sync
//! over a reqwest [`peers::HttpPeer`]. [`node`] ties these together: every
//! block, whoever brought it, goes through the same accept → persist →
//! announce → relay path.
//!
//! The binary `jbc-node` is a thin wrapper around [`run`]; tests drive
//! [`node::start`] (a full node on port 0) or [`app`] (the router alone).
//!
//! ```no_run
//! use clap::Parser;
//! # async fn demo() -> anyhow::Result<()> {
//! let config = jbc_node::Config::parse_from(["jbc-node", "--port", "0", "--mine",
//!     "--threads", "1", "--difficulty", "12", "--data-dir", "/tmp/jbc-doc"]);
//! let running = jbc_node::node::start(config).await?;
//! println!("API at {}", running.url());
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod events;
pub mod miner;
pub mod node;
pub mod peers;
pub mod store;

pub use api::app;
pub use config::Config;
pub use node::{Node, RunningNode, start};

/// Runs a node until Ctrl-C or SIGTERM (or a fatal storage failure), then
/// shuts it down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let running = node::start(config).await?;
    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutting down"),
        () = running.stopping() => {}
    }
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
