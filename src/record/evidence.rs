//! Evidence from outside the log that a sync was allowed and worked (docs/approvals.md and
//! docs/tickets.md, "What an auditor reads"; docs/hooks.md, "Post-change verification"): the Git
//! host's approvals (`approval`), the change ticket's state (`ticket`) and the verification verdict
//! of the `PostSync` hook (`verification`), members of the same shape (a `verdict`, the `finding` it
//! raises, a `reason`, when it was
//! `fetchedAt`, and the `snapshotDigest` of what the outside system said, stored beside the log).
//! Takes nothing but typed values; gives the record members. Pure. (`findings` reads them off a
//! record.)
//!
//! `approval` is on a guard decision the sink made (`POST /v1/decide`) and on the sync records of
//! apps that an approvals policy or an org floor covers: copied from the guard decision of the same
//! revision, or judged after the fact when the sync skipped the guard. Records of apps no approvals
//! rule covers do not have the member.

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The findings an evidence member raises, as records and `audit exceptions` name them.
pub const UNAPPROVED: &str = "unapproved";
pub const APPROVAL_UNVERIFIED: &str = "approval-unverified";

/// `decided`: made for the guard at sync time, or judged after the sync (the guard was skipped).
pub const DECIDED_AT_SYNC: &str = "at-sync";
pub const DECIDED_AFTER: &str = "after-the-fact";

fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// The `approval` member: what the Git host showed for the revision synced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// `approved`, `unapproved` or `unverified`.
    pub verdict: String,
    /// What `audit exceptions` lists for this record: `unapproved`, `approval-unverified`, or `null`
    /// (approved, or a refusal that stopped the sync).
    #[serde(deserialize_with = "nullable")]
    pub finding: Option<String>,
    /// One line: why, naming the pull request and the rule.
    pub reason: String,
    /// Approvals required on each pull request (of the effective rules).
    pub required: u64,
    /// The effective rules (the `approvals` section's keys).
    pub rules: Value,
    /// The change's own `approvals` section as the guard sent it; `null` when judged after the fact
    /// (the sink cannot read the repository). The next change is judged by at least this.
    pub policy: Value,
    /// Where the rules came from: `change`, `in-force`, `floor …`.
    pub sources: Vec<String>,
    /// `github` or `gitlab`; `null` when no host could be told.
    #[serde(deserialize_with = "nullable")]
    pub host: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub repository: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub branch: Option<String>,
    /// The revision synced before (the change starts after it).
    #[serde(deserialize_with = "nullable")]
    pub base: Option<String>,
    /// The revision synced.
    #[serde(deserialize_with = "nullable")]
    pub revision: Option<String>,
    /// The revision judged: the one synced, or with Argo CD's Source Hydrator its `drySha`.
    #[serde(deserialize_with = "nullable")]
    pub reviewed: Option<String>,
    pub pulls: Vec<ApprovalPull>,
    /// The host's own branch rules as read at `fetchedAt`.
    pub rules_in_force: Value,
    /// First-parent commits with no merged pull request.
    pub direct_pushes: Vec<String>,
    /// When the host was asked (RFC 3339); `null` when it was not.
    #[serde(deserialize_with = "nullable")]
    pub fetched_at: Option<String>,
    /// SHA-256 (hex) of the stored snapshot: `DATA_DIR/snapshots/<digest>.json`, also in the archive.
    #[serde(deserialize_with = "nullable")]
    pub snapshot_digest: Option<String>,
    /// [`DECIDED_AT_SYNC`] or [`DECIDED_AFTER`].
    pub decided: String,
    /// On a sync record: the seq of the guard decision it was copied from; `null` otherwise.
    #[serde(deserialize_with = "nullable")]
    pub decision: Option<u64>,
    /// The `Approved-by:` trailers of the commit: what someone typed, never evidence.
    pub claimed_approvers: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One merged pull request of the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPull {
    pub number: u64,
    pub url: String,
    pub author: String,
    pub merged_at: String,
    /// The head that was merged.
    pub head: String,
    /// The approvals that count.
    pub approvers: Vec<ApproverEvidence>,
    /// Approvals that do not count, and why.
    pub dismissed: Vec<DismissedEvidence>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An approval that counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApproverEvidence {
    pub login: String,
    pub at: String,
    /// The head approved.
    #[serde(deserialize_with = "nullable")]
    pub commit: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An approval that does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DismissedEvidence {
    pub login: String,
    pub why: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Approval {
    /// The finding of a verdict on a sync that went ahead: `unapproved`, `approval-unverified`, or
    /// none when approved.
    pub fn finding_of(verdict: &str) -> Option<String> {
        match verdict {
            "unapproved" => Some(UNAPPROVED.to_owned()),
            "unverified" => Some(APPROVAL_UNVERIFIED.to_owned()),
            _ => None,
        }
    }
}

/// The findings a ticket raises on a sync that went ahead.
pub const TICKET_NOT_AUTHORIZED: &str = "ticket-not-authorized";
pub const TICKET_OUTSIDE_WINDOW: &str = "ticket-outside-window";
pub const TICKET_UNVERIFIED: &str = "ticket-unverified";
/// A ServiceNow scheduling conflict let through by `ticket.conflicts: flag`.
pub const TICKET_CONFLICT: &str = "ticket-conflict";

/// The `ticket` member: what the change request said when the sync was decided (docs/tickets.md,
/// "What an auditor reads"). On a guard decision the sink made, and on the sync records of apps a
/// ticket rule covers (copied from the decision of the same revision, or judged after the fact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// `authorized`, `not-authorized`, `outside-window`, `unverified` or `no-ticket`.
    pub verdict: String,
    /// What `audit exceptions` lists for this record: `ticket-not-authorized`,
    /// `ticket-outside-window`, `ticket-unverified`, `ticket-conflict`, or `null`.
    #[serde(deserialize_with = "nullable")]
    pub finding: Option<String>,
    /// One line: why, naming the ticket and the rule.
    pub reason: String,
    /// `servicenow` or `jira`.
    pub system: String,
    /// The ticket number asked for; `null` when the sync names no change id.
    #[serde(deserialize_with = "nullable")]
    pub number: Option<String>,
    /// The change id the number comes from.
    #[serde(deserialize_with = "nullable")]
    pub change_id: Option<String>,
    /// The system's own id (ServiceNow `sys_id`, Jira issue id).
    #[serde(deserialize_with = "nullable")]
    pub id: Option<String>,
    /// The state's name (ServiceNow state label, Jira status) and value (ServiceNow state number, Jira
    /// status category).
    #[serde(deserialize_with = "nullable")]
    pub state: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub state_value: Option<String>,
    /// ServiceNow's `approval`; Jira: the approvals summed up (`approved`, `pending`, `declined`, `none`).
    #[serde(deserialize_with = "nullable")]
    pub approval: Option<String>,
    /// The approver records (ServiceNow) or approvals (Jira Service Management).
    pub approvers: Vec<TicketApprover>,
    /// The planned window (RFC 3339, UTC).
    #[serde(deserialize_with = "nullable")]
    pub planned_start: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub planned_end: Option<String>,
    /// ServiceNow's type (`normal`, `standard`, `emergency`); Jira Service Management's request type.
    #[serde(rename = "type", deserialize_with = "nullable")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub assignment_group: Option<String>,
    /// ServiceNow's `conflict_status`.
    #[serde(deserialize_with = "nullable")]
    pub conflict: Option<String>,
    /// The ticket is an approved emergency change, which let the sync pass outside windows and freezes.
    pub emergency: bool,
    /// The rules it was judged by, every default written out.
    pub rules: Value,
    /// The change's own `ticket` section as the guard sent it; `null` when judged after the fact.
    pub policy: Value,
    /// Where the rules came from: `change` or `in-force`.
    pub sources: Vec<String>,
    /// When the system was asked (RFC 3339), which is when the planned window was judged.
    #[serde(deserialize_with = "nullable")]
    pub fetched_at: Option<String>,
    /// SHA-256 (hex) of the stored snapshot: `DATA_DIR/snapshots/<digest>.json`, also in the archive.
    #[serde(deserialize_with = "nullable")]
    pub snapshot_digest: Option<String>,
    /// [`DECIDED_AT_SYNC`] or [`DECIDED_AFTER`].
    pub decided: String,
    /// On a sync record: the seq of the guard decision it was copied from; `null` otherwise.
    #[serde(deserialize_with = "nullable")]
    pub decision: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One approver record or approval of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketApprover {
    pub name: String,
    pub decision: String,
    pub by: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub at: Option<String>,
    pub page: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Ticket {
    /// The finding of a verdict on a sync that went ahead: none when authorized (but a flagged
    /// conflict) or when no ticket was required.
    pub fn finding_of(verdict: &str, conflict_flagged: bool) -> Option<String> {
        match verdict {
            "not-authorized" => Some(TICKET_NOT_AUTHORIZED.to_owned()),
            "outside-window" => Some(TICKET_OUTSIDE_WINDOW.to_owned()),
            "unverified" => Some(TICKET_UNVERIFIED.to_owned()),
            "authorized" if conflict_flagged => Some(TICKET_CONFLICT.to_owned()),
            _ => None,
        }
    }

    /// Whether a flagged scheduling conflict was let through.
    pub fn conflict_flagged(&self) -> bool {
        self.verdict == "authorized"
            && self
                .conflict
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("conflict"))
    }
}

/// The findings a `verification` member raises.
pub const VERIFICATION_FAILED: &str = "verification-failed";
pub const UNVERIFIED: &str = "unverified";

/// The `verification` member: whether the change worked, as the `PostSync` hook measured it
/// (docs/hooks.md, "Post-change verification"), in the shape of an Argo Rollouts `AnalysisRun`. On a
/// `verification` record (the hook's final report) and on the sync record of the same operation
/// (copied, with `report` naming the seq); a sync of an app with checks whose verdict never came has
/// the member with `verdict: null` and the finding `unverified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `Successful`, `Failed`, `Inconclusive`, `Error`; `null`: no verdict came.
    #[serde(deserialize_with = "nullable")]
    pub verdict: Option<String>,
    /// `verification-failed` (a verdict other than Successful), `unverified` (none), or `null`.
    #[serde(deserialize_with = "nullable")]
    pub finding: Option<String>,
    /// One line: why, naming the check.
    pub reason: String,
    /// `record`, `fail-sync` or `rollback`; `null` when the policy is not known.
    #[serde(deserialize_with = "nullable")]
    pub on_failure: Option<String>,
    /// The bound of the verification (Go duration); `null` when not known.
    #[serde(deserialize_with = "nullable")]
    pub within: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub started_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub finished_at: Option<String>,
    pub checks: Vec<CheckEvidence>,
    /// On a sync record: the seq of the `verification` record it was copied from.
    #[serde(deserialize_with = "nullable")]
    pub report: Option<u64>,
    /// What was done about a failure (`onFailure: rollback`), and the way back.
    #[serde(deserialize_with = "nullable")]
    pub rollback: Option<RollbackEvidence>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One check and its measurements (an `AnalysisRun`'s `metricResults[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckEvidence {
    pub name: String,
    /// `prometheus`, `http`, `workloads`, or `rollouts-analysis` (an Argo Rollouts `AnalysisRun`).
    pub kind: String,
    /// The `PromQL` query, the URL, the workloads, or the `AnalysisRun`'s name.
    pub query: String,
    pub phase: String,
    #[serde(deserialize_with = "nullable")]
    pub message: Option<String>,
    pub measurements: Vec<MeasurementEvidence>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementEvidence {
    pub value: String,
    pub phase: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(deserialize_with = "nullable")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The way back after a failed verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackEvidence {
    /// `pull-request-opened`, `pull-request-exists`, `commands-only` (no write access at the host,
    /// or not a Failed verdict), `failed` (the host refused or did not answer).
    pub action: String,
    pub reason: String,
    #[serde(deserialize_with = "nullable")]
    pub host: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub repository: Option<String>,
    /// The branch the revert goes to.
    #[serde(deserialize_with = "nullable")]
    pub branch: Option<String>,
    /// The revision synced before the change, and the change's revision.
    #[serde(deserialize_with = "nullable")]
    pub base: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub revision: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub pull_request: Option<PullRequestRef>,
    /// The commands that revert the change in Git (Git stays the source of truth).
    pub revert: Vec<String>,
    /// `velero restore create --from-backup …`, never run by sluice (data written since is lost).
    #[serde(deserialize_with = "nullable")]
    pub restore: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub backup: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A revert pull (merge) request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub number: u64,
    pub url: String,
    /// Its head branch.
    pub branch: String,
    pub title: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Verification {
    /// The finding of a verdict: none for Successful, `verification-failed` for another, `unverified`
    /// without one.
    pub fn finding_of(verdict: Option<&str>) -> Option<String> {
        match verdict {
            Some("Successful") => None,
            Some(_) => Some(VERIFICATION_FAILED.to_owned()),
            None => Some(UNVERIFIED.to_owned()),
        }
    }
}
