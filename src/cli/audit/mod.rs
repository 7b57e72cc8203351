//! `sluice audit verify|list|show`: the audit log for auditors and operators (docs/audit-log.md).

mod list;
mod show;
mod stream;
mod verify;

use super::error::{Exit, Result};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Verify the hash chain; exit 0 with the record count, or 1 naming the first broken line.
    Verify(verify::VerifyArgs),
    /// List records.
    List(list::ListArgs),
    /// Show the whole story of one change: syncs, approvals, windows, backups, rollback commands.
    Show(show::ShowArgs),
}

/// Runs one audit command.
///
/// # Errors
///
/// Whatever the command fails with.
pub(super) fn run(command: AuditCommand) -> Result<Exit> {
    match command {
        AuditCommand::Verify(args) => verify::run(&args),
        AuditCommand::List(args) => list::run(args),
        AuditCommand::Show(args) => show::run(&args),
    }
}
