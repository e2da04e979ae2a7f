//! What a [`super::SyncSession`] asks its peer, and the answers.

use alloc::vec::Vec;

use crate::block::Block;
#[cfg(doc)]
use crate::peer::Peer;
use crate::peer::TipInfo;

/// A request the session wants sent to its peer (see [`SyncSession`](super::SyncSession)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `GET /tip` ([`Peer::tip`]).
    Tip,
    /// `GET /blocks?from=H&limit=N` ([`Peer::blocks`]): a probe of the
    /// ancestor search (`limit` 1) or a page.
    Blocks {
        /// Height of the first block wanted.
        from: u64,
        /// Most blocks wanted: at least 1, at most [`MAX_PAGE`](crate::peer::MAX_PAGE).
        limit: u32,
    },
}

/// The peer's answer to a [`Request`], as it came: the session checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The answer to [`Request::Tip`].
    Tip(TipInfo),
    /// The answer to [`Request::Blocks`].
    Blocks(Vec<Block>),
}
