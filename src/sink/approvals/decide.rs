//! The approvals part of the guard's question at sync time (`POST /v1/decide`, src/sink/decide.rs):
//! takes the decision request (the app, the revision, its repository, the change's own `approvals`
//! section) and the reason the other gates let the sync through; judges (src/sink/approvals/run.rs)
//! and gives allow or refuse with the reason Argo CD shows, and the evidence the decision records.

use super::run::Ask;
use super::Approvals;
use crate::approval::Verdict;
use crate::policy::approvals::{self, ApprovalsSpec, OnUnavailable};
use crate::record::evidence::{Approval, DECIDED_AT_SYNC};
use crate::record::Body;
use crate::sink::registry::Learn as _;
use serde_json::Value;

/// The approvals verdict of a sync the other gates allow.
pub struct AtSync {
    pub allowed: bool,
    /// The decision's reason: `allowed_reason; approvals: …`, or `blocked: approvals: …`.
    pub reason: String,
    pub evidence: Approval,
}

/// A non-empty string member of a request.
pub fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The destination clusters of a request (server URLs and names), empty values left out.
pub fn clusters(request: &Value) -> Vec<String> {
    request
        .get("clusters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The change's `approvals` section of a decision request; `None` when it has none.
///
/// # Errors
///
/// The section is there but invalid (the message names the key).
pub fn section(request: &Value) -> Result<Option<ApprovalsSpec>, String> {
    match request.get("approvals") {
        Some(v) if v.is_object() => approvals::from_value(v).map(Some),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err("approvals must be the change's approvals section (an object)".into()),
    }
}

impl Approvals {
    /// Judges the approvals of the sync `request` asks about by the change's own rules `own` (with
    /// the rules in force and the floors); `allowed_reason` is why the other gates let it through.
    pub async fn at_sync(
        &self,
        request: &Value,
        own: &ApprovalsSpec,
        allowed_reason: &str,
    ) -> AtSync {
        let ask = Ask {
            app: field(request, "app").unwrap_or_default().to_owned(),
            repo_url: field(request, "repoURL").map(str::to_owned),
            target_revision: field(request, "targetRevision").map(str::to_owned),
            revision: field(request, "revision").unwrap_or_default().to_owned(),
            reviewed: field(request, "reviewed").map(str::to_owned),
            own: request.get("approvals").cloned(),
            project: field(request, "project").map(str::to_owned),
            clusters: clusters(request),
            decided: DECIDED_AT_SYNC,
            claimed: Vec::new(),
            budget: self.decide_budget,
        };
        // The change's own rules are given, so there is always an effective rule.
        let eff =
            self.rules_for(&ask, Some(own))
                .await
                .unwrap_or_else(|| crate::approval::Effective {
                    rules: own.clone(),
                    sources: vec!["change".into()],
                    below_floor: None,
                });
        let ruling = self.run(&ask, &eff).await;
        let e = &ruling.evidence;
        let (allowed, reason) = match ruling.verdict {
            Verdict::Approved => (true, format!("{allowed_reason}; approvals: {}", e.reason)),
            Verdict::Unapproved => (false, format!("blocked: approvals: {}", e.reason)),
            Verdict::Unverified if ruling.rules.on_unavailable == OnUnavailable::AllowFlagged => (
                true,
                format!(
                    "{allowed_reason}; approvals unverified, allowed by approvals.onUnavailable: allow-flagged and recorded as approval-unverified: {}",
                    e.reason
                ),
            ),
            Verdict::Unverified => (
                false,
                format!(
                    "blocked: approvals could not be verified (approvals.onUnavailable: fail): {}",
                    e.reason
                ),
            ),
        };
        AtSync {
            allowed,
            reason,
            evidence: ruling.evidence,
        }
    }

    /// Learns from a durable record (the handlers call it after each append).
    pub async fn observe(&self, seq: u64, body: &Body) {
        let body = body.clone();
        self.registry
            .with_async(move |r| r.observe(seq, &body))
            .await;
    }
}
