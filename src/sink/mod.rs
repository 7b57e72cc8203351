//! The notification sink (docs/audit-log.md): a bounded pool of worker threads that accept connections
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

use crate::audit::log::{AuditLog, Rolling};
use crate::audit::AuditError;
use metrics::Metrics;
use regex::Regex;
use std::net::TcpListener;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Longest a single socket read or write may block: slow clients (and idle keep-alive connections)
/// are dropped after this.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// Most worker threads `--workers` may ask for.
const MAX_WORKERS: usize = 256;

/// How the sink runs, validated by the commands layer.
#[derive(Debug)]
pub struct Config {
    /// Address to listen on, as `TcpListener::bind` takes it.
    pub listen: String,
    /// Directory holding audit.jsonl.
    pub data_dir: std::path::PathBuf,
    /// The bearer token that requests must present; `None`: no authentication.
    pub token: Option<String>,
    /// Pattern the change id at the start of a commit subject must match.
    pub change_pattern: Regex,
    /// Worker threads, 1 to [`MAX_WORKERS`].
    pub workers: usize,
    /// When the active segment is sealed.
    pub rolling: Rolling,
}

/// Why the sink could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("--workers must be between 1 and {MAX_WORKERS}, not {0}")]
    Workers(usize),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Opens (and verifies) the log, listens, and serves until the process is stopped.
///
/// # Errors
///
/// The worker count is out of range, the log cannot be read or its chain is broken (naming the
/// line), or the listener or a thread cannot be started.
pub fn serve(config: Config) -> Result<(), SinkError> {
    if config.workers == 0 || config.workers > MAX_WORKERS {
        return Err(SinkError::Workers(config.workers));
    }
    let token_digest = config.token.as_deref().map(http::digest);
    let metrics = Arc::new(Metrics::default());
    let log = AuditLog::open_with(
        &config.data_dir,
        chrono::Utc::now().timestamp(),
        config.rolling,
    )?;
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
    metrics.log_bytes.store(log.total_bytes(), Relaxed);
    metrics.last_seq.store(log.head().seq, Relaxed);
    tracing::info!(
        path = %log.path().display(),
        records = log.head().seq,
        head = %log.head().hash,
        verified_after = log.verified_after(),
        "audit log verified"
    );
    let reader = log.reader();

    let listener = TcpListener::bind(&config.listen).map_err(|source| SinkError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| SinkError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let listener = Arc::new(listener);
    let appender = writer::Appender::spawn(log, Arc::clone(&metrics)).map_err(SinkError::Thread)?;
    let ctx = Arc::new(http::Context {
        token_digest,
        appender,
        metrics,
        reader,
        change_pattern: config.change_pattern,
    });
    let mut workers = Vec::with_capacity(config.workers);
    for i in 0..config.workers {
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
    tracing::info!(addr = %local, workers = config.workers, auth = token_digest.is_some(), "listening");
    for worker in workers {
        // Workers never return; a join error is a panic outside a request, already reported.
        let _ = worker.join();
    }
    Ok(())
}
