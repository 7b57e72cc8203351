//! The ticket systems (docs/tickets.md): ServiceNow's Change Management and Table APIs, Jira Cloud's
//! platform API with Jira Service Management's request API. Which requests tell the state of a change
//! request and how their answers read as a [`Ticket`] (`servicenow`, `jira`); a REST client with
//! timeouts, retries, `Retry-After` and a short cache, holding the credentials (`client`); the work
//! note written back when a sync finishes; and the snapshot of what the system said (`snapshot`).
//!
//! ```text
//! Target (system, number) → gather: requests through a Source → each answer trimmed to what the
//!   judgment reads → Ticket (+ the trimmed answers: a Snapshot, stored by its digest)
//! Source = the live client (client::HttpSource) | a stored snapshot (remote::Replay): the same gather
//!   runs over both, so a snapshot re-judges to the verdict it was taken for
//! ```
//!
//! No credential is ever logged, printed or written: passwords, client secrets and API tokens are read
//! from files into [`crate::remote::secret::Secret`] when a request needs them, and go into headers
//! only. The sink asks with read-only roles (ServiceNow `sn_change_read`, a Jira user who can browse
//! the project); only the work note (`ticket.writeBack`) needs more, and it never changes a state.

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

pub mod client;
pub mod jira;
pub mod servicenow;
pub mod snapshot;

use crate::policy::ticket::{System, TicketSpec};
use crate::remote::{Exchange, Gather, RemoteError, Source};
use crate::ticket::Ticket;

/// What to ask a ticket system about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub system: System,
    /// The change request's number (`CHG0030001`) or the issue key (`OPS-12`).
    pub number: String,
    /// Jira: the fields holding the planned start and end (empty: not read).
    pub planned_start_field: String,
    pub planned_end_field: String,
}

impl Target {
    /// The target of `number` under `rules`.
    pub fn of(rules: &TicketSpec, number: &str) -> Target {
        Target {
            system: rules.system,
            number: number.to_owned(),
            planned_start_field: rules.planned_start_field.clone(),
            planned_end_field: rules.planned_end_field.clone(),
        }
    }
}

/// Asks the system about `target` through `source`: the ticket (`None`: the system has no such change
/// request) and the trimmed exchanges (also when it failed part way: they are evidence of what was
/// seen).
pub async fn gather<S: Source>(
    source: &S,
    target: &Target,
) -> (Result<Option<Ticket>, RemoteError>, Vec<Exchange>) {
    let mut g = Gather::new(source);
    let ticket = match target.system {
        System::ServiceNow => servicenow::gather(&mut g, &target.number).await,
        System::Jira => jira::gather(&mut g, target).await,
    };
    (ticket, g.exchanges)
}

/// `%XX`-encodes everything but unreserved characters (RFC 3986), for a query value.
pub fn encode(value: &str) -> String {
    use std::fmt::Write as _;
    value.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("number=CHG0030001"), "number%3DCHG0030001");
        assert_eq!(encode("a b^c&d"), "a%20b%5Ec%26d");
    }
}
