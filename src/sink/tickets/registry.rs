//! What the log says about tickets and emergencies: per app the rules in force (the change's own
//! `ticket` section of the last guarded sync that went through, with its `change.idPattern`) and the
//! evidence of recent decisions by revision; every emergency (src/record/review.rs says which records
//! are one) with its due date and its review. Loaded by src/sink/registry.rs.

use crate::record::evidence::Ticket;
use crate::record::review::emergency_of;
use crate::record::{Body, SYNC_SUCCEEDED};
use crate::sink::registry::{holds, Learn};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Decisions remembered per app.
const DECISIONS_KEPT: usize = 32;

/// The rules in force for an app.
#[derive(Debug, Clone, PartialEq)]
pub struct InForce {
    /// The change's own `ticket` section.
    pub policy: Value,
    pub pattern: String,
    /// The decision it came from.
    pub seq: u64,
}

/// One app.
#[derive(Debug, Default, Clone)]
pub struct AppState {
    pub in_force: Option<InForce>,
    /// (revision, seq, evidence) of the latest decisions, oldest first.
    pub decisions: VecDeque<(String, u64, Ticket)>,
}

/// One emergency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emergency {
    /// Its records, in log order.
    pub seqs: Vec<u64>,
    pub at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// The seq and idempotency key of its review.
    pub review: Option<(u64, String)>,
}

/// Every app's state and every emergency.
#[derive(Debug, Default)]
pub struct Registry {
    apps: HashMap<String, AppState>,
    emergencies: HashMap<String, Emergency>,
}

impl Registry {
    /// The rules in force for `app`.
    pub fn in_force(&self, app: &str) -> Option<InForce> {
        self.apps.get(app)?.in_force.clone()
    }

    /// The latest decision for `revision` of `app`.
    pub fn decision(&self, app: &str, revision: &str) -> Option<(u64, Ticket)> {
        self.apps
            .get(app)?
            .decisions
            .iter()
            .rev()
            .find_map(|(rev, seq, t)| (rev == revision).then(|| (*seq, t.clone())))
    }

    /// The emergency `change_id`, when the log has one.
    pub fn emergency(&self, change_id: &str) -> Option<Emergency> {
        self.emergencies.get(change_id).cloned()
    }

    /// Emergencies without a review: (not yet due, overdue) at `now`.
    pub fn review_counts(&self, now: DateTime<Utc>) -> (u64, u64) {
        self.emergencies
            .values()
            .filter(|e| e.review.is_none())
            .fold((0, 0), |(pending, overdue), e| {
                if now > e.due {
                    (pending, overdue + 1)
                } else {
                    (pending + 1, overdue)
                }
            })
    }
}

/// The registry, loaded from the log at start.
pub type Shared = crate::sink::registry::Shared<Registry>;

impl Learn for Registry {
    fn wants(line: &[u8]) -> bool {
        holds(line, b"\"ticket\"")
            || holds(line, b"\"emergency\":\"")
            || holds(line, b"emergency-review")
    }

    /// Learns from a durable record; seeing a record twice changes nothing.
    fn observe(&mut self, seq: u64, body: &Body) {
        if let Body::Review(r) = body {
            if let Some(e) = self.emergencies.get_mut(&r.change_id) {
                e.review.get_or_insert_with(|| (seq, r.key.clone()));
            }
            return;
        }
        if let Some((id, at, due)) = emergency_of(body) {
            let e = self
                .emergencies
                .entry(id.to_owned())
                .or_insert_with(|| Emergency {
                    seqs: Vec::new(),
                    at,
                    due,
                    review: None,
                });
            if !e.seqs.contains(&seq) {
                e.seqs.push(seq);
                e.seqs.sort_unstable();
            }
        }
        match body {
            Body::Guard(g) => {
                let Some(Some(ticket)) = g.ticket.as_present() else {
                    return;
                };
                let Some(revision) = g.revision.clone() else {
                    return;
                };
                let state = self.apps.entry(g.app.name.clone()).or_default();
                if state.decisions.iter().any(|(_, s, _)| *s == seq) {
                    return;
                }
                if state.decisions.len() == DECISIONS_KEPT {
                    state.decisions.pop_front();
                }
                state.decisions.push_back((revision, seq, ticket.clone()));
            }
            Body::Sync(s) => {
                if s.event != SYNC_SUCCEEDED || s.phase.as_deref() != Some("Succeeded") {
                    return;
                }
                let Some(Some(t)) = s.ticket.as_present() else {
                    return;
                };
                // The rules this change brought are in force for the next one.
                if let (Some(decision), false) = (t.decision, t.policy.is_null()) {
                    let pattern = t
                        .rules
                        .get("changeIdPattern")
                        .and_then(Value::as_str)
                        .unwrap_or(crate::policy::DEFAULT_ID_PATTERN)
                        .to_owned();
                    self.apps.entry(s.app.name.clone()).or_default().in_force = Some(InForce {
                        policy: t.policy.clone(),
                        pattern,
                        seq: decision,
                    });
                }
            }
            Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{guard_record, review_record};
    use serde_json::json;

    #[test]
    fn emergencies_are_counted_until_reviewed_and_a_record_seen_twice_counts_once() {
        let mut r = Registry::default();
        let at = "2026-01-01T10:00:00Z";
        let decision = guard_record(
            &json!({"app": "shop", "revision": "abc", "allowed": true, "emergency": "CHG-9",
                    "reason": "allowed", "at": at, "reviewDue": "2026-01-01T12:00:00Z"}),
            at,
        )
        .unwrap();
        r.observe(1, &decision);
        r.observe(1, &decision);
        let e = r.emergency("CHG-9").unwrap();
        assert_eq!(e.seqs, vec![1]);
        let before = DateTime::parse_from_rfc3339("2026-01-01T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let after = DateTime::parse_from_rfc3339("2026-01-01T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(r.review_counts(before), (1, 0));
        assert_eq!(r.review_counts(after), (0, 1));
        r.observe(
            2,
            &review_record("CHG-9", "Dee", "ok", &[1], None, false, "api", at),
        );
        assert_eq!(r.review_counts(after), (0, 0));
        assert_eq!(r.emergency("CHG-9").unwrap().review.map(|r| r.0), Some(2));
    }
}
