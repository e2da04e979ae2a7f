//! The simulated stale count against the analytical model, with what
//! counting noise allows: [`Check`] for one run, [`table`] for a grid.
//!
//! The model says a share r = 1 − exp(−D/T) of the blocks goes stale (D
//! from the run's own f(t)). Stale blocks are rare events, so the count a
//! run of B blocks shows is close to a Poisson draw of mean r·B: how far it
//! may fall from r·B by chance alone is [`poisson_range`], and whether a
//! ±15 % agreement can be told from chance at all depends on r·B.

use crate::report::Report;

/// Fewest expected stale blocks for ±15 % to be about two standard
/// deviations of the count (2 / 0.15)², so that "within ±15 %" says
/// something about the model rather than about luck.
pub const ENOUGH_FOR_15_PERCENT: f64 = 178.0;

/// The central 95 % range of a Poisson count X of mean `mean`: `lo` is the
/// first count with P(X ≤ lo) > 2.5 %, `hi` the first with
/// P(X ≤ hi) ≥ 97.5 %.
pub fn poisson_range(mean: f64) -> (u64, u64) {
    if mean <= 0.0 {
        return (0, 0);
    }
    if mean > 500.0 {
        // The normal approximation is exact to a count here.
        let half = 1.96 * mean.sqrt();
        return (
            (mean - half).floor().max(0.0) as u64,
            (mean + half).ceil() as u64,
        );
    }
    // Bounded: the mass runs out long before 10·mean + 100 terms.
    let mut p = (-mean).exp();
    let mut below = 0.0;
    let mut lo = None;
    for k in 0..(10.0 * mean + 100.0) as u64 {
        if lo.is_none() && below + p > 0.025 {
            lo = Some(k);
        }
        below += p;
        if below >= 0.975 {
            return (lo.unwrap_or(0), k);
        }
        p *= mean / (k + 1) as f64;
    }
    (lo.unwrap_or(0), (10.0 * mean + 100.0) as u64)
}

/// One run's stale count against the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Stale blocks the run counted.
    pub stale: u64,
    /// Stale blocks the model expects: r·B.
    pub expected: f64,
    /// The count's central 95 % range if the model is right.
    pub range: (u64, u64),
}

impl Check {
    /// The check of `report`.
    pub fn of(report: &Report) -> Check {
        let expected = report.model_stale_rate * report.blocks_mined as f64;
        Check {
            stale: report.stale_blocks,
            expected,
            range: poisson_range(expected),
        }
    }

    /// Simulated ÷ expected.
    pub fn ratio(&self) -> f64 {
        self.stale as f64 / self.expected.max(f64::MIN_POSITIVE)
    }

    /// Whether the count is within the range chance allows.
    pub fn consistent(&self) -> bool {
        (self.range.0..=self.range.1).contains(&self.stale)
    }

    /// Whether the run is long enough for ±15 % to be a test.
    pub fn precise(&self) -> bool {
        self.expected >= ENOUGH_FOR_15_PERCENT
    }
}

/// A markdown table of the runs: nodes, T, blocks, stale count, the model's
/// expectation and its 95 % range, the ratio, and the verdict (`±15 %` /
/// `off by more than 15 %` when the run is long enough to say, else whether
/// the count is within chance and how many blocks ±15 % would need).
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| nodes | T (s) | blocks | stale | model expects | 95 % range | ratio | verdict |\n|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in reports {
        let c = Check::of(r);
        let verdict = if c.precise() {
            if (0.85..=1.15).contains(&c.ratio()) {
                "within ±15 %".to_string()
            } else {
                "off by more than 15 %".to_string()
            }
        } else {
            let needed = ENOUGH_FOR_15_PERCENT / r.model_stale_rate.max(f64::MIN_POSITIVE);
            format!(
                "{} chance; ±15 % needs ~{:.0} blocks",
                if c.consistent() { "within" } else { "outside" },
                needed
            )
        };
        out += &format!(
            "| {} | {} | {} | {} | {:.1} | {}–{} | {:.2} | {} |\n",
            r.config.nodes,
            r.config.block_ms as f64 / 1000.0,
            r.blocks_mined,
            c.stale,
            c.expected,
            c.range.0,
            c.range.1,
            c.ratio(),
            verdict
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poisson_range_holds_95_percent_of_the_mass() {
        // Mean 10: P(X ≤ 3) = 1.0 %, P(X ≤ 4) = 2.9 %; P(X ≤ 16) = 97.3 %,
        // P(X ≤ 17) = 98.6 % (tables of the Poisson distribution).
        assert_eq!(poisson_range(10.0), (4, 17));
        assert_eq!(poisson_range(0.0), (0, 0));
        // A small mean: zero is likely, so the range starts at 0.
        assert_eq!(poisson_range(0.5).0, 0);
        // Large means use the normal approximation, centred on the mean.
        let (lo, hi) = poisson_range(10_000.0);
        assert!((9_800..=9_805).contains(&lo) && (10_195..=10_200).contains(&hi));
    }
}
