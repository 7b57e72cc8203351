//! The sink's side of the Application watch (src/watch/): the append path the watch records through,
//! the same extraction, idempotency key and group-commit writer as a webhook delivery; the watch's
//! health for `/healthz` and `/metrics`; and the marker that the first listing was imported
//! (`DATA_DIR/watch/imported`).

use super::metrics::{Metrics, Outcome as Counted};
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::record::{self, Via};
use crate::watch::{RecordError, Recorder};
use regex::Regex;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The marker, under the data directory, that the first listing was imported.
pub fn import_marker(data_dir: &Path) -> PathBuf {
    data_dir.join("watch").join("imported")
}

/// The watch's health.
#[derive(Debug, Default)]
pub struct WatchHealth {
    /// How long the watch may fail before the sink says it is degraded (`--watch-unhealthy-after`;
    /// kube-rs retries with backoff, and a brief outage of the API server is not worth a page).
    pub unhealthy_after: Duration,
    /// Unix time since which the watch fails (0: it works).
    pub failing_since: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Finished operations waiting for the webhook's grace period.
    pub pending: AtomicU64,
}

impl WatchHealth {
    /// The watch's lines of the Prometheus exposition.
    pub fn render(&self, o: &mut String) {
        let since = self.failing_since.load(Relaxed);
        let _ = writeln!(
            o,
            "# HELP sluice_watch_healthy 1 while the Application watch works, 0 while it fails (it retries).\n\
             # TYPE sluice_watch_healthy gauge\nsluice_watch_healthy {}\n\
             # HELP sluice_watch_failing_since_timestamp_seconds Unix time since which the watch fails (0: it works).\n\
             # TYPE sluice_watch_failing_since_timestamp_seconds gauge\n\
             sluice_watch_failing_since_timestamp_seconds {since}\n\
             # HELP sluice_watch_errors_total Errors of the Application watch (each retried with backoff).\n\
             # TYPE sluice_watch_errors_total counter\nsluice_watch_errors_total {}\n\
             # HELP sluice_watch_pending Finished operations the watch holds until the webhook's grace period is over.\n\
             # TYPE sluice_watch_pending gauge\nsluice_watch_pending {}",
            u8::from(since == 0),
            self.errors.load(Relaxed),
            self.pending.load(Relaxed)
        );
    }

    /// Why the sink is degraded, when the watch has failed for `unhealthy_after` by `now`.
    pub fn problem(&self, now: u64) -> Option<String> {
        let since = self.failing_since.load(Relaxed);
        if since == 0 || now.saturating_sub(since) < self.unhealthy_after.as_secs() {
            return None;
        }
        let error = self.last_error.lock().ok().and_then(|e| e.clone());
        Some(format!(
            "the Application watch has failed for {} s (syncs the webhook misses are not recorded): {}",
            now - since,
            error.unwrap_or_default()
        ))
    }
}

/// Records what the watch saw.
pub struct WatchRecorder {
    pub appender: Appender,
    pub metrics: Arc<Metrics>,
    pub change_pattern: Regex,
    pub health: Arc<WatchHealth>,
    pub data_dir: PathBuf,
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

impl Recorder for WatchRecorder {
    fn record(&self, body: &Value, via: Via) -> Result<Outcome, RecordError> {
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let draft = record::event_record_via(body, &received_at, &self.change_pattern, via)
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
        let outcome = self.appender.append_blocking(draft);
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

    fn imported(&self) {
        let marker = import_marker(&self.data_dir);
        let written = marker
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&marker, format!("{}\n", chrono::Utc::now().to_rfc3339())))
            .and_then(|()| std::fs::File::open(&marker)?.sync_all());
        match written {
            Ok(()) => tracing::info!("the syncs from before sluice are imported; later ones are recorded as they come"),
            Err(e) => tracing::warn!(path = %marker.display(), error = %e, "cannot write the import marker; the next start imports again (as duplicates)"),
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
