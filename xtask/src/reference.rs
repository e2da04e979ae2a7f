//! The single-stream SHA-256 reference every speed figure is a ratio to:
//! `openssl speed -evp sha256` on 16 KiB blocks, as compressions per second
//! (MB/s ÷ 64), and the CPU it ran on. Measured in the same run as the figure
//! it scales, because the machines differ.

use std::process::{Command, Stdio};

/// SHA-256 compressions per second of one openssl stream: the 16 KiB column
/// of `openssl speed -evp sha256` (in 1000s of bytes/s) ÷ 64.
pub fn openssl_compressions_per_sec() -> Result<f64, String> {
    let output = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "16384", "-evp", "sha256",
        ])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kbytes = parse_openssl(&stdout)
        .ok_or_else(|| format!("cannot read openssl speed output:\n{stdout}"))?;
    Ok(kbytes * 1000.0 / 64.0)
}

/// The last column of the `sha256` result line, in 1000s of bytes per second.
fn parse_openssl(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .rev()
        .find(|l| l.to_ascii_lowercase().starts_with("sha256"))?
        .split_whitespace()
        .last()?
        .strip_suffix('k')?
        .parse()
        .ok()
}

/// The CPU's model name from /proc/cpuinfo, where there is one.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| format!("unknown ({})", std::env::consts::ARCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openssl_speed_output() {
        let out = "Doing sha256 for 3s on 16384 size blocks: 100 sha256's in 3.00s\n\
                   type             16384 bytes\n\
                   sha256          1850000.50k\n";
        assert_eq!(parse_openssl(out), Some(1_850_000.5));
        assert_eq!(parse_openssl("nothing"), None);
        assert_eq!(parse_openssl("sha256 12.5"), None, "the value is in k");
    }
}
