//! The typed record: what a line of `audit.jsonl` holds, as serde structs. Takes a verified record (a
//! JSON object) or the fields the sink extracted, gives typed values and the JSON object back. Pure: no
//! I/O; the chain is verified on the raw bytes before anything is read into these types.
//!
//! Byte identity is the contract (docs/audit-log.md, tests/fixtures/audit/golden/README.md): a record
//! that fits these types serializes to exactly the members it was read from, so its canonical bytes
//! (and the JSON that `audit list` and `GET /v1/records` print) do not change. That holds because
//! - every known member is required, `null` or not (`nullable`): none appears or disappears on the way
//!   back, and the sink always writes them all, with explicit nulls;
//! - every value keeps its JSON type (strings, safe integers, booleans, lists), and every member this
//!   version does not know is kept, at the top level and in every nested object (`extra`);
//! - [`Record`] serializes with keys sorted by their UTF-8 bytes at every depth, as canonical.rs
//!   writes them, so printed JSON keeps the order of the log's lines.
//!
//! Members added after the first release (`changeIdSource`, `emergencySource`, `via`, `gate`) are
//! [`Added`]: absent from the records older releases wrote, always written (null or not) by this one;
//! reading keeps the difference, so both kinds of record serialize back to their own bytes.
//!
//! A record that does not fit (a known member missing or of another type: only a writer other than
//! sluice could have made it, since every release has written this shape) is a [`Misfit`] naming the
//! member, never a panic and never a silent blank.

use super::event::{EMERGENCY_REVIEW, GUARD_DECISION, VERIFICATION, WATCH_CONFIRMATION};
use super::evidence::{Approval, Ticket, Verification};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// One record of the log: its place in the chain and what it records.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    /// The `hash` of the record before (64 zeros for the first).
    pub prev: String,
    pub hash: String,
    pub body: Body,
}

/// What a record records: an Argo CD event, a guard decision, the review of an emergency change, a
/// verification verdict, or the Application watch's confirmation of a webhook record. The log's `event`
/// member tells them apart: `guard-decision` is a guard decision, `emergency-review` a review,
/// `verification` a verdict, `watch-confirmation` a confirmation, anything else an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    // Boxed: all are large (every nested object has a map of unknown members) and of unequal size.
    Sync(Box<SyncEvent>),
    Guard(Box<GuardDecision>),
    Confirmation(Box<Confirmation>),
    Review(Box<Review>),
    Verify(Box<VerificationRecord>),
}

/// An Argo CD Notifications event (`POST /v1/events`), as [`super::event_record`] extracts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncEvent {
    /// One of [`super::EVENTS`] when this version wrote it.
    pub event: String,
    /// The sink's clock, RFC 3339 UTC with milliseconds.
    pub received_at: String,
    /// The idempotency key.
    pub key: String,
    pub app: App,
    pub destination: Destination,
    #[serde(deserialize_with = "nullable")]
    pub revision: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub phase: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub health: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub message: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub started_at: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub finished_at: Option<String>,
    pub initiated_by: InitiatedBy,
    /// The `status.history` id of this deployment.
    #[serde(deserialize_with = "nullable")]
    pub history_id: Option<i64>,
    /// The history entry before it: what `argocd app rollback APP ID` goes back to.
    #[serde(deserialize_with = "nullable")]
    pub previous_history_id: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub previous_revision: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub commit: Option<Commit>,
    #[serde(deserialize_with = "nullable")]
    pub change_id: Option<String>,
    pub approved_by: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub risk: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub rollback: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub tested: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub maintenance_window: Option<String>,
    /// The pre-change Velero Backup.
    #[serde(deserialize_with = "nullable")]
    pub backup: Option<String>,
    /// The emergency change id set on the Application.
    #[serde(deserialize_with = "nullable")]
    pub emergency: Option<String>,
    /// Where the change id came from (`application`, `operation`, `subject`, `reverted-subject`,
    /// `trailer`, `merge-body`); `null` with no change id.
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub change_id_source: Added<Option<String>>,
    /// Where the emergency id came from (`application`, `operation`, `trailer`).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub emergency_source: Added<Option<String>>,
    /// How the sink learnt of it: `webhook` (Argo CD Notifications), `watch` (the Application's
    /// `operationState`, through the Kubernetes API) or `history` (its `status.history`).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub via: Added<String>,
    /// Whether the sync passed the gate (sync-succeeded and sync-failed only; `null` otherwise, and
    /// for a sync known only from `status.history`, which has no sync result).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub gate: Added<Option<Gate>>,
    /// The Git host's approvals of the revision (src/record/evidence.rs); absent when no approvals
    /// rule covers the app.
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub approval: Added<Option<Approval>>,
    /// The change ticket's state (src/record/evidence.rs); absent when no ticket rule covers the app.
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub ticket: Added<Option<Ticket>>,
    /// When the post-implementation review of the emergency this sync names is due (RFC 3339): its
    /// decision's, else 48 hours after the record; absent for other syncs (and in records written
    /// before reviews existed, which count no emergency).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub review_due: Added<Option<String>>,
    /// The `PostSync` hook's verification of the operation (src/record/evidence.rs); absent when the
    /// app has no checks.
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub verification: Added<Option<Verification>>,
    /// Members this version does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A member added after the first release: [`Added::Absent`] in a record an older release wrote,
/// [`Added::Present`] (its value `null` or not) in every record this one writes.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Added<T> {
    #[default]
    Absent,
    Present(T),
}

impl<T> Added<T> {
    /// Whether the record was written before the member existed.
    pub fn is_absent(&self) -> bool {
        matches!(self, Added::Absent)
    }

    /// The value, when the record has the member.
    pub fn as_present(&self) -> Option<&T> {
        match self {
            Added::Present(v) => Some(v),
            Added::Absent => None,
        }
    }

    /// The value, mutably, when the record has the member.
    pub fn as_present_mut(&mut self) -> Option<&mut T> {
        match self {
            Added::Present(v) => Some(v),
            Added::Absent => None,
        }
    }
}

impl<T: Serialize> Serialize for Added<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Added::Present(v) => v.serialize(serializer),
            // Skipped by `skip_serializing_if`; a unit if anything serializes it alone.
            Added::Absent => serializer.serialize_unit(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Added<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Added::Present)
    }
}

/// The gate findings of a sync (src/record/gate.rs): which of sluice's `PreSync` hooks ran, with
/// their phase, and why the gate was skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// The guard Job's hook phase (`Succeeded`, `Failed`, ...); `null`: it did not run.
    #[serde(deserialize_with = "nullable")]
    pub guard: Option<String>,
    /// The Velero Backup's hook phase; `null`: no backup was taken.
    #[serde(deserialize_with = "nullable")]
    pub backup: Option<String>,
    /// The migration Jobs' phase (the first that did not succeed); `null`: none ran.
    #[serde(deserialize_with = "nullable")]
    pub migrations: Option<String>,
    /// The tool that rendered the app (`Plugin`, `Helm`, `Kustomize`, `Directory`), when known.
    #[serde(deserialize_with = "nullable")]
    pub source: Option<String>,
    /// Why the gate was skipped (`selective-sync`, `rollback`, `bypasses-plugin`,
    /// `no-guard-decision`); empty for a gated sync.
    pub exceptions: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Application of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub namespace: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub uid: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub project: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `spec.destination` of an event's Application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    #[serde(deserialize_with = "nullable")]
    pub server: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub namespace: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Who started the sync: a user, or Argo CD's automated sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitiatedBy {
    #[serde(deserialize_with = "nullable")]
    pub username: Option<String>,
    pub automated: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the record keeps of the commit metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub subject: String,
    #[serde(deserialize_with = "nullable")]
    pub author: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub date: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The guard Job's decision (`POST /v1/guard`), as [`super::guard_record`] extracts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardDecision {
    /// Always [`GUARD_DECISION`].
    pub event: String,
    pub received_at: String,
    pub key: String,
    pub app: GuardApp,
    pub destination: GuardDestination,
    #[serde(deserialize_with = "nullable")]
    pub change_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub revision: Option<String>,
    pub allowed: bool,
    /// The emergency change id that overrode the windows.
    #[serde(deserialize_with = "nullable")]
    pub emergency: Option<String>,
    pub reason: String,
    /// When the guard decided (RFC 3339, as the guard sent it).
    pub at: String,
    /// Indices of the windows open at `at`.
    pub active: Vec<u64>,
    /// The windows' descriptions.
    pub windows: Vec<String>,
    /// The sink's approvals decision, when the guard asked for one (`POST /v1/decide`).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub approval: Added<Option<Approval>>,
    /// The sink's ticket decision, when the policy has a `ticket` section (`POST /v1/decide`).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub ticket: Added<Option<Ticket>>,
    /// When the post-implementation review of the emergency this decision allowed is due (RFC 3339);
    /// absent for other decisions (and in decisions written before reviews existed, which count no
    /// emergency).
    #[serde(default, skip_serializing_if = "Added::is_absent")]
    pub review_due: Added<Option<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The post-implementation review of an emergency change (`sluice audit review`, `POST /v1/reviews`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// Always [`EMERGENCY_REVIEW`].
    pub event: String,
    pub received_at: String,
    pub key: String,
    /// The emergency change id reviewed.
    pub change_id: String,
    /// Who reviewed it.
    pub by: String,
    /// What the review found.
    pub note: String,
    /// The seqs of the emergency's records (guard decisions and syncs) the review covers.
    pub emergencies: Vec<u64>,
    /// When the review was due (RFC 3339).
    #[serde(deserialize_with = "nullable")]
    pub due: Option<String>,
    /// Recorded after it was due.
    pub late: bool,
    /// How it was recorded: `cli` (`audit review --data-dir`) or `api` (`POST /v1/reviews`).
    pub via: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The verification hook's final report (`POST /v1/verifications`), as [`super::verification_record`]
/// extracts it; the sync record of the same operation carries a copy of `verification`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationRecord {
    /// Always [`VERIFICATION`].
    pub event: String,
    pub received_at: String,
    pub key: String,
    pub app: GuardApp,
    pub destination: GuardDestination,
    #[serde(deserialize_with = "nullable")]
    pub change_id: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub revision: Option<String>,
    pub verification: Verification,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Application watch saw the operation of a webhook record on the Application itself, with the same
/// facts (docs/audit-log.md, "The Application watch"): written once per confirmed record, after it.
/// A webhook record of an operation that the watch never confirms is `unconfirmed` in `audit
/// exceptions` (src/record/confirm.rs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    /// Always [`WATCH_CONFIRMATION`].
    pub event: String,
    pub received_at: String,
    /// The idempotency key: one confirmation per confirmed record.
    pub key: String,
    /// The `seq` of the record confirmed.
    pub confirms: u64,
    /// The confirmed record's app, as that record has it.
    pub app: App,
    /// The operation's start, as the confirmed record has it.
    #[serde(deserialize_with = "nullable")]
    pub started_at: Option<String>,
    /// Where the watch saw it: `watch` (`status.operationState`) or `history` (`status.history`).
    pub via: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The app of a guard decision: its name only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardApp {
    pub name: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The destination of a guard decision: its namespace only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardDestination {
    #[serde(deserialize_with = "nullable")]
    pub namespace: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A verified record that does not fit the typed model: the member (a path such as `app.namespace` or
/// `approvedBy[1]`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{member}: {reason}")]
pub struct Misfit {
    pub member: String,
    pub reason: String,
}

/// An `Option` that must be present, `null` or not. Serde reads a missing `Option` member as `None`,
/// and writing the record back would then add a `null` that its line does not have.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

impl Record {
    /// Reads a verified record (a line of the log, parsed).
    ///
    /// # Errors
    ///
    /// A known member is missing or of another type.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self, Misfit> {
        let seq = map.remove("seq").and_then(|v| v.as_u64());
        let prev = map.remove("prev");
        let hash = map.remove("hash");
        let (Some(seq), Some(Value::String(prev)), Some(Value::String(hash))) = (seq, prev, hash)
        else {
            return Err(Misfit {
                member: "seq, prev, hash".into(),
                reason: "missing or of another type".into(),
            });
        };
        let body = match map.get("event").and_then(Value::as_str) {
            Some(GUARD_DECISION) => Body::Guard(Box::new(typed(map)?)),
            Some(WATCH_CONFIRMATION) => Body::Confirmation(Box::new(typed(map)?)),
            Some(EMERGENCY_REVIEW) => Body::Review(Box::new(typed(map)?)),
            Some(VERIFICATION) => Body::Verify(Box::new(typed(map)?)),
            _ => Body::Sync(Box::new(typed(map)?)),
        };
        Ok(Record {
            seq,
            prev,
            hash,
            body,
        })
    }
}

fn typed<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T, Misfit> {
    serde_path_to_error::deserialize(map).map_err(|e| Misfit {
        member: match e.path().to_string().as_str() {
            "." => "the record".into(),
            path => path.to_owned(),
        },
        reason: e.into_inner().to_string(),
    })
}

/// The record's members with keys sorted by their UTF-8 bytes at every depth: the order of its line in
/// the log (canonical.rs), which the printed JSON keeps.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = self.body.to_map();
        map.insert("seq".into(), self.seq.into());
        map.insert("prev".into(), self.prev.clone().into());
        map.insert("hash".into(), self.hash.clone().into());
        let mut value = Value::Object(map);
        value.sort_all_objects();
        value.serialize(serializer)
    }
}

impl Body {
    /// The members of the record without `seq`, `prev` and `hash` (in no particular order: the
    /// canonical form sorts them).
    pub fn to_map(&self) -> Map<String, Value> {
        // These types serialize into a `Value` without error: every map key is a string, and no
        // Serialize impl among them fails.
        match serde_json::to_value(self).expect("a record body serializes into a JSON value") {
            Value::Object(map) => map,
            // The body is a struct with named members: it serializes as an object.
            _ => unreachable!("a record body serializes as a JSON object"),
        }
    }

    /// The idempotency key.
    pub fn key(&self) -> &str {
        match self {
            Body::Sync(s) => &s.key,
            Body::Guard(g) => &g.key,
            Body::Confirmation(c) => &c.key,
            Body::Review(r) => &r.key,
            Body::Verify(v) => &v.key,
        }
    }

    /// The `event` member.
    pub fn event(&self) -> &str {
        match self {
            Body::Sync(s) => &s.event,
            Body::Guard(g) => &g.event,
            Body::Confirmation(c) => &c.event,
            Body::Review(r) => &r.event,
            Body::Verify(v) => &v.event,
        }
    }

    /// When the sink received it (RFC 3339).
    pub fn received_at(&self) -> &str {
        match self {
            Body::Sync(s) => &s.received_at,
            Body::Guard(g) => &g.received_at,
            Body::Confirmation(c) => &c.received_at,
            Body::Review(r) => &r.received_at,
            Body::Verify(v) => &v.received_at,
        }
    }

    /// The Argo CD application's name.
    pub fn app_name(&self) -> &str {
        match self {
            Body::Sync(s) => &s.app.name,
            Body::Guard(g) => &g.app.name,
            Body::Confirmation(c) => &c.app.name,
            // A review is of a change, not of an app.
            Body::Review(_) => "",
            Body::Verify(v) => &v.app.name,
        }
    }

    /// The change id, if the record names one (a confirmation names none: the record it confirms does).
    pub fn change_id(&self) -> Option<&str> {
        match self {
            Body::Sync(s) => s.change_id.as_deref(),
            Body::Guard(g) => g.change_id.as_deref(),
            Body::Confirmation(_) => None,
            Body::Review(r) => Some(&r.change_id),
            Body::Verify(v) => v.change_id.as_deref(),
        }
    }

    /// The revision synced or decided on.
    pub fn revision(&self) -> Option<&str> {
        match self {
            Body::Sync(s) => s.revision.as_deref(),
            Body::Guard(g) => g.revision.as_deref(),
            Body::Confirmation(_) | Body::Review(_) => None,
            Body::Verify(v) => v.revision.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::object_to_canonical;
    use serde_json::json;

    fn golden_lines() -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/audit/golden/audit.jsonl"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(lines.len() >= 25, "{path}: only {} lines", lines.len());
        lines
    }

    fn parse(line: &str) -> Map<String, Value> {
        serde_json::from_str(line).unwrap()
    }

    /// The canonical bytes of a typed record, as the log would write it.
    fn canonical(record: &Record) -> String {
        let Value::Object(map) = serde_json::to_value(record).unwrap() else {
            panic!("not an object")
        };
        String::from_utf8(object_to_canonical(&map).unwrap()).unwrap()
    }

    #[test]
    fn every_golden_line_round_trips_to_its_canonical_bytes() {
        let mut kinds = (0, 0);
        for line in golden_lines() {
            let record = Record::from_map(parse(&line)).unwrap_or_else(|e| panic!("{e}: {line}"));
            match &record.body {
                Body::Sync(s) => {
                    assert!(s.extra.is_empty(), "{line}");
                    kinds.0 += 1;
                }
                Body::Guard(g) => {
                    assert!(g.extra.is_empty(), "{line}");
                    kinds.1 += 1;
                }
                Body::Confirmation(c) => panic!("no confirmation in the golden log: {c:?}"),
                Body::Review(_) => panic!("the golden log holds no review: {line}"),
                Body::Verify(v) => assert!(v.extra.is_empty(), "{line}"),
            }
            assert_eq!(canonical(&record), line);
            // Printed JSON: the same members in the same order as the release printed the raw line.
            assert_eq!(
                serde_json::to_string(&record).unwrap(),
                serde_json::to_string(&parse(&line)).unwrap()
            );
        }
        assert!(kinds.0 >= 15 && kinds.1 >= 5, "{kinds:?}");
    }

    /// A verification record, and a sync record with its copy, read back to their own bytes.
    #[test]
    fn verification_members_round_trip() {
        let report = super::super::verification::report(&json!({"app": "shop", "final": true,
            "verification": {"verdict": "Successful", "reason": "", "onFailure": "record", "within": "5m",
                "startedAt": "2026-01-01T00:00:00Z", "checks": [{"name": "up", "kind": "http", "query": "http://x/", "phase": "Successful",
                    "measurements": [{"value": "200", "phase": "Successful", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:00Z"}]}]}}))
        .unwrap();
        let body =
            super::super::verification::verification_record(&report, "2026-01-01T00:00:01.000Z");
        let Value::Object(mut map) = serde_json::to_value(&body).unwrap() else {
            panic!()
        };
        map.insert("seq".into(), json!(7));
        map.insert("prev".into(), json!("p"));
        map.insert("hash".into(), json!("h"));
        map["verification"]["later"] = json!(true);
        let line = String::from_utf8(object_to_canonical(&map).unwrap()).unwrap();
        let record = Record::from_map(parse(&line)).unwrap();
        assert!(matches!(record.body, Body::Verify(_)));
        assert_eq!(canonical(&record), line);
        let sync = golden_lines()
            .into_iter()
            .find(|l| l.contains("\"sync-succeeded\""))
            .unwrap();
        let mut map = parse(&sync);
        map.insert("verification".into(), map_of(&body)["verification"].clone());
        let line = String::from_utf8(object_to_canonical(&map).unwrap()).unwrap();
        let record = Record::from_map(parse(&line)).unwrap();
        let Body::Sync(s) = &record.body else {
            panic!()
        };
        assert_eq!(
            s.verification
                .as_present()
                .unwrap()
                .as_ref()
                .unwrap()
                .checks[0]
                .name,
            "up"
        );
        assert_eq!(canonical(&record), line);
    }

    fn map_of(body: &Body) -> Map<String, Value> {
        body.to_map()
    }

    #[test]
    fn unknown_members_survive_at_every_depth() {
        for line in golden_lines() {
            let mut map = parse(&line);
            map.insert("zFuture".into(), json!({"b": [1, null], "a": "é\u{1}"}));
            map.insert("Aaa".into(), json!(-3));
            for nested in ["app", "destination", "initiatedBy", "commit"] {
                if let Some(Value::Object(o)) = map.get_mut(nested) {
                    o.insert("later".into(), json!({"z": true, "k": "v"}));
                }
            }
            let expected = String::from_utf8(object_to_canonical(&map).unwrap()).unwrap();
            let record = Record::from_map(map).unwrap();
            assert_eq!(canonical(&record), expected);
            let extra = match &record.body {
                Body::Sync(s) => {
                    assert_eq!(s.app.extra["later"]["k"], "v");
                    assert_eq!(s.initiated_by.extra.len(), 1);
                    &s.extra
                }
                Body::Guard(g) => {
                    assert_eq!(g.destination.extra["later"]["z"], true);
                    &g.extra
                }
                Body::Confirmation(c) => &c.extra,
                Body::Review(r) => &r.extra,
                Body::Verify(v) => &v.extra,
            };
            assert_eq!(extra.len(), 2, "{extra:?}");
        }
    }

    #[test]
    fn a_review_and_ticket_evidence_round_trip_to_their_canonical_bytes() {
        let review = super::super::review_record(
            "CHG-9",
            "Dee",
            "root cause: a bad config; fixed",
            &[3, 4],
            Some("2026-01-03T10:00:00Z"),
            false,
            "api",
            "2026-01-02T10:00:00.000Z",
        );
        let mut map = review.to_map();
        map.insert("seq".into(), json!(5));
        map.insert("prev".into(), json!("p"));
        map.insert("hash".into(), json!("h"));
        map.insert("zLater".into(), json!(1));
        let expected = String::from_utf8(object_to_canonical(&map).unwrap()).unwrap();
        let record = Record::from_map(map).unwrap();
        assert!(
            matches!(&record.body, Body::Review(r) if r.extra.len() == 1 && r.emergencies == [3, 4])
        );
        assert_eq!(canonical(&record), expected);
        assert_eq!(record.body.change_id(), Some("CHG-9"));
        let mut missing = review.to_map();
        missing.remove("due");
        missing.insert("seq".into(), json!(5));
        missing.insert("prev".into(), json!("p"));
        missing.insert("hash".into(), json!("h"));
        let e = Record::from_map(missing).unwrap_err();
        assert!(e.to_string().contains("missing field `due`"), "{e}");
    }

    #[test]
    fn a_record_that_does_not_fit_names_the_member() {
        let lines = golden_lines();
        let sync = lines
            .iter()
            .find(|l| l.contains("\"sync-succeeded\""))
            .unwrap();
        let guard = lines
            .iter()
            .find(|l| l.contains("\"guard-decision\""))
            .unwrap();
        let misfit = |line: &str, edit: &dyn Fn(&mut Map<String, Value>)| {
            let mut map = parse(line);
            edit(&mut map);
            Record::from_map(map).unwrap_err()
        };
        let e = misfit(sync, &|m| {
            m.insert("changeId".into(), json!(5));
        });
        assert_eq!(e.member, "changeId");
        assert!(e.reason.contains("expected a string"), "{e}");
        let e = misfit(sync, &|m| {
            m["app"]["namespace"] = json!(["argocd"]);
        });
        assert_eq!(e.member, "app.namespace", "{e}");
        let e = misfit(sync, &|m| {
            m["approvedBy"] = json!(["Bob", 7]);
        });
        assert_eq!(e.member, "approvedBy[1]", "{e}");
        let e = misfit(sync, &|m| {
            m.remove("previousRevision");
        });
        assert!(
            e.to_string().contains("missing field `previousRevision`"),
            "{e}"
        );
        let e = misfit(guard, &|m| {
            m.insert("allowed".into(), json!("yes"));
        });
        assert_eq!(e.member, "allowed");
        let e = misfit(guard, &|m| {
            m["active"] = json!([-1]);
        });
        assert_eq!(e.member, "active[0]", "{e}");
        let e = misfit(guard, &|m| {
            m.remove("seq");
        });
        assert_eq!(e.member, "seq, prev, hash");
        // No event member: read as an event, and that needs one.
        let e = misfit(sync, &|m| {
            m.remove("event");
        });
        assert!(e.to_string().contains("missing field `event`"), "{e}");
    }
}
