//! Opening the block database: its meta (layout, params), the upgrade of an
//! earlier layout, the replay of the headers and the repair of `best`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jbc_core::{Block, BlockHash, Chain, Params};
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::tables::{
    BEST, BLOCKS, HEADERS, META, OLD_ORPHANS, SEQ_OF, decode_header, encode_header,
};
use super::{FORMAT, FORMAT_1, StoreError, io};
use jbc_core::StoredHeader;

/// Opens (or creates) the database file in `dir` for `params`: checks its
/// layout and params, creates the tables of a new one and upgrades one of
/// [`FORMAT_1`].
pub(super) fn database(
    dir: &Path,
    params: &Params,
    cache_bytes: usize,
) -> Result<(Database, PathBuf), StoreError> {
    let path = dir.join(super::FILE_NAME);
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
        path: path.clone(),
        reason: format!("cannot create the data dir: {e}"),
    })?;
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create(&path)
        .map_err(|e| StoreError::open(&path, e))?;
    let corrupt = StoreError::corrupt(&path);

    // The layout and params: written on first use, compared afterwards.
    let (format, stored_params) = {
        let read = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
        match read.open_table(META) {
            Ok(meta) => {
                let get = |key: &str| -> Result<Option<String>, StoreError> {
                    Ok(meta
                        .get(key)
                        .map_err(|e| corrupt(e.to_string()))?
                        .map(|v| v.value().to_string()))
                };
                (get("format")?, get("params")?)
            }
            Err(redb::TableError::TableDoesNotExist(_)) => (None, None),
            Err(e) => return Err(corrupt(e.to_string())),
        }
    };
    if let Some(format) = &format
        && format != FORMAT
        && format != FORMAT_1
    {
        return Err(corrupt(format!(
            "unknown layout {format:?} (this node writes {FORMAT:?})"
        )));
    }
    if format.is_none() != stored_params.is_none() {
        return Err(corrupt("the meta table is incomplete".into()));
    }
    match stored_params {
        Some(json) => {
            let stored: Params = serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("stored params are unreadable: {e}")))?;
            if &stored != params {
                return Err(StoreError::OtherNetwork {
                    path: path.clone(),
                    stored: Box::new(stored),
                    configured: Box::new(params.clone()),
                });
            }
        }
        None => create(&db, params)?,
    }
    if format.as_deref() == Some(FORMAT_1) {
        upgrade(&db).map_err(|e| corrupt(format!("upgrading from {FORMAT_1}: {e}")))?;
    }
    drop_old_orphans(&db).map_err(|e| corrupt(e.to_string()))?;
    drop(corrupt);
    Ok((db, path))
}

/// Writes the meta and creates the tables of a new database.
fn create(db: &Database, params: &Params) -> Result<(), StoreError> {
    let op = "creating the database";
    let json = serde_json::to_string(params).map_err(io(op))?;
    let write = db.begin_write().map_err(io(op))?;
    {
        let mut meta = write.open_table(META).map_err(io(op))?;
        meta.insert("format", FORMAT).map_err(io(op))?;
        meta.insert("params", json.as_str()).map_err(io(op))?;
        write.open_table(BLOCKS).map_err(io(op))?;
        write.open_table(HEADERS).map_err(io(op))?;
        write.open_table(SEQ_OF).map_err(io(op))?;
        write.open_table(BEST).map_err(io(op))?;
    }
    write.commit().map_err(io(op))
}

/// Adds the `headers` and `seq_of` tables to a [`FORMAT_1`] database, from
/// its blocks, in one transaction (`best` is written by the replay's repair).
fn upgrade(db: &Database) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let write = db.begin_write()?;
    {
        let bodies = write.open_table(BLOCKS)?;
        let mut headers = write.open_table(HEADERS)?;
        let mut seq_of = write.open_table(SEQ_OF)?;
        write.open_table(BEST)?;
        for entry in bodies.iter()? {
            let (seq, json) = entry?;
            let block: Block = serde_json::from_slice(json.value())
                .map_err(|e| format!("block #{} is unreadable: {e}", seq.value()))?;
            let header = encode_header(&StoredHeader::from(&block));
            headers.insert(seq.value(), header.as_slice())?;
            seq_of.insert(&block.hash.0, seq.value())?;
        }
        let mut meta = write.open_table(META)?;
        meta.insert("format", FORMAT)?;
    }
    write.commit()?;
    tracing::info!("upgraded the database from {FORMAT_1} to {FORMAT}");
    Ok(())
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

/// Rebuilds the headers-only chain from the `headers` table in acceptance
/// order, then brings `best` in line with it: the chain, the next sequence
/// number and how many blocks were replayed.
pub(super) fn replay(
    db: &Database,
    path: &Path,
    params: &Params,
) -> Result<(Chain, u64, u64), StoreError> {
    let corrupt = StoreError::corrupt(path);
    let mut chain = Chain::headers_only(params.clone());
    let mut next_seq = 0;
    let mut count = 0;
    {
        let read = db.begin_read().map_err(|e| corrupt(e.to_string()))?;
        let table = read
            .open_table(HEADERS)
            .map_err(|e| corrupt(e.to_string()))?;
        for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
            let (seq, bytes) = entry.map_err(|e| corrupt(e.to_string()))?;
            let seq = seq.value();
            let header = decode_header(bytes.value())
                .ok_or_else(|| corrupt(format!("header #{seq} has the wrong length")))?;
            chain
                .insert_trusted_header(header)
                .map_err(|e| corrupt(format!("block #{seq}: {e}")))?;
            next_seq = seq + 1;
            count += 1;
        }
    }
    repair_best(db, &chain).map_err(|e| corrupt(format!("recording the best chain: {e}")))?;
    Ok((chain, next_seq, count))
}

/// Rewrites `best` from the lowest height where it differs from `chain`
/// (nothing, after a clean stop; the whole chain, after an upgrade).
fn repair_best(db: &Database, chain: &Chain) -> Result<(), redb::Error> {
    let from = {
        let read = db.begin_read()?;
        let best = read.open_table(BEST)?;
        let seq_of = read.open_table(SEQ_OF)?;
        let above = best
            .last()?
            .is_some_and(|(height, _)| height.value() > chain.height());
        let mut from = chain.height() + 1;
        for height in (1..=chain.height()).rev() {
            let Some(hash) = chain.hash_at(height) else {
                break;
            };
            let want = seq_of.get(&hash.0)?.map(|seq| seq.value());
            let have = best.get(height)?.map(|seq| seq.value());
            if want.is_some() && want == have {
                break;
            }
            from = height;
        }
        (from <= chain.height() || above).then_some(from)
    };
    let Some(from) = from else {
        return Ok(());
    };
    let write = db.begin_write()?;
    write_best(&write, chain, from, &HashMap::new())?;
    write.commit()?;
    Ok(())
}

/// Writes `best` for heights `from..=` the tip of `chain` and removes the
/// heights above the tip, in `write`. `appended` holds the sequence numbers
/// of the blocks this transaction wrote (most of a change), by hash; the
/// others are looked up.
pub(super) fn write_best(
    write: &WriteTransaction,
    chain: &Chain,
    from: u64,
    appended: &HashMap<BlockHash, u64>,
) -> Result<(), redb::Error> {
    let mut best = write.open_table(BEST)?;
    let seq_of = write.open_table(SEQ_OF)?;
    let height = chain.height();
    let last = best.last()?.map_or(0, |(h, _)| h.value());
    for stale in height + 1..=last {
        best.remove(stale)?;
    }
    for h in from.max(1)..=height {
        let hash = chain
            .hash_at(h)
            .ok_or_else(|| redb::StorageError::Corrupted(format!("no best block at {h}")))?;
        let seq = match appended.get(&hash) {
            Some(&seq) => seq,
            None => seq_of
                .get(&hash.0)?
                .ok_or_else(|| {
                    redb::StorageError::Corrupted(format!("best block {hash} at {h} is not stored"))
                })?
                .value(),
        };
        best.insert(h, seq)?;
    }
    Ok(())
}
