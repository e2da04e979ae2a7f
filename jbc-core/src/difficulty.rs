//! Difficulty retargeting and median time past (PROTOCOL.md §5).

use crate::params::Params;

/// How many blocks the median time past looks back over.
pub const MEDIAN_SPAN: usize = 11;

/// Whether the block at `height` is one where the difficulty may change:
/// `height >= 2W` and `height` a multiple of W.
pub fn is_retarget_height(params: &Params, height: u64) -> bool {
    let w = params.retarget_window;
    w > 0 && w.checked_mul(2).is_some_and(|two_w| height >= two_w) && height.is_multiple_of(w)
}

/// The difficulty a retarget block must have, given its parent's difficulty
/// and the timestamps `ts(h-1-W)` (`window_start_ms`) and `ts(h-1)`
/// (`window_end_ms`). Blocks faster than half the target raise it by one,
/// slower than twice the target lower it by one, within the params' bounds.
pub fn retarget(
    params: &Params,
    parent_difficulty: u32,
    window_start_ms: u64,
    window_end_ms: u64,
) -> u32 {
    let actual = i128::from(window_end_ms) - i128::from(window_start_ms);
    let expected = i128::from(params.retarget_window) * i128::from(params.target_block_ms);
    if 2 * actual < expected {
        (parent_difficulty + 1).min(params.max_difficulty)
    } else if actual > 2 * expected {
        parent_difficulty
            .saturating_sub(1)
            .max(params.min_difficulty)
    } else {
        parent_difficulty
    }
}

/// The median of up to [`MEDIAN_SPAN`] timestamps: the element at position
/// `len / 2` of the sorted list. Extra timestamps beyond the first eleven are
/// ignored; an empty list gives 0.
pub fn median_time_past(timestamps: impl IntoIterator<Item = u64>) -> u64 {
    let mut buf = [0u64; MEDIAN_SPAN];
    let mut len = 0;
    for ts in timestamps.into_iter().take(MEDIAN_SPAN) {
        buf[len] = ts;
        len += 1;
    }
    let used = &mut buf[..len];
    used.sort_unstable();
    used.get(len / 2).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_upper_middle_element() {
        assert_eq!(median_time_past([5, 1, 3]), 3);
        assert_eq!(median_time_past([4, 1, 3, 2]), 3);
        assert_eq!(median_time_past([0]), 0);
        assert_eq!(median_time_past(0..20), 5);
    }

    #[test]
    fn huge_windows_neither_overflow_nor_pass_the_params_check() {
        let p = Params {
            retarget_window: u64::MAX / 2 + 1,
            ..Params::default()
        };
        assert!(!is_retarget_height(&p, u64::MAX - 1));
        assert_eq!(p.check(), Err(crate::params::ParamsError::OutOfRange));
        assert_eq!(Params::default().check(), Ok(()));
    }

    #[test]
    fn retarget_moves_one_step_within_bounds() {
        let p = Params {
            retarget_window: 4,
            target_block_ms: 1000,
            min_difficulty: 6,
            max_difficulty: 9,
            ..Params::default()
        };
        assert!(!is_retarget_height(&p, 4));
        assert!(is_retarget_height(&p, 8));
        assert!(!is_retarget_height(&p, 9));
        assert_eq!(retarget(&p, 8, 0, 1999), 9);
        assert_eq!(retarget(&p, 9, 0, 1999), 9);
        assert_eq!(retarget(&p, 8, 0, 2000), 8);
        assert_eq!(retarget(&p, 8, 0, 8000), 8);
        assert_eq!(retarget(&p, 8, 0, 8001), 7);
        assert_eq!(retarget(&p, 6, 0, 8001), 6);
        // A window whose end is before its start counts as fast.
        assert_eq!(retarget(&p, 8, 5000, 0), 9);
    }
}
