//! What the log says about each app's verification: its recent verdicts (the `verification` records,
//! by revision and start), whether it has checks at all (a verdict or a sync's verification member
//! was ever recorded), the revision last synced, and the revert pull requests already opened (so that
//! a second report of the same failure opens none). Measurements in progress are kept in memory only.
//! Read from every segment when the sink starts, on a side thread the first use waits for (the
//! gates' loader, src/sink/registry.rs); then each durable record is observed.

use crate::record::evidence::{PullRequestRef, Verification};
use crate::record::{Body, SYNC_SUCCEEDED};
use crate::sink::registry::{holds, Learn};
use std::collections::{HashMap, VecDeque};

/// Verdicts remembered per app.
const VERDICTS_KEPT: usize = 32;
/// Measurements in progress remembered (oldest dropped first).
const PROGRESS_KEPT: usize = 1024;

/// A recorded verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub revision: String,
    pub seq: u64,
    pub verification: Verification,
}

/// One app.
#[derive(Debug, Default, Clone)]
pub struct AppState {
    pub verdicts: VecDeque<Verdict>,
    /// The app's syncs have had checks.
    pub has_checks: bool,
    /// The revision last synced successfully.
    pub synced: Option<String>,
}

/// Every app's state, and what is in progress.
#[derive(Debug, Default)]
pub struct Registry {
    apps: HashMap<String, AppState>,
    /// (app, revision) → the latest progress report.
    progress: HashMap<(String, String), Verification>,
    progress_order: VecDeque<(String, String)>,
    /// (repository, revision) → the revert pull request opened for it.
    reverts: HashMap<(String, String), PullRequestRef>,
}

impl Registry {
    pub fn app(&self, app: &str) -> AppState {
        self.apps.get(app).cloned().unwrap_or_default()
    }

    /// The latest verdict for `revision` of `app` whose verification started at or after `not_before`
    /// (RFC 3339; `None`: any).
    pub fn verdict(&self, app: &str, revision: &str, not_before: Option<&str>) -> Option<Verdict> {
        let since = not_before.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        self.apps
            .get(app)?
            .verdicts
            .iter()
            .rev()
            .find(|v| {
                let started = v
                    .verification
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                same_revision(&v.revision, revision)
                    && since.is_none_or(|s| started.is_none_or(|t| t >= s))
            })
            .cloned()
    }

    /// Keeps a progress report.
    pub fn progress(&mut self, app: &str, revision: &str, v: Verification) {
        let key = (app.to_owned(), revision.to_owned());
        if self.progress.insert(key.clone(), v).is_none() {
            self.progress_order.push_back(key);
        }
        while self.progress_order.len() > PROGRESS_KEPT {
            if let Some(old) = self.progress_order.pop_front() {
                self.progress.remove(&old);
            }
        }
        self.apps.entry(app.to_owned()).or_default().has_checks = true;
    }

    /// The latest progress of `revision` of `app`.
    pub fn in_progress(&self, app: &str, revision: &str) -> Option<Verification> {
        self.progress
            .iter()
            .find(|((a, r), _)| a == app && same_revision(r, revision))
            .map(|(_, v)| v.clone())
    }

    /// The revert pull request already opened for `revision` of `repository`.
    pub fn revert(&self, repository: &str, revision: &str) -> Option<PullRequestRef> {
        self.reverts
            .get(&(repository.to_owned(), revision.to_owned()))
            .cloned()
    }

    pub fn remember_revert(&mut self, repository: &str, revision: &str, pull: PullRequestRef) {
        self.reverts
            .insert((repository.to_owned(), revision.to_owned()), pull);
    }
}

/// Revisions match in full, or when one is the other's abbreviation (the hook knows the full commit;
/// an old report may carry the short one).
fn same_revision(a: &str, b: &str) -> bool {
    !a.is_empty()
        && !b.is_empty()
        && (a == b || (a.len() >= 7 && b.starts_with(a)) || (b.len() >= 7 && a.starts_with(b)))
}

impl Learn for Registry {
    /// Only verification records, syncs with a verification member, and successful syncs.
    fn wants(line: &[u8]) -> bool {
        holds(line, b"\"verification") || holds(line, b"sync-succeeded")
    }

    /// Learns from a durable record; seeing a record twice keeps one verdict.
    fn observe(&mut self, seq: u64, body: &Body) {
        match body {
            Body::Verify(v) => {
                let revision = v.revision.clone().unwrap_or_default();
                let state = self.apps.entry(v.app.name.clone()).or_default();
                state.has_checks = true;
                if state.verdicts.iter().any(|known| known.seq == seq) {
                    return;
                }
                if state.verdicts.len() == VERDICTS_KEPT {
                    state.verdicts.pop_front();
                }
                state.verdicts.push_back(Verdict {
                    revision: revision.clone(),
                    seq,
                    verification: v.verification.clone(),
                });
                self.progress.remove(&(v.app.name.clone(), revision));
            }
            Body::Sync(s) => {
                let verification = s.verification.as_present().and_then(Option::as_ref);
                let state = self.apps.entry(s.app.name.clone()).or_default();
                if verification.is_some() {
                    state.has_checks = true;
                }
                if s.event == SYNC_SUCCEEDED && s.phase.as_deref() == Some("Succeeded") {
                    state.synced.clone_from(&s.revision);
                }
                let opened = verification
                    .and_then(|v| v.rollback.as_ref())
                    .and_then(|r| {
                        Some((
                            r.repository.clone()?,
                            r.revision.clone()?,
                            r.pull_request.clone()?,
                        ))
                    });
                if let Some((repository, revision, pull)) = opened {
                    self.reverts.insert((repository, revision), pull);
                }
            }
            Body::Guard(_) | Body::Review(_) | Body::Confirmation(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviated_revisions_match_full_ones() {
        assert!(same_revision("0123456789abcdef", "0123456"));
        assert!(same_revision("0123456", "0123456789abcdef"));
        assert!(!same_revision("0123", "0123456789abcdef"));
        assert!(!same_revision("", ""));
    }

    #[test]
    fn a_verdict_seen_twice_is_kept_once_and_the_loader_reads_only_what_teaches() {
        use crate::record::verification::{report, verification_record};
        let body = serde_json::json!({"app": "shop", "namespace": "production", "changeId": "CHG-1",
            "revision": "0123456789", "final": true, "verification": {"verdict": "Failed", "reason": "r",
            "onFailure": "record", "within": "5m", "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:03Z", "checks": []}});
        let record = verification_record(&report(&body).unwrap(), "2026-01-01T00:00:04Z");
        let mut r = Registry::default();
        // The loader may read a record its handler then observes again (src/sink/registry.rs).
        r.observe(5, &record);
        r.observe(5, &record);
        let app = r.app("shop");
        assert!(app.has_checks);
        assert_eq!(app.verdicts.len(), 1);
        assert_eq!(
            r.verdict("shop", "0123456789", None).map(|v| v.seq),
            Some(5)
        );
        assert!(Registry::wants(
            br#"{"event":"verification","verification":{}}"#
        ));
        assert!(Registry::wants(br#"{"event":"sync-succeeded"}"#));
        assert!(!Registry::wants(
            br#"{"event":"guard-decision","approval":{}}"#
        ));
    }
}
