//! `cargo xtask test`: what `.ci/run` calls. On a fresh machine with only
//! Rust it installs what the tests need (see `setup`), then checks formatting
//! and lints, proves jbc-core builds for wasm32 without std, builds the
//! browser miner, and runs every test suite: the Rust workspace tests and the
//! end-to-end browser tests, then checks `cargo xtask demo --check`, a
//! twenty-node `cargo xtask net --check` and, as root, `cargo xtask net
//! --hosts 7 --unreachable 1 --partition 15 --check` on namespaced hosts.
//!
//! jbc-miner's GPU tests need a Vulkan adapter: `setup::vulkan_driver`
//! installs lavapipe (mesa-vulkan-drivers) when root, and the tests then run
//! with `JBC_REQUIRE_GPU=1`, so a missing adapter fails instead of skipping.
//!
//! `--no-e2e` skips the browser tests (and the Chromium install); the wasm
//! kernel check still runs under Node.js, which may then be older (18).

use std::process::Command;

use crate::{TaskResult, cargo, root, run_cmd, setup};

/// Installs tools and runs every check and test.
pub fn run(args: &[String]) -> TaskResult {
    let e2e = !args.iter().any(|a| a == "--no-e2e");
    setup::wasm_target()?;
    setup::wasm_bindgen_cli()?;
    setup::vulkan_driver()?;
    // node runs the wasm kernel check; the browser tests need a newer one, and npm.
    setup::nodejs(if e2e {
        setup::NODE_FOR_E2E
    } else {
        setup::NODE_FOR_WASM_CHECK
    })?;
    let require_gpu = if setup::have_vulkan_driver() {
        "1"
    } else {
        "0"
    };
    let e2e_dir = root().join("tests-e2e");
    let have_e2e = e2e && e2e_dir.join("package.json").exists();
    if have_e2e {
        setup::chromium()?;
        setup::npm_packages(&e2e_dir)?;
    }

    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // jbc-web's browser-only code compiles only for wasm32.
    run_cmd(cargo().args([
        "clippy",
        "-p",
        "jbc-web",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    // jbc-core is no_std: it must build for wasm32 and without default features.
    run_cmd(cargo().args([
        "build",
        "-p",
        "jbc-core",
        "--no-default-features",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    run_cmd(cargo().args(["build", "-p", "jbc-core", "--no-default-features"]))?;
    run_cmd(
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;

    // Build every test binary once, then run them all.
    run_cmd(cargo().args(["test", "--workspace", "--all-targets", "--no-run"]))?;
    run_cmd(
        cargo()
            .args(["test", "--workspace", "--all-targets"])
            .env("JBC_REQUIRE_GPU", require_gpu),
    )?;
    run_cmd(cargo().args(["test", "--workspace", "--doc"]))?;
    // The simd128 kernel can only run inside wasm: check it there, against
    // the portable kernel, under node.
    crate::bench::wasm_kernel_check()?;

    if have_e2e {
        // The browser tests need the wasm build in www/pkg and the node binary.
        crate::web::run(&[])?;
        run_cmd(cargo().args(["build", "-p", "jbc-node"]))?;
        // The native miner the tab-switch test uses.
        run_cmd(cargo().args([
            "build",
            "--release",
            "-p",
            "jbc-web",
            "--example",
            "mine_block",
        ]))?;
        // The tests find jbc-node and the helper under cargo's real target
        // directory, wherever CARGO_TARGET_DIR puts it.
        run_cmd(
            Command::new("npm")
                .args(["test", "--silent"])
                .env("JBC_TARGET_DIR", crate::target_dir())
                .current_dir(&e2e_dir),
        )?;
    }
    // What a newcomer runs first: a three-node network that must agree on
    // one tip holding blocks of more than one miner (ports away from the
    // default 5000-5002, so a demo left running does not collide).
    crate::demo::run(&[
        "--check".into(),
        "--secs".into(),
        "20".into(),
        "--base-port".into(),
        "25400".into(),
    ])?;
    // Twenty nodes, each told only the seed's address: they must find each
    // other and agree (PROTOCOL.md §7.1), on this 2-core machine.
    crate::net::run(&[
        "--nodes".into(),
        "20".into(),
        "--miners".into(),
        "3".into(),
        "--secs".into(),
        "30".into(),
        "--check".into(),
        "--port".into(),
        "25500".into(),
    ])?;
    // Seven namespaced hosts, one that cannot be dialled, and a partition
    // of half of them that must heal (PROTOCOL.md §7.2). It needs root: as
    // root (CI) it is required, elsewhere it says it was skipped.
    if setup::is_root() {
        setup::iproute2()?;
        crate::hosts::run(&[
            "--hosts".into(),
            "7".into(),
            "--unreachable".into(),
            "1".into(),
            "--miners".into(),
            "2".into(),
            "--secs".into(),
            "20".into(),
            "--partition".into(),
            "15".into(),
            "--check".into(),
        ])?;
    } else {
        println!("net --hosts check skipped: namespaced hosts need root");
    }
    Ok(())
}
