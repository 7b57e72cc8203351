//! Jira Cloud and Jira Service Management (docs/tickets.md; Atlassian's OpenAPI descriptions of the
//! Jira Cloud platform REST API v3 and of the Service Management REST API): which requests tell the
//! state of a change request, and how their answers read as a [`Ticket`].
//!
//! 1. `GET /rest/api/3/issue/{key}?fields=status,issuetype[,planned fields]`: the status (its name and
//!    its category: `new`, `indeterminate`, `done`; a `done` status means the request is finished,
//!    not authorized). Jira answers `404`, not `401`, to a request it does not authenticate (and to
//!    one whose user cannot browse the project), so a 404 reads as "no such issue" with that said.
//! 2. `GET /rest/servicedeskapi/request/{key}?expand=requestType`: the request type (what the policy's
//!    `emergencyRequestTypes` name). An issue that is no service request answers 404: no request type.
//! 3. `GET /rest/servicedeskapi/request/{key}/approval?start=N&limit=50`: the approvals, every page
//!    (`isLastPage`): a declined approval can sit on a later page.

use super::{encode, Target};
use crate::policy::ticket::System;
use crate::remote::{keep, Gather, RemoteError, Req, Source};
use crate::ticket::{Approval, Ticket};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Approvals per page asked for.
pub const APPROVAL_PAGE: u64 = 50;
/// Most pages of approvals read.
const MAX_APPROVAL_PAGES: u64 = 40;

/// Whether `key` is a Jira issue key (`OPS-12`): a project key of upper-case letters, digits and `_`
/// starting with a letter, `-`, and a number.
pub fn valid_key(key: &str) -> bool {
    let Some((project, number)) = key.rsplit_once('-') else {
        return false;
    };
    key.len() <= 64
        && project
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_uppercase())
        && project
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !number.is_empty()
        && !number.starts_with('0')
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The issue path of `target`.
pub fn issue_path(target: &Target) -> String {
    let mut fields = vec!["status", "issuetype"];
    for f in [&target.planned_start_field, &target.planned_end_field] {
        if !f.is_empty() {
            fields.push(f);
        }
    }
    format!(
        "/rest/api/3/issue/{}?fields={}",
        target.number,
        encode(&fields.join(","))
    )
}

/// Where the approvals of `key` are, from `start`.
pub fn approvals_path(key: &str, start: u64) -> String {
    format!("/rest/servicedeskapi/request/{key}/approval?start={start}&limit={APPROVAL_PAGE}")
}

/// Asks for the issue `target.number`, its request type and its approvals.
///
/// # Errors
///
/// The system did not answer as needed.
pub async fn gather<S: Source>(
    g: &mut Gather<'_, S>,
    target: &Target,
) -> Result<Option<Ticket>, RemoteError> {
    let key = target.number.as_str();
    if !valid_key(key) {
        return Err(RemoteError::new(
            "issue key",
            format!("{key:?} is not a Jira issue key (e.g. OPS-12)"),
        ));
    }
    let planned: Vec<String> = [&target.planned_start_field, &target.planned_end_field]
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|f| format!("fields.{f}"))
        .collect();
    let trim_issue = move |v: &Value| {
        let mut members = vec![
            "id",
            "key",
            "fields.status.name",
            "fields.status.statusCategory.key",
            "fields.issuetype.name",
        ];
        members.extend(planned.iter().map(String::as_str));
        keep(v, &members)
    };
    let Some(issue) = g
        .get_optional(Req::one(issue_path(target)), trim_issue, &[404])
        .await?
    else {
        return Ok(None);
    };
    let text = |v: &Value, path: &[&str]| {
        path.iter()
            .try_fold(v, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut t = Ticket::new(System::Jira, key);
    t.id = text(&issue, &["id"]);
    t.state = text(&issue, &["fields", "status", "name"]);
    t.state_value = text(&issue, &["fields", "status", "statusCategory", "key"]);
    let date = |field: &str| {
        (!field.is_empty())
            .then(|| text(&issue, &["fields", field]))
            .flatten()
            .and_then(|s| parse_jira_time(&s))
    };
    t.planned_start = date(&target.planned_start_field);
    t.planned_end = date(&target.planned_end_field);
    let request = g
        .get_optional(
            Req::one(format!(
                "/rest/servicedeskapi/request/{key}?expand=requestType"
            )),
            |v| keep(v, &["issueKey", "requestTypeId", "requestType.name"]),
            &[404],
        )
        .await?;
    t.kind = request
        .as_ref()
        .and_then(|r| text(r, &["requestType", "name"]))
        .or_else(|| text(&issue, &["fields", "issuetype", "name"]));
    if request.is_some() {
        t.approvals = approvals(g, key).await?;
    }
    t.approval = Some(summary(&t.approvals).to_owned());
    Ok(Some(t))
}

/// The approvals summed up: `declined` if any is, else `pending` if any is not approved, else
/// `approved`; `none` without approvals.
fn summary(approvals: &[Approval]) -> &'static str {
    if approvals.is_empty() {
        "none"
    } else if approvals.iter().any(|a| a.decision == "declined") {
        "declined"
    } else if approvals.iter().all(|a| a.decision == "approved") {
        "approved"
    } else {
        "pending"
    }
}

/// Jira's times: ISO 8601 with a zone written `+0700` (Jira) or `+07:00`.
pub fn parse_jira_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn trim_approvals(v: &Value) -> Value {
    keep(
        v,
        &[
            "start",
            "size",
            "limit",
            "isLastPage",
            "values[].id",
            "values[].name",
            "values[].finalDecision",
            "values[].approvers[].approver.displayName",
            "values[].approvers[].approverDecision",
            "values[].completedDate.iso8601",
        ],
    )
}

/// Every page of the request's approvals.
async fn approvals<S: Source>(
    g: &mut Gather<'_, S>,
    key: &str,
) -> Result<Vec<Approval>, RemoteError> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for page in 1..=MAX_APPROVAL_PAGES {
        let path = approvals_path(key, start);
        let body = g.get(Req::one(path.clone()), trim_approvals).await?;
        let values = body
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for a in &values {
            let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let by = a
                .get("approvers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| {
                    p.get("approverDecision")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d != "pending")
                })
                .filter_map(|p| p.pointer("/approver/displayName").and_then(Value::as_str))
                .map(str::to_owned)
                .collect();
            out.push(Approval {
                name: s("name"),
                decision: s("finalDecision"),
                by,
                at: a
                    .pointer("/completedDate/iso8601")
                    .and_then(Value::as_str)
                    .and_then(parse_jira_time)
                    .map(crate::ticket::judge::instant),
                page,
            });
        }
        let last = body.get("isLastPage").and_then(Value::as_bool);
        let size = body
            .get("size")
            .and_then(Value::as_u64)
            .unwrap_or(values.len() as u64);
        match last {
            Some(false) if size > 0 => start += size,
            Some(false) => {
                return Err(RemoteError::new(
                    &Req::one(path).key(),
                    "isLastPage is false on an empty page",
                ))
            }
            _ => return Ok(out),
        }
    }
    Err(RemoteError::new(
        "approvals",
        format!("more than {MAX_APPROVAL_PAGES} pages of approvals"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys_and_paths() {
        assert!(valid_key("OPS-12"));
        assert!(valid_key("CHG_2-1"));
        assert!(!valid_key("ops-12"));
        assert!(!valid_key("OPS-012"));
        assert!(!valid_key("OPS-"));
        assert!(!valid_key("OPS-1?fields=x"));
        let t = Target {
            system: System::Jira,
            number: "OPS-12".into(),
            planned_start_field: "customfield_10041".into(),
            planned_end_field: "customfield_10042".into(),
        };
        assert_eq!(
            issue_path(&t),
            "/rest/api/3/issue/OPS-12?fields=status%2Cissuetype%2Ccustomfield_10041%2Ccustomfield_10042"
        );
    }

    #[test]
    fn jira_times_with_either_zone_form() {
        let a = parse_jira_time("2015-10-08T14:42:00.000+0700").unwrap();
        let b = parse_jira_time("2015-10-08T07:42:00Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_jira_time("yesterday").is_none());
    }
}
