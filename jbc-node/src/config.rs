//! [`Config`]: the command line of `jbc-node` (clap), also used by tests.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use jbc_core::Params;

/// The one-line description of `jbc-node --help` (and of its subcommands' parent).
pub const ABOUT: &str = "The JBC node: mines on all cores, serves the HTTP API of the JBC1 protocol \
    (docs/PROTOCOL.md), stores durably the blocks whose branch has the work, relays blocks and \
    syncs with its peers.";

/// Command line of the JBC node.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "jbc-node",
    version,
    about = ABOUT,
    after_help = "Example: three nodes on one machine\n  \
        jbc-node -p 5000 -m --peer http://127.0.0.1:5001\n  \
        jbc-node -p 5001 -m --peer http://127.0.0.1:5000 --peer http://127.0.0.1:5002\n  \
        jbc-node -p 5002 --peer http://127.0.0.1:5001\n\
        Logs go to stderr; RUST_LOG=debug shows more."
)]
pub struct Config {
    /// TCP port of the HTTP API (0 picks a free port: the log line "node
    /// started url=…" says which; then --data-dir must be given).
    #[arg(short = 'p', long, default_value_t = 5000)]
    pub port: u16,

    /// Address to listen on (0.0.0.0 to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Mine blocks on this node.
    #[arg(short = 'm', long)]
    pub mine: bool,

    /// Mining threads (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// A peer's base URL, e.g. http://127.0.0.1:5001 (repeat for several).
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,

    /// The URL other nodes reach this one at, announced to every peer
    /// (without it, a node on loopback announces its loopback address to
    /// loopback peers only).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Where the block database lives (default: ./chaindata-PORT; required
    /// with -p 0, whose port differs from run to run).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The block database's page cache, in MiB. The chain's headers are in
    /// memory whatever this is; the cache holds recently read bodies.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_DB_CACHE_MB,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub db_cache_mb: u32,

    /// Name in mined blocks: their data is "Mined by NAME" (default: "node
    /// on port PORT", the port the node listens on, also with -p 0).
    #[arg(long, value_name = "NAME")]
    pub miner: Option<String>,

    /// Network name (part of genesis; nodes with different params never agree).
    #[arg(long, value_name = "NAME", default_value = "main")]
    pub network: String,

    /// Initial difficulty, in leading zero bits of the block hash.
    #[arg(long, value_name = "BITS", default_value_t = 24)]
    pub difficulty: u32,

    /// Target time between blocks, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub block_time_ms: u64,

    /// Retarget window: difficulty may change every this many blocks.
    #[arg(long, value_name = "BLOCKS", default_value_t = 10)]
    pub retarget_window: u64,

    /// Lowest difficulty retargeting may reach.
    #[arg(long, value_name = "BITS", default_value_t = 1)]
    pub min_difficulty: u32,

    /// Directory of the browser miner page served at / (default: ./www, else the repo's www/, when present).
    #[arg(long, value_name = "DIR")]
    pub www: Option<PathBuf>,

    /// Keep DIR a folder of the best chain, one `<height>.json` per block
    /// (rewritten on a reorganisation), like the original JBC's chaindata.
    #[arg(long, value_name = "DIR")]
    pub chaindir: Option<PathBuf>,
}

/// `--db-cache-mb` by default: [`crate::store::DEFAULT_CACHE_BYTES`] in MiB.
pub const DEFAULT_DB_CACHE_MB: u32 = (crate::store::DEFAULT_CACHE_BYTES >> 20) as u32;

impl Config {
    /// The network params these flags define (max difficulty is always 64).
    pub fn params(&self) -> Params {
        Params {
            network: self.network.clone(),
            initial_difficulty: self.difficulty,
            target_block_ms: self.block_time_ms,
            retarget_window: self.retarget_window,
            min_difficulty: self.min_difficulty,
            ..Params::default()
        }
    }

    /// The data dir: `--data-dir`, else `./chaindata-<port>`. With `-p 0`
    /// there is no default, since the port the node gets is known only once
    /// it listens and differs from run to run: a default named after it
    /// would leave a new database behind at every start, and one named
    /// `chaindata-0` would be shared by every such node in the directory.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        match (&self.data_dir, self.port) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, 0) => anyhow::bail!(
                "-p 0 picks a different port on every start, so it names no data dir: \
                 give --data-dir DIR"
            ),
            (None, port) => Ok(PathBuf::from(format!("chaindata-{port}"))),
        }
    }

    /// The data of mined blocks: `Mined by NAME`, by default `Mined by node
    /// on port <port>` with `port` the one the node listens on (the one
    /// picked for `-p 0`).
    pub fn block_data(&self, port: u16) -> String {
        match &self.miner {
            Some(name) => format!("Mined by {name}"),
            None => format!("Mined by node on port {port}"),
        }
    }

    /// Number of mining threads: `--threads`, else every core.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The page directory: `--www`, else `./www`, else the repo's `www/`,
    /// whichever exists.
    pub fn www_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = &self.www {
            return Some(dir.clone());
        }
        let here = PathBuf::from("www");
        if here.is_dir() {
            return Some(here);
        }
        let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../www"));
        repo.is_dir().then_some(repo)
    }
}
