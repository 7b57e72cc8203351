//! Approval evidence on sync records: a `sync-succeeded` or `sync-failed` record of an app that an
//! approvals rule covers gets the evidence of the guard's decision for its revision; a sync that has
//! none (a selective sync, a rollback, a source that bypasses the plugin, a guard that could not reach
//! the sink, a sync only the watch saw) is judged after the fact the same way, and flagged
//! `unapproved` or `approval-unverified` when the host does not back it.

use super::run::Ask;
use super::Approvals;
use crate::record::evidence::{Approval, DECIDED_AFTER};
use crate::record::{Body, SyncEvent, SYNC_FAILED, SYNC_SUCCEEDED};
use serde_json::Value;

/// What the sink needs of the Application to judge its sync after the fact (read from the request
/// body before the body is dropped: only these strings are kept).
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    pub repo_url: Option<String>,
    pub target_revision: Option<String>,
    /// The Source Hydrator's dry revision of the synced (hydrated) revision.
    pub dry_sha: Option<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.as_object()?.get(*k))?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The source of an event body's Application: the dry source of a Source Hydrator (with the dry
/// revision of the hydrated commit when Argo CD's status names it), else `spec.source`, else the
/// first of `spec.sources`.
pub fn source_of(body: &Value) -> SourceInfo {
    let app = body.get("app").unwrap_or(&Value::Null);
    let owned = |s: Option<&str>| s.map(str::to_owned);
    if let Some(dry) = app.pointer("/spec/sourceHydrator/drySource") {
        let status = app
            .pointer("/status/sourceHydrator")
            .unwrap_or(&Value::Null);
        let synced = str_at(app, &["status", "operationState", "syncResult", "revision"]);
        let dry_sha = ["lastSuccessfulOperation", "currentOperation"]
            .iter()
            .filter_map(|k| status.get(*k))
            .find(|op| synced.is_none() || str_at(op, &["hydratedSHA"]) == synced)
            .and_then(|op| str_at(op, &["drySHA"]));
        return SourceInfo {
            repo_url: owned(str_at(dry, &["repoURL"])),
            target_revision: owned(str_at(dry, &["targetRevision"])),
            dry_sha: owned(dry_sha),
        };
    }
    let source = app
        .pointer("/spec/source")
        .filter(|s| s.is_object())
        .or_else(|| app.pointer("/spec/sources/0"))
        .unwrap_or(&Value::Null);
    SourceInfo {
        repo_url: owned(str_at(source, &["repoURL"])),
        target_revision: owned(str_at(source, &["targetRevision"])),
        dry_sha: None,
    }
}

/// The finding of evidence on a sync: none when approved; when the sync was stopped by the guard's
/// own refusal (a failed sync whose guard hook failed), none either: the control worked.
fn finding(sync: &SyncEvent, evidence: &Approval) -> Option<String> {
    let guard_failed = sync.event == SYNC_FAILED
        && matches!(sync.gate.as_present(), Some(Some(g)) if g.guard.as_deref() == Some("Failed"));
    if guard_failed {
        return None;
    }
    Approval::finding_of(&evidence.verdict)
}

impl Approvals {
    /// Adds the `approval` member to a sync record draft when an approvals rule covers its app.
    pub async fn attach(&self, draft: &mut Body, source: &SourceInfo) {
        let Body::Sync(sync) = draft else {
            return;
        };
        if !matches!(sync.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED) {
            return;
        }
        let Some(revision) = sync.revision.clone() else {
            return;
        };
        let app = sync.app.name.clone();
        let found = {
            let (app, revision) = (app.clone(), revision.clone());
            self.registry
                .with_async(move |r| r.decision(&app, &revision))
                .await
        };
        let claimed = sync.approved_by.clone();
        if let Some((seq, mut evidence)) = found {
            evidence.decision = Some(seq);
            evidence.claimed_approvers = claimed;
            evidence.finding = finding(sync, &evidence);
            sync.approval = crate::record::Added::Present(Some(evidence));
            return;
        }
        let clusters: Vec<String> = [&sync.destination.server, &sync.destination.name]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let ask = Ask {
            app,
            repo_url: source.repo_url.clone(),
            target_revision: source.target_revision.clone(),
            revision,
            reviewed: source.dry_sha.clone(),
            own: None,
            project: sync.app.project.clone(),
            clusters,
            decided: DECIDED_AFTER,
            claimed,
            budget: self.after_budget,
        };
        let Some(eff) = self.rules_for(&ask, None).await else {
            return;
        };
        let mut evidence = self.run(&ask, &eff).await.evidence;
        evidence.finding = finding(sync, &evidence);
        sync.approval = crate::record::Added::Present(Some(evidence));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_source_and_the_hydrators_dry_revision() {
        let plain = json!({"app": {"spec": {"source": {"repoURL": "https://github.com/o/r.git", "targetRevision": "main"}}}});
        let s = source_of(&plain);
        assert_eq!(
            (
                s.repo_url.as_deref(),
                s.target_revision.as_deref(),
                s.dry_sha
            ),
            (Some("https://github.com/o/r.git"), Some("main"), None)
        );
        let multi =
            json!({"app": {"spec": {"sources": [{"repoURL": "https://gitlab.com/g/p.git"}]}}});
        assert_eq!(
            source_of(&multi).repo_url.as_deref(),
            Some("https://gitlab.com/g/p.git")
        );
        let hydrated = json!({"app": {
            "spec": {"sourceHydrator": {"drySource": {"repoURL": "https://github.com/o/dry.git", "targetRevision": "HEAD", "path": "apps/shop"},
                                        "syncSource": {"targetBranch": "env/prod", "path": "apps/shop"}}},
            "status": {"operationState": {"syncResult": {"revision": "hyd2"}},
                       "sourceHydrator": {"lastSuccessfulOperation": {"drySHA": "dry1", "hydratedSHA": "hyd1"},
                                          "currentOperation": {"drySHA": "dry2", "hydratedSHA": "hyd2"}}}}});
        let s = source_of(&hydrated);
        assert_eq!(s.repo_url.as_deref(), Some("https://github.com/o/dry.git"));
        assert_eq!(s.dry_sha.as_deref(), Some("dry2"));
        assert_eq!(source_of(&json!({})).repo_url, None);
    }
}
