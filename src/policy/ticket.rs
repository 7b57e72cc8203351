//! The `ticket` and `emergency` sections of `.sluice.yaml` (docs/tickets.md): which ticket system holds
//! the change request, which of its states and approvals let a sync go ahead, what happens when the
//! system cannot be asked, whether the sink writes a work note back, and how long an emergency may wait
//! for its post-implementation review. Takes the sections as written (YAML, or the JSON the guard
//! forwards), gives validated [`TicketSpec`] and [`EmergencySpec`]. Pure: no I/O.

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

use super::approvals::OnUnavailable;
pub use crate::window::spec::EmergencySpec;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ticket.system`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum System {
    #[serde(rename = "servicenow")]
    ServiceNow,
    #[serde(rename = "jira")]
    Jira,
}

impl System {
    /// As written in the policy and records.
    pub fn as_str(self) -> &'static str {
        match self {
            System::ServiceNow => "servicenow",
            System::Jira => "jira",
        }
    }

    /// The inverse of [`System::as_str`].
    pub fn parse(text: &str) -> Option<System> {
        match text {
            "servicenow" => Some(System::ServiceNow),
            "jira" => Some(System::Jira),
            _ => None,
        }
    }
}

/// `ticket.approval`: the ticket's own approval must say approved (the only value: a sync needs an
/// approved change; the key is there so that a policy says so in writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum ApprovalRule {
    #[default]
    #[serde(rename = "approved")]
    Approved,
}

/// `ticket.conflicts`: what a ServiceNow scheduling conflict (`conflict_status: Conflict`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum Conflicts {
    /// Refuse the sync.
    #[default]
    #[serde(rename = "refuse")]
    Refuse,
    /// Let it through, recorded with the finding `ticket-conflict`.
    #[serde(rename = "flag")]
    Flag,
}

/// The ServiceNow change states (the Change Management state model: `state-model-activate-tasks` of
/// ServiceNow's docs): name and value.
pub const SERVICENOW_STATES: [(&str, i64); 8] = [
    ("New", -5),
    ("Assess", -4),
    ("Authorize", -3),
    ("Scheduled", -2),
    ("Implement", -1),
    ("Review", 0),
    ("Closed", 3),
    ("Canceled", 4),
];

/// The states a policy may let a sync go ahead in: before Scheduled the change is not authorized yet;
/// in Review, Closed or Canceled its implementation is over.
pub const SYNC_STATES: [&str; 2] = ["Scheduled", "Implement"];

/// The name of a ServiceNow state value, when it is one of the state model's.
pub fn state_name(value: i64) -> Option<&'static str> {
    SERVICENOW_STATES
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| *n)
}

/// Jira's status categories (`statusCategory.key`).
pub const STATUS_CATEGORIES: [&str; 3] = ["new", "indeterminate", "done"];

/// The default Jira statuses that allow a sync: Jira Service Management's change workflow.
pub const DEFAULT_JIRA_STATUSES: [&str; 1] = ["Implementing"];

/// `ticket`: the change request's own state gates the sync.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketSpec {
    pub system: System,
    /// A sync needs a ticket: no change id, or an id with no ticket, is refused. With `false`, a sync
    /// without a ticket passes (recorded as such); a ticket that exists is still judged.
    #[serde(default = "yes")]
    pub required: bool,
    /// The ticket number of a change id, when they differ: `$1`, `${name}` are the groups of
    /// `change.idPattern` (`CHG$1`); empty: the change id itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub number: String,
    /// ServiceNow: the states a sync may run in (default Implement; Scheduled only inside its planned
    /// window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<Vec<String>>,
    /// Now must be between the ticket's planned start and end.
    #[serde(default = "yes")]
    pub within_planned_window: bool,
    #[serde(default)]
    pub approval: ApprovalRule,
    /// ServiceNow: what a scheduling conflict does (default refuse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Conflicts>,
    /// Jira: the status names that allow a sync (default Implementing, unless `statusCategories`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<String>>,
    /// Jira: status categories that allow a sync (`new`, `indeterminate`; never `done`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_categories: Vec<String>,
    /// Jira Service Management: request types that are emergency changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergency_request_types: Vec<String>,
    /// Jira: the fields holding the planned start and end (site-specific custom fields, e.g.
    /// `customfield_10041`); without them Jira's planned window is not checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub planned_start_field: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub planned_end_field: String,
    /// What the guard does when the ticket system (or the sink) cannot be asked.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// Add a work note (ServiceNow) or a comment (Jira) when the sync finishes. Never changes the
    /// ticket's state.
    #[serde(default)]
    pub write_back: bool,
}

fn yes() -> bool {
    true
}

impl TicketSpec {
    /// A ticket of `system` with every key at its default.
    pub fn of(system: System) -> TicketSpec {
        TicketSpec {
            system,
            required: true,
            number: String::new(),
            states: None,
            within_planned_window: true,
            approval: ApprovalRule::Approved,
            conflicts: None,
            statuses: None,
            status_categories: Vec::new(),
            emergency_request_types: Vec::new(),
            planned_start_field: String::new(),
            planned_end_field: String::new(),
            on_unavailable: OnUnavailable::Fail,
            write_back: false,
        }
    }

    /// The ServiceNow states that allow a sync, as their canonical names.
    pub fn sync_states(&self) -> Vec<&'static str> {
        match &self.states {
            None => vec!["Implement"],
            Some(list) => list.iter().filter_map(|s| canonical_state(s)).collect(),
        }
    }

    /// The Jira statuses that allow a sync by name.
    pub fn jira_statuses(&self) -> Vec<String> {
        match &self.statuses {
            Some(list) => list.clone(),
            None if self.status_categories.is_empty() => DEFAULT_JIRA_STATUSES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            None => Vec::new(),
        }
    }

    /// What a scheduling conflict does.
    pub fn on_conflict(&self) -> Conflicts {
        self.conflicts.unwrap_or_default()
    }

    /// The rules with every default written out (what a record keeps, so that it reads without
    /// knowing this version's defaults).
    pub fn to_effective_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            match self.system {
                System::ServiceNow => {
                    map.insert("states".into(), serde_json::json!(self.sync_states()));
                    map.insert(
                        "conflicts".into(),
                        serde_json::to_value(self.on_conflict()).unwrap_or(Value::Null),
                    );
                }
                System::Jira => {
                    map.insert("statuses".into(), serde_json::json!(self.jira_statuses()));
                }
            }
        }
        v
    }

    /// Checks what the schema cannot; `pattern` is `change.idPattern`.
    ///
    /// # Errors
    ///
    /// The key (relative to `ticket`) and why.
    pub fn validate(&self, pattern: &str) -> Result<(), (String, String)> {
        let only = |key: &str, system: &str| {
            Err((
                key.to_owned(),
                format!(
                    "is a {system} key; this ticket's system is {}",
                    self.system.as_str()
                ),
            ))
        };
        match self.system {
            System::ServiceNow => {
                if self.statuses.is_some() {
                    return only("statuses", "jira");
                }
                for (key, set) in [
                    ("statusCategories", !self.status_categories.is_empty()),
                    (
                        "emergencyRequestTypes",
                        !self.emergency_request_types.is_empty(),
                    ),
                    ("plannedStartField", !self.planned_start_field.is_empty()),
                    ("plannedEndField", !self.planned_end_field.is_empty()),
                ] {
                    if set {
                        return only(key, "jira");
                    }
                }
                if let Some(states) = &self.states {
                    validate_states(states)?;
                }
            }
            System::Jira => {
                if self.states.is_some() {
                    return only("states", "servicenow");
                }
                if self.conflicts.is_some() {
                    return only("conflicts", "servicenow");
                }
                validate_jira(self)?;
            }
        }
        if !self.number.is_empty() {
            check_template(&self.number, pattern).map_err(|m| ("number".to_owned(), m))?;
        }
        Ok(())
    }
}

/// The canonical name of a ServiceNow state as a policy may write it (any case; `Cancelled` too).
pub fn canonical_state(name: &str) -> Option<&'static str> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("cancelled") {
        return Some("Canceled");
    }
    SERVICENOW_STATES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, _)| *n)
}

fn validate_states(states: &[String]) -> Result<(), (String, String)> {
    if states.is_empty() {
        return Err((
            "states".into(),
            "is empty: no state would allow a sync; write e.g. [Implement]".into(),
        ));
    }
    for (i, s) in states.iter().enumerate() {
        let key = format!("states[{i}]");
        let Some(name) = canonical_state(s) else {
            let names: Vec<&str> = SERVICENOW_STATES.iter().map(|(n, _)| *n).collect();
            return Err((
                key,
                format!(
                    "{s:?} is not a ServiceNow change state ({})",
                    names.join(", ")
                ),
            ));
        };
        if !SYNC_STATES.contains(&name) {
            let why = match name {
                "New" | "Assess" | "Authorize" => "the change is not authorized yet",
                "Review" => "its implementation is over and under review",
                _ => "the change is finished (closed or canceled), not authorized, whatever its approval says",
            };
            return Err((
                key,
                format!("{name} cannot allow a sync: {why} (allowed: Scheduled, Implement)"),
            ));
        }
    }
    Ok(())
}

fn validate_jira(spec: &TicketSpec) -> Result<(), (String, String)> {
    for (i, c) in spec.status_categories.iter().enumerate() {
        let key = format!("statusCategories[{i}]");
        if c == "done" {
            return Err((key, "done cannot allow a sync: a status in the done category means the request is finished (completed, declined or canceled), not authorized (allowed: new, indeterminate)".into()));
        }
        if !STATUS_CATEGORIES.contains(&c.as_str()) {
            return Err((
                key,
                format!("{c:?} is not a Jira status category key (new, indeterminate)"),
            ));
        }
    }
    if let Some(statuses) = &spec.statuses {
        if statuses.is_empty() && spec.status_categories.is_empty() {
            return Err((
                "statuses".into(),
                "is empty and so is statusCategories: no status would allow a sync".into(),
            ));
        }
        if let Some(i) = statuses.iter().position(|s| s.trim().is_empty()) {
            return Err((format!("statuses[{i}]"), "is empty".into()));
        }
    }
    for (key, field) in [
        ("plannedStartField", &spec.planned_start_field),
        ("plannedEndField", &spec.planned_end_field),
    ] {
        if !field.is_empty()
            && !field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err((
                key.into(),
                format!("{field:?} is not a Jira field id (e.g. customfield_10041)"),
            ));
        }
    }
    if spec.planned_start_field.is_empty() != spec.planned_end_field.is_empty() {
        return Err((
            "plannedEndField".into(),
            "plannedStartField and plannedEndField go together".into(),
        ));
    }
    Ok(())
}

/// Checks that `template` only names groups `pattern` has.
fn check_template(template: &str, pattern: &str) -> Result<(), String> {
    let re = Regex::new(pattern)
        .map_err(|e| format!("change.idPattern is not a valid regular expression: {e}"))?;
    for name in template_groups(template) {
        let known = match name.parse::<usize>() {
            Ok(n) => n < re.captures_len(),
            Err(_) => re.capture_names().flatten().any(|g| g == name),
        };
        if !known {
            return Err(format!(
                "{template:?} names group {name:?}, which change.idPattern {pattern:?} does not have (write e.g. idPattern: '^CHG-([0-9]+)$' and number: 'CHG$1')"
            ));
        }
    }
    if template.contains(['^', '=', '&', ' ']) {
        return Err(format!(
            "{template:?}: a ticket number has no '^', '=', '&' or spaces"
        ));
    }
    Ok(())
}

/// The group references of a template (`$1`, `${name}`, `$name`), as the regex crate reads them.
fn template_groups(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            rest = r;
            continue;
        }
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => break,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if !name.is_empty() {
            out.push(name.to_owned());
        }
        rest = after;
    }
    out
}

/// The ticket number of `change_id`: `template` expanded with the groups of `pattern` matched against
/// it, or the id itself without a template.
///
/// # Errors
///
/// The id does not match the pattern (it cannot name a ticket).
pub fn number_of(template: &str, pattern: &str, change_id: &str) -> Result<String, String> {
    if template.is_empty() {
        return Ok(change_id.to_owned());
    }
    let re = Regex::new(pattern).map_err(|e| format!("change.idPattern: {e}"))?;
    let caps = re.captures(change_id).ok_or_else(|| {
        format!("{change_id:?} does not match change.idPattern {pattern:?}, so it names no ticket")
    })?;
    let mut out = String::new();
    caps.expand(template, &mut out);
    Ok(out)
}

/// Reads the `ticket` section from JSON (what the guard forwards, or a record keeps); `pattern` is
/// `change.idPattern`.
///
/// # Errors
///
/// The section does not fit the schema or fails validation; the message names the key under `ticket`.
pub fn from_value(value: &Value, pattern: &str) -> Result<TicketSpec, String> {
    let spec: TicketSpec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("ticket: {}", e.inner())
        } else {
            format!("ticket.{path}: {}", e.inner())
        }
    })?;
    spec.validate(pattern)
        .map_err(|(key, message)| format!("ticket.{key}: {message}"))?;
    Ok(spec)
}

/// Reads the `emergency` section from JSON.
///
/// # Errors
///
/// As [`from_value`], under `emergency`.
pub fn emergency_from_value(value: &Value) -> Result<EmergencySpec, String> {
    let spec: EmergencySpec = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("emergency: {}", e.inner())
        } else {
            format!("emergency.{path}: {}", e.inner())
        }
    })?;
    spec.review_seconds()
        .map_err(|(key, message)| format!("emergency.{key}: {message}"))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATTERN: &str = "^CHG-([0-9]+)$";

    #[test]
    fn defaults_require_an_approved_ticket_in_implement_inside_its_window() {
        let spec = from_value(&json!({"system": "servicenow"}), PATTERN).unwrap();
        assert_eq!(spec, TicketSpec::of(System::ServiceNow));
        assert!(spec.required && spec.within_planned_window && !spec.write_back);
        assert_eq!(spec.sync_states(), vec!["Implement"]);
        assert_eq!(spec.on_conflict(), Conflicts::Refuse);
        let jira = from_value(&json!({"system": "jira"}), PATTERN).unwrap();
        assert_eq!(jira.jira_statuses(), vec!["Implementing"]);
        assert_eq!(
            jira.to_effective_json()["statuses"],
            json!(["Implementing"])
        );
        assert_eq!(spec.to_effective_json()["conflicts"], json!("refuse"));
    }

    #[test]
    fn states_that_cannot_allow_a_sync_are_refused_with_the_reason() {
        let e = from_value(
            &json!({"system": "servicenow", "states": ["Implement", "Canceled"]}),
            PATTERN,
        )
        .unwrap_err();
        assert!(
            e.starts_with("ticket.states[1]: Canceled cannot allow a sync: the change is finished"),
            "{e}"
        );
        let e = from_value(
            &json!({"system": "servicenow", "states": ["assess"]}),
            PATTERN,
        )
        .unwrap_err();
        assert!(
            e.contains("Assess cannot allow a sync: the change is not authorized yet"),
            "{e}"
        );
        let e = from_value(
            &json!({"system": "servicenow", "states": ["Doing"]}),
            PATTERN,
        )
        .unwrap_err();
        assert!(e.contains("not a ServiceNow change state"), "{e}");
        let ok = from_value(
            &json!({"system": "servicenow", "states": ["scheduled", "IMPLEMENT"]}),
            PATTERN,
        )
        .unwrap();
        assert_eq!(ok.sync_states(), vec!["Scheduled", "Implement"]);
    }

    #[test]
    fn keys_of_the_other_system_and_the_done_category_are_refused() {
        let e =
            from_value(&json!({"system": "jira", "states": ["Implement"]}), PATTERN).unwrap_err();
        assert_eq!(
            e,
            "ticket.states: is a servicenow key; this ticket's system is jira"
        );
        let e = from_value(
            &json!({"system": "servicenow", "emergencyRequestTypes": ["Emergency"]}),
            PATTERN,
        )
        .unwrap_err();
        assert!(
            e.starts_with("ticket.emergencyRequestTypes: is a jira key"),
            "{e}"
        );
        let e = from_value(
            &json!({"system": "jira", "statusCategories": ["done"]}),
            PATTERN,
        )
        .unwrap_err();
        assert!(
            e.contains("finished (completed, declined or canceled), not authorized"),
            "{e}"
        );
        let e = from_value(
            &json!({"system": "jira", "plannedStartField": "customfield_1"}),
            PATTERN,
        )
        .unwrap_err();
        assert!(e.contains("go together"), "{e}");
        let e = from_value(&json!({"system": "ServiceNow"}), PATTERN).unwrap_err();
        assert!(e.starts_with("ticket.system: unknown variant"), "{e}");
        let e = from_value(&json!({"system": "jira", "aproval": "approved"}), PATTERN).unwrap_err();
        assert!(e.starts_with("ticket.aproval: unknown field"), "{e}");
        let e = from_value(&json!({"system": "jira", "approval": "any"}), PATTERN).unwrap_err();
        assert!(e.starts_with("ticket.approval: unknown variant"), "{e}");
    }

    #[test]
    fn the_number_template_takes_the_groups_of_the_id_pattern() {
        assert_eq!(number_of("", PATTERN, "CHG-42").unwrap(), "CHG-42");
        assert_eq!(number_of("CHG$1", PATTERN, "CHG-42").unwrap(), "CHG42");
        assert_eq!(
            number_of("OPS-${n}", "^CHG-(?P<n>[0-9]+)$", "CHG-7").unwrap(),
            "OPS-7"
        );
        assert!(number_of("CHG$1", PATTERN, "chg-1").is_err());
        let e =
            from_value(&json!({"system": "servicenow", "number": "CHG$2"}), PATTERN).unwrap_err();
        assert!(
            e.starts_with("ticket.number: \"CHG$2\" names group \"2\""),
            "{e}"
        );
        let e = from_value(
            &json!({"system": "servicenow", "number": "X^state=-1"}),
            "^X$",
        )
        .unwrap_err();
        assert!(e.contains("no '^'"), "{e}");
        assert_eq!(template_groups("a$$b${x}$1c"), vec!["x", "1c"]);
    }

    #[test]
    fn review_within_is_a_positive_go_duration() {
        assert_eq!(
            EmergencySpec::default().review_seconds().unwrap(),
            48 * 3600
        );
        assert!(emergency_from_value(&json!({"reviewWithin": "2h30m"})).is_ok());
        let e = emergency_from_value(&json!({"reviewWithin": "0s"})).unwrap_err();
        assert!(e.starts_with("emergency.reviewWithin:"), "{e}");
        let e = emergency_from_value(&json!({"reviewWithin": "2 days"})).unwrap_err();
        assert!(e.starts_with("emergency.reviewWithin:"), "{e}");
    }
}
