//! `sluice audit show --data-dir DIR CHANGE-ID`: the change record (every sync of it, approvals,
//! windows, backups, and the rollback commands).

use crate::audit::{self, log, query, AuditError};
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(in crate::cli) struct ShowArgs {
    /// The sink's data directory (holding audit.jsonl).
    #[arg(long)]
    data_dir: PathBuf,
    /// The change id, e.g. CHG-1234.
    change_id: String,
}

/// Prints the change report.
///
/// # Errors
///
/// The log cannot be read or is broken, or no record mentions the change.
pub(super) fn run(args: &ShowArgs) -> Result<Exit> {
    let records = audit::read_verified(&args.data_dir)?;
    let report = query::change_report(&args.change_id, &records).ok_or_else(|| {
        AuditError::NoSuchChange {
            change: args.change_id.clone(),
            path: args.data_dir.join(log::LOG_FILE),
        }
    })?;
    output::print(report.as_bytes())?;
    Ok(Exit::Success)
}
