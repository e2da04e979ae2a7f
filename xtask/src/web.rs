//! `cargo xtask web` and `cargo xtask bench-web`.
//!
//! `web` builds jbc-web for `wasm32-unknown-unknown` in release twice — a
//! scalar build and a `simd128` build (its own target dir, so the two never
//! invalidate each other) — runs `wasm-bindgen --target web`, then `wasm-opt`
//! (npm binaryen) when it is installed, into `www/pkg/scalar` and
//! `www/pkg/simd`. The page picks `simd` when the browser validates a SIMD
//! module.
//!
//! `bench-web` builds, starts a jbc-node that serves `www/` and does not
//! mine, opens the page in headless Chromium with N workers for a few
//! seconds, and prints the hash rate per worker beside the single-stream
//! native reference `openssl speed -evp sha256` (16 KiB column ÷ 64 bytes per
//! compression), and saves a screenshot to `docs/browser-miner.png`. It then
//! mines on the GPU alone through WebGPU in a Chromium started with the
//! SwiftShader flags and prints that rate with the adapter's name (on
//! SwiftShader a software figure: the "GPU" is this CPU).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{TaskResult, cargo, root, run_cmd, setup};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// One build of the wasm module.
struct Flavor {
    /// Directory under `www/pkg`.
    name: &'static str,
    /// Extra RUSTFLAGS.
    rustflags: &'static str,
    /// CARGO_TARGET_DIR relative to the root (`None`: the shared `target`).
    target_dir: Option<&'static str>,
    /// Extra wasm-opt feature flag.
    wasm_opt_features: &'static [&'static str],
}

const FLAVORS: [Flavor; 2] = [
    Flavor {
        name: "scalar",
        rustflags: "",
        target_dir: None,
        wasm_opt_features: &[],
    },
    Flavor {
        name: "simd",
        rustflags: "-C target-feature=+simd128",
        target_dir: Some("target/wasm-simd"),
        wasm_opt_features: &["--enable-simd"],
    },
];

/// Features that rustc's default wasm32 target emits, which wasm-opt must accept.
const WASM_OPT_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Builds jbc-web into `www/pkg/{scalar,simd}`. `--scalar-only` skips the SIMD build.
pub fn run(args: &[String]) -> TaskResult {
    setup::wasm_target()?;
    setup::wasm_bindgen_cli()?;
    let scalar_only = args.iter().any(|a| a == "--scalar-only");
    let root = root();
    let wasm_opt = find_wasm_opt(&root);
    if wasm_opt.is_none() {
        eprintln!(
            "note: wasm-opt not found (npm binaryen in tests-e2e/node_modules, or on PATH); \
             the wasm is not size/speed optimised"
        );
    }
    for flavor in FLAVORS
        .iter()
        .filter(|f| !scalar_only || f.name == "scalar")
    {
        build_flavor(&root, flavor, wasm_opt.as_deref())?;
    }
    eprintln!(
        "browser miner built into {}",
        root.join("www/pkg").display()
    );
    Ok(())
}

fn build_flavor(root: &Path, flavor: &Flavor, wasm_opt: Option<&Path>) -> TaskResult {
    let mut build = cargo();
    build.args([
        "build",
        "-p",
        "jbc-web",
        "--release",
        "--target",
        WASM_TARGET,
    ]);
    // An inherited RUSTFLAGS would change (and invalidate) both builds.
    build.env("RUSTFLAGS", flavor.rustflags);
    build.env_remove("CARGO_ENCODED_RUSTFLAGS");
    let target_dir = match flavor.target_dir {
        Some(dir) => {
            build.env("CARGO_TARGET_DIR", root.join(dir));
            root.join(dir)
        }
        None => {
            build.env_remove("CARGO_TARGET_DIR");
            root.join("target")
        }
    };
    run_cmd(&mut build)?;
    let wasm = target_dir.join(WASM_TARGET).join("release/jbc_web.wasm");
    let out_dir = root.join("www/pkg").join(flavor.name);
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir)
            .map_err(|e| format!("cannot clear {}: {e}", out_dir.display()))?;
    }
    run_cmd(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&out_dir)
            .arg(&wasm),
    )?;
    if let Some(wasm_opt) = wasm_opt {
        let file = out_dir.join("jbc_web_bg.wasm");
        let optimised = out_dir.join("jbc_web_bg.opt.wasm");
        let result = run_cmd(
            Command::new(wasm_opt)
                .arg("-O3")
                .args(WASM_OPT_FEATURES)
                .args(flavor.wasm_opt_features)
                .arg(&file)
                .arg("-o")
                .arg(&optimised),
        );
        match result {
            Ok(()) => std::fs::rename(&optimised, &file)
                .map_err(|e| format!("cannot replace {}: {e}", file.display()))?,
            // The unoptimised module works; say so rather than fail the build.
            Err(e) => eprintln!("warning: wasm-opt failed ({e}); keeping the unoptimised module"),
        }
    }
    Ok(())
}

/// `wasm-opt` from npm binaryen (tests-e2e or www tool dirs) or PATH.
fn find_wasm_opt(root: &Path) -> Option<PathBuf> {
    let local = root.join("tests-e2e/node_modules/.bin/wasm-opt");
    if local.exists() {
        return Some(local);
    }
    let on_path = Command::new("wasm-opt")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    on_path.then(|| PathBuf::from("wasm-opt"))
}

/// Options of `bench-web`.
struct BenchArgs {
    workers: usize,
    secs: u64,
    kernel: String,
    screenshot: bool,
}

fn parse_bench_args(args: &[String]) -> Result<BenchArgs, String> {
    let mut parsed = BenchArgs {
        workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        secs: 8,
        kernel: "auto".into(),
        screenshot: true,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| {
            iter.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--workers" => {
                parsed.workers = value("--workers")?
                    .parse()
                    .map_err(|e| format!("--workers: {e}"))?
            }
            "--secs" => {
                parsed.secs = value("--secs")?
                    .parse()
                    .map_err(|e| format!("--secs: {e}"))?
            }
            "--kernel" => parsed.kernel = value("--kernel")?,
            "--no-screenshot" => parsed.screenshot = false,
            other => {
                return Err(format!(
                    "unknown option {other:?} (use --workers N --secs S --kernel auto|scalar|simd --no-screenshot)"
                ));
            }
        }
    }
    if !(1..=64).contains(&parsed.workers) || !(1..=120).contains(&parsed.secs) {
        return Err("--workers must be 1..=64 and --secs 1..=120".into());
    }
    if !["auto", "scalar", "simd"].contains(&parsed.kernel.as_str()) {
        return Err("--kernel must be auto, scalar or simd".into());
    }
    Ok(parsed)
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Browser hash rate in headless Chromium beside openssl's single stream.
pub fn bench(args: &[String]) -> TaskResult {
    let opts = parse_bench_args(args)?;
    let root = root();
    setup::chromium()?;
    setup::npm_packages(&root.join("tests-e2e"))?;
    run(&[])?;
    run_cmd(cargo().args(["build", "-p", "jbc-node"]))?;

    // Two nodes serve the page: one at difficulty 40 for measuring (no
    // block is found, so the workers never pause), one at difficulty 20 where
    // the tab finds blocks, for the screenshot.
    let data_dir = std::env::temp_dir().join(format!("jbc-bench-web-{}", std::process::id()));
    let (_measure_node, url) = start_node(&root, &data_dir.join("measure"), "benchweb", 40)?;
    let (_shot_node, shot_url) = start_node(&root, &data_dir.join("shot"), "benchshot", 20)?;

    let reference = crate::reference::openssl_compressions_per_sec()?;
    let mut script = Command::new("node");
    script
        .arg(root.join("tests-e2e/bench.mjs"))
        .args(["--url", &url])
        .args(["--workers", &opts.workers.to_string()])
        .args(["--secs", &opts.secs.to_string()])
        .args(["--kernel", &opts.kernel]);
    if opts.screenshot {
        script
            .args(["--shot-url", &shot_url, "--screenshot"])
            .arg(root.join("docs/browser-miner.png"));
    }
    let output = script
        .current_dir(root.join("tests-e2e"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run node tests-e2e/bench.mjs: {e}"))?;
    drop((_measure_node, _shot_node));
    let _ = std::fs::remove_dir_all(&data_dir);
    if !output.status.success() {
        return Err(format!("tests-e2e/bench.mjs failed: {}", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = BrowserResult::parse(&stdout)?;

    println!("CPU: {}", crate::reference::cpu_name());
    println!(
        "native reference (openssl speed -evp sha256, 16 KiB, one stream): {:.2} M compressions/s",
        reference / 1e6
    );
    println!(
        "browser: headless Chromium {}, {} build, {} workers, {} s",
        result.browser, result.kernel, opts.workers, opts.secs
    );
    for (i, rate) in result.per_worker.iter().enumerate() {
        println!(
            "  worker {i}: {:.2} MH/s = {:.2}x reference",
            rate / 1e6,
            rate / reference
        );
    }
    let total: f64 = result.per_worker.iter().sum();
    let mean = total / result.per_worker.len().max(1) as f64;
    println!(
        "  total {:.2} MH/s; mean per worker {:.2} MH/s = {:.2}x reference (target >= 0.25x)",
        total / 1e6,
        mean / 1e6,
        mean / reference
    );
    match &result.gpu {
        GpuLine::Rate {
            hashes_per_sec,
            software,
            adapter,
        } => println!(
            "  GPU (WebGPU, adapter {adapter}): {:.2} MH/s = {:.2}x reference{}",
            hashes_per_sec / 1e6,
            hashes_per_sec / reference,
            if *software {
                " (a software adapter: SwiftShader runs the shader on this CPU, so this is not a GPU figure)"
            } else {
                ""
            }
        ),
        GpuLine::None(why) => println!("  GPU: not measured ({why})"),
    }
    if opts.screenshot {
        println!("screenshot: docs/browser-miner.png");
    }
    Ok(())
}

/// What bench.mjs printed about the GPU.
#[derive(Debug, PartialEq)]
enum GpuLine {
    /// `GPU <H/s> <software 0|1> <adapter…>`.
    Rate {
        hashes_per_sec: f64,
        software: bool,
        adapter: String,
    },
    /// `GPU none <why>`, or no line.
    None(String),
}

impl GpuLine {
    fn parse(stdout: &str) -> GpuLine {
        let Some(line) = stdout.lines().rev().find(|l| l.starts_with("GPU ")) else {
            return GpuLine::None("bench.mjs printed no GPU line".into());
        };
        let rest = &line[4..];
        if let Some(why) = rest.strip_prefix("none ") {
            return GpuLine::None(why.to_string());
        }
        let mut fields = rest.splitn(3, ' ');
        match (
            fields.next().and_then(|r| r.parse::<f64>().ok()),
            fields.next(),
            fields.next(),
        ) {
            (Some(hashes_per_sec), Some(software), Some(adapter)) => GpuLine::Rate {
                hashes_per_sec,
                software: software == "1",
                adapter: adapter.to_string(),
            },
            _ => GpuLine::None(format!("unreadable GPU line {line:?}")),
        }
    }
}

/// What bench.mjs prints on its last line: `kernel browser rate rate …`.
struct BrowserResult {
    kernel: String,
    browser: String,
    per_worker: Vec<f64>,
    gpu: GpuLine,
}

impl BrowserResult {
    fn parse(stdout: &str) -> Result<BrowserResult, String> {
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("RESULT "))
            .ok_or_else(|| format!("bench.mjs printed no RESULT line:\n{stdout}"))?;
        let mut fields = line.split_whitespace().skip(1);
        let kernel = fields.next().unwrap_or("?").to_string();
        let browser = fields.next().unwrap_or("?").to_string();
        let per_worker = fields
            .map(|f| f.parse::<f64>().map_err(|e| format!("bad rate {f:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if per_worker.is_empty() {
            return Err(format!("no worker rates in {line:?}"));
        }
        Ok(BrowserResult {
            kernel,
            browser,
            per_worker,
            gpu: GpuLine::parse(stdout),
        })
    }
}

/// Starts `<target dir>/debug/jbc-node` on 127.0.0.1 port 0 serving `www/`, at a
/// fixed `difficulty`, not mining; returns it and its URL (read from its
/// `node started url=…` log line, within 30 s).
fn start_node(
    root: &Path,
    data_dir: &Path,
    network: &str,
    difficulty: u32,
) -> Result<(Guard, String), String> {
    let mut child = Command::new(crate::target_dir().join("debug/jbc-node"))
        .args(["--host", "127.0.0.1", "--port", "0", "--network", network])
        .args(["--difficulty", &difficulty.to_string()])
        .args(["--min-difficulty", &difficulty.to_string()])
        .args(["--block-time-ms", "600000", "--retarget-window", "100000"])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--www")
        .arg(root.join("www"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start jbc-node: {e}"))?;
    let stderr = child.stderr.take();
    let guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stderr) = stderr {
        // Reads the log until the node exits, so its pipe never fills.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = started_url(&line) {
                    let _ = tx.send(url);
                }
            }
        });
    }
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "jbc-node did not log `node started url=…` within 30 s".to_string())?;
    Ok((guard, url))
}

/// The URL in jbc-node's `node started url=http://…` log line.
fn started_url(line: &str) -> Option<String> {
    if !line.contains("node started") {
        return None;
    }
    let start = line.find("url=http://")? + 4;
    let url: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\x1b')
        .collect();
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_node_url_from_its_log() {
        let line = "2026-11-25T16:54:52Z  INFO jbc_node::node: node started url=http://127.0.0.1:44561 network=t1";
        assert_eq!(started_url(line).as_deref(), Some("http://127.0.0.1:44561"));
        assert_eq!(started_url("INFO database loaded url=http://x"), None);
    }

    #[test]
    fn reads_the_result_line() {
        let r = BrowserResult::parse("log\nRESULT scalar Chromium/120 1500000 1600000\n").unwrap();
        assert_eq!(r.kernel, "scalar");
        assert_eq!(r.per_worker, vec![1_500_000.0, 1_600_000.0]);
        assert!(BrowserResult::parse("RESULT scalar x\n").is_err());
        assert_eq!(
            GpuLine::parse("GPU 2500000 1 Google SwiftShader Device\nRESULT …"),
            GpuLine::Rate {
                hashes_per_sec: 2_500_000.0,
                software: true,
                adapter: "Google SwiftShader Device".into()
            }
        );
        assert_eq!(
            GpuLine::parse("GPU none no WebGPU\n"),
            GpuLine::None("no WebGPU".into())
        );
    }
}
