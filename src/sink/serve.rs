//! `sluice serve`, start to end, on one tokio runtime: open (and verify) the ledger, which takes the
//! data directory's lock and keeps the sink's memory of the log (memory.rs); listen; start the writer
//! thread, the query threads, the ledger's chores, the checkpoint signer (and its witnesses), the
//! archive uploader and the Application watch; serve until SIGTERM or SIGINT (or the writer's end);
//! then stop them as one tree, each after what feeds it: stop accepting and finish the requests in
//! flight, stop the watch (which first records what it still holds), let the writer answer its queue
//! and fsync, finish the chores (the last marker), close the query queue, sign the last head, give the
//! archive a last pass.

use super::approvals::{self, Approvals};
use super::auth::{self, Auth};
use super::evidence::{self, Evidence, Sources};
use super::handlers::{self, Context};
use super::memory::Memory;
use super::metrics::{Metrics, TicketFigures};
use super::query::QueryPool;
use super::served::Served;
use super::server;
use super::tickets::{self, Tickets};
use super::tokenreview;
use super::ui;
use super::verification::{rollback::Rollback, Verifications};
use super::watch::{self, WatchConfig, WatchError};
use super::watched::{self, WatchHealth, WatchRecorder};
use super::writer::{Appender, Health, Store};
use crate::ledger::chores::Chore;
use crate::ledger::{Head, Ledger, LedgerError, Reader, Rolling};
use crate::record::SCHEMA;
use regex::Regex;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Threads of the runtime's blocking pool, at most (chores, signing rounds, tiles and records read
/// for `/v1/log/` and the evidence, a duplicate's read-back).
const BLOCKING_THREADS: usize = 4;

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
    #[error("the audit writer stopped (see the log above); exiting so that the sink is restarted")]
    WriterStopped,
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
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
/// An argument is out of range, another sink holds the data directory, the log cannot be read or its
/// chain is broken (naming the line), the listener, the runtime or a thread cannot be started, or the
/// writer stopped.
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
    // The ledger's chores (the marker, the start's keys and tiles) wait here until the runtime runs
    // them; a chore the runtime can no longer take is run at once.
    let (chores, chores_rx) = mpsc::unbounded_channel::<Chore>();
    let log = Ledger::<Memory>::open_serving(
        &config.data_dir,
        chrono::Utc::now().timestamp(),
        config.rolling,
        SCHEMA,
        move |chore| {
            if let Err(mpsc::error::SendError(chore)) = chores.send(chore) {
                chore.run();
            }
        },
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("sluice-rt")
        .enable_all()
        .build()
        .map_err(SinkError::Runtime)?;
    // SIGTERM and SIGINT are handled from before the port is bound: once it answers, a signal stops
    // the sink in order (src/signals.rs).
    let signals = crate::signals::Stop::listen_in(&runtime, "sink");
    let listener =
        std::net::TcpListener::bind(&config.listen).map_err(|source| SinkError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    raise_open_files_limit(config.max_connections);
    let reader = log.reader();
    // The approvals and verification services read what the log says from the sink's memory, which
    // the ledger keeps (src/sink/memory.rs).
    let call_timeout = config.approvals.call_timeout;
    let approvals = Approvals::start(
        config.approvals,
        config.data_dir.clone(),
        Arc::clone(&log.fold().approvals),
        reader.clone(),
        Arc::clone(&metrics),
    )
    .map_err(SinkError::Approvals)?;
    let rollback = if config.rollback.is_empty() {
        None
    } else {
        Some(Rollback::new(config.rollback, call_timeout).map_err(SinkError::Approvals)?)
    };
    let verifications = Verifications::new(
        Arc::clone(&log.fold().verifications),
        reader.clone(),
        rollback,
        Arc::clone(&metrics),
    );
    let tickets = Tickets::start(
        config.tickets,
        config.data_dir.clone(),
        Arc::clone(&log.fold().tickets),
        reader.clone(),
        Arc::clone(&metrics),
    )
    .map_err(SinkError::Tickets)?;
    let _ = metrics.hosts.set(approvals.host_metrics());
    let _ = metrics.tickets.set(TicketFigures {
        systems: tickets.system_metrics(),
        reviews: Box::new(tickets.review_counts()),
    });
    let _ = metrics
        .verification
        .set(verifications.rollback_host_metrics());
    let parts = Parts {
        signals,
        auth: Auth::new(
            config.token.as_deref(),
            config.read_token.as_deref(),
            config.guard_review.map(|g| {
                let reviewer: Arc<dyn auth::Reviewer> =
                    Arc::new(tokenreview::KubeReviewer::new(g.kubeconfig));
                (reviewer, g.audience)
            }),
        ),
        reader,
        metrics,
        change_pattern: config.change_pattern,
        max_body: config.max_body,
        workers: config.workers,
        limits: server::Limits {
            max_connections: config.max_connections,
            grace: SHUTDOWN_GRACE,
        },
        watch: config.watch.map(|w| WatchConfig {
            import: !watched::import_marker(&config.data_dir).exists(),
            ..w
        }),
        evidence: Some((
            config.evidence,
            config.data_dir.clone(),
            log.head().clone(),
            Sources {
                tree: log.tree(),
                records: log.reader(),
            },
        )),
        served: Served {
            tree: log.tree(),
            data_dir: config.data_dir.clone(),
        },
        approvals: Some(Arc::new(approvals)),
        tickets: Some(Arc::new(tickets)),
        verifications: Some(Arc::new(verifications)),
        ui: UiKeys {
            proxy: config.ui_proxy_secret.as_deref().map(ui::digest),
            read: config.read_token.as_deref().map(ui::digest),
            write: config.token.as_deref().map(ui::digest),
            data_dir: config.data_dir.clone(),
        },
    };
    let served = runtime.block_on(async move {
        let chores = run_chores(chores_rx);
        let served = run(listener, log, parts).await;
        // The ledger is dropped with the writer: the chores end after the last marker.
        let _ = chores.await;
        served
    });
    // Anything still running (a request past the grace period) is dropped with the runtime; none of
    // it was acknowledged.
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

/// Runs the ledger's chores: a task that runs them one at a time, in order, on the blocking pool, until
/// the ledger is dropped.
fn run_chores(mut rx: mpsc::UnboundedReceiver<Chore>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(chore) = rx.recv().await {
            let _ = tokio::task::spawn_blocking(move || chore.run()).await;
        }
    })
}

/// What [`run`] needs besides the listener and the store.
pub struct Parts {
    /// SIGTERM and SIGINT, listened for since before the listener was bound (`None`: the sink stops
    /// only when its writer does).
    pub signals: Option<crate::signals::Stop>,
    pub auth: Auth,
    pub metrics: Arc<Metrics>,
    pub reader: Reader,
    pub change_pattern: Regex,
    pub max_body: usize,
    /// Runtime threads (the query threads are one less than the cores).
    pub workers: usize,
    pub limits: server::Limits,
    /// The Application watch to start once the writer runs (`--watch-applications`).
    pub watch: Option<WatchConfig>,
    /// Checkpoints, witnesses and the archive, over the data directory, from the durable head.
    pub evidence: Option<(evidence::Config, PathBuf, Head, Sources)>,
    /// The checkpoint and tiles served under `/v1/log/`.
    pub served: Served,
    /// Approvals decisions and evidence (`None`: none are made, `POST /v1/decide` is 404).
    pub approvals: Option<Arc<Approvals>>,
    /// Ticket decisions, evidence, work notes and reviews (`None`: none).
    pub tickets: Option<Arc<Tickets>>,
    /// Verification verdicts, their evidence on sync records, and rollback.
    pub verifications: Option<Arc<Verifications>>,
    /// Who may read the read side for people (src/sink/ui).
    pub ui: UiKeys,
}

/// The digests of the credentials of the read side for people, and where the checkpoints are.
pub struct UiKeys {
    pub proxy: Option<[u8; 32]>,
    pub read: Option<[u8; 32]>,
    pub write: Option<[u8; 32]>,
    pub data_dir: PathBuf,
}

/// Serves `listener` over `store` until a signal or the end of the writer, on the current runtime;
/// then stops everything it started, in order (see the module doc).
///
/// # Errors
///
/// The Kubernetes client, a thread or the evidence cannot be started, or the writer stopped.
pub async fn run(
    listener: std::net::TcpListener,
    store: impl Store,
    parts: Parts,
) -> Result<(), SinkError> {
    let addr = listener.local_addr().ok();
    listener.set_nonblocking(true).map_err(SinkError::Thread)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(SinkError::Thread)?;
    let kube = match &parts.watch {
        Some(w) => Some(watch::client(w).await?),
        None => None,
    };
    let evidence = parts.evidence.map(|(config, dir, head, sources)| {
        Evidence::start(config, dir, head, sources, &parts.metrics)
    });
    let on_durable = evidence.as_ref().map(Evidence::on_durable);
    let health = Arc::new(Health::default());
    let (appender, writer) = Appender::spawn(
        store,
        Arc::clone(&parts.metrics),
        Arc::clone(&health),
        move |head: &Head| {
            if let Some(tell) = &on_durable {
                tell(head);
            }
        },
    )
    .map_err(SinkError::Thread)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let queries = Arc::new(
        QueryPool::start(&parts.reader, cores.saturating_sub(1).max(1))
            .map_err(SinkError::Thread)?,
    );
    let (stop_watch, watch_stopped) = tokio::sync::watch::channel(false);
    let watch_task = match (kube, parts.watch) {
        (Some(client), Some(config)) => {
            let health = Arc::new(WatchHealth {
                unhealthy_after: config.unhealthy_after,
                ..WatchHealth::default()
            });
            let _ = parts.metrics.watch.set(Arc::clone(&health));
            let recorder = WatchRecorder {
                appender: appender.clone(),
                metrics: Arc::clone(&parts.metrics),
                change_pattern: parts.change_pattern.clone(),
                reader: parts.reader.clone(),
                health,
                data_dir: parts.served.data_dir.clone(),
                approvals: parts.approvals.clone(),
                tickets: parts.tickets.clone(),
                verifications: parts.verifications.clone(),
            };
            Some(tokio::spawn(async move {
                watch::run(client, &config, &recorder, watch_stopped).await;
            }))
        }
        _ => None,
    };
    let (auth, read_token, guard_token_review) = (
        !parts.auth.is_open(),
        parts.auth.has_read_token(),
        parts.auth.reviews_guard_tokens(),
    );
    let ctx = Arc::new(Context {
        auth: parts.auth,
        appender,
        metrics: parts.metrics,
        health: Arc::clone(&health),
        reader: parts.reader,
        queries: Arc::clone(&queries),
        change_pattern: parts.change_pattern,
        max_body: parts.max_body,
        request_deadline: handlers::REQUEST_DEADLINE,
        served: Arc::new(parts.served),
        ui: Arc::new(ui::Access::new(
            parts.ui.proxy,
            parts.ui.read,
            parts.ui.write,
            parts.ui.data_dir,
            Arc::clone(&queries),
        )),
        approvals: parts.approvals,
        tickets: parts.tickets,
        verifications: parts.verifications,
    });
    tracing::info!(
        addr = %addr.map_or_else(|| "?".to_owned(), |a| a.to_string()),
        workers = parts.workers,
        query_threads = queries.threads(),
        max_body = ctx.max_body,
        max_connections = parts.limits.max_connections,
        auth,
        read_token,
        guard_token_review,
        "listening"
    );
    let (stop, finished) = server::run(
        listener,
        ctx,
        parts.limits,
        stop_signal(parts.signals, &health),
    )
    .await;
    // The shutdown tree, each part after what feeds it. The watch first records what it still holds
    // (the writer still runs): a delivery after the restart is then a duplicate, nothing seen is lost.
    stop_watch.send_replace(true);
    if let Some(task) = watch_task {
        let abort = task.abort_handle();
        if tokio::time::timeout(WATCH_FLUSH, task).await.is_err() {
            abort.abort();
            tracing::warn!("the watch did not record its pending operations in time");
        }
    }
    let stopped = writer.stop().await;
    queries.close();
    if let Some(evidence) = evidence {
        evidence.finish().await;
    }
    match stop {
        Some(Stop::Signal(name)) => {
            tracing::info!(
                signal = name,
                in_flight_finished = finished,
                "stopped: no longer accepting, in-flight requests answered, log fsynced"
            );
            stopped.map_err(|()| SinkError::WriterStopped)
        }
        Some(Stop::WriterGone) | None => Err(SinkError::WriterStopped),
    }
}

/// Resolves on SIGTERM or SIGINT (when `signals` listens for them), or a little after the writer
/// thread ends.
async fn stop_signal(signals: Option<crate::signals::Stop>, health: &Health) -> Stop {
    tokio::select! {
        name = crate::signals::Stop::received_if(signals) => Stop::Signal(name),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Outcome;
    use crate::record::Body;
    use std::io::{Read, Write};

    /// A store whose writer thread dies on the first batch (a bug, or anything that panics).
    struct Dying(crate::record::gate::Knowledge);

    impl Store for Dying {
        fn append_batch(&mut self, _: &[Body]) -> Result<Vec<Outcome>, LedgerError> {
            panic!("the writer dies (test)")
        }
        fn knowledge(&self) -> &crate::record::gate::Knowledge {
            &self.0
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
        let parts = Parts {
            signals: None,
            auth: Auth::new(None, None, None),
            metrics: Arc::default(),
            reader: crate::ledger::Reader::empty(SCHEMA),
            change_pattern: Regex::new(crate::commit::DEFAULT_CHANGE_PATTERN).expect("re"),
            max_body: 1 << 20,
            workers: 1,
            limits: server::Limits {
                max_connections: 16,
                grace: Duration::from_secs(2),
            },
            watch: None,
            evidence: None,
            served: Served {
                tree: crate::ledger::tree::Writer::empty(std::path::Path::new("/nonexistent"))
                    .reader(),
                data_dir: "/nonexistent".into(),
            },
            approvals: None,
            tickets: None,
            verifications: None,
            ui: UiKeys {
                proxy: None,
                read: None,
                write: None,
                data_dir: PathBuf::new(),
            },
        };
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(run(
                listener,
                Dying(crate::record::gate::Knowledge::default()),
                parts,
            ))
        });
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
        // The writer thread unwinds (answering its batch 503) just before it is marked gone: poll, with
        // a generous deadline.
        let deadline = std::time::Instant::now() + Duration::from_mins(1);
        let health = loop {
            assert!(
                std::time::Instant::now() < deadline,
                "/healthz never said the writer stopped"
            );
            let health = request(
                addr,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            if !health.starts_with("HTTP/1.1 200") {
                break health;
            }
        };
        assert!(health.starts_with("HTTP/1.1 503"), "{health}");
        assert!(health.contains("writer has stopped"), "{health}");
        let result = server.join().expect("the server thread");
        // `sluice serve` ends with exit code 1 on this error (cli/error.rs: every sink error is a failure).
        assert!(
            matches!(result, Err(SinkError::WriterStopped)),
            "{result:?}"
        );
    }
}
