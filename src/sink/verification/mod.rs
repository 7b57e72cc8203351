//! The sink's side of post-change verification (docs/hooks.md, "Post-change verification"): the
//! `PostSync` hook reports each measurement (kept in memory) and its verdict (recorded as a
//! `verification` record); the sync record of the same operation gets a copy as its `verification`
//! member, or `unverified` when an app with checks synced without a verdict; a Failed verdict with
//! `onFailure: rollback` opens a revert pull request at the Git host (`rollback`).
//!
//! ```text
//! POST /v1/verifications (final: false) → registry (memory) → 202
//! POST /v1/verifications (final: true) → verification record → append → observe → 201 + the way back
//! POST /v1/events (sync-succeeded | sync-failed) → attach: the verdict of that revision and
//!   operation, else progress, else unverified → rollback (revert PR, bounded) → the sync record
//! ```

mod attach;
mod registry;
pub mod rollback;

pub use attach::hook_of;

use crate::record::verification::Report;
use crate::record::Body;
use crate::sink::registry::{Learn, Shared};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The verification service of a running sink.
pub struct Verifications {
    registry: Arc<Shared<registry::Registry>>,
    rollback: Option<rollback::Rollback>,
    /// verdict → final reports recorded.
    verdicts: Mutex<BTreeMap<String, u64>>,
    /// action → rollbacks.
    rollbacks: Mutex<BTreeMap<String, u64>>,
}

impl Verifications {
    /// Starts the service: the registry read from the log on a side thread.
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn start(
        data_dir: PathBuf,
        rollback: Option<rollback::Rollback>,
    ) -> Result<Verifications, String> {
        Ok(Verifications {
            registry: Arc::new(Shared::load(data_dir, "verification-registry")?),
            rollback,
            verdicts: Mutex::default(),
            rollbacks: Mutex::default(),
        })
    }

    /// Keeps a progress report (`final: false`).
    pub async fn progress(&self, report: &Report) {
        let (app, revision, v) = (
            report.app.clone(),
            report.revision.clone().unwrap_or_default(),
            report.verification.to_evidence(),
        );
        self.registry
            .with_async(move |r| r.progress(&app, &revision, v))
            .await;
    }

    /// What the sink tells the hook about the way back after its verdict is recorded: the revert of
    /// the change in Git (from the revision synced before), for its log and termination message.
    pub async fn way_back(&self, report: &Report) -> Vec<String> {
        let app = report.app.clone();
        let state = self.registry.with_async(move |r| r.app(&app)).await;
        let revision = report.revision.clone().unwrap_or_default();
        match state.synced {
            Some(base) if !revision.is_empty() && base != revision => {
                rollback::revert_commands(None, &base, &revision)
            }
            _ => Vec::new(),
        }
    }

    /// Learns from a durable record.
    pub async fn observe(&self, seq: u64, body: &Body) {
        if let Body::Verify(v) = body {
            let verdict = v.verification.verdict.clone().unwrap_or_default();
            if let Ok(mut m) = self.verdicts.lock() {
                *m.entry(verdict).or_default() += 1;
            }
        }
        if matches!(body, Body::Verify(_) | Body::Sync(_)) {
            let body = body.clone();
            self.registry
                .with_async(move |r| r.observe(seq, &body))
                .await;
        }
    }

    fn count_rollback(&self, action: &str) {
        if let Ok(mut m) = self.rollbacks.lock() {
            *m.entry(action.to_owned()).or_default() += 1;
        }
    }

    /// The Prometheus lines.
    pub fn render(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP sluice_verification_verdicts_total Verification verdicts recorded (the PostSync hook's final reports), by verdict.\n# TYPE sluice_verification_verdicts_total counter"
        );
        if let Ok(m) = self.verdicts.lock() {
            for (verdict, n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_verification_verdicts_total{{verdict=\"{verdict}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP sluice_rollbacks_total What was done about failed verifications with onFailure: rollback, by action.\n# TYPE sluice_rollbacks_total counter"
        );
        if let Ok(m) = self.rollbacks.lock() {
            for (action, n) in m.iter() {
                let _ = writeln!(o, "sluice_rollbacks_total{{action=\"{action}\"}} {n}");
            }
        }
        if let Some(r) = &self.rollback {
            r.render(o);
        }
    }
}
