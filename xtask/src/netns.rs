//! [`Hosts`]: hosts on one Linux machine, each a network namespace with its
//! own address on a bridge that lives in a namespace of its own, made with
//! `ip` (iproute2, as root) and removed on drop — also when a check fails or
//! Ctrl-C stops it. Nothing is added to the machine's own namespace.
//!
//! Host `i` is namespace `<prefix>-h<i>` with `eth0` at `10.77.0.<i+1>/24`;
//! its other end, `p<i>`, is a port of `br0` in `<prefix>-br`. A partition
//! moves some ports to a second bridge, `br1`: each side still reaches its
//! own hosts, packets to the other side are dropped without a word (as when
//! a link fails), and moving the ports back heals it.

use std::process::{Command, Stdio};

/// The subnet of the hosts (inside the namespaces only).
pub const SUBNET: &str = "10.77.0";

/// Namespaces this process made; removed on drop.
pub struct Hosts {
    prefix: String,
    count: usize,
}

/// Runs `ip` with `args`; fails with its error output.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Whether this process may make namespaces: Linux, root, and `ip`.
pub fn available() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("namespaced hosts need Linux".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("namespaced hosts need root (ip netns)".into());
    }
    ip(&["netns", "list"]).map_err(|e| format!("iproute2 is needed: {e}"))
}

impl Hosts {
    /// Makes `count` hosts on one bridge (removing any left by an earlier
    /// run that was killed).
    pub fn create(count: usize) -> Result<Hosts, String> {
        if !(1..=200).contains(&count) {
            return Err("between 1 and 200 hosts".into());
        }
        remove_stale();
        let hosts = Hosts {
            prefix: format!("jbcnet-{}", std::process::id()),
            count,
        };
        let bridge = hosts.bridge_ns();
        ip(&["netns", "add", &bridge])?;
        ip(&["-n", &bridge, "link", "set", "lo", "up"])?;
        for name in ["br0", "br1"] {
            ip(&["-n", &bridge, "link", "add", name, "type", "bridge"])?;
            ip(&["-n", &bridge, "link", "set", name, "up"])?;
        }
        for i in 0..count {
            let ns = hosts.ns(i);
            let port = format!("p{i}");
            let addr = format!("{}/24", hosts.addr(i));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &bridge,
            ])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &bridge, "link", "set", &port, "up"])?;
        }
        Ok(hosts)
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    /// The namespace of host `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.prefix)
    }

    /// The address of host `i` on the bridge.
    pub fn addr(&self, i: usize) -> String {
        format!("{SUBNET}.{}", i + 1)
    }

    /// `program` run inside host `i`.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(i)]).arg(program);
        cmd
    }

    /// Cuts `side` off from the other hosts (`true`), or heals the cut.
    pub fn partition(&self, side: &[usize], cut: bool) -> Result<(), String> {
        let bridge = self.bridge_ns();
        let to = if cut { "br1" } else { "br0" };
        for i in side {
            ip(&["-n", &bridge, "link", "set", &format!("p{i}"), "master", to])?;
        }
        Ok(())
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 0..self.count {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
        let _ = ip(&["netns", "del", &self.bridge_ns()]);
    }
}

/// Removes the namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("jbcnet-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}
