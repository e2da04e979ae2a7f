//! [`RoundPacer`]: sizes mining rounds (or GPU dispatches) to a target
//! duration from how long the last ones took.

/// Chooses the size of the next round from how long the last one took.
///
/// After a round of `h` nonces that took `t` µs the ideal size is
/// `h × target / t`; the pacer moves to it but by at most a factor of two per
/// round (one slow round, e.g. the thread was descheduled, does not collapse
/// the size), within `[min, max]`. A round measured as 0 µs (a coarse or
/// frozen clock) doubles the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundPacer {
    target_us: u64,
    min: u64,
    max: u64,
    size: u64,
}

impl RoundPacer {
    /// A pacer aiming at rounds of `target_us` µs, starting at `first` nonces,
    /// always within `[min, max]` (a `min` of 0 counts as 1; `max` is raised
    /// to `min` if below it).
    pub fn new(target_us: u64, first: u64, min: u64, max: u64) -> RoundPacer {
        let min = min.max(1);
        let max = max.max(min);
        RoundPacer {
            target_us,
            min,
            max,
            size: first.clamp(min, max),
        }
    }

    /// Nonces to try in the next round.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How long a round should take, in µs.
    pub fn target_us(&self) -> u64 {
        self.target_us
    }

    /// Records that a round of `hashes` nonces took `elapsed_us` µs. The
    /// round need not have had the current size: a GPU loop records
    /// dispatches sized before the last change, or several at once.
    pub fn observe(&mut self, hashes: u64, elapsed_us: u64) {
        let current = u128::from(self.size);
        let ideal = if elapsed_us == 0 {
            current * 2
        } else {
            u128::from(hashes.max(1)) * u128::from(self.target_us) / u128::from(elapsed_us)
        };
        let next = ideal.clamp(current / 2, current * 2);
        self.size = u64::try_from(next)
            .unwrap_or(u64::MAX)
            .clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_moves_towards_the_target_by_at_most_double() {
        let mut pacer = RoundPacer::new(2_000, 1_000, 10, 100_000);
        // 1000 hashes in 100 µs: ideal 20 000, but only doubling allowed.
        pacer.observe(1_000, 100);
        assert_eq!(pacer.size(), 2_000);
        // 2000 hashes in 2000 µs: on target, stays.
        pacer.observe(2_000, 2_000);
        assert_eq!(pacer.size(), 2_000);
        // Very slow: halves, not more.
        pacer.observe(2_000, 1_000_000);
        assert_eq!(pacer.size(), 1_000);
        // Frozen clock: doubles up to the max.
        for _ in 0..40 {
            pacer.observe(pacer.size(), 0);
        }
        assert_eq!(pacer.size(), 100_000);
        // Never below the min.
        for _ in 0..40 {
            pacer.observe(pacer.size(), u64::MAX);
        }
        assert_eq!(pacer.size(), 10);
    }

    #[test]
    fn pacer_bounds_are_sane() {
        let pacer = RoundPacer::new(1, 0, 0, 0);
        assert_eq!(pacer.size(), 1);
        let pacer = RoundPacer::new(1, 5, 10, 3);
        assert_eq!(pacer.size(), 10);
    }

    #[test]
    fn a_round_of_another_size_is_measured_by_its_own_size() {
        let mut pacer = RoundPacer::new(10_000, 100, 100, 1 << 20);
        // 300 nonces in the target time: 300, though the size was 100 (at
        // most double at once: 200).
        pacer.observe(300, 10_000);
        assert_eq!(pacer.size(), 200);
        pacer.observe(300, 10_000);
        assert_eq!(pacer.size(), 300);
        // 600 nonces in half the target: 1200, but at most double.
        pacer.observe(600, 5_000);
        assert_eq!(pacer.size(), 600);
        pacer.observe(100_000, 1_000);
        assert_eq!(pacer.size(), 1_200);
        assert_eq!(pacer.target_us(), 10_000);
    }
}
