//! Verification on sync records: a `sync-succeeded` or `sync-failed` record gets the verdict the
//! `PostSync` hook recorded for its revision during the operation (`report` names that record); a
//! sync whose hook reported measurements but no verdict gets those, `unverified`; a sync of an app
//! with checks that ran no verification at all (a selective sync, a rollback, a source that
//! bypasses the plugin, a hook that died) is `unverified` too. Then, for a Failed verdict with
//! `onFailure: rollback`, the way back ([`super::rollback`]).

use super::rollback::{self, Ask};
use super::Verifications;
use crate::record::evidence::{Verification, UNVERIFIED};
use crate::record::{Body, SyncEvent, SYNC_FAILED, SYNC_SUCCEEDED};
use serde_json::{Map, Value};

/// How long before the operation's start a verdict still counts as its own (clock skew between the
/// hook's node and the controller).
const SLACK_SECONDS: i64 = 120;

/// What the Application says of the verification hook of its operation.
#[derive(Debug, Clone, Default)]
pub struct HookSeen {
    /// The `PostSync` Job `<app>-sluice-verify` is in `syncResult.resources`.
    pub ran: bool,
    /// Its hook phase.
    pub phase: Option<String>,
    /// The Application's source (for the revert): repository and branch.
    pub repo_url: Option<String>,
    pub target_revision: Option<String>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Reads the hook and the source from a webhook body (before the body is dropped).
pub fn hook_of(body: &Value) -> HookSeen {
    let app = body.get("app").unwrap_or(&Value::Null);
    let hook = app
        .pointer("/status/operationState/syncResult/resources")
        .and_then(Value::as_array)
        .and_then(|rs| {
            rs.iter().find(|r| {
                str_at(r, "/hookType") == Some("PostSync")
                    && str_at(r, "/kind") == Some("Job")
                    && str_at(r, "/name").is_some_and(|n| n.ends_with("sluice-verify"))
            })
        });
    let source = app
        .pointer("/spec/source")
        .filter(|s| s.is_object())
        .or_else(|| app.pointer("/spec/sources/0"))
        .unwrap_or(&Value::Null);
    HookSeen {
        ran: hook.is_some(),
        phase: hook
            .and_then(|h| str_at(h, "/hookPhase"))
            .map(str::to_owned),
        repo_url: str_at(source, "/repoURL").map(str::to_owned),
        target_revision: str_at(source, "/targetRevision").map(str::to_owned),
    }
}

fn unverified(reason: String, partial: Option<Verification>) -> Verification {
    let mut v = partial.unwrap_or(Verification {
        verdict: None,
        finding: None,
        reason: String::new(),
        on_failure: None,
        within: None,
        started_at: None,
        finished_at: None,
        checks: Vec::new(),
        report: None,
        rollback: None,
        extra: Map::new(),
    });
    v.verdict = None;
    v.finding = Some(UNVERIFIED.to_owned());
    v.reason = reason;
    v
}

/// The start of the operation, minus the slack.
fn not_before(sync: &SyncEvent) -> Option<String> {
    let start = chrono::DateTime::parse_from_rfc3339(sync.started_at.as_deref()?).ok()?;
    Some((start - chrono::Duration::seconds(SLACK_SECONDS)).to_rfc3339())
}

impl Verifications {
    /// Adds the `verification` member to a sync record draft when the app has checks, and takes
    /// the way back of a failed change with `onFailure: rollback`.
    pub async fn attach(&self, draft: &mut Body, hook: &HookSeen) {
        let Body::Sync(sync) = draft else {
            return;
        };
        if !matches!(sync.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED) {
            return;
        }
        let Some(revision) = sync.revision.clone() else {
            return;
        };
        let (app, since) = (sync.app.name.clone(), not_before(sync));
        let found = {
            let (app, revision) = (app.clone(), revision.clone());
            self.registry
                .with_async(move |r| {
                    (
                        r.verdict(&app, &revision, since.as_deref()),
                        r.in_progress(&app, &revision),
                        r.app(&app),
                    )
                })
                .await
        };
        let member = match found {
            (Some(v), _, _) => {
                let mut m = v.verification;
                m.report = Some(v.seq);
                m.finding = Verification::finding_of(m.verdict.as_deref());
                m
            }
            (None, Some(partial), _) => unverified(
                format!(
                    "the verify hook reported {} measurements and no verdict (it was stopped, or the sink did not record its verdict)",
                    partial.checks.iter().map(|c| c.measurements.len()).sum::<usize>()
                ),
                Some(partial),
            ),
            (None, None, _) if hook.ran => unverified(
                format!(
                    "the verify hook ran (phase {}) and no verdict was recorded",
                    hook.phase.as_deref().unwrap_or("unknown")
                ),
                None,
            ),
            (None, None, state) if state.has_checks && sync.event == SYNC_SUCCEEDED => unverified(
                "the app has verification checks and this sync ran none (a selective sync, a rollback, or a source that bypasses the plugin)".into(),
                None,
            ),
            _ => return,
        };
        let member = self.roll_back(sync, member, hook).await;
        sync.verification = crate::record::Added::Present(Some(member));
    }

    /// The way back of a failed verification with `onFailure: rollback`.
    async fn roll_back(
        &self,
        sync: &SyncEvent,
        mut member: Verification,
        hook: &HookSeen,
    ) -> Verification {
        if member.on_failure.as_deref() != Some("rollback")
            || member.verdict.as_deref().is_none_or(|v| v == "Successful")
        {
            return member;
        }
        let revision = sync.revision.clone().unwrap_or_default();
        let ask = Ask {
            app: sync.app.name.clone(),
            change_id: sync.change_id.clone(),
            repo_url: hook.repo_url.clone(),
            branch: hook.target_revision.clone(),
            base: sync.previous_revision.clone(),
            revision: revision.clone(),
            backup: sync.backup.clone(),
            reason: member.reason.clone(),
        };
        let evidence = if member.verdict.as_deref() != Some("Failed") {
            rollback::evidence(
                &ask,
                Some(format!(
                    "the verdict is {}, not Failed: no revert is opened (the change was not shown to be bad); the commands are the way back",
                    member.verdict.as_deref().unwrap_or("")
                )),
            )
        } else if let Some(writer) = &self.rollback {
            let known = match (&hook.repo_url, writer.resolve(hook.repo_url.as_deref())) {
                (Some(_), Some(repository)) => {
                    let rev = revision.clone();
                    self.registry
                        .with_async(move |r| r.revert(&repository, &rev))
                        .await
                }
                _ => None,
            };
            let ev = writer.run(&ask, known).await;
            if let (Some(repository), Some(pull)) = (&ev.repository, &ev.pull_request) {
                let (repository, rev, pull) = (repository.clone(), revision.clone(), pull.clone());
                self.registry
                    .with_async(move |r| r.remember_revert(&repository, &rev, pull))
                    .await;
            }
            ev
        } else {
            rollback::evidence(
                &ask,
                Some("the sink has no write access to the Git host (--github-write-token-file, --gitlab-write-token-file or a GitHub App): the commands are the way back".into()),
            )
        };
        self.count_rollback(&evidence.action);
        tracing::info!(app = %sync.app.name, action = %evidence.action, "{}", evidence.reason);
        member.rollback = Some(evidence);
        member
    }
}
