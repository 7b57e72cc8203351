//! The notification sink (SPEC.md §5): a bounded pool of worker threads that accept connections
//! (`server`), bearer auth and bounded bodies (`http`), and handlers that turn Argo CD Notifications
//! events into audit records appended by one group-commit writer.
//!
//! ```text
//! listener → workers (server: bounded head, timeouts → http: auth → body ≤ 1 MiB → record)
//!   → writer (batch → one write + fsync → replies) → audit.jsonl
//! ```

pub mod http;
pub mod metrics;
pub mod server;
pub mod writer;

use crate::audit::log::AuditLog;
use crate::cli::ServeArgs;
use crate::{Error, Exit, Result};
use metrics::Metrics;
use std::net::TcpListener;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Longest a single socket read or write may block: slow clients (and idle keep-alive connections)
/// are dropped after this.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

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
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
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
    let change_pattern = regex::Regex::new(&args.change_pattern)
        .map_err(|e| Error::Usage(format!("--change-pattern {:?}: {e}", args.change_pattern)))?;
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
    let local = listener.local_addr().map_err(|source| SinkError::Listen {
        addr: args.listen.clone(),
        source,
    })?;
    let listener = Arc::new(listener);
    let appender = writer::Appender::spawn(log, Arc::clone(&metrics)).map_err(SinkError::Thread)?;
    let ctx = Arc::new(http::Context {
        token_digest,
        appender,
        metrics,
        published,
        log_path,
        change_pattern,
    });
    let mut workers = Vec::with_capacity(args.workers);
    for i in 0..args.workers {
        let listener = Arc::clone(&listener);
        let ctx = Arc::clone(&ctx);
        let worker = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                server::run_worker(&listener, SOCKET_TIMEOUT, &|rq| {
                    // A panic in one request is logged and answered with 500; the worker goes on.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        http::handle(&ctx, rq)
                    }))
                    .unwrap_or_else(|_| {
                        tracing::error!("a request handler panicked; the worker goes on");
                        server::Response {
                            status: 500,
                            content_type: "application/json",
                            body: r#"{"error":"internal error"}"#.into(),
                            headers: Vec::new(),
                        }
                    })
                });
            })
            .map_err(SinkError::Thread)?;
        workers.push(worker);
    }
    tracing::info!(addr = %local, workers = args.workers, auth = token_digest.is_some(), "listening");
    for worker in workers {
        // Workers never return; a join error is a panic outside a request, already reported.
        let _ = worker.join();
    }
    Ok(Exit::Success)
}
