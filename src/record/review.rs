//! Emergency changes and their post-implementation reviews (docs/tickets.md, "Emergency changes"):
//! from the records of the log, every emergency by its change id (a guard decision an emergency let
//! through, by override or by an approved emergency ticket; a sync that names an emergency id), when
//! its review is due, and the review that closed it. Pure: the time is an argument.
//!
//! The due date is the `reviewDue` of the emergency's first record: `emergency.reviewWithin` (48 hours
//! by default) after the decision that let it through; a sync the guard did not decide is due
//! [`DEFAULT_REVIEW_HOURS`] after it. Records written before reviews existed carry no `reviewDue` and
//! count no emergency: that control did not exist for them.

use super::event::{SYNC_FAILED, SYNC_SUCCEEDED};
use super::model::{Body, Record};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use std::collections::BTreeMap;

/// The review window of an emergency whose records say none (`emergency.reviewWithin`'s default).
pub const DEFAULT_REVIEW_HOURS: i64 = 48;

/// The findings `audit exceptions` lists for an emergency without a review.
pub const REVIEW_PENDING: &str = "emergency-review-pending";
pub const REVIEW_OVERDUE: &str = "emergency-review-overdue";

/// One emergency change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emergency {
    pub change_id: String,
    /// Its records, in log order (guard decisions and syncs).
    pub seqs: Vec<u64>,
    pub apps: Vec<String>,
    /// When it first happened (the first record's time).
    pub at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// The review that closed it: (seq, by, received at).
    pub review: Option<(u64, String, String)>,
}

/// Where an emergency stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Reviewed,
    /// Not reviewed, not yet due.
    Pending,
    /// Not reviewed, past its due date.
    Overdue,
}

impl Emergency {
    /// Where it stands at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        match (&self.review, now > self.due) {
            (Some(_), _) => Status::Reviewed,
            (None, false) => Status::Pending,
            (None, true) => Status::Overdue,
        }
    }

    /// The finding for `audit exceptions` at `now`, none once reviewed.
    pub fn finding(&self, now: DateTime<Utc>) -> Option<&'static str> {
        match self.status(now) {
            Status::Reviewed => None,
            Status::Pending => Some(REVIEW_PENDING),
            Status::Overdue => Some(REVIEW_OVERDUE),
        }
    }
}

/// Checks the text of a review: not empty, at most `max` characters, no control characters (a note
/// may hold line breaks and tabs, `lines`).
///
/// # Errors
///
/// What is wrong, naming the member.
pub fn check_text(name: &str, value: &str, max: usize, lines: bool) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{name} is empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{name} is longer than {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(lines && matches!(c, '\n' | '\t')))
    {
        return Err(format!("{name} holds a control character"));
    }
    Ok(())
}

fn utc(rfc3339: &str) -> Option<DateTime<Utc>> {
    DateTime::<FixedOffset>::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The emergency of a record, when it is one: its change id, when, and when its review is due.
pub fn emergency_of(body: &Body) -> Option<(&str, DateTime<Utc>, DateTime<Utc>)> {
    let due = |d: &super::model::Added<Option<String>>| d.as_present()?.as_deref().and_then(utc);
    match body {
        Body::Guard(g) if g.allowed => {
            let id = g.emergency.as_deref().filter(|e| !e.is_empty())?;
            let at = utc(&g.at).or_else(|| utc(&g.received_at))?;
            Some((id, at, due(&g.review_due)?))
        }
        Body::Sync(s) if matches!(s.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED) => {
            let id = s.emergency.as_deref().filter(|e| !e.is_empty())?;
            Some((id, utc(&s.received_at)?, due(&s.review_due)?))
        }
        _ => None,
    }
}

/// The `reviewDue` of a sync the guard did not decide: [`DEFAULT_REVIEW_HOURS`] after it finished
/// (else after it started, else after the sink received it).
pub fn default_due(sync: &super::model::SyncEvent) -> Option<String> {
    let at = [&sync.finished_at, &sync.started_at]
        .into_iter()
        .find_map(|t| t.as_deref().and_then(utc))
        .or_else(|| utc(&sync.received_at))?;
    Some(
        (at + Duration::hours(DEFAULT_REVIEW_HOURS))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// Every emergency of `records` (in log order), with its review when one follows it.
pub fn emergencies<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<Emergency> {
    let mut found: BTreeMap<String, Emergency> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for r in records {
        if let Body::Review(review) = &r.body {
            if let Some(e) = found.get_mut(&review.change_id) {
                if e.review.is_none() {
                    e.review = Some((r.seq, review.by.clone(), review.received_at.clone()));
                }
            }
            continue;
        }
        let Some((id, at, due)) = emergency_of(&r.body) else {
            continue;
        };
        let e = found.entry(id.to_owned()).or_insert_with(|| {
            order.push(id.to_owned());
            Emergency {
                change_id: id.to_owned(),
                seqs: Vec::new(),
                apps: Vec::new(),
                at,
                due,
                review: None,
            }
        });
        e.seqs.push(r.seq);
        let app = r.body.app_name().to_owned();
        if !e.apps.contains(&app) {
            e.apps.push(app);
        }
    }
    order
        .into_iter()
        .filter_map(|id| found.remove(&id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{guard_record, review_record};
    use serde_json::json;

    fn rec(seq: u64, body: Body) -> Record {
        Record {
            seq,
            prev: "p".into(),
            hash: format!("h{seq}"),
            body,
        }
    }

    fn decision(emergency: &str, at: &str, due: Option<&str>) -> Body {
        let mut body = json!({"app": "shop", "namespace": "prod", "revision": "abc", "allowed": true,
            "emergency": emergency, "reason": "allowed: emergency", "at": at});
        if let Some(d) = due {
            body["reviewDue"] = json!(d);
        }
        guard_record(&body, at).unwrap()
    }

    #[test]
    fn an_emergency_is_pending_then_overdue_until_reviewed() {
        let d = decision(
            "CHG-9",
            "2026-01-01T10:00:00Z",
            Some("2026-01-02T10:00:00Z"),
        );
        let later = decision(
            "CHG-8",
            "2026-01-01T10:00:00Z",
            Some("2026-01-03T10:00:00Z"),
        );
        // Written before reviews existed: no emergency to review.
        let old = decision("CHG-7", "2026-01-01T10:00:00Z", None);
        let records = vec![rec(1, d), rec(2, later), rec(3, old)];
        let found = emergencies(&records);
        assert_eq!(found.len(), 2);
        let e = &found[0];
        assert_eq!(e.change_id, "CHG-9");
        assert_eq!(e.due.to_rfc3339(), "2026-01-02T10:00:00+00:00");
        assert_eq!(found[1].due.to_rfc3339(), "2026-01-03T10:00:00+00:00");
        let before = utc("2026-01-02T09:00:00Z").unwrap();
        let after = utc("2026-01-02T11:00:00Z").unwrap();
        assert_eq!(e.status(before), Status::Pending);
        assert_eq!(e.finding(after), Some(REVIEW_OVERDUE));
        let review = review_record(
            "CHG-9",
            "Dee",
            "root cause fixed",
            &[1],
            Some("2026-01-02T10:00:00Z"),
            true,
            "cli",
            "2026-01-03T00:00:00.000Z",
        );
        let mut records = records;
        records.push(rec(4, review));
        let found = emergencies(&records);
        assert_eq!(found[0].status(after), Status::Reviewed);
        assert_eq!(found[0].review.as_ref().map(|r| r.0), Some(4));
        assert_eq!(found[1].status(after), Status::Pending);
    }

    #[test]
    fn refused_decisions_are_no_emergencies() {
        let mut body = json!({"app": "shop", "revision": "abc", "allowed": false,
            "emergency": "CHG-9", "reason": "blocked", "at": "2026-01-01T10:00:00Z",
            "reviewDue": "2026-01-03T10:00:00Z"});
        let refused = guard_record(&body, "2026-01-01T10:00:00Z").unwrap();
        body["emergency"] = json!(null);
        body["allowed"] = json!(true);
        let plain = guard_record(&body, "2026-01-01T10:00:00Z").unwrap();
        assert!(emergencies(&[rec(1, refused), rec(2, plain)]).is_empty());
    }
}
