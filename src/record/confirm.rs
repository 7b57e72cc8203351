//! Which webhook records the Application watch confirmed (docs/audit-log.md, "The Application watch"):
//! the confirmation record the sink writes when the watch finds an operation it sees on the Application
//! already recorded by a webhook delivery, and the records `audit exceptions` flags `unconfirmed`. A
//! write token that leaked could post any event; the watch reads what Argo CD itself wrote on the
//! Application, so an operation it never saw there has no independent witness. Pure: no clock, no I/O.
//!
//! A webhook record of an operation (one with `startedAt`) is **confirmed** when a confirmation names
//! it, or when the watch recorded that operation itself (`via` `watch` or `history`: the same app and
//! `startedAt`, so a `deployed` or `health-degraded` delivery of a watched operation is confirmed
//! too). It is **unconfirmed** when the watch has been running since before it (a watch record or a
//! confirmation comes earlier in the log) and either saw a later operation of the same app (Argo CD
//! runs one operation of an app at a time, and the watch sees each in `operationState` or
//! `status.history`), or was still running [`WATCHED_FOR`] after the record was received. Records
//! received more than [`LEAD`] before the first record the watch wrote (it ran from about then),
//! records without an operation, and logs of a sink without `--watch-applications` are never flagged.

use super::event::{confirmation_key, Via, WATCH_CONFIRMATION};
use super::model::{App, Body, Confirmation, Record, SyncEvent};
use chrono::{DateTime, FixedOffset, TimeDelta};
use serde_json::Map;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The reason `audit exceptions` gives a webhook record the watch never confirmed.
pub const UNCONFIRMED: &str = "unconfirmed";

/// How long the watch must have run after a webhook record, without seeing its operation, for the
/// record to be unconfirmed when no later operation of its app was seen (well past `--watch-grace`,
/// 2 minutes by default, and kube-rs' reconnects).
pub const WATCHED_FOR: TimeDelta = TimeDelta::hours(1);

/// How long before its first record the watch is taken to have run: it confirms a delivery
/// `--watch-grace` (2 minutes by default) after the operation finished.
pub const LEAD: TimeDelta = TimeDelta::minutes(10);

/// The confirmation of `stored`, the record under the key of an operation the watch saw (`via`
/// `watch` or `history`), received at `received_at`: `None` unless `stored` is a webhook record (or
/// one written before records named their `via`, when the webhook was the only path).
pub fn confirmation_record(stored: &Record, via: Via, received_at: &str) -> Option<Body> {
    let Body::Sync(s) = &stored.body else {
        return None;
    };
    if !is_webhook(s) || via == Via::Webhook {
        return None;
    }
    Some(Body::Confirmation(Box::new(Confirmation {
        event: WATCH_CONFIRMATION.to_owned(),
        received_at: received_at.to_owned(),
        key: confirmation_key(&s.key),
        confirms: stored.seq,
        app: s.app.clone(),
        started_at: s.started_at.clone(),
        via: via.as_str().to_owned(),
        extra: Map::new(),
    })))
}

fn is_webhook(s: &SyncEvent) -> bool {
    s.via
        .as_present()
        .is_none_or(|v| v == Via::Webhook.as_str())
}

/// The app as the idempotency key names it: its uid, else `namespace/name`.
fn identity(app: &App) -> String {
    match app.uid.as_deref().filter(|u| !u.is_empty()) {
        Some(uid) => uid.to_owned(),
        None => format!("{}/{}", app.namespace.as_deref().unwrap_or(""), app.name),
    }
}

fn time(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t).ok()
}

/// What the watch saw, over the whole log.
#[derive(Default)]
struct Seen {
    /// The receipt of the first watch record or confirmation, and of the last.
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
    /// Operations seen: (app, `startedAt`).
    operations: HashSet<(String, String)>,
    /// Records confirmed by seq.
    confirmed: HashSet<u64>,
    /// The latest operation start seen per app.
    latest: HashMap<String, DateTime<FixedOffset>>,
}

impl Seen {
    fn saw(&mut self, received: &str, app: &App, started: Option<&str>) {
        if let Some(at) = time(received) {
            self.first = Some(self.first.map_or(at, |f| f.min(at)));
            self.last = self.last.max(Some(at));
        }
        let Some(started) = started else { return };
        let id = identity(app);
        if let Some(at) = time(started) {
            let latest = self.latest.entry(id.clone()).or_insert(at);
            *latest = (*latest).max(at);
        }
        self.operations.insert((id, started.to_owned()));
    }
}

/// The seqs of the webhook records in `records` (the whole log, any order) that the watch never
/// confirmed, by the rule of the module doc.
pub fn unconfirmed(records: &[Record]) -> BTreeSet<u64> {
    let mut seen = Seen::default();
    for r in records {
        match &r.body {
            Body::Sync(s) if !is_webhook(s) => {
                seen.saw(&s.received_at, &s.app, s.started_at.as_deref());
            }
            Body::Confirmation(c) => {
                seen.confirmed.insert(c.confirms);
                seen.saw(&c.received_at, &c.app, c.started_at.as_deref());
            }
            _ => {}
        }
    }
    let Some(since) = seen.first.and_then(|f| f.checked_sub_signed(LEAD)) else {
        return BTreeSet::new();
    };
    records
        .iter()
        .filter(|r| !seen.confirmed.contains(&r.seq))
        .filter_map(|r| match &r.body {
            Body::Sync(s) if is_webhook(s) => Some((r.seq, s)),
            _ => None,
        })
        .filter(|(_, s)| {
            let (Some(started), Some(received)) = (s.started_at.as_deref(), time(&s.received_at))
            else {
                return false;
            };
            if received < since {
                return false;
            }
            let id = identity(&s.app);
            if seen.operations.contains(&(id.clone(), started.to_owned())) {
                return false;
            }
            let later_seen = time(started)
                .zip(seen.latest.get(&id))
                .is_some_and(|(at, latest)| *latest > at);
            let watched_after = received
                .checked_add_signed(WATCHED_FOR)
                .zip(seen.last)
                .is_some_and(|(due, last)| last >= due);
            later_seen || watched_after
        })
        .map(|(seq, _)| seq)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{event_record_via, Added};
    use serde_json::json;

    fn pattern() -> regex::Regex {
        regex::Regex::new(crate::commit::DEFAULT_CHANGE_PATTERN).unwrap()
    }

    /// A record at `seq` of app `uid` for the operation started at `started`, learnt of by `via`.
    fn sync(seq: u64, event: &str, uid: &str, started: &str, received: &str, via: Via) -> Record {
        let body = json!({"event": event, "app": {"metadata": {"name": uid, "namespace": "argocd", "uid": uid},
            "spec": {"destination": {"namespace": "shop"}},
            "status": {"operationState": {"phase": "Succeeded", "startedAt": started,
                "finishedAt": started, "syncResult": {"revision": "abc"}}}}});
        Record {
            seq,
            prev: String::new(),
            hash: String::new(),
            body: event_record_via(&body, received, &pattern(), via).unwrap(),
        }
    }

    fn confirm(seq: u64, stored: &Record, received: &str) -> Record {
        Record {
            seq,
            prev: String::new(),
            hash: String::new(),
            body: confirmation_record(stored, Via::Watch, received).expect("a webhook record"),
        }
    }

    const T: &str = "2026-11-20T10:00:00.000Z";

    #[test]
    fn only_a_webhook_record_is_confirmed_once_under_its_own_key() {
        let hook = sync(
            1,
            "sync-succeeded",
            "u1",
            "2026-11-20T09:59:00Z",
            T,
            Via::Webhook,
        );
        let Some(Body::Confirmation(c)) = confirmation_record(&hook, Via::History, T) else {
            panic!("a confirmation")
        };
        assert_eq!((c.confirms, c.via.as_str()), (1, "history"));
        assert_eq!(c.started_at.as_deref(), Some("2026-11-20T09:59:00Z"));
        assert_ne!(c.key, hook.body.key());
        let again = confirmation_record(&hook, Via::Watch, "2026-11-20T11:00:00Z").unwrap();
        assert_eq!(again.key(), c.key, "one confirmation per record");
        let watched = sync(
            2,
            "sync-succeeded",
            "u1",
            "2026-11-20T09:59:00Z",
            T,
            Via::Watch,
        );
        assert!(confirmation_record(&watched, Via::Watch, T).is_none());
        // A record of an older release (no `via`) came through the webhook.
        let mut old = hook.clone();
        if let Body::Sync(s) = &mut old.body {
            s.via = Added::Absent;
        }
        assert!(confirmation_record(&old, Via::Watch, T).is_some());
    }

    #[test]
    fn a_forged_operation_is_unconfirmed_once_the_watch_saw_past_it() {
        let real = sync(
            2,
            "sync-succeeded",
            "u1",
            "2026-11-20T10:00:00Z",
            T,
            Via::Webhook,
        );
        let deployed = sync(3, "deployed", "u1", "2026-11-20T10:00:00Z", T, Via::Webhook);
        let forged = sync(
            4,
            "sync-succeeded",
            "u1",
            "2026-11-20T10:05:00Z",
            "2026-11-20T10:06:00.000Z",
            Via::Webhook,
        );
        let first = sync(
            1,
            "sync-succeeded",
            "u0",
            "2026-11-20T09:00:00Z",
            T,
            Via::Watch,
        );
        let confirmation = confirm(5, &real, "2026-11-20T10:02:00.000Z");
        // Only the confirmation so far: the forged record is not yet past anything the watch saw.
        let log = vec![
            first.clone(),
            real.clone(),
            deployed.clone(),
            forged.clone(),
            confirmation.clone(),
        ];
        assert_eq!(unconfirmed(&log), BTreeSet::new());
        // The watch records a later operation of the app: the forged one was never seen.
        let later = sync(
            6,
            "sync-succeeded",
            "u1",
            "2026-11-20T10:10:00Z",
            "2026-11-20T10:12:00.000Z",
            Via::Watch,
        );
        let mut log = log;
        log.push(later);
        assert_eq!(unconfirmed(&log), BTreeSet::from([4]));
        // Nor is a record of an app the watch never saw again, once the watch ran an hour past it.
        let other = sync(
            7,
            "health-degraded",
            "u9",
            "2026-11-20T10:20:00Z",
            "2026-11-20T10:21:00.000Z",
            Via::Webhook,
        );
        log.push(other);
        assert_eq!(unconfirmed(&log), BTreeSet::from([4]));
        let hour = sync(
            8,
            "sync-succeeded",
            "u0",
            "2026-11-20T11:20:00Z",
            "2026-11-20T11:21:00.000Z",
            Via::Watch,
        );
        log.push(hour);
        assert_eq!(unconfirmed(&log), BTreeSet::from([4, 7]));
    }

    #[test]
    fn nothing_is_flagged_without_the_watch_or_before_it_ran() {
        let hook = sync(
            1,
            "sync-succeeded",
            "u1",
            "2026-11-20T08:00:00Z",
            T,
            Via::Webhook,
        );
        let later = sync(
            2,
            "sync-succeeded",
            "u1",
            "2026-11-20T09:00:00Z",
            T,
            Via::Webhook,
        );
        assert_eq!(unconfirmed(&[hook.clone(), later.clone()]), BTreeSet::new());
        // The watch starts after both and sees a later operation: the earlier records stay unjudged.
        let watched = sync(
            3,
            "sync-succeeded",
            "u1",
            "2026-11-20T12:00:00Z",
            "2026-11-20T12:00:00.000Z",
            Via::Watch,
        );
        assert_eq!(unconfirmed(&[hook, later, watched]), BTreeSet::new());
    }
}
