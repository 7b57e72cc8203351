//! Building the records the sink decides or is told besides Argo CD's events: a guard decision (`POST
//! /v1/guard`, or the sink's own decision for `POST /v1/decide`) and the review of an emergency
//! (`POST /v1/reviews`, `sluice audit review`). Takes the request's members and the receipt time,
//! gives a typed [`Body`] without `seq`/`prev`/`hash`. Pure: no clock, no I/O.

use super::event::{guard_key, review_key, EventError, EMERGENCY_REVIEW, GUARD_DECISION};
use super::fields::{opt_str, safe_int, str_at};
use super::model::{Added, Body, GuardApp, GuardDecision, GuardDestination, Review};
use serde_json::{Map, Value};

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
    let emergency = opt_str(string("emergency")?);
    // The review of an emergency this decision allowed is due then (`emergency.reviewWithin` after
    // it, as the guard or the sink computed it); only emergencies carry the member.
    let review_due = match (string("reviewDue")?, &emergency, allowed) {
        (Some(due), Some(_), true) => {
            if chrono::DateTime::parse_from_rfc3339(due).is_err() {
                return Err(EventError::WrongType {
                    field: "reviewDue",
                    expected: "an RFC 3339 time",
                });
            }
            Added::Present(Some(due.to_owned()))
        }
        _ => Added::Absent,
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
        emergency,
        reason: string("reason")?.unwrap_or("").to_owned(),
        at: at.to_owned(),
        active,
        windows,
        approval: Added::Absent,
        ticket: Added::Absent,
        review_due,
        extra: Map::new(),
    })))
}

/// The record of the review of emergency `change_id` by `by`, received at `received_at`: the records
/// of the emergency it covers (`emergencies`), when it was due, whether it is late, and how it came
/// (`cli` or `api`). Pure.
#[allow(clippy::too_many_arguments)] // one argument per member of the record, as written
pub fn review_record(
    change_id: &str,
    by: &str,
    note: &str,
    emergencies: &[u64],
    due: Option<&str>,
    late: bool,
    via: &str,
    received_at: &str,
) -> Body {
    Body::Review(Box::new(Review {
        event: EMERGENCY_REVIEW.to_owned(),
        received_at: received_at.to_owned(),
        key: review_key(change_id, by, note),
        change_id: change_id.to_owned(),
        by: by.to_owned(),
        note: note.to_owned(),
        emergencies: emergencies.to_vec(),
        due: due.map(str::to_owned),
        late,
        via: via.to_owned(),
        extra: Map::new(),
    }))
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
