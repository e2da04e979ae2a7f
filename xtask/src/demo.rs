//! `cargo xtask demo` (owned by the node issue).

use crate::TaskResult;

/// Starts a local network and the browser page.
pub fn run(_args: &[String]) -> TaskResult {
    Err("not built yet".into())
}
