//! Commit messages and what the change process reads from them (docs/audit-log.md, "Attribution",
//! "Commands"): one parser of subjects and trailers, one approver rule, the attribution of an Argo CD
//! operation to a change, and the rules of `lint-commit`. Used by the record layer (what a sync record
//! says) and by `lint-commit`, which has no log at all. Pure: text and JSON in, values out.
//!
//! ```text
//! message      CommitMessage: subject, body, trailers, change ids, approvers
//! attribution  the change id and emergency id of an operation (Application, operation, commit)
//! lint         LintRules → every broken rule of a message
//! ```

pub mod attribution;
pub mod lint;
pub mod message;

pub use lint::{lint, LintError, LintRules};
pub use message::{
    approvers, CommitMessage, DEFAULT_CHANGE_PATTERN, MAINTENANCE_WINDOW, RISK, ROLLBACK, TESTED,
};
