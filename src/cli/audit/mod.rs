//! `sluice audit verify|list|show|keygen|archive|export`: the audit log for auditors and operators
//! (docs/audit-log.md).

mod archive;
mod export;
mod keygen;
mod list;
mod show;
mod verify;

use super::error::{Exit, Result};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Verify the hash chain (and, with --public-key, the signed checkpoints); exit 0 with the record
    /// count, or 1 naming the first thing that does not hold.
    Verify(verify::VerifyArgs),
    /// List records.
    List(list::ListArgs),
    /// Show the whole story of one change: syncs, approvals, windows, backups, rollback commands.
    Show(show::ShowArgs),
    /// Make an Ed25519 key pair for signed checkpoints (Go note key format).
    Keygen(keygen::KeygenArgs),
    /// Copy sealed segments and checkpoints the archive lacks, once.
    Archive(archive::ArchiveArgs),
    /// Write an auditor's evidence bundle for a period: changes.csv, evidence pages, records, checkpoint, VERIFY.md.
    Export(export::ExportArgs),
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
        AuditCommand::Keygen(args) => keygen::run(&args),
        AuditCommand::Archive(args) => archive::run(&args),
        AuditCommand::Export(args) => export::run(&args),
    }
}
