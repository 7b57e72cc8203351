//! What the log says about each app's verification: its recent verdicts (the `verification` records,
//! by revision and start; the evidence is in the records), whether it has checks at all (a verdict or
//! a sync's verification member was ever recorded), the revision last synced, and the revert pull
//! requests already opened (so that a second report of the same failure opens none). Part of the
//! sink's memory of the log (src/sink/memory.rs): the ledger feeds it each record once it is in the
//! log and keeps it beside the verified-prefix marker, so a restart reads nothing. Measurements in
//! progress are kept in memory only (they are not in the log) and are not saved.

use crate::record::evidence::{PullRequestRef, Verification};
use crate::record::facts::{self, Facts, Member, Members};
use crate::record::{
    EMERGENCY_REVIEW, GUARD_DECISION, SYNC_SUCCEEDED, VERIFICATION, WATCH_CONFIRMATION,
};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

/// Verdicts remembered per app.
const VERDICTS_KEPT: usize = 32;
/// Measurements in progress remembered (oldest dropped first).
const PROGRESS_KEPT: usize = 1024;

/// A recorded verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub revision: String,
    /// When the verification started (RFC 3339), as its record says.
    pub started_at: Option<String>,
    /// The `verification` record.
    pub seq: u64,
}

/// One app.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppState {
    pub verdicts: VecDeque<Verdict>,
    /// The app's syncs have had checks.
    pub has_checks: bool,
    /// The revision last synced successfully.
    pub synced: Option<String>,
}

/// A revert pull request opened for a revision of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Revert {
    repository: String,
    revision: String,
    pull: PullRequestRef,
}

/// Every app's state, and what is in progress.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    apps: HashMap<String, AppState>,
    reverts: Vec<Revert>,
    /// (app, revision) → the latest progress report (memory only: not in the log).
    #[serde(skip)]
    progress: HashMap<(String, String), Verification>,
    #[serde(skip)]
    progress_order: VecDeque<(String, String)>,
}

/// What a record teaches the registry: read from its line on any core ([`Registry::lesson`]), learnt
/// in log order ([`Registry::learn`]).
#[derive(Debug, Default)]
pub enum Lesson {
    #[default]
    Nothing,
    /// A verification's verdict for `app`.
    Verdict { app: String, verdict: Verdict },
    /// Another record of `app`: whether it carries checks, whether it is a successful sync and the
    /// revision it names, and the revert pull request it names.
    Seen {
        app: String,
        has_checks: bool,
        succeeded: bool,
        revision: Option<String>,
        revert: Option<(String, String, PullRequestRef)>,
    },
}

impl Registry {
    pub fn app(&self, app: &str) -> AppState {
        self.apps.get(app).cloned().unwrap_or_default()
    }

    /// The seq of the latest verdict for `revision` of `app` whose verification started at or after
    /// `not_before` (RFC 3339; `None`: any).
    pub fn verdict(&self, app: &str, revision: &str, not_before: Option<&str>) -> Option<u64> {
        let since = not_before.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        self.apps
            .get(app)?
            .verdicts
            .iter()
            .rev()
            .find(|v| {
                let started = v
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                same_revision(&v.revision, revision)
                    && since.is_none_or(|s| started.is_none_or(|t| t >= s))
            })
            .map(|v| v.seq)
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
            .iter()
            .rev()
            .find(|r| r.repository == repository && r.revision == revision)
            .map(|r| r.pull.clone())
    }

    /// Remembers a revert pull request opened at the host (before the record naming it is written).
    pub fn remember_revert(&mut self, repository: &str, revision: &str, pull: PullRequestRef) {
        if self.revert(repository, revision).as_ref() == Some(&pull) {
            return;
        }
        self.reverts.push(Revert {
            repository: repository.to_owned(),
            revision: revision.to_owned(),
            pull,
        });
    }

    /// What a record that is in the log teaches (its members as the line holds them).
    pub fn lesson(record: &Facts<'_>) -> Lesson {
        let Some(app) = record.named(&["app", "name"]) else {
            return Lesson::Nothing;
        };
        let seq = record.get("seq").and_then(Member::u64).unwrap_or(0);
        let verification = record.filled(&["verification"]);
        match record.text(&["event"]).as_deref() {
            Some(GUARD_DECISION | EMERGENCY_REVIEW | WATCH_CONFIRMATION) | None => Lesson::Nothing,
            Some(VERIFICATION) => Lesson::Verdict {
                app,
                verdict: Verdict {
                    revision: record.named(&["revision"]).unwrap_or_default(),
                    started_at: verification.as_ref().and_then(|v| v.named(&["startedAt"])),
                    seq,
                },
            },
            Some(event) => {
                let succeeded = event == SYNC_SUCCEEDED
                    && record.text(&["phase"]).as_deref() == Some("Succeeded");
                let revert = verification
                    .as_ref()
                    .and_then(|v| v.get("rollback")?.object())
                    .and_then(|r| {
                        let pull = serde_json::from_value(r.get("pullRequest")?.value()?).ok()?;
                        Some((r.named(&["repository"])?, r.named(&["revision"])?, pull))
                    });
                Lesson::Seen {
                    app,
                    has_checks: verification.is_some(),
                    succeeded,
                    revision: succeeded.then(|| record.named(&["revision"])).flatten(),
                    revert,
                }
            }
        }
    }

    /// Learns what a record that is in the log teaches (each once, in log order).
    pub fn learn(&mut self, lesson: &Lesson) {
        match lesson {
            Lesson::Nothing => {}
            Lesson::Verdict { app, verdict } => {
                let state = facts::entry(&mut self.apps, app);
                state.has_checks = true;
                if state.verdicts.len() == VERDICTS_KEPT {
                    state.verdicts.pop_front();
                }
                state.verdicts.push_back(verdict.clone());
                let key = (app.clone(), verdict.revision.clone());
                if self.progress.remove(&key).is_some() {
                    self.progress_order.retain(|k| *k != key);
                }
            }
            Lesson::Seen {
                app,
                has_checks,
                succeeded,
                revision,
                revert,
            } => {
                let state = facts::entry(&mut self.apps, app);
                if *has_checks {
                    state.has_checks = true;
                }
                if *succeeded {
                    state.synced.clone_from(revision);
                }
                if let Some((repository, revision, pull)) = revert {
                    self.remember_revert(repository, revision, pull.clone());
                }
            }
        }
    }

    /// Learns from a record that is in the log (its members as the line holds them).
    #[cfg(test)]
    pub fn observe(&mut self, record: &Map<String, Value>) {
        let lesson = facts::of_map(record, |facts, _| Self::lesson(facts));
        self.learn(&lesson);
    }
}

/// Revisions match in full, or when one is the other's abbreviation (the hook knows the full commit;
/// an old report may carry the short one).
fn same_revision(a: &str, b: &str) -> bool {
    !a.is_empty()
        && !b.is_empty()
        && (a == b || (a.len() >= 7 && b.starts_with(a)) || (b.len() >= 7 && a.starts_with(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observe(r: &mut Registry, record: &Value) {
        r.observe(record.as_object().expect("an object"));
    }

    fn measuring() -> Verification {
        serde_json::from_value(json!({"verdict": null, "finding": null, "reason": "", "onFailure": null,
            "within": null, "startedAt": null, "finishedAt": null, "checks": [], "report": null, "rollback": null}))
        .expect("a verification")
    }

    #[test]
    fn abbreviated_revisions_match_full_ones() {
        assert!(same_revision("0123456789abcdef", "0123456"));
        assert!(same_revision("0123456", "0123456789abcdef"));
        assert!(!same_revision("0123", "0123456789abcdef"));
        assert!(!same_revision("", ""));
    }

    #[test]
    fn learns_verdicts_checks_syncs_and_reverts_and_saves_them_but_not_the_progress() {
        let mut r = Registry::default();
        r.progress("shop", "0123456789", measuring());
        assert!(r.in_progress("shop", "0123456").is_some());
        observe(
            &mut r,
            &json!({"seq": 7, "event": "verification", "app": {"name": "shop"}, "revision": "0123456789",
                    "verification": {"verdict": "Failed", "startedAt": "2026-01-02T10:00:00Z"}}),
        );
        assert!(
            r.in_progress("shop", "0123456789").is_none(),
            "a verdict ends the progress"
        );
        assert_eq!(r.verdict("shop", "0123456", None), Some(7));
        assert_eq!(
            r.verdict("shop", "0123456789", Some("2026-01-02T09:58:00Z")),
            Some(7)
        );
        assert_eq!(
            r.verdict("shop", "0123456789", Some("2026-01-02T10:30:00Z")),
            None,
            "a verdict from before the operation is not its own"
        );
        observe(
            &mut r,
            &json!({"seq": 8, "event": "sync-succeeded", "phase": "Succeeded", "revision": "0123456789",
                    "app": {"name": "shop"},
                    "verification": {"verdict": "Failed", "rollback": {"repository": "o/r", "revision": "0123456789",
                        "pullRequest": {"number": 4, "url": "https://github.com/o/r/pull/4", "branch": "sluice/revert-0123456789ab", "title": "Revert"}}}}),
        );
        let state = r.app("shop");
        assert!(state.has_checks);
        assert_eq!(state.synced.as_deref(), Some("0123456789"));
        assert_eq!(r.revert("o/r", "0123456789").map(|p| p.number), Some(4));
        r.progress("shop", "next", measuring());
        let saved = serde_json::to_value(&r).expect("save");
        let loaded: Registry = serde_json::from_value(saved).expect("load");
        assert!(loaded.in_progress("shop", "next").is_none(), "not saved");
        assert_eq!(loaded.apps, r.apps);
        assert_eq!(loaded.reverts, r.reverts);
    }
}
