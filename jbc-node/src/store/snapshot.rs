//! [`Snapshot`]: a consistent read-only view of the stored blocks (one redb
//! read transaction), which serves bodies without the node's lock.

use std::sync::Arc;

use jbc_core::{Block, BlockHash, StoredHeader};
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};

use super::tables::{BEST, BLOCKS, HEADERS, SEQ_OF, decode_header};

/// The stored blocks as of one moment: writes committed later are not seen.
/// Holding one keeps the pages it reads from being reused, so readers hold
/// it for one answer only.
pub struct Snapshot {
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    headers: ReadOnlyTable<u64, &'static [u8]>,
    seq_of: ReadOnlyTable<&'static [u8; 32], u64>,
    best: ReadOnlyTable<u64, u64>,
    genesis: Arc<Block>,
    height: u64,
}

impl Snapshot {
    pub(super) fn new(db: &Database, genesis: Arc<Block>) -> Result<Snapshot, redb::Error> {
        let read = db.begin_read()?;
        let best = read.open_table(BEST)?;
        let height = best.last()?.map_or(0, |(h, _)| h.value());
        Ok(Snapshot {
            blocks: read.open_table(BLOCKS)?,
            headers: read.open_table(HEADERS)?,
            seq_of: read.open_table(SEQ_OF)?,
            best,
            genesis,
            height,
        })
    }

    /// Height of the best chain's tip in this snapshot.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Appends the JSON of the best chain's block at `height` to `out`;
    /// false (and nothing appended) if there is none.
    pub fn write_block_at(&self, height: u64, out: &mut Vec<u8>) -> Result<bool, redb::Error> {
        if height == 0 {
            out.extend_from_slice(self.genesis.to_json().as_bytes());
            return Ok(true);
        }
        match self.best.get(height)? {
            Some(seq) => self.write_seq(seq.value(), out),
            None => Ok(false),
        }
    }

    /// Appends to `out` the JSON of the best chain's blocks from height
    /// `from` (below `end`), each preceded by `,` unless `first`, until
    /// `out` holds at least `budget` bytes: the height to continue from
    /// (`end`, or where the snapshot's best chain ends, when done).
    pub fn write_blocks(
        &self,
        mut from: u64,
        end: u64,
        mut first: bool,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Result<u64, redb::Error> {
        if from == 0 && from < end && out.len() < budget {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(self.genesis.to_json().as_bytes());
            first = false;
            from = 1;
        }
        if from >= end || out.len() >= budget {
            return Ok(from);
        }
        for entry in self.best.range(from..end)? {
            let (height, seq) = entry?;
            if height.value() != from {
                // A gap: the best chain ends here in this snapshot.
                return Ok(end.min(from));
            }
            if !first {
                out.push(b',');
            }
            first = false;
            if !self.write_seq(seq.value(), out)? {
                return Err(redb::StorageError::Corrupted(format!(
                    "best block at {from} (#{}) is not stored",
                    seq.value()
                ))
                .into());
            }
            from += 1;
            if out.len() >= budget {
                return Ok(from);
            }
        }
        Ok(from)
    }

    /// The JSON of the stored block `hash` (any branch, genesis included).
    pub fn block_json(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>, redb::Error> {
        let mut out = Vec::new();
        if *hash == self.genesis.hash {
            out.extend_from_slice(self.genesis.to_json().as_bytes());
            return Ok(Some(out));
        }
        let Some(seq) = self.seq_of.get(&hash.0)? else {
            return Ok(None);
        };
        Ok(self.write_seq(seq.value(), &mut out)?.then_some(out))
    }

    /// The stored block `hash`, parsed (genesis included).
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, redb::Error> {
        let Some(json) = self.block_json(hash)? else {
            return Ok(None);
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| redb::StorageError::Corrupted(format!("block {hash}: {e}")).into())
    }

    fn write_seq(&self, seq: u64, out: &mut Vec<u8>) -> Result<bool, redb::Error> {
        match self.blocks.get(seq)? {
            Some(json) => {
                out.extend_from_slice(json.value());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every stored block in acceptance order (genesis not included): its
    /// header and its JSON.
    pub fn all_blocks(
        &self,
    ) -> Result<impl Iterator<Item = Result<(StoredHeader, Vec<u8>), redb::Error>> + '_, redb::Error>
    {
        let headers = self.headers.iter()?;
        let bodies = self.blocks.iter()?;
        Ok(headers.zip(bodies).map(|(header, body)| {
            let (seq, header) = header?;
            let (_, body) = body?;
            let header = decode_header(header.value()).ok_or_else(|| {
                redb::StorageError::Corrupted(format!("header #{} is unreadable", seq.value()))
            })?;
            Ok((header, body.value().to_vec()))
        }))
    }
}
