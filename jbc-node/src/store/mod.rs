//! [`Store`]: every accepted block, durable, in a redb database in the data dir.
//!
//! # Layout
//! One file, `<data dir>/chain.redb` (see [`tables`]):
//! - `meta` (`&str` → `&str`): `format` (the layout version) and `params`
//!   (the network's params as JSON). A database made for other params is
//!   refused, never rewritten.
//! - `blocks` (`u64` → bytes): every block the chain stored, side branches
//!   included, keyed by an acceptance sequence number and written as the
//!   block JSON of PROTOCOL.md §3 — the very bytes the API serves. Genesis is
//!   derived from the params, never stored.
//! - `headers` (`u64` → 92 bytes): the same blocks' headers, what a restart
//!   reads; `seq_of` (hash → sequence number), to find any stored block;
//!   `best` (height → sequence number), the best chain, which reads walk
//!   in a consistent snapshot without the node's lock.
//!
//! Only blocks the chain stored are written: orphans and `ignored` blocks
//! live in the chain's memory pool and never reach the disk (PROTOCOL.md §6.1), so
//! the file grows only with work at least equal to the best chain's. (An
//! `orphans` table left by an earlier version is dropped on open; a
//! `jbc-node-store-1` database gains its `headers`, `seq_of` and `best`
//! tables once, on open.)
//!
//! # Durability
//! [`Store::append`] commits one redb transaction. With
//! [`Durability::Fsync`] the commit is on disk before it returns (the node
//! answers 200 and relays only after that); sync writes pages with
//! [`Durability::Deferred`] and then calls [`Store::flush`], whose fsync
//! makes every earlier commit durable too. [`Store::set_best`] commits
//! without fsync: the `best` table is derived from the headers, and
//! [`Store::open`] repairs what a crash left behind.
//!
//! # Restart
//! [`Store::open`] replays the headers in sequence order through
//! [`Chain::insert_trusted_header`] into a headers-only chain, which rebuilds
//! the same tree and best tip (ties included, because the order is the
//! acceptance order) without re-hashing and without reading a body.

mod open;
mod snapshot;
pub mod tables;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jbc_core::{Block, Chain, Params, StoredHeader};
use redb::{Database, ReadableDatabase};

pub use snapshot::Snapshot;
use tables::{BLOCKS, HEADERS, META, SEQ_OF, encode_header};

/// How durable an [`Store::append`] must be when it returns: the state
/// machine's own [`Durability`] (`Fsync`:
/// on disk; `Deferred`: made durable by a later [`Store::flush`]).
pub use jbc_core::node_state::Durability;

/// The layout version written in `meta.format`.
pub const FORMAT: &str = "jbc-node-store-2";
/// The layout of earlier versions (no `headers`, `seq_of`, `best`), upgraded on open.
pub const FORMAT_1: &str = "jbc-node-store-1";

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

impl StoreError {
    /// The database file at `path` cannot be opened.
    pub(super) fn open(path: &Path, reason: impl ToString) -> StoreError {
        StoreError::Open {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// A `map_err` for a damaged database at `path`.
    pub(super) fn corrupt(path: &Path) -> impl Fn(String) -> StoreError + '_ {
        move |reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        }
    }
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
pub(super) fn io<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
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
    /// Genesis, derived from the params (never in the tables).
    genesis: Arc<Block>,
    /// The next acceptance sequence number. Writers hold this lock for the
    /// whole transaction, so sequence order is commit order.
    next_seq: Mutex<u64>,
    /// The number of stored blocks, readable while a write holds `next_seq`.
    stored: AtomicU64,
    /// Whether a commit without fsync (sync's blocks) is not yet flushed.
    unflushed: AtomicBool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// redb's page cache by default, in bytes (`--db-cache-mb`; redb's own
/// default is 1 GiB). The chain a node decides on is its headers, in memory;
/// the store is read for bodies — the recent ones by relays and followers,
/// any by whole-chain reads and syncing peers, which stream — so a small
/// cache keeps the hot pages without letting memory grow with the chain.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

impl Store {
    /// Opens (or creates) the database in `dir` for `params` with the
    /// default cache and rebuilds the chain from it ([`Store::open_with_cache`]).
    pub fn open(dir: &Path, params: &Params) -> Result<(Store, Chain, LoadStats), StoreError> {
        Store::open_with_cache(dir, params, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the database in `dir` for `params`, with a page
    /// cache of `cache_bytes`, and rebuilds the chain from it: a headers-only
    /// chain ([`Chain::headers_only`]). Never deletes or rewrites existing
    /// blocks.
    pub fn open_with_cache(
        dir: &Path,
        params: &Params,
        cache_bytes: usize,
    ) -> Result<(Store, Chain, LoadStats), StoreError> {
        let started = Instant::now();
        let (db, path) = open::database(dir, params, cache_bytes)?;
        let (chain, next_seq, blocks) = open::replay(&db, &path, params)?;
        let store = Store {
            db,
            path,
            genesis: Arc::new(jbc_core::genesis(params)),
            next_seq: Mutex::new(next_seq),
            stored: AtomicU64::new(next_seq),
            unflushed: AtomicBool::new(false),
        };
        let stats = LoadStats {
            blocks,
            elapsed: started.elapsed(),
        };
        Ok((store, chain, stats))
    }

    /// The params stored in the database of `dir` (which must exist),
    /// read without changing it, for tools that work on a node's data dir
    /// (`jbc-node export`).
    pub fn stored_params(dir: &Path) -> Result<Params, StoreError> {
        let path = dir.join(FILE_NAME);
        let db = Database::open(&path).map_err(|e| StoreError::open(&path, e))?;
        let corrupt = StoreError::corrupt(&path);
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
    /// `durability` asks ([`Store::commit`] without a change of the best
    /// chain).
    pub fn append<B: Borrow<Block>>(
        &self,
        blocks: &[B],
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.commit(blocks, durability, None)
    }

    /// Records the best chain of `chain` from height `from` up, without
    /// fsync ([`Store::commit`] with no blocks).
    pub fn set_best(&self, from: u64, chain: &Chain) -> Result<(), StoreError> {
        self.commit::<Block>(&[], Durability::Deferred, Some((from, chain)))
    }

    /// Appends `blocks` (parents first) and, with `best = Some((from,
    /// chain))`, records the best chain of `chain` from height `from` up
    /// (forgetting heights above its tip), in one transaction, as durable as
    /// `durability` asks. An `Fsync` call also makes every earlier deferred
    /// commit durable, even with nothing to write: a block acknowledged as
    /// `duplicate` may be one that sync wrote a moment ago without fsync.
    pub fn commit<B: Borrow<Block>>(
        &self,
        blocks: &[B],
        durability: Durability,
        best: Option<(u64, &Chain)>,
    ) -> Result<(), StoreError> {
        let durable = durability == Durability::Fsync;
        if blocks.is_empty() && best.is_none() {
            if durable && self.unflushed.load(Ordering::Acquire) {
                return self.flush();
            }
            return Ok(());
        }
        let op = "appending blocks";
        let mut next_seq = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        let mut write = self.db.begin_write().map_err(io(op))?;
        if !durable {
            write
                .set_durability(redb::Durability::None)
                .map_err(io(op))?;
        }
        let mut seq = *next_seq;
        let mut appended = HashMap::with_capacity(if best.is_some() { blocks.len() } else { 0 });
        {
            let mut bodies = write.open_table(BLOCKS).map_err(io(op))?;
            let mut headers = write.open_table(HEADERS).map_err(io(op))?;
            let mut seq_of = write.open_table(SEQ_OF).map_err(io(op))?;
            for block in blocks {
                let block = block.borrow();
                let json = block.to_json();
                bodies.insert(seq, json.as_bytes()).map_err(io(op))?;
                let header = encode_header(&StoredHeader::from(block));
                headers.insert(seq, header.as_slice()).map_err(io(op))?;
                seq_of.insert(&block.hash.0, seq).map_err(io(op))?;
                if best.is_some() {
                    appended.insert(block.hash, seq);
                }
                seq += 1;
            }
        }
        if let Some((from, chain)) = best {
            open::write_best(&write, chain, from, &appended)
                .map_err(io("recording the best chain"))?;
        }
        write.commit().map_err(io(op))?;
        *next_seq = seq;
        self.stored.store(seq, Ordering::Release);
        // A durable commit persists the earlier ones too.
        self.unflushed.store(!durable, Ordering::Release);
        Ok(())
    }

    /// A consistent, read-only view of the stored blocks as of now, which
    /// later writes do not change; it holds no lock.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Snapshot::new(&self.db, self.genesis.clone()).map_err(io("reading blocks"))
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
        self.stored.load(Ordering::Acquire)
    }

    /// Whether no block is stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
