//! Where `GET /v1/records` and the UI's pages (src/sink/ui) run: a fixed set of query threads at the
//! lowest CPU priority
//! (`SCHED_IDLE`), one less than the cores (at least one), so that readers, however many, never take
//! CPU that the writer and the request handlers want; the writer never waits for them. The queue in
//! front of them is bounded: when it is full a query is refused at once (the handler answers 503)
//! instead of piling up. Each answer goes back over a oneshot; a requester that stops waiting (its
//! deadline passed, the client went away) drops its end, and the query then stops between two records,
//! or is skipped if it has not started.

use crate::ledger::{Reader, Select};
use crate::record::{self, ReadError, Record};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

/// Queries waiting for a thread, at most.
pub const QUEUE: usize = 64;

/// What a query answers: the records found, as the JSON array `GET /v1/records` sends (each record
/// with its members in the order of its line in the log), printed on the query thread too.
pub type Answer = Result<String, Failure>;

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot print the records: {0}")]
    Print(#[from] serde_json::Error),
}

struct Job {
    select: Select,
    after: Option<u64>,
    limit: usize,
    reply: Reply,
}

/// Where a job's answer goes: printed for `GET /v1/records`, or typed for the UI's pages.
enum Reply {
    Json(oneshot::Sender<Answer>),
    Records(oneshot::Sender<Result<Vec<Record>, ReadError>>),
}

impl Reply {
    fn is_closed(&self) -> bool {
        match self {
            Reply::Json(tx) => tx.is_closed(),
            Reply::Records(tx) => tx.is_closed(),
        }
    }
}

/// The queue is full: the caller should answer 503 and let the client retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// The query threads. Dropping the pool (or [`QueryPool::close`]) ends them once they finish what they
/// run.
pub struct QueryPool {
    tx: Mutex<Option<mpsc::SyncSender<Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The log, for a typed query that finds the queue full (it then runs on its caller's thread).
    reader: Reader,
}

impl QueryPool {
    /// Starts `threads` query threads over `reader`.
    ///
    /// # Errors
    ///
    /// No thread could be started.
    pub fn start(reader: &Reader, threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (rx, reader) = (Arc::clone(&rx), reader.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("audit-query-{i}"))
                .spawn(move || serve(&rx, &reader));
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(e) if handles.is_empty() => return Err(e),
                Err(e) => tracing::warn!(error = %e, "fewer query threads than asked for"),
            }
        }
        Ok(QueryPool {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(handles),
            reader: reader.clone(),
        })
    }

    /// How many query threads run.
    pub fn threads(&self) -> usize {
        self.threads.lock().map_or(0, |t| t.len())
    }

    /// Queues the query; its answer comes on the receiver.
    ///
    /// # Errors
    ///
    /// The queue is full ([`Busy`]).
    pub fn submit(
        &self,
        select: Select,
        after: Option<u64>,
        limit: usize,
    ) -> Result<oneshot::Receiver<Answer>, Busy> {
        let (reply, answer) = oneshot::channel();
        self.send(Job {
            select,
            after,
            limit,
            reply: Reply::Json(reply),
        })?;
        Ok(answer)
    }

    /// The records `select` wants (see [`Reader::query`]), typed, answered by a query thread; for
    /// blocking callers (the UI's pages run on the runtime's blocking pool). When the queue is full or
    /// closed, the query runs on the caller's thread.
    ///
    /// # Errors
    ///
    /// The log cannot be read, or a record does not fit the typed model.
    pub fn query(
        &self,
        select: &Select,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Record>, ReadError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.send(Job {
            select: select.clone(),
            after,
            limit,
            reply: Reply::Records(reply),
        });
        match sent.map(|()| answer.blocking_recv()) {
            Ok(Ok(records)) => records,
            Ok(Err(_)) | Err(Busy) => records(&self.reader, select, after, limit, &|| false),
        }
    }

    fn send(&self, job: Job) -> Result<(), Busy> {
        let tx = self.tx.lock().map_err(|_| Busy)?;
        tx.as_ref().ok_or(Busy)?.try_send(job).map_err(|_| Busy)
    }

    /// Closes the queue: queries are refused from now on, what is queued is skipped once nobody waits
    /// for it, a running query stops between two records, and each thread ends when it has nothing left.
    /// It does not wait for them: they only read, and at the lowest priority a busy machine may leave
    /// them waiting for CPU (they end with the process).
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
    }
}

/// One query thread: at the lowest priority, answering jobs until the pool is dropped.
fn serve(rx: &Mutex<mpsc::Receiver<Job>>, reader: &Reader) {
    let idle = thread_priority::ThreadSchedulePolicy::Normal(
        thread_priority::NormalThreadSchedulePolicy::Idle,
    );
    if let Err(e) = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        idle,
    ) {
        tracing::debug!(error = ?e, "queries run at normal priority");
    }
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if job.reply.is_closed() {
            continue;
        }
        let Job {
            select,
            after,
            limit,
            reply,
        } = job;
        let cancelled = || reply.is_closed();
        let found = records(reader, &select, after, limit, &cancelled);
        match reply {
            Reply::Json(tx) => {
                let _ =
                    tx.send(found.map_err(Failure::from).and_then(|records| {
                        serde_json::to_string(&records).map_err(Failure::from)
                    }));
            }
            Reply::Records(tx) => {
                let _ = tx.send(found);
            }
        }
    }
}

fn records(
    reader: &Reader,
    select: &Select,
    after: Option<u64>,
    limit: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Record>, ReadError> {
    reader
        .query(select, after, limit, cancelled)
        .map_err(ReadError::from)?
        .into_iter()
        .map(record::read_found)
        .collect()
}
