//! The facts a ticket system gives about a change request, in terms that mean the same for ServiceNow
//! and Jira Service Management. The system modules (src/itsm) fill these from the API responses;
//! [`super::judge`] reads nothing else.

use crate::policy::ticket::System;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One change request, as the system showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub system: System,
    /// The number asked for (`CHG0030001`, `OPS-12`).
    pub number: String,
    /// The system's own id (ServiceNow's `sys_id`, Jira's issue id): where a work note goes.
    pub id: Option<String>,
    /// The state's name: ServiceNow's state label (`Implement`), Jira's status name.
    pub state: Option<String>,
    /// The state's value: ServiceNow's state number (`-1`), Jira's status category key (`indeterminate`).
    pub state_value: Option<String>,
    /// ServiceNow: the change's `approval` value (`approved`, `requested`, `rejected`, `not requested`);
    /// Jira: the approvals summed up (`approved`, `pending`, `declined`, `none`).
    pub approval: Option<String>,
    /// The planned window, UTC.
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    /// ServiceNow's type (`normal`, `standard`, `emergency`); Jira Service Management's request type.
    pub kind: Option<String>,
    /// ServiceNow's assignment group (its display name).
    pub assignment_group: Option<String>,
    /// ServiceNow's `conflict_status` (`Conflict`, `No Conflict`, `Not Run`).
    pub conflict: Option<String>,
    /// The approver records (ServiceNow) or approvals (Jira Service Management), in the system's order.
    pub approvals: Vec<Approval>,
}

/// One approver record (ServiceNow `sysapproval_approver`) or one approval of a Jira Service
/// Management request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The approver (ServiceNow) or the approval's name (Jira: its step, e.g. `Change manager approval`).
    pub name: String,
    /// `approved`, `rejected`/`declined`, `requested`/`pending`, `not_required`, `cancelled`…
    pub decision: String,
    /// Who decided (Jira: the approvers who answered); empty when nobody has.
    pub by: Vec<String>,
    /// When it was decided or last updated (RFC 3339), when the system says.
    pub at: Option<String>,
    /// The page of the answer it was on (1-based).
    pub page: u64,
}

impl Ticket {
    /// A change request of `system` numbered `number`, with nothing known yet.
    pub fn new(system: System, number: &str) -> Ticket {
        Ticket {
            system,
            number: number.to_owned(),
            id: None,
            state: None,
            state_value: None,
            approval: None,
            planned_start: None,
            planned_end: None,
            kind: None,
            assignment_group: None,
            conflict: None,
            approvals: Vec::new(),
        }
    }

    /// `ServiceNow CHG0030001` or `Jira OPS-12`.
    pub fn label(&self) -> String {
        format!("{} {}", system_name(self.system), self.number)
    }
}

/// The system's name as people write it.
pub fn system_name(system: System) -> &'static str {
    match system {
        System::ServiceNow => "ServiceNow",
        System::Jira => "Jira",
    }
}
