//! Which finished operations the watch still has to hand to the log, and when. Takes Applications as
//! the Kubernetes API returns them and the current time; gives the event bodies that are due, each in
//! the shape the webhook posts (`{"event", "app"}`), so the sink extracts them as it extracts a
//! delivery and files them under the same idempotency key. Pure: the time is passed in, nothing is
//! sent from here.
//!
//! An operation is due `grace` after it finished (Argo CD's `finishedAt`; never later than `grace`
//! after it was first seen, whatever the controller's clock says): the webhook delivery, which carries
//! the commit and so the approvers, normally comes first, and the watch's record is then a duplicate
//! that writes nothing. What Argo CD writes (pkg/apis/application/v1alpha1/types.go):
//! - `status.operationState`: the last operation only; finished when `phase` is `Succeeded`,
//!   `Failed` or `Error`, with `startedAt`, `finishedAt`, `operation` and `syncResult`;
//! - `status.history`: the last `revisionHistoryLimit` (default 10) successful syncs, each with
//!   `revision(s)`, `source(s)`, `deployStartedAt` (the operation's `startedAt`), `deployedAt` (its
//!   `finishedAt`) and `initiatedBy`. A sync that is there but no longer in `operationState` (several
//!   syncs while the sink was down) is rebuilt from its entry (`via: history`).
//!
//! What the Applications hold when the watch first starts over a data directory (their last
//! operation, their history) and finished before it started happened before sluice recorded: while
//! [`Tracker::importing`], it is taken as `via: import`, once, and not as new changes.

use crate::record::{Via, SYNC_FAILED, SYNC_SUCCEEDED};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};

/// Operations remembered as recorded, per Application (more than `revisionHistoryLimit` can hold).
const DONE_KEPT: usize = 64;

/// How long a record the log could not take waits before the next try.
const RETRY: TimeDelta = TimeDelta::seconds(5);

/// One operation waiting to be recorded.
#[derive(Debug, Clone)]
struct Pending {
    due: DateTime<Utc>,
    body: Value,
    via: Via,
    app: String,
}

/// An operation that is due: its key (to report back), the event body, and how it was learnt of.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub key: String,
    pub body: Value,
    pub via: Via,
}

/// The operations seen and not yet recorded, and those recorded lately.
#[derive(Debug)]
pub struct Tracker {
    grace: TimeDelta,
    pending: HashMap<String, Pending>,
    done: HashMap<String, VecDeque<String>>,
    /// Taking in the first listing ever: what it holds that finished before this instant (the
    /// start) is imported.
    importing: Option<DateTime<Utc>>,
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str().filter(|s| !s.is_empty())
}

fn time(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(str_at(v, path)?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Tracker {
    /// A tracker that lets the webhook have `grace` to deliver first.
    pub fn new(grace: std::time::Duration) -> Self {
        Tracker {
            grace: TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX),
            pending: HashMap::new(),
            done: HashMap::new(),
            importing: None,
        }
    }

    /// From now on (until `None`), what is observed and finished before `started` predates sluice:
    /// it is imported (`via: import`).
    pub fn importing(&mut self, started: Option<DateTime<Utc>>) {
        self.importing = started;
    }

    /// Whether an operation that finished at `finished` is imported.
    fn imports(&self, finished: Option<DateTime<Utc>>) -> bool {
        self.importing
            .is_some_and(|start| finished.is_none_or(|f| f < start))
    }

    /// Imported operations not yet recorded.
    pub fn pending_imports(&self) -> usize {
        self.pending
            .values()
            .filter(|p| p.via == Via::Import)
            .count()
    }

    /// Operations waiting.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Takes in an Application as listed or watched at `now`: its finished operation and the
    /// deployments of its history that are not recorded yet become pending.
    pub fn observe(&mut self, app: &Value, now: DateTime<Utc>) {
        let Some(identity) = identity(app) else {
            return;
        };
        let op = get(app, &["status", "operationState"]).unwrap_or(&Value::Null);
        let started = str_at(op, &["startedAt"]);
        let event = match str_at(op, &["phase"]) {
            Some("Succeeded") => Some(SYNC_SUCCEEDED),
            Some("Failed" | "Error") => Some(SYNC_FAILED),
            _ => None,
        };
        let kept = trimmed(app);
        if let (Some(event), Some(started)) = (event, started) {
            let key = format!("{event}|{identity}|{started}");
            let finished = time(op, &["finishedAt"]);
            let body = json!({"event": event, "app": kept});
            let via = if self.imports(finished) {
                Via::Import
            } else {
                Via::Watch
            };
            self.enqueue(key, &identity, finished, now, body, via);
        }
        let history = get(app, &["status", "history"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for entry in history {
            let Some(deploy_started) = str_at(entry, &["deployStartedAt"]) else {
                // Written by an Argo CD before deployStartedAt existed: no key can match its webhook's.
                continue;
            };
            if Some(deploy_started) == started {
                continue;
            }
            let key = format!("{SYNC_SUCCEEDED}|{identity}|{deploy_started}");
            let body = json!({"event": SYNC_SUCCEEDED, "app": from_history(&kept, entry)});
            let deployed = time(entry, &["deployedAt"]);
            let via = if self.imports(deployed) {
                Via::Import
            } else {
                Via::History
            };
            self.enqueue(key, &identity, deployed, now, body, via);
        }
    }

    fn enqueue(
        &mut self,
        key: String,
        app: &str,
        finished: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        body: Value,
        via: Via,
    ) {
        let recorded = self.done.get(app).is_some_and(|d| d.contains(&key));
        if recorded || self.pending.contains_key(&key) {
            return;
        }
        let latest = now
            .checked_add_signed(self.grace)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let due = finished
            .and_then(|f| f.checked_add_signed(self.grace))
            .map_or(latest, |d| d.clamp(now, latest));
        let app = app.to_owned();
        self.pending.insert(
            key,
            Pending {
                due,
                body,
                via,
                app,
            },
        );
    }

    /// The operations due at `now`, oldest due first. They stay pending until [`Tracker::recorded`]
    /// or [`Tracker::failed`] says what became of them.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<Due> {
        let mut due: Vec<(&DateTime<Utc>, Due)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(key, p)| {
                let d = Due {
                    key: key.clone(),
                    body: p.body.clone(),
                    via: p.via,
                };
                (&p.due, d)
            })
            .collect();
        due.sort_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.key.cmp(&b.1.key)));
        due.into_iter().map(|(_, d)| d).collect()
    }

    /// The log holds the operation `key` now (written, or found there already).
    pub fn recorded(&mut self, key: &str) {
        if let Some(p) = self.pending.remove(key) {
            let done = self.done.entry(p.app).or_default();
            if done.len() == DONE_KEPT {
                done.pop_front();
            }
            done.push_back(key.to_owned());
        }
    }

    /// The log could not take the operation `key` at `now`: it is tried again a little later.
    pub fn failed(&mut self, key: &str, now: DateTime<Utc>) {
        if let Some(p) = self.pending.get_mut(key) {
            p.due = now + RETRY;
        }
    }
}

/// The Application's identity as the idempotency key has it: its uid, else namespace/name.
fn identity(app: &Value) -> Option<String> {
    let name = str_at(app, &["metadata", "name"])?;
    Some(match str_at(app, &["metadata", "uid"]) {
        Some(uid) => uid.to_owned(),
        None => format!(
            "{}/{name}",
            str_at(app, &["metadata", "namespace"]).unwrap_or("")
        ),
    })
}

/// What the record needs of an Application: identity, spec (sources and destination), and the status
/// members the record and the gate read; not `managedFields`, `status.resources` or the rest, which
/// would only take memory while the operation waits.
fn trimmed(app: &Value) -> Value {
    let pick = |from: Option<&Value>, keys: &[&str]| -> Value {
        let mut out = Map::new();
        if let Some(Value::Object(o)) = from {
            for k in keys {
                if let Some(v) = o.get(*k) {
                    out.insert((*k).to_owned(), v.clone());
                }
            }
        }
        Value::Object(out)
    };
    json!({
        "metadata": pick(get(app, &["metadata"]), &["name", "namespace", "uid"]),
        "spec": pick(get(app, &["spec"]), &["project", "destination", "source", "sources"]),
        "status": pick(get(app, &["status"]), &[
            "operationState", "history", "sync", "health", "sourceType", "sourceTypes",
        ]),
    })
}

/// The Application as it was after the sync of a history entry: its operation rebuilt from the entry
/// (phase `Succeeded`: history holds successful syncs only; started and finished at the entry's
/// times; its initiator, revision(s) and source(s)), no health (today's is not that sync's), and no
/// sync result beyond the revision (the hooks that ran are not in the history).
fn from_history(app: &Value, entry: &Value) -> Value {
    let mut app = app.clone();
    let copy = |keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|k| Some(((*k).to_owned(), entry.get(*k)?.clone())))
            .collect()
    };
    let operation = json!({
        "phase": "Succeeded",
        "startedAt": entry.get("deployStartedAt"),
        "finishedAt": entry.get("deployedAt"),
        "operation": {"initiatedBy": entry.get("initiatedBy").cloned().unwrap_or(json!({}))},
        "syncResult": copy(&["revision", "revisions", "source", "sources"]),
    });
    if let Some(Value::Object(status)) = app.get_mut("status") {
        status.insert("operationState".into(), operation);
        status.insert(
            "sync".into(),
            Value::Object(copy(&["revision", "revisions"])),
        );
        status.remove("health");
    }
    app
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn app(phase: &str, started: &str, finished: &str, history: &Value) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "u-1", "managedFields": [{"manager": "x"}]},
            "spec": {"project": "default", "source": {"repoURL": "https://git/x", "path": "shop", "plugin": {"name": "sluice"}},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"}},
            "status": {"resources": [{"kind": "Deployment"}], "health": {"status": "Healthy"},
                "sync": {"status": "Synced", "revision": "bbb"},
                "history": history,
                "operationState": {"phase": phase, "startedAt": started, "finishedAt": finished,
                    "operation": {"initiatedBy": {"username": "alice"}, "sync": {"revision": "bbb"}},
                    "syncResult": {"revision": "bbb", "resources": []}}}})
    }

    fn history() -> Value {
        json!([
            {"id": 1, "revision": "aaa", "deployStartedAt": "2026-01-01T00:00:00Z", "deployedAt": "2026-01-01T00:01:00Z",
             "source": {"repoURL": "https://git/x"}, "initiatedBy": {"automated": true}},
            {"id": 2, "revision": "bbb", "deployStartedAt": "2026-01-02T00:00:00Z", "deployedAt": "2026-01-02T00:01:00Z",
             "source": {"repoURL": "https://git/x"}, "initiatedBy": {"username": "alice"}}
        ])
    }

    #[test]
    fn a_finished_operation_is_due_after_the_grace_period() {
        let mut tracker = Tracker::new(Duration::from_mins(2));
        let now = t("2026-01-02T00:01:05Z");
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        assert!(
            tracker.due(now).is_empty(),
            "the webhook gets its grace period"
        );
        let due = tracker.due(t("2026-01-02T00:03:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].via, Via::Watch);
        assert_eq!(due[0].body["event"], "sync-succeeded");
        assert_eq!(
            due[0].body["app"]["metadata"],
            json!({"name": "shop", "namespace": "argocd", "uid": "u-1"})
        );
        assert!(due[0].body["app"]["status"].get("resources").is_none());
        tracker.recorded(&due[0].key);
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        assert_eq!(tracker.pending(), 0, "recorded once, never again");
    }

    #[test]
    fn running_operations_wait_and_failures_are_sync_failed() {
        let mut tracker = Tracker::new(Duration::ZERO);
        let now = t("2026-01-02T00:05:00Z");
        tracker.observe(&app("Running", "2026-01-02T00:00:00Z", "", &json!([])), now);
        assert_eq!(tracker.pending(), 0);
        tracker.observe(
            &app(
                "Error",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        assert_eq!(tracker.due(now)[0].body["event"], "sync-failed");
    }

    #[test]
    fn an_old_operation_seen_on_start_is_due_at_once_and_a_future_one_within_grace() {
        let mut tracker = Tracker::new(Duration::from_mins(2));
        let now = t("2026-03-01T00:00:00Z");
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        assert_eq!(tracker.due(now).len(), 1);
        let mut skewed = Tracker::new(Duration::from_mins(2));
        skewed.observe(
            &app(
                "Succeeded",
                "2027-01-01T00:00:00Z",
                "2027-01-01T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        assert_eq!(
            skewed.due(t("2026-03-01T00:02:00Z")).len(),
            1,
            "never later than grace after seen"
        );
    }

    #[test]
    fn history_entries_not_in_the_operation_state_are_rebuilt() {
        let mut tracker = Tracker::new(Duration::ZERO);
        let now = t("2026-01-03T00:00:00Z");
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &history(),
            ),
            now,
        );
        let due = tracker.due(now);
        assert_eq!(due.len(), 2, "{due:?}");
        let old = due.iter().find(|d| d.via == Via::History).unwrap();
        let op = &old.body["app"]["status"]["operationState"];
        assert_eq!(op["startedAt"], "2026-01-01T00:00:00Z");
        assert_eq!(op["finishedAt"], "2026-01-01T00:01:00Z");
        assert_eq!(op["phase"], "Succeeded");
        assert_eq!(op["operation"]["initiatedBy"], json!({"automated": true}));
        assert_eq!(op["syncResult"]["revision"], "aaa");
        assert_eq!(
            old.body["app"]["status"]["sync"],
            json!({"revision": "aaa"})
        );
        assert!(old.body["app"]["status"].get("health").is_none());
    }

    #[test]
    fn a_record_the_log_refused_is_tried_again() {
        let mut tracker = Tracker::new(Duration::ZERO);
        let now = t("2026-01-03T00:00:00Z");
        tracker.observe(
            &app(
                "Failed",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &json!([]),
            ),
            now,
        );
        let key = tracker.due(now)[0].key.clone();
        tracker.failed(&key, now);
        assert!(tracker.due(now).is_empty());
        assert_eq!(tracker.due(now + RETRY).len(), 1);
    }

    #[test]
    fn what_the_first_listing_holds_is_imported_and_later_history_is_not() {
        let mut tracker = Tracker::new(Duration::ZERO);
        let now = t("2026-01-03T00:00:00Z");
        tracker.importing(Some(now));
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:01:00Z",
                &history(),
            ),
            now,
        );
        assert_eq!(tracker.pending_imports(), 2);
        let due = tracker.due(now);
        assert!(due.iter().all(|d| d.via == Via::Import), "{due:?}");
        for d in &due {
            tracker.recorded(&d.key);
        }
        assert_eq!(tracker.pending_imports(), 0);
        tracker.importing(None);
        let mut later = history();
        later
            .as_array_mut()
            .unwrap()
            .push(json!({"id": 3, "revision": "ccc",
            "deployStartedAt": "2026-01-03T00:00:00Z", "deployedAt": "2026-01-03T00:01:00Z",
            "source": {"repoURL": "https://git/x"}, "initiatedBy": {"username": "bob"}}));
        tracker.observe(
            &app(
                "Succeeded",
                "2026-01-04T00:00:00Z",
                "2026-01-04T00:01:00Z",
                &later,
            ),
            t("2026-01-05T00:00:00Z"),
        );
        let vias: Vec<Via> = tracker
            .due(t("2026-01-05T00:00:00Z"))
            .iter()
            .map(|d| d.via)
            .collect();
        assert_eq!(vias.len(), 2);
        assert!(
            vias.contains(&Via::History) && vias.contains(&Via::Watch),
            "{vias:?}"
        );
    }
}
