//! [`Transport`]: all a client of the node API writes itself, moving the
//! bytes of one [`Route`]; [`Peer`] follows from it, decoded once by the
//! rules of [`wire`](super).

use alloc::vec::Vec;
use core::future::Future;

use super::{Route, decode, decode_block};
use crate::block::Block;
use crate::hash::BlockHash;
use crate::peer::{MaybeSend, Peer, PeerError, SubmitReply, TipInfo};

/// A way to send a [`Route`] to one node and read its answer: jbc-client's
/// reqwest `HttpPeer`, jbc-web's `fetch` `FetchPeer`. Every `Transport`
/// that is `Sync` is a [`Peer`], whose answers it decodes by the one rule
/// of [`decode`].
pub trait Transport {
    /// Sends `route` (its method, path and body) and reads the answer:
    /// its status and its body, which must be read into an
    /// [`AnswerBody`](super::AnswerBody) for `route` (refused once past
    /// [`Route::answer_limit`]). [`PeerError::Unreachable`] when there is no
    /// answer.
    fn call(
        &self,
        route: Route<'_>,
    ) -> impl Future<Output = Result<(u16, Vec<u8>), PeerError>> + MaybeSend;
}

impl<T: Transport + Sync> Peer for T {
    async fn tip(&self) -> Result<TipInfo, PeerError> {
        let (status, body) = self.call(Route::Tip).await?;
        decode(status, &body)
    }

    async fn blocks(&self, from: u64, limit: u32) -> Result<Vec<Block>, PeerError> {
        let (status, body) = self.call(Route::Blocks { from, limit }).await?;
        decode(status, &body)
    }

    async fn block(&self, hash: BlockHash) -> Result<Option<Block>, PeerError> {
        let (status, body) = self.call(Route::Block(hash)).await?;
        decode_block(status, &body)
    }

    async fn submit(&self, block: &Block) -> Result<SubmitReply, PeerError> {
        let (status, body) = self.call(Route::Mined(block)).await?;
        decode(status, &body)
    }
}
