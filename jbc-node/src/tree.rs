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
//! `malformed`, through [`BadTreeQuery`]).
//!
//! Rows are built from header fields only, under the chain's read lock, in
//! one pass over the stored blocks that keeps at most [`MAX_TREE_ROWS`] + 1
//! of them. The one body field a row shows, its data cut to
//! [`MINER_CHARS`] characters (by convention who mined it: "Mined by
//! alice"), is read after that lock is released, through `block_data`:
//! the only place this module touches a body.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use jbc_core::{BlockHash, Chain};
use serde::{Deserialize, Serialize};

use crate::node::Node;

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

/// Why a `GET /tree` query is refused: the API answers it 400 `malformed`
/// with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTreeQuery(pub String);

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
) -> Result<Json<Tree>, BadTreeQuery> {
    let Query(query) = query.map_err(|e| {
        BadTreeQuery(format!(
            "GET /tree takes one parameter, from=HEIGHT: {}",
            e.body_text()
        ))
    })?;
    let from = query.from.as_deref().map(parse_from).transpose()?;
    Ok(Json(read(&node, from)))
}

/// A height, or why `text` is none.
fn parse_from(text: &str) -> Result<u64, BadTreeQuery> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        BadTreeQuery(format!(
            "from must be a height: a whole number from 0 to {}, not {text:?}",
            u64::MAX
        ))
    })
}

/// The tree from height `from` (default: the last [`DEFAULT_HEIGHTS`]
/// heights) up.
pub fn read(node: &Node, from: Option<u64>) -> Tree {
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
    tree.blocks = headers
        .into_iter()
        .map(|row| TreeBlock {
            index: row.index,
            hash: row.hash,
            prev_hash: row.prev_hash,
            timestamp_ms: row.timestamp_ms,
            difficulty: row.difficulty,
            nonce: row.nonce,
            branch: row.order.1,
            miner: block_data(node, &row.hash)
                .map(|data| data.chars().take(MINER_CHARS).collect())
                .unwrap_or_default(),
        })
        .collect();
    tree
}

/// The data of the stored block `hash` (any branch). The only body read of
/// the tree: where bodies live (the chain today) is known here alone.
fn block_data(node: &Node, hash: &BlockHash) -> Option<String> {
    node.chain().block(hash).map(|block| block.data.clone())
}

/// A row's header fields, ordered as the answer lists them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct HeaderRow {
    /// Highest first, best before side, then in the order stored (unique).
    order: (Reverse<u64>, Branch, usize),
    index: u64,
    hash: BlockHash,
    prev_hash: BlockHash,
    timestamp_ms: u64,
    difficulty: u32,
    nonce: u64,
}

/// The first [`MAX_TREE_ROWS`] stored headers at or above `from` in the
/// answer's order, and whether any were left out.
fn highest_headers(chain: &Chain, from: u64) -> (Vec<HeaderRow>, bool) {
    // A max-heap of the rows kept: the last in order is dropped first.
    let mut kept = BinaryHeap::with_capacity(MAX_TREE_ROWS + 1);
    let mut truncated = false;
    let stored = chain.all_blocks().enumerate();
    for (seq, header) in stored.filter(|(_, header)| header.index >= from) {
        let branch = if chain.is_best(&header.hash) {
            Branch::Best
        } else {
            Branch::Side
        };
        kept.push(HeaderRow {
            order: (Reverse(header.index), branch, seq),
            index: header.index,
            hash: header.hash,
            prev_hash: header.prev_hash,
            timestamp_ms: header.timestamp_ms,
            difficulty: header.difficulty,
            nonce: header.nonce,
        });
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
            assert!(error.0.contains("from must be a height"), "{error}");
        }
    }
}
