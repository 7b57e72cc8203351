//! The sink's side of post-change verification (docs/hooks.md, "Post-change verification"): the
//! `PostSync` hook reports each measurement (kept in memory) and its verdict (recorded as a
//! `verification` record); the sync record of the same operation gets a copy as its `verification`
//! member, or `unverified` when an app with checks synced without a verdict; a Failed verdict with
//! `onFailure: rollback` opens a revert pull request at the Git host (`rollback`).
//!
//! ```text
//! POST /v1/verifications (final: false) → registry (memory) → 202
//! POST /v1/verifications (final: true) → verification record → append → 201 + the way back
//! POST /v1/events (sync-succeeded | sync-failed) → attach: the verdict of that revision and
//!   operation, else progress, else unverified → rollback (revert PR, bounded) → the sync record
//! ```

mod attach;
pub mod registry;
pub mod rollback;

pub use attach::hook_of;

use super::memory::{self, record_at};
use super::metrics::Metrics;
use crate::ledger::Reader;
use crate::record::evidence::Verification;
use crate::record::verification::Report;
use crate::record::Body;
use std::sync::{Arc, Mutex};

/// The verification service of a running sink.
pub struct Verifications {
    /// What the log says (the sink's memory) and what is in progress, and the log itself for the
    /// verdicts it names.
    registry: Arc<Mutex<registry::Registry>>,
    reader: Reader,
    rollback: Option<rollback::Rollback>,
    metrics: Arc<Metrics>,
}

impl Verifications {
    /// The service over the sink's memory of the log (`registry`) and its reader.
    pub fn new(
        registry: Arc<Mutex<registry::Registry>>,
        reader: Reader,
        rollback: Option<rollback::Rollback>,
        metrics: Arc<Metrics>,
    ) -> Verifications {
        Verifications {
            registry,
            reader,
            rollback,
            metrics,
        }
    }

    /// The revert writer's host counters (for `/metrics`), when it has write access somewhere.
    pub fn rollback_host_metrics(&self) -> Option<Arc<crate::host::client::HostMetrics>> {
        self.rollback.as_ref().map(rollback::Rollback::host_metrics)
    }

    /// Keeps a progress report (`final: false`).
    pub fn progress(&self, report: &Report) {
        let revision = report.revision.clone().unwrap_or_default();
        memory::lock(&self.registry).progress(
            &report.app,
            &revision,
            report.verification.to_evidence(),
        );
    }

    /// What the sink tells the hook about the way back after its verdict is recorded: the revert of
    /// the change in Git (from the revision synced before), for its log and termination message.
    pub fn way_back(&self, report: &Report) -> Vec<String> {
        let state = memory::lock(&self.registry).app(&report.app);
        let revision = report.revision.clone().unwrap_or_default();
        match state.synced {
            Some(base) if !revision.is_empty() && base != revision => {
                rollback::revert_commands(None, &base, &revision)
            }
            _ => Vec::new(),
        }
    }

    /// The latest recorded verdict for `revision` of `app` that started at or after `not_before`:
    /// its seq and the verification, read from the log.
    async fn verdict(
        &self,
        app: &str,
        revision: &str,
        not_before: Option<&str>,
    ) -> Option<(u64, Verification)> {
        let seq = memory::lock(&self.registry).verdict(app, revision, not_before)?;
        match record_at(&self.reader, seq).await?.body {
            Body::Verify(v) => Some((seq, v.verification)),
            _ => None,
        }
    }

    /// Counts a verdict the handlers recorded.
    pub fn count(&self, body: &Body) {
        if let Body::Verify(v) = body {
            self.metrics
                .count_verdict(v.verification.verdict.as_deref().unwrap_or_default());
        }
    }

    fn count_rollback(&self, action: &str) {
        self.metrics.count_rollback(action);
    }
}
