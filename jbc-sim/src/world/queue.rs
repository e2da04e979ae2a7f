//! [`Queue`]: the simulator's event queue, a timing wheel of 1 ms slots
//! for the near future and a heap for the far future, popping events in
//! exactly the (time, sequence) order one heap would. The queue numbers
//! the events it is given, so events at the same time leave in the order
//! they were queued.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An event with its time and sequence number: the queue orders by both.
pub(super) struct Scheduled<E> {
    pub(super) at_us: u64,
    pub(super) seq: u64,
    pub(super) event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl<E> Eq for Scheduled<E> {}
impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at_us, self.seq).cmp(&(other.at_us, other.seq))
    }
}

/// Width of one slot of the [`Queue`]'s wheel (µs).
const SLOT_US: u64 = 1000;
/// Slots in the wheel: events within this many ms of now sit in a slot,
/// later ones in a heap until they come near.
const WHEEL_SLOTS: u64 = 1 << 16;

/// The event queue: a timing wheel of 1 ms slots for the near future (where
/// almost every message lands) and a heap for the far future. Events leave
/// in (time, sequence) order exactly as from one heap, but the heap that
/// orders them holds only the current millisecond's events, so it stays
/// small and in cache at 10,000 nodes.
pub(super) struct Queue<E> {
    wheel: Vec<Vec<Scheduled<E>>>,
    in_wheel: usize,
    current: BinaryHeap<Reverse<Scheduled<E>>>,
    far: BinaryHeap<Reverse<Scheduled<E>>>,
    /// The slot `current` holds.
    slot: u64,
    /// The sequence number of the last event queued.
    seq: u64,
}

impl<E> Queue<E> {
    /// An empty queue at time 0.
    pub(super) fn new() -> Queue<E> {
        Queue {
            wheel: (0..WHEEL_SLOTS).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            current: BinaryHeap::new(),
            far: BinaryHeap::new(),
            slot: 0,
            seq: 0,
        }
    }

    /// Queues `event` at `at_us` (at or after the last one popped), after
    /// every event queued before it for the same time.
    pub(super) fn push(&mut self, at_us: u64, event: E) {
        self.seq += 1;
        let seq = self.seq;
        self.place(Scheduled { at_us, seq, event });
    }

    /// Puts a numbered event in its slot, the current heap, or the far heap.
    fn place(&mut self, event: Scheduled<E>) {
        let slot = event.at_us / SLOT_US;
        if slot <= self.slot {
            self.current.push(Reverse(event));
        } else if slot < self.slot + WHEEL_SLOTS {
            self.wheel[(slot % WHEEL_SLOTS) as usize].push(event);
            self.in_wheel += 1;
        } else {
            self.far.push(Reverse(event));
        }
    }

    /// The next event in (time, sequence) order.
    pub(super) fn pop(&mut self) -> Option<Scheduled<E>> {
        // Bounded: each turn either returns or moves to the next slot that
        // holds an event (jumping over empty stretches to the far heap).
        loop {
            if let Some(Reverse(event)) = self.current.pop() {
                return Some(event);
            }
            if self.in_wheel == 0 {
                let Reverse(first) = self.far.peek()?;
                self.slot = self.slot.max(first.at_us / SLOT_US - 1);
            }
            self.slot += 1;
            while let Some(Reverse(next)) = self.far.peek()
                && next.at_us / SLOT_US < self.slot + WHEEL_SLOTS
            {
                let Some(Reverse(next)) = self.far.pop() else {
                    break;
                };
                self.place(next);
            }
            let bucket = std::mem::take(&mut self.wheel[(self.slot % WHEEL_SLOTS) as usize]);
            self.in_wheel -= bucket.len();
            self.current.extend(bucket.into_iter().map(Reverse));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn the_wheel_pops_in_time_then_sequence_order_near_and_far() {
        let mut rng = Rng::new(3);
        let mut queue = Queue::new();
        let mut expected = Vec::new();
        // The queue numbers events from 1, in the order they are pushed.
        for seq in 1..=5_000u64 {
            // Near (µs), same millisecond, and beyond the wheel.
            let at_us = match seq % 3 {
                0 => rng.below(5_000),
                1 => 1_500,
                _ => rng.below(WHEEL_SLOTS * SLOT_US * 3),
            };
            queue.push(at_us, ());
            expected.push((at_us, seq));
        }
        expected.sort();
        let mut got = Vec::new();
        // Pop half, push more at or after the last popped time, pop the rest.
        for _ in 0..2_500 {
            let e = queue.pop().unwrap();
            got.push((e.at_us, e.seq));
        }
        let now = got.last().unwrap().0;
        for seq in 5_001..=5_100u64 {
            let at_us = now + rng.below(2_000);
            queue.push(at_us, ());
            expected.push((at_us, seq));
        }
        expected.sort();
        while let Some(e) = queue.pop() {
            got.push((e.at_us, e.seq));
        }
        assert_eq!(got, expected);
    }
}
