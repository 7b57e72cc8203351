//! The sink's side of the Application watch (src/sink/watch/): the append path the watch records
//! through, the same extraction, idempotency key, approval, ticket and verification evidence, work
//! notes and group-commit writer as a webhook delivery; the watch's health (`watch_health.rs`) as the
//! watch reports it; and the marker that the first listing was imported (`DATA_DIR/watch/imported`).
//! When the watch finds its operation already recorded by the webhook with the same facts, it appends
//! a confirmation of that record (src/record/confirm.rs); with other facts, it confirms nothing and
//! logs the conflict.

use super::approvals::{self, Approvals};
use super::metrics::{Metrics, Outcome as Counted};
use super::tickets::Tickets;
use super::verification::{self, Verifications};
use super::watch::{RecordError, Recorder};
pub use super::watch_health::WatchHealth;
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::record::{self, confirm, Body, Via};
use regex::Regex;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The marker, under the data directory, that the first listing was imported.
pub fn import_marker(data_dir: &Path) -> PathBuf {
    data_dir.join("watch").join("imported")
}

/// Records what the watch saw.
pub struct WatchRecorder {
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub change_pattern: Regex,
    /// Reads back the record a watched operation duplicates.
    pub reader: crate::ledger::Reader,
    pub health: Arc<WatchHealth>,
    pub data_dir: PathBuf,
    /// Approval evidence for the sync records (judged after the fact when the guard made no decision).
    pub approvals: Option<Arc<Approvals>>,
    /// Ticket evidence and work notes.
    pub tickets: Option<Arc<Tickets>>,
    /// Verification evidence for the sync records, and the way back of a failed one.
    pub verifications: Option<Arc<Verifications>>,
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

impl Recorder for WatchRecorder {
    async fn record(&self, body: &Value, via: Via) -> Result<Outcome, RecordError> {
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut draft = record::event_record_via(body, &received_at, &self.change_pattern, via)
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
        // The same evidence as a webhook delivery of the sync carries.
        if let Some(approvals) = &self.approvals {
            approvals
                .attach(&mut draft, &approvals::source_of(body))
                .await;
        }
        if let Some(tickets) = &self.tickets {
            tickets.attach(&mut draft).await;
        }
        if let Some(verifications) = &self.verifications {
            verifications
                .attach(&mut draft, &verification::hook_of(body))
                .await;
        }
        let content = draft.clone();
        let outcome = self.appender.append(draft).await;
        if let (Ok(Outcome::Appended { seq, hash }), Some(tickets)) = (&outcome, &self.tickets) {
            tickets.after_append(&tokio::runtime::Handle::current(), *seq, hash, &content);
        }
        let counted = match &outcome {
            Ok(Outcome::Appended { .. }) => Counted::Created,
            Ok(Outcome::Duplicate { seq }) => {
                match self.confirm(*seq, &content, via, &received_at).await {
                    Ok(counted) => counted,
                    Err(e) => {
                        // The watch tries the operation again later.
                        self.metrics.count_watched(via, Counted::Unavailable);
                        return Err(e);
                    }
                }
            }
            Err(_) => Counted::Unavailable,
        };
        self.metrics.count_watched(via, counted);
        outcome.map_err(|e| RecordError::Unavailable(e.to_string()))
    }

    fn relisted(&self) {
        self.metrics.watch_relists.fetch_add(1, Relaxed);
    }

    fn imported(&self) {
        // Once in the sink's life: a small file, written and fsynced here.
        let marker = import_marker(&self.data_dir);
        let written = marker
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::write(&marker, format!("{}\n", chrono::Utc::now().to_rfc3339()))
            })
            .and_then(|()| std::fs::File::open(&marker)?.sync_all());
        match written {
            Ok(()) => tracing::info!(
                "the syncs from before sluice are imported; later ones are recorded as they come"
            ),
            Err(e) => {
                tracing::warn!(path = %marker.display(), error = %e, "cannot write the import marker; the next start imports again (as duplicates)");
            }
        }
    }

    fn failing(&self, error: &str) {
        let _ = self
            .health
            .failing_since
            .compare_exchange(0, unix_now().max(1), Relaxed, Relaxed);
        self.health.errors.fetch_add(1, Relaxed);
        if let Ok(mut e) = self.health.last_error.lock() {
            *e = Some(error.chars().take(500).collect());
        }
    }

    fn working(&self) {
        self.health.failing_since.store(0, Relaxed);
    }

    fn waiting(&self, operations: usize) {
        self.health.pending.store(operations as u64, Relaxed);
    }
}

impl WatchRecorder {
    /// The watch saw the operation of the record at `seq`: confirms a webhook record whose facts
    /// agree (one confirmation per record: its key is derived from the record's), and reports a
    /// conflict when they differ.
    async fn confirm(
        &self,
        seq: u64,
        watched: &Body,
        via: Via,
        received_at: &str,
    ) -> Result<Counted, RecordError> {
        let Some(stored) = super::memory::record_at(&self.reader, seq).await else {
            // Unreadable now: the watch tries the operation again later.
            return Err(RecordError::Unavailable(format!(
                "cannot read back record {seq} to confirm it"
            )));
        };
        if !super::handlers::same_content(&stored, watched) {
            tracing::warn!(
                seq,
                app = stored.body.app_name(),
                "the Application shows this operation with other facts than its recorded delivery: not confirmed"
            );
            return Ok(Counted::Conflict);
        }
        if let Some(confirmation) = confirm::confirmation_record(&stored, via, received_at) {
            self.appender
                .append(confirmation)
                .await
                .map_err(|e| RecordError::Unavailable(e.to_string()))?;
        }
        Ok(Counted::Duplicate)
    }
}
