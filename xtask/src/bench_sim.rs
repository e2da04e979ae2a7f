//! `cargo xtask bench-sim [--quick]`: the simulator's figures — the scale
//! runs (wall time, events per second and peak memory of 1,000 and 10,000
//! nodes × 1,000 blocks) and the grid of the stale rate against the
//! analytical model (`jbc-sim model`). Everything is printed; nothing is
//! asserted. `--quick` runs 1,000 nodes only, with fewer blocks.

use crate::{TaskResult, cargo, run_cmd};

/// Runs the benchmark.
pub fn run(args: &[String]) -> TaskResult {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err("usage: cargo xtask bench-sim [--quick]".into()),
    };
    run_cmd(cargo().args(["build", "--release", "-p", "jbc-sim"]))?;
    let binary = crate::target_dir().join("release/jbc-sim");
    let sizes: &[&str] = if quick { &["1000"] } else { &["1000", "10000"] };
    // Periodic rounds every 10 minutes (docs/sim.md, "Periodic sync").
    let common = ["--seed", "1", "--sync-ms", "600000"];
    for nodes in sizes {
        println!("\n## scale: {nodes} nodes × 1,000 blocks, T = 10 s (speed and memory on stderr)");
        run_cmd(
            std::process::Command::new(&binary)
                .args(["--nodes", nodes, "--blocks", "1000", "--block-ms", "10000"])
                .args(common),
        )?;
    }
    let (grid_sizes, blocks) = if quick {
        ("1000", "1000")
    } else {
        ("1000,10000", "2000")
    };
    println!("\n## the analytical model: {blocks} blocks per run");
    // Periodic rounds every hour: at T = 600 s a run spans days of
    // simulated time, and without faults periodic sync finds nothing.
    run_cmd(std::process::Command::new(&binary).args([
        "model",
        "--sizes",
        grid_sizes,
        "--blocks",
        blocks,
        "--seed",
        "1",
        "--sync-ms",
        "3600000",
    ]))
}
