//! Whole-chain reads (`GET /blockchain.json`): admitted a few at a time and
//! streamed in bounded chunks, so no number of readers makes the node hold
//! the chain's bytes again per reader.
//!
//! A read takes a snapshot of the best chain under the lock — the blocks'
//! shared handles (`Arc`), 8 bytes a block, never a copy of a body — and
//! releases the lock at once. The JSON is then written as the socket takes
//! it, about [`CHUNK_BYTES`] at a time: a reader that stops reading holds one
//! chunk. At most [`MAX_WHOLE_CHAIN_READS`] run at once; past that the node
//! answers at once `503 busy` with `Retry-After`. The bytes are exactly
//! those of serialising the whole chain as one JSON array.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jbc_core::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Whole-chain reads served at once. Each holds its snapshot (8 bytes a
/// block) and one chunk; a handful keep a 2-core node's CPU for the cheap
/// routes while serving dashboards and explorers.
pub const MAX_WHOLE_CHAIN_READS: usize = 4;
/// About how many bytes of JSON are written at a time (a chunk ends after
/// the block that crosses it: at most this plus one block, ~26 KiB).
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
    fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// `GET /blockchain.json`: the best chain `snapshot` takes (genesis first),
/// streamed; `None` when as many whole-chain reads run already (then no
/// snapshot is taken, and the caller answers `503 busy`).
pub fn blockchain(reads: &Reads, snapshot: impl FnOnce() -> Vec<Arc<Block>>) -> Option<Response> {
    let permit = reads.admit()?;
    let blocks = snapshot();
    let chunks = Chunks {
        blocks,
        next: 0,
        _permit: permit,
    };
    let stream = futures::stream::unfold(chunks, |mut chunks| async move {
        let chunk = chunks.next_chunk()?;
        Some((Ok::<_, std::convert::Infallible>(chunk), chunks))
    });
    Some(
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(stream),
        )
            .into_response(),
    )
}

/// A snapshot being written out; the permit goes when it is dropped (the
/// answer finished, or the reader left).
struct Chunks {
    blocks: Vec<Arc<Block>>,
    next: usize,
    _permit: OwnedSemaphorePermit,
}

impl Chunks {
    /// The next piece of `[block,block,…]`; `None` after the closing `]`.
    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.next > self.blocks.len() {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK_BYTES + 1024);
        if self.next == 0 {
            out.push(b'[');
        }
        while self.next < self.blocks.len() && out.len() < CHUNK_BYTES {
            if self.next > 0 {
                out.push(b',');
            }
            // A block always serialises (plain fields).
            let _ = serde_json::to_writer(&mut out, &*self.blocks[self.next]);
            self.next += 1;
        }
        if self.next == self.blocks.len() {
            out.push(b']');
            self.next += 1;
        }
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_bounded_and_join_to_the_json_of_the_whole_chain() {
        let mut chain = jbc_core::Chain::new(jbc_core::Params {
            network: "chunks".into(),
            initial_difficulty: 1,
            min_difficulty: 1,
            max_difficulty: 8,
            target_block_ms: 1000,
            retarget_window: 5,
        });
        for i in 0..300u64 {
            let next = chain.next_rules();
            let data = "d".repeat((i as usize * 37) % 4000);
            let mut nonce = 0;
            let block = loop {
                let b = Block::new(
                    next.index,
                    next.min_timestamp_ms + 1,
                    data.clone(),
                    next.prev_hash,
                    next.difficulty,
                    nonce,
                );
                if b.hash.leading_zero_bits() >= b.difficulty {
                    break b;
                }
                nonce += 1;
            };
            chain.accept(block, u64::MAX / 2).expect("valid");
        }
        let whole: Vec<Block> = chain.best_chain().cloned().collect();
        let expected = serde_json::to_vec(&whole).expect("json");
        let (_, permit) = (
            0,
            Arc::new(Semaphore::new(1))
                .try_acquire_owned()
                .expect("permit"),
        );
        let mut chunks = Chunks {
            blocks: chain.best_chain_shared().cloned().collect(),
            next: 0,
            _permit: permit,
        };
        let mut joined = Vec::new();
        let mut count = 0;
        while let Some(chunk) = chunks.next_chunk() {
            assert!(
                chunk.len() <= CHUNK_BYTES + 32 * 1024,
                "chunk of {}",
                chunk.len()
            );
            joined.extend_from_slice(&chunk);
            count += 1;
        }
        assert_eq!(joined, expected, "byte for byte");
        assert!(count > 5, "{count} chunks");
    }
}
