//! `cargo xtask bench-sim [--quick]`: the simulator's figures — the scale
//! runs (wall time, events per second and peak memory of 1,000 and 10,000
//! nodes × 1,000 blocks at the node's own cadences), the stale rate with
//! 70 % of the nodes unreachable with following off and on, and the grid
//! of the stale rate against the analytical model (`jbc-sim model`).
//! Everything is printed; nothing is asserted. `--quick` runs 1,000 nodes
//! only, with fewer blocks.

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
    for nodes in sizes {
        println!(
            "\n## scale: {nodes} nodes × 1,000 blocks, T = 10 s, the node's cadences (speed and memory on stderr)"
        );
        run_cmd(std::process::Command::new(&binary).args([
            "--nodes",
            nodes,
            "--blocks",
            "1000",
            "--block-ms",
            "10000",
            "--seed",
            "1",
        ]))?;
    }
    let blocks = if quick { "300" } else { "1000" };
    for (label, flags) in [
        (
            "following off (every peer polled every 3 s)",
            &["--no-follow"][..],
        ),
        ("following on", &[][..]),
    ] {
        println!("\n## 70 % of 1,000 nodes unreachable, {blocks} blocks, T = 10 s: {label}");
        run_cmd(
            std::process::Command::new(&binary)
                .args(["--nodes", "1000", "--blocks", blocks, "--block-ms", "10000"])
                .args(["--seed", "1", "--unreachable-share", "0.7"])
                .args(flags),
        )?;
    }
    let (grid_sizes, blocks) = if quick {
        ("1000", "1000")
    } else {
        ("1000,10000", "2000")
    };
    println!("\n## the analytical model: {blocks} blocks per run");
    // The safety-net poll every hour: at T = 600 s a run spans days of
    // simulated time, and without faults the poll finds nothing.
    run_cmd(std::process::Command::new(&binary).args([
        "model",
        "--sizes",
        grid_sizes,
        "--blocks",
        blocks,
        "--seed",
        "1",
        "--poll-every-ms",
        "3600000",
    ]))
}
