//! `cargo xtask bench` (owned by the kernels issue).

use crate::TaskResult;

/// Kernels beside the references.
pub fn run(_args: &[String]) -> TaskResult {
    Err("not built yet".into())
}
