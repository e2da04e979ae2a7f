//! What the node benchmarks share: a network where blocks cost about two
//! hashes, and the clock.

/// Difficulty 1 bit, and blocks exactly 10 ms apart as the target asks, so
/// retargeting keeps it there (give `--network` beside it).
pub const DIFFICULTY_1: [&str; 8] = [
    "--difficulty",
    "1",
    "--block-time-ms",
    "10",
    "--retarget-window",
    "10",
    "--min-difficulty",
    "1",
];

/// `--network NAME` and [`DIFFICULTY_1`]: a benchmark's network.
pub fn flags(network: &'static str) -> Vec<&'static str> {
    let mut flags = vec!["--network", network];
    flags.extend_from_slice(&DIFFICULTY_1);
    flags
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
