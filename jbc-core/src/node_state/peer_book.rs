//! [`PeerBook`]: the peers a node knows and what it knows of them — where
//! each came from, whether it answers, the tip it reported last, failures
//! in a row and bans. Pure data: the node's decisions about peers read and
//! write it; it never talks to a peer.
//!
//! An address is not forgotten because its link failed (a partition of any
//! length must heal): a peer that stops answering stays in the book, down,
//! and is tried again. Like Bitcoin Core's address manager, the book evicts
//! only under pressure — a full source (`api`, `learned`) makes room for a
//! new address by evicting one of its peers that never answered, or else one
//! down for more than [`EVICT_DOWN_MS`] — or for misbehaviour (a peer of
//! another network, which the node removes itself).

use alloc::string::String;
use alloc::vec::Vec;

use crate::hash::BlockHash;

/// How long a peer that misbehaved in a sync is not synced from (PROTOCOL.md §6.1:
/// at least 10 minutes), in milliseconds.
pub const BAN_MS: u64 = 10 * 60 * 1000;
/// A peer that answered before and has been down for longer than this (ms)
/// may be evicted to make room for a new address of its source.
pub const EVICT_DOWN_MS: u64 = 60 * 60 * 1000;
/// Most peers added through `POST /peers` (PROTOCOL.md §7).
pub const MAX_API_PEERS: usize = 32;
/// Most peers learned from other peers' `GET /peers` (PROTOCOL.md §7.1).
pub const MAX_LEARNED_PEERS: usize = 32;
/// A peer down for longer than this (ms) is not shared in `GET /peers`.
pub const SHARE_DOWN_FOR_MS: u64 = 60 * 60 * 1000;

/// A peer's handle, stable for as long as the peer is in the book (ids are
/// never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// Where a peer came from (PROTOCOL.md §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerSource {
    /// Given on the command line (`--peer`): never dropped.
    Config,
    /// Added with `POST /peers`: capped; evicted only to make room.
    Api,
    /// Learned from another peer's `GET /peers` (after checking it serves
    /// our genesis): capped; evicted only to make room.
    Learned,
}

impl PeerSource {
    /// How many peers of this source a node keeps at most (`None`: no cap).
    pub fn cap(&self) -> Option<usize> {
        match self {
            PeerSource::Config => None,
            PeerSource::Api => Some(MAX_API_PEERS),
            PeerSource::Learned => Some(MAX_LEARNED_PEERS),
        }
    }
}

/// Whether a peer answered its last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerHealth {
    /// Not asked yet.
    Unknown,
    /// Answered.
    Up,
    /// Failed (unreachable, timeout, bad answer, other network).
    Down,
}

/// Why a peer cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddPeerError {
    /// The cap of the peer's source ([`MAX_API_PEERS`],
    /// [`MAX_LEARNED_PEERS`]) is reached.
    #[error("this node already has {0} peers of this kind (added through the API, or learned)")]
    Full(usize),
}

/// What the book knows of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its base URL (normalised by the driver).
    pub url: String,
    /// Where it came from.
    pub source: PeerSource,
    /// Whether its last request succeeded.
    pub health: PeerHealth,
    /// Height its last `/tip` reported (0 before).
    pub height: u64,
    /// The last tip this node saw from it, if any ([`PeerBook::saw_tip`]).
    pub last_tip: Option<SeenTip>,
    /// Failed requests in a row.
    pub failures: u32,
    /// The last ban it got (in force while `until_ms` is ahead).
    pub banned: Option<Ban>,
    /// Since when (ms) it has been down, if it is.
    pub down_since_ms: Option<u64>,
    /// Whether it ever answered.
    pub ever_up: bool,
}

impl PeerInfo {
    /// Whether the peer is banned at `now_ms`.
    pub fn is_banned(&self, now_ms: u64) -> bool {
        self.ban_at(now_ms).is_some()
    }

    /// Whether it may be shared with others in `GET /peers`: not down for
    /// more than [`SHARE_DOWN_FOR_MS`].
    pub fn is_shareable(&self, now_ms: u64) -> bool {
        self.down_since_ms
            .is_none_or(|since| now_ms.saturating_sub(since) <= SHARE_DOWN_FOR_MS)
    }

    /// The ban in force at `now_ms`.
    pub fn ban_at(&self, now_ms: u64) -> Option<&Ban> {
        self.banned.as_ref().filter(|ban| ban.until_ms > now_ms)
    }
}

/// A peer not synced from nor followed until a time, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// When it ends (ms since the epoch).
    pub until_ms: u64,
    /// What the peer did.
    pub reason: String,
}

/// A peer's best tip as this node last saw it: the answer to a `GET /tip`
/// it sent, or the last `block` event of its `/events` stream (each such
/// block joined its best chain, so it was its tip when sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeenTip {
    /// Height of the tip.
    pub height: u64,
    /// Hash of the tip.
    pub hash: BlockHash,
    /// When this node saw it (ms since the epoch).
    pub seen_at_ms: u64,
}

/// What changed in a peer's state, for the driver's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerNotice {
    /// It answered again (or for the first time).
    Up,
    /// It stopped answering; why.
    Down(String),
    /// It misbehaved: not synced from until the time given (ms); why.
    Banned(u64, String),
    /// It left the book; why.
    Dropped(DropCause),
}

/// Why a peer left the book ([`PeerNotice::Dropped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DropCause {
    /// Evicted to make room for a new address of the same source (one that
    /// never answered, or down for long, goes first).
    #[error("evicted to make room for a new address")]
    Evicted,
    /// It serves another network (a configured peer of another network is
    /// kept, down, for the user to see instead).
    #[error("it serves another network")]
    OtherNetwork,
}

/// What [`PeerBook::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// The URL was known: its peer.
    Known(PeerId),
    /// A new peer; `evicted` made room for it.
    New {
        /// The new peer.
        id: PeerId,
        /// The peer evicted to make room (and its URL), if the source was
        /// full.
        evicted: Option<(PeerId, String)>,
    },
}

impl Added {
    /// The peer with the URL.
    pub fn id(&self) -> PeerId {
        match self {
            Added::Known(id) | Added::New { id, .. } => *id,
        }
    }
}

/// The peers of a node.
#[derive(Debug, Clone, Default)]
pub struct PeerBook {
    peers: Vec<(PeerId, PeerInfo)>,
    next_id: u64,
}

impl PeerBook {
    /// Adds a peer at `now_ms`: `Ok(Added::Known(id))` if the URL is known
    /// already. When its source is full, a peer of that source that never
    /// answered (the oldest first), or else the one down longest if that is
    /// more than [`EVICT_DOWN_MS`], is evicted to make room; otherwise
    /// [`AddPeerError::Full`].
    pub fn add(
        &mut self,
        url: String,
        source: PeerSource,
        now_ms: u64,
    ) -> Result<Added, AddPeerError> {
        if let Some((id, _)) = self.peers.iter().find(|(_, p)| p.url == url) {
            return Ok(Added::Known(*id));
        }
        let mut evicted = None;
        if let Some(cap) = source.cap()
            && self.count(source) >= cap
        {
            let victim = self
                .eviction_candidate(source, now_ms)
                .ok_or(AddPeerError::Full(cap))?;
            let url = self.get(victim).map(|p| p.url.clone()).unwrap_or_default();
            self.remove(victim);
            evicted = Some((victim, url));
        }
        let id = PeerId(self.next_id);
        self.next_id += 1;
        self.peers.push((
            id,
            PeerInfo {
                url,
                source,
                health: PeerHealth::Unknown,
                height: 0,
                last_tip: None,
                failures: 0,
                banned: None,
                down_since_ms: None,
                ever_up: false,
            },
        ));
        Ok(Added::New { id, evicted })
    }

    /// The peer of `source` to evict for a new one, if any may be.
    fn eviction_candidate(&self, source: PeerSource, now_ms: u64) -> Option<PeerId> {
        let of_source = || self.peers.iter().filter(move |(_, p)| p.source == source);
        let never_answered = of_source()
            .find(|(_, p)| !p.ever_up && p.health != PeerHealth::Up)
            .map(|(id, _)| *id);
        never_answered.or_else(|| {
            of_source()
                .filter_map(|(id, p)| Some((p.down_since_ms?, *id)))
                .filter(|(since, _)| now_ms.saturating_sub(*since) > EVICT_DOWN_MS)
                .min()
                .map(|(_, id)| id)
        })
    }

    /// Number of peers of `source`.
    pub fn count(&self, source: PeerSource) -> usize {
        self.peers
            .iter()
            .filter(|(_, p)| p.source == source)
            .count()
    }

    /// Whether `url` is a known peer.
    pub fn knows(&self, url: &str) -> bool {
        self.peers.iter().any(|(_, p)| p.url == url)
    }

    /// Removes a peer.
    pub fn remove(&mut self, id: PeerId) {
        self.peers.retain(|(i, _)| *i != id);
    }

    /// One peer.
    pub fn get(&self, id: PeerId) -> Option<&PeerInfo> {
        let at = self.position(id)?;
        Some(&self.peers[at].1)
    }

    fn get_mut(&mut self, id: PeerId) -> Option<&mut PeerInfo> {
        let at = self.position(id)?;
        Some(&mut self.peers[at].1)
    }

    /// Where `id` is in `peers`, which is sorted by id: ids only grow, new
    /// peers are pushed at the end and removal keeps the order.
    fn position(&self, id: PeerId) -> Option<usize> {
        self.peers.binary_search_by_key(&id, |(i, _)| *i).ok()
    }

    /// Every peer, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.peers.iter().map(|(id, p)| (*id, p))
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Number of peers, and of peers that are up.
    pub fn counts(&self) -> (usize, usize) {
        let up = self
            .peers
            .iter()
            .filter(|(_, p)| p.health == PeerHealth::Up)
            .count();
        (self.peers.len(), up)
    }

    /// Records that a request to `id` succeeded; returns its health before
    /// and the notice, if it changed.
    pub fn mark_up(&mut self, id: PeerId) -> Option<(PeerHealth, PeerNotice)> {
        let peer = self.get_mut(id)?;
        peer.failures = 0;
        peer.down_since_ms = None;
        peer.ever_up = true;
        let was = core::mem::replace(&mut peer.health, PeerHealth::Up);
        (was != PeerHealth::Up).then_some((was, PeerNotice::Up))
    }

    /// Records that a request to `id` failed at `now_ms`. The peer stays
    /// in the book, down, and is tried again.
    pub fn mark_down(&mut self, id: PeerId, why: &str, now_ms: u64) -> Option<PeerNotice> {
        let peer = self.get_mut(id)?;
        peer.failures = peer.failures.saturating_add(1);
        peer.down_since_ms.get_or_insert(now_ms);
        let was = core::mem::replace(&mut peer.health, PeerHealth::Down);
        (was != PeerHealth::Down).then(|| PeerNotice::Down(why.into()))
    }

    /// Bans `id` from syncing until `now_ms` + [`BAN_MS`]. A peer already
    /// banned keeps its ban (and no new notice is given).
    pub fn ban(&mut self, id: PeerId, now_ms: u64, why: &str) -> Option<PeerNotice> {
        let peer = self.get_mut(id)?;
        if peer.is_banned(now_ms) {
            return None;
        }
        let until = now_ms.saturating_add(BAN_MS);
        peer.banned = Some(Ban {
            until_ms: until,
            reason: why.into(),
        });
        Some(PeerNotice::Banned(until, why.into()))
    }

    /// Records the height `id` reported.
    pub fn set_height(&mut self, id: PeerId, height: u64) {
        if let Some(peer) = self.get_mut(id) {
            peer.height = height;
        }
    }

    /// Records the tip `id` reported last (`height` stays its last
    /// `/tip`'s, set by the sync that asked for it).
    pub fn saw_tip(&mut self, id: PeerId, tip: SeenTip) {
        if let Some(peer) = self.get_mut(id) {
            peer.last_tip = Some(tip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn new_id(added: Result<Added, AddPeerError>) -> PeerId {
        match added {
            Ok(Added::New { id, .. }) => id,
            other => panic!("expected a new peer, got {other:?}"),
        }
    }

    #[test]
    fn peers_that_fail_stay_and_a_full_source_evicts_only_the_never_answered_or_long_down() {
        let mut book = PeerBook::default();
        let config = new_id(book.add("http://c".into(), PeerSource::Config, 0));
        let ids: Vec<PeerId> = (0..MAX_API_PEERS)
            .map(|i| new_id(book.add(format!("http://a{i}"), PeerSource::Api, 0)))
            .collect();
        // Every api peer answers once: none may be evicted now.
        for id in &ids {
            assert_eq!(
                book.mark_up(*id),
                Some((PeerHealth::Unknown, PeerNotice::Up))
            );
        }
        assert_eq!(
            book.add("http://one-more".into(), PeerSource::Api, 0),
            Err(AddPeerError::Full(MAX_API_PEERS))
        );
        // A known URL is not an error, even when full.
        assert_eq!(
            book.add("http://a0".into(), PeerSource::Api, 0),
            Ok(Added::Known(ids[0]))
        );
        // Failing many times keeps a peer (a partition must heal).
        for _ in 0..100 {
            book.mark_down(ids[1], "x", 1_000);
            book.mark_down(config, "x", 1_000);
        }
        assert!(book.get(ids[1]).is_some() && book.get(config).is_some());
        assert_eq!(book.get(ids[1]).unwrap().health, PeerHealth::Down);
        // Down, but not long enough: still full.
        assert_eq!(
            book.add("http://new".into(), PeerSource::Api, 1_000 + EVICT_DOWN_MS),
            Err(AddPeerError::Full(MAX_API_PEERS))
        );
        // Down for more than EVICT_DOWN_MS: evicted for a new address.
        let added = book.add("http://new".into(), PeerSource::Api, 1_001 + EVICT_DOWN_MS);
        assert!(matches!(&added, Ok(Added::New { evicted: Some((e, _)), .. }) if *e == ids[1]));
        assert!(book.get(ids[1]).is_none());
        assert_eq!(book.count(PeerSource::Api), MAX_API_PEERS);
        assert_eq!(
            book.mark_up(config),
            Some((PeerHealth::Down, PeerNotice::Up))
        );
        assert_eq!(book.get(config).unwrap().failures, 0);
    }

    #[test]
    fn an_address_that_never_answered_is_evicted_first() {
        let mut book = PeerBook::default();
        let ids: Vec<PeerId> = (0..MAX_LEARNED_PEERS)
            .map(|i| new_id(book.add(format!("http://l{i}"), PeerSource::Learned, 0)))
            .collect();
        for id in &ids[..5] {
            book.mark_up(*id);
        }
        let added = book.add("http://fresh".into(), PeerSource::Learned, 10);
        assert!(matches!(&added, Ok(Added::New { evicted: Some((e, _)), .. }) if *e == ids[5]));
        // Other sources are not touched by a full one.
        assert!(book.add("http://x".into(), PeerSource::Api, 10).is_ok());
    }

    #[test]
    fn a_ban_lasts_ten_minutes_and_is_noticed_once() {
        let mut book = PeerBook::default();
        let id = new_id(book.add("http://p".into(), PeerSource::Config, 0));
        assert_eq!(
            book.ban(id, 1_000, "lied"),
            Some(PeerNotice::Banned(1_000 + BAN_MS, "lied".into()))
        );
        assert_eq!(book.ban(id, 2_000, "again"), None);
        let peer = book.get(id).unwrap();
        assert!(peer.is_banned(1_000 + BAN_MS - 1));
        assert!(!peer.is_banned(1_000 + BAN_MS));
        let ban = peer.ban_at(5_000).expect("banned");
        assert_eq!(
            (ban.until_ms, ban.reason.as_str()),
            (1_000 + BAN_MS, "lied")
        );
    }
}
