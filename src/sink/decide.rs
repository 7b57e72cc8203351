//! `POST /v1/decide`: the guard's question at sync time, answered by the sink's gates together. Takes
//! the guard's window decision, the app, the revision and its repository, the change id (and the
//! emergency id, if the Application declares one), and the change's own sections: `ticket`
//! (src/sink/tickets) and `approvals` (src/sink/approvals). Records one guard decision that carries
//! the window's decision and the evidence of each gate, and answers allow or refuse with the reason
//! Argo CD shows.
//!
//! ```text
//! window decision ─→ ticket (if `ticket`): an emergency ticket may pass a closed window; a ticket that
//!   does not authorize refuses ─→ approvals (if `approvals`, and still allowed) ─→ guard-decision record
//!   {allowed, reason, emergency, reviewDue, ticket, approval} ─→ 201 {allowed, reason, gate, …}
//! ```
//!
//! ```json
//! {"app": "shop", "namespace": "production", "project": "default", "clusters": [],
//!  "changeId": "CHG-1", "revision": "<commit synced>", "reviewed": null, "repoURL": "https://…",
//!  "targetRevision": "main", "approvals": {"required": 2},
//!  "ticket": {"system": "servicenow"}, "changeIdPattern": "^CHG-[0-9]+$", "emergency": {"reviewWithin": "48h"},
//!  "window": {"allowed": true, "emergency": null, "reason": "allowed: …", "at": "RFC 3339",
//!             "active": [0], "windows": ["…"]}}
//! ```
//!
//! Answer: `201 {"seq", "hash", "allowed", "reason", "gate", "emergency", "verdict", "snapshotDigest",
//! "ticketVerdict", "ticketSnapshotDigest"}` once the decision is durable (`gate`: which refused,
//! `window`, `ticket` or `approvals`; `200` with `"duplicate": true` for a retry of a recorded one);
//! `400` for a request that does not fit; `404` when a section asks for a gate this sink does not run;
//! `503` when the decision cannot be made durable (the guard then fails closed, unless
//! `onUnavailable: allow-flagged`).

use super::approvals::{self, Approvals};
use super::metrics::Outcome as Counted;
use super::tickets::{self, Tickets};
use super::writer::Appender;
use crate::ledger::Outcome;
use crate::policy::ticket::emergency_from_value;
use crate::record::{self, Added, Body};
use serde_json::{json, Value};
use std::sync::Arc;

/// The gates a sink runs.
#[derive(Clone, Default)]
pub struct Gates {
    pub approvals: Option<Arc<Approvals>>,
    pub tickets: Option<Arc<Tickets>>,
}

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

/// Decides a guard's request (see the module's documentation) and records the decision.
pub async fn decide(
    gates: &Gates,
    request: &Value,
    appender: &Appender,
    received_at: &str,
) -> Answer {
    let bad = |m: &str| Answer::error(400, Counted::Rejected, m);
    let field = approvals::field;
    let (Some(app), Some(revision)) = (field(request, "app"), field(request, "revision")) else {
        return bad("app and revision are required");
    };
    let Some(window) = request.get("window").filter(|w| w.is_object()) else {
        return bad("window (the guard's window decision) is required");
    };
    let Some(window_allowed) = window.get("allowed").and_then(Value::as_bool) else {
        return bad("window.allowed must be true or false");
    };
    let own_approvals = match approvals::section(request) {
        Ok(a) => a,
        Err(e) => return bad(&e),
    };
    let own_ticket = match tickets::section(request) {
        Ok(t) => t,
        Err(e) => return bad(&e),
    };
    let emergency_spec = match request.get("emergency") {
        Some(v) if v.is_object() => match emergency_from_value(v) {
            Ok(s) => s,
            Err(e) => return bad(&e),
        },
        _ => crate::policy::ticket::EmergencySpec::default(),
    };
    if own_approvals.is_none() && own_ticket.is_none() {
        return bad("approvals or ticket (the change's sections) is required");
    }
    let window_reason = field(window, "reason").unwrap_or("allowed").to_owned();
    let mut allowed = window_allowed;
    let mut reason = window_reason.clone();
    let mut refused_by: Option<&str> = (!window_allowed).then_some("window");
    let mut emergency = field(window, "emergency").map(str::to_owned);
    let mut ticket_evidence = None;
    if let Some((rules, pattern)) = &own_ticket {
        let Some(tickets) = &gates.tickets else {
            return Answer::error(
                404,
                Counted::Rejected,
                "this sink makes no ticket decisions",
            );
        };
        let w = tickets::Window {
            allowed: window_allowed,
            reason: &window_reason,
            emergency: emergency.as_deref(),
        };
        let gated = tickets.at_sync(request, rules, pattern, &w).await;
        allowed = gated.allowed;
        reason = gated.reason;
        refused_by = gated.refused_by;
        emergency = gated.emergency;
        ticket_evidence = Some(gated.evidence);
    }
    let mut approval_evidence = None;
    if let Some(own) = &own_approvals {
        let Some(approvals) = &gates.approvals else {
            return Answer::error(
                404,
                Counted::Rejected,
                "this sink makes no approvals decisions",
            );
        };
        if allowed {
            let at_sync = approvals.at_sync(request, own, &reason).await;
            allowed = at_sync.allowed;
            reason = at_sync.reason;
            if !allowed {
                refused_by = Some("approvals");
            }
            approval_evidence = Some(at_sync.evidence);
        }
    }
    if !allowed {
        // A refused decision names the override it was asked with, as a window decision does.
        emergency = field(window, "emergency").map(str::to_owned);
    }
    let at = window.get("at").cloned().unwrap_or(Value::Null);
    let review_due = review_due(allowed, emergency.as_deref(), at.as_str(), &emergency_spec);
    let guard_body = json!({
        "app": app,
        "namespace": request.get("namespace").cloned().unwrap_or(Value::Null),
        "changeId": request.get("changeId").cloned().unwrap_or(Value::Null),
        "revision": revision,
        "allowed": allowed,
        "emergency": emergency,
        "reason": reason,
        "at": at,
        "active": window.get("active").cloned().unwrap_or(Value::Null),
        "windows": window.get("windows").cloned().unwrap_or(Value::Null),
        "reviewDue": review_due,
    });
    let mut draft = match record::guard_record(&guard_body, received_at) {
        Ok(d) => d,
        Err(e) => return bad(&format!("window: {e}")),
    };
    let digest = approval_evidence
        .as_ref()
        .and_then(|e| e.snapshot_digest.clone());
    let verdict = approval_evidence.as_ref().map(|e| e.verdict.clone());
    let ticket_digest = ticket_evidence
        .as_ref()
        .and_then(|e| e.snapshot_digest.clone());
    let ticket_verdict = ticket_evidence.as_ref().map(|e| e.verdict.clone());
    if let Body::Guard(g) = &mut draft {
        if own_approvals.is_some() {
            g.approval = Added::Present(approval_evidence);
        }
        if own_ticket.is_some() {
            g.ticket = Added::Present(ticket_evidence);
        }
    }
    let summary = |seq: u64| {
        json!({"seq": seq, "allowed": allowed, "reason": reason, "gate": refused_by,
               "emergency": emergency, "reviewDue": review_due,
               "verdict": verdict, "snapshotDigest": digest,
               "ticketVerdict": ticket_verdict, "ticketSnapshotDigest": ticket_digest})
    };
    match appender.append(draft.clone()).await {
        Ok(Outcome::Appended { seq, hash }) => {
            observe(gates, seq, &draft).await;
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

/// When the review of an emergency this decision allows is due: `reviewWithin` after `at`.
fn review_due(
    allowed: bool,
    emergency: Option<&str>,
    at: Option<&str>,
    spec: &crate::policy::ticket::EmergencySpec,
) -> Option<String> {
    if !allowed || emergency.is_none() {
        return None;
    }
    let at = chrono::DateTime::parse_from_rfc3339(at?).ok()?;
    let seconds = spec.review_seconds().ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) + chrono::Duration::seconds(seconds))
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// Every gate learns from a durable record.
pub async fn observe(gates: &Gates, seq: u64, body: &Body) {
    if let Some(a) = &gates.approvals {
        a.observe(seq, body).await;
    }
    if let Some(t) = &gates.tickets {
        t.observe(seq, body).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ticket::EmergencySpec;

    #[test]
    fn an_allowed_emergency_is_due_for_review_after_review_within() {
        let spec = EmergencySpec {
            review_within: "2h".into(),
        };
        assert_eq!(
            review_due(true, Some("CHG-9"), Some("2026-01-01T10:00:00Z"), &spec).as_deref(),
            Some("2026-01-01T12:00:00Z")
        );
        assert_eq!(
            review_due(true, None, Some("2026-01-01T10:00:00Z"), &spec),
            None
        );
        assert_eq!(
            review_due(false, Some("CHG-9"), Some("2026-01-01T10:00:00Z"), &spec),
            None
        );
        assert_eq!(
            review_due(
                true,
                Some("CHG-9"),
                Some("2026-01-01T10:00:00Z"),
                &EmergencySpec::default()
            )
            .as_deref(),
            Some("2026-01-03T10:00:00Z")
        );
    }
}
