//! A change ticket's own state, judged (docs/tickets.md). Takes what a ticket system said about one
//! change request, in system-neutral terms (a [`Ticket`]: state, approval and approvers, planned
//! window, type), the policy's `ticket` rules and the time of judging; gives a [`Judgment`]:
//! authorized, not authorized, outside its planned window, or no ticket at all, with the reason naming
//! the ticket and the rule, and whether it is an approved emergency change.
//!
//! ```text
//! policy::TicketSpec (the change's own, or the one in force) ─┐
//! itsm (ServiceNow | Jira: fetch, trim, interpret) → Ticket ──┼→ judge(rules, ticket, now) → Judgment
//! the time the system was asked ─────────────────────────────┘
//! ```
//!
//! Everything here is pure: no clock, no I/O. The time is an argument, so a snapshot of the system's
//! answers re-judges to the same verdict years later (src/itsm replays it through the same code).
//!
//! ```text
//! facts   Ticket, Approval: what the system said
//! judge   judge(rules, ticket, now) → Judgment
//! ```

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

pub mod facts;
pub mod judge;

pub use facts::{Approval, Ticket};
pub use judge::{judge, Judgment, Verdict};
