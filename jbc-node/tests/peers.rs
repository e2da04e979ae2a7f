//! The node's peer client (jbc-client) against hostile or dead servers: answers are bounded in
//! bytes, errors are typed, and a dead peer stalls neither the API nor relay.

mod common;

use std::time::{Duration, Instant};

use axum::routing::{get, post as route_post};
use common::*;
use jbc_core::peer::{Peer, PeerError};
use jbc_core::{Block, BlockHash};
use jbc_node::peers::client;

async fn serve(app: axum::Router) -> String {
    serve_on_loopback(app).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_are_refused_not_swallowed() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let huge = "x".repeat(2 << 20);
        let app = axum::Router::new()
            // 2 MiB for a tip: over the 64 KiB limit.
            .route("/tip", get(move || async move { huge }))
            // Not JSON.
            .route("/blocks", get(|| async { "<html>hello</html>" }))
            // An API error with a JSON body.
            .route(
                "/mined",
                route_post(|| async {
                    (
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        r#"{"error":"bad_pow","message":"no"}"#,
                    )
                }),
            );
        let url = serve(app).await;
        let peer = client().peer(&url).expect("a URL");
        assert!(matches!(peer.tip().await, Err(PeerError::BadAnswer(m)) if m.contains("larger")));
        assert!(matches!(
            peer.blocks(0, 10).await,
            Err(PeerError::BadAnswer(_))
        ));
        // No such route on this server: 404 → "no such block".
        assert_eq!(peer.block(BlockHash::ZERO).await, Ok(None));
        let block = blocks(&vectors()["chain"])[1].clone();
        match peer.submit(&block).await {
            Err(PeerError::Api { status: 422, body }) => assert_eq!(body.error, "bad_pow"),
            other => panic!("{other:?}"),
        }
        // Nobody listening.
        let dead = client().peer("http://127.0.0.1:9").expect("a URL");
        assert!(matches!(dead.tip().await, Err(PeerError::Unreachable(_))));
    })
    .await
    .expect("test finished in time");
}

/// What a peer that accepts connections and never answers saw: when the
/// node gave up on each relay (`POST /mined`) it sent, by closing its
/// connection.
#[derive(Default)]
struct SilentLog {
    closed: Vec<Instant>,
}

/// A peer that accepts connections, reads what comes and never answers.
/// Every thread ends on its own: the acceptor after 60 s, each connection
/// when the node closes it or after 30 s of silence.
fn silent_peer() -> (String, std::sync::Arc<std::sync::Mutex<SilentLog>>) {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let log = Arc::new(Mutex::new(SilentLog::default()));
    let shared = log.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let log = shared.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut relay = false;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => {
                            if relay {
                                log.lock().unwrap().closed.push(Instant::now());
                            }
                            return;
                        }
                        Ok(n) => {
                            seen.extend_from_slice(&buf[..n]);
                            relay |= seen.starts_with(b"POST /mined");
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    (url, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_stalls_neither_the_api_nor_relay() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (silent_url, silent) = silent_peer();
        let chain = blocks(&vectors()["chain"]);

        let dir = temp_dir("silent");
        let mut flags = VECTOR_FLAGS.to_vec();
        flags.extend(["--peer", &silent_url]);
        let node = start(&dir, &flags).await;
        // A healthy peer too, which must receive the relays.
        let healthy_dir = temp_dir("healthy");
        let healthy = start(&healthy_dir, &VECTOR_FLAGS).await;
        let body = format!(r#"{{"url": "{}"}}"#, healthy.url());
        let (status, _) = post(&format!("{}/peers", node.url()), body).await;
        assert_eq!(status, 200);

        let mut events = vec![healthy.node.subscribe()];
        for block in &chain[1..=10] {
            let (status, body) = post(&format!("{}/mined", node.url()), block.to_json()).await;
            assert_eq!(status, 200, "{body}");
        }
        let answered = Instant::now();
        let tip = chain[10].hash;
        let relayed = wait_until(&mut events, Duration::from_secs(20), || {
            healthy.node.chain().tip().hash == tip
        })
        .await;
        assert!(relayed, "the healthy peer did not get the blocks");
        // The relays to the silent peer were under way while the node
        // answered: the answers did not wait for any of them to give up.
        let given_up = loop {
            let closed = silent.lock().unwrap().closed.clone();
            if !closed.is_empty() {
                break closed;
            }
            assert!(
                answered.elapsed() < Duration::from_secs(30),
                "the node never gave up on the silent peer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            given_up.iter().all(|closed| *closed > answered),
            "a POST /mined answered only after the node gave up on the silent peer"
        );
        let tip_info: jbc_core::peer::TipInfo = get_json(&format!("{}/tip", node.url())).await;
        assert_eq!(tip_info.hash, tip);
        let served: Vec<Block> = get_json(&format!("{}/blockchain.json", healthy.url())).await;
        assert_eq!(served, chain[..=10]);
        node.shutdown().await.expect("clean shutdown");
        healthy.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// A client that starts a request and never finishes its headers is cut off
/// (header-read deadline), and the node keeps serving everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = temp_dir("slowloris");
        let node = start(&dir, &VECTOR_FLAGS).await;
        let mut slow = tokio::net::TcpStream::connect(node.addr)
            .await
            .expect("connect");
        slow.write_all(b"GET /tip HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("partial request");
        // Meanwhile, complete requests are answered.
        let tip: jbc_core::peer::TipInfo = get_json(&format!("{}/tip", node.url())).await;
        assert_eq!(tip.height, 0);
        // The slow connection ends (closed, or a 408) well before our bound,
        // without the client sending anything more.
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(
            jbc_node::serve::HEADER_READ_TIMEOUT + Duration::from_secs(10),
            slow.read(&mut buf),
        )
        .await
        .expect("the node closes a connection whose headers never end");
        match read {
            Ok(0) | Err(_) => {}
            Ok(n) => assert!(
                String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
                "unexpected answer {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}
