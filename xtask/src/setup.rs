//! Installs what builds and tests need, on a fresh machine with only Rust:
//! the wasm32 target, wasm-bindgen-cli at the version jbc-web pins,
//! Node.js and npm, Chromium and mesa-vulkan-drivers (lavapipe, a software
//! Vulkan adapter for jbc-miner's GPU tests) from Debian packages (when
//! root), and the npm packages of the end-to-end tests. Every step is
//! skipped when already done.

use std::path::Path;
use std::process::Command;

use crate::{TaskResult, root, run_cmd};

/// Everything below.
pub fn all() -> TaskResult {
    wasm_target()?;
    wasm_bindgen_cli()?;
    nodejs(NODE_FOR_E2E)?;
    chromium()?;
    vulkan_driver()?;
    iproute2()?;
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

/// What a Node.js is needed for, and the oldest version that does it.
#[derive(Clone, Copy, Debug)]
pub struct NodeNeed {
    /// What needs it, for the messages.
    pub purpose: &'static str,
    /// The oldest `(major, minor)` that works.
    pub min: (u32, u32),
    /// Whether npm is needed too.
    pub npm: bool,
}

/// The wasm kernel check (`tools/wasm_kernel_check/check.mjs`: top-level
/// await, wasm SIMD, `i64` exports as `BigInt`).
pub const NODE_FOR_WASM_CHECK: NodeNeed = NodeNeed {
    purpose: "the wasm kernel check",
    min: (18, 0),
    npm: false,
};

/// The browser tests: `node --test --test-concurrency --test-timeout`
/// (20.11) and playwright-core (`engines: node >=20`), installed with npm.
pub const NODE_FOR_E2E: NodeNeed = NodeNeed {
    purpose: "the browser tests (node --test --test-timeout, playwright-core)",
    min: (20, 11),
    npm: true,
};

/// `(major, minor)` of a version such as `v20.20.2` (`node --version`) or
/// `18.20.4+dfsg-1~deb12u3` (a Debian package version, with an optional
/// `epoch:`).
pub fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let text = text.trim();
    let text = text.rsplit_once(':').map_or(text, |(_, v)| v);
    let mut parts = text.trim_start_matches('v').split(['.', '+', '-', '~']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Node.js on PATH, as `(major, minor)`.
fn node_version() -> Option<(u32, u32)> {
    output_of(Command::new("node").arg("--version")).and_then(|v| parse_node_version(&v))
}

fn have_npm() -> bool {
    output_of(Command::new("npm").arg("--version")).is_some()
}

/// The version `apt-get install` would give `package`.
fn apt_candidate(package: &str) -> Option<(u32, u32)> {
    let policy = output_of(Command::new("apt-cache").args(["policy", package]))?;
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate:"))
        .and_then(parse_node_version)
}

fn too_old(need: NodeNeed, found: (u32, u32), whose: &str) -> String {
    let (major, minor) = need.min;
    format!(
        "{} needs Node.js {major}.{minor} or later, and {whose} is {}.{}: install a newer \
         Node.js (https://nodejs.org/, or your distribution's newer release){}",
        need.purpose,
        found.0,
        found.1,
        if need.npm {
            ", or skip the browser tests with `cargo xtask test --no-e2e`"
        } else {
            ""
        }
    )
}

/// Makes sure `node` (and npm, if `need.npm`) is on PATH at `need.min` or
/// later: when missing, installs Debian's `nodejs` (and `npm`) as root, like
/// Chromium; otherwise, or when the only Node.js at hand is too old, an
/// error that says what to install.
pub fn nodejs(need: NodeNeed) -> TaskResult {
    let have = node_version();
    if let Some(found) = have {
        if found < need.min {
            return Err(too_old(need, found, "the one on PATH"));
        }
        if !need.npm || have_npm() {
            return Ok(());
        }
    }
    let packages: &[&str] = match (have, need.npm) {
        (None, true) => &["nodejs", "npm"],
        (None, false) => &["nodejs"],
        (Some(_), _) => &["npm"],
    };
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        return Err(format!(
            "{} needs Node.js {}.{} or later{}, and it is missing; install it \
             (on Debian, as root: apt-get install {}; or from https://nodejs.org/)",
            need.purpose,
            need.min.0,
            need.min.1,
            if need.npm { " with npm" } else { "" },
            packages.join(" ")
        ));
    }
    run_cmd(Command::new("apt-get").arg("update"))?;
    if have.is_none()
        && let Some(candidate) = apt_candidate("nodejs").filter(|&c| c < need.min)
    {
        return Err(too_old(need, candidate, "Debian's nodejs package here"));
    }
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    match node_version() {
        Some(found) if found >= need.min => Ok(()),
        Some(found) => Err(too_old(need, found, "the one installed")),
        None => Err("apt-get installed nodejs, but `node --version` does not answer".into()),
    }
}

/// The Chromium binary the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether this process runs as root.
pub fn is_root() -> bool {
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

/// `apt-get install iproute2` (the `ip` command, for the namespaced hosts
/// of `cargo xtask net --hosts`) when it is missing and running as root on
/// Debian; elsewhere nothing (that check needs root anyway).
pub fn iproute2() -> TaskResult {
    if output_of(Command::new("ip").arg("-V")).is_some()
        || !is_root()
        || !Path::new("/usr/bin/apt-get").exists()
    {
        return Ok(());
    }
    run_cmd(Command::new("apt-get").arg("update"))?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "iproute2"])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_parse_from_node_and_from_debian() {
        assert_eq!(parse_node_version("v20.20.2\n"), Some((20, 20)));
        assert_eq!(parse_node_version("18.20.4+dfsg-1~deb12u3"), Some((18, 20)));
        assert_eq!(parse_node_version("1:22.3.0-1"), Some((22, 3)));
        assert_eq!(parse_node_version("(none)"), None);
        assert_eq!(parse_node_version("v21"), None);
    }

    #[test]
    fn debian_12s_nodejs_is_enough_for_the_wasm_check_but_not_the_browser_tests() {
        let bookworm = parse_node_version("18.20.4+dfsg-1~deb12u3").unwrap();
        assert!(bookworm >= NODE_FOR_WASM_CHECK.min);
        assert!(bookworm < NODE_FOR_E2E.min);
        assert!(parse_node_version("v20.10.0").unwrap() < NODE_FOR_E2E.min);
        assert!(parse_node_version("v20.11.0").unwrap() >= NODE_FOR_E2E.min);
    }
}
