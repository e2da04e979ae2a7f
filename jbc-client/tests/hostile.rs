//! A hostile node on 127.0.0.1 port 0 answers with far more bytes than a
//! route allows: the client refuses the answer once it passes the route's
//! limit, and stops reading, so the node gets to send only a small part of
//! what it meant to (the rest would sit in no one's memory).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use jbc_client::{Client, Timeouts};
use jbc_core::peer::{Peer, PeerError};
use jbc_core::wire::SMALL_ANSWER_BYTES;
use jbc_core::{Block, BlockHash};

/// What the hostile node means to send after its headers: 1 GiB.
const MEANT: u64 = 1 << 30;

/// Far less than [`MEANT`], yet more than the loopback socket buffers on
/// both sides and the client's own read buffers can hold.
const SENT_AT_MOST: u64 = 64 << 20;

/// How the hostile node answers.
#[derive(Clone, Copy)]
enum Answer {
    /// A body without a length, ending when the connection does.
    Endless,
    /// A `Content-Length` of [`MEANT`], and that many bytes.
    Declared,
}

/// A node that answers every request with `answer`, then writes until the
/// client hangs up (or [`MEANT`] bytes, or 20 s without progress). Each
/// connection reports how many body bytes it got to write. The acceptor
/// takes `connections` connections and ends.
fn hostile_node(answer: Answer, connections: usize) -> (String, mpsc::Receiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((conn, _)) = listener.accept() else {
                return;
            };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(answer_with(conn, answer));
            });
        }
    });
    (url, rx)
}

fn answer_with(mut conn: TcpStream, answer: Answer) -> u64 {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(20)));
    // The request head (and whatever of its body came with it).
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let length = match answer {
        Answer::Endless => String::new(),
        Answer::Declared => format!("content-length: {MEANT}\r\n"),
    };
    let headers = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n"
    );
    if conn.write_all(headers.as_bytes()).is_err() {
        return 0;
    }
    // JSON whitespace: a client that read it all could not tell it apart
    // from a slow, valid answer.
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < MEANT {
        match conn.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n as u64,
        }
    }
    sent
}

fn client() -> Client {
    Client::new("jbc-client-test", Timeouts::default())
}

fn assert_refused_as_too_large(answer: Result<impl std::fmt::Debug, PeerError>) {
    match answer {
        Err(PeerError::BadAnswer(m)) => {
            assert!(
                m.contains("larger") && m.contains(&SMALL_ANSWER_BYTES.to_string()),
                "{m}"
            )
        }
        other => panic!("an oversized answer was taken: {other:?}"),
    }
}

/// What one connection of the hostile node got to send: less than
/// [`SENT_AT_MOST`] (the client stopped reading and hung up).
fn sent_little(sent: &mpsc::Receiver<u64>) -> u64 {
    let sent = sent
        .recv_timeout(Duration::from_secs(60))
        .expect("the node reports");
    eprintln!("the hostile node sent {sent} of {MEANT} bytes");
    assert!(
        sent < SENT_AT_MOST,
        "the node got to send {sent} bytes of {MEANT}"
    );
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_refused_without_reading_it_all() {
    let (url, sent) = hostile_node(Answer::Endless, 2);
    let node = client().peer(&url).expect("a URL");
    assert_refused_as_too_large(node.tip().await);
    let block = Block::new(1, 1, "x".into(), BlockHash::ZERO, 1, 0);
    assert_refused_as_too_large(node.submit(&block).await);
    for _ in 0..2 {
        // More than the answer's limit: the client read that far first.
        assert!(sent_little(&sent) > SMALL_ANSWER_BYTES as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversized_answer_is_refused_before_its_body() {
    let (url, sent) = hostile_node(Answer::Declared, 1);
    let node = client().peer(&url).expect("a URL");
    assert_refused_as_too_large(node.peer_urls().await);
    sent_little(&sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_event_past_its_bound_ends_the_stream() {
    let (url, sent) = hostile_node(Answer::Endless, 1);
    let node = client().peer(&url).expect("a URL");
    let mut events = node.events().await.expect("the stream opens");
    // Spaces and no newline: one event that never ends.
    match events.next().await {
        Err(PeerError::BadAnswer(m)) => assert!(m.contains("larger"), "{m}"),
        other => panic!("an endless event was taken: {other:?}"),
    }
    drop(events);
    sent_little(&sent);
}

#[tokio::test]
async fn only_node_urls_make_a_peer() {
    let client = client();
    assert_eq!(
        client.peer("HTTP://127.0.0.1:5000/").expect("a URL").url(),
        "http://127.0.0.1:5000"
    );
    let error = client.peer("ftp://127.0.0.1").unwrap_err();
    assert!(error.to_string().contains("http://"), "{error}");
    let dead = client.peer("http://127.0.0.1:9").expect("a URL");
    assert!(matches!(dead.tip().await, Err(PeerError::Unreachable(_))));
}
