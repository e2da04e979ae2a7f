//! [`FetchPeer`]: jbc-core's [`Transport`] over the browser's `fetch` (and
//! so its [`Peer`](jbc_core::Peer)), usable from a page or a Web Worker, by
//! jbc-core's wire rules ([`jbc_core::wire`]): the same routes, URL check
//! and status decoding as the native client, and every answer read chunk by
//! chunk and refused (its stream cancelled) as soon as it passes its
//! route's limit. Every request also has a timeout.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use jbc_core::peer::PeerError;
use jbc_core::wire::{self, AnswerBody, BadUrl, Route, Transport, normalize_url};
use wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, Headers, ReadableStreamDefaultReader, ReadableStreamReadResult, Request,
    RequestInit, RequestMode, Response,
};

/// How long one request may take, its answer read, in milliseconds.
pub const REQUEST_TIMEOUT_MS: u32 = 10_000;

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
    /// A peer at `url`, checked and normalised by [`normalize_url`].
    pub fn new(url: &str) -> Result<FetchPeer, BadUrl> {
        Ok(FetchPeer {
            base: normalize_url(url)?,
        })
    }

    /// The base URL, normalised.
    pub fn url(&self) -> &str {
        &self.base
    }
}

impl Transport for FetchPeer {
    /// Sends `route` and reads its answer, at most the route's limit
    /// (checked as each chunk arrives): the status and the body.
    async fn call(&self, route: Route<'_>) -> Result<(u16, Vec<u8>), PeerError> {
        let method = route.method().as_str();
        let url = format!("{}{}", self.base, route.path());
        let unreachable =
            |e: JsValue| PeerError::Unreachable(format!("{method} {url}: {}", describe(&e)));
        let init = RequestInit::new();
        init.set_method(method);
        init.set_mode(RequestMode::Cors);
        // The signal also aborts reading the body.
        init.set_signal(Some(&AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS)));
        if let Some(body) = route.body() {
            let headers = Headers::new().map_err(unreachable)?;
            headers
                .set("content-type", "application/json")
                .map_err(unreachable)?;
            init.set_headers(&headers);
            init.set_body(&JsValue::from_str(&body));
        }
        let request = Request::new_with_str_and_init(&url, &init).map_err(unreachable)?;
        let response: Response = JsFuture::from(global_fetch(&request))
            .await
            .map_err(unreachable)?
            .dyn_into()
            .map_err(|_| PeerError::BadAnswer("fetch did not return a Response".into()))?;
        let declared = response
            .headers()
            .get("content-length")
            .ok()
            .flatten()
            .and_then(|len| len.trim().parse::<u64>().ok());
        let mut body = AnswerBody::new(&route, declared)?;
        if let Some(stream) = response.body() {
            let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
            // Each turn reads one chunk; the request's timeout ends the stream.
            loop {
                let read: ReadableStreamReadResult = JsFuture::from(reader.read())
                    .await
                    .map_err(unreachable)?
                    .unchecked_into();
                if read.get_done().unwrap_or(true) {
                    break;
                }
                let chunk = js_sys::Uint8Array::new(&read.get_value());
                // Checked before the chunk is copied out of JavaScript.
                let pushed = if chunk.length() as usize > route.answer_limit() {
                    Err(wire::too_large(route.answer_limit()))
                } else {
                    body.push(&chunk.to_vec())
                };
                if let Err(e) = pushed {
                    // Stop the download; the answer is refused either way.
                    let _ = reader.cancel();
                    return Err(e);
                }
            }
        }
        Ok((response.status(), body.into_bytes()))
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
