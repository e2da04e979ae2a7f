//! A connection whose reader stopped reading is closed: [`Watched`] notes
//! when a write to the socket starts waiting, and [`stalled`] ends once one
//! has waited [`WRITE_STALL_TIMEOUT`]. Nothing ticks while writes go
//! through: the watchdog sleeps until a write blocks.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How long a write to a client may wait for the socket to take it before
/// the connection is closed: a reader that stopped reading (or reads
/// slower than a byte now and then) frees its answer's snapshot, chunk and
/// connection slot after this. Event streams write a keep-alive every few
/// seconds, so a stalled subscriber is closed too.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What [`Watched`] shares with its watchdog.
#[derive(Debug)]
pub struct Stall {
    epoch: Instant,
    /// Milliseconds after `epoch` (plus one) since which a write waits; 0
    /// while none does.
    blocked_since: AtomicU64,
    blocked: Notify,
}

impl Stall {
    fn new() -> Arc<Stall> {
        Arc::new(Stall {
            epoch: Instant::now(),
            blocked_since: AtomicU64::new(0),
            blocked: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn note<T>(&self, poll: &Poll<T>) {
        if poll.is_pending() {
            if self.blocked_since.load(Ordering::Relaxed) == 0 {
                self.blocked_since.store(self.now(), Ordering::Relaxed);
                self.blocked.notify_one();
            }
        } else {
            self.blocked_since.store(0, Ordering::Relaxed);
        }
    }
}

/// A socket whose writes are watched.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    stall: Arc<Stall>,
}

impl<S> Watched<S> {
    /// Watches `inner`'s writes; [`stalled`] on the returned handle ends
    /// when one waited too long.
    pub fn new(inner: S) -> (Watched<S>, Arc<Stall>) {
        let stall = Stall::new();
        (
            Watched {
                inner,
                stall: stall.clone(),
            },
            stall,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.stall.note(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.stall.note(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.stall.note(&poll);
        poll
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Ends once a write of the watched socket has waited
/// [`WRITE_STALL_TIMEOUT`]; sleeps while none waits.
pub async fn stalled(stall: Arc<Stall>) {
    loop {
        let since = stall.blocked_since.load(Ordering::Relaxed);
        if since == 0 {
            stall.blocked.notified().await;
            continue;
        }
        let waited = Duration::from_millis(stall.now().saturating_sub(since));
        match WRITE_STALL_TIMEOUT.checked_sub(waited) {
            Some(left) if !left.is_zero() => tokio::time::sleep(left).await,
            _ => return,
        }
    }
}
