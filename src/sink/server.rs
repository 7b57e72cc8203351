//! The connection layer: hyper 1's HTTP/1.1 server on tokio, with every resource a client can hold
//! bounded.
//!
//! - **Connections**: at most `--max-connections` at once; past that the sink stops accepting (new
//!   connections wait in the kernel's listen backlog) until one ends.
//! - **Time**: hyper's `header_read_timeout`, with its timer set explicitly (without a timer hyper turns
//!   the timeout off), bounds the request head. hyper 1 starts that timer whenever the connection waits
//!   for a request head, so it is also the idle keep-alive timeout: a connection that sends nothing is
//!   closed after [`HEADER_READ_TIMEOUT`], and one that trickles its head a byte at a time too. The body
//!   and the append are bounded by the whole-request deadline of the handlers (`http`).
//! - **Size**: heads up to [`MAX_HEADER_SIZE`] bytes and [`MAX_HEADERS`] fields (431 past that); bodies
//!   limited while they stream (`http`).
//! - **Lingering close**: when the sink closes a connection, it first shuts down its sending side (the
//!   answer is complete) and then reads and discards what the client still sends, for at most
//!   [`LINGER_TIME`] and [`LINGER_BYTES`], before closing. Closing a socket with unread data makes the
//!   kernel send RST, and a client still writing its body (Go's net/http does not wait for
//!   `100 Continue`) then loses the 413 or 401 it was sent. Go's own server and nginx do the same.
//! - **Half-close**: a client that sends a complete request (or several, pipelined) and then shuts its
//!   sending side gets every answer; hyper's default would drop them.
//! - **Shutdown**: on the stop signal the sink stops accepting, lets every connection finish the
//!   request it is serving (keep-alive off), and waits at most the grace period.

use super::handlers::Context;
use super::routes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Longest wait for a complete request head, and so the idle keep-alive timeout.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and fields).
pub const MAX_HEADER_SIZE: usize = 32 * 1024;
/// Most header fields in a request head.
pub const MAX_HEADERS: usize = 100;
/// Longest a closing connection is drained.
pub const LINGER_TIME: Duration = Duration::from_secs(10);
/// Longest pause of the client while draining.
pub const LINGER_IDLE: Duration = Duration::from_secs(2);
/// Most bytes drained from a closing connection.
pub const LINGER_BYTES: u64 = 64 << 20;
/// Default of `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How the connection layer runs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after the stop signal.
    pub grace: Duration,
}

/// Serves `listener` until `stop` resolves; then stops accepting, lets the connections finish their
/// request within `limits.grace`, and returns what `stop` gave and whether they all did.
pub async fn run<T>(
    listener: TcpListener,
    ctx: Arc<Context>,
    limits: Limits,
    stop: impl Future<Output = T>,
) -> (Option<T>, bool) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut stop = pin!(stop);
    let mut reason = None;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_SIZE)
        .max_headers(MAX_HEADERS)
        // A client may send its request(s) and then shut its sending side (legal in HTTP/1.1, RFC 9112
        // §9.6; simple clients and some proxies do): hyper still answers every request it read.
        .half_close(true)
        .keep_alive(true);
    let builder = Arc::new(builder);
    loop {
        let permit = tokio::select! {
            r = &mut stop => {
                reason = Some(r);
                break;
            }
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            r = &mut stop => {
                reason = Some(r);
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pause instead of spinning, then go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            Arc::clone(&ctx),
            Arc::clone(&builder),
            closing_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let finished = tokio::time::timeout(limits.grace, permits.acquire_many(all))
        .await
        .is_ok();
    (reason, finished)
}

type Handler = Pin<
    Box<
        dyn Future<
                Output = Result<
                    hyper::Response<http_body_util::Full<hyper::body::Bytes>>,
                    Infallible,
                >,
            > + Send,
    >,
>;

async fn connection(
    stream: TcpStream,
    ctx: Arc<Context>,
    builder: Arc<http1::Builder>,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |rq: hyper::Request<Incoming>| -> Handler {
        let ctx = Arc::clone(&ctx);
        Box::pin(async move { Ok(routes::handle(ctx, rq).await) })
    });
    let mut conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut closing_signal = pin!(closing.wait_for(|c| *c));
    let mut shutting_down = false;
    let served = std::future::poll_fn(|cx| {
        if !shutting_down && closing_signal.as_mut().poll(cx).is_ready() {
            shutting_down = true;
            Pin::new(&mut conn).graceful_shutdown();
        }
        conn.poll_without_shutdown(cx)
    })
    .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended");
    }
    linger(conn.into_parts().io.into_inner()).await;
}

/// Shuts down the sending side, then reads and discards what the client still sends (bounded), then
/// closes: see the module doc.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let end = Instant::now() + LINGER_TIME;
    let mut drained = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    while drained < LINGER_BYTES {
        let wait = end
            .saturating_duration_since(Instant::now())
            .min(LINGER_IDLE);
        if wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n as u64,
            _ => break,
        }
    }
}
