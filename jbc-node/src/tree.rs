//! `GET /tree?from=H`: the block tree above a height, for the page's view
//! of the race — every stored block of every branch from height `H` up, as
//! its header fields plus who mined it, each marked `best` or `side`.
//!
//! The read is bounded: at most [`MAX_TREE_ROWS`] rows, the highest first
//! (by height, then the best-chain block before side ones, then in the
//! order they were stored), so a `from` far below the tip still answers the
//! top of the tree; `truncated` says rows were left out below. Without
//! `from`, the last [`DEFAULT_HEIGHTS`] heights are read. A `from` above the
//! tip answers no rows; one that is not a height is refused (400
//! `malformed`, through [`TreeError`]).
//!
//! Rows are built from header fields only ([`StoredHeader`]s), under the
//! chain's read lock, in one pass over the stored headers that keeps at
//! most [`MAX_TREE_ROWS`] + 1 of them. The one body field a row shows, its
//! data cut to [`MINER_CHARS`] characters (by convention who mined it:
//! "Mined by alice"), is read after that lock is released, from a snapshot
//! of the store on a blocking thread, through `block_data`: the only place
//! this module touches a body.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jbc_core::{BlockHash, Chain, StoredHeader};
use serde::{Deserialize, Serialize};

use crate::node::Node;
use crate::store::Snapshot;

/// Most rows one `GET /tree` answers.
pub const MAX_TREE_ROWS: usize = 500;
/// Heights read when `from` is not given: the tip and the 29 below it.
pub const DEFAULT_HEIGHTS: u64 = 30;
/// Most characters of a block's data a row carries (`miner`).
pub const MINER_CHARS: usize = 64;

/// Which chain a stored block is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Branch {
    /// The node's best chain.
    Best,
    /// A side branch (stored, with less or equal work).
    Side,
}

/// One block of the tree: its header fields (named as in a block's JSON),
/// its branch and who mined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeBlock {
    /// Height.
    pub index: u64,
    /// Its hash.
    pub hash: BlockHash,
    /// Its parent's hash.
    pub prev_hash: BlockHash,
    /// Timestamp (ms since the epoch).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: u64,
    /// Difficulty (leading zero bits).
    pub difficulty: u32,
    /// Nonce.
    pub nonce: u64,
    /// `best` or `side`.
    pub branch: Branch,
    /// Its data, cut to [`MINER_CHARS`] characters ("Mined by alice").
    pub miner: String,
}

/// The answer of `GET /tree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tree {
    /// The lowest height read.
    pub from: u64,
    /// Height of the best tip.
    pub height: u64,
    /// Hash of the best tip.
    pub tip: BlockHash,
    /// Whether stored blocks at or above `from` were left out (below the
    /// last row).
    pub truncated: bool,
    /// At most [`MAX_TREE_ROWS`] blocks, highest first.
    pub blocks: Vec<TreeBlock>,
}

/// Why `GET /tree` is not answered with a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The query is not `from=HEIGHT`: the API answers 400 `malformed`.
    #[error("{0}")]
    BadQuery(String),
    /// The store could not be read: 500 `internal`.
    #[error("reading the tree: {0}")]
    Storage(String),
}

/// The query of `GET /tree`: `from` is read as text so that a bad one gets
/// a message that says what a good one is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeQuery {
    from: Option<String>,
}

/// `GET /tree?from=H`.
pub async fn handler(
    State(node): State<Arc<Node>>,
    query: Result<Query<TreeQuery>, QueryRejection>,
) -> Result<Json<Tree>, TreeError> {
    let Query(query) = query.map_err(|e| {
        TreeError::BadQuery(format!(
            "GET /tree takes one parameter, from=HEIGHT: {}",
            e.body_text()
        ))
    })?;
    let from = query.from.as_deref().map(parse_from).transpose()?;
    tokio::task::spawn_blocking(move || read(&node, from))
        .await
        .map_err(|e| TreeError::Storage(e.to_string()))?
        .map(Json)
}

/// A height, or why `text` is none.
fn parse_from(text: &str) -> Result<u64, TreeError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        TreeError::BadQuery(format!(
            "from must be a height: a whole number from 0 to {}, not {text:?}",
            u64::MAX
        ))
    })
}

/// The tree from height `from` (default: the last [`DEFAULT_HEIGHTS`]
/// heights) up. Blocking: it reads the store.
pub fn read(node: &Node, from: Option<u64>) -> Result<Tree, TreeError> {
    let (mut tree, headers) = {
        let chain = node.chain();
        let height = chain.height();
        let from = from.unwrap_or_else(|| height.saturating_sub(DEFAULT_HEIGHTS - 1));
        let (headers, truncated) = highest_headers(&chain, from);
        let tree = Tree {
            from,
            height,
            tip: chain.tip().hash,
            truncated,
            blocks: Vec::with_capacity(headers.len()),
        };
        (tree, headers)
    };
    // Taken after the lock: it holds every block the chain had then.
    let snapshot = node
        .snapshot()
        .map_err(|e| TreeError::Storage(e.to_string()))?;
    for HeaderRow { header, order } in headers {
        let data = block_data(&snapshot, &header.hash)?.unwrap_or_default();
        tree.blocks.push(TreeBlock {
            index: header.index,
            hash: header.hash,
            prev_hash: header.prev_hash,
            timestamp_ms: header.timestamp_ms,
            difficulty: header.difficulty,
            nonce: header.nonce,
            branch: order.1,
            miner: data.chars().take(MINER_CHARS).collect(),
        });
    }
    Ok(tree)
}

/// The data of the stored block `hash` (any branch, genesis included),
/// read from the store: the only body read of the tree.
fn block_data(snapshot: &Snapshot, hash: &BlockHash) -> Result<Option<String>, TreeError> {
    /// The one field read of a block's JSON.
    #[derive(Deserialize)]
    struct Data {
        data: String,
    }
    let corrupt = |e: String| TreeError::Storage(format!("block {hash}: {e}"));
    let Some(json) = snapshot
        .block_json(hash)
        .map_err(|e| corrupt(e.to_string()))?
    else {
        return Ok(None);
    };
    let Data { data } = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    Ok(Some(data))
}

/// A row's header, with its place in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderRow {
    /// Highest first, best before side, then in the order stored (unique).
    order: (Reverse<u64>, Branch, usize),
    header: StoredHeader,
}

impl Ord for HeaderRow {
    fn cmp(&self, other: &HeaderRow) -> std::cmp::Ordering {
        self.order.cmp(&other.order)
    }
}

impl PartialOrd for HeaderRow {
    fn partial_cmp(&self, other: &HeaderRow) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The first [`MAX_TREE_ROWS`] stored headers at or above `from` in the
/// answer's order, and whether any were left out.
fn highest_headers(chain: &Chain, from: u64) -> (Vec<HeaderRow>, bool) {
    // A max-heap of the rows kept: the last in order is dropped first.
    let mut kept = BinaryHeap::with_capacity(MAX_TREE_ROWS + 1);
    let mut truncated = false;
    for (seq, header) in chain.headers_from_height(from).enumerate() {
        let branch = if chain.is_best(&header.hash) {
            Branch::Best
        } else {
            Branch::Side
        };
        let order = (Reverse(header.index), branch, seq);
        kept.push(HeaderRow { order, header });
        if kept.len() > MAX_TREE_ROWS {
            kept.pop();
            truncated = true;
        }
    }
    (kept.into_sorted_vec(), truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_a_plain_decimal_height() {
        assert_eq!(parse_from("0"), Ok(0));
        assert_eq!(parse_from("42"), Ok(42));
        assert_eq!(parse_from(&u64::MAX.to_string()), Ok(u64::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            "1.5",
            "abc",
            " 1",
            "0x10",
            "18446744073709551616",
        ] {
            let error = parse_from(bad).expect_err(bad);
            assert!(
                error.to_string().contains("from must be a height"),
                "{error}"
            );
        }
    }
}
