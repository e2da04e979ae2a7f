//! The node API as every client speaks it (PROTOCOL.md §7), written once and
//! sans-IO: jbc-client (reqwest, for jbc-node and jbc-miner) and jbc-web
//! (`fetch`) only move the bytes.
//!
//! - [`Route`]: each call a client makes: its method, path, request body,
//!   and the most bytes its answer may have ([`Route::answer_limit`]).
//! - [`AnswerBody`]: an answer read chunk by chunk, refused as soon as it
//!   passes its route's limit (a declared `Content-Length` over it is
//!   refused before anything is read).
//! - [`decode`], [`decode_block`], [`decode_peer_list`], [`decode_added`]:
//!   a status and a body into a typed answer or a [`PeerError`]. 200 is the
//!   only success; any other status is an error: [`PeerError::Api`] with the
//!   node's `{"error", "message"}` body, a 404 without one as `not_found` (a
//!   server without the route), anything else as [`PeerError::BadAnswer`]
//!   naming the status. `GET /blocks/{hash}` alone reads a 404 as "no such
//!   block".
//! - [`Transport`]: all a client writes itself (send a route, read its
//!   answer under the limit); every `Transport` is a [`Peer`](crate::peer::Peer).
//! - [`normalize_url`]: what a node's URL must look like.
//! - [`SubmitStatus`](crate::peer::SubmitStatus), the status of `POST /mined`
//!   typed, is with the other JSON types in [`peer`](crate::peer).
//! - [`decode_event`]: an event of `GET /events` as a follower reads it.
//!
//! ```
//! use jbc_core::wire::{AnswerBody, Route, decode};
//! use jbc_core::peer::{PeerError, SubmitReply, SubmitStatus};
//!
//! let route = Route::Tip;
//! assert_eq!((route.method().as_str(), route.path().as_str()), ("GET", "/tip"));
//!
//! // An answer over its route's limit is refused while it is read.
//! let mut body = AnswerBody::new(&route, None).unwrap();
//! let chunk = vec![b' '; 4096];
//! let refused = (0..100).find_map(|_| body.push(&chunk).err());
//! assert!(matches!(refused, Some(PeerError::BadAnswer(_))));
//!
//! let answer = format!(r#"{{"status":"reorg","height":3,"hash":"{}"}}"#, "0".repeat(64));
//! let reply: SubmitReply = decode(200, answer.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
//! assert_eq!(reply.status, SubmitStatus::Reorg);
//! assert!(reply.status.is_new_tip());
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::hash::BlockHash;
use crate::peer::{ErrorBody, MAX_PAGE, PeerError};
use crate::sse::SseEvent;

mod transport;
mod url;

pub use transport::Transport;
pub use url::{BadUrl, normalize_url};

/// Most bytes of an answer to `GET /tip`, `GET /blocks/{hash}`,
/// `POST /mined`, `GET /peers` and `POST /peers`, and of an error answer.
pub const SMALL_ANSWER_BYTES: usize = 64 * 1024;

/// Most bytes of one block's JSON in a page: 4096 data bytes, each escaped
/// as `\u00XX`, plus the other fields, rounded up.
pub const MAX_BLOCK_JSON_BYTES: usize = 26 * 1024;

/// How often a node sends a keep-alive comment on `GET /events`, in ms.
pub const KEEP_ALIVE_MS: u64 = 5_000;

/// A followed stream that sends nothing, not even its keep-alive, for this
/// long (three keep-alives) is dropped, in ms (PROTOCOL.md §7.2).
pub const STREAM_SILENCE_MS: u64 = 3 * KEEP_ALIVE_MS;

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`, with a JSON body.
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One call of the node API a client makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /tip`: a [`TipInfo`](crate::peer::TipInfo).
    Tip,
    /// `GET /blocks?from=H&limit=N`: best-chain blocks (`limit` at most
    /// [`MAX_PAGE`]).
    Blocks {
        /// The first height.
        from: u64,
        /// The most blocks asked for.
        limit: u32,
    },
    /// `GET /blocks/{hash}`: one block, or 404.
    Block(BlockHash),
    /// `POST /mined`: a block; a [`SubmitReply`](crate::peer::SubmitReply).
    Mined(&'a Block),
    /// `GET /peers`: the peers the node shares.
    Peers,
    /// `POST /peers {"url": …}`: tells the node an address (ours).
    AddPeer(&'a str),
    /// `GET /events`: the Server-Sent Events stream.
    Events,
}

impl Route<'_> {
    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Route::Mined(_) | Route::AddPeer(_) => Method::Post,
            _ => Method::Get,
        }
    }

    /// The path and query, to append to a node's base URL.
    pub fn path(&self) -> String {
        match self {
            Route::Tip => "/tip".into(),
            Route::Blocks { from, limit } => {
                format!("/blocks?from={from}&limit={}", (*limit).min(MAX_PAGE))
            }
            Route::Block(hash) => format!("/blocks/{hash}"),
            Route::Mined(_) => "/mined".into(),
            Route::Peers | Route::AddPeer(_) => "/peers".into(),
            Route::Events => "/events".into(),
        }
    }

    /// The JSON body of a `POST` (sent with `content-type:
    /// application/json`); `None` for a `GET`.
    pub fn body(&self) -> Option<String> {
        match self {
            Route::Mined(block) => Some(block.to_json()),
            // A struct of one string: serialising it cannot fail.
            Route::AddPeer(url) => serde_json::to_string(&AddedPeer { url }).ok(),
            _ => None,
        }
    }

    /// The most bytes its answer may have. A page holds `limit` blocks plus
    /// room for one more, so that a peer sending too many is told apart
    /// from one sending too much; the events of `GET /events` are bounded
    /// one by one ([`MAX_EVENT_BYTES`](crate::sse::MAX_EVENT_BYTES)), and
    /// this is the bound of its error answer.
    pub fn answer_limit(&self) -> usize {
        match self {
            Route::Blocks { limit, .. } => {
                ((*limit).min(MAX_PAGE) as usize + 1) * MAX_BLOCK_JSON_BYTES + 1024
            }
            _ => SMALL_ANSWER_BYTES,
        }
    }

    /// Whether the answer is a page of blocks, which may take longer than
    /// the other calls.
    pub fn is_page(&self) -> bool {
        matches!(self, Route::Blocks { .. })
    }
}

/// The body of `POST /peers`.
#[derive(Serialize)]
struct AddedPeer<'a> {
    url: &'a str,
}

/// The error of an answer that passed its limit.
pub fn too_large(limit: usize) -> PeerError {
    PeerError::BadAnswer(format!("answer larger than {limit} bytes"))
}

/// An answer's body, read chunk by chunk and refused as soon as it passes
/// its limit, so a hostile node costs a client at most that many bytes.
#[derive(Debug, Clone)]
pub struct AnswerBody {
    limit: usize,
    bytes: Vec<u8>,
}

impl AnswerBody {
    /// An empty body for an answer of `route`; refused at once when the
    /// answer declares (`Content-Length`) more than the route allows.
    pub fn new(route: &Route<'_>, declared_len: Option<u64>) -> Result<AnswerBody, PeerError> {
        let limit = route.answer_limit();
        if declared_len.is_some_and(|len| len > limit as u64) {
            return Err(too_large(limit));
        }
        Ok(AnswerBody {
            limit,
            bytes: Vec::new(),
        })
    }

    /// Adds the next chunk read; an error (and nothing kept) once the body
    /// would pass its limit: stop reading and drop the connection.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), PeerError> {
        if chunk.len() > self.limit - self.bytes.len() {
            return Err(too_large(self.limit));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes read so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole body.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A 200 answer's JSON as `T`; any other status as [`error_of`].
pub fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, PeerError> {
    if status != 200 {
        return Err(error_of(status, body));
    }
    serde_json::from_slice(body).map_err(|e| PeerError::BadAnswer(format!("invalid answer: {e}")))
}

/// The answer of `GET /blocks/{hash}`: the block, `None` on a 404.
pub fn decode_block(status: u16, body: &[u8]) -> Result<Option<Block>, PeerError> {
    match status {
        404 => Ok(None),
        _ => decode(status, body).map(Some),
    }
}

/// The answer of `GET /peers`: the URLs it lists, normalised; entries that
/// are not a node's URL ([`normalize_url`]) are dropped.
pub fn decode_peer_list(status: u16, body: &[u8]) -> Result<Vec<String>, PeerError> {
    let list: PeerList = decode(status, body)?;
    Ok(list
        .peers
        .into_iter()
        .filter_map(|p| normalize_url(&p.url).ok())
        .collect())
}

/// The answer of `POST /peers`: any JSON with 200.
pub fn decode_added(status: u16, body: &[u8]) -> Result<(), PeerError> {
    decode::<IgnoredAny>(status, body).map(|_| ())
}

/// The body of `GET /peers` as a client reads it (only the URLs).
#[derive(Deserialize)]
struct PeerList {
    peers: Vec<ListedPeer>,
}

#[derive(Deserialize)]
struct ListedPeer {
    url: String,
}

/// The error a status other than 200 means: [`PeerError::Api`] with the
/// node's `{"error", "message"}` body; for a 404 without one, `not_found`
/// (the server has no such route: not a JBC node, or an older one); else
/// [`PeerError::BadAnswer`] with the status and the start of the body.
pub fn error_of(status: u16, body: &[u8]) -> PeerError {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(body) {
        return PeerError::Api { status, body };
    }
    if status == 404 {
        return PeerError::Api {
            status,
            body: ErrorBody {
                error: "not_found".into(),
                message: "the peer has no such route (is it a JBC node?)".into(),
            },
        };
    }
    let start: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    PeerError::BadAnswer(format!(
        "HTTP {status} without a JSON error body: {:?}",
        start.trim()
    ))
}

/// An event of `GET /events` as a follower reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// `block`: a block joined the node's best chain.
    Block(Block),
    /// `reorg`: the node's best chain switched branches.
    Reorg,
    /// Any other event (`status`, or one this build does not know).
    Other,
}

/// Reads one event of `GET /events`: an error for a `block` event whose
/// data is not `{"block": …}` (the stream must then be dropped).
pub fn decode_event(event: &SseEvent) -> Result<StreamEvent, PeerError> {
    match event.name.as_str() {
        "block" => serde_json::from_str::<BlockEvent>(&event.data)
            .map(|e| StreamEvent::Block(e.block))
            .map_err(|e| PeerError::BadAnswer(format!("a block event is not a block: {e}"))),
        "reorg" => Ok(StreamEvent::Reorg),
        _ => Ok(StreamEvent::Other),
    }
}

/// The data of a `block` event (its `source` is not read).
#[derive(Deserialize)]
struct BlockEvent {
    block: Block,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn routes_know_their_method_path_body_and_limit() {
        assert_eq!(Route::Tip.method(), Method::Get);
        let page = Route::Blocks {
            from: 7,
            limit: 10_000,
        };
        assert_eq!(page.path(), "/blocks?from=7&limit=500");
        assert_eq!(page.answer_limit(), 501 * MAX_BLOCK_JSON_BYTES + 1024);
        assert!(page.is_page() && !Route::Tip.is_page());
        let add = Route::AddPeer("http://a:1");
        assert_eq!(add.method(), Method::Post);
        assert_eq!(add.body().as_deref(), Some(r#"{"url":"http://a:1"}"#));
        assert_eq!(
            Route::Block(BlockHash::ZERO).path(),
            format!("/blocks/{}", BlockHash::ZERO)
        );
        assert_eq!(Route::Events.answer_limit(), SMALL_ANSWER_BYTES);
    }

    #[test]
    fn bodies_are_refused_past_their_limit() {
        assert!(AnswerBody::new(&Route::Tip, Some(SMALL_ANSWER_BYTES as u64 + 1)).is_err());
        let mut body = AnswerBody::new(&Route::Tip, Some(10)).unwrap();
        body.push(&vec![b'x'; SMALL_ANSWER_BYTES - 1]).unwrap();
        body.push(b"y").unwrap();
        let error = body.push(b"z").unwrap_err();
        assert!(
            matches!(&error, PeerError::BadAnswer(m) if m.contains("larger")),
            "{error}"
        );
        assert_eq!(body.bytes().len(), SMALL_ANSWER_BYTES);
    }

    #[test]
    fn statuses_decode_to_one_rule() {
        // 200 only: another 2xx is not a success.
        assert!(decode::<u32>(200, b"5").is_ok_and(|n| n == 5));
        assert!(matches!(
            decode::<u32>(204, b""),
            Err(PeerError::BadAnswer(_))
        ));
        assert!(matches!(
            decode::<u32>(200, b"<html>"),
            Err(PeerError::BadAnswer(_))
        ));
        // A node's error body.
        let refused = decode::<u32>(422, br#"{"error":"bad_pow","message":"no"}"#);
        assert!(
            matches!(refused, Err(PeerError::Api { status: 422, body }) if body.error == "bad_pow")
        );
        // A server without the route.
        let missing = decode::<u32>(404, b"Not Found");
        assert!(
            matches!(missing, Err(PeerError::Api { status: 404, body }) if body.error == "not_found")
        );
        // Any other status without an error body names the status.
        match decode::<u32>(502, b"<h1>Bad\nGateway</h1>") {
            Err(PeerError::BadAnswer(m)) => {
                assert!(m.contains("HTTP 502") && m.contains("Bad Gateway"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        // Only a block's 404 means "no such block".
        assert_eq!(decode_block(404, b""), Ok(None));
    }

    #[test]
    fn peer_lists_keep_only_node_urls() {
        let body =
            br#"{"peers":[{"url":"http://a:1/","up":true},{"url":"ftp://b"},{"url":"HTTP://C"}]}"#;
        assert_eq!(
            decode_peer_list(200, body),
            Ok(vec![String::from("http://a:1"), String::from("http://c")])
        );
        assert_eq!(decode_added(200, b"{\"peers\":[]}"), Ok(()));
        assert!(decode_added(200, b"not json").is_err());
    }

    #[test]
    fn events_are_read_by_name() {
        let event = |name: &str, data: &str| SseEvent {
            name: name.into(),
            data: data.into(),
        };
        assert_eq!(decode_event(&event("reorg", "{}")), Ok(StreamEvent::Reorg));
        assert_eq!(decode_event(&event("status", "{}")), Ok(StreamEvent::Other));
        assert!(decode_event(&event("block", "{\"source\":\"local\"}")).is_err());
    }
}
