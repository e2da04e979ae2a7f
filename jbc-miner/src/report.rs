//! What a run of the miner did: every submission, the blocks a node took,
//! and the CPU's and the GPU's hashes and rates apart.

use std::fmt;
use std::time::Duration;

use jbc_core::BlockHash;
use jbc_core::peer::SubmitStatus;

use crate::found::Device;
use crate::gpu::AdapterSummary;

/// One block the miner submitted and what the node said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The block's height.
    pub index: u64,
    /// Its hash.
    pub hash: BlockHash,
    /// Who mined it.
    pub device: Device,
    /// What became of it.
    pub status: SubmitOutcome,
    /// The node that answered.
    pub node: String,
}

/// What became of a submitted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// A node answered 200 with this status.
    Answered(SubmitStatus),
    /// A node refused it with this protocol error code (e.g. `bad_pow`).
    Rejected(String),
    /// No node could be reached.
    Unsubmitted,
}

impl SubmitOutcome {
    /// Whether a node took the block as its new best tip.
    pub fn is_new_tip(&self) -> bool {
        matches!(self, SubmitOutcome::Answered(status) if status.is_new_tip())
    }

    /// The node's status (`accepted`, `ignored`, …), or `rejected` /
    /// `unsubmitted`.
    pub fn as_str(&self) -> &str {
        match self {
            SubmitOutcome::Answered(status) => status.as_str(),
            SubmitOutcome::Rejected(_) => "rejected",
            SubmitOutcome::Unsubmitted => "unsubmitted",
        }
    }
}

impl fmt::Display for SubmitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitOutcome::Rejected(code) => write!(f, "rejected {code}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl PartialEq<&str> for SubmitOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every submission, in order.
    pub submitted: Vec<Submitted>,
    /// Blocks a node took as its new best tip (`accepted` or `reorg`).
    pub blocks_found: u64,
    /// Nonces tried on the CPU.
    pub cpu_hashes: u64,
    /// Nonces tried on the GPU: the dispatches that completed, up to
    /// their hits.
    pub gpu_hashes: u64,
    /// The part of `gpu_hashes` whose job was replaced before the dispatch
    /// was read (discarded: a new tip, or the block already found).
    pub gpu_stale_hashes: u64,
    /// The GPU's adapter, when one mined.
    pub gpu_adapter: Option<AdapterSummary>,
    /// CPU mining threads.
    pub threads: usize,
    /// Wall time from the start of the run to its end.
    pub elapsed: Duration,
}

impl Report {
    /// The CPU threads' rate: their hashes ÷ wall time.
    pub fn cpu_hashes_per_sec(&self) -> f64 {
        self.cpu_hashes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The GPU's real rate: hashes of the dispatches that completed ÷ wall
    /// time (waits between dispatches and jobs included).
    pub fn gpu_hashes_per_sec(&self) -> f64 {
        self.gpu_hashes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// What the run did, in a few lines: the blocks, then the CPU's and
    /// the GPU's hashes and rates apart.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "stopped after {:.1} s: {} blocks taken by a node, {} submitted",
            self.elapsed.as_secs_f64(),
            self.blocks_found,
            self.submitted.len()
        )];
        if self.threads > 0 {
            lines.push(format!(
                "CPU, {} threads: {} hashes, {}",
                self.threads,
                self.cpu_hashes,
                format_rate(self.cpu_hashes_per_sec())
            ));
        }
        if let Some(adapter) = &self.gpu_adapter {
            lines.push(format!(
                "GPU, {adapter}: {} hashes, {} (completed dispatches ÷ wall time; {} of them \
                 discarded with a replaced job)",
                self.gpu_hashes,
                format_rate(self.gpu_hashes_per_sec()),
                self.gpu_stale_hashes
            ));
        }
        lines.join("\n")
    }
}

/// Hashes per second as text, e.g. `12.3 MH/s`.
pub fn format_rate(hashes_per_sec: f64) -> String {
    let (value, unit) = if hashes_per_sec >= 1e9 {
        (hashes_per_sec / 1e9, "GH/s")
    } else if hashes_per_sec >= 1e6 {
        (hashes_per_sec / 1e6, "MH/s")
    } else if hashes_per_sec >= 1e3 {
        (hashes_per_sec / 1e3, "kH/s")
    } else {
        (hashes_per_sec, "H/s")
    };
    format!("{value:.1} {unit}")
}
