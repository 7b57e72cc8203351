//! One judgment: the effective rules, the host's answers within a deadline, the snapshot stored by its
//! digest, the verdict, and the record's evidence. Used by the guard's decision and by syncs judged
//! after the fact alike, so both say the same things the same way.

use super::Approvals;
use crate::approval::{effective, judge, Effective, Judgment, PullJudgment, Verdict};
use crate::evidence::snapshot as store;
use crate::host::snapshot::{Snapshot, VERSION};
use crate::host::{self, Target, GITHUB_API_VERSION};
use crate::policy::approvals::ApprovalsSpec;
use crate::record::evidence::{Approval, ApprovalPull, ApproverEvidence, DismissedEvidence};
use serde_json::{Map, Value};
use std::time::Duration;

/// What is asked about a sync.
#[derive(Debug, Clone)]
pub struct Ask {
    pub app: String,
    /// The Application's source repository and its target revision (a branch, `HEAD`, a tag or a
    /// commit).
    pub repo_url: Option<String>,
    pub target_revision: Option<String>,
    /// The revision synced.
    pub revision: String,
    /// The revision to judge when it is not the one synced (Source Hydrator's `drySha`).
    pub reviewed: Option<String>,
    /// The change's own `approvals` section (`None` after the fact: the sink cannot read it).
    pub own: Option<Value>,
    pub project: Option<String>,
    pub clusters: Vec<String>,
    /// [`crate::record::evidence::DECIDED_AT_SYNC`] or `DECIDED_AFTER`.
    pub decided: &'static str,
    pub claimed: Vec<String>,
    pub budget: Duration,
}

/// The outcome of one judgment.
pub struct Ruling {
    pub evidence: Approval,
    pub rules: ApprovalsSpec,
    pub verdict: Verdict,
}

impl Approvals {
    /// The effective rules for `app`: `None` when nothing (the change, the rules in force, a floor)
    /// asks for approvals.
    pub(super) async fn rules_for(
        &self,
        ask: &Ask,
        own: Option<&ApprovalsSpec>,
    ) -> Option<Effective> {
        let app = ask.app.clone();
        let state = self.registry_state(&app).await;
        let project = ask.project.clone().or(state.project.clone());
        let mut clusters: Vec<&str> = ask.clusters.iter().map(String::as_str).collect();
        clusters.extend(state.clusters.iter().map(String::as_str));
        let floors: Vec<&crate::approval::Floor> = self
            .floors
            .iter()
            .filter(|f| f.applies(project.as_deref(), &clusters))
            .collect();
        effective(own, state.in_force.as_ref().map(|(s, _)| s), &floors)
    }

    pub(super) async fn registry_state(&self, app: &str) -> super::registry::AppState {
        let app = app.to_owned();
        self.registry.with_async(move |r| r.app(&app)).await
    }

    /// Judges `ask` by `rules`: asks the host within the budget, stores the snapshot, gives the
    /// evidence (its `finding` left for the caller, who knows whether the sync went ahead).
    pub(super) async fn run(&self, ask: &Ask, eff: &Effective) -> Ruling {
        let state = self.registry_state(&ask.app).await;
        let base = state.synced.as_ref().map(|(rev, reviewed)| {
            if ask.reviewed.is_some() {
                reviewed.clone().unwrap_or_else(|| rev.clone())
            } else {
                rev.clone()
            }
        });
        let head = ask.reviewed.clone().unwrap_or_else(|| ask.revision.clone());
        let mut evidence = blank(ask, eff, base.clone(), &head);
        if let Some(why) = &eff.below_floor {
            evidence.reason = why.clone();
            Verdict::Unapproved
                .as_str()
                .clone_into(&mut evidence.verdict);
            self.count(ask.decided, &evidence.verdict);
            return Ruling {
                evidence,
                rules: eff.rules.clone(),
                verdict: Verdict::Unapproved,
            };
        }
        let resolved = ask
            .repo_url
            .as_deref()
            .and_then(|url| self.hosts.resolve(url));
        let Some((endpoint, repository)) = resolved else {
            evidence.reason = match &ask.repo_url {
                Some(url) => format!(
                    "no Git host is configured for {url} (sluice serve --github-api-url or --gitlab-url, with credentials)"
                ),
                None => "the sync names no source repository".to_owned(),
            };
            return self.unverified(ask, eff, evidence);
        };
        let target = Target {
            kind: endpoint.kind,
            repository: repository.clone(),
            branch: branch_of(ask.target_revision.as_deref()),
            base: base.filter(|b| b != &head),
            head: head.clone(),
            max_commits: self.max_commits,
            code_owners: eff.rules.code_owners,
        };
        evidence.host = Some(endpoint.kind.as_str().to_owned());
        evidence.repository = Some(repository.clone());
        evidence.base.clone_from(&target.base);
        let deadline = tokio::time::Instant::now() + ask.budget;
        let source = self.hosts.source(endpoint, &repository, deadline);
        let fetched_at = now();
        let (change, exchanges) = host::gather(&source, &target).await;
        let snapshot = Snapshot {
            kind: "approval".into(),
            version: VERSION,
            host: endpoint.kind.as_str().into(),
            api: endpoint.api.clone(),
            api_version: (endpoint.kind == host::Kind::GitHub)
                .then(|| GITHUB_API_VERSION.to_owned()),
            repository,
            branch: target.branch.clone(),
            base: target.base.clone(),
            head,
            max_commits: self.max_commits as u64,
            rules: eff.rules.clone(),
            fetched_at: fetched_at.clone(),
            exchanges,
            error: change.as_ref().err().map(ToString::to_string),
        };
        evidence.fetched_at = Some(fetched_at);
        evidence.snapshot_digest = self.keep(&snapshot).await;
        match change {
            Ok(change) => {
                let judgment = judge(&eff.rules, &change);
                evidence.branch = Some(change.branch.clone());
                evidence.rules_in_force = change.rules_in_force.clone();
                fill(&mut evidence, &judgment);
                self.count(ask.decided, &evidence.verdict);
                Ruling {
                    evidence,
                    rules: eff.rules.clone(),
                    verdict: judgment.verdict,
                }
            }
            Err(e) => {
                evidence.reason = format!("cannot verify approvals: {e}");
                self.unverified(ask, eff, evidence)
            }
        }
    }

    fn unverified(&self, ask: &Ask, eff: &Effective, mut evidence: Approval) -> Ruling {
        Verdict::Unverified
            .as_str()
            .clone_into(&mut evidence.verdict);
        self.count(ask.decided, &evidence.verdict);
        Ruling {
            evidence,
            rules: eff.rules.clone(),
            verdict: Verdict::Unverified,
        }
    }

    /// Stores the snapshot; `None` (logged) when it cannot be written: the decision still stands, its
    /// evidence then lacks the host's answers, which the record says by a `null` digest.
    async fn keep(&self, snapshot: &Snapshot) -> Option<String> {
        let bytes = match snapshot.to_bytes() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot write an approvals snapshot");
                return None;
            }
        };
        let dir = self.data_dir.clone();
        match tokio::task::spawn_blocking(move || store::store(&dir, &bytes)).await {
            Ok(Ok(digest)) => Some(digest),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot store an approvals snapshot");
                None
            }
            Err(_) => None,
        }
    }
}

/// The branch of an Application's target revision: `None` (the default branch) for `HEAD`, an empty
/// one, or a commit id; the name otherwise (`refs/heads/` dropped).
fn branch_of(target: Option<&str>) -> Option<String> {
    let t = target?.trim();
    let t = t.strip_prefix("refs/heads/").unwrap_or(t);
    let commit = t.len() >= 7 && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_hexdigit());
    (!t.is_empty() && t != "HEAD" && !commit).then(|| t.to_owned())
}

/// Now, as records write times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Evidence with everything but the host's answers.
fn blank(ask: &Ask, eff: &Effective, base: Option<String>, head: &str) -> Approval {
    Approval {
        verdict: Verdict::Unverified.as_str().to_owned(),
        finding: None,
        reason: String::new(),
        required: u64::from(eff.rules.required),
        rules: serde_json::to_value(&eff.rules).unwrap_or(Value::Null),
        policy: ask.own.clone().unwrap_or(Value::Null),
        sources: eff.sources.clone(),
        host: None,
        repository: None,
        branch: None,
        base,
        revision: Some(ask.revision.clone()),
        reviewed: Some(head.to_owned()),
        pulls: Vec::new(),
        rules_in_force: Value::Null,
        direct_pushes: Vec::new(),
        fetched_at: None,
        snapshot_digest: None,
        decided: ask.decided.to_owned(),
        decision: None,
        claimed_approvers: ask.claimed.clone(),
        extra: Map::new(),
    }
}

/// The judgment's parts of the evidence.
fn fill(evidence: &mut Approval, j: &Judgment) {
    j.verdict.as_str().clone_into(&mut evidence.verdict);
    evidence.reason.clone_from(&j.reason);
    evidence.direct_pushes.clone_from(&j.direct_pushes);
    evidence.pulls = j.pulls.iter().map(pull_evidence).collect();
}

fn pull_evidence(p: &PullJudgment) -> ApprovalPull {
    ApprovalPull {
        number: p.number,
        url: p.url.clone(),
        author: p.author.clone(),
        merged_at: p.merged_at.clone(),
        head: p.head.clone(),
        approvers: p
            .approvers
            .iter()
            .map(|a| ApproverEvidence {
                login: a.login.clone(),
                at: a.at.clone(),
                commit: a.commit.clone(),
                extra: Map::new(),
            })
            .collect(),
        dismissed: p
            .dismissed
            .iter()
            .map(|d| DismissedEvidence {
                login: d.login.clone(),
                why: d.why.clone(),
                extra: Map::new(),
            })
            .collect(),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_revisions_name_a_branch_or_the_default() {
        assert_eq!(branch_of(Some("main")).as_deref(), Some("main"));
        assert_eq!(
            branch_of(Some("refs/heads/release/1.2")).as_deref(),
            Some("release/1.2")
        );
        assert_eq!(branch_of(Some("HEAD")), None);
        assert_eq!(branch_of(Some("")), None);
        assert_eq!(
            branch_of(Some("0123456789abcdef0123456789abcdef01234567")),
            None
        );
        assert_eq!(branch_of(None), None);
    }
}
