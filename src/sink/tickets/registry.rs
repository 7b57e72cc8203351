//! What the log says about tickets and emergencies: per app the rules in force (the change's own
//! `ticket` section of the last guarded sync that went through, with its `change.idPattern`) and the
//! recent decisions by revision (their seqs: the evidence is in the records); every emergency
//! (src/record/review.rs says which records are one) with its due date and its review. Part of the
//! sink's memory of the log (src/sink/memory.rs): the ledger feeds it each record once it is in the
//! log, in log order, and keeps it beside the verified-prefix marker, so a restart reads nothing.

#[cfg(test)]
use crate::record::facts;
use crate::record::facts::{Facts, Member, Members};
use crate::record::review::emergency_of;
use crate::record::{Body, Record, EMERGENCY_REVIEW, SYNC_SUCCEEDED};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::Map;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Decisions remembered per app.
const DECISIONS_KEPT: usize = 32;

/// The rules in force for an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InForce {
    /// The change's own `ticket` section.
    pub policy: Value,
    pub pattern: String,
    /// The decision it came from.
    pub seq: u64,
}

/// A guard decision that carries ticket evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub revision: String,
    /// The decision's record.
    pub seq: u64,
}

/// One app.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppState {
    pub in_force: Option<InForce>,
    /// The latest decisions, oldest first.
    pub decisions: VecDeque<Decided>,
}

/// One emergency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    /// Its records, in log order.
    pub seqs: Vec<u64>,
    pub at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// The seq and idempotency key of its review.
    pub review: Option<(u64, String)>,
}

/// Every app's state and every emergency.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    apps: HashMap<String, AppState>,
    emergencies: HashMap<String, Emergency>,
}

/// Whether a record (its members as the line holds them) can teach anything here: a `ticket` member,
/// an emergency, or a review. Only those are read as typed records.
fn wants(record: &Facts<'_>) -> bool {
    record.get("ticket").and_then(Member::object).is_some()
        || record.text(&["emergency"]).is_some_and(|e| !e.is_empty())
        || record.text(&["event"]).as_deref() == Some(EMERGENCY_REVIEW)
}

impl Registry {
    /// The rules in force for `app`.
    pub fn in_force(&self, app: &str) -> Option<InForce> {
        self.apps.get(app)?.in_force.clone()
    }

    /// The seq of the latest decision with ticket evidence for `revision` of `app`.
    pub fn decision(&self, app: &str, revision: &str) -> Option<u64> {
        self.apps
            .get(app)?
            .decisions
            .iter()
            .rev()
            .find(|d| d.revision == revision)
            .map(|d| d.seq)
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

    /// What a record that is in the log teaches: the typed record, when it is one this registry
    /// learns from (`record` is its `line`'s members). A record this version cannot read teaches
    /// nothing.
    pub fn lesson(record: &Facts<'_>, line: &[u8]) -> Option<Box<Record>> {
        if !wants(record) {
            return None;
        }
        Record::from_map(serde_json::from_slice(line).ok()?)
            .ok()
            .map(Box::new)
    }

    /// Learns what a record that is in the log teaches (each once, in log order).
    pub fn learn_from(&mut self, lesson: Option<&Record>) {
        if let Some(record) = lesson {
            self.learn(record.seq, &record.body);
        }
    }

    /// Learns from a record that is in the log (its members as the line holds them).
    #[cfg(test)]
    pub fn observe(&mut self, record: &Map<String, Value>) {
        let lesson = facts::of_map(record, Self::lesson);
        self.learn_from(lesson.as_deref());
    }

    /// Learns from a record; seeing a record twice changes nothing.
    fn learn(&mut self, seq: u64, body: &Body) {
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
                let Some(Some(_)) = g.ticket.as_present() else {
                    return;
                };
                let Some(revision) = g.revision.clone() else {
                    return;
                };
                let state = self.apps.entry(g.app.name.clone()).or_default();
                if state.decisions.iter().any(|d| d.seq == seq) {
                    return;
                }
                if state.decisions.len() == DECISIONS_KEPT {
                    state.decisions.pop_front();
                }
                state.decisions.push_back(Decided { revision, seq });
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

    /// `body` as the log holds it: its members, with a seq.
    fn line(seq: u64, body: &Body) -> Map<String, Value> {
        let mut map = body.to_map();
        map.insert("seq".into(), seq.into());
        map.insert("prev".into(), "0".repeat(64).into());
        map.insert("hash".into(), "1".repeat(64).into());
        map
    }

    #[test]
    fn emergencies_are_counted_until_reviewed_and_saved() {
        let mut r = Registry::default();
        let at = "2026-01-01T10:00:00Z";
        let decision = guard_record(
            &json!({"app": "shop", "revision": "abc", "allowed": true, "emergency": "CHG-9",
                    "reason": "allowed", "at": at, "reviewDue": "2026-01-01T12:00:00Z"}),
            at,
        )
        .unwrap();
        r.observe(&line(1, &decision));
        r.observe(&line(1, &decision));
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
        let saved = serde_json::to_value(&r).unwrap();
        let loaded: Registry = serde_json::from_value(saved).unwrap();
        assert_eq!(loaded, r);
        r.observe(&line(
            2,
            &review_record("CHG-9", "Dee", "ok", &[1], None, false, "api", at),
        ));
        assert_eq!(r.review_counts(after), (0, 0));
        assert_eq!(r.emergency("CHG-9").unwrap().review.map(|r| r.0), Some(2));
    }
}
