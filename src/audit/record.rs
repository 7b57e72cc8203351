//! The record model: what the sink keeps of an Argo CD Notifications event (docs/audit-log.md, "Records") or of a guard
//! decision, and its idempotency key. Takes the parsed request body and the receipt time, gives a typed
//! record [`Body`] without `seq`/`prev`/`hash` (the log adds those). Pure: no clock, no I/O. The types
//! themselves, and how a line of the log reads into them, are in `model`.
//!
//! Only the extracted fields are kept, never the body: an Application's spec can carry Helm values with
//! secrets. Every field is read defensively (a wrong type reads as absent), so no body can panic this.
//! Every member of a record is always written, `null` when unknown: the canonical bytes of a record are
//! those of every release so far (tests/fixtures/audit/golden).

mod model;

pub use model::{
    Added, App, Body, Commit, Destination, Gate, GuardApp, GuardDecision, GuardDestination,
    InitiatedBy, Misfit, Record, SyncEvent,
};

use super::canonical::MAX_SAFE_INTEGER;
use super::commit::{self, CommitMessage, IdSource};
use super::gate;
use regex::Regex;
use serde_json::{Map, Value};

/// The `event` values: one per trigger of the webhook templates in `argocd-cm-patch/`.
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

/// The events that record a finished operation: the ones that carry gate findings, and the ones the
/// Application watch records.
pub const SYNC_SUCCEEDED: &str = "sync-succeeded";
pub const SYNC_FAILED: &str = "sync-failed";

/// How the sink learnt of an event (the record's `via`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Argo CD Notifications posted it (`POST /v1/events`).
    Webhook,
    /// The Application watch saw the finished operation in `status.operationState`.
    Watch,
    /// The Application watch found the deployment in `status.history` only.
    History,
}

impl Via {
    /// The value of `via`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Webhook => "webhook",
            Via::Watch => "watch",
            Via::History => "history",
        }
    }
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

/// The idempotency key of an Argo CD Notifications event (docs/audit-log.md, "Idempotency"): the
/// lowercase hex SHA-256 of the four fields, each written as its UTF-8 length (8 bytes, big-endian) and
/// then its bytes, so that no two different field lists share an encoding (`a|b` + `c` and `a` + `b|c`
/// are different keys). An unknown field is the empty string.
///
/// - `event`: the trigger's event name (`sync-succeeded`, …);
/// - `app_uid`: the Application's `metadata.uid`, or `namespace/name` when it has none;
/// - `started_at`: `status.operationState.startedAt` as Argo CD wrote it;
/// - `revision`: the synced revision (see `event_record`).
///
/// The sink and anything that backfills records (the watch recorder) key with this one function, so a
/// record delivered twice, by either path, is found as a duplicate.
pub fn idempotency_key(event: &str, app_uid: &str, started_at: &str, revision: &str) -> String {
    length_prefixed_digest(&[event, app_uid, started_at, revision])
}

/// The idempotency key of a guard decision: the same encoding over `guard-decision`, the app as
/// `namespace/name`, the revision, the decision time and `true`/`false`.
fn guard_key(app: &str, revision: &str, at: &str, allowed: bool) -> String {
    let allowed = if allowed { "true" } else { "false" };
    length_prefixed_digest(&[GUARD_DECISION, app, revision, at, allowed])
}

fn length_prefixed_digest(fields: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    super::canonical::to_hex(&hasher.finalize())
}

/// The key under which a record of the log is indexed for idempotency: its `key` member, or, for a
/// record written before keys were digests (`event|app|start|revision`, joined with `|`), the digest key
/// recomputed from the record's own members, so that a redelivery of an event recorded by an older
/// release is still found as a duplicate. `None` for a record without a string `key`.
pub fn index_key(record: &Map<String, Value>) -> Option<String> {
    let key = record.get("key")?.as_str()?;
    if !key.contains('|') {
        return Some(key.to_owned());
    }
    let text = |path: &[&str]| {
        path.split_first()
            .and_then(|(first, rest)| get(record.get(*first)?, rest))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let event = text(&["event"]);
    if event == GUARD_DECISION {
        let allowed = record.get("allowed").and_then(Value::as_bool)?;
        let app = format!(
            "{}/{}",
            text(&["destination", "namespace"]),
            text(&["app", "name"])
        );
        return Some(guard_key(
            &app,
            &text(&["revision"]),
            &text(&["at"]),
            allowed,
        ));
    }
    let uid = text(&["app", "uid"]);
    let identity = if uid.is_empty() {
        format!("{}/{}", text(&["app", "namespace"]), text(&["app", "name"]))
    } else {
        uid
    };
    Some(idempotency_key(
        &event,
        &identity,
        &text(&["startedAt"]),
        &text(&["revision"]),
    ))
}

/// Reads a string at `path` in `v`; anything else reads as absent.
fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

fn opt_str(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn safe_int(v: &Value) -> Option<i64> {
    v.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER)
}

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
    // A sync rebuilt from `status.history` has no sync result: which hooks ran is unknown.
    let gate = (via != Via::History && matches!(event, SYNC_SUCCEEDED | SYNC_FAILED))
        .then(|| gate::assess(app, op));
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
        extra: Map::new(),
    })))
}

/// The change id of the operation and where it came from, first found of: the Application's setting
/// (plugin env `CHANGE_ID` or parameter `change-id`, what `generate` enforced), the operation's info
/// (`argocd app sync --info change=CHG-1234`), then the commit ([`CommitMessage::change_id`]). Only
/// ids that match `pattern` count.
fn change_id_of<'a>(
    app: &'a Value,
    op: &'a Value,
    message: Option<&'a CommitMessage>,
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    set_on_operation(app, op, "CHANGE_ID", &["change", "changeid"], pattern)
        .or_else(|| message?.change_id(pattern))
}

/// An id set for the operation, first found of: the Application's plugin setting `setting`, then the
/// operation's info under one of `info` (only ids that match `pattern` count).
fn set_on_operation<'a>(
    app: &'a Value,
    op: &'a Value,
    setting: &str,
    info: &[&str],
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    let ok = |v: &&str| pattern.is_match(v);
    app_setting(app, op, setting)
        .filter(ok)
        .map(|id| (id, IdSource::Application))
        .or_else(|| {
            operation_info(op, info)
                .filter(ok)
                .map(|id| (id, IdSource::Operation))
        })
}

/// The emergency change id and where it came from: the Application's `SLUICE_EMERGENCY` setting
/// (Argo CD passes it to the plugin as `ARGOCD_ENV_SLUICE_EMERGENCY`), the operation's info
/// `emergency`, then an `Emergency:` trailer of the commit.
fn emergency_of<'a>(
    app: &'a Value,
    op: &'a Value,
    message: Option<&'a CommitMessage>,
    pattern: &Regex,
) -> Option<(&'a str, IdSource)> {
    set_on_operation(app, op, "SLUICE_EMERGENCY", &["emergency"], pattern).or_else(|| {
        message?
            .trailer_values(commit::EMERGENCY)
            .find(|v| pattern.is_match(v))
            .map(|id| (id, IdSource::Trailer))
    })
}

/// The plugin setting `name` of the sources the sync used (`syncResult.source(s)`, else the spec's):
/// env `name` (or `ARGOCD_ENV_<name>`), else the parameter whose variable is `PARAM_<name>` (Argo CD
/// upper-cases a parameter's name and turns anything but letters and digits into `_`, so
/// `change-id` is `PARAM_CHANGE_ID`), the same order as `generate` reads them.
fn app_setting<'a>(app: &'a Value, op: &'a Value, name: &str) -> Option<&'a str> {
    let list = |v: Option<&'a Value>| v.and_then(Value::as_array).into_iter().flatten();
    let sources: Vec<&Value> = get(op, &["syncResult", "source"])
        .into_iter()
        .chain(list(get(op, &["syncResult", "sources"])))
        .chain(get(app, &["spec", "source"]))
        .chain(list(get(app, &["spec", "sources"])))
        .collect();
    let prefixed = format!("ARGOCD_ENV_{name}");
    let env = sources
        .iter()
        .flat_map(|s| list(get(s, &["plugin", "env"])))
        .find(|e| str_at(e, &["name"]).is_some_and(|n| n == name || n == prefixed))
        .and_then(|e| str_at(e, &["value"]));
    let param = || {
        sources
            .iter()
            .flat_map(|s| list(get(s, &["plugin", "parameters"])))
            .find(|p| str_at(p, &["name"]).is_some_and(|n| param_var(n) == name))
            .and_then(|p| str_at(p, &["string"]))
    };
    env.filter(|v| !v.is_empty())
        .or_else(|| param().filter(|v| !v.is_empty()))
}

/// The variable name Argo CD gives a plugin parameter, without `PARAM_`.
fn param_var(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The value of the operation's info item (`operation.info`, a list of `{name, value}`) whose name,
/// lower-cased without `-` and `_`, is one of `names`.
fn operation_info<'a>(op: &'a Value, names: &[&str]) -> Option<&'a str> {
    get(op, &["operation", "info"])?
        .as_array()?
        .iter()
        .find(|i| {
            str_at(i, &["name"]).is_some_and(|n| {
                let n: String = n
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                names.contains(&n.as_str())
            })
        })
        .and_then(|i| str_at(i, &["value"]))
        .map(str::trim)
        .filter(|v| !v.is_empty())
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

/// The record of a `POST /v1/guard` body (the guard Job's decision), received at `received_at`.
///
/// # Errors
///
/// Not an object; `app` or `at` missing; a field of the wrong type; `at` not RFC 3339.
pub fn guard_record(body: &Value, received_at: &str) -> Result<Body, EventError> {
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
            .map(|i| safe_int(i).and_then(|i| u64::try_from(i).ok()))
            .collect::<Option<Vec<u64>>>()
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
    let key = guard_key(
        &format!("{}/{app}", namespace.unwrap_or("")),
        revision.unwrap_or(""),
        at,
        allowed,
    );
    Ok(Body::Guard(Box::new(GuardDecision {
        event: GUARD_DECISION.to_owned(),
        received_at: received_at.to_owned(),
        key,
        app: GuardApp {
            name: app.to_owned(),
            extra: Map::new(),
        },
        destination: GuardDestination {
            namespace: opt_str(namespace),
            extra: Map::new(),
        },
        change_id: opt_str(string("changeId")?),
        revision: opt_str(revision),
        allowed,
        emergency: opt_str(string("emergency")?),
        reason: string("reason")?.unwrap_or("").to_owned(),
        at: at.to_owned(),
        active,
        windows,
        extra: Map::new(),
    })))
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
    use super::super::log::{AuditLog, Outcome};
    use super::*;
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
        assert_eq!(
            (&watched["via"], &watched["gate"]),
            (&json!("history"), &json!(null))
        );
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

    /// A file of tests/fixtures/audit/golden: what the released sluice was sent and wrote.
    fn golden(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/audit/golden/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!text.is_empty(), "{path} is empty");
        text
    }

    /// The golden requests and what the release made of them: (request path, body, the release's line
    /// for it, the release's answer).
    fn golden_deliveries() -> Vec<(String, Value, Value, Value)> {
        let lines: Vec<Value> = golden("audit.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let responses: Vec<Value> = golden("responses.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let requests = golden("requests.jsonl");
        assert_eq!(requests.lines().count(), responses.len());
        requests
            .lines()
            .zip(responses)
            .map(|(request, response)| {
                let request: Value = serde_json::from_str(request).unwrap();
                let seq = response["body"]["seq"].as_u64().unwrap();
                let line = lines[usize::try_from(seq).unwrap() - 1].clone();
                let path = request["path"].as_str().unwrap().to_owned();
                (path, request["body"].clone(), line, response)
            })
            .collect()
    }

    /// The record of a golden request, with the release's clock taken from the line it made.
    fn golden_record(path: &str, body: &Value, line: &Value) -> Body {
        let received_at = line["receivedAt"].as_str().unwrap();
        match path {
            "/v1/events" => event_record(body, received_at, &pattern()),
            "/v1/guard" => guard_record(body, received_at),
            other => panic!("requests.jsonl: path {other:?}"),
        }
        .unwrap()
    }

    /// (seq, member, what the release wrote, what this version writes).
    type Changed = (u64, String, Option<Value>, Value);

    /// The documented extraction changes since the release (tests/fixtures/audit/golden/README.md,
    /// "Deliberate changes"): the members every event record adds, and (seq, member, what the
    /// release wrote, what this version writes). Anything else that differs fails the test.
    fn deliberate_changes() -> (Vec<String>, Vec<Changed>) {
        let changes: Value = serde_json::from_str(&golden("changes.json")).unwrap();
        let added = changes["added"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect();
        let records = changes["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let member = c["member"].as_str().unwrap().to_owned();
                (
                    c["seq"].as_u64().unwrap(),
                    member,
                    Some(c["release"].clone()),
                    c["now"].clone(),
                )
            })
            .collect();
        (added, records)
    }

    /// The golden requests make the release's records, member for member, but for the key (now a
    /// digest, which the legacy `a|b|c|d` key of each line maps to), the chain over it, and the
    /// documented attribution changes.
    #[test]
    fn the_golden_requests_make_the_records_the_release_wrote_plus_attribution_with_digest_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), 1).unwrap();
        let (added, expected) = deliberate_changes();
        let mut changed = Vec::new();
        for (path, body, line, response) in golden_deliveries() {
            let seq = response["body"]["seq"].as_u64().unwrap();
            let record = golden_record(&path, &body, &line);
            assert!(line["key"].as_str().unwrap().contains('|'));
            assert_eq!(record.key().len(), 64, "a SHA-256 hex digest");
            assert_eq!(
                index_key(line.as_object().unwrap()).as_deref(),
                Some(record.key()),
                "the legacy key of seq {seq} maps to the digest key"
            );
            let outcome = log.append_batch(std::slice::from_ref(&record)).unwrap();
            match (response["status"].as_u64(), &outcome[..]) {
                (Some(201), [Outcome::Appended { seq: s, .. }]) if *s == seq => {}
                (Some(200), [Outcome::Duplicate { seq: s }]) if *s == seq => continue,
                other => panic!("seq {seq}: {other:?}"),
            }
            let mut now = record.to_map();
            now.remove("key");
            let mut release = line.as_object().unwrap().clone();
            for member in ["seq", "prev", "hash", "key"] {
                release.remove(member);
            }
            if let Body::Sync(s) = &record {
                assert_eq!(s.via.as_present().map(String::as_str), Some("webhook"));
                for member in &added {
                    assert!(now.remove(member).is_some(), "seq {seq} has no {member}");
                }
            }
            for (member, value) in &now {
                if release.get(member) != Some(value) {
                    changed.push((
                        seq,
                        member.clone(),
                        release.get(member).cloned(),
                        value.clone(),
                    ));
                }
            }
            assert_eq!(now.len(), release.len(), "seq {seq}: the same members");
        }
        assert_eq!(changed, expected);
    }

    #[test]
    fn a_release_log_opens_and_its_deliveries_are_found_as_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(crate::audit::log::LOG_FILE),
            golden("audit.jsonl"),
        )
        .unwrap();
        let mut log = AuditLog::open(dir.path(), 1).unwrap();
        let len = log.head().len;
        for (path, body, line, response) in golden_deliveries() {
            let seq = response["body"]["seq"].as_u64().unwrap();
            let outcome = log
                .append_batch(&[golden_record(&path, &body, &line)])
                .unwrap();
            assert_eq!(outcome, vec![Outcome::Duplicate { seq }]);
        }
        assert_eq!(log.head().len, len, "nothing written");
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
        assert_eq!(key, crate::transform::sha256_hex(&bytes));
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

    /// Seals `body` as a line would be, reads the line back into a [`Record`], and gives both canonical
    /// forms.
    fn line_and_read_back(body: &Body) -> (Vec<u8>, Vec<u8>) {
        let mut map = body.to_map();
        map.insert("seq".into(), json!(7));
        map.insert("prev".into(), json!(super::super::canonical::GENESIS));
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
