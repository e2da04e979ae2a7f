//! [`SubmitStatus`]: the `status` of a `POST /mined` answer, typed, with a
//! fallback for a status this build does not know.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chain::Status;

/// What a node did with a submitted block (PROTOCOL.md §7, `POST /mined`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubmitStatus {
    /// `accepted`: the block is the node's new best tip.
    Accepted,
    /// `reorg`: the node's best chain switched to the block's branch; the
    /// block is its new best tip.
    Reorg,
    /// `side`: stored on a side branch with exactly the best chain's work.
    Side,
    /// `duplicate`: the node had it already.
    Duplicate,
    /// `orphan`: its parent is unknown to the node; it waits in memory.
    Orphan,
    /// `ignored`: valid or plausible, but its branch has less work than the
    /// node's best chain: not stored.
    Ignored,
    /// A status this build does not know (a newer node), as it was sent.
    Unknown(String),
}

impl SubmitStatus {
    /// The status named `name`; [`SubmitStatus::Unknown`] for a name this
    /// build does not know.
    pub fn parse(name: &str) -> SubmitStatus {
        match name {
            "accepted" => SubmitStatus::Accepted,
            "reorg" => SubmitStatus::Reorg,
            "side" => SubmitStatus::Side,
            "duplicate" => SubmitStatus::Duplicate,
            "orphan" => SubmitStatus::Orphan,
            "ignored" => SubmitStatus::Ignored,
            other => SubmitStatus::Unknown(other.into()),
        }
    }

    /// Its name in the JSON: `accepted`, `reorg`, …, or the unknown name.
    pub fn as_str(&self) -> &str {
        match self {
            SubmitStatus::Accepted => "accepted",
            SubmitStatus::Reorg => "reorg",
            SubmitStatus::Side => "side",
            SubmitStatus::Duplicate => "duplicate",
            SubmitStatus::Orphan => "orphan",
            SubmitStatus::Ignored => "ignored",
            SubmitStatus::Unknown(name) => name,
        }
    }

    /// Whether the node took the block as its new best tip (`accepted` or
    /// `reorg`): what a miner counts as a block found.
    pub fn is_new_tip(&self) -> bool {
        matches!(self, SubmitStatus::Accepted | SubmitStatus::Reorg)
    }
}

impl From<Status> for SubmitStatus {
    fn from(status: Status) -> SubmitStatus {
        match status {
            Status::NewTip => SubmitStatus::Accepted,
            Status::Reorg => SubmitStatus::Reorg,
            Status::Side => SubmitStatus::Side,
            Status::Duplicate => SubmitStatus::Duplicate,
            Status::Orphan => SubmitStatus::Orphan,
            Status::Ignored => SubmitStatus::Ignored,
        }
    }
}

impl fmt::Display for SubmitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for SubmitStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SubmitStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for SubmitStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SubmitStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SubmitStatus, D::Error> {
        String::deserialize(deserializer).map(|name| SubmitStatus::parse(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chain_status_keeps_its_name() {
        for status in [
            Status::NewTip,
            Status::Reorg,
            Status::Side,
            Status::Duplicate,
            Status::Orphan,
            Status::Ignored,
        ] {
            let typed = SubmitStatus::from(status);
            assert_eq!(typed.as_str(), status.as_str());
            assert_eq!(SubmitStatus::parse(status.as_str()), typed);
            assert_eq!(
                typed.is_new_tip(),
                matches!(status, Status::NewTip | Status::Reorg)
            );
        }
    }

    #[test]
    fn an_unknown_status_is_kept_as_sent() {
        let status: SubmitStatus = serde_json::from_str("\"queued\"").unwrap();
        assert_eq!(status, SubmitStatus::Unknown("queued".into()));
        assert!(!status.is_new_tip());
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"queued\"");
        assert_eq!(status, "queued");
    }
}
