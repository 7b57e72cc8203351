//! `POST /v1/decide`: the guard's question at sync time. Takes the guard's window decision, the app,
//! the revision, its repository and the change's own `approvals` section; judges (src/sink/approvals/
//! run.rs), records one guard decision that carries both the window decision and the approval
//! evidence, and answers allow or refuse with the reason Argo CD shows.
//!
//! ```json
//! {"app": "shop", "namespace": "production", "project": "default", "clusters": [],
//!  "changeId": "CHG-1", "revision": "<commit synced>", "reviewed": null, "repoURL": "https://…",
//!  "targetRevision": "main", "approvals": {"required": 2},
//!  "window": {"allowed": true, "emergency": null, "reason": "allowed: …", "at": "RFC 3339",
//!             "active": [0], "windows": ["…"]}}
//! ```
//!
//! Answer: `201 {"seq", "hash", "allowed", "reason", "verdict", "snapshotDigest"}` once the decision
//! is durable (`200` with `"duplicate": true` for a retry of a recorded one); `400` for a request
//! that does not fit; `503` when the decision cannot be made durable (the guard then fails closed,
//! unless `onUnavailable: allow-flagged`).

use super::run::Ask;
use super::Approvals;
use crate::approval::Verdict;
use crate::ledger::Outcome;
use crate::policy::approvals::{self, OnUnavailable};
use crate::record::evidence::DECIDED_AT_SYNC;
use crate::record::{self, Added, Body};
use crate::sink::metrics::Outcome as Counted;
use crate::sink::writer::Appender;
use serde_json::{json, Value};

/// The sink's answer to a decision request.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub counted: Counted,
}

impl Answer {
    fn error(status: u16, counted: Counted, message: impl Into<String>) -> Answer {
        Answer {
            status,
            body: json!({ "error": message.into() }),
            counted,
        }
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

impl Approvals {
    /// Decides a guard's request (see the module's documentation) and records the decision.
    pub async fn decide(&self, request: &Value, appender: &Appender, received_at: &str) -> Answer {
        let bad = |m: &str| Answer::error(400, Counted::Rejected, m);
        let (Some(app), Some(revision)) = (field(request, "app"), field(request, "revision"))
        else {
            return bad("app and revision are required");
        };
        let Some(window) = request.get("window").filter(|w| w.is_object()) else {
            return bad("window (the guard's window decision) is required");
        };
        let Some(window_allowed) = window.get("allowed").and_then(Value::as_bool) else {
            return bad("window.allowed must be true or false");
        };
        let own = match request.get("approvals") {
            Some(v) if v.is_object() => match approvals::from_value(v) {
                Ok(spec) => spec,
                Err(e) => return bad(&e),
            },
            _ => return bad("approvals (the change's approvals section) is required"),
        };
        let clusters: Vec<String> = request
            .get("clusters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let ask = Ask {
            app: app.to_owned(),
            repo_url: field(request, "repoURL").map(str::to_owned),
            target_revision: field(request, "targetRevision").map(str::to_owned),
            revision: revision.to_owned(),
            reviewed: field(request, "reviewed").map(str::to_owned),
            own: request.get("approvals").cloned(),
            project: field(request, "project").map(str::to_owned),
            clusters,
            decided: DECIDED_AT_SYNC,
            claimed: Vec::new(),
            budget: self.decide_budget,
        };
        let window_reason = field(window, "reason").unwrap_or("allowed").to_owned();
        let (allowed, reason, evidence) = if window_allowed {
            // The change's own rules are there, so there is always an effective rule.
            let Some(eff) = self.rules_for(&ask, Some(&own)).await else {
                return bad("approvals (the change's approvals section) is required");
            };
            let ruling = self.run(&ask, &eff).await;
            let e = &ruling.evidence;
            let (allowed, reason) = match ruling.verdict {
                Verdict::Approved => (true, format!("{window_reason}; approvals: {}", e.reason)),
                Verdict::Unapproved => (false, format!("blocked: approvals: {}", e.reason)),
                Verdict::Unverified if ruling.rules.on_unavailable == OnUnavailable::AllowFlagged => (
                    true,
                    format!(
                        "{window_reason}; approvals unverified, allowed by approvals.onUnavailable: allow-flagged and recorded as approval-unverified: {}",
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
            (allowed, reason, Some(ruling.evidence))
        } else {
            (false, window_reason, None)
        };
        let guard_body = json!({
            "app": app,
            "namespace": request.get("namespace").cloned().unwrap_or(Value::Null),
            "changeId": request.get("changeId").cloned().unwrap_or(Value::Null),
            "revision": revision,
            "allowed": allowed,
            "emergency": window.get("emergency").cloned().unwrap_or(Value::Null),
            "reason": reason,
            "at": window.get("at").cloned().unwrap_or(Value::Null),
            "active": window.get("active").cloned().unwrap_or(Value::Null),
            "windows": window.get("windows").cloned().unwrap_or(Value::Null),
        });
        let mut draft = match record::guard_record(&guard_body, received_at) {
            Ok(d) => d,
            Err(e) => return bad(&format!("window: {e}")),
        };
        let digest = evidence.as_ref().and_then(|e| e.snapshot_digest.clone());
        let verdict = evidence.as_ref().map(|e| e.verdict.clone());
        if let Body::Guard(g) = &mut draft {
            g.approval = Added::Present(evidence);
        }
        let summary = |seq: u64| json!({"seq": seq, "allowed": allowed, "reason": reason, "verdict": verdict, "snapshotDigest": digest});
        match appender.append(draft.clone()).await {
            Ok(Outcome::Appended { seq, hash }) => {
                self.observe(seq, &draft).await;
                let mut body = summary(seq);
                body["hash"] = hash.into();
                Answer {
                    status: 201,
                    body,
                    counted: Counted::Created,
                }
            }
            Ok(Outcome::Duplicate { seq }) => {
                let mut body = summary(seq);
                body["duplicate"] = true.into();
                Answer {
                    status: 200,
                    body,
                    counted: Counted::Duplicate,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "answering 503 to a decision");
                let mut answer = Answer::error(
                    503,
                    Counted::Unavailable,
                    "the decision could not be made durable; retry later",
                );
                answer.body["allowed"] = false.into();
                answer
            }
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
