//! The miner against a hostile node on 127.0.0.1 port 0 whose every answer
//! is endless: the miner refuses each answer once it passes its route's
//! limit (jbc-client reads chunk by chunk), so the hostile node gets to send
//! only a small part of what it meant to, and the miner fails over to a
//! real node and lands its block there.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the hostile node means to send on each connection: 1 GiB.
const MEANT: u64 = 1 << 30;

/// Far less than [`MEANT`], yet more than the loopback socket buffers and
/// the client's read buffers hold.
const SENT_AT_MOST: u64 = 64 << 20;

/// A node that answers every request with 200 and an endless body (JSON
/// whitespace, no length), until the client hangs up. The bytes sent on
/// each connection are logged. Every thread ends by itself: the acceptor
/// after 60 s, each connection when the client hangs up, after [`MEANT`]
/// bytes or after 20 s without progress.
fn hostile_node() -> (String, Arc<Mutex<Vec<u64>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(20)));
                let mut head = [0u8; 4096];
                if !matches!(conn.read(&mut head), Ok(n) if n > 0) {
                    return;
                }
                let headers = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                               connection: close\r\n\r\n";
                if conn.write_all(headers.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < MEANT {
                    match conn.write(&chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => sent += n as u64,
                    }
                }
                log.lock().expect("log").push(sent);
            });
        }
    });
    (url, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_node_cannot_make_the_miner_read_an_endless_answer() {
    let (hostile, sent) = hostile_node();
    let node = common::start_node("hostile", 10).await;
    let url = node.url();
    let options = common::options(vec![hostile, url.clone()], 1, "hostile", 1);
    let report = jbc_miner::run(options, None, tokio::time::sleep(Duration::from_secs(120)))
        .await
        .expect("miner runs");
    assert_eq!(report.blocks_found, 1, "{report:?}");
    assert!(report.submitted.iter().all(|s| s.node == url), "{report:?}");
    // The miner asked the hostile node (its first choice) and gave up on
    // each answer early.
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = loop {
        let sent = sent.lock().expect("log").clone();
        if !sent.is_empty() || Instant::now() > deadline {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!sent.is_empty(), "the miner never asked the hostile node");
    for bytes in sent {
        eprintln!("the hostile node sent {bytes} of {MEANT} bytes");
        assert!(bytes < SENT_AT_MOST, "the hostile node sent {bytes} bytes");
    }
    node.shutdown().await.expect("clean shutdown");
}
