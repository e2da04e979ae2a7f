//! # jbc-node: the JBC native node
//!
//! A node mines on all cores ([`miner`]), serves the HTTP API of the JBC1
//! protocol ([`api`]; the repository's `docs/PROTOCOL.md` §7), keeps the
//! blocks whose branch has the work durably in redb ([`store`]), relays
//! new tips to its peers and syncs from them (each request of jbc-core's
//! stepwise `SyncSession` sent with jbc-client's [`HttpPeer`](jbc_client::HttpPeer)). Every
//! decision — what to store, what to relay, whom to sync with and whom to
//! back off from — is made by jbc-core's sans-IO [`NodeState`](jbc_core::node_state::NodeState);
//! [`node`] is its driver (one lock over the state machine and the store),
//! and [`run`](mod@run) the composition root that wires it to axum,
//! jbc-client, redb and the mining threads.
//!
//! The binary `jbc-node` is a thin wrapper around [`run()`]; tests drive
//! [`start`] (a full node on port 0) or [`app`] (the router alone).
//!
//! ```no_run
//! use clap::Parser;
//! # async fn demo() -> anyhow::Result<()> {
//! let config = jbc_node::Config::parse_from(["jbc-node", "--port", "0", "--mine",
//!     "--threads", "1", "--difficulty", "12", "--data-dir", "/tmp/jbc-doc"]);
//! let running = jbc_node::start(config).await?;
//! println!("API at {}", running.url());
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod announce;
pub mod api;
pub mod chainfiles;
pub mod cli;
pub mod config;
pub mod events;
pub mod metrics;
pub mod miner;
pub mod node;
pub mod peers;
pub mod reads;
pub mod run;
pub mod serve;
pub mod status;
pub mod store;
pub mod tree;

pub use api::app;
pub use config::Config;
pub use node::Node;
pub use run::{RunningNode, start};

/// Runs a node until Ctrl-C or SIGTERM (or a fatal storage failure), then
/// shuts it down cleanly.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Listen for signals before the node announces itself, so a signal sent
    // right after the "node started" line is never missed.
    let signals = ShutdownSignal::listen()?;
    let running = run::start(config).await?;
    tokio::select! {
        () = signals.wait() => tracing::info!("shutting down"),
        () = running.stopping() => {}
    }
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C, or SIGINT/SIGTERM on Unix, registered when created.
struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn listen() -> anyhow::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignal {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
