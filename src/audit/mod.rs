//! The audit log (SPEC.md §5): record model, canonical bytes and SHA-256 chain, the append-only
//! `audit.jsonl` (open, recover, append with group commit, verify), queries, and commit-message
//! parsing shared by the sink and `lint-commit` (SPEC.md §6).

use crate::cli::{AuditListArgs, LintCommitArgs};
use crate::{Error, Exit, Result};
use std::path::Path;

/// What can go wrong with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Invalid(String),
}

/// `sluice audit verify`.
///
/// # Errors
///
/// The log cannot be read.
pub fn verify_command(_data_dir: &Path) -> Result<Exit> {
    Err(Error::Usage("audit verify is not built yet".into()))
}

/// `sluice audit list`.
///
/// # Errors
///
/// The log cannot be read.
pub fn list_command(_args: AuditListArgs) -> Result<Exit> {
    Err(Error::Usage("audit list is not built yet".into()))
}

/// `sluice audit show`.
///
/// # Errors
///
/// The log cannot be read.
pub fn show_command(_data_dir: &Path, _change_id: &str) -> Result<Exit> {
    Err(Error::Usage("audit show is not built yet".into()))
}

/// `sluice lint-commit`.
///
/// # Errors
///
/// The message file cannot be read or the pattern is invalid.
pub fn lint_commit_command(_args: LintCommitArgs) -> Result<Exit> {
    Err(Error::Usage("lint-commit is not built yet".into()))
}
