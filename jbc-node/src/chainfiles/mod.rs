//! The chain as files, like the original JBC's `chaindata` folder:
//! [`export`] writes a database's blocks as JSON lines or as a folder of
//! block files, [`import`] checks such files with the full rules and loads
//! them, and [`follow`] (`--chaindir`) keeps a folder of the best chain up
//! to date on a running node.
//!
//! # Formats
//! Every block is the block JSON of PROTOCOL.md §3, genesis included (height 0).
//! - `jsonl`: one block per line, parents first.
//! - `dir`: one file per block, `<height>.json` for the best chain; with
//!   `--all` (side branches too, so heights repeat) `<height>-<hash>.json`,
//!   which cannot collide.
//!
//! # Import
//! Every block goes through [`Chain::accept_requested`] (all of PROTOCOL.md §5,
//! proof of work and hash included) on the chain loaded from the database,
//! in file order (a folder is read in height order). The first block that
//! breaks a rule, or whose parent is neither stored nor earlier in the
//! files, refuses the whole import, naming the block and the rule; only
//! when every block passed are the stored ones written, in one transaction,
//! so a refused import leaves the database as it was, and a new data dir is
//! created only then (a refused import into a new one leaves none behind).
//!
//! # `--chaindir`
//! [`follow`] (in [`chaindir`]) runs beside the node and keeps a folder of
//! the best chain up to date.

pub mod chaindir;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use std::sync::Arc;

use jbc_core::{Block, BlockError, BlockHash, Chain, Params, Status, genesis};

pub use self::chaindir::{CHAINDIR_BATCH, follow};
use crate::node::now_ms;
use crate::store::{Durability, FILE_NAME, Store, StoreError};

/// Layout of exported files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One block JSON per line.
    Jsonl,
    /// A folder with one block JSON file per block.
    Dir,
}

/// Network flags of `export` and `import`: by default the params stored in
/// the database; a flag given must agree with them. For a new database
/// (import only) unset flags take the node's defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct NetworkFlags {
    /// Network name.
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// Initial difficulty, in leading zero bits.
    #[arg(long, value_name = "BITS")]
    pub difficulty: Option<u32>,
    /// Target time between blocks, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub block_time_ms: Option<u64>,
    /// Retarget window, in blocks.
    #[arg(long, value_name = "BLOCKS")]
    pub retarget_window: Option<u64>,
    /// Lowest difficulty retargeting may reach.
    #[arg(long, value_name = "BITS")]
    pub min_difficulty: Option<u32>,
}

impl NetworkFlags {
    /// `base` with the flags that are given.
    fn over(&self, base: Params) -> Params {
        Params {
            network: self.network.clone().unwrap_or(base.network.clone()),
            initial_difficulty: self.difficulty.unwrap_or(base.initial_difficulty),
            target_block_ms: self.block_time_ms.unwrap_or(base.target_block_ms),
            retarget_window: self.retarget_window.unwrap_or(base.retarget_window),
            min_difficulty: self.min_difficulty.unwrap_or(base.min_difficulty),
            ..base
        }
    }
}

/// `jbc-node export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The node's data dir (the node must not be running on it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The file (jsonl) or folder (dir) to write; a folder must be new or empty.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// jsonl: one block per line; dir: one `<height>.json` file per block.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Every stored block, side branches included, in acceptance order
    /// (dir files are then named `<height>-<hash>.json`).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub network: NetworkFlags,
}

/// `jbc-node import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The node's data dir (created if new; the node must not be running on it).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// A `.jsonl` file or a folder of block files, as `export` writes them.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub network: NetworkFlags,
}

/// Why an export or an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainFilesError {
    /// The database cannot be opened (or belongs to another network).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Export from a data dir without a database.
    #[error("no database in {}", .0.display())]
    NoDatabase(PathBuf),
    /// A file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The export folder already holds files.
    #[error("{} is not empty: export writes into a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// A line or file is not a block.
    #[error("{}{}: not a block: {reason}", path.display(), line.map_or(String::new(), |l| format!(" line {l}")))]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line (jsonl).
        line: Option<usize>,
        /// What serde said.
        reason: String,
    },
    /// The network flags of an import into a new data dir define no
    /// valid network.
    #[error("invalid network flags: {0}")]
    Params(#[from] jbc_core::params::ParamsError),
    /// The files start from another genesis: another network.
    #[error(
        "block 0 {hash} is not this network's genesis {ours}: the files are of another network \
         (into a new data dir, give the network flags they were made with: --network, \
         --difficulty, --block-time-ms, --retarget-window, --min-difficulty)"
    )]
    OtherGenesis {
        /// Genesis in the files.
        hash: BlockHash,
        /// Our genesis.
        ours: BlockHash,
    },
    /// A block breaks a rule of PROTOCOL.md §5: nothing was imported.
    #[error("block {height} {hash} is invalid ({}): {reason}; nothing was imported", reason.code())]
    Invalid {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
        /// The rule.
        reason: BlockError,
    },
    /// A block's parent is neither stored nor earlier in the files.
    #[error(
        "block {height} {hash}: its parent {parent} is neither in the database nor earlier in the files; nothing was imported"
    )]
    UnknownParent {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: BlockHash,
        /// The missing parent.
        parent: BlockHash,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ChainFilesError + '_ {
    move |source| ChainFilesError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`export`] did.
#[derive(Debug, Clone, Copy)]
pub struct ExportStats {
    /// Blocks written, genesis included.
    pub blocks: u64,
    /// Height of the best tip.
    pub height: u64,
    /// Time to load the database.
    pub load: Duration,
    /// Time to write the files.
    pub write: Duration,
}

/// What [`import`] did.
#[derive(Debug, Clone)]
pub struct ImportStats {
    /// Blocks read from the files, genesis included.
    pub read: u64,
    /// Blocks newly stored.
    pub stored: u64,
    /// Blocks the database had already (and genesis).
    pub known: u64,
    /// Height of the best tip afterwards.
    pub height: u64,
    /// The best tip afterwards.
    pub tip: BlockHash,
    /// Time to load, check and write.
    pub elapsed: Duration,
}

/// The params of the database in `dir`, if there is one.
fn params_for(dir: &Path, flags: &NetworkFlags) -> Result<Option<Params>, ChainFilesError> {
    if !dir.join(FILE_NAME).exists() {
        return Ok(None);
    }
    Ok(Some(flags.over(Store::stored_params(dir)?)))
}

/// The node's default params (those of `jbc-node` run with no flags).
fn default_params() -> Params {
    use clap::Parser;
    crate::Config::parse_from(["jbc-node"]).params()
}

/// The file name of `block` in a folder: `<height>.json`, or with `all`
/// (where heights repeat) `<height>-<hash>.json`.
pub fn block_file_name(block: &Block, all: bool) -> String {
    if all {
        format!("{}-{}.json", block.index, block.hash)
    } else {
        format!("{}.json", block.index)
    }
}

/// A block to export: its file name in a folder, and its JSON.
type FileJson = (String, Vec<u8>);

/// `jbc-node export`: writes the best chain (or every stored block) of the
/// database in `args.data_dir`.
pub fn export(args: &ExportArgs) -> Result<ExportStats, ChainFilesError> {
    let params = params_for(&args.data_dir, &args.network)?
        .ok_or_else(|| ChainFilesError::NoDatabase(args.data_dir.clone()))?;
    let started = Instant::now();
    let (store, chain, _) = Store::open(&args.data_dir, &params)?;
    let load = started.elapsed();
    let started = Instant::now();
    let snapshot = store.snapshot()?;
    let read_error = |e: redb::Error| StoreError::Io {
        op: "reading blocks",
        source: e.into(),
    };
    // (file name, JSON) of each block to write, genesis first.
    let genesis = genesis(chain.params());
    let first = std::iter::once(Ok((
        block_file_name(&genesis, args.all),
        genesis.to_json().into_bytes(),
    )));
    let blocks: Box<dyn Iterator<Item = Result<FileJson, StoreError>>> = if args.all {
        let rest = snapshot
            .all_blocks()
            .map_err(read_error)?
            .map(move |entry| {
                let (header, json) = entry.map_err(read_error)?;
                Ok((format!("{}-{}.json", header.index, header.hash), json))
            });
        Box::new(first.chain(rest))
    } else {
        let rest = (1..=snapshot.height()).map(|height| {
            let mut json = Vec::new();
            snapshot
                .write_block_at(height, &mut json)
                .map_err(read_error)?;
            Ok((format!("{height}.json"), json))
        });
        Box::new(first.chain(rest))
    };
    let mut count = 0;
    match args.format {
        Format::Jsonl => {
            let out = &args.out;
            let file = std::fs::File::create(out).map_err(io_error(out))?;
            let mut writer = BufWriter::new(file);
            for block in blocks {
                let (_, json) = block?;
                writer.write_all(&json).map_err(io_error(out))?;
                writer.write_all(b"\n").map_err(io_error(out))?;
                count += 1;
            }
            let file = writer
                .into_inner()
                .map_err(|e| io_error(out)(e.into_error()))?;
            file.sync_all().map_err(io_error(out))?;
        }
        Format::Dir => {
            let out = &args.out;
            std::fs::create_dir_all(out).map_err(io_error(out))?;
            if std::fs::read_dir(out)
                .map_err(io_error(out))?
                .next()
                .is_some()
            {
                return Err(ChainFilesError::NotEmpty(out.clone()));
            }
            for block in blocks {
                let (name, mut json) = block?;
                let path = out.join(name);
                json.push(b'\n');
                std::fs::write(&path, json).map_err(io_error(&path))?;
                count += 1;
            }
        }
    }
    Ok(ExportStats {
        blocks: count,
        height: chain.height(),
        load,
        write: started.elapsed(),
    })
}

/// Reads the blocks of a `.jsonl` file or a folder of block files (a
/// folder in height order, then by name).
pub fn read_blocks(path: &Path) -> Result<Vec<Block>, ChainFilesError> {
    if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io_error(path))? {
            let entry = entry.map_err(io_error(path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let height: u64 = match stem.split('-').next().map(str::parse) {
                Some(Ok(height)) => height,
                _ => continue,
            };
            files.push((height, name, entry.path()));
        }
        files.sort();
        files
            .into_iter()
            .map(|(_, _, file)| {
                let bytes = std::fs::read(&file).map_err(io_error(&file))?;
                serde_json::from_slice(&bytes).map_err(|e| ChainFilesError::Malformed {
                    path: file.clone(),
                    line: None,
                    reason: e.to_string(),
                })
            })
            .collect()
    } else {
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| ChainFilesError::Malformed {
                    path: path.to_path_buf(),
                    line: Some(i + 1),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// Checks `blocks` (parents first) on `chain` with the full rules: the
/// blocks newly stored, in order, and how many it had already.
/// On an error `chain` may hold some of the blocks: throw it away.
pub fn check_blocks(
    chain: &mut Chain,
    blocks: Vec<Block>,
    now_ms: u64,
) -> Result<(Vec<Arc<Block>>, u64), ChainFilesError> {
    let ours = genesis(chain.params()).hash;
    let mut stored = Vec::new();
    let mut known = 0;
    for block in blocks {
        let (height, hash, parent) = (block.index, block.hash, block.prev_hash);
        if height == 0 {
            if hash != ours || block != genesis(chain.params()) {
                return Err(ChainFilesError::OtherGenesis { hash, ours });
            }
            known += 1;
            continue;
        }
        let accepted =
            chain
                .accept_requested(block, now_ms)
                .map_err(|reason| ChainFilesError::Invalid {
                    height,
                    hash,
                    reason,
                })?;
        match accepted.status {
            Status::Orphan => {
                return Err(ChainFilesError::UnknownParent {
                    height,
                    hash,
                    parent,
                });
            }
            Status::Duplicate => known += 1,
            _ => stored.extend_from_slice(&accepted.stored),
        }
    }
    Ok((stored, known))
}

/// `jbc-node import`: checks every block of `args.path` and, only if all
/// pass, appends the ones the chain stored to the database in one
/// transaction. A new data dir is created only then: a refused import
/// leaves the data dir as it was, absent included.
pub fn import(args: &ImportArgs) -> Result<ImportStats, ChainFilesError> {
    let started = Instant::now();
    let existing = params_for(&args.data_dir, &args.network)?;
    let blocks = read_blocks(&args.path)?;
    let read = blocks.len() as u64;
    let (store, mut chain) = match existing {
        Some(params) => {
            let (store, chain, _) = Store::open(&args.data_dir, &params)?;
            (Some(store), chain)
        }
        None => {
            let params = args.network.over(default_params());
            params.check()?;
            (None, Chain::new(params))
        }
    };
    let height_before = chain.height();
    let (to_write, known) = check_blocks(&mut chain, blocks, now_ms())?;
    let store = match store {
        Some(store) => store,
        None => Store::open(&args.data_dir, chain.params())?.0,
    };
    // The best chain changed above the fork with the old one, at most: the
    // blocks and the best chain in one fsynced transaction.
    let fork = to_write
        .iter()
        .map(|b| b.index)
        .min()
        .unwrap_or(height_before + 1);
    let best = Some((fork.min(height_before + 1), &chain));
    store.commit(&to_write, Durability::Fsync, best)?;
    Ok(ImportStats {
        read,
        stored: to_write.len() as u64,
        known,
        height: chain.height(),
        tip: chain.tip().hash,
        elapsed: started.elapsed(),
    })
}
