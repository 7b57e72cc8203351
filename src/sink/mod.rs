//! The notification sink (SPEC.md §5): HTTP on tiny_http with a bounded pool of worker threads over
//! `Server::recv`, socket read/write timeouts, bearer auth, and handlers that turn Argo CD
//! Notifications events into audit records appended by one group-commit writer.
//!
//! ```text
//! listener (SO_RCVTIMEO/SO_SNDTIMEO) → tiny_http → workers (http: auth → body ≤ 1 MiB → record)
//!   → writer (batch → one write + fsync → replies) → audit.jsonl
//! ```

pub mod http;
pub mod metrics;
pub mod writer;

use crate::audit::commit::DEFAULT_CHANGE_PATTERN;
use crate::audit::log::AuditLog;
use crate::cli::ServeArgs;
use crate::{Error, Exit, Result};
use metrics::Metrics;
use rustix::net::sockopt::{set_socket_timeout, Timeout};
use std::net::TcpListener;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Longest a single socket read or write may block: slow clients (and idle keep-alive connections)
/// are dropped after this. tiny_http does not expose its sockets, so the timeouts are set on the
/// listener, whose options every accepted socket inherits (Linux copies them when the connection is
/// established).
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// A pacemaker connects to the listener this often (and closes at once), for two defects of tiny_http 0.12:
/// - the receive timeout also bounds `accept()` on the listener, and tiny_http's accept thread ends for
///   good on any accept error: the pacemaker keeps accept from ever idling for `SOCKET_TIMEOUT` (should
///   the accept thread stop anyway, e.g. on EMFILE, the sink exits with an error rather than stay up deaf;
///   Kubernetes restarts it and no acknowledged record is at risk);
/// - its connection thread pool can leave a new connection queued with no thread to run it until
///   another connection ends (two connections arriving together both see the same idle thread); every
///   pacemaker connection gets a fresh thread that picks up such a queued connection when it is done.
///   This bounds that stall to about the interval (the load benchmark showed stalls of a whole run without it).
const PACEMAKER_INTERVAL: Duration = Duration::from_millis(100);

/// Most worker threads `--workers` may ask for.
const MAX_WORKERS: usize = 256;

/// Why the sink could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("--workers must be between 1 and {MAX_WORKERS}, not {0}")]
    Workers(usize),
    #[error("{}: the token file is empty; put the bearer token in it, or leave out --token-file", .0.display())]
    EmptyToken(std::path::PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server: {0}")]
    Http(String),
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the HTTP server stopped accepting connections: {0}; exiting so that it is restarted")]
    Accept(String),
}

/// `sluice serve`.
///
/// # Errors
///
/// The arguments are invalid, the token file or the log cannot be read, the chain is broken (exit 1
/// naming the line), or the listener cannot be opened.
pub fn serve(args: ServeArgs) -> Result<Exit> {
    if args.workers == 0 || args.workers > MAX_WORKERS {
        return Err(SinkError::Workers(args.workers).into());
    }
    let token_digest = match &args.token_file {
        None => None,
        Some(path) => {
            let raw = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let token = raw.trim();
            if token.is_empty() {
                return Err(SinkError::EmptyToken(path.clone()).into());
            }
            Some(http::digest(token))
        }
    };
    let metrics = Arc::new(Metrics::default());
    let log = AuditLog::open(&args.data_dir, chrono::Utc::now().timestamp())?;
    if let Some(torn) = log.torn_tail() {
        tracing::warn!(
            line = torn.line,
            bytes = torn.bytes,
            side_file = %torn.side_file.display(),
            "the last line of the audit log was torn (a crash mid-write); moved it aside, it was never acknowledged"
        );
        metrics.torn_tails.store(1, Relaxed);
        metrics.torn_bytes.store(torn.bytes, Relaxed);
    }
    metrics.log_bytes.store(log.head().len, Relaxed);
    metrics.last_seq.store(log.head().seq, Relaxed);
    tracing::info!(
        path = %log.path().display(),
        records = log.head().seq,
        head = %log.head().hash,
        "audit log verified"
    );
    let published = log.published();
    let log_path = log.path().to_path_buf();

    let listener = TcpListener::bind(&args.listen).map_err(|source| SinkError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    for which in [Timeout::Recv, Timeout::Send] {
        set_socket_timeout(&listener, which, Some(SOCKET_TIMEOUT)).map_err(|e| {
            SinkError::Listen {
                addr: args.listen.clone(),
                source: e.into(),
            }
        })?;
    }
    let local = listener.local_addr().map_err(|source| SinkError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    let server = Arc::new(
        tiny_http::Server::from_listener(listener, None)
            .map_err(|e| SinkError::Http(e.to_string()))?,
    );
    let appender = writer::Appender::spawn(log, Arc::clone(&metrics)).map_err(SinkError::Thread)?;
    let change_pattern = regex::Regex::new(DEFAULT_CHANGE_PATTERN)
        .map_err(|e| Error::Usage(format!("change pattern: {e}")))?;
    let ctx = Arc::new(http::Context {
        token_digest,
        appender,
        metrics,
        published,
        log_path,
        change_pattern,
    });
    let (fatal_tx, fatal_rx) = std::sync::mpsc::channel::<String>();
    for i in 0..args.workers {
        let server = Arc::clone(&server);
        let ctx = Arc::clone(&ctx);
        let fatal = fatal_tx.clone();
        std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                let e = work(&server, &ctx);
                let _ = fatal.send(e);
            })
            .map_err(SinkError::Thread)?;
    }
    let target = pacemaker_target(local);
    std::thread::Builder::new()
        .name("pacemaker".into())
        .spawn(move || loop {
            // Connect and close at once: tiny_http reads EOF and drops the connection.
            let _ = std::net::TcpStream::connect_timeout(&target, SOCKET_TIMEOUT);
            std::thread::sleep(PACEMAKER_INTERVAL);
        })
        .map_err(SinkError::Thread)?;
    tracing::info!(addr = %local, workers = args.workers, auth = token_digest.is_some(), "listening");
    drop(fatal_tx);
    let why = fatal_rx
        .recv()
        .unwrap_or_else(|_| "every worker stopped".to_owned());
    Err(SinkError::Accept(why).into())
}

/// Where the pacemaker connects: the listener's address, or loopback when it listens on all addresses.
fn pacemaker_target(local: std::net::SocketAddr) -> std::net::SocketAddr {
    let mut target = local;
    if local.ip().is_unspecified() {
        target.set_ip(match local {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    target
}

/// A worker: take the next request, answer it, until the server stops accepting (its error is
/// returned). A panic in one request is logged and does not take the worker down.
fn work(server: &tiny_http::Server, ctx: &http::Context) -> String {
    loop {
        match server.recv() {
            Ok(rq) => {
                let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    http::handle(ctx, rq)
                }));
                if answered.is_err() {
                    tracing::error!("a request handler panicked; the worker goes on");
                }
            }
            // tiny_http hands out its accept error once, after its accept thread has ended.
            Err(e) => return e.to_string(),
        }
    }
}
