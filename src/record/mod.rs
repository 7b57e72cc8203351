//! What a record says (docs/audit-log.md, "Records", "Gate findings"): the typed model of a line of the
//! audit log, how an Argo CD Notifications event or a guard decision becomes one, its idempotency key,
//! its gate findings, and how the ledger files and reads records. Pure but for [`read`], which types
//! what the ledger reads.
//!
//! ```text
//! event   event names, via, EventError, idempotency keys
//! model   Record, Body (SyncEvent | GuardDecision | Confirmation), Misfit: the line's members as serde types
//! gate    gate findings: assess the Application, Knowledge of earlier records, exceptions
//! confirm the watch's confirmation of a webhook record; which webhook records are unconfirmed
//! build   request body → Body (uses commit's attribution and gate)
//! filter  Filter over typed records (app, change, since)
//! read    the ledger's Schema and Entry for records; verified lines → Record, or a located Misfit
//! ```
//!
//! New evidence members (approvals, tickets, verification) are new nested structs in `model` with
//! their builders beside `build`; every struct keeps members it does not know (`extra`), so records
//! written by a newer version still read and print as they are.

mod build;
pub mod confirm;
pub mod event;
mod filter;
pub mod gate;
mod model;
pub mod read;

pub use build::{event_record, event_record_via, guard_record};
pub use event::{EventError, Via, EVENTS, GUARD_DECISION, SYNC_FAILED, SYNC_SUCCEEDED};
pub use filter::Filter;
#[cfg(test)]
pub use model::{Added, Commit};
pub use model::{Body, Confirmation, Gate, GuardDecision, Record, SyncEvent};
pub use read::{read_again, read_each, read_found, ReadError, SCHEMA};

#[cfg(test)]
mod golden_tests;
