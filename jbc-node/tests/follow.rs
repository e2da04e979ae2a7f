//! Following peers over real HTTP: a node that nobody can dial still hears
//! of each block as it happens, through the `/events` stream of the peer it
//! dialled; a peer without `/events` is polled instead; a stream that sends
//! an invalid block gets its peer banned, and one that sends an oversized
//! event is dropped — neither changes the chain or the store.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{FAST_FLAGS, get_json, mine, post, serve_on_loopback, temp_dir, wait_until};
use jbc_core::{Block, Chain};
use jbc_node::RunningNode;
use jbc_node::events::{Event, Source};

/// `GET /peers` of `node`: the list.
async fn peers(node: &RunningNode) -> Vec<serde_json::Value> {
    let body: serde_json::Value = get_json(&format!("{}/peers", node.url())).await;
    body["peers"].as_array().expect("peers").clone()
}

async fn metric(node: &RunningNode, key: &str) -> f64 {
    common::metric(&node.url(), key).await
}

/// Waits until `node` lists `url` with its stream in `state`.
async fn wait_stream(node: &RunningNode, url: &str, state: &str) -> bool {
    for _ in 0..200 {
        if peers(node)
            .await
            .iter()
            .any(|p| p["url"] == url && p["stream"] == state)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_nobody_can_dial_hears_each_block_on_its_stream() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (seed_dir, hidden_dir) = (temp_dir("follow-seed"), temp_dir("follow-hidden"));
        let seed = start_plain(&seed_dir, &[]).await;
        // The hidden node announces an address where nothing listens: the
        // seed's relays to it all fail, as to a node behind NAT.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}", l.local_addr().expect("addr"))
        };
        let seed_url = seed.url();
        let hidden = start_plain(&hidden_dir, &["--peer", &seed_url, "--public-url", &dead]).await;
        assert!(
            wait_stream(&hidden, &seed_url, "open").await,
            "{:?}",
            peers(&hidden).await
        );
        // The seed learns only the dead address.
        assert!(peers(&seed).await.iter().all(|p| p["url"] == dead.as_str()));

        let mut events = vec![hidden.node.subscribe()];
        for i in 0..3 {
            let next = seed.node.chain().next_rules();
            let block = mine(&next, &format!("block {i}"), common::now_ms());
            let (status, body) = post(&format!("{}/mined", seed.url()), block.to_json()).await;
            assert_eq!(status, 200, "{body}");
            let hash = block.hash;
            let arrived = wait_until(&mut events, Duration::from_secs(20), || {
                hidden.node.chain().tip().hash == hash
            })
            .await;
            assert!(arrived, "block {i} did not reach the hidden node");
        }
        assert_eq!(metric(&hidden, "jbc_stream_blocks_total").await, 3.0);
        let failed = "jbc_relay_failures_total{reason=\"failed\"}";
        assert!(
            metric(&seed, failed).await >= 1.0,
            "the seed could not relay"
        );
        hidden.shutdown().await.expect("clean shutdown");
        seed.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("test finished in time");
}

/// A node with the fast params and `extra` flags.
async fn start_plain(dir: &std::path::Path, extra: &[&str]) -> RunningNode {
    let mut flags = FAST_FLAGS.to_vec();
    flags.extend_from_slice(extra);
    common::start(dir, &flags).await
}

/// The params of [`FAST_FLAGS`].
fn fast_chain() -> Chain {
    Chain::new(common::params_of(&FAST_FLAGS))
}

/// A fake peer: `/tip` of `chain`, and `/events` answering `events` (or
/// 404 when `None`).
async fn fake_peer(chain: &Chain, events: Option<String>) -> String {
    let tip = serde_json::to_string(&jbc_core::peer::TipInfo::of(chain)).expect("tip");
    let mut app = Router::new().route(
        "/tip",
        get(move || {
            let tip = tip.clone();
            async move { ([("content-type", "application/json")], tip) }
        }),
    );
    if let Some(body) = events {
        app = app.route(
            "/events",
            get(move || {
                let body = body.clone();
                async move { ([("content-type", "text/event-stream")], body) }
            }),
        );
    }
    serve_on_loopback(app).await.0
}

fn block_event(block: &Block) -> String {
    let data = Event::Block {
        source: Source::Local,
        block: block.clone(),
    }
    .data();
    format!("event: block\ndata: {data}\n\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_events_is_polled_and_shown_unsupported() {
    let dir = temp_dir("follow-old");
    let old = fake_peer(&fast_chain(), None).await;
    let node = start_plain(&dir, &["--peer", &old]).await;
    assert!(
        wait_stream(&node, &old, "unsupported").await,
        "{:?}",
        peers(&node).await
    );
    let refused = "jbc_stream_ends_total{reason=\"refused\"}";
    assert!(metric(&node, refused).await >= 1.0);
    // Polled: it answered its /tip, so it is up.
    assert!(
        peers(&node)
            .await
            .iter()
            .any(|p| p["url"] == old.as_str() && p["up"] == true)
    );
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_with_an_invalid_block_gets_its_peer_banned_and_changes_nothing() {
    let dir = temp_dir("follow-liar");
    let chain = fast_chain();
    let mut liar = mine(&chain.next_rules(), "liar", common::now_ms());
    liar.hash.0[0] ^= 0xff;
    let url = fake_peer(&chain, Some(block_event(&liar))).await;
    let node = start_plain(&dir, &["--peer", &url]).await;
    let mut banned = None;
    for _ in 0..200 {
        banned = peers(&node)
            .await
            .into_iter()
            .find(|p| p["url"] == url.as_str() && !p["banned_until"].is_null());
        if banned.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let banned = banned.expect("the peer is banned");
    assert!(
        banned["ban_reason"]
            .as_str()
            .unwrap_or("")
            .contains("bad_hash"),
        "{banned}"
    );
    assert_eq!(node.node.chain().height(), 0, "nothing stored");
    assert_eq!(node.node.status().blocks_stored, 0);
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_drops_the_stream_and_changes_nothing() {
    let dir = temp_dir("follow-big");
    let chain = fast_chain();
    let huge = format!("event: block\ndata: {}\n\n", "x".repeat(100 * 1024));
    let url = fake_peer(&chain, Some(huge)).await;
    let node = start_plain(&dir, &["--peer", &url]).await;
    let bad = "jbc_stream_ends_total{reason=\"bad\"}";
    let mut dropped = false;
    for _ in 0..200 {
        if metric(&node, bad).await >= 1.0 {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dropped, "the stream was not dropped");
    assert_eq!(node.node.chain().height(), 0);
    assert_eq!(node.node.status().blocks_stored, 0);
    // Dropping a stream is not misbehaviour: no ban.
    assert!(
        peers(&node)
            .await
            .iter()
            .all(|p| p["banned_until"].is_null())
    );
    node.shutdown().await.expect("clean shutdown");
}
