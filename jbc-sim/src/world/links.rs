//! The links between simulated nodes: when a message sent now arrives
//! (the sender's upload queue, the bandwidth, a latency draw), when a lost
//! one is known lost, and which messages are lost — a node offline, the
//! partition, or a node that cannot be dialled.

use jbc_core::peer::PeerError;

use super::World;

/// Bytes of a `GET /tip` or `GET /blocks?..` request and of the HTTP
/// headers around every message; the bodies are counted at their real JSON
/// length on top.
pub const HTTP_OVERHEAD_BYTES: u64 = 200;

/// Pareto shape of the latency draws (SimBlock's).
const LATENCY_SHAPE: f64 = 5.0;

impl World {
    /// An answer arriving at `node`: lost if `node` is offline now.
    pub(super) fn received<T>(
        &self,
        node: u32,
        answer: Result<T, PeerError>,
    ) -> Result<T, PeerError> {
        if self.offline(node) {
            Err(PeerError::Unreachable("we were offline".into()))
        } else {
            answer
        }
    }

    pub(super) fn is_offline_at(&self, (start, end): (u64, u64)) -> bool {
        (start..end).contains(&self.now_us)
    }

    pub(super) fn offline(&self, node: u32) -> bool {
        self.nodes[node as usize]
            .offline
            .is_some_and(|w| self.is_offline_at(w))
    }

    /// Whether a message from `a` to `b` sent now is lost: either end is
    /// offline, or the partition separates them. (Whether `b` can be
    /// dialled at all is [`World::dial_fails`].)
    pub(super) fn cut(&self, a: u32, b: u32) -> bool {
        if !self.faults() {
            return false;
        }
        if self.offline(a) || self.offline(b) {
            return true;
        }
        let Some((start_ms, end_ms)) = self.config.partition else {
            return false;
        };
        let half = self.nodes.len() as u32 / 2;
        (start_ms * 1000..end_ms * 1000).contains(&self.now_us) && (a < half) != (b < half)
    }

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

    /// Whether anything can make a message fail: offline nodes or a
    /// partition.
    pub(super) fn faults(&self) -> bool {
        self.config.offline.is_some() || self.config.partition.is_some()
    }

    /// Whether a connection `from` opens to `to` now fails: `to` cannot be
    /// dialled ([`Config::unreachable_share`](crate::Config::unreachable_share)),
    /// or the link is [`World::cut`]. Answers on a connection the other end
    /// opened are not dials: they only need the link.
    pub(super) fn dial_fails(&self, from: u32, to: u32) -> bool {
        self.unreachable[to as usize] || self.cut(from, to)
    }
}
