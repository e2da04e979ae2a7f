//! What the node tells the world about the state machine's actions: log
//! lines and `/events` for a new best chain, peer state changes, the end of
//! a sync and relays. Formatting only; no decisions.

use jbc_core::node_state::{DropCause, PeerNotice};
use jbc_core::peer::{PeerError, SubmitReply};
use jbc_core::sync::{SyncOutcome, SyncReport};
use jbc_core::{Accepted, Block, BlockHash, Chain};

use crate::events::{Event, Source};

/// Logs and publishes a change of the best chain: a `reorg` first if blocks
/// were disconnected, then a `block` for each block connected, lowest first.
/// Called under the node's lock (with its chain), so events keep the order
/// of the changes.
/// `body_of` finds the body of a connected block (the chain keeps headers).
pub fn tip_changed(
    mut publish: impl FnMut(Event),
    chain: &Chain,
    body_of: impl Fn(&BlockHash) -> Option<Block>,
    change: &Accepted,
    source: Source,
) {
    let mut events = Vec::new();
    {
        if let (Some(old), Some(new)) = (change.disconnected.first(), change.connected.last()) {
            let old_height = chain.header(old).map_or(0, |b| b.index);
            let new_height = chain.header(new).map_or(0, |b| b.index);
            let depth = change.disconnected.len() as u64;
            tracing::warn!(depth, old = %old.short(), new = %new.short(), old_height, new_height, "reorg");
            events.push(Event::Reorg {
                old_tip: *old,
                old_height,
                new_tip: *new,
                new_height,
                depth,
            });
        }
        for hash in &change.connected {
            let Some(block) = body_of(hash) else {
                continue;
            };
            tracing::info!(
                "block {} {} from {} ({}) {}, difficulty {}",
                block.index,
                block.hash.short(),
                source.as_str(),
                short_data(&block.data),
                after_parent(chain, &block),
                block.difficulty,
            );
            events.push(Event::Block { source, block });
        }
    }
    for event in events {
        publish(event);
    }
}

/// "1.2s after its parent", or "first block after genesis".
fn after_parent(chain: &Chain, block: &jbc_core::Block) -> String {
    match chain.header(&block.prev_hash) {
        Some(parent) if parent.index > 0 => format!(
            "{:.1}s after its parent",
            block.timestamp_ms.saturating_sub(parent.timestamp_ms) as f64 / 1000.0
        ),
        _ => "first block after genesis".into(),
    }
}

/// The log form of a block's data: at most 40 characters, escaped.
fn short_data(data: &str) -> String {
    let mut short: String = data.chars().take(40).collect();
    if short.len() < data.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// Logs a change of a peer's state.
pub fn peer_notice(url: &str, notice: &PeerNotice) {
    match notice {
        PeerNotice::Up => tracing::info!(peer = %url, "peer up"),
        PeerNotice::Down(why) => tracing::warn!(peer = %url, reason = %why, "peer down"),
        PeerNotice::Banned(_, why) => {
            tracing::warn!(peer = %url, reason = %why, minutes = 10, "peer misbehaved: not syncing from it")
        }
        PeerNotice::Dropped(cause @ DropCause::Evicted) => {
            tracing::info!(peer = %url, reason = %cause, "peer dropped")
        }
        PeerNotice::Dropped(cause @ DropCause::OtherNetwork) => {
            tracing::warn!(peer = %url, reason = %cause, "peer dropped")
        }
    }
}

/// Logs the end of a sync that did something or went wrong (`height`: our
/// best height now).
pub fn sync_ended(height: u64, url: &str, report: &SyncReport) {
    let stats = &report.stats;
    if stats.blocks_stored > 0 {
        tracing::info!(
            peer = %url,
            stored = stats.blocks_stored,
            checked = stats.blocks_checked,
            height,
            "synced"
        );
    }
    match &report.outcome {
        SyncOutcome::FutureBlock { height, hash } => {
            tracing::warn!(peer = %url, height, hash = %hash.short(), "peer's block is ahead of our clock; will retry")
        }
        SyncOutcome::OtherNetwork { ours, theirs } => {
            tracing::warn!(peer = %url, ours = %ours.short(), theirs = %theirs.short(), "peer is on another network (different params)")
        }
        _ => {}
    }
}

/// Logs how a relay went.
pub fn relayed(url: &str, answer: &Result<SubmitReply, PeerError>) {
    match answer {
        Ok(reply) => {
            tracing::debug!(peer = %url, status = %reply.status, height = reply.height, "relayed")
        }
        Err(PeerError::Api { status, body }) => {
            tracing::warn!(peer = %url, status, code = %body.error, "peer refused our block: {}", body.message)
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use jbc_core::node_state::{DropCause, PeerNotice};

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes through `tracing`.
    fn logged(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = captured.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("UTF-8 log")
    }

    #[test]
    fn a_dropped_peer_is_logged_with_its_cause_not_as_failing() {
        let dropped = |cause| {
            logged(|| super::peer_notice("http://127.0.0.1:9", &PeerNotice::Dropped(cause)))
        };
        let evicted = dropped(DropCause::Evicted);
        assert!(evicted.contains("peer=http://127.0.0.1:9"), "{evicted}");
        assert!(evicted.contains("evicted to make room"), "{evicted}");
        assert!(
            !evicted.contains("network") && !evicted.contains("failing"),
            "{evicted}"
        );
        let other = dropped(DropCause::OtherNetwork);
        assert!(
            other.contains("WARN") && other.contains("another network"),
            "{other}"
        );
        assert!(
            !other.contains("evicted") && !other.contains("failing"),
            "{other}"
        );
    }
}
