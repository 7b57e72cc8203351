//! The sink's side of the Application watch (src/watch/): the append path the watch records through,
//! the same extraction, idempotency key and group-commit writer as a webhook delivery. When the watch
//! finds its operation already recorded by the webhook with the same facts, it appends a confirmation
//! of that record (src/record/confirm.rs); with other facts, it confirms nothing and logs the conflict.

use super::metrics::{Metrics, Outcome as Counted};
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::record::{self, confirm, Body, Via};
use crate::watch::{RecordError, Recorder};
use regex::Regex;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Records what the watch saw.
pub struct WatchRecorder {
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub change_pattern: Regex,
    /// Reads back the record a watched operation duplicates.
    pub reader: crate::ledger::Reader,
}

impl Recorder for WatchRecorder {
    fn record(&self, body: &Value, via: Via) -> Result<Outcome, RecordError> {
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let draft = record::event_record_via(body, &received_at, &self.change_pattern, via)
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
        let content = draft.clone();
        let outcome = self.appender.append_blocking(draft);
        let counted = match &outcome {
            Ok(Outcome::Appended { .. }) => Counted::Created,
            Ok(Outcome::Duplicate { seq }) => {
                match self.confirm(*seq, &content, via, &received_at) {
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
}

impl WatchRecorder {
    /// The watch saw the operation of the record at `seq`: confirms a webhook record whose facts
    /// agree (one confirmation per record: its key is derived from the record's), and reports a
    /// conflict when they differ.
    fn confirm(
        &self,
        seq: u64,
        watched: &Body,
        via: Via,
        received_at: &str,
    ) -> Result<Counted, RecordError> {
        let Some(stored) = self
            .reader
            .record(seq)
            .and_then(|found| record::read_found(found).ok())
        else {
            // Unreadable now: the watch tries the operation again later.
            return Err(RecordError::Unavailable(format!(
                "cannot read back record {seq} to confirm it"
            )));
        };
        if !super::http::same_content(&stored, watched) {
            tracing::warn!(
                seq,
                app = stored.body.app_name(),
                "the Application shows this operation with other facts than its recorded delivery: not confirmed"
            );
            return Ok(Counted::Conflict);
        }
        if let Some(confirmation) = confirm::confirmation_record(&stored, via, received_at) {
            self.appender
                .append_blocking(confirmation)
                .map_err(|e| RecordError::Unavailable(e.to_string()))?;
        }
        Ok(Counted::Duplicate)
    }
}
