//! Following peers (PROTOCOL.md §7.2): a link carries blocks both
//! ways. Out, a node relays a new tip with `POST /mined`; in, it follows the
//! `GET /events` stream of up to [`NodeConfig::max_streams`] peers it dials,
//! and takes each `block` event as a relay from that peer. Most nodes cannot
//! be dialled (NAT, firewalls, a node on loopback), so this is how they hear
//! of blocks as they happen; polling `/tip` is only the safety net.
//!
//! Which peers: `--peer` ones first, then learned, then those that announced
//! themselves, in the order they were added; never a banned one. A stream
//! that ends is opened again after a back-off (doubling from
//! [`NodeConfig::stream_retry_ms`] to [`NodeConfig::stream_retry_max_ms`]),
//! which is also how a link that came back is found; to a peer that never
//! answered anything (an address nobody can dial), up to a minute. A peer that answers
//! `/events` with 404 (an older node) is not followed for an hour and is
//! polled every [`NodeConfig::poll_unfollowed_ms`] instead.
//!
//! [`NodeConfig::max_streams`]: super::NodeConfig::max_streams
//! [`NodeConfig::stream_retry_ms`]: super::NodeConfig::stream_retry_ms
//! [`NodeConfig::stream_retry_max_ms`]: super::NodeConfig::stream_retry_max_ms
//! [`NodeConfig::poll_unfollowed_ms`]: super::NodeConfig::poll_unfollowed_ms

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Action, NodeState, PeerId, PeerSource, SeenTip, Source, UNSUPPORTED_RETRY_MS};
use crate::block::Block;
use crate::chain::Accepted;
use crate::peer::PeerError;
use crate::validation::BlockError;

/// Where a peer's `/events` stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// [`Action::Follow`] was handed out; the driver is opening it.
    Opening,
    /// Open: its blocks arrive with [`NodeState::handle_stream_block`].
    Open,
    /// Ended; opened again at this time (ms since the epoch).
    Waiting {
        /// When it may be opened again.
        retry_at_ms: u64,
    },
    /// The peer does not serve `/events`: polled instead; tried again at
    /// this time.
    Unsupported {
        /// When it may be tried again.
        retry_at_ms: u64,
    },
}

/// One peer's stream: its state and failures in a row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stream {
    pub(super) state: StreamState,
    failures: u32,
}

impl Stream {
    /// A stream that may be opened from `now_ms` (a new peer's).
    pub(super) fn ready_at(now_ms: u64) -> Stream {
        Stream {
            state: StreamState::Waiting {
                retry_at_ms: now_ms,
            },
            failures: 0,
        }
    }

    /// Opening or open: it counts towards the streams a node may have.
    pub(super) fn is_active(&self) -> bool {
        matches!(self.state, StreamState::Opening | StreamState::Open)
    }

    /// When it may be opened (`None`: it is active).
    fn ready_at_ms(&self) -> Option<u64> {
        match self.state {
            StreamState::Opening | StreamState::Open => None,
            StreamState::Waiting { retry_at_ms } | StreamState::Unsupported { retry_at_ms } => {
                Some(retry_at_ms)
            }
        }
    }
}

/// The order in which peers are followed: those the user named first.
fn rank(source: PeerSource) -> u8 {
    match source {
        PeerSource::Config => 0,
        PeerSource::Learned => 1,
        PeerSource::Api => 2,
    }
}

impl NodeState {
    /// Where `peer`'s stream stands (`None`: never followed).
    pub fn stream(&self, peer: PeerId) -> Option<StreamState> {
        self.streams.get(&peer).map(|s| s.state)
    }

    /// Streams opening or open.
    pub fn active_streams(&self) -> usize {
        self.streams.values().filter(|s| s.is_active()).count()
    }

    /// Each peer that may be followed (not banned, no active stream) with
    /// when: 0 for one never followed.
    fn followable(&self, now_ms: u64) -> impl Iterator<Item = (PeerId, u64)> + '_ {
        self.peers
            .iter()
            .filter(move |(_, info)| !info.is_banned(now_ms))
            .filter_map(|(id, _)| match self.streams.get(&id) {
                None => Some((id, 0)),
                Some(stream) => stream.ready_at_ms().map(|at| (id, at)),
            })
    }

    /// When the next stream may be opened, if there is room for one.
    pub(super) fn next_stream_ms(&self) -> Option<u64> {
        if self.active_streams() >= self.config.max_streams {
            return None;
        }
        // A banned peer's ban end is already a sync due time.
        self.followable(0).map(|(_, at)| at).min()
    }

    /// Follows the peers that are due, in rank order, while there is room.
    pub(super) fn fill_streams(&mut self, now_ms: u64) {
        let room = self
            .config
            .max_streams
            .saturating_sub(self.active_streams());
        if room == 0 {
            return;
        }
        let mut due: Vec<(u8, PeerId)> = self
            .followable(now_ms)
            .filter(|(_, at)| *at <= now_ms)
            .filter_map(|(id, _)| Some((rank(self.peers.get(id)?.source), id)))
            .collect();
        due.sort_unstable();
        for (_, peer) in due.into_iter().take(room) {
            let failures = self.streams.get(&peer).map_or(0, |s| s.failures);
            let state = StreamState::Opening;
            self.streams.insert(peer, Stream { state, failures });
            self.actions.push_back(Action::Follow { peer });
        }
    }

    /// The stream of `peer` opened: the peer is up, and asked for its
    /// `/tip` at once (what was missed before the stream opened).
    pub fn handle_stream_opened(&mut self, peer: PeerId, now_ms: u64) {
        let Some(stream) = self.streams.get_mut(&peer) else {
            return;
        };
        if stream.state != StreamState::Opening {
            return;
        }
        stream.state = StreamState::Open;
        stream.failures = 0;
        self.mark_up(peer);
        self.wake_sync_with(peer, now_ms);
    }

    /// A `block` event of `peer`'s stream: taken exactly as a relay from
    /// that peer — the chain decides, a new tip is stored, published and
    /// relayed to every other peer, an orphan starts a sync with `peer` —
    /// and, when valid, recorded as the peer's tip.
    /// An invalid block gets the peer banned as a sync's would (a block
    /// from the future only waits); the stream is then closed with
    /// [`Action::Unfollow`]. `None`: `peer` has no open stream (the event
    /// came after it was closed), nothing was done.
    pub fn handle_stream_block(
        &mut self,
        peer: PeerId,
        block: impl Into<Arc<Block>>,
        now_ms: u64,
    ) -> Option<Result<Accepted, BlockError>> {
        if self.stream(peer) != Some(StreamState::Open) {
            return None;
        }
        let block = block.into();
        let seen = SeenTip {
            height: block.index,
            hash: block.hash,
            seen_at_ms: now_ms,
        };
        let taken = self.take_block(block, Source::Followed, Some(peer), now_ms);
        if taken.is_ok() {
            // A valid block of its best chain: its tip when it sent it.
            self.peers.saw_tip(peer, seen);
        }
        if let Err(e) = &taken
            && *e != BlockError::TimestampInFuture
        {
            let why = alloc::format!("sent an invalid block on its stream: {}", e.code());
            self.ban(peer, &why, now_ms);
        }
        Some(taken)
    }

    /// The stream of `peer` ended (or could not be opened): `Ok` if the peer
    /// closed it, else why. It is opened again after a back-off; a 404
    /// means the peer does not serve `/events` and is polled instead. A
    /// stream that could not be opened says the peer is down.
    pub fn handle_stream_ended(
        &mut self,
        peer: PeerId,
        answer: Result<(), PeerError>,
        now_ms: u64,
    ) {
        let ever_up = self.peers.get(peer).is_some_and(|p| p.ever_up);
        let Some(stream) = self.streams.get_mut(&peer) else {
            return;
        };
        let opening = match stream.state {
            StreamState::Opening => true,
            StreamState::Open => false,
            _ => return,
        };
        if let Err(PeerError::Api { status: 404, .. }) = &answer {
            stream.state = StreamState::Unsupported {
                retry_at_ms: now_ms.saturating_add(UNSUPPORTED_RETRY_MS),
            };
            stream.failures = 0;
            self.mark_up(peer);
            // Polled from now on at the shorter interval.
            self.sync_due_ms.insert(peer, now_ms);
            return;
        }
        stream.failures = stream.failures.saturating_add(1);
        let wait_ms = self.config.stream_retry_after_ms(stream.failures, ever_up);
        let retry_at_ms = now_ms.saturating_add(wait_ms);
        stream.state = StreamState::Waiting { retry_at_ms };
        if let (true, Err(e)) = (opening, answer) {
            self.answered(peer, Err(e), now_ms);
        }
    }

    /// Closes `peer`'s stream (if active) and does not open it again before
    /// `until_ms`.
    pub(super) fn stop_stream_until(&mut self, peer: PeerId, until_ms: u64) {
        let Some(stream) = self.streams.get_mut(&peer) else {
            return;
        };
        let was_active = stream.is_active();
        stream.state = StreamState::Waiting {
            retry_at_ms: until_ms,
        };
        if was_active {
            self.actions.push_back(Action::Unfollow { peer });
        }
    }
}

impl core::fmt::Display for StreamState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            StreamState::Opening => "opening",
            StreamState::Open => "open",
            StreamState::Waiting { .. } => "waiting",
            StreamState::Unsupported { .. } => "unsupported",
        };
        f.write_str(name)
    }
}
