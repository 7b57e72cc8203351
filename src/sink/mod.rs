//! The notification sink (docs/audit-log.md): hyper 1's HTTP/1.1 server on tokio with every client
//! resource bounded (`server`), framing checks hyper leaves to the application (`strict`), who may do
//! what (`auth`: the write, read and guard credentials; guard tokens through `tokenreview`), handlers
//! with bodies limited while they stream (`http`), and one group-commit writer thread that turns the
//! records into durable lines of the audit log (`writer`).
//!
//! ```text
//! listener → connections (server: cap, head timeout, half-close, lingering close) → strict → http:
//!   auth (→ TokenReview for guard tokens) → body ≤ --max-body → record → writer (batch → one write +
//!   fsync → replies) → audit.jsonl
//! ```

pub mod approvals;
pub mod auth;
pub mod decide;
pub mod evidence;
pub mod http;
pub mod metrics;
pub mod query;
pub mod registry;
pub mod served;
pub mod server;
pub mod strict;
pub mod tickets;
pub mod tokenreview;
pub mod ui;
pub mod verification;
pub mod watch_health;
pub mod watched;
pub mod witnesses;
pub mod writer;

use crate::ledger::{Head, Ledger, LedgerError, Rolling};
use crate::record::gate::Knowledge;
use crate::record::{Record, SCHEMA};
use crate::watch::{self, WatchConfig, WatchError};
use metrics::Metrics;
use regex::Regex;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use writer::{Appender, Health, Store};

/// Most runtime threads `--workers` may ask for.
const MAX_WORKERS: usize = 256;

/// How long in-flight requests may take to finish after SIGTERM (Kubernetes waits 30 s by default
/// before SIGKILL).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long shutdown waits for the watch to record the operations it still holds.
const WATCH_FLUSH: Duration = Duration::from_secs(10);

/// How long the sink keeps answering (503, `/healthz` included) after its writer stopped, before it
/// exits, so that probes and clients see why.
const WRITER_GONE_LINGER: Duration = Duration::from_secs(2);

/// How the sink runs, validated by the commands layer.
#[derive(Debug)]
pub struct Config {
    /// Address to listen on, as `TcpListener::bind` takes it.
    pub listen: String,
    /// Directory holding audit.jsonl.
    pub data_dir: std::path::PathBuf,
    /// The write token (`POST /v1/events`); `None` with no read token and no guard review: no
    /// authentication (`--insecure-no-auth`).
    pub token: Option<String>,
    /// The read token (`GET /v1/records`); `None`: reading over HTTP is off.
    pub read_token: Option<String>,
    /// Check guard Jobs' `ServiceAccount` tokens with the `TokenReview` API (`--guard-token-review`).
    pub guard_review: Option<GuardReview>,
    /// Pattern the change id at the start of a commit subject must match.
    pub change_pattern: Regex,
    /// Runtime threads, 1 to [`MAX_WORKERS`].
    pub workers: usize,
    /// When the active segment is sealed.
    pub rolling: Rolling,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Watch the Applications through the Kubernetes API too (`--watch-applications`).
    pub watch: Option<WatchConfig>,
    /// Signed checkpoints and the archive.
    pub evidence: evidence::Config,
    /// The Git hosts, credentials and floors of approvals decisions.
    pub approvals: approvals::Config,
    /// The ticket systems and their credentials.
    pub tickets: tickets::Config,
    /// The Git hosts with write credentials, for revert pull requests (`onFailure: rollback`);
    /// empty: the record carries the commands instead.
    pub rollback: Vec<crate::host::client::Endpoint>,
    /// The secret Argo CD's proxy extension adds (`--ui-proxy-secret-file`); `None`: the UI API is off.
    pub ui_proxy_secret: Option<String>,
}

/// How guard tokens are checked (`--guard-token-review`).
#[derive(Debug, Clone)]
pub struct GuardReview {
    /// The kubeconfig; `None`: in-cluster.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The audience a guard token must carry (`--guard-audience`, `sluice`).
    pub audience: String,
}

/// Why the sink could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("--workers must be between 1 and {MAX_WORKERS}, not {0}")]
    Workers(usize),
    #[error("--max-body must be at least 1 byte")]
    MaxBody,
    #[error("--max-connections must be at least 1")]
    MaxConnections,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("{}: {source}", path.display())]
    Evidence {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the audit writer stopped (see the log above); exiting so that the sink is restarted")]
    WriterStopped,
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("approvals: {0}")]
    Approvals(String),
    #[error("tickets: {0}")]
    Tickets(String),
}

impl SinkError {
    /// Whether the sink could not start as called (exit 2): an argument out of range, an address that is
    /// not one, no usable Kubernetes configuration for the watch.
    pub fn is_usage(&self) -> bool {
        match self {
            SinkError::Workers(_) | SinkError::MaxBody | SinkError::MaxConnections => true,
            SinkError::Listen { source, .. } => source.kind() == std::io::ErrorKind::InvalidInput,
            SinkError::Watch(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal(&'static str),
    WriterGone,
}

/// Opens (and verifies) the log, listens, and serves until SIGTERM or SIGINT (then: stop accepting,
/// finish in-flight requests within [`SHUTDOWN_GRACE`], fsync, return `Ok`), or until the writer
/// stops (return [`SinkError::WriterStopped`]).
///
/// # Errors
///
/// An argument is out of range, the log cannot be read or its chain is broken (naming the line), the
/// listener or a thread cannot be started, or the writer stopped.
pub fn serve(config: Config) -> Result<(), SinkError> {
    if config.workers == 0 || config.workers > MAX_WORKERS {
        return Err(SinkError::Workers(config.workers));
    }
    if config.max_body == 0 {
        return Err(SinkError::MaxBody);
    }
    if config.max_connections == 0 {
        return Err(SinkError::MaxConnections);
    }
    let metrics = Arc::new(Metrics::default());
    let mut log = Ledger::open_with(
        &config.data_dir,
        chrono::Utc::now().timestamp(),
        config.rolling,
        SCHEMA,
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
    let listener =
        std::net::TcpListener::bind(&config.listen).map_err(|source| SinkError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    raise_open_files_limit(config.max_connections);
    let reader = log.reader();
    // The ledger's chores (the verified-prefix marker, the idempotency keys after a start) run here;
    // the thread ends once the writer has dropped the ledger.
    let chores = log.take_chores();
    let chores = std::thread::Builder::new()
        .name("audit-chores".into())
        .spawn(move || chores.run())
        .map_err(SinkError::Thread)?;
    let knowledge = learn(&config.data_dir);
    let sources = evidence::Sources {
        tree: log.tree(),
        records: log.reader(),
    };
    let evidence = Arc::new(
        evidence::Evidence::start(
            config.evidence,
            config.data_dir.clone(),
            log.head().clone(),
            sources,
        )
        .map_err(|source| SinkError::Evidence {
            path: config.data_dir.clone(),
            source,
        })?,
    );
    let _ = metrics.evidence.set(Arc::clone(&evidence.status));
    let call_timeout = config.approvals.call_timeout;
    let approvals = Arc::new(
        approvals::Approvals::start(config.approvals, config.data_dir.clone())
            .map_err(SinkError::Approvals)?,
    );
    let tickets = Arc::new(
        tickets::Tickets::start(config.tickets, config.data_dir.clone())
            .map_err(SinkError::Tickets)?,
    );
    let rollback = if config.rollback.is_empty() {
        None
    } else {
        Some(
            verification::rollback::Rollback::new(config.rollback, call_timeout)
                .map_err(SinkError::Approvals)?,
        )
    };
    let verifications = Arc::new(
        verification::Verifications::start(config.data_dir.clone(), rollback)
            .map_err(SinkError::Approvals)?,
    );
    let rendered = (
        Arc::clone(&approvals),
        Arc::clone(&tickets),
        Arc::clone(&verifications),
    );
    let _ = metrics.more.set(metrics::MoreMetrics(Arc::new(move |o| {
        rendered.0.render(o);
        rendered.1.render(o, chrono::Utc::now());
        rendered.2.render(o);
    })));
    let hook = Arc::clone(&evidence);
    let guard_reviewer = config.guard_review.map(|g| {
        let reviewer: Arc<dyn auth::Reviewer> =
            Arc::new(tokenreview::KubeReviewer::new(g.kubeconfig));
        (reviewer, g.audience)
    });
    let ui = ui::Access::new(
        config.ui_proxy_secret.as_deref().map(ui::digest),
        config.read_token.as_deref().map(ui::digest),
        config.token.as_deref().map(ui::digest),
        config.data_dir.clone(),
    );
    let ctx = Context {
        auth: auth::Auth::new(
            config.token.as_deref(),
            config.read_token.as_deref(),
            guard_reviewer,
        ),
        metrics,
        reader,
        change_pattern: config.change_pattern,
        max_body: config.max_body,
        knowledge,
        watch: config.watch,
        on_durable: Box::new(move |head| hook.durable(head)),
        served: served::Served {
            tree: log.tree(),
            data_dir: config.data_dir.clone(),
        },
        approvals: Some(approvals),
        tickets: Some(tickets),
        verifications: Some(verifications),
        ui,
    };
    let served = run(
        listener,
        log,
        ctx,
        config.workers,
        server::Limits {
            max_connections: config.max_connections,
            grace: SHUTDOWN_GRACE,
        },
    );
    // The writer has stopped (and fsynced): sign the last durable head, give the archive a last pass.
    evidence.finish();
    let _ = chores.join();
    served
}

/// What [`run`] needs besides the log and the listener.
pub struct Context {
    /// Who may do what.
    pub auth: auth::Auth,
    pub metrics: Arc<Metrics>,
    pub reader: crate::ledger::Reader,
    pub change_pattern: Regex,
    pub max_body: usize,
    /// What the log's records taught the gate findings so far ([`learn`]).
    pub knowledge: writer::Learned,
    /// The Application watch to start once the writer runs (`--watch-applications`).
    pub watch: Option<WatchConfig>,
    /// Told each new durable head by the writer (the checkpoint signer); must not block.
    pub on_durable: Box<dyn Fn(&Head) + Send + 'static>,
    /// The checkpoint and tiles served under `/v1/log/`.
    pub served: served::Served,
    /// Approvals decisions and evidence (`None`: none are made, `POST /v1/decide` is 404).
    pub approvals: Option<Arc<approvals::Approvals>>,
    /// Ticket decisions, evidence, work notes and reviews (`None`: none).
    pub tickets: Option<Arc<tickets::Tickets>>,
    /// Verification verdicts, their evidence on sync records, and rollback.
    pub verifications: Option<Arc<verification::Verifications>>,
    /// The extension's API and the auditor's pages.
    pub ui: ui::Access,
}

/// Serves `listener` over `store` with `workers` runtime threads until a signal or the end of the
/// writer; see [`serve`].
///
/// # Errors
///
/// A thread cannot be started, or the writer stopped.
pub fn run(
    listener: std::net::TcpListener,
    store: impl Store,
    ctx: Context,
    workers: usize,
    limits: server::Limits,
) -> Result<(), SinkError> {
    let addr = listener.local_addr().ok();
    listener.set_nonblocking(true).map_err(SinkError::Thread)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("http")
        .enable_all()
        .build()
        .map_err(SinkError::Thread)?;
    let health = Arc::new(Health::default());
    let (appender, writer) = Appender::spawn(
        store,
        Arc::clone(&ctx.metrics),
        Arc::clone(&health),
        ctx.knowledge,
        ctx.on_durable,
    )
    .map_err(SinkError::Thread)?;
    let mut watching = None;
    if let Some(watch) = ctx.watch {
        let health = Arc::new(watched::WatchHealth {
            unhealthy_after: watch.unhealthy_after,
            ..watched::WatchHealth::default()
        });
        let _ = ctx.metrics.watch.set(Arc::clone(&health));
        let recorder = watched::WatchRecorder {
            appender: appender.clone(),
            metrics: Arc::clone(&ctx.metrics),
            change_pattern: ctx.change_pattern.clone(),
            reader: ctx.reader.clone(),
            health,
            data_dir: ctx.served.data_dir.clone(),
            approvals: ctx.approvals.clone().map(|a| (a, runtime.handle().clone())),
            tickets: ctx.tickets.clone(),
            runtime: runtime.handle().clone(),
        };
        let import = !watched::import_marker(&ctx.served.data_dir).exists();
        watching = Some(watch::spawn(
            WatchConfig { import, ..watch },
            Arc::new(recorder),
        )?);
    }
    let handlers = Arc::new(http::Context {
        auth: ctx.auth,
        appender,
        metrics: ctx.metrics,
        health: Arc::clone(&health),
        reader: ctx.reader,
        queries: query::QueryPool::default(),
        change_pattern: ctx.change_pattern,
        max_body: ctx.max_body,
        request_deadline: http::REQUEST_DEADLINE,
        served: Arc::new(ctx.served),
        approvals: ctx.approvals,
        tickets: ctx.tickets,
        verifications: ctx.verifications,
        ui: Arc::new(ctx.ui),
    });
    let served: Result<_, SinkError> = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(SinkError::Thread)?;
        let stop = stop_signal(&health);
        tracing::info!(
            addr = %addr.map_or_else(|| "?".to_owned(), |a| a.to_string()),
            workers,
            max_body = handlers.max_body,
            max_connections = limits.max_connections,
            auth = !handlers.auth.is_open(),
            read_token = handlers.auth.has_read_token(),
            guard_token_review = handlers.auth.reviews_guard_tokens(),
            "listening"
        );
        Ok(server::run(listener, handlers, limits, stop).await)
    });
    // What the watch saw and the webhook has not delivered yet is recorded now, while the writer still
    // runs: a delivery after the restart is then a duplicate, and nothing seen is lost. Before the
    // runtime stops: the watch's records get their approval evidence on it (sink/watched.rs).
    if let Some(w) = &watching {
        if let Some(n) = w.flush(WATCH_FLUSH) {
            tracing::info!(recorded = n, "the watch's pending operations are recorded");
        } else {
            tracing::warn!("the watch did not record its pending operations in time");
        }
    }
    // In-flight requests past the grace period are dropped with the runtime (none was acknowledged).
    runtime.shutdown_timeout(Duration::from_secs(1));
    let (stop, finished) = served?;
    let stopped = writer.stop();
    match stop {
        Some(Stop::Signal(name)) => {
            tracing::info!(
                signal = name,
                in_flight_finished = finished,
                "stopped: no longer accepting, in-flight requests answered, log fsynced"
            );
            stopped.map_err(|_| SinkError::WriterStopped)
        }
        Some(Stop::WriterGone) | None => Err(SinkError::WriterStopped),
    }
}

/// Resolves on SIGTERM or SIGINT, or a little after the writer thread ends.
async fn stop_signal(health: &Health) -> Stop {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM/SIGINT; the sink stops only when killed");
        health.gone.notified().await;
        tokio::time::sleep(WRITER_GONE_LINGER).await;
        return Stop::WriterGone;
    };
    tokio::select! {
        _ = term.recv() => Stop::Signal("SIGTERM"),
        _ = int.recv() => Stop::Signal("SIGINT"),
        () = health.gone.notified() => {
            tracing::error!("the audit writer stopped; answering 503 and exiting");
            tokio::time::sleep(WRITER_GONE_LINGER).await;
            Stop::WriterGone
        }
    }
}

/// Raises the soft limit of open files to the hard one: each connection holds a descriptor.
fn raise_open_files_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_connections as u64 + 64 => tracing::warn!(
            limit,
            max_connections,
            "the open-files limit is below --max-connections; accepting pauses when it is reached"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
}

/// What the records in the log teach the gate findings of the next ones (src/record/gate.rs), read from
/// every segment on a side thread, so that a quick start (docs/audit-log.md, "Index and start-up") is
/// not held up by it: the writer waits for it before its first batch. The chain was verified by
/// opening the log; a record this version cannot read teaches nothing.
fn learn(data_dir: &std::path::Path) -> writer::Learned {
    let dir = data_dir.to_path_buf();
    let read = move || {
        let mut knowledge = Knowledge::default();
        let segments = crate::ledger::segment::segments(&dir).unwrap_or_default();
        for seg in segments {
            let Ok(mut lines) = crate::ledger::line::Lines::of_file(&seg.path, u64::MAX) else {
                continue;
            };
            while let Ok(Some((_, line))) = lines.next_line() {
                if let Ok(map) = serde_json::from_slice(line) {
                    if let Ok(record) = Record::from_map(map) {
                        knowledge.observe(&record.body);
                    }
                }
            }
        }
        knowledge
    };
    match std::thread::Builder::new()
        .name("audit-knowledge".into())
        .spawn(read)
    {
        Ok(handle) => writer::Learned::loading(handle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a thread; gate findings start from nothing");
            Knowledge::default().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Outcome;
    use crate::record::Body;
    use std::io::{Read, Write};

    /// A store whose writer thread dies on the first batch (a bug, or anything that panics).
    struct Dying;

    impl Store for Dying {
        fn append_batch(&mut self, _: &[Body]) -> Result<Vec<Outcome>, LedgerError> {
            panic!("the writer dies (test)")
        }
        fn head(&self) -> (u64, u64) {
            (0, 0)
        }
        fn durable_head(&self) -> Head {
            Head::default()
        }
        fn close(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn request(addr: std::net::SocketAddr, text: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(text.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn when_the_writer_dies_healthz_is_503_and_the_sink_stops_with_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ctx = Context {
            auth: auth::Auth::new(None, None, None),
            metrics: Arc::default(),
            reader: crate::ledger::Reader::empty(SCHEMA),
            change_pattern: Regex::new(crate::commit::DEFAULT_CHANGE_PATTERN).expect("re"),
            max_body: 1 << 20,
            knowledge: Knowledge::default().into(),
            watch: None,
            on_durable: Box::new(|_| {}),
            served: served::Served {
                tree: crate::ledger::tree::Writer::empty(std::path::Path::new("/nonexistent"))
                    .reader(),
                data_dir: "/nonexistent".into(),
            },
            approvals: None,
            tickets: None,
            verifications: None,
            ui: ui::Access::new(None, None, None, std::path::PathBuf::new()),
        };
        let limits = server::Limits {
            max_connections: 16,
            grace: Duration::from_secs(2),
        };
        let server = std::thread::spawn(move || run(listener, Dying, ctx, 1, limits));
        let healthy = request(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(healthy.starts_with("HTTP/1.1 200"), "{healthy}");
        let body = r#"{"app": "shop", "at": "2026-01-02T00:00:00Z", "allowed": true}"#;
        let post = request(
            addr,
            &format!(
                "POST /v1/guard HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(post.starts_with("HTTP/1.1 503"), "{post}");
        assert!(
            !post.contains("/nonexistent"),
            "no server path in an answer: {post}"
        );
        // The writer thread unwinds (answering its batch 503) just before it is marked gone.
        let mut health = String::new();
        for _ in 0..50 {
            health = request(
                addr,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            if !health.starts_with("HTTP/1.1 200") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(health.starts_with("HTTP/1.1 503"), "{health}");
        assert!(health.contains("writer has stopped"), "{health}");
        let started = std::time::Instant::now();
        let result = server.join().expect("the server thread");
        assert!(
            matches!(result, Err(SinkError::WriterStopped)),
            "{result:?}"
        );
        // `sluice serve` ends with exit code 1 on this error (cli/error.rs: every sink error is a failure).
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
