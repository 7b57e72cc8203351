//! Group commit: one thread owns the [`AuditLog`]; request handlers send it a draft and a reply channel
//! and wait. The writer takes everything queued, appends it as one batch (one write, one fsync), and only
//! then answers every handler of the batch, so an acknowledgement still means "on disk" while N
//! concurrent requests cost one fsync instead of N.

use super::metrics::Metrics;
use crate::audit::log::{AuditLog, Outcome};
use crate::audit::record::Body;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Most records in one batch (bounds the write size and the time to the first reply).
const MAX_BATCH: usize = 1024;

/// Requests waiting for the writer before handlers block (back-pressure).
const QUEUE: usize = 4096;

/// The record could not be made durable; the client should retry (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log could not make the record durable: {0}")]
pub struct Unavailable(pub String);

struct Job {
    draft: Body,
    reply: SyncSender<Result<Outcome, Unavailable>>,
}

/// A handle to the writer thread, cloned into each worker.
#[derive(Clone)]
pub struct Appender {
    tx: SyncSender<Job>,
}

impl Appender {
    /// Starts the writer thread over `log`.
    pub fn spawn(log: AuditLog, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || run(log, &rx, &metrics))?;
        Ok(Appender { tx })
    }

    /// Appends `draft` and waits until it is durable (or found to be a duplicate).
    ///
    /// # Errors
    ///
    /// The batch could not be written or fsynced, or the writer is gone.
    pub fn append(&self, draft: Body) -> Result<Outcome, Unavailable> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job { draft, reply };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => self
                .tx
                .send(job)
                .map_err(|_| Unavailable("the writer has stopped".into()))?,
            Err(TrySendError::Disconnected(_)) => {
                return Err(Unavailable("the writer has stopped".into()))
            }
        }
        answer
            .recv()
            .map_err(|_| Unavailable("the writer has stopped".into()))?
    }
}

/// Longest the writer sleeps between checks whether the active segment is due by age.
const AGE_CHECK: Duration = Duration::from_mins(1);

/// Seals the active segment when it is due by size or age (see [`AuditLog::roll_if_due`]).
fn roll(log: &mut AuditLog) {
    if let Err(e) = log.roll_if_due(chrono::Utc::now().timestamp()) {
        tracing::error!(error = %e, "cannot seal the active audit segment; appending to it goes on, sealing is tried again");
    }
}

fn run(mut log: AuditLog, rx: &Receiver<Job>, metrics: &Metrics) {
    loop {
        let wait = log
            .due_in(chrono::Utc::now().timestamp())
            .map_or(AGE_CHECK, |s| Duration::from_secs(s).min(AGE_CHECK));
        let first = match rx.recv_timeout(wait) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                roll(&mut log);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        roll(&mut log);
        let mut drafts = vec![first.draft];
        let mut replies = vec![first.reply];
        while drafts.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    drafts.push(job.draft);
                    replies.push(job.reply);
                }
                Err(_) => break,
            }
        }
        match log.append_batch(&drafts) {
            Ok(outcomes) => {
                let written = outcomes
                    .iter()
                    .filter(|o| matches!(o, Outcome::Appended { .. }))
                    .count();
                if written > 0 {
                    metrics.batches.fetch_add(1, Relaxed);
                    metrics.batched_records.fetch_add(written as u64, Relaxed);
                }
                metrics.log_bytes.store(log.total_bytes(), Relaxed);
                metrics.last_seq.store(log.head().seq, Relaxed);
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A handler that gave up waiting is no reason to stop.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                metrics.write_failures.fetch_add(1, Relaxed);
                tracing::error!(error = %e, records = drafts.len(), "append failed; answering 503, nothing acknowledged");
                let why = Unavailable(e.to_string());
                for reply in replies {
                    let _ = reply.send(Err(why.clone()));
                }
            }
        }
    }
}
