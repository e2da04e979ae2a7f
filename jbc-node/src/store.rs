//! [`Store`]: every accepted block, durable, in a redb database in the data dir.
//!
//! # Layout
//! One file, `<data dir>/chain.redb`, with two tables:
//! - `meta` (`&str` → `&str`): `format` (the layout version) and `params`
//!   (the network's params as JSON). A database made for other params is
//!   refused, never rewritten.
//! - `blocks` (`u64` → bytes): every block the chain stored, side branches
//!   included, keyed by an acceptance sequence number and written as the
//!   block JSON of PROTOCOL.md §3. Genesis is derived from the params, never stored.
//!
//! Only blocks the chain stored are written: orphans and `ignored` blocks
//! live in the chain's memory pool and never reach the disk (PROTOCOL.md §6.1), so
//! the file grows only with work at least equal to the best chain's. (An
//! `orphans` table left by an earlier version is dropped on open.)
//!
//! # Durability
//! [`Store::append`] commits one redb transaction. With
//! [`Durability::Fsync`] the commit is on disk before it returns (the node
//! answers 200 and relays only after that); sync writes pages with
//! [`Durability::Deferred`] and then calls [`Store::flush`], whose fsync
//! makes every earlier commit durable too.
//!
//! # Restart
//! [`Store::open`] replays the blocks in sequence order through
//! [`Chain::insert_trusted`], which rebuilds the same tree and best tip (ties
//! included, because the order is the acceptance order) without re-hashing.

use std::borrow::Borrow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jbc_core::{Block, Chain, Params};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// How durable an [`Store::append`] must be when it returns: the state
/// machine's own [`Durability`] (`Fsync`:
/// on disk; `Deferred`: made durable by a later [`Store::flush`]).
pub use jbc_core::node_state::Durability;

const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Written by earlier versions (orphans on disk); dropped on open.
const OLD_ORPHANS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("orphans");

/// The layout version written in `meta.format`.
pub const FORMAT: &str = "jbc-node-store-1";

/// File name of the database inside the data dir.
pub const FILE_NAME: &str = "chain.redb";

/// Why the store cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir or database file cannot be created or opened (including
    /// a file that is not a redb database, or one another process holds).
    #[error("cannot open the database {}: {reason}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What redb or the OS said.
        reason: String,
    },
    /// The database belongs to another network: its params differ.
    #[error(
        "the database {} belongs to another network: it was made with {}, but this node runs {}; \
         start with the same network flags or another --data-dir (nothing was changed)",
        path.display(),
        params_line(stored),
        params_line(configured)
    )]
    OtherNetwork {
        /// The database file.
        path: PathBuf,
        /// Params stored in the database.
        stored: Box<Params>,
        /// Params this node was started with.
        configured: Box<Params>,
    },
    /// The database opened but its content is damaged or not ours.
    #[error(
        "the database {} is damaged: {reason}; it was left untouched (move it away to start afresh)",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A read or write failed while running.
    #[error("storage failure while {op}: {source}")]
    Io {
        /// What the store was doing (e.g. "appending blocks").
        op: &'static str,
        /// What redb (or the encoder) said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A write came after a storage failure: the node is stopping.
    #[error("the node is stopping after a storage failure")]
    Stopped,
}

/// Drops the `orphans` table an earlier version kept (orphans are never
/// written any more); a no-op on databases without it.
fn drop_old_orphans(db: &Database) -> Result<(), redb::Error> {
    let exists = {
        let read = db.begin_read()?;
        match read.open_table(OLD_ORPHANS) {
            Ok(_) => true,
            Err(redb::TableError::TableDoesNotExist(_)) => false,
            Err(e) => return Err(e.into()),
        }
    };
    if exists {
        let write = db.begin_write()?;
        write.delete_table(OLD_ORPHANS)?;
        write.commit()?;
        tracing::info!(
            "dropped the orphans table of an earlier version (orphans are kept in memory only)"
        );
    }
    Ok(())
}

/// Params as the flags that set them, for messages.
fn params_line(p: &Params) -> String {
    format!(
        "--network {} --difficulty {} --block-time-ms {} --retarget-window {} --min-difficulty {} \
         (max {})",
        p.network,
        p.initial_difficulty,
        p.target_block_ms,
        p.retarget_window,
        p.min_difficulty,
        p.max_difficulty
    )
}

/// A `map_err` for a failure while doing `op`.
fn io<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    op: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Io {
        op,
        source: e.into(),
    }
}

/// What [`Store::open`] found.
#[derive(Debug, Clone, Copy)]
pub struct LoadStats {
    /// Blocks replayed from the database (genesis not counted).
    pub blocks: u64,
    /// Time spent opening and replaying.
    pub elapsed: Duration,
}

/// The block database of one node.
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The next acceptance sequence number. Writers hold this lock for the
    /// whole transaction, so sequence order is commit order.
    next_seq: Mutex<u64>,
    /// Whether a commit without fsync (sync's blocks) is not yet flushed.
    unflushed: AtomicBool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// redb's page cache, in bytes, set explicitly (redb's own default is
/// 1 GiB): the chain the node decides on is in memory already, and the
/// store is read at start-up, for syncing peers' pages and for whole-chain
/// reads, which stream; 64 MiB keeps the recent pages without letting the
/// cache grow with the chain.
pub const DB_CACHE_BYTES: usize = 64 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the database in `dir` for `params` and rebuilds the
    /// chain from it. Never deletes or rewrites existing blocks.
    pub fn open(dir: &Path, params: &Params) -> Result<(Store, Chain, LoadStats), StoreError> {
        let started = Instant::now();
        let path = dir.join(FILE_NAME);
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: path.clone(),
            reason: format!("cannot create the data dir: {e}"),
        })?;
        let db = Database::builder()
            .set_cache_size(DB_CACHE_BYTES)
            .create(&path)
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };

        // The params: written on first use, compared afterwards.
        let stored_params = {
            let read = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
            match read.open_table(META) {
                Ok(meta) => {
                    let format = meta
                        .get("format")
                        .map_err(|e| corrupt(e.to_string()))?
                        .map(|v| v.value().to_string());
                    if let Some(format) = &format
                        && format != FORMAT
                    {
                        return Err(corrupt(format!(
                            "unknown layout {format:?} (this node writes {FORMAT:?})"
                        )));
                    }
                    let params = meta
                        .get("params")
                        .map_err(|e| corrupt(e.to_string()))?
                        .map(|v| v.value().to_string());
                    if format.is_none() != params.is_none() {
                        return Err(corrupt("the meta table is incomplete".into()));
                    }
                    params
                }
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(corrupt(e.to_string())),
            }
        };
        match stored_params {
            Some(json) => {
                let stored: Params = serde_json::from_str(&json)
                    .map_err(|e| corrupt(format!("stored params are unreadable: {e}")))?;
                if &stored != params {
                    return Err(StoreError::OtherNetwork {
                        path,
                        stored: Box::new(stored),
                        configured: Box::new(params.clone()),
                    });
                }
            }
            None => {
                let json = serde_json::to_string(params).map_err(io("creating the database"))?;
                let write = db.begin_write().map_err(io("creating the database"))?;
                {
                    let mut meta = write
                        .open_table(META)
                        .map_err(io("creating the database"))?;
                    meta.insert("format", FORMAT)
                        .map_err(io("creating the database"))?;
                    meta.insert("params", json.as_str())
                        .map_err(io("creating the database"))?;
                    write
                        .open_table(BLOCKS)
                        .map_err(io("creating the database"))?;
                }
                write.commit().map_err(io("creating the database"))?;
            }
        }

        // Replay the blocks in acceptance order.
        let mut chain = Chain::new(params.clone());
        let mut next_seq = 0;
        let mut count = 0;
        {
            let read = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
            let table = read
                .open_table(BLOCKS)
                .map_err(|e| corrupt(e.to_string()))?;
            for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
                let (seq, bytes) = entry.map_err(|e| corrupt(e.to_string()))?;
                let seq = seq.value();
                let block: Block = serde_json::from_slice(bytes.value())
                    .map_err(|e| corrupt(format!("block #{seq} is unreadable: {e}")))?;
                chain
                    .insert_trusted(block)
                    .map_err(|e| corrupt(format!("block #{seq}: {e}")))?;
                next_seq = seq + 1;
                count += 1;
            }
        }
        drop_old_orphans(&db).map_err(|e| corrupt(e.to_string()))?;
        let store = Store {
            db,
            path,
            next_seq: Mutex::new(next_seq),
            unflushed: AtomicBool::new(false),
        };
        let stats = LoadStats {
            blocks: count,
            elapsed: started.elapsed(),
        };
        Ok((store, chain, stats))
    }

    /// The params stored in the database of `dir` (which must exist),
    /// read without changing it, for tools that work on a node's data dir
    /// (`jbc-node export`).
    pub fn stored_params(dir: &Path) -> Result<Params, StoreError> {
        let path = dir.join(FILE_NAME);
        let db = Database::open(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        let read = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
        let meta = read.open_table(META).map_err(|e| corrupt(e.to_string()))?;
        let json = meta
            .get("params")
            .map_err(|e| corrupt(e.to_string()))?
            .ok_or_else(|| corrupt("no params in the meta table".into()))?;
        serde_json::from_str(json.value())
            .map_err(|e| corrupt(format!("stored params are unreadable: {e}")))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `blocks` (parents first) in one transaction, as durable as
    /// `durability` asks. An `Fsync` call also makes every earlier deferred
    /// append durable, even with no blocks: a block acknowledged as
    /// `duplicate` may be one that sync wrote a moment ago without fsync.
    pub fn append<B: Borrow<Block>>(
        &self,
        blocks: &[B],
        durability: Durability,
    ) -> Result<(), StoreError> {
        let durable = durability == Durability::Fsync;
        if blocks.is_empty() {
            if durable && self.unflushed.load(Ordering::Acquire) {
                return self.flush();
            }
            return Ok(());
        }
        let mut next_seq = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        let mut write = self.db.begin_write().map_err(io("appending blocks"))?;
        if !durable {
            write
                .set_durability(redb::Durability::None)
                .map_err(io("appending blocks"))?;
        }
        let mut seq = *next_seq;
        {
            let mut table = write.open_table(BLOCKS).map_err(io("appending blocks"))?;
            for block in blocks {
                let json = block.borrow().to_json();
                table
                    .insert(seq, json.as_bytes())
                    .map_err(io("appending blocks"))?;
                seq += 1;
            }
        }
        write.commit().map_err(io("appending blocks"))?;
        *next_seq = seq;
        // A durable commit persists the earlier ones too.
        self.unflushed.store(!durable, Ordering::Release);
        Ok(())
    }

    /// Makes every earlier commit durable (one fsynced, empty commit).
    pub fn flush(&self) -> Result<(), StoreError> {
        let next_seq = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        self.unflushed.store(false, Ordering::Release);
        let write = self.db.begin_write().map_err(io("flushing"))?;
        {
            // A real (tiny) write, so the commit cannot be skipped as empty.
            let mut meta = write.open_table(META).map_err(io("flushing"))?;
            meta.insert("flushed_blocks", next_seq.to_string().as_str())
                .map_err(io("flushing"))?;
        }
        write.commit().map_err(io("flushing"))
    }

    /// Number of stored blocks (genesis not counted).
    pub fn len(&self) -> u64 {
        *self.next_seq.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether no block is stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
