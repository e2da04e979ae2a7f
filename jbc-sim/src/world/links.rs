//! The links between simulated nodes: when a message sent now arrives
//! (the sender's upload queue, the bandwidth, a latency draw), when a lost
//! one is known lost, and how long each body is on the wire. Which
//! messages are lost is `faults`.

use jbc_core::Block;
use jbc_core::peer::TipInfo;

use super::World;
use super::by_hash::ByHash;

/// Bytes of a `GET /tip` or `GET /blocks?..` request and of the HTTP
/// headers around every message; the bodies are counted at their real JSON
/// length on top.
pub const HTTP_OVERHEAD_BYTES: u64 = 200;

/// Pareto shape of the latency draws (SimBlock's).
const LATENCY_SHAPE: f64 = 5.0;

/// The JSON length of each block and each `GET /tip` answer, measured
/// once: every relay of a block has the same body, and every node on a tip
/// answers `/tip` the same.
#[derive(Default)]
pub(super) struct BodySizes {
    block_json: ByHash<u64>,
    tip_json: ByHash<u64>,
}

impl BodySizes {
    /// The JSON length of `block`.
    pub(super) fn block(&mut self, block: &Block) -> u64 {
        *self
            .block_json
            .entry(block.hash)
            .or_insert_with(|| block.to_json().len() as u64)
    }

    /// The JSON length of the `GET /tip` answer `info`.
    pub(super) fn tip(&mut self, info: &TipInfo) -> u64 {
        *self
            .tip_json
            .entry(info.hash)
            .or_insert_with(|| serde_json::to_string(info).map_or(0, |s| s.len() as u64))
    }
}

impl World {
    /// When a message of `bytes` from `from` sent now arrives at `to`: it
    /// waits for `from`'s upload link, takes `bytes` over the slower of the
    /// sender's upload and the receiver's download, then a latency draw.
    pub(super) fn transfer(&mut self, from: u32, to: u32, bytes: u64) -> u64 {
        self.transfer_wire(from, to, bytes + HTTP_OVERHEAD_BYTES)
    }

    /// [`World::transfer`] of `wire_bytes` in all (no HTTP headers added:
    /// an event on a stream that is open already).
    pub(super) fn transfer_wire(&mut self, from: u32, to: u32, wire_bytes: u64) -> u64 {
        let sent_us = self.upload_wire(from, to, wire_bytes);
        let (a, b) = (
            self.regions[from as usize] as usize,
            self.regions[to as usize] as usize,
        );
        let latency_us = if self.config.latency_scale > 0.0 {
            let mean_us = self.network.latency_ms[a][b] * 1000.0 * self.config.latency_scale;
            self.rng.pareto(mean_us, LATENCY_SHAPE)
        } else {
            0.0
        };
        sent_us + latency_us.round() as u64
    }

    /// Queues a message with a body of `bytes` (plus the HTTP headers) from
    /// `from` to `to` on `from`'s upload link; returns when the last byte
    /// has left.
    pub(super) fn upload(&mut self, from: u32, to: u32, bytes: u64) -> u64 {
        self.upload_wire(from, to, bytes + HTTP_OVERHEAD_BYTES)
    }

    /// Queues `wire_bytes` in all from `from` to `to` on `from`'s upload
    /// link; returns when the last byte has left.
    pub(super) fn upload_wire(&mut self, from: u32, to: u32, wire_bytes: u64) -> u64 {
        let wire_us = if self.config.infinite_bandwidth {
            0.0
        } else {
            let (a, b) = (
                self.regions[from as usize] as usize,
                self.regions[to as usize] as usize,
            );
            let bps = self.network.upload_bps[a].min(self.network.download_bps[b]);
            wire_bytes as f64 * 8.0 * 1e6 / bps
        };
        let sender = &mut self.nodes[from as usize];
        let start = sender.upload_free_us.max(self.now_us);
        sender.upload_free_us = start + wire_us.round() as u64;
        sender.upload_free_us
    }

    /// A round trip's worth of time for a message that is lost (the sender
    /// learns of it as a refused or timed-out connection).
    pub(super) fn failure_delay(&mut self, from: u32, to: u32) -> u64 {
        let (a, b) = (
            self.regions[from as usize] as usize,
            self.regions[to as usize] as usize,
        );
        let mean_us = self.network.latency_ms[a][b] * 1000.0 * self.config.latency_scale;
        self.now_us + (2.0 * mean_us).round() as u64
    }
}
