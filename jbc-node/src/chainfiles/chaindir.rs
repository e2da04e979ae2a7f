//! `--chaindir DIR`: [`follow`] runs beside the node and keeps `DIR` a
//! folder of the best chain, one `<height>.json` per block, genesis
//! included. After each change of the best chain (the driver's
//! `TipChanged`, seen as `/events`' `block` and `reorg`) it rewrites the
//! files above the fork point and removes those above the new tip. The
//! hashes to write are read under the node's lock in batches of
//! [`CHAINDIR_BATCH`]; the blocks are then read from a store snapshot and
//! written after it is released; each file is written whole (temporary
//! file, then rename). On start it reads the folder and rewrites only what
//! differs from the chain. A failure is logged and retried on the next
//! change; it never stops the node.

use std::path::PathBuf;
use std::sync::Arc;

use jbc_core::{Block, BlockHash, Chain};
use tokio::sync::broadcast::error::TryRecvError;

use super::block_file_name;
use crate::node::Node;

/// Hashes read from the chain per hold of the node's lock by [`follow`].
pub const CHAINDIR_BATCH: usize = 1_000;

/// A folder of the best chain as `<height>.json` files, and what it holds.
#[derive(Debug)]
struct ChainDir {
    dir: PathBuf,
    /// The hash in `<h>.json`, by height, as far as known (`None`: no file
    /// or an unreadable one). Once verified, a hash-linked chain from
    /// genesis: a match at a height means every lower file matches too.
    written: Vec<Option<BlockHash>>,
    /// Whether `written` was compared with the chain whole since opening.
    verified: bool,
    /// The highest height a file may exist for.
    top_file: Option<u64>,
}

impl ChainDir {
    /// Creates `dir` if needed and reads which blocks its files hold.
    fn open(dir: PathBuf) -> std::io::Result<ChainDir> {
        std::fs::create_dir_all(&dir)?;
        let mut written: Vec<Option<BlockHash>> = Vec::new();
        let mut top_file = None;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(Ok(height)) = name.strip_suffix(".json").map(str::parse::<u64>) else {
                continue;
            };
            top_file = top_file.max(Some(height));
            let hash = std::fs::read(entry.path())
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Block>(&bytes).ok())
                .filter(|b| b.index == height)
                .map(|b| b.hash);
            let Ok(at) = usize::try_from(height) else {
                continue;
            };
            if at >= written.len() {
                written.resize(at + 1, None);
            }
            written[at] = hash;
        }
        Ok(ChainDir {
            dir,
            written,
            verified: false,
            top_file,
        })
    }

    /// The first height whose file is not the chain's block (the chain's
    /// height + 1 if all are).
    fn first_stale(&mut self, chain: &Chain) -> u64 {
        let height = chain.height() as usize;
        let matches = |at: usize, written: &[Option<BlockHash>]| {
            written.get(at).copied().flatten() == chain.hash_at(at as u64)
        };
        if !self.verified {
            self.verified = true;
            let first = (0..=height)
                .find(|&at| !matches(at, &self.written))
                .unwrap_or(height + 1);
            self.written.truncate(first);
            return first as u64;
        }
        let mut at = self.written.len().min(height + 1);
        while at > 0 && !matches(at - 1, &self.written) {
            at -= 1;
        }
        self.written.truncate(at);
        at as u64
    }

    /// Brings the folder to `node`'s best chain; the first failure is returned
    /// (and retried on the next call).
    fn sync(&mut self, node: &Node) -> std::io::Result<()> {
        loop {
            let (height, hashes) = {
                let chain = node.chain();
                let from = self.first_stale(&chain);
                let to = chain
                    .height()
                    .min(from.saturating_add(CHAINDIR_BATCH as u64 - 1));
                let hashes: Vec<BlockHash> = (from..=to).filter_map(|h| chain.hash_at(h)).collect();
                (chain.height(), hashes)
            };
            let snapshot = node.snapshot().map_err(std::io::Error::other)?;
            let mut batch = Vec::with_capacity(hashes.len());
            for hash in hashes {
                let block = snapshot
                    .block(&hash)
                    .map_err(std::io::Error::other)?
                    .ok_or_else(|| std::io::Error::other(format!("block {hash} is not stored")))?;
                batch.push(block);
            }
            if batch.is_empty() {
                // Up to date: remove the files above the tip (a shorter
                // best chain after a reorganisation).
                if let Some(top) = self.top_file.filter(|&top| top > height) {
                    for at in (height + 1..=top).rev() {
                        let path = self.dir.join(format!("{at}.json"));
                        match std::fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                        self.top_file = Some(at - 1);
                    }
                }
                return Ok(());
            }
            for block in batch {
                let name = block_file_name(&block, false);
                let tmp = self.dir.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, block.to_json() + "\n")?;
                std::fs::rename(&tmp, self.dir.join(&name))?;
                self.written.push(Some(block.hash));
                self.top_file = self.top_file.max(Some(block.index));
            }
        }
    }
}

/// `--chaindir DIR`: keeps `dir` a folder of `node`'s best chain until the
/// node shuts down (see the module doc). Never fails: problems are logged.
pub async fn follow(node: Arc<Node>, dir: PathBuf) {
    // Subscribe first, so no change between the first pass and the wait is missed.
    let mut events = node.subscribe();
    let opened = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || ChainDir::open(dir)).await
    };
    let mut folder = match opened {
        Ok(Ok(folder)) => folder,
        Ok(Err(e)) => {
            tracing::error!(dir = %dir.display(), "--chaindir cannot be used: {e}");
            return;
        }
        Err(_) => return,
    };
    loop {
        let synced = {
            let node = node.clone();
            tokio::task::spawn_blocking(move || {
                let result = folder.sync(&node);
                (folder, result)
            })
            .await
        };
        let Ok((back, result)) = synced else {
            return;
        };
        folder = back;
        if let Err(e) = result {
            tracing::warn!(dir = %dir.display(), "--chaindir: {e}; will retry on the next block");
        }
        // Wait for a change of the best chain, then take every change
        // already queued at once.
        loop {
            let next = tokio::select! {
                () = node.shutdown_token().cancelled() => return,
                next = events.recv() => next,
            };
            use tokio::sync::broadcast::error::RecvError;
            match next {
                Ok(crate::events::Event::Status(_)) => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        loop {
            match events.try_recv() {
                Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
    }
}
