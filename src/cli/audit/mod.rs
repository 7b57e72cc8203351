//! `sluice audit verify|list|show|exceptions|rejudge|review|keygen|archive|export`: the audit log for auditors and
//! operators (docs/audit-log.md); verify, list, show and exceptions read a data directory or a running
//! sink (`--server`).

mod approvals;
mod archive;
mod exceptions;
mod export;
pub(super) mod keygen;
mod list;
mod listing;
mod proofs;
mod prove;
mod rejudge;
mod report;
mod review;
mod show;
mod since;
mod source;
mod table;
mod tickets;
mod verification;
mod verify;

use super::error::{Error, Exit, Result};

use clap::{Subcommand, ValueEnum};
use serde::Serialize;
pub(super) use verify::read_public_key;

#[derive(Debug, Subcommand)]
pub(super) enum AuditCommand {
    /// Verify the hash chain (and, with --public-key, the signed checkpoints); exit 0 with the record
    /// count, or 1 naming the first thing that does not hold.
    Verify(verify::VerifyArgs),
    /// List records, oldest first.
    List(list::ListArgs),
    /// Show the whole story of one change: syncs, approvals, windows, backups, rollback commands.
    Show(show::ShowArgs),
    /// List the syncs that skipped the gate (guard, backup, migrations), that the Git host's approvals
    /// or the change ticket do not back, and the emergencies awaiting their review, and why.
    Exceptions(exceptions::ExceptionsArgs),
    /// Judge a record's approvals and ticket again from their stored snapshots alone, and compare with
    /// the verdicts it records.
    Rejudge(rejudge::RejudgeArgs),
    /// Record the post-implementation review of an emergency change.
    Review(review::ReviewArgs),
    /// Make an Ed25519 key pair for signed checkpoints (Go note key format).
    Keygen(keygen::KeygenArgs),
    /// Copy sealed segments and checkpoints the archive lacks, once.
    Archive(archive::ArchiveArgs),
    /// Write an auditor's evidence bundle for a period: changes.csv, evidence pages, records, proofs,
    /// checkpoint, VERIFY.md.
    Export(export::ExportArgs),
    /// Prove records are in a checkpoint's Merkle tree (C2SP tlog-proof), or that a tree extends an
    /// older one (a consistency proof).
    Prove(prove::ProveArgs),
    /// Check a record against a tlog-proof, without the log.
    CheckProof(prove::CheckProofArgs),
}

/// `-o/--output` of the commands that list records (`list`, `exceptions`), as kubectl and argocd spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Listing {
    /// Aligned columns for people.
    Table,
    /// More columns: destination, full revision, and more.
    Wide,
    /// The records exactly as the log holds them, as a JSON array.
    Json,
    /// The same as block YAML (strings quoted where a YAML 1.1 or 1.2 reader would take them for something else).
    Yaml,
    /// RFC 4180 CSV, one row per record.
    Csv,
}

/// `-o/--output` of `audit show`: the change report, or the change's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ShowOutput {
    /// The change report for people.
    Table,
    /// The change's records exactly as the log holds them, as a JSON array.
    Json,
    /// The same as block YAML.
    Yaml,
    /// The change's records as RFC 4180 CSV.
    Csv,
}

/// `-o/--output` of `audit verify`: one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Summary {
    /// One line for people.
    Table,
    /// A JSON object.
    Json,
    /// The same as block YAML.
    Yaml,
}

/// The structured forms every audit command gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Structured {
    Json,
    Yaml,
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
        AuditCommand::Exceptions(args) => exceptions::run(&args),
        AuditCommand::Rejudge(args) => rejudge::run(&args),
        AuditCommand::Review(args) => review::run(&args),
        AuditCommand::Keygen(args) => keygen::run(&args),
        AuditCommand::Archive(args) => archive::run(&args),
        AuditCommand::Export(args) => export::run(&args),
        AuditCommand::Prove(args) => prove::prove(&args),
        AuditCommand::CheckProof(args) => prove::check(&args),
    }
}

/// `value` as pretty JSON or YAML, ending in a newline.
fn structured(value: &impl Serialize, output: Structured) -> Result<String> {
    let json = serde_json::to_value(value)
        .map_err(|e| Error::Usage(format!("cannot print the result: {e}")))?;
    Ok(if output == Structured::Yaml {
        crate::manifest::emit::to_yaml(&json)
    } else {
        let mut s = serde_json::to_string_pretty(&json)
            .map_err(|e| Error::Usage(format!("cannot print the result: {e}")))?;
        s.push('\n');
        s
    })
}
