//! What one run of `cargo xtask bench` measured: the rates, as data, and
//! the kernel benchmark's output parsed into them.

/// One measured rate in hashes (compressions) per second: per second of
/// wall-clock time, of CPU time, and of the fastest single call (`None`
/// where the measurement has no such figure).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rate {
    /// Per second of wall-clock time.
    pub(super) wall: f64,
    /// Per second of CPU time.
    pub(super) cpu: f64,
    /// Per second of the fastest single call.
    pub(super) best: Option<f64>,
}

/// Everything measured in one run: the kernel benchmark's output and the
/// references.
pub(super) struct Measured {
    /// `kernel_bench`'s output.
    pub(super) rust: String,
    /// The wasm kernels under node.
    pub(super) wasm: Result<WasmRates, String>,
    /// The GPU through wgpu.
    pub(super) gpu: Result<GpuRate, String>,
    /// openssl's single-stream SHA-256 compressions per second.
    pub(super) openssl: Result<f64, String>,
    /// The original Python loop.
    pub(super) python: Result<Rate, String>,
}

/// The lines of `kernel_bench`'s output, parsed.
#[derive(Default)]
pub(super) struct KernelFigures {
    /// Each kernel, in the benchmark's order (the default choice first).
    pub(super) kernels: Vec<(String, Rate)>,
    /// `mine_round_naive`.
    pub(super) naive: Option<Rate>,
    /// sha2's single-stream compression.
    pub(super) single_stream: Option<Rate>,
    /// (kernel, overall, fastest call) against sha2's single stream.
    pub(super) ratios: Vec<(String, f64, f64)>,
    /// The kernel `pow::calibrate()` picked.
    pub(super) calibrated: Option<String>,
    /// (kernel, threads, rate) of `mine_round`.
    pub(super) threads: Vec<(String, u32, Rate)>,
}

impl KernelFigures {
    /// Reads `kernel_bench`'s output; an error if it has no kernel figure.
    pub(super) fn parse(rust: &str) -> Result<KernelFigures, String> {
        let mut kernels: Vec<(String, Rate)> = Vec::new();
        let mut naive = None;
        let mut single_stream = None;
        let mut ratios: Vec<(String, f64, f64)> = Vec::new();
        let mut calibrated = None;
        let mut threads: Vec<(String, u32, Rate)> = Vec::new();
        for line in rust.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let ["calibrate", name] = fields[..] {
                calibrated = Some(name.to_string());
                continue;
            }
            if let ["ratio", name, _, total, best] = fields[..] {
                if let (Ok(total), Ok(best)) = (total.parse(), best.parse()) {
                    ratios.push((name.to_string(), total, best));
                }
                continue;
            }
            let [what, name, count, wall, cpu, best] = fields[..] else {
                continue;
            };
            let (Ok(count), Ok(wall), Ok(cpu), Ok(best)) =
                (count.parse(), wall.parse(), cpu.parse(), best.parse())
            else {
                continue;
            };
            let rate = Rate {
                wall,
                cpu,
                best: Some(best),
            };
            match what {
                "kernel" => kernels.push((name.to_string(), rate)),
                "naive" => naive = Some(rate),
                "reference" => single_stream = Some(rate),
                "threads" => threads.push((name.to_string(), count, rate)),
                _ => {}
            }
        }
        if kernels.is_empty() {
            return Err(format!(
                "no kernel figures in the benchmark output:\n{rust}"
            ));
        }
        Ok(KernelFigures {
            kernels,
            naive,
            single_stream,
            ratios,
            calibrated,
            threads,
        })
    }
}

/// What `gpu_bench` measured.
#[derive(Debug)]
pub(crate) struct GpuRate {
    /// Hashes per second over the whole run.
    pub(crate) overall: f64,
    /// Hashes per second of the fastest dispatch.
    pub(crate) best: f64,
    /// A software adapter (the CPU runs the shader).
    pub(crate) software: bool,
    /// The adapter's name.
    pub(crate) adapter: String,
}

/// What `tools/wasm_kernel_check` reported.
pub(super) struct WasmRates {
    /// Cases checked, all in agreement.
    pub(super) cases: u64,
    /// (kernel, hashes per second).
    pub(super) rates: Vec<(String, f64)>,
}
