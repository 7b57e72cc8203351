//! The Application watch's health, as `/healthz` and `/metrics` show it: failing since when, how
//! often, why, and how many operations it holds. Written by the watch's recorder (watched.rs).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

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
