//! Building records: what the sink keeps of an Argo CD Notifications event (docs/audit-log.md,
//! "Records"); guard decisions and reviews are built in `decision`. Takes the parsed request body and
//! the receipt time, gives a typed record [`Body`] without `seq`/`prev`/`hash` (the ledger adds those). Pure: no clock, no I/O. The
//! types themselves, and how a line of the log reads into them, are in `model`.
//! Only the extracted fields are kept, never the body: an Application's spec can carry Helm values with
//! secrets. Every field is read defensively (a wrong type reads as absent), so no body can panic this.
//! Every member is written, `null` when unknown (the canonical bytes of every release so far,
//! tests/fixtures/audit/golden), but `approval`, `ticket` and `verification`, which the sink adds where they apply.

use super::event::{idempotency_key, EventError, Via, EVENTS};
use super::fields::{get, opt_str, safe_int, str_at};
use super::gate;
use super::model::{Added, App, Body, Commit, Destination, InitiatedBy, SyncEvent};
use crate::commit::attribution::{change_id_of, emergency_of};
use crate::commit::{self, CommitMessage};
use regex::Regex;
use serde_json::{Map, Value};

/// The record of a `POST /v1/events` body, received at `received_at` (RFC 3339); `pattern` is the
/// change-id pattern every candidate change id must match.
///
/// # Errors
///
/// Not an object, no or an unknown `event`, no `app.metadata.name`.
pub fn event_record(body: &Value, received_at: &str, pattern: &Regex) -> Result<Body, EventError> {
    event_record_via(body, received_at, pattern, Via::Webhook)
}

/// The record of an event body (as the webhook posts it: `event`, `app`, optional `commit`) that the
/// sink learnt of by `via`. The webhook and the Application watch both come here, so one operation
/// gets one idempotency key whichever path reports it.
///
/// # Errors
///
/// Not an object, no or an unknown `event`, no `app.metadata.name`.
pub fn event_record_via(
    body: &Value,
    received_at: &str,
    pattern: &Regex,
    via: Via,
) -> Result<Body, EventError> {
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
    let key = idempotency_key(
        event,
        &identity,
        started_at.unwrap_or(""),
        revision.unwrap_or(""),
    );

    let commit = obj.get("commit");
    let trailer = |key: &str| opt_str(message.as_ref().and_then(|m| m.trailer(key)));
    let author = commit.and_then(|c| str_at(c, &["Author"]));
    let change = change_id_of(app, op, message.as_ref(), pattern);
    let emergency = emergency_of(app, op, message.as_ref(), pattern);
    let gate = gate::of_event(event, via, app, op);
    Ok(Body::Sync(Box::new(SyncEvent {
        event: event.to_owned(),
        received_at: received_at.to_owned(),
        key,
        app: App {
            name: name.to_owned(),
            namespace: opt_str(namespace),
            uid: opt_str(uid),
            project: opt_str(str_at(app, &["spec", "project"])),
            extra: Map::new(),
        },
        destination: Destination {
            server: opt_str(str_at(app, &["spec", "destination", "server"])),
            name: opt_str(str_at(app, &["spec", "destination", "name"])),
            namespace: opt_str(str_at(app, &["spec", "destination", "namespace"])),
            extra: Map::new(),
        },
        revision: opt_str(revision),
        phase: opt_str(str_at(op, &["phase"])),
        health: opt_str(str_at(app, &["status", "health", "status"])),
        message: opt_str(str_at(op, &["message"])),
        started_at: opt_str(started_at),
        finished_at: opt_str(str_at(op, &["finishedAt"])),
        initiated_by: initiated_by(op),
        history_id: history.current,
        previous_history_id: history.previous,
        previous_revision: opt_str(history.previous_revision),
        commit: commit_of(commit, message.as_ref()),
        change_id: change.map(|(id, _)| id.to_owned()),
        approved_by: message
            .as_ref()
            .map(|m| m.approvers(author).into_iter().map(str::to_owned).collect())
            .unwrap_or_default(),
        risk: trailer(commit::RISK),
        rollback: trailer(commit::ROLLBACK),
        tested: trailer(commit::TESTED),
        maintenance_window: trailer(commit::MAINTENANCE_WINDOW),
        backup: opt_str(backup_of(op)),
        emergency: emergency.map(|(id, _)| id.to_owned()),
        change_id_source: Added::Present(change.map(|(_, from)| from.as_str().to_owned())),
        emergency_source: Added::Present(emergency.map(|(_, from)| from.as_str().to_owned())),
        via: Added::Present(via.as_str().to_owned()),
        gate: Added::Present(gate),
        approval: Added::Absent,
        ticket: Added::Absent,
        review_due: Added::Absent,
        verification: Added::Absent,
        extra: Map::new(),
    })))
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

fn initiated_by(op: &Value) -> InitiatedBy {
    let by = get(op, &["operation", "initiatedBy"]).unwrap_or(&Value::Null);
    InitiatedBy {
        username: opt_str(str_at(by, &["username"]).filter(|u| !u.is_empty())),
        automated: get(by, &["automated"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        extra: Map::new(),
    }
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

/// The commit of the record: `null` unless the body has commit metadata with a message.
fn commit_of(raw: Option<&Value>, message: Option<&CommitMessage>) -> Option<Commit> {
    let (raw, message) = (raw?, message?);
    Some(Commit {
        subject: message.subject.clone(),
        author: opt_str(str_at(raw, &["Author"])),
        date: opt_str(str_at(raw, &["Date"])),
        extra: Map::new(),
    })
}

/// The pre-change Velero Backup that the sync ran as a `PreSync` hook.
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

#[cfg(test)]
mod tests {
    use super::super::decision::guard_record;
    use super::*;
    use crate::ledger::canonical::{object_to_canonical, GENESIS};
    use crate::record::Record;
    use proptest::prelude::*;
    use serde_json::json;

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
        let f = &d.to_map();
        assert_eq!(
            d.key(),
            idempotency_key("sync-succeeded", "u-1", "2026-01-02T00:00:00Z", "bbb")
        );
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

    /// The merge-commit case of issue 10: GitHub's merge subject, the change in the body, and the
    /// Application's plugin env naming it too.
    #[test]
    fn the_application_names_the_change_of_a_merge_commit() {
        let mut app = application();
        app["spec"]["source"]["plugin"]["env"] =
            json!([{"name": "CHANGE_ID", "value": "CHG-1234"}]);
        let commit = json!({"Message": "Merge pull request #12 from acme/chg-1234\n\nCHG-1234: raise replicas\n",
            "Author": "Ann <a@x>"});
        let body = json!({"event": "sync-succeeded", "app": app, "commit": commit});
        let f = event_record(&body, "t", &pattern()).unwrap().to_map();
        assert_eq!(f["changeId"], "CHG-1234");
        assert_eq!(f["changeIdSource"], "application");
        assert_eq!(f["via"], "webhook");
        // Without the env, the merge body names it.
        app["spec"]["source"]["plugin"]["env"] = json!([]);
        let body = json!({"event": "sync-succeeded", "app": app, "commit": commit});
        let f = event_record(&body, "t", &pattern()).unwrap().to_map();
        assert_eq!(
            (&f["changeId"], &f["changeIdSource"]),
            (&json!("CHG-1234"), &json!("merge-body"))
        );
    }

    #[test]
    fn the_change_id_comes_from_the_first_source_that_names_one() {
        let with = |source: Value, info: Value, message: &str| {
            let mut app = application();
            app["spec"]["source"] = source;
            app["status"]["operationState"]["operation"]["info"] = info;
            let body = json!({"event": "sync-failed", "app": app, "commit": {"Message": message}});
            let f = event_record(&body, "t", &pattern()).unwrap().to_map();
            (f["changeId"].clone(), f["changeIdSource"].clone())
        };
        let param = json!({"plugin": {"parameters": [{"name": "change-id", "string": "CHG-2"}]}});
        let info = json!([{"name": "reason", "value": "x"}, {"name": "change", "value": "CHG-3"}]);
        assert_eq!(
            with(param.clone(), info.clone(), "CHG-4: x"),
            (json!("CHG-2"), json!("application"))
        );
        assert_eq!(
            with(json!({}), info.clone(), "CHG-4: x"),
            (json!("CHG-3"), json!("operation"))
        );
        assert_eq!(
            with(json!({}), json!(null), "CHG-4: x"),
            (json!("CHG-4"), json!("subject"))
        );
        assert_eq!(
            with(json!({}), json!(null), "x\n\nChange-Id: CHG-5\n"),
            (json!("CHG-5"), json!("trailer"))
        );
        assert_eq!(
            with(json!({}), json!(null), "Revert \"CHG-6: x\"\n"),
            (json!("CHG-6"), json!("reverted-subject"))
        );
        // An id that does not match the pattern does not count: the next source is asked.
        let bad = json!({"plugin": {"env": [{"name": "CHANGE_ID", "value": "chg 7"}]}});
        assert_eq!(
            with(bad, json!(null), "CHG-8: x"),
            (json!("CHG-8"), json!("subject"))
        );
        assert_eq!(
            with(json!({}), json!(null), "x"),
            (json!(null), json!(null))
        );
        // A multi-source app: the plugin source among spec.sources.
        let mut app = application();
        app["spec"]["source"] = json!(null);
        app["spec"]["sources"] = json!([{"chart": "c", "helm": {}}, {"plugin": {"env": [{"name": "ARGOCD_ENV_CHANGE_ID", "value": "CHG-9"}]}}]);
        let f = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern())
            .unwrap()
            .to_map();
        assert_eq!(f["changeId"], "CHG-9");
    }

    #[test]
    fn the_emergency_id_comes_from_the_application_the_operation_or_a_trailer() {
        let mut app = application();
        let f = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern())
            .unwrap()
            .to_map();
        assert_eq!(
            (&f["emergency"], &f["emergencySource"]),
            (&json!("CHG-9"), &json!("application"))
        );
        app["spec"]["source"]["plugin"]["env"] = json!([]);
        app["status"]["operationState"]["operation"]["info"] =
            json!([{"name": "emergency", "value": "CHG-10"}]);
        let f = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern())
            .unwrap()
            .to_map();
        assert_eq!(
            (&f["emergency"], &f["emergencySource"]),
            (&json!("CHG-10"), &json!("operation"))
        );
        app["status"]["operationState"]["operation"]["info"] = json!(null);
        let commit = json!({"Message": "CHG-1: x\n\nEmergency: CHG-11\n"});
        let body = json!({"event": "deployed", "app": app, "commit": commit});
        let f = event_record(&body, "t", &pattern()).unwrap().to_map();
        assert_eq!(
            (&f["emergency"], &f["emergencySource"]),
            (&json!("CHG-11"), &json!("trailer"))
        );
    }

    #[test]
    fn approvers_are_split_and_the_author_is_not_one() {
        let commit = json!({"Message": "CHG-1: x\n\nApproved-by: @sre-lead, @platform-lead\nApproved-by: @SRE-LEAD\nApproved-by: Ann <a@x>\n",
            "Author": "Ann <a@x>"});
        let body = json!({"event": "sync-succeeded", "app": application(), "commit": commit});
        let f = event_record(&body, "t", &pattern()).unwrap().to_map();
        assert_eq!(f["approvedBy"], json!(["@sre-lead", "@platform-lead"]));
    }

    #[test]
    fn sync_records_carry_gate_findings_and_others_null() {
        let body = json!({"event": "sync-succeeded", "app": application()});
        let f = event_record(&body, "t", &pattern()).unwrap().to_map();
        assert_eq!(
            f["gate"]["guard"],
            json!(null),
            "the fixture's Job is not sluice's guard"
        );
        assert_eq!(
            f["gate"]["backup"], "Unknown",
            "a Backup hook without a phase"
        );
        assert_eq!(f["gate"]["exceptions"], json!([]));
        let f = event_record(
            &json!({"event": "deployed", "app": application()}),
            "t",
            &pattern(),
        )
        .unwrap()
        .to_map();
        assert_eq!(f["gate"], json!(null));
        let watched = event_record_via(&body, "t", &pattern(), Via::History)
            .unwrap()
            .to_map();
        assert_eq!(watched["gate"]["exceptions"], json!(["gate-unknown"]));
    }

    #[test]
    fn never_keeps_the_application_spec() {
        let body = json!({"event": "deployed", "app": application()});
        let d = event_record(&body, "t", &pattern()).unwrap();
        let text = String::from_utf8(object_to_canonical(&d.to_map()).unwrap()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_commit_without_id_records_null_change_id() {
        for commit in [json!(null), json!({"Message": "bump api"}), json!("junk")] {
            let body = json!({"event": "sync-failed", "app": application(), "commit": commit});
            let d = event_record(&body, "t", &pattern()).unwrap();
            assert_eq!(d.to_map()["changeId"], Value::Null);
        }
        let body = json!({"event": "sync-failed", "app": application()});
        assert_eq!(
            event_record(&body, "t", &pattern()).unwrap().to_map()["changeId"],
            Value::Null
        );
    }

    #[test]
    fn latest_history_entry_when_start_times_differ() {
        let mut app = application();
        app["status"]["operationState"]["startedAt"] = json!("2026-02-01T00:00:00Z");
        let d = event_record(&json!({"event": "deployed", "app": app}), "t", &pattern()).unwrap();
        assert_eq!(d.to_map()["historyId"], 5);
        assert_eq!(d.to_map()["previousHistoryId"], 4);
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
            d.to_map()["initiatedBy"],
            json!({"username": null, "automated": true})
        );
    }

    #[test]
    fn guard_decision_needs_app_at_and_allowed() {
        let ok = json!({"app": "shop", "namespace": "production", "changeId": "CHG-1", "revision": "bbb",
            "allowed": true, "emergency": null, "reason": "inside window 0", "at": "2026-01-02T00:00:00Z",
            "active": [0], "windows": ["Tue/Thu maintenance window"], "extra": 1.5});
        let d = guard_record(&ok, "t").unwrap();
        assert_eq!(d.to_map()["windows"], json!(["Tue/Thu maintenance window"]));
        assert!(object_to_canonical(&d.to_map()).is_ok());
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

    #[test]
    fn keys_are_unambiguous_digests() {
        let key = idempotency_key("deployed", "u-1", "2026-01-02T00:00:00Z", "bbb");
        assert_eq!(key.len(), 64);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Joined with `|` these would collide; length-prefixed they do not.
        assert_ne!(
            idempotency_key("deployed", "a|b", "c", "d"),
            idempotency_key("deployed", "a", "b|c", "d")
        );
        assert_ne!(
            idempotency_key("deployed", "ab", "", "d"),
            idempotency_key("deployed", "a", "b", "d")
        );
        // The encoding is fixed: SHA-256 over (u64 big-endian length, bytes) per field.
        let mut bytes = Vec::new();
        for f in ["deployed", "u-1", "2026-01-02T00:00:00Z", "bbb"] {
            bytes.extend_from_slice(&(f.len() as u64).to_be_bytes());
            bytes.extend_from_slice(f.as_bytes());
        }
        assert_eq!(
            key,
            crate::ledger::canonical::to_hex(&sha2::Digest::finalize(
                <sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes)
            ))
        );
        let body = json!({"event": "deployed", "app": application()});
        let d = event_record(&body, "t", &pattern()).unwrap();
        assert_eq!(
            d.key(),
            idempotency_key("deployed", "u-1", "2026-01-02T00:00:00Z", "bbb")
        );
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

    /// Seals `body` as a line would be, reads it back into a [`Record`]; both canonical forms.
    fn line_and_read_back(body: &Body) -> (Vec<u8>, Vec<u8>) {
        let mut map = body.to_map();
        map.insert("seq".into(), json!(7));
        map.insert("prev".into(), json!(GENESIS));
        map.insert("hash".into(), json!("h"));
        let line = object_to_canonical(&map).unwrap();
        let record = Record::from_map(serde_json::from_slice(&line).unwrap()).unwrap();
        let Value::Object(back) = serde_json::to_value(&record).unwrap() else {
            panic!("a record serializes as an object")
        };
        (line, object_to_canonical(&back).unwrap())
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
                let (line, back) = line_and_read_back(&d);
                prop_assert_eq!(back, line, "an extracted record reads back to its own line");
            }
            if let Ok(d) = guard_record(&guard, "t") {
                let (line, back) = line_and_read_back(&d);
                prop_assert_eq!(back, line);
            }
        }

        #[test]
        fn records_with_any_text_read_back_to_their_lines(
            text in "\\PC*|[\\x00-\\x7f]*",
            automated in any::<bool>(),
            index in 0u64..(1 << 53),
        ) {
            let mut app = application();
            app["metadata"]["name"] = json!(format!("n{text}"));
            app["spec"]["project"] = json!(text);
            app["status"]["operationState"]["message"] = json!(text);
            app["status"]["operationState"]["operation"]["initiatedBy"] =
                json!({"username": text, "automated": automated});
            let message = format!("CHG-1: {text}\n\nApproved-by: {text}\nRisk: {text}\n");
            let commit = json!({"Message": message, "Author": text});
            let body = json!({"event": "deployed", "app": app, "commit": commit});
            let (line, back) = line_and_read_back(&event_record(&body, &text, &pattern()).unwrap());
            prop_assert_eq!(back, line);
            let guard = json!({"app": format!("a{text}"), "at": "2026-01-02T00:00:00Z",
                "allowed": automated, "changeId": text, "reason": text, "active": [index],
                "windows": [text, {"description": text}]});
            let (line, back) = line_and_read_back(&guard_record(&guard, &text).unwrap());
            prop_assert_eq!(back, line);
        }
    }
}
