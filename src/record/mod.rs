//! What a record says (docs/audit-log.md, "Records", "Gate findings"): the typed model of a line of the
//! audit log, how an Argo CD Notifications event or a guard decision becomes one, its idempotency key,
//! its gate findings, and how the ledger files and reads records. Pure but for [`read`], which types
//! what the ledger reads.
//!
//! ```text
//! event   event names, via, EventError, idempotency keys
//! model   Record, Body (SyncEvent | GuardDecision | Confirmation | Review | Verify), Misfit: the line's members as serde types
//! gate    gate findings: assess the Application, Knowledge of earlier records, exceptions
//! confirm the watch's confirmation of a webhook record; which webhook records are unconfirmed
//! build   request body → Body (uses commit's attribution and gate)
//! decision guard decisions and reviews → Body
//! fields  reading a request's members defensively
//! facts   a line's members read as they are, without building the record (the fold's first start)
//! evidence approval, ticket and verification evidence members
//! verification the verify hook's report → a `verification` record
//! findings gate exceptions and evidence findings: what `audit exceptions` lists
//! review  emergency changes, their due dates and post-implementation reviews
//! filter  Filter over typed records (app, change, since)
//! read    the ledger's Schema and Entry for records; verified lines → Record, or a located Misfit
//! ```
//!
//! New evidence members (approvals, tickets, verification) are new nested structs in `model` with
//! their builders beside `build`; every struct keeps members it does not know (`extra`), so records
//! written by a newer version still read and print as they are.

mod build;
pub mod confirm;
mod decision;
pub mod event;
pub mod evidence;
pub mod facts;
mod fields;
mod filter;
pub mod findings;
pub mod gate;
mod model;
pub mod read;
pub mod review;
pub mod verification;

pub use build::{event_record, event_record_via};
pub use decision::{guard_record, review_record};
pub use event::{
    EventError, Via, EMERGENCY_REVIEW, EVENTS, GUARD_DECISION, SYNC_FAILED, SYNC_SUCCEEDED,
    VERIFICATION, WATCH_CONFIRMATION,
};
pub use filter::Filter;
pub use model::Added;
#[cfg(test)]
pub use model::Commit;
pub use model::{
    Body, Confirmation, Gate, GuardDecision, Record, Review, SyncEvent, VerificationRecord,
};
pub use read::{emergency_tag, read_again, read_each, read_found, revision_tag, ReadError, SCHEMA};

#[cfg(test)]
mod golden_tests;
