//! The record model: what the sink keeps of an Argo CD Notifications event (SPEC.md §5) or of a guard
//! decision, and its idempotency key. Takes the parsed request body and the receipt time, gives a record
//! without `seq`/`prev`/`hash` (the log adds those). Pure: no clock, no I/O.
//!
//! Only the extracted fields are kept, never the body: an Application's spec can carry Helm values with
//! secrets. Every field is read defensively (a wrong type reads as absent), so no body can panic this.

use super::canonical::MAX_SAFE_INTEGER;
use super::commit::{self, CommitMessage};
use regex::Regex;
use serde_json::{json, Map, Value};

/// The `event` values of SPEC.md §5, one per trigger of the webhook templates.
pub const EVENTS: [&str; 8] = [
    "created",
    "deleted",
    "deployed",
    "health-degraded",
    "sync-failed",
    "sync-running",
    "sync-status-unknown",
    "sync-succeeded",
];

/// The `event` of a guard decision record (`POST /v1/guard`).
pub const GUARD_DECISION: &str = "guard-decision";

/// A record before the log chains it: the fields, and the idempotency key (also one of the fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub key: String,
    pub fields: Map<String, Value>,
}

/// Why a request body is not an event (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("missing \"event\" (one of {})", EVENTS.join(", "))]
    MissingEvent,
    #[error("unknown event {0:?} (one of {all})", all = EVENTS.join(", "))]
    UnknownEvent(String),
    #[error("missing app.metadata.name (the body's \"app\" must be the whole Application)")]
    MissingAppName,
    #[error("missing or empty {0:?}")]
    Missing(&'static str),
    #[error("{field:?} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// Reads a string at `path` in `v`; anything else reads as absent.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

fn opt_str(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn safe_int(v: &Value) -> Option<i64> {
    v.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER)
}

/// The record of a `POST /v1/events` body, received at `received_at` (RFC 3339); `pattern` is the change-id
/// pattern applied to the commit subject.
///
/// # Errors
///
/// Not an object, no or an unknown `event`, no `app.metadata.name`.
pub fn event_record(body: &Value, received_at: &str, pattern: &Regex) -> Result<Draft, EventError> {
    let obj = body.as_object().ok_or(EventError::NotAnObject)?;
    let event = match obj.get("event") {
        None | Some(Value::Null) => return Err(EventError::MissingEvent),
        Some(Value::String(e)) if EVENTS.contains(&e.as_str()) => e.as_str(),
        Some(Value::String(e)) => return Err(EventError::UnknownEvent(e.clone())),
        Some(other) => return Err(EventError::UnknownEvent(other.to_string())),
    };
    let app = obj.get("app").unwrap_or(&Value::Null);
    let name = str_at(app, &["metadata", "name"])
        .filter(|n| !n.is_empty())
        .ok_or(EventError::MissingAppName)?;
    let namespace = str_at(app, &["metadata", "namespace"]);
    let uid = str_at(app, &["metadata", "uid"]);
    let op = get(app, &["status", "operationState"]).unwrap_or(&Value::Null);
    let revision = revision_of(app, op);
    let started_at = str_at(op, &["startedAt"]);
    let message = obj
        .get("commit")
        .and_then(|c| str_at(c, &["Message"]))
        .map(CommitMessage::parse);
    let history = history_ids(app, revision, started_at);

    let identity = match uid {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => format!("{}/{name}", namespace.unwrap_or("")),
    };
    let key = format!(
        "{event}|{identity}|{}|{}",
        started_at.unwrap_or(""),
        revision.unwrap_or("")
    );

    let mut f = Map::new();
    f.insert("event".into(), json!(event));
    f.insert("receivedAt".into(), json!(received_at));
    f.insert("key".into(), json!(key));
    f.insert(
        "app".into(),
        json!({
            "name": name,
            "namespace": opt_str(namespace),
            "uid": opt_str(uid),
            "project": opt_str(str_at(app, &["spec", "project"])),
        }),
    );
    f.insert(
        "destination".into(),
        json!({
            "server": opt_str(str_at(app, &["spec", "destination", "server"])),
            "name": opt_str(str_at(app, &["spec", "destination", "name"])),
            "namespace": opt_str(str_at(app, &["spec", "destination", "namespace"])),
        }),
    );
    f.insert("revision".into(), opt_str(revision));
    f.insert("phase".into(), opt_str(str_at(op, &["phase"])));
    f.insert(
        "health".into(),
        opt_str(str_at(app, &["status", "health", "status"])),
    );
    f.insert("message".into(), opt_str(str_at(op, &["message"])));
    f.insert("startedAt".into(), opt_str(started_at));
    f.insert("finishedAt".into(), opt_str(str_at(op, &["finishedAt"])));
    f.insert("initiatedBy".into(), initiated_by(op));
    f.insert(
        "historyId".into(),
        history.current.map_or(Value::Null, |i| json!(i)),
    );
    f.insert(
        "previousHistoryId".into(),
        history.previous.map_or(Value::Null, |i| json!(i)),
    );
    f.insert(
        "previousRevision".into(),
        opt_str(history.previous_revision),
    );
    insert_commit(&mut f, obj.get("commit"), message.as_ref(), pattern);
    f.insert("backup".into(), opt_str(backup_of(op)));
    f.insert("emergency".into(), opt_str(emergency_of(app)));
    Ok(Draft { key, fields: f })
}

/// `operationState.syncResult.revision`, else `status.sync.revision`, else the first of the
/// multi-source `revisions` lists.
fn revision_of<'a>(app: &'a Value, op: &'a Value) -> Option<&'a str> {
    str_at(op, &["syncResult", "revision"])
        .or_else(|| str_at(app, &["status", "sync", "revision"]))
        .or_else(|| {
            get(app, &["status", "sync", "revisions"])
                .and_then(|r| r.get(0))
                .and_then(Value::as_str)
        })
        .or_else(|| {
            get(op, &["syncResult", "revisions"])
                .and_then(|r| r.get(0))
                .and_then(Value::as_str)
        })
}

fn initiated_by(op: &Value) -> Value {
    let by = get(op, &["operation", "initiatedBy"]).unwrap_or(&Value::Null);
    json!({
        "username": opt_str(str_at(by, &["username"]).filter(|u| !u.is_empty())),
        "automated": get(by, &["automated"]).and_then(Value::as_bool).unwrap_or(false),
    })
}

struct HistoryIds<'a> {
    current: Option<i64>,
    previous: Option<i64>,
    previous_revision: Option<&'a str>,
}

/// The `status.history` entry of this sync (same revision and `deployStartedAt` = the operation's
/// `startedAt`, else the latest with that revision) and the entry before it: `argocd app rollback APP ID`
/// takes the id of the deployment to go back to.
fn history_ids<'a>(
    app: &'a Value,
    revision: Option<&str>,
    started_at: Option<&str>,
) -> HistoryIds<'a> {
    let entries: Vec<(i64, Option<&str>, Option<&str>)> = get(app, &["status", "history"])
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter_map(|e| {
                    let id = safe_int(e.get("id")?)?;
                    let rev = str_at(e, &["revision"])
                        .or_else(|| get(e, &["revisions"])?.get(0)?.as_str());
                    Some((id, rev, str_at(e, &["deployStartedAt"])))
                })
                .collect()
        })
        .unwrap_or_default();
    let same_rev = |e: &&(i64, Option<&str>, Option<&str>)| revision.is_some() && e.1 == revision;
    let current = entries
        .iter()
        .filter(same_rev)
        .find(|e| started_at.is_some() && e.2 == started_at)
        .or_else(|| entries.iter().filter(same_rev).max_by_key(|e| e.0))
        .map(|e| e.0);
    let previous = current.and_then(|c| entries.iter().filter(|e| e.0 < c).max_by_key(|e| e.0));
    HistoryIds {
        current,
        previous: previous.map(|e| e.0),
        previous_revision: previous.and_then(|e| e.1),
    }
}

fn insert_commit(
    f: &mut Map<String, Value>,
    raw: Option<&Value>,
    message: Option<&CommitMessage>,
    pattern: &Regex,
) {
    let commit = match (raw, message) {
        (Some(raw), Some(m)) => json!({
            "subject": m.subject,
            "author": opt_str(str_at(raw, &["Author"])),
            "date": opt_str(str_at(raw, &["Date"])),
        }),
        _ => Value::Null,
    };
    f.insert("commit".into(), commit);
    f.insert(
        "changeId".into(),
        opt_str(message.and_then(|m| m.change_id(pattern))),
    );
    let approvers = message.map(CommitMessage::approvers).unwrap_or_default();
    f.insert("approvedBy".into(), json!(approvers));
    for (field, key) in [
        ("risk", commit::RISK),
        ("rollback", commit::ROLLBACK),
        ("tested", commit::TESTED),
        ("maintenanceWindow", commit::MAINTENANCE_WINDOW),
    ] {
        f.insert(field.into(), opt_str(message.and_then(|m| m.trailer(key))));
    }
}

/// The pre-change Velero Backup that the sync ran as a PreSync hook.
fn backup_of(op: &Value) -> Option<&str> {
    get(op, &["syncResult", "resources"])?
        .as_array()?
        .iter()
        .find(|r| {
            str_at(r, &["kind"]) == Some("Backup")
                && str_at(r, &["group"]) == Some("velero.io")
                && str_at(r, &["hookType"]).is_none_or(|h| h == "PreSync")
        })
        .and_then(|r| str_at(r, &["name"]))
        .filter(|n| !n.is_empty())
}

/// The emergency change id set on the Application (`spec.source(s).plugin.env` `SLUICE_EMERGENCY`, which
/// Argo CD passes to the plugin as `ARGOCD_ENV_SLUICE_EMERGENCY`).
fn emergency_of(app: &Value) -> Option<&str> {
    let single = get(app, &["spec", "source"]).into_iter();
    let many = get(app, &["spec", "sources"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    single
        .chain(many)
        .filter_map(|s| get(s, &["plugin", "env"])?.as_array())
        .flatten()
        .find(|e| str_at(e, &["name"]) == Some("SLUICE_EMERGENCY"))
        .and_then(|e| str_at(e, &["value"]))
        .filter(|v| !v.is_empty())
}

/// The record of a `POST /v1/guard` body (the guard Job's decision), received at `received_at`.
///
/// # Errors
///
/// Not an object; `app` or `at` missing; a field of the wrong type; `at` not RFC 3339.
pub fn guard_record(body: &Value, received_at: &str) -> Result<Draft, EventError> {
    let obj = body.as_object().ok_or(EventError::NotAnObject)?;
    let string = |field: &'static str| -> Result<Option<&str>, EventError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(EventError::WrongType {
                field,
                expected: "a string or null",
            }),
        }
    };
    let app = string("app")?
        .filter(|a| !a.is_empty())
        .ok_or(EventError::Missing("app"))?;
    let at = string("at")?.ok_or(EventError::Missing("at"))?;
    if chrono::DateTime::parse_from_rfc3339(at).is_err() {
        return Err(EventError::WrongType {
            field: "at",
            expected: "an RFC 3339 time",
        });
    }
    let allowed = obj
        .get("allowed")
        .and_then(Value::as_bool)
        .ok_or(EventError::WrongType {
            field: "allowed",
            expected: "true or false",
        })?;
    let namespace = string("namespace")?;
    let revision = string("revision")?;
    let active = match obj.get("active") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| safe_int(i).filter(|i| *i >= 0))
            .collect::<Option<Vec<i64>>>()
            .ok_or(EventError::WrongType {
                field: "active",
                expected: "a list of window indices",
            })?,
        Some(_) => {
            return Err(EventError::WrongType {
                field: "active",
                expected: "a list of window indices",
            })
        }
    };
    let windows: Vec<String> = match obj.get("windows") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(describe_window).collect(),
        Some(_) => {
            return Err(EventError::WrongType {
                field: "windows",
                expected: "a list of window descriptions",
            })
        }
    };
    let key = format!(
        "{GUARD_DECISION}|{}/{app}|{}|{at}|{allowed}",
        namespace.unwrap_or(""),
        revision.unwrap_or("")
    );
    let mut f = Map::new();
    f.insert("event".into(), json!(GUARD_DECISION));
    f.insert("receivedAt".into(), json!(received_at));
    f.insert("key".into(), json!(key));
    f.insert("app".into(), json!({ "name": app }));
    f.insert(
        "destination".into(),
        json!({ "namespace": opt_str(namespace) }),
    );
    f.insert("changeId".into(), opt_str(string("changeId")?));
    f.insert("revision".into(), opt_str(revision));
    f.insert("allowed".into(), json!(allowed));
    f.insert("emergency".into(), opt_str(string("emergency")?));
    f.insert("reason".into(), json!(string("reason")?.unwrap_or("")));
    f.insert("at".into(), json!(at));
    f.insert("active".into(), json!(active));
    f.insert("windows".into(), json!(windows));
    Ok(Draft { key, fields: f })
}

/// A window as a line of text: a string as given, an object by its `description` (else its JSON).
fn describe_window(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => str_at(other, &["description"])
            .filter(|d| !d.is_empty())
            .map_or_else(|| other.to_string(), str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::super::canonical::object_to_canonical;
    use super::*;
    use proptest::prelude::*;

    fn pattern() -> Regex {
        Regex::new(commit::DEFAULT_CHANGE_PATTERN).unwrap()
    }

    fn application() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "u-1"},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                "source": {"repoURL": "https://git/x", "plugin": {"env": [{"name": "SLUICE_EMERGENCY", "value": "CHG-9"}]},
                           "helm": {"values": "password: hunter2"}}
            },
            "status": {
                "sync": {"status": "Synced", "revision": "bbb"},
                "health": {"status": "Healthy"},
                "history": [
                    {"id": 3, "revision": "aaa", "deployStartedAt": "2026-01-01T00:00:00Z"},
                    {"id": 4, "revision": "bbb", "deployStartedAt": "2026-01-02T00:00:00Z"},
                    {"id": 5, "revision": "bbb", "deployStartedAt": "2026-01-03T00:00:00Z"}
                ],
                "operationState": {
                    "phase": "Succeeded", "message": "successfully synced",
                    "startedAt": "2026-01-02T00:00:00Z", "finishedAt": "2026-01-02T00:01:00Z",
                    "operation": {"initiatedBy": {"username": "alice"}},
                    "syncResult": {"revision": "bbb", "resources": [
                        {"group": "batch", "kind": "Job", "name": "guard", "hookType": "PreSync"},
                        {"group": "velero.io", "kind": "Backup", "name": "pre-change-chg-1-x7k2p", "hookType": "PreSync"}
                    ]}
                }
            }
        })
    }

    #[test]
    fn extracts_the_fields_of_a_sync() {
        let body = json!({"event": "sync-succeeded", "app": application(), "commit": {
            "Message": "CHG-1: bump\n\nApproved-by: Bob\nRisk: low\nRollback: revert\nTested: staging\nMaintenance-window: tue",
            "Author": "Ann <a@x>", "Date": "2026-01-01T10:00:00Z", "Tags": null}});
        let d = event_record(&body, "2026-01-02T00:01:01Z", &pattern()).unwrap();
        let f = &d.fields;
        assert_eq!(d.key, "sync-succeeded|u-1|2026-01-02T00:00:00Z|bbb");
        assert_eq!(f["changeId"], "CHG-1");
        assert_eq!(f["revision"], "bbb");
        assert_eq!(f["phase"], "Succeeded");
        assert_eq!(f["health"], "Healthy");
        assert_eq!(f["historyId"], 4, "the entry with the same deployStartedAt");
        assert_eq!(f["previousHistoryId"], 3);
        assert_eq!(f["previousRevision"], "aaa");
        assert_eq!(f["backup"], "pre-change-chg-1-x7k2p");
        assert_eq!(f["emergency"], "CHG-9");
        assert_eq!(f["approvedBy"], json!(["Bob"]));
        assert_eq!(f["maintenanceWindow"], "tue");
        assert_eq!(
            f["initiatedBy"],
            json!({"username": "alice", "automated": false})
        );
        assert_eq!(f["destination"]["namespace"], "production");
        assert_eq!(f["commit"]["author"], "Ann <a@x>");
    }

    #[test]
    fn never_keeps_the_application_spec() {
        let body = json!({"event": "deployed", "app": application()});
        let d = event_record(&body, "t", &pattern()).unwrap();
        let text = String::from_utf8(object_to_canonical(&d.fields).unwrap()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_commit_without_id_records_null_change_id() {
        for commit in [json!(null), json!({"Message": "bump api"}), json!("junk")] {
            let body = json!({"event": "sync-failed", "app": application(), "commit": commit});
            let d = event_record(&body, "t", &pattern()).unwrap();
            assert_eq!(d.fields["changeId"], Value::Null);
        }
        let body = json!({"event": "sync-failed", "app": application()});
        assert_eq!(
            event_record(&body, "t", &pattern()).unwrap().fields["changeId"],
            Value::Null
        );
    }

    #[test]
    fn latest_history_entry_when_start_times_differ() {
        let mut app = application();
        app["status"]["operationState"]["startedAt"] = json!("2026-02-01T00:00:00Z");
        let d = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern()).unwrap();
        assert_eq!(d.fields["historyId"], 5);
        assert_eq!(d.fields["previousHistoryId"], 4);
    }

    #[test]
    fn rejects_unknown_event_and_missing_name() {
        let p = pattern();
        assert_eq!(
            event_record(&json!({"event": "synced", "app": application()}), "t", &p),
            Err(EventError::UnknownEvent("synced".into()))
        );
        assert_eq!(
            event_record(&json!({"app": application()}), "t", &p),
            Err(EventError::MissingEvent)
        );
        assert_eq!(
            event_record(
                &json!({"event": "deployed", "app": {"metadata": {}}}),
                "t",
                &p
            ),
            Err(EventError::MissingAppName)
        );
        assert_eq!(
            event_record(&json!([1]), "t", &p),
            Err(EventError::NotAnObject)
        );
    }

    #[test]
    fn automated_sync_has_no_username() {
        let mut app = application();
        app["status"]["operationState"]["operation"]["initiatedBy"] = json!({"automated": true});
        let d = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern()).unwrap();
        assert_eq!(
            d.fields["initiatedBy"],
            json!({"username": null, "automated": true})
        );
    }

    #[test]
    fn guard_decision_needs_app_at_and_allowed() {
        let ok = json!({"app": "shop", "namespace": "production", "changeId": "CHG-1", "revision": "bbb",
            "allowed": true, "emergency": null, "reason": "inside window 0", "at": "2026-01-02T00:00:00Z",
            "active": [0], "windows": ["Tue/Thu maintenance window"], "extra": 1.5});
        let d = guard_record(&ok, "t").unwrap();
        assert_eq!(d.fields["windows"], json!(["Tue/Thu maintenance window"]));
        assert!(object_to_canonical(&d.fields).is_ok());
        for bad in [
            json!({"at": "2026-01-02T00:00:00Z", "allowed": true}),
            json!({"app": "a", "allowed": true}),
            json!({"app": "a", "at": "yesterday", "allowed": true}),
            json!({"app": "a", "at": "2026-01-02T00:00:00Z"}),
            json!({"app": "a", "at": "2026-01-02T00:00:00Z", "allowed": true, "active": [1.5]}),
        ] {
            assert!(guard_record(&bad, "t").is_err(), "{bad}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-zA-Z0-9:/ -]{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("metadata"),
                Just("name"),
                Just("status"),
                Just("operationState"),
                Just("syncResult"),
                Just("history"),
                Just("id"),
                Just("revision"),
                Just("Message")
            ]
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("metadata".to_owned()),
                Just("name".to_owned()),
                Just("status".to_owned()),
                Just("operationState".to_owned()),
                Just("syncResult".to_owned()),
                Just("history".to_owned()),
                Just("id".to_owned()),
                Just("revision".to_owned()),
                Just("resources".to_owned()),
                Just("kind".to_owned()),
                Just("group".to_owned()),
                Just("spec".to_owned()),
                Just("source".to_owned()),
                Just("plugin".to_owned()),
                Just("env".to_owned()),
                Just("Message".to_owned()),
                Just("operation".to_owned()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((keys, inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn extraction_never_panics_and_always_canonicalises(
            event in prop_oneof![Just(json!("deployed")), Just(json!("nope")), Just(json!(1))],
            app in arb_json(),
            commit in arb_json(),
            guard in arb_json(),
        ) {
            let body = json!({"event": event, "app": app, "commit": commit});
            if let Ok(d) = event_record(&body, "t", &pattern()) {
                prop_assert!(object_to_canonical(&d.fields).is_ok());
            }
            if let Ok(d) = guard_record(&guard, "t") {
                prop_assert!(object_to_canonical(&d.fields).is_ok());
            }
        }
    }
}
