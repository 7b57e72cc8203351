//! `onFailure: rollback` (docs/hooks.md): the way back that keeps Git the source of truth. On a
//! sync whose verification ended Failed, the sink opens a revert pull (merge) request of the change
//! at the Git host ([`crate::host::revert`]) with its own write credentials (`--github-write-token-file`,
//! `--gitlab-write-token-file`, or the GitHub App asked for write permissions only here), labelled and
//! titled with the change id; once per change: a pull request already opened for the revision (known
//! from the log, or found at the host by its branch) is the answer to every later report. It never
//! restores a Velero backup (that loses data written since): the record and the pull request carry the
//! exact `velero restore` command and the backup's name. Without write access, or when the revert
//! cannot be made safely, the record carries the commands.

use crate::host::client::{Endpoint, Hosts};
use crate::host::revert::{self, RevertError, Target};
use crate::record::evidence::{PullRequestRef, RollbackEvidence};
use serde_json::Map;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::time::Instant;

/// How long opening a revert may hold up the sync's webhook.
pub const BUDGET: Duration = Duration::from_secs(20);

/// The writer: hosts with write credentials.
pub struct Rollback {
    hosts: Hosts,
    budget: Duration,
}

/// What the revert is of.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    pub app: String,
    pub change_id: Option<String>,
    pub repo_url: Option<String>,
    /// The branch Argo CD syncs (`targetRevision`).
    pub branch: Option<String>,
    /// The revision synced before the change.
    pub base: Option<String>,
    pub revision: String,
    /// The pre-change Velero Backup.
    pub backup: Option<String>,
    /// Why the verification failed.
    pub reason: String,
}

/// The commands that revert `base..revision` on `branch` by hand: the inverse diff applied on the
/// branch's head (merge commits and all), committed and pushed for review.
pub fn revert_commands(branch: Option<&str>, base: &str, revision: &str) -> Vec<String> {
    let short = revision.get(..12).unwrap_or(revision);
    let branch = branch.unwrap_or("<the branch Argo CD syncs>");
    vec![
        format!("git fetch origin {branch}"),
        format!("git switch -c sluice/revert-{short} origin/{branch}"),
        format!("git diff --binary {revision} {base} | git apply --index --3way"),
        format!(
            "git commit -m \"Revert {short}: back to {}\"",
            base.get(..12).unwrap_or(base)
        ),
        format!("git push origin sluice/revert-{short}"),
    ]
}

/// `velero restore create --from-backup NAME`.
pub fn restore_command(backup: &str) -> String {
    format!("velero restore create --from-backup {backup}")
}

impl Rollback {
    /// A writer for `endpoints` (each with its write credential).
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built.
    pub fn new(endpoints: Vec<Endpoint>, call_timeout: Duration) -> Result<Rollback, String> {
        Ok(Rollback {
            hosts: Hosts::writer(endpoints, call_timeout)?,
            budget: BUDGET,
        })
    }

    /// The repository path of `repo_url` at a host the writer has credentials for.
    pub fn resolve(&self, repo_url: Option<&str>) -> Option<String> {
        self.hosts.resolve(repo_url?).map(|(_, r)| r)
    }

    /// The writer's requests to the hosts, as a family of their own (`sluice_rollback_host_*`), apart
    /// from the approvals' reader.
    pub fn render(&self, o: &mut String) {
        let mut lines = String::new();
        self.hosts.metrics.render(&mut lines);
        o.push_str(
            &lines
                .replace("sluice_host_", "sluice_rollback_host_")
                .replace(
                    "Requests to the Git hosts",
                    "Requests of the revert writer to the Git hosts",
                ),
        );
    }

    /// Opens (or finds) the revert pull request of a failed change; `known`: the one the log says
    /// was opened for this revision.
    pub async fn run(&self, ask: &Ask, known: Option<PullRequestRef>) -> RollbackEvidence {
        let mut ev = evidence(ask, None);
        let Some(base) = ask
            .base
            .clone()
            .filter(|b| !b.is_empty() && *b != ask.revision)
        else {
            ev.reason = "the revision synced before the change is not known: no revert can be computed; roll back with `argocd app rollback` (audit show prints it)".into();
            return ev;
        };
        let Some((endpoint, repository)) =
            ask.repo_url.as_deref().and_then(|u| self.hosts.resolve(u))
        else {
            ev.reason = format!(
                "no Git host with write access serves {}: the commands are the way back",
                ask.repo_url.as_deref().unwrap_or("the app's repository")
            );
            return ev;
        };
        ev.host = Some(endpoint.kind.as_str().to_owned());
        ev.repository = Some(repository.clone());
        if let Some(pull) = known {
            ev.action = "pull-request-exists".into();
            ev.reason = format!(
                "the revert pull request #{} was opened for this revision before",
                pull.number
            );
            ev.pull_request = Some(pull);
            return ev;
        }
        let change = ask.change_id.as_deref().unwrap_or("");
        let title = if change.is_empty() {
            format!(
                "Revert {} of {}: verification failed",
                short(&ask.revision),
                ask.app
            )
        } else {
            format!("Revert {change}: verification of {} failed", ask.app)
        };
        let target = Target {
            kind: endpoint.kind,
            repository: repository.clone(),
            branch: ask.branch.clone(),
            base: base.clone(),
            revision: ask.revision.clone(),
            title: title.clone(),
            body: body(ask, &base),
            labels: (!change.is_empty())
                .then(|| change.to_owned())
                .into_iter()
                .collect(),
        };
        let source = self
            .hosts
            .source(endpoint, &repository, Instant::now() + self.budget);
        match revert::open(&source, &target).await {
            Ok(pull) => {
                ev.action = if pull.opened {
                    "pull-request-opened"
                } else {
                    "pull-request-exists"
                }
                .into();
                ev.reason = format!(
                    "{} revert pull request #{} into {}",
                    if pull.opened {
                        "opened the"
                    } else {
                        "found the"
                    },
                    pull.number,
                    pull.base_branch
                );
                ev.branch = Some(pull.base_branch.clone());
                ev.revert = revert_commands(Some(&pull.base_branch), &base, &ask.revision);
                ev.pull_request = Some(PullRequestRef {
                    number: pull.number,
                    url: pull.url,
                    branch: pull.branch,
                    title: pull.title,
                    extra: Map::new(),
                });
            }
            Err(RevertError::Unsafe(why)) => {
                ev.action = "commands-only".into();
                ev.reason = why;
            }
            Err(RevertError::Host(e)) => {
                ev.action = "failed".into();
                ev.reason = format!("the host did not open the revert: {e}");
            }
        }
        ev
    }
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// The pull request's body: why, the change, and the way back for data.
fn body(ask: &Ask, base: &str) -> String {
    let mut b = format!(
        "The post-change verification of `{}` failed after the sync of `{}`:\n\n> {}\n\nThis reverts every path the change touched (`{}..{}`) to its state at `{}`, the revision synced before. Merging it lets Argo CD sync the way back; Git stays the source of truth.\n",
        ask.app, ask.revision, ask.reason.replace('\n', " "), short(base), short(&ask.revision), short(base)
    );
    if let Some(change) = &ask.change_id {
        let _ = write!(b, "\nChange: {change}\n");
    }
    match &ask.backup {
        Some(backup) => {
            let _ = write!(
                b,
                "\nData: the pre-change Velero backup is `{backup}`. sluice does not restore it (everything written since would be lost); if the data must go back too:\n\n    {}\n",
                restore_command(backup)
            );
        }
        None => b.push_str("\nData: no pre-change backup is recorded for this sync.\n"),
    }
    b.push_str("\nOpened by sluice (onFailure: rollback).\n");
    b
}

/// The evidence before anything is asked: the commands, no pull request.
pub fn evidence(ask: &Ask, why: Option<String>) -> RollbackEvidence {
    let base = ask.base.clone().filter(|b| !b.is_empty());
    RollbackEvidence {
        action: "commands-only".into(),
        reason: why.unwrap_or_default(),
        host: None,
        repository: None,
        branch: ask.branch.clone(),
        base: base.clone(),
        revision: Some(ask.revision.clone()),
        pull_request: None,
        revert: base
            .as_deref()
            .map(|b| revert_commands(ask.branch.as_deref(), b, &ask.revision))
            .unwrap_or_default(),
        restore: ask.backup.as_deref().map(restore_command),
        backup: ask.backup.clone(),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_revert_the_change_and_name_the_backup() {
        let ask = Ask {
            app: "shop".into(),
            change_id: Some("CHG-7".into()),
            branch: Some("main".into()),
            base: Some("b".repeat(40)),
            revision: "c".repeat(40),
            backup: Some("pre-change-chg-7-abc".into()),
            ..Ask::default()
        };
        let ev = evidence(&ask, Some("not Failed".into()));
        assert_eq!(ev.action, "commands-only");
        assert!(ev.revert[2].starts_with(&format!(
            "git diff --binary {} {} |",
            "c".repeat(40),
            "b".repeat(40)
        )));
        assert_eq!(
            ev.restore.as_deref(),
            Some("velero restore create --from-backup pre-change-chg-7-abc")
        );
        let text = body(&ask, &"b".repeat(40));
        assert!(
            text.contains("velero restore create --from-backup pre-change-chg-7-abc")
                && text.contains("Change: CHG-7")
        );
    }
}
