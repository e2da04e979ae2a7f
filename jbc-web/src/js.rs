//! The JavaScript API (wasm32 only): [`MiningJob`] and [`Round`] for the
//! workers, [`NodeClient`] (the [`FetchPeer`]) for the page, and randomness.
//!
//! Numbers cross as JavaScript numbers (nonces stay below 2^53), hashes as
//! hex strings, blocks and API answers as JSON strings. Every error is a JS
//! `Error` named `JbcError` with a `code` property: a protocol error code (`bad_pow`,
//! `malformed`, …), or `unreachable` / `bad_answer` for the transport, or
//! `panic` for a bug in this crate (the panic hook turns Rust panics into
//! such exceptions instead of an opaque `RuntimeError: unreachable`).

use alloc::string::{String, ToString};

use jbc_core::peer::{Peer, PeerError, SubmitReply, SubmitStatus};
use jbc_core::{Block, BlockHash, RoundResult};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::fetch::FetchPeer;
use crate::job::{self, BlockToMine, JobError};
use crate::random;

/// Installs the panic hook when the module is instantiated.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(alloc::boxed::Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let place = info
            .location()
            .map(|l| alloc::format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = alloc::format!("jbc-web panicked{place}: {what}");
        // Throwing unwinds the wasm frames: the caller gets this Error
        // instead of an opaque `RuntimeError: unreachable`.
        wasm_bindgen::throw_val(js_error("panic", &message, None))
    }));
}

/// Panics on purpose, so the tests can check that a panic reaches
/// JavaScript as a readable `JbcError` (code `panic`) rather than an opaque
/// `RuntimeError: unreachable`.
#[doc(hidden)]
#[wasm_bindgen(js_name = panicForTest)]
pub fn panic_for_test(message: &str) {
    panic!("{message}");
}

/// A JS `Error` named `JbcError` with `code` (and `status` for HTTP errors).
fn js_error(code: &str, message: &str, status: Option<u16>) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name("JbcError");
    // Setting a property on a fresh plain Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    if let Some(status) = status {
        let _ = js_sys::Reflect::set(&error, &"status".into(), &status.into());
    }
    error.into()
}

impl From<JobError> for JsValue {
    fn from(error: JobError) -> JsValue {
        js_error(error.code(), &error.to_string(), None)
    }
}

fn peer_error(error: PeerError) -> JsValue {
    match &error {
        PeerError::Unreachable(_) => js_error("unreachable", &error.to_string(), None),
        PeerError::Api { status, body } => js_error(&body.error, &body.message, Some(*status)),
        PeerError::BadAnswer(_) => js_error("bad_answer", &error.to_string(), None),
    }
}

/// The mining kernel of this build, from jbc-core: `"simd128"` in the SIMD
/// build, `"portable"` in the scalar one.
#[wasm_bindgen]
pub fn kernel() -> String {
    jbc_core::pow::kernel_name().into()
}

/// The largest nonce used: 2^53 − 1.
#[wasm_bindgen(js_name = maxNonce)]
pub fn max_nonce() -> f64 {
    job::MAX_NONCE as f64
}

/// A random start nonce below 2^53 from `crypto.getRandomValues`.
#[wasm_bindgen(js_name = randomStartNonce)]
pub fn random_start_nonce() -> Result<f64, JsValue> {
    random::random_start_nonce()
        .map(|n| n as f64)
        .map_err(|e| js_error("no_randomness", &e.0, None))
}

/// A random miner id of 8 hex characters, for `Mined by browser <id>`.
#[wasm_bindgen(js_name = randomMinerId)]
pub fn random_miner_id() -> Result<String, JsValue> {
    random::random_miner_id().map_err(|e| js_error("no_randomness", &e.0, None))
}

/// The WGSL source of jbc-core's mining shader (`jbc_core::pow::gpu`), for
/// WebGPU's `createShaderModule`.
#[wasm_bindgen(js_name = gpuShader)]
pub fn gpu_shader() -> String {
    jbc_core::pow::gpu::SHADER.into()
}

/// The value the page writes into the result buffer before each dispatch
/// (0xffffffff): left untouched, it means no nonce of the dispatch is valid.
#[wasm_bindgen(js_name = gpuNoResult)]
pub fn gpu_no_result() -> u32 {
    jbc_core::pow::gpu::NO_RESULT
}

/// One GPU dispatch of a [`MiningJob`]: its uniform bytes and how many
/// workgroups to launch (see `jbc_core::pow::gpu`).
#[wasm_bindgen]
pub struct GpuDispatch {
    dispatch: jbc_core::pow::gpu::Dispatch,
    uniform: alloc::vec::Vec<u8>,
}

#[wasm_bindgen]
impl GpuDispatch {
    /// The first nonce.
    #[wasm_bindgen(getter)]
    pub fn start(&self) -> f64 {
        self.dispatch.start() as f64
    }

    /// How many nonces it tries.
    #[wasm_bindgen(getter)]
    pub fn count(&self) -> u32 {
        self.dispatch.count()
    }

    /// Workgroups to dispatch (x; y and z are 1).
    #[wasm_bindgen(getter)]
    pub fn workgroups(&self) -> u32 {
        self.dispatch.workgroups()
    }

    /// The uniform buffer's bytes (binding 0).
    #[wasm_bindgen(getter)]
    pub fn uniform(&self) -> alloc::vec::Vec<u8> {
        self.uniform.clone()
    }
}

/// One block to mine (see [`BlockToMine`]).
#[wasm_bindgen]
pub struct MiningJob {
    job: BlockToMine,
}

#[wasm_bindgen]
impl MiningJob {
    /// `nextJson`: the `next` object of `GET /tip` as JSON; `data`: the
    /// block's data; `timestampMs`: the block's time (raised to
    /// `next.min_timestamp` if lower).
    #[wasm_bindgen(constructor)]
    pub fn new(next_json: &str, data: String, timestamp_ms: f64) -> Result<MiningJob, JsValue> {
        let timestamp_ms = job::timestamp_from_f64(timestamp_ms)?;
        Ok(MiningJob {
            job: BlockToMine::from_next_json(next_json, data, timestamp_ms)?,
        })
    }

    /// Tries up to `count` nonces from `startNonce` (never past 2^53 − 1).
    pub fn mine(&self, start_nonce: f64, count: u32) -> Result<Round, JsValue> {
        let start = job::nonce_from_f64(start_nonce)?;
        Ok(round(start, self.job.mine(start, count)?))
    }

    /// The GPU dispatch of up to `count` nonces from `startNonce` (never
    /// past 2^53 − 1); `undefined` when `count` is 0.
    #[wasm_bindgen(js_name = gpuDispatch)]
    pub fn gpu_dispatch(
        &self,
        start_nonce: f64,
        count: u32,
    ) -> Result<Option<GpuDispatch>, JsValue> {
        let start = job::nonce_from_f64(start_nonce)?;
        Ok(self
            .job
            .gpu_dispatch(start, count)?
            .map(|dispatch| GpuDispatch {
                uniform: dispatch.uniform(self.job.template()).to_vec(),
                dispatch,
            }))
    }

    /// What the GPU's answer `best` (the `u32` read back from the result
    /// buffer) means: the same [`Round`] that [`MiningJob::mine`] returns
    /// for the dispatch's nonces. Throws `bad_gpu_result` when `best` cannot
    /// be the shader's answer (a found nonce is rechecked on the CPU).
    #[wasm_bindgen(js_name = gpuResult)]
    pub fn gpu_result(&self, dispatch: &GpuDispatch, best: u32) -> Result<Round, JsValue> {
        let start = dispatch.dispatch.start();
        let result = self
            .job
            .gpu_result(&dispatch.dispatch, best)
            .map_err(|e| js_error("bad_gpu_result", &e.to_string(), None))?;
        Ok(round(start, result))
    }

    /// The block JSON (PROTOCOL.md §3) with `nonce`.
    #[wasm_bindgen(js_name = blockJson)]
    pub fn block_json(&self, nonce: f64) -> Result<String, JsValue> {
        Ok(self.job.block(job::nonce_from_f64(nonce)?).to_json())
    }

    /// Height of the block being mined.
    #[wasm_bindgen(getter)]
    pub fn index(&self) -> f64 {
        self.job.header().index as f64
    }

    /// Required leading zero bits.
    #[wasm_bindgen(getter)]
    pub fn difficulty(&self) -> u32 {
        self.job.header().difficulty
    }

    /// The parent's hash, hex.
    #[wasm_bindgen(getter, js_name = prevHash)]
    pub fn prev_hash(&self) -> String {
        self.job.header().prev_hash.to_string()
    }

    /// The block's timestamp in milliseconds.
    #[wasm_bindgen(getter, js_name = timestampMs)]
    pub fn timestamp_ms(&self) -> f64 {
        self.job.header().timestamp_ms as f64
    }

    /// The block's data.
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> String {
        self.job.data().into()
    }
}

/// The [`Round`] of a round or dispatch that began at `start`.
fn round(start: u64, result: RoundResult) -> Round {
    match result {
        RoundResult::Found { nonce, hash } => Round {
            hashes: (nonce - start + 1) as f64,
            nonce: Some(nonce as f64),
            hash: Some(hash.to_string()),
            next_nonce: None,
        },
        RoundResult::Exhausted { next_nonce } => Round {
            hashes: next_nonce.map_or(job::MAX_NONCE + 1, |n| n) as f64 - start as f64,
            nonce: None,
            hash: None,
            next_nonce: next_nonce.map(|n| n as f64),
        },
    }
}

/// What one [`MiningJob::mine`] or [`MiningJob::gpu_result`] call did.
#[wasm_bindgen]
pub struct Round {
    hashes: f64,
    nonce: Option<f64>,
    hash: Option<String>,
    next_nonce: Option<f64>,
}

#[wasm_bindgen]
impl Round {
    /// Whether a nonce meeting the difficulty was found.
    #[wasm_bindgen(getter)]
    pub fn found(&self) -> bool {
        self.nonce.is_some()
    }

    /// How many nonces were hashed.
    #[wasm_bindgen(getter)]
    pub fn hashes(&self) -> f64 {
        self.hashes
    }

    /// The winning nonce, when found.
    #[wasm_bindgen(getter)]
    pub fn nonce(&self) -> Option<f64> {
        self.nonce
    }

    /// The winning hash (hex), when found.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Option<String> {
        self.hash.clone()
    }

    /// Where to continue when nothing was found; `undefined` at the end of
    /// the nonce space (pick a new random start).
    #[wasm_bindgen(getter, js_name = nextNonce)]
    pub fn next_nonce(&self) -> Option<f64> {
        self.next_nonce
    }
}

/// A client of a node's API over `fetch` (jbc-core's `Peer`); answers are
/// JSON strings. (`NodeClient` in JavaScript.)
#[wasm_bindgen]
pub struct NodeClient {
    peer: FetchPeer,
}

#[wasm_bindgen]
impl NodeClient {
    /// A node at `url` (`http://host:port`).
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str) -> Result<NodeClient, JsValue> {
        FetchPeer::new(url)
            .map(|peer| NodeClient { peer })
            .map_err(|e| js_error("malformed", &e.0, None))
    }

    /// The node's base URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.peer.url().into()
    }

    /// `GET /tip`, as JSON.
    pub fn tip(&self) -> js_sys::Promise {
        let peer = self.peer.clone();
        future_to_promise(async move {
            let tip = peer.tip().await.map_err(peer_error)?;
            Ok(to_json(&tip).into())
        })
    }

    /// `GET /blocks?from=H&limit=N`, as a JSON array.
    pub fn blocks(&self, from: f64, limit: u32) -> js_sys::Promise {
        let peer = self.peer.clone();
        future_to_promise(async move {
            let from = job::height_from_f64(from)?;
            let blocks = peer.blocks(from, limit).await.map_err(peer_error)?;
            Ok(to_json(&blocks).into())
        })
    }

    /// `POST /mined` with a block's JSON; resolves to the reply
    /// `{"status", "height", "hash"}` as JSON with `new_tip`: whether the
    /// node took the block as its new best tip (`accepted` or `reorg`, by
    /// jbc-core's `SubmitStatus`); rejects with the node's code (e.g.
    /// `bad_pow`) when it refuses the block.
    pub fn submit(&self, block_json: String) -> js_sys::Promise {
        let peer = self.peer.clone();
        future_to_promise(async move {
            let block = Block::from_json(&block_json)
                .map_err(|e| js_error("malformed", &alloc::format!("not a block: {e}"), None))?;
            let reply = peer.submit(&block).await.map_err(peer_error)?;
            Ok(to_json(&Submitted::of(&reply)).into())
        })
    }
}

/// What [`NodeClient::submit`] resolves to.
#[derive(serde::Serialize)]
struct Submitted<'a> {
    status: &'a SubmitStatus,
    height: u64,
    hash: BlockHash,
    new_tip: bool,
}

impl Submitted<'_> {
    fn of(reply: &SubmitReply) -> Submitted<'_> {
        Submitted {
            status: &reply.status,
            height: reply.height,
            hash: reply.hash,
            new_tip: reply.status.is_new_tip(),
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // The API types are strings and integers: serialising them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}
