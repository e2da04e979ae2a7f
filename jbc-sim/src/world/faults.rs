//! Faults, and which messages they lose: a node offline for a window
//! ([`Config::offline`](crate::Config::offline)), the partition
//! ([`Config::partition`](crate::Config::partition)) and nodes that cannot
//! be dialled ([`Config::unreachable_share`](crate::Config::unreachable_share)).
//! (Silent nodes lose nothing: they drop their own relays, in `relay`.)

use jbc_core::peer::PeerError;

use super::World;

/// A side of the partition. The partition splits the nodes by index: the
/// first side is nodes `0..N/2`, the second the rest. This is the one
/// place that rule is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// Nodes `0..N/2`.
    First,
    /// Nodes `N/2..N`.
    Second,
}

impl Side {
    /// The side of `node` among `nodes` nodes.
    pub(super) fn of(node: u32, nodes: usize) -> Side {
        if node < nodes as u32 / 2 {
            Side::First
        } else {
            Side::Second
        }
    }
}

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

    /// Whether now is within the offline window `[start, end)` (µs).
    pub(super) fn is_offline_at(&self, (start, end): (u64, u64)) -> bool {
        (start..end).contains(&self.now_us)
    }

    /// Whether `node` is offline now.
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
        let nodes = self.nodes.len();
        (start_ms * 1000..end_ms * 1000).contains(&self.now_us)
            && Side::of(a, nodes) != Side::of(b, nodes)
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

#[cfg(test)]
mod tests {
    use super::Side;

    #[test]
    fn the_first_side_is_the_lower_half_by_index() {
        assert_eq!(Side::of(0, 4), Side::First);
        assert_eq!(Side::of(1, 4), Side::First);
        assert_eq!(Side::of(2, 4), Side::Second);
        // An odd count puts the extra node on the second side.
        assert_eq!(Side::of(1, 5), Side::First);
        assert_eq!(Side::of(2, 5), Side::Second);
        // One node: no first side.
        assert_eq!(Side::of(0, 1), Side::Second);
    }
}
