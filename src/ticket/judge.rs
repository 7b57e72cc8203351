//! The judgment of one change request against the `ticket` rules at one instant. Pure.
//!
//! The rules are checked in the order a change moves through its life, and the first that fails gives
//! the reason: the ticket exists; it is not finished (a Closed or Canceled ServiceNow change, a Jira
//! status in the `done` category: such a change can still read "approved", which is exactly what a
//! naive check gets wrong); its state is one the policy allows; its own approval says approved (Jira:
//! at least one approval, every one approved, on whichever page it sits); a Scheduled change is inside
//! its planned window, and with `withinPlannedWindow` so is every change; no scheduling conflict
//! (ServiceNow, with `conflicts: refuse`).

use super::facts::Ticket;
use crate::policy::ticket::{state_name, Conflicts, System, TicketSpec};
use chrono::{DateTime, SecondsFormat, Utc};

/// What the ticket says about the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The change request authorizes the sync now.
    Authorized,
    /// It does not (its state, its approval, a conflict), or there is none though one is required.
    NotAuthorized,
    /// It would, but not now: outside its planned window.
    OutsideWindow,
    /// The system could not be asked or did not tell enough.
    Unverified,
    /// No ticket, and none is required (`ticket.required: false`).
    NoTicket,
}

impl Verdict {
    /// As records write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Authorized => "authorized",
            Verdict::NotAuthorized => "not-authorized",
            Verdict::OutsideWindow => "outside-window",
            Verdict::Unverified => "unverified",
            Verdict::NoTicket => "no-ticket",
        }
    }

    /// Whether the sync may go ahead on this verdict (unverified is the caller's call).
    pub fn allows(self) -> bool {
        matches!(self, Verdict::Authorized | Verdict::NoTicket)
    }
}

/// The judgment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgment {
    pub verdict: Verdict,
    /// One line naming the ticket and the rule.
    pub reason: String,
    /// An approved emergency change (ServiceNow type `emergency`, or a Jira request type the policy
    /// names), authorized: it lets the sync pass outside windows and freezes.
    pub emergency: bool,
    /// The ticket is of an emergency type, whether or not it authorizes the sync.
    pub emergency_type: bool,
    /// A scheduling conflict let through by `conflicts: flag`.
    pub conflict_flagged: bool,
}

impl Judgment {
    fn no(verdict: Verdict, reason: String, emergency_type: bool) -> Judgment {
        Judgment {
            verdict,
            reason,
            emergency: false,
            emergency_type,
            conflict_flagged: false,
        }
    }
}

/// An instant as records write it (RFC 3339, UTC, seconds).
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Judges `ticket` (`None`: the system has no such change request) by `rules` at `now`.
pub fn judge(
    rules: &TicketSpec,
    number: &str,
    ticket: Option<&Ticket>,
    now: DateTime<Utc>,
) -> Judgment {
    let Some(t) = ticket else {
        let what = match rules.system {
            System::ServiceNow => format!("ServiceNow {number}: no such change request"),
            System::Jira => format!(
                "Jira {number}: no such issue (Jira answers 404 both for an issue that does not exist and for one the credentials cannot see)"
            ),
        };
        return if rules.required {
            Judgment::no(
                Verdict::NotAuthorized,
                format!("{what} (ticket.required)"),
                false,
            )
        } else {
            Judgment::no(
                Verdict::NoTicket,
                format!("{what}; none is required (ticket.required: false)"),
                false,
            )
        };
    };
    let emergency_type = is_emergency(rules, t);
    let label = t.label();
    let no = |verdict: Verdict, why: String| {
        Judgment::no(verdict, format!("{label}: {why}"), emergency_type)
    };
    if let Some(why) = finished(t) {
        return no(Verdict::NotAuthorized, why);
    }
    if let Some(why) = state_refused(rules, t) {
        return no(Verdict::NotAuthorized, why);
    }
    if let Some(why) = approval_refused(t) {
        return no(Verdict::NotAuthorized, why);
    }
    let scheduled = t.system == System::ServiceNow && t.state.as_deref() == Some("Scheduled");
    let check_window = scheduled
        || (rules.within_planned_window
            && (t.system == System::ServiceNow || !rules.planned_start_field.is_empty()));
    if check_window {
        if let Some(why) = outside(t, now, scheduled) {
            return no(Verdict::OutsideWindow, why);
        }
    }
    let conflict = t
        .conflict
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("conflict"));
    if conflict && rules.on_conflict() == Conflicts::Refuse {
        return no(
            Verdict::NotAuthorized,
            "a scheduling conflict (conflict_status: Conflict; ticket.conflicts: refuse)".into(),
        );
    }
    let mut parts = vec![t.state.clone().unwrap_or_else(|| "no state".into())];
    parts.push(t.approval.clone().unwrap_or_else(|| "approved".into()));
    if let (Some(s), Some(e)) = (t.planned_start, t.planned_end) {
        parts.push(format!("planned {} to {}", instant(s), instant(e)));
    }
    if conflict {
        parts.push("a scheduling conflict, flagged (ticket.conflicts: flag)".into());
    }
    if emergency_type {
        parts.push("an emergency change".into());
    }
    Judgment {
        verdict: Verdict::Authorized,
        reason: format!("{label}: {}", parts.join(", ")),
        emergency: emergency_type,
        emergency_type,
        conflict_flagged: conflict,
    }
}

/// Whether the ticket is of an emergency type.
fn is_emergency(rules: &TicketSpec, t: &Ticket) -> bool {
    let kind = t.kind.as_deref().unwrap_or("");
    match t.system {
        System::ServiceNow => kind.eq_ignore_ascii_case("emergency"),
        System::Jira => rules
            .emergency_request_types
            .iter()
            .any(|r| r.trim().eq_ignore_ascii_case(kind.trim()) && !kind.trim().is_empty()),
    }
}

/// A finished change: ServiceNow Closed or Canceled, a Jira status in the `done` category.
fn finished(t: &Ticket) -> Option<String> {
    let approval = t
        .approval
        .as_deref()
        .map_or_else(String::new, |a| format!(" (its approval reads {a})"));
    match t.system {
        System::ServiceNow => {
            let name = t.state.as_deref().unwrap_or("");
            matches!(name, "Closed" | "Canceled").then(|| {
                format!(
                    "state {name}: a {} change authorizes nothing, whatever its approval says{approval}",
                    name.to_ascii_lowercase()
                )
            })
        }
        System::Jira => (t.state_value.as_deref() == Some("done")).then(|| {
            format!(
                "status {} is in the done category: the request is finished, not authorized",
                t.state.as_deref().unwrap_or("?")
            )
        }),
    }
}

/// The state is not one the rules allow.
fn state_refused(rules: &TicketSpec, t: &Ticket) -> Option<String> {
    match t.system {
        System::ServiceNow => {
            let allowed = rules.sync_states();
            let name = t.state.as_deref().unwrap_or("");
            (!allowed.contains(&name)).then(|| {
                let shown = if name.is_empty() {
                    format!("state value {}", t.state_value.as_deref().unwrap_or("none"))
                } else {
                    format!("state {name}")
                };
                format!(
                    "{shown}; a sync needs {} (ticket.states)",
                    allowed.join(" or ")
                )
            })
        }
        System::Jira => {
            let name = t.state.as_deref().unwrap_or("");
            let category = t.state_value.as_deref().unwrap_or("");
            let statuses = rules.jira_statuses();
            let by_name = statuses.iter().any(|s| s.eq_ignore_ascii_case(name));
            let by_category = rules.status_categories.iter().any(|c| c == category);
            (!by_name && !by_category).then(|| {
                let mut wanted: Vec<String> = statuses.clone();
                wanted.extend(
                    rules
                        .status_categories
                        .iter()
                        .map(|c| format!("a status in the {c} category")),
                );
                format!(
                    "status {name} ({category}); a sync needs {} (ticket.statuses, ticket.statusCategories)",
                    wanted.join(" or ")
                )
            })
        }
    }
}

/// The ticket's approval does not say approved.
fn approval_refused(t: &Ticket) -> Option<String> {
    match t.system {
        System::ServiceNow => {
            let a = t.approval.as_deref().unwrap_or("none");
            (a != "approved")
                .then(|| format!("approval {a}, not approved (ticket.approval: approved)"))
        }
        System::Jira => {
            if t.approvals.is_empty() {
                return Some("no approvals on the request (ticket.approval: approved needs at least one, every one approved)".into());
            }
            let page = |p: u64| {
                if p > 1 {
                    format!(" (page {p} of its approvals)")
                } else {
                    String::new()
                }
            };
            if let Some(d) = t.approvals.iter().find(|a| a.decision == "declined") {
                let by = if d.by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", d.by.join(", "))
                };
                return Some(format!(
                    "approval {:?} declined{by}{} (ticket.approval: approved)",
                    d.name,
                    page(d.page)
                ));
            }
            t.approvals
                .iter()
                .find(|a| a.decision != "approved")
                .map(|p| {
                    format!(
                        "approval {:?} is {}{} (ticket.approval: approved needs every approval decided and approved)",
                        p.name,
                        p.decision,
                        page(p.page)
                    )
                })
        }
    }
}

/// `now` is outside the planned window (or there is none).
fn outside(t: &Ticket, now: DateTime<Utc>, scheduled: bool) -> Option<String> {
    let rule = if scheduled {
        "a Scheduled change syncs only inside its planned window"
    } else {
        "ticket.withinPlannedWindow"
    };
    let (Some(start), Some(end)) = (t.planned_start, t.planned_end) else {
        return Some(format!("no planned start and end ({rule})"));
    };
    let window = format!("planned {} to {}", instant(start), instant(end));
    if now < start {
        return Some(format!(
            "{window}; now ({}) is before its planned start ({rule})",
            instant(now)
        ));
    }
    if now >= end {
        return Some(format!(
            "{window}; now ({}) is past its planned end ({rule})",
            instant(now)
        ));
    }
    None
}

/// The state name of a ServiceNow state value given as the API gives it: a JSON number (the Change
/// Management API's `-1.0`) or a string (the Table API's `"-1"`).
pub fn servicenow_state(value: &serde_json::Value) -> Option<(i64, Option<&'static str>)> {
    let n = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if n.fract() != 0.0 || !(-1000.0..=1000.0).contains(&n) {
        return None;
    }
    let n = n as i64;
    Some((n, state_name(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::facts::Approval;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn change(state: &str, approval: &str) -> Ticket {
        let mut t = Ticket::new(System::ServiceNow, "CHG0030001");
        t.state = Some(state.into());
        t.approval = Some(approval.into());
        t.kind = Some("normal".into());
        t.planned_start = Some(at("2026-03-07T10:00:00Z"));
        t.planned_end = Some(at("2026-03-07T12:00:00Z"));
        t
    }

    fn rules() -> TicketSpec {
        TicketSpec::of(System::ServiceNow)
    }

    const INSIDE: &str = "2026-03-07T11:00:00Z";

    #[test]
    fn an_approved_change_in_implement_inside_its_window_is_authorized() {
        let j = judge(
            &rules(),
            "CHG0030001",
            Some(&change("Implement", "approved")),
            at(INSIDE),
        );
        assert_eq!(j.verdict, Verdict::Authorized, "{}", j.reason);
        assert_eq!(
            j.reason,
            "ServiceNow CHG0030001: Implement, approved, planned 2026-03-07T10:00:00Z to 2026-03-07T12:00:00Z"
        );
        assert!(!j.emergency);
    }

    #[test]
    fn each_refusal_names_the_ticket_and_the_rule() {
        let r = rules();
        let cases = [
            (change("Assess", "requested"), INSIDE, Verdict::NotAuthorized, "state Assess; a sync needs Implement (ticket.states)"),
            (change("Canceled", "approved"), INSIDE, Verdict::NotAuthorized, "state Canceled: a canceled change authorizes nothing, whatever its approval says (its approval reads approved)"),
            (change("Closed", "approved"), INSIDE, Verdict::NotAuthorized, "state Closed: a closed change"),
            (change("Implement", "requested"), INSIDE, Verdict::NotAuthorized, "approval requested, not approved"),
            (change("Implement", "approved"), "2026-03-07T12:00:00Z", Verdict::OutsideWindow, "now (2026-03-07T12:00:00Z) is past its planned end (ticket.withinPlannedWindow)"),
            (change("Implement", "approved"), "2026-03-07T09:59:59Z", Verdict::OutsideWindow, "is before its planned start"),
        ];
        for (t, now, verdict, reason) in cases {
            let j = judge(&r, "CHG0030001", Some(&t), at(now));
            assert_eq!(j.verdict, verdict, "{}", j.reason);
            assert!(
                j.reason.starts_with("ServiceNow CHG0030001: "),
                "{}",
                j.reason
            );
            assert!(
                j.reason.contains(reason),
                "{} does not contain {reason}",
                j.reason
            );
        }
        let none = judge(&r, "CHG0000099", None, at(INSIDE));
        assert_eq!(none.verdict, Verdict::NotAuthorized);
        assert_eq!(
            none.reason,
            "ServiceNow CHG0000099: no such change request (ticket.required)"
        );
        let optional = TicketSpec {
            required: false,
            ..rules()
        };
        assert_eq!(
            judge(&optional, "CHG0000099", None, at(INSIDE)).verdict,
            Verdict::NoTicket
        );
    }

    #[test]
    fn scheduled_only_inside_its_window_even_without_the_window_rule() {
        let r = TicketSpec {
            states: Some(vec!["Scheduled".into(), "Implement".into()]),
            within_planned_window: false,
            ..rules()
        };
        let t = change("Scheduled", "approved");
        assert_eq!(
            judge(&r, "CHG0030001", Some(&t), at(INSIDE)).verdict,
            Verdict::Authorized
        );
        let late = judge(&r, "CHG0030001", Some(&t), at("2026-03-08T00:00:00Z"));
        assert_eq!(late.verdict, Verdict::OutsideWindow);
        assert!(
            late.reason
                .contains("a Scheduled change syncs only inside its planned window"),
            "{}",
            late.reason
        );
        let mut open = change("Implement", "approved");
        open.planned_end = None;
        assert_eq!(
            judge(&r, "CHG0030001", Some(&open), at("2030-01-01T00:00:00Z")).verdict,
            Verdict::Authorized
        );
        assert_eq!(
            judge(&rules(), "CHG0030001", Some(&open), at(INSIDE)).verdict,
            Verdict::OutsideWindow
        );
    }

    #[test]
    fn a_standard_change_without_approver_records_is_approved_by_its_template() {
        let mut t = change("Implement", "approved");
        t.kind = Some("standard".into());
        assert!(t.approvals.is_empty());
        assert_eq!(
            judge(&rules(), "CHG0030001", Some(&t), at(INSIDE)).verdict,
            Verdict::Authorized
        );
    }

    #[test]
    fn emergencies_and_conflicts() {
        let mut t = change("Implement", "approved");
        t.kind = Some("emergency".into());
        let j = judge(&rules(), "CHG0030001", Some(&t), at(INSIDE));
        assert!(
            j.emergency && j.emergency_type && j.reason.ends_with("an emergency change"),
            "{}",
            j.reason
        );
        t.approval = Some("requested".into());
        let j = judge(&rules(), "CHG0030001", Some(&t), at(INSIDE));
        assert!(!j.emergency && j.emergency_type);
        assert_eq!(j.verdict, Verdict::NotAuthorized);
        let mut c = change("Implement", "approved");
        c.conflict = Some("Conflict".into());
        assert_eq!(
            judge(&rules(), "CHG0030001", Some(&c), at(INSIDE)).verdict,
            Verdict::NotAuthorized
        );
        let flag = TicketSpec {
            conflicts: Some(Conflicts::Flag),
            ..rules()
        };
        let j = judge(&flag, "CHG0030001", Some(&c), at(INSIDE));
        assert!(
            j.verdict == Verdict::Authorized && j.conflict_flagged,
            "{}",
            j.reason
        );
    }

    fn request(status: &str, category: &str, approvals: &[(&str, &str, u64)]) -> Ticket {
        let mut t = Ticket::new(System::Jira, "OPS-12");
        t.state = Some(status.into());
        t.state_value = Some(category.into());
        t.kind = Some("Emergency change".into());
        t.approvals = approvals
            .iter()
            .map(|(name, decision, page)| Approval {
                name: (*name).into(),
                decision: (*decision).into(),
                by: vec!["Dee".into()],
                at: None,
                page: *page,
            })
            .collect();
        t
    }

    #[test]
    fn jira_status_categories_and_approvals_on_any_page() {
        let r = TicketSpec {
            emergency_request_types: vec!["emergency change".into()],
            ..TicketSpec::of(System::Jira)
        };
        let ok = request(
            "Implementing",
            "indeterminate",
            &[("CAB", "approved", 1), ("Owner", "approved", 2)],
        );
        let j = judge(&r, "OPS-12", Some(&ok), at(INSIDE));
        assert_eq!(j.verdict, Verdict::Authorized, "{}", j.reason);
        assert!(j.emergency);
        let declined = request(
            "Implementing",
            "indeterminate",
            &[("CAB", "approved", 1), ("Security", "declined", 3)],
        );
        let j = judge(&r, "OPS-12", Some(&declined), at(INSIDE));
        assert_eq!(j.verdict, Verdict::NotAuthorized);
        assert_eq!(j.reason, "Jira OPS-12: approval \"Security\" declined by Dee (page 3 of its approvals) (ticket.approval: approved)");
        let done = request("Completed", "done", &[("CAB", "approved", 1)]);
        let j = judge(
            &TicketSpec {
                statuses: Some(vec!["Completed".into()]),
                ..r.clone()
            },
            "OPS-12",
            Some(&done),
            at(INSIDE),
        );
        assert!(
            j.reason
                .contains("is in the done category: the request is finished, not authorized"),
            "{}",
            j.reason
        );
        let pending = request("Implementing", "indeterminate", &[("CAB", "pending", 1)]);
        assert!(judge(&r, "OPS-12", Some(&pending), at(INSIDE))
            .reason
            .contains("\"CAB\" is pending"));
        let none = request("Implementing", "indeterminate", &[]);
        assert!(judge(&r, "OPS-12", Some(&none), at(INSIDE))
            .reason
            .contains("no approvals"));
        let planning = request("Planning", "indeterminate", &[("CAB", "approved", 1)]);
        let j = judge(&r, "OPS-12", Some(&planning), at(INSIDE));
        assert_eq!(j.reason, "Jira OPS-12: status Planning (indeterminate); a sync needs Implementing (ticket.statuses, ticket.statusCategories)");
        let by_category = TicketSpec {
            status_categories: vec!["indeterminate".into()],
            ..r
        };
        assert_eq!(
            judge(&by_category, "OPS-12", Some(&planning), at(INSIDE)).verdict,
            Verdict::Authorized
        );
    }

    #[test]
    fn state_values_read_as_numbers_or_strings() {
        assert_eq!(
            servicenow_state(&json!(-1.0)),
            Some((-1, Some("Implement")))
        );
        assert_eq!(
            servicenow_state(&json!("-1")),
            Some((-1, Some("Implement")))
        );
        assert_eq!(servicenow_state(&json!(3)), Some((3, Some("Closed"))));
        assert_eq!(servicenow_state(&json!("7")), Some((7, None)));
        assert_eq!(servicenow_state(&json!("Implement")), None);
        assert_eq!(servicenow_state(&json!(-1.5)), None);
    }
}
