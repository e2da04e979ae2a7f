//! [`FetchPeer`]: jbc-core's [`Peer`] over the browser's `fetch`, usable from
//! a page or a Web Worker. Every request has a timeout and every answer a
//! size limit.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use jbc_core::peer::{ErrorBody, Peer, PeerError, SubmitReply, TipInfo};
use jbc_core::{Block, BlockHash};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, Headers, Request, RequestInit, RequestMode, Response};

/// How long one request may take, in milliseconds.
pub const REQUEST_TIMEOUT_MS: u32 = 10_000;
/// The largest answer read, in bytes (a full `/blocks` page of 500 blocks of
/// at most ~25 KiB each fits).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` of a window or a worker.
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> js_sys::Promise;
}

/// A node reached with `fetch` at a base URL such as `http://127.0.0.1:5000`.
#[derive(Debug, Clone)]
pub struct FetchPeer {
    base: String,
}

impl FetchPeer {
    /// A peer at `url` (`http://` or `https://`; a trailing `/` is ignored).
    pub fn new(url: &str) -> Result<FetchPeer, String> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "node URL must start with http:// or https://, got {url:?}"
            ));
        }
        Ok(FetchPeer {
            base: url.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One request: the HTTP status and the body text.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), PeerError> {
        let url = format!("{}{path}", self.base);
        let unreachable =
            |e: JsValue| PeerError::Unreachable(format!("{method} {url}: {}", describe(&e)));
        let init = RequestInit::new();
        init.set_method(method);
        init.set_mode(RequestMode::Cors);
        init.set_signal(Some(&AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS)));
        if let Some(body) = body {
            let headers = Headers::new().map_err(unreachable)?;
            headers
                .set("content-type", "application/json")
                .map_err(unreachable)?;
            init.set_headers(&headers);
            init.set_body(&JsValue::from_str(body));
        }
        let request = Request::new_with_str_and_init(&url, &init).map_err(unreachable)?;
        let response: Response = JsFuture::from(global_fetch(&request))
            .await
            .map_err(unreachable)?
            .dyn_into()
            .map_err(|_| PeerError::BadAnswer("fetch did not return a Response".into()))?;
        let status = response.status();
        let text = JsFuture::from(response.text().map_err(unreachable)?)
            .await
            .map_err(unreachable)?
            .as_string()
            .unwrap_or_default();
        if text.len() > MAX_ANSWER_BYTES {
            return Err(PeerError::BadAnswer(format!(
                "{method} {url}: answer of {} bytes is over the {MAX_ANSWER_BYTES}-byte limit",
                text.len()
            )));
        }
        Ok((status, text))
    }

    /// A request whose 2xx answer is JSON of type `T`; any other status is an API error.
    async fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<T, PeerError> {
        let (status, text) = self.request(method, path, body).await?;
        if (200..300).contains(&status) {
            serde_json::from_str(&text)
                .map_err(|e| PeerError::BadAnswer(format!("{method} {path}: {e}")))
        } else {
            Err(api_error(status, &text))
        }
    }
}

/// The error of a non-2xx answer: its `{"error", "message"}` body, or a
/// description of the status when the body is not one.
fn api_error(status: u16, text: &str) -> PeerError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => PeerError::Api { status, body },
        Err(_) => PeerError::BadAnswer(format!("HTTP {status} without an error body")),
    }
}

/// A readable line for a JS exception value.
pub(crate) fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        let name: String = error.name().into();
        let message: String = error.message().into();
        return format!("{name}: {message}");
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

impl Peer for FetchPeer {
    async fn tip(&self) -> Result<TipInfo, PeerError> {
        self.json("GET", "/tip", None).await
    }

    async fn blocks(&self, from: u64, limit: u32) -> Result<Vec<Block>, PeerError> {
        self.json("GET", &format!("/blocks?from={from}&limit={limit}"), None)
            .await
    }

    async fn block(&self, hash: BlockHash) -> Result<Option<Block>, PeerError> {
        let (status, text) = self
            .request("GET", &format!("/blocks/{hash}"), None)
            .await?;
        match status {
            200..=299 => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| PeerError::BadAnswer(format!("GET /blocks/{hash}: {e}"))),
            404 => Ok(None),
            _ => Err(api_error(status, &text)),
        }
    }

    async fn submit(&self, block: &Block) -> Result<SubmitReply, PeerError> {
        self.json("POST", "/mined", Some(&block.to_json())).await
    }
}
