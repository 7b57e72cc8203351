//! The sink's side of the Application watch (src/sink/watch/): the append path the watch records
//! through, the same extraction, idempotency key, approval and verification evidence, and
//! group-commit writer as a webhook delivery.

use super::approvals::{self, Approvals};
use super::metrics::{Metrics, Outcome as Counted};
use super::verification::{self, Verifications};
use super::watch::{RecordError, Recorder};
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::record::{self, Via};
use regex::Regex;
use serde_json::Value;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Records what the watch saw.
pub struct WatchRecorder {
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub change_pattern: Regex,
    /// Approval evidence for the sync records (judged after the fact when the guard made no decision).
    pub approvals: Option<Arc<Approvals>>,
    /// Verification evidence for the sync records, and the way back of a failed one.
    pub verifications: Option<Arc<Verifications>>,
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
        if let Some(verifications) = &self.verifications {
            verifications
                .attach(&mut draft, &verification::hook_of(body))
                .await;
        }
        let outcome = self.appender.append(draft).await;
        let counted = match &outcome {
            Ok(Outcome::Appended { .. }) => Counted::Created,
            Ok(Outcome::Duplicate { .. }) => Counted::Duplicate,
            Err(_) => Counted::Unavailable,
        };
        self.metrics.count_watched(via, counted);
        outcome.map_err(|e| RecordError::Unavailable(e.to_string()))
    }

    fn relisted(&self) {
        self.metrics.watch_relists.fetch_add(1, Relaxed);
    }
}
