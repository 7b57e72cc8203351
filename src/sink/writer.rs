//! Group commit: one dedicated thread owns the [`Ledger`]; request handlers (async tasks) send it a
//! draft and a reply channel and wait without blocking a runtime thread. The writer takes everything
//! queued, appends it as one batch (one write, one fsync), and only then answers every handler of the
//! batch, so an acknowledgement still means "on disk" while N concurrent requests cost one fsync instead
//! of N.
//!
//! The writer's health is shared with the HTTP layer ([`Health`]): a failed batch makes `/healthz`
//! answer 503 until a batch succeeds again, and the end of the thread (a panic included) is announced
//! so that the process can stop and exit non-zero instead of answering 503 forever.
//!
//! The writer also completes each sync record's gate findings (src/record/gate.rs) from what the
//! records before it taught, in log order, and counts the ungated syncs it writes.

use super::metrics::Metrics;
use crate::ledger::{Head, Ledger, LedgerError, Outcome};
use crate::record::gate::Knowledge;
use crate::record::{Body, SYNC_FAILED, SYNC_SUCCEEDED};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Notify};

/// Most records in one batch (bounds the write size and the time to the first reply).
const MAX_BATCH: usize = 1024;

/// Requests waiting for the writer before handlers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// How long `/healthz` stays 503 after the last failed batch when no batch has succeeded since: long
/// enough for a readiness probe to take the pod out of the Service, short enough that it comes back to
/// try again once space returns (with no traffic, no batch would ever clear the failure).
const FAILING_HOLD: Duration = Duration::from_secs(30);

/// The record could not be made durable; the client should retry (503). The detail (which may name
/// server paths) is for the log, never for the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log could not make the record durable: {0}")]
pub struct Unavailable(pub String);

/// What the writer appends to: the audit log, or a stand-in in tests.
pub trait Store: Send + 'static {
    /// Appends the batch durably (see [`Ledger::append_batch`]).
    ///
    /// # Errors
    ///
    /// Nothing of the batch is durable.
    fn append_batch(&mut self, drafts: &[Body]) -> Result<Vec<Outcome>, LedgerError>;
    /// Byte length and last seq of the durable log.
    fn head(&self) -> (u64, u64);
    /// The last durable record's seq and hash (what a checkpoint signs).
    fn durable_head(&self) -> Head;
    /// Seals the active segment when it is due by size or age (before each batch).
    fn roll(&mut self) {}
    /// A last fsync of the file and its metadata, when the writer stops.
    ///
    /// # Errors
    ///
    /// The fsync failed.
    fn close(&mut self) -> std::io::Result<()>;
}

impl Store for Ledger {
    fn append_batch(&mut self, drafts: &[Body]) -> Result<Vec<Outcome>, LedgerError> {
        Ledger::append_batch(self, drafts)
    }

    fn head(&self) -> (u64, u64) {
        (self.total_bytes(), Ledger::head(self).seq)
    }

    fn durable_head(&self) -> Head {
        Ledger::head(self).clone()
    }

    fn roll(&mut self) {
        if let Err(e) = self.roll_if_due(chrono::Utc::now().timestamp()) {
            tracing::error!(error = %e, "cannot seal the active audit segment; appending to it goes on, sealing is tried again");
        }
    }

    fn close(&mut self) -> std::io::Result<()> {
        // Any descriptor of the file flushes its data and metadata.
        std::fs::File::open(PathBuf::from(self.path()))?.sync_all()
    }
}

/// What the log's records taught the gate findings: ready, or being read on a side thread (the writer
/// waits for it before its first batch).
pub struct Learned {
    ready: Knowledge,
    loading: Option<thread::JoinHandle<Knowledge>>,
}

impl From<Knowledge> for Learned {
    fn from(ready: Knowledge) -> Self {
        Learned {
            ready,
            loading: None,
        }
    }
}

impl Learned {
    /// What a side thread is reading.
    pub fn loading(handle: thread::JoinHandle<Knowledge>) -> Self {
        Learned {
            ready: Knowledge::default(),
            loading: Some(handle),
        }
    }

    fn get(&mut self) -> &mut Knowledge {
        if let Some(handle) = self.loading.take() {
            // A reader that panicked taught nothing: findings start from nothing, as without a log.
            self.ready = handle.join().unwrap_or_default();
        }
        &mut self.ready
    }
}

/// The writer's state as the HTTP layer sees it.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    alive: AtomicBool,
    /// Milliseconds since `started` of the last failed batch, 0 when the last batch succeeded.
    failed_at_ms: AtomicU64,
    /// Notified once when the writer thread ends, whatever the reason.
    pub gone: Notify,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            alive: AtomicBool::new(true),
            failed_at_ms: AtomicU64::new(0),
            gone: Notify::new(),
        }
    }
}

impl Health {
    /// Whether the writer thread still runs.
    pub fn writer_alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    /// Whether appends are failing: the last batch failed, less than [`FAILING_HOLD`] ago.
    pub fn appends_failing(&self) -> bool {
        let at = self.failed_at_ms.load(Relaxed);
        at != 0 && self.elapsed_ms().saturating_sub(at) < FAILING_HOLD.as_millis() as u64
    }

    fn elapsed_ms(&self) -> u64 {
        // Never 0, which means "no failure".
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn batch_done(&self, ok: bool) {
        let value = if ok { 0 } else { self.elapsed_ms() };
        self.failed_at_ms.store(value, Relaxed);
    }
}

/// Marks the writer gone when its thread ends, by returning or by a panic.
struct Alive(Arc<Health>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.store(false, Relaxed);
        self.0.gone.notify_one();
    }
}

struct Job {
    draft: Body,
    reply: Reply,
}

/// Where a job's answer goes: an async handler, or a plain thread (the Application watch, which runs
/// its own runtime and so may not block on tokio's channels).
enum Reply {
    Async(oneshot::Sender<Result<Outcome, Unavailable>>),
    Blocking(std::sync::mpsc::SyncSender<Result<Outcome, Unavailable>>),
}

impl Reply {
    fn send(self, answer: Result<Outcome, Unavailable>) {
        // A requester that went away (a client that hung up) needs no answer.
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(answer);
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(answer);
            }
        }
    }
}

enum Msg {
    Job(Job),
    /// Answer what is queued, fsync, end.
    Stop,
}

/// A handle to the writer thread, shared by the request handlers.
#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Msg>,
}

/// The writer thread, to stop it.
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    thread: thread::JoinHandle<()>,
}

impl Writer {
    /// Lets the writer answer every request queued so far, fsync and end; waits for it. Call it outside
    /// the async runtime.
    ///
    /// # Errors
    ///
    /// The writer thread panicked.
    pub fn stop(self) -> thread::Result<()> {
        // A writer already gone has nothing left to do.
        let _ = self.tx.blocking_send(Msg::Stop);
        self.thread.join()
    }
}

impl Appender {
    /// Starts the writer thread over `store`; `knowledge` is what the log's records taught so far;
    /// `on_durable` is told each new durable head (it must not block: the checkpoint signer only takes
    /// note of it).
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn spawn(
        store: impl Store,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        knowledge: Learned,
        on_durable: impl Fn(&Head) + Send + 'static,
    ) -> std::io::Result<(Self, Writer)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let alive = Alive(health);
                run(store, rx, &metrics, &alive.0, knowledge, &on_durable);
            })?;
        Ok((Appender { tx: tx.clone() }, Writer { tx, thread }))
    }

    /// Appends `draft` and waits until it is durable (or found to be a duplicate).
    ///
    /// # Errors
    ///
    /// The batch could not be written or fsynced, or the writer is gone.
    pub async fn append(&self, draft: Body) -> Result<Outcome, Unavailable> {
        let gone = || Unavailable("the writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        let reply = Reply::Async(reply);
        self.tx
            .send(Msg::Job(Job { draft, reply }))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// [`Appender::append`] for a thread that is not a request handler (the Application watch): waits
    /// on a plain channel, so it may run inside another runtime.
    ///
    /// # Errors
    ///
    /// As [`Appender::append`].
    pub fn append_blocking(&self, draft: Body) -> Result<Outcome, Unavailable> {
        let gone = || Unavailable("the writer has stopped".into());
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let mut msg = Msg::Job(Job {
            draft,
            reply: Reply::Blocking(reply),
        });
        // tokio's blocking send refuses to run inside a runtime: retry a full queue instead.
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    msg = back;
                    thread::sleep(Duration::from_millis(1));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(gone()),
            }
        }
        answer.recv().map_err(|_| gone())?
    }
}

fn run(
    mut store: impl Store,
    mut rx: mpsc::Receiver<Msg>,
    metrics: &Metrics,
    health: &Health,
    mut learned: Learned,
    on_durable: &dyn Fn(&Head),
) {
    while let Some(first) = rx.blocking_recv() {
        let mut drafts = Vec::new();
        let mut replies = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(job) => {
                    drafts.push(job.draft);
                    replies.push(job.reply);
                }
                // Nothing is accepted from now on; what is already queued is still answered.
                Msg::Stop => rx.close(),
            }
            if drafts.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if drafts.is_empty() {
            continue;
        }
        let knowledge = learned.get();
        for draft in &mut drafts {
            if let Body::Sync(s) = draft {
                knowledge.complete(s);
            }
            knowledge.observe(draft);
        }
        store.roll();
        match store.append_batch(&drafts) {
            Ok(outcomes) => {
                health.batch_done(true);
                count_ungated(metrics, &drafts, &outcomes);
                let written = outcomes
                    .iter()
                    .filter(|o| matches!(o, Outcome::Appended { .. }))
                    .count();
                if written > 0 {
                    metrics.batches.fetch_add(1, Relaxed);
                    metrics.batched_records.fetch_add(written as u64, Relaxed);
                }
                let (len, seq) = store.head();
                metrics.log_bytes.store(len, Relaxed);
                metrics.last_seq.store(seq, Relaxed);
                if written > 0 {
                    on_durable(&store.durable_head());
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A handler that gave up waiting is no reason to stop.
                    reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                health.batch_done(false);
                metrics.write_failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, records = drafts.len(), "append failed; answering 503, nothing acknowledged");
                let why = Unavailable(e.to_string());
                for reply in replies {
                    reply.send(Err(why.clone()));
                }
            }
        }
    }
    if let Err(e) = store.close() {
        tracing::error!(error = %e, "the last fsync of the audit log failed");
    }
}

/// Counts the exceptions of the finished operations just written (`deployed` and the other events of
/// the same operation would count it again).
fn count_ungated(metrics: &Metrics, drafts: &[Body], outcomes: &[Outcome]) {
    for (draft, outcome) in drafts.iter().zip(outcomes) {
        let Body::Sync(s) = draft else { continue };
        if matches!(outcome, Outcome::Appended { .. })
            && matches!(s.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED)
        {
            if let Some(Some(g)) = s.gate.as_present() {
                for reason in &g.exceptions {
                    metrics.count_ungated(reason);
                }
            }
        }
    }
}
