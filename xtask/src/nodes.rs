//! Local `jbc-node` processes for `cargo xtask demo` and `cargo xtask net`:
//! [`Nodes`] stops its children (SIGTERM, then SIGKILL) however the task
//! ends, [`get_json`] asks a node over plain HTTP/1.1 (bounded), and
//! [`forward_log`] keeps each node's log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The flag Ctrl-C sets, shared by every task of this process (the handler
/// can be registered only once: `cargo xtask test` runs both the demo and
/// the net check).
pub fn interrupted() -> Result<Arc<AtomicBool>, String> {
    static FLAG: OnceLock<Result<Arc<AtomicBool>, String>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        ctrlc::set_handler(move || set.store(true, std::sync::atomic::Ordering::SeqCst))
            .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
        Ok(flag)
    })
    .clone()
}

/// Child nodes, by a label (their port or number); each is stopped
/// (SIGTERM, then SIGKILL) on drop.
pub struct Nodes {
    /// The children.
    pub children: Vec<(u16, Child)>,
}

impl Nodes {
    /// Starts `cmd` (a `jbc-node`) in its own process group, so Ctrl-C
    /// reaches xtask only, which then stops the nodes cleanly itself; its
    /// log goes to `log_path` (and to stderr, prefixed with `label`, when
    /// `echo`).
    pub fn spawn(
        &mut self,
        label: u16,
        mut cmd: Command,
        log_path: PathBuf,
        echo: bool,
    ) -> Result<(), String> {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
        let stderr = child.stderr.take();
        std::thread::spawn(move || forward_log(stderr, label, &log_path, echo));
        self.children.push((label, child));
        Ok(())
    }

    /// Stops the nodes and gives `task`'s result: `verdict`, failed too if
    /// a node did not stop cleanly; a failure points at the logs in `logs`.
    pub fn finish(
        &mut self,
        task: &str,
        verdict: Result<String, String>,
        logs: &Path,
    ) -> Result<(), String> {
        let clean = self.stop();
        match verdict {
            Ok(summary) if clean => {
                println!("{task} check passed: {summary}");
                Ok(())
            }
            Ok(summary) => Err(format!("{summary}, but a node did not stop cleanly")),
            Err(e) => Err(format!(
                "{task} check failed: {e} (logs in {})",
                logs.display()
            )),
        }
    }

    /// A node that stopped on its own, if any: its label and exit status.
    pub fn exited(&mut self) -> Option<(u16, std::process::ExitStatus)> {
        self.children
            .iter_mut()
            .find_map(|(label, child)| Some((*label, child.try_wait().ok()??)))
    }

    /// Asks every node to stop and waits (bounded); true if all exited 0.
    pub fn stop(&mut self) -> bool {
        for (_, child) in &self.children {
            terminate(child);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut clean = true;
        for (port, child) in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() {
                            eprintln!("demo: node {port} exited with {status}");
                            clean = false;
                        }
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    _ => {
                        eprintln!("demo: node {port} did not stop; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        clean = false;
                        break;
                    }
                }
            }
        }
        self.children.clear();
        clean
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        if !self.children.is_empty() {
            self.stop();
        }
    }
}

/// Sends SIGTERM (the node shuts down cleanly); elsewhere, kills.
fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    #[cfg(not(unix))]
    {
        let _ = child;
    }
}

/// `GET http://host:port/path` as JSON (plain HTTP/1.1, bounded).
pub fn get_json(host: &str, port: u16, path: &str) -> Result<serde_json::Value, String> {
    let body = get_text(host, port, path)?;
    serde_json::from_str(&body).map_err(|e| format!("GET {host}:{port}{path}: {e}"))
}

/// `GET http://host:port/path`: the body of a `200` answer (plain
/// HTTP/1.1, at most 64 MiB, 5 s per read).
pub fn get_text(host: &str, port: u16, path: &str) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("GET {host}:{port}{path}: {e}");
    let mut stream = TcpStream::connect((host, port)).map_err(|e| fail(&e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| fail(&e))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| fail(&e))?;
    let mut response = Vec::new();
    stream
        .take(64 << 20)
        .read_to_end(&mut response)
        .map_err(|e| fail(&e))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail(&"no body"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(fail(&head.lines().next().unwrap_or("")));
    }
    Ok(
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

/// The value of the series `key` (name and labels, as printed) in a
/// `/metrics` text; 0 when the series is absent (not created yet).
pub fn metric_value(text: &str, key: &str) -> f64 {
    let prefix = format!("{key} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Decodes a chunked HTTP body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Copies a node's log to `log_path`, and to stderr prefixed with its label.
pub fn forward_log(
    stderr: Option<std::process::ChildStderr>,
    port: u16,
    log_path: &Path,
    echo: bool,
) {
    let Some(stderr) = stderr else { return };
    let mut file = std::fs::File::create(log_path).ok();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(file) = &mut file {
            let _ = writeln!(file, "{line}");
        }
        if echo {
            eprintln!("[{port}] {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ctrl_c_flag_can_be_asked_for_twice() {
        let first = super::interrupted().expect("the handler registers");
        let second = super::interrupted().expect("a second task gets the same flag");
        assert!(std::sync::Arc::ptr_eq(&first, &second));
    }
}
