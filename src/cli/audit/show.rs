//! `sluice audit show --data-dir DIR CHANGE-ID`: the change record (every sync of it, approvals,
//! windows, backups, and the rollback commands).

use super::stream;
use crate::cli::error::{Exit, Result};
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
    stream::show(&args.data_dir, &args.change_id)?;
    Ok(Exit::Success)
}
