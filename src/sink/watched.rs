//! The sink's side of the Application watch (src/watch/): the append path the watch records through,
//! the same extraction, idempotency key and group-commit writer as a webhook delivery.

use super::approvals::{self, Approvals};
use super::metrics::{Metrics, Outcome as Counted};
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::record::{self, Via};
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
    /// Approval evidence for the sync records (judged on the sink's runtime, whose handle this is:
    /// the watch runs on a runtime of its own and waits for the answer as it waits for the writer).
    pub approvals: Option<(Arc<Approvals>, tokio::runtime::Handle)>,
}

impl Recorder for WatchRecorder {
    fn record(&self, body: &Value, via: Via) -> Result<Outcome, RecordError> {
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut draft = record::event_record_via(body, &received_at, &self.change_pattern, via)
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
        if let Some((approvals, runtime)) = &self.approvals {
            let (approvals, source) = (Arc::clone(approvals), approvals::source_of(body));
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            runtime.spawn(async move {
                approvals.attach(&mut draft, &source).await;
                let _ = tx.send(draft);
            });
            draft = rx
                .recv()
                .map_err(|_| RecordError::Unavailable("the sink's runtime stopped".into()))?;
        }
        let content = draft.clone();
        let outcome = self.appender.append_blocking(draft);
        if let (Ok(Outcome::Appended { seq, .. }), Some((approvals, runtime))) =
            (&outcome, &self.approvals)
        {
            let (approvals, seq) = (Arc::clone(approvals), *seq);
            runtime.spawn(async move { approvals.observe(seq, &content).await });
        }
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
