//! [`NodeConfig`]: every cadence and bound of a node's decisions that a
//! driver may tune, with the node's defaults.

use crate::sync::SyncConfig;

/// How often every peer is asked for its `/tip` at least (the safety net
/// under following, PROTOCOL.md §7.2), in milliseconds.
pub const POLL_EVERY_MS: u64 = 60_000;
/// How often a peer that does not serve `/events` is asked for its `/tip`
/// (as every peer was before nodes followed each other), in milliseconds.
pub const POLL_UNFOLLOWED_MS: u64 = 3_000;
/// Most peers whose `/events` a node follows at once.
pub const MAX_STREAMS: usize = 8;
/// The first wait before a stream that ended is opened again (ms); it
/// doubles with each failure in a row, up to [`STREAM_RETRY_MAX_MS`].
pub const STREAM_RETRY_MS: u64 = 500;
/// The longest wait before a stream is opened again (ms): after a link
/// comes back, a follower finds it within about this long.
pub const STREAM_RETRY_MAX_MS: u64 = 4_000;
/// The longest wait before a stream to a peer that never answered anything
/// is tried again (ms): an address nobody can dial (behind NAT) costs a
/// connection attempt a minute, not one every few seconds.
pub const STREAM_RETRY_NEVER_UP_MAX_MS: u64 = 60_000;
/// How long a peer that answered `/events` with 404 is not followed (ms).
pub const UNSUPPORTED_RETRY_MS: u64 = 60 * 60 * 1000;
/// How often a node with few reachable peers asks each for its list (ms).
pub const LEARN_EVERY_MS: u64 = 60_000;
/// Below this many reachable peers a node learns more.
pub const WANTED_PEERS: usize = 8;
/// Most addresses learned from one peer's list per round (4 a minute).
pub const LEARN_PER_PEER: usize = 4;

/// The cadences and bounds of a [`NodeState`](super::NodeState).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Every peer's `/tip` is asked at least this often (ms).
    pub poll_every_ms: u64,
    /// A peer that does not serve `/events` is asked this often (ms).
    pub poll_unfollowed_ms: u64,
    /// Most streams followed at once.
    pub max_streams: usize,
    /// First back-off of a stream that ended (ms), doubled per failure.
    pub stream_retry_ms: u64,
    /// Longest back-off of a stream (ms).
    pub stream_retry_max_ms: u64,
    /// Longest back-off of a stream to a peer that never answered (ms).
    pub stream_retry_never_up_max_ms: u64,
    /// How often each reachable peer is asked for its list while the node
    /// has fewer than `wanted_peers` reachable (ms).
    pub learn_every_ms: u64,
    /// Reachable peers a node wants; below it, it learns more.
    pub wanted_peers: usize,
    /// Most addresses taken from one peer's list per round.
    pub learn_per_peer: usize,
    /// The bounds of each sync.
    pub sync: SyncConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            poll_every_ms: POLL_EVERY_MS,
            poll_unfollowed_ms: POLL_UNFOLLOWED_MS,
            max_streams: MAX_STREAMS,
            stream_retry_ms: STREAM_RETRY_MS,
            stream_retry_max_ms: STREAM_RETRY_MAX_MS,
            stream_retry_never_up_max_ms: STREAM_RETRY_NEVER_UP_MAX_MS,
            learn_every_ms: LEARN_EVERY_MS,
            wanted_peers: WANTED_PEERS,
            learn_per_peer: LEARN_PER_PEER,
            sync: SyncConfig::default(),
        }
    }
}

impl NodeConfig {
    /// The back-off after `failures` failed streams in a row (at least one),
    /// to a peer that answered before (`ever_up`) or never did.
    pub fn stream_retry_after_ms(&self, failures: u32, ever_up: bool) -> u64 {
        let doublings = failures.saturating_sub(1).min(16);
        let max = if ever_up {
            self.stream_retry_max_ms
        } else {
            self.stream_retry_never_up_max_ms
        };
        self.stream_retry_ms.saturating_mul(1 << doublings).min(max)
    }
}
