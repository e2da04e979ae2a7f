//! [`Cli`]: the whole command line of `jbc-node`: the node's flags
//! ([`Config`]) when run without a subcommand, or `export` / `import`
//! ([`crate::chainfiles`]).

use clap::{Parser, Subcommand};

use crate::chainfiles::{ExportArgs, ImportArgs};
use crate::config::Config;

/// `jbc-node [FLAGS]` runs a node; `jbc-node export|import …` works on a
/// data dir.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "jbc-node",
    version,
    about = crate::config::ABOUT,
    after_help = "Example: three nodes on one machine\n  \
        jbc-node -p 5000 -m --peer http://127.0.0.1:5001\n  \
        jbc-node -p 5001 -m --peer http://127.0.0.1:5000 --peer http://127.0.0.1:5002\n  \
        jbc-node -p 5002 --peer http://127.0.0.1:5001\n\
        The chain as files:\n  \
        jbc-node export --data-dir chaindata-5000 --out chain.jsonl\n  \
        jbc-node import --data-dir chaindata-5003 chain.jsonl\n\
        Logs go to stderr; RUST_LOG=debug shows more.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A tool instead of the node.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The node's flags.
    #[command(flatten)]
    pub node: Config,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Write the best chain (or every stored block) of a data dir as JSON
    /// lines or a folder of block files.
    Export(ExportArgs),
    /// Check a .jsonl file or a folder of block files with the full rules
    /// and add its blocks to a data dir (all or nothing).
    Import(ImportArgs),
}
