//! `cargo xtask web` and `cargo xtask bench-web` (owned by the web issue).

use crate::TaskResult;

/// Builds jbc-web into `www/pkg`.
pub fn run(_args: &[String]) -> TaskResult {
    Err("not built yet".into())
}

/// Browser hash rate in headless Chromium.
pub fn bench(_args: &[String]) -> TaskResult {
    Err("not built yet".into())
}
