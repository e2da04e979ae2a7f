//! Installs what builds and tests need, on a fresh machine with only Rust:
//! the wasm32 target, wasm-bindgen-cli at the version jbc-web pins,
//! Chromium and mesa-vulkan-drivers (lavapipe, a software Vulkan adapter for
//! jbc-miner's GPU tests) from Debian packages (when root), and the npm
//! packages of the end-to-end tests. Every step is skipped when already done.

use std::path::Path;
use std::process::Command;

use crate::{TaskResult, root, run_cmd};

/// Everything below.
pub fn all() -> TaskResult {
    wasm_target()?;
    wasm_bindgen_cli()?;
    chromium()?;
    vulkan_driver()?;
    npm_packages(&root().join("tests-e2e"))
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rustup target add wasm32-unknown-unknown` unless installed.
pub fn wasm_target() -> TaskResult {
    let installed = output_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The `=x.y.z` version of wasm-bindgen pinned in jbc-web/Cargo.toml.
pub fn pinned_wasm_bindgen() -> Result<String, String> {
    let manifest = std::fs::read_to_string(root().join("jbc-web/Cargo.toml"))
        .map_err(|e| format!("reading jbc-web/Cargo.toml: {e}"))?;
    manifest
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("wasm-bindgen ")
                || l.trim_start().starts_with("wasm-bindgen=")
        })
        .find_map(|l| {
            let start = l.find("\"=")? + 2;
            let end = start + l[start..].find('"')?;
            Some(l[start..end].to_string())
        })
        .ok_or_else(|| "jbc-web/Cargo.toml must pin wasm-bindgen with \"=x.y.z\"".to_string())
}

/// `cargo install wasm-bindgen-cli --version =X` unless that version is on PATH.
pub fn wasm_bindgen_cli() -> TaskResult {
    let version = pinned_wasm_bindgen()?;
    let have = output_of(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(version.as_str()) {
        return Ok(());
    }
    run_cmd(crate::cargo().args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &format!("={version}"),
    ]))
}

/// The Chromium binary the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

fn is_root() -> bool {
    output_of(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

/// `apt-get install chromium` when missing and running as root; otherwise
/// a clear message if it is missing.
pub fn chromium() -> TaskResult {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "{CHROMIUM} is missing; install Debian's chromium package (as root: apt-get install chromium)"
        ));
    }
    run_cmd(Command::new("apt-get").arg("update"))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The Vulkan driver manifest of lavapipe (Debian's mesa-vulkan-drivers).
const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// Whether a Vulkan driver manifest is installed (lavapipe or any other).
pub fn have_vulkan_driver() -> bool {
    Path::new(LAVAPIPE_ICD).exists()
        || std::fs::read_dir("/usr/share/vulkan/icd.d")
            .map(|d| d.count() > 0)
            .unwrap_or(false)
}

/// `apt-get install mesa-vulkan-drivers` (lavapipe: wgpu's software Vulkan
/// adapter, so jbc-miner's GPU tests run without a GPU) when no Vulkan
/// driver is installed and running as root on Debian; otherwise a note, and
/// the GPU tests say they are skipped.
pub fn vulkan_driver() -> TaskResult {
    if have_vulkan_driver() {
        return Ok(());
    }
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        eprintln!(
            "note: no Vulkan driver; jbc-miner's GPU tests will be skipped              (on Debian, as root: apt-get install mesa-vulkan-drivers)"
        );
        return Ok(());
    }
    run_cmd(Command::new("apt-get").arg("update"))?;
    run_cmd(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "mesa-vulkan-drivers",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// `npm ci` (or `npm install` without a lock file) in `dir` unless its
/// node_modules is already there.
pub fn npm_packages(dir: &Path) -> TaskResult {
    if !dir.join("package.json").exists() || dir.join("node_modules").exists() {
        return Ok(());
    }
    let verb = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    run_cmd(
        Command::new("npm")
            .args([verb, "--no-audit", "--no-fund"])
            .current_dir(dir),
    )
}
