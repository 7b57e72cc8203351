//! ServiceNow (docs/tickets.md; ServiceNow's docs, github ServiceNow/ServiceNowDocs:
//! `api-reference/rest-apis/change-management-api.md` and `c_TableAPI.md`): which requests tell the
//! state of a change request, and how their answers read as a [`Ticket`].
//!
//! 1. `GET /api/sn_chg_rest/change?sysparm_query=number=CHG…` (Change Management API, role
//!    `sn_change_read`): the change request. Every field comes as `{display_value, value}` (dates also
//!    with `display_value_internal`), numbers as JSON numbers (`"state": {"value": -1.0}`); the API
//!    takes neither `sysparm_fields` nor `sysparm_display_value`, so the answer is trimmed here.
//!    Judging reads `value`s only: raw dates are UTC (`2026-03-07 10:00:00`), while display values
//!    are in the calling user's time zone and format, which across a DST change is an hour off.
//!    An unknown number is `200` with an empty `result`, not `404`; and an invalid query term is
//!    silently ignored (every row comes back), so a row counts only when its own `number` is the one
//!    asked for, and the number is checked to hold no query syntax before it is sent.
//! 2. `GET /api/now/table/sysapproval_approver?sysparm_query=sysapproval=<sys_id>&…` (Table API,
//!    paged by `sysparm_offset`): the approver records, kept as evidence. The Table API returns raw
//!    strings (`"-1"`, `"approved"`) unless `sysparm_display_value` says otherwise (here: `all`,
//!    both). A standard change has no approver records: its template approved it.
//!
//! The state values are the Change Management state model's (New -5, Assess -4, Authorize -3,
//! Scheduled -2, Implement -1, Review 0, Closed 3, Canceled 4); a Canceled or Closed change can still
//! read `approval: approved`, which judging does not take for an authorization (src/ticket/judge.rs).

use super::encode;
use crate::policy::ticket::System;
use crate::remote::{keep, Gather, RemoteError, Req, Source};
use crate::ticket::judge::servicenow_state;
use crate::ticket::{Approval, Ticket};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

/// The change request fields read (each kept with its display value, as evidence).
pub const CHANGE_FIELDS: [&str; 10] = [
    "number",
    "sys_id",
    "state",
    "approval",
    "type",
    "start_date",
    "end_date",
    "assignment_group",
    "conflict_status",
    "short_description",
];

/// Approver records per page.
pub const APPROVER_PAGE: usize = 100;
/// Most pages of approver records read.
const MAX_APPROVER_PAGES: usize = 20;

/// Whether `number` can go into an encoded query as a value: letters, digits, `-`, `_`, `.` only (a
/// `^` would add a query term, and ServiceNow ignores terms it cannot read).
pub fn valid_number(number: &str) -> bool {
    !number.is_empty()
        && number.len() <= 40
        && number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The change request path for `number`.
pub fn change_path(number: &str) -> String {
    format!(
        "/api/sn_chg_rest/change?sysparm_query={}",
        encode(&format!("number={number}"))
    )
}

/// The approver records path of the change `sys_id`, from `offset`.
pub fn approvers_path(sys_id: &str, offset: usize) -> String {
    format!(
        "/api/now/table/sysapproval_approver?sysparm_query={}&sysparm_fields=approver%2Cstate%2Csys_updated_on&sysparm_display_value=all&sysparm_exclude_reference_link=true&sysparm_limit={APPROVER_PAGE}&sysparm_offset={offset}",
        encode(&format!("sysapproval={sys_id}"))
    )
}

fn trim_changes(v: &Value) -> Value {
    let members: Vec<String> = CHANGE_FIELDS
        .iter()
        .map(|f| format!("result[].{f}"))
        .collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    keep(v, &members)
}

fn trim_approvers(v: &Value) -> Value {
    keep(
        v,
        &[
            "result[].approver.display_value",
            "result[].state.value",
            "result[].state.display_value",
            "result[].sys_updated_on.value",
        ],
    )
}

/// A field's raw value (`value`), as the Change Management API gives it.
fn value<'a>(row: &'a Value, field: &str) -> &'a Value {
    row.get(field)
        .and_then(|f| f.get("value"))
        .unwrap_or(&Value::Null)
}

/// A field's raw value as a string ("" and non-strings read as absent).
fn string(row: &Value, field: &str) -> Option<String> {
    value(row, field)
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// A field's display value.
fn display(row: &Value, field: &str) -> Option<String> {
    row.get(field)
        .and_then(|f| f.get("display_value"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// A raw ServiceNow date-time (`2026-03-07 10:00:00`, UTC).
pub fn utc(raw: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Asks for the change request numbered `number` and its approver records.
///
/// # Errors
///
/// The system did not answer as needed, or answered rows none of which is the change asked for.
pub async fn gather<S: Source>(
    g: &mut Gather<'_, S>,
    number: &str,
) -> Result<Option<Ticket>, RemoteError> {
    if !valid_number(number) {
        return Err(RemoteError::new(
            "change number",
            format!(
                "{number:?} is not a ServiceNow change number (letters, digits, '-', '_', '.')"
            ),
        ));
    }
    let path = change_path(number);
    let request = Req::one(path.clone()).key();
    let body = g.get(Req::one(path), trim_changes).await?;
    let rows = body
        .get("result")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let matching: Vec<&Value> = rows
        .iter()
        .filter(|r| string(r, "number").as_deref() == Some(number))
        .collect();
    let row = match (rows.len(), matching.as_slice()) {
        (0, _) => return Ok(None),
        (n, []) => {
            return Err(RemoteError::new(
                &request,
                format!("ServiceNow answered {n} change requests, none numbered {number}: the query was not applied (ServiceNow ignores a query term it cannot read and returns every row)"),
            ))
        }
        (_, [one]) => *one,
        (_, more) => {
            return Err(RemoteError::new(
                &request,
                format!("ServiceNow answered {} change requests numbered {number}", more.len()),
            ))
        }
    };
    let mut ticket = read_change(number, row);
    if let Some(sys_id) = ticket.id.clone() {
        ticket.approvals = approvers(g, &sys_id).await?;
    }
    Ok(Some(ticket))
}

/// The ticket of one change request row.
fn read_change(number: &str, row: &Value) -> Ticket {
    let mut t = Ticket::new(System::ServiceNow, number);
    t.id = string(row, "sys_id");
    if let Some((n, name)) = servicenow_state(value(row, "state")) {
        t.state_value = Some(n.to_string());
        t.state = name.map(str::to_owned).or_else(|| display(row, "state"));
    }
    t.approval = string(row, "approval");
    t.kind = string(row, "type");
    t.planned_start = string(row, "start_date").as_deref().and_then(utc);
    t.planned_end = string(row, "end_date").as_deref().and_then(utc);
    t.assignment_group = display(row, "assignment_group");
    t.conflict = string(row, "conflict_status");
    t
}

/// The approver records of the change `sys_id`, every page.
async fn approvers<S: Source>(
    g: &mut Gather<'_, S>,
    sys_id: &str,
) -> Result<Vec<Approval>, RemoteError> {
    let mut out = Vec::new();
    for page in 0..MAX_APPROVER_PAGES {
        let body = g
            .get(
                Req::one(approvers_path(sys_id, page * APPROVER_PAGE)),
                trim_approvers,
            )
            .await?;
        let rows = body
            .get("result")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in &rows {
            let text = |path: &[&str]| {
                path.iter()
                    .try_fold(r, |v, k| v.get(*k))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            out.push(Approval {
                name: text(&["approver", "display_value"]).unwrap_or_else(|| "(unknown)".into()),
                decision: text(&["state", "value"]).unwrap_or_else(|| "requested".into()),
                by: text(&["approver", "display_value"]).into_iter().collect(),
                at: text(&["sys_updated_on", "value"])
                    .as_deref()
                    .and_then(utc)
                    .map(crate::ticket::judge::instant),
                page: page as u64 + 1,
            });
        }
        if rows.len() < APPROVER_PAGE {
            return Ok(out);
        }
    }
    Err(RemoteError::new(
        "approver records",
        format!(
            "more than {} approver records",
            MAX_APPROVER_PAGES * APPROVER_PAGE
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_with_query_syntax_are_refused() {
        assert!(valid_number("CHG0030001"));
        assert!(!valid_number("CHG1^ORnumber=CHG2"));
        assert!(!valid_number(""));
        assert_eq!(
            change_path("CHG0030001"),
            "/api/sn_chg_rest/change?sysparm_query=number%3DCHG0030001"
        );
    }

    #[test]
    fn a_change_reads_from_raw_values_not_display_values() {
        // As the Change Management API answers: numbers as JSON numbers, dates raw in UTC, display
        // values in the user's zone (here America/Los_Angeles, after the DST change of 2026-03-08).
        let row = json!({
            "number": {"display_value": "CHG0030001", "value": "CHG0030001"},
            "sys_id": {"display_value": "a1", "value": "a1"},
            "state": {"display_value": "Implement", "value": -1.0},
            "approval": {"display_value": "Approved", "value": "approved"},
            "type": {"display_value": "Emergency", "value": "emergency"},
            "start_date": {"display_value": "03/08/2026 01:30:00 AM", "value": "2026-03-08 09:30:00", "display_value_internal": "2026-03-08 01:30:00"},
            "end_date": {"display_value": "03/08/2026 04:30:00 AM", "value": "2026-03-08 11:30:00", "display_value_internal": "2026-03-08 04:30:00"},
            "assignment_group": {"display_value": "Network", "value": "g1"},
            "conflict_status": {"display_value": "No Conflict", "value": "No Conflict"}
        });
        let t = read_change("CHG0030001", &row);
        assert_eq!(t.state.as_deref(), Some("Implement"));
        assert_eq!(t.state_value.as_deref(), Some("-1"));
        assert_eq!(t.approval.as_deref(), Some("approved"));
        assert_eq!(t.kind.as_deref(), Some("emergency"));
        assert_eq!(t.planned_start, utc("2026-03-08 09:30:00"));
        assert_eq!(t.planned_end, utc("2026-03-08 11:30:00"));
        assert_eq!(t.assignment_group.as_deref(), Some("Network"));
        assert_eq!(
            utc("2026-03-08 09:30:00")
                .map(crate::ticket::judge::instant)
                .as_deref(),
            Some("2026-03-08T09:30:00Z")
        );
        assert_eq!(utc(""), None);
    }
}
