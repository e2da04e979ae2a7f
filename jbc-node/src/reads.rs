//! Reads of block bodies: `GET /blockchain.json`, `GET /blocks` pages and
//! `GET /blocks/{hash}`, served from a store [`Snapshot`] (one redb read
//! transaction) without the node's lock, so no read waits for a write and
//! none holds the chain while it serialises or waits on a socket.
//!
//! Lists are streamed: about [`CHUNK_BYTES`] of JSON at a time, produced on
//! a blocking thread as the socket takes them, so a reader — however long
//! the chain, however slow the reader — costs the node one chunk and its
//! snapshot. Whole-chain reads are admitted [`MAX_WHOLE_CHAIN_READS`] at a
//! time; past that the node answers at once `503 busy` with `Retry-After`.
//! The bytes are exactly those of serialising the blocks as one JSON array
//! (the store keeps each block's JSON as the API writes it).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use futures::StreamExt;

use crate::store::{Snapshot, StoreError};

/// Whole-chain reads served at once. Each holds a snapshot and one chunk;
/// a handful keep a 2-core node's CPU for the cheap routes while serving
/// dashboards and explorers.
pub const MAX_WHOLE_CHAIN_READS: usize = 4;
/// About how many bytes of JSON are written at a time (a chunk ends after
/// the block that crosses it: at most this plus one block, ~4 KiB more).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// What a reader turned away is told to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The permits of whole-chain reads.
#[derive(Debug)]
pub struct Reads(Arc<Semaphore>);

impl Default for Reads {
    fn default() -> Self {
        Reads(Arc::new(Semaphore::new(MAX_WHOLE_CHAIN_READS)))
    }
}

impl Reads {
    /// A permit, if fewer than [`MAX_WHOLE_CHAIN_READS`] reads run.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// The best chain's blocks at heights `from..from + count` (cut at the
/// tip) as a JSON array, read from a store snapshot `take` gives; `permit`
/// is held until the answer is written or the reader leaves. The snapshot
/// and the first chunk are read on one blocking thread; an answer that fits
/// in that chunk is sent whole, a longer one is streamed.
pub async fn best_blocks(
    take: impl FnOnce() -> Result<Snapshot, StoreError> + Send + 'static,
    from: u64,
    count: u64,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Response, ReadError> {
    let first = tokio::task::spawn_blocking(move || {
        let snapshot = take().map_err(ReadError::Store)?;
        let end = from
            .saturating_add(count)
            .min(snapshot.height().saturating_add(1));
        let mut chunks = Chunks {
            snapshot,
            next: from,
            end,
            written: 0,
            opened: false,
            _permit: permit,
        };
        let first = chunks.next_chunk().map_err(ReadError::Read)?;
        Ok::<_, ReadError>((first, chunks))
    })
    .await
    .map_err(|e| ReadError::Task(e.to_string()))??;
    let ((bytes, last), chunks) = first;
    if last {
        return Ok(json(Body::from(bytes)));
    }
    // The state is `None` once the list is closed or a read failed (then
    // the answer is cut: the reader sees a broken body, never a
    // well-formed shorter list).
    let rest = futures::stream::unfold(Some(chunks), |state| async move {
        let mut chunks = state?;
        let produced = tokio::task::spawn_blocking(move || {
            let chunk = chunks.next_chunk();
            (chunk, chunks)
        })
        .await;
        match produced {
            Ok((Ok((bytes, last)), chunks)) => Some((Ok(bytes), (!last).then_some(chunks))),
            Ok((Err(e), _)) => Some((Err(std::io::Error::other(e)), None)),
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    });
    let stream = futures::stream::once(async move { Ok(bytes) }).chain(rest);
    Ok(json(Body::from_stream(stream)))
}

/// Why a read could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No snapshot could be taken.
    #[error(transparent)]
    Store(StoreError),
    /// The store could not be read.
    #[error("reading blocks: {0}")]
    Read(redb::Error),
    /// The blocking task failed.
    #[error("reading blocks: {0}")]
    Task(String),
}

/// One block's JSON as the answer.
pub fn one_block(json: Vec<u8>) -> Response {
    json_bytes(json)
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    json(Body::from(bytes))
}

fn json(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A list being written out.
struct Chunks {
    snapshot: Snapshot,
    /// The next height to write.
    next: u64,
    /// One past the last height.
    end: u64,
    /// Blocks written so far.
    written: u64,
    /// Whether the `[` was written.
    opened: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Chunks {
    /// The next piece of `[block,block,…]`, and whether it is the last
    /// (ending with `]`).
    fn next_chunk(&mut self) -> Result<(Bytes, bool), redb::Error> {
        let mut out = Vec::with_capacity(CHUNK_BYTES + 8 * 1024);
        if !self.opened {
            out.push(b'[');
            self.opened = true;
        }
        let next = self.snapshot.write_blocks(
            self.next,
            self.end,
            self.written == 0,
            &mut out,
            CHUNK_BYTES,
        )?;
        self.written += next - self.next;
        // Fewer blocks than asked: the snapshot's best chain ends there.
        if next < self.end && out.len() < CHUNK_BYTES {
            self.end = next;
        }
        self.next = next;
        let last = self.next >= self.end;
        if last {
            out.push(b']');
        }
        Ok((Bytes::from(out), last))
    }
}
