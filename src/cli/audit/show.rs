//! `sluice audit show CHANGE-ID [-o table|json|yaml|csv] [--proofs [--public-key K]]`: the change record
//! (every sync of it, approvals, windows, backups, and the rollback commands), from `--data-dir` or
//! `--server`; with `--proofs`, each record's inclusion proof in the newest checkpoint (proofs.rs).

use super::source::{no_such_change, SourceArgs};
use super::{listing, report};
use super::{structured, ShowOutput, Structured};
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use clap::Args;
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub(in crate::cli) struct ShowArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format: table is the report; json, yaml and csv give the change's records.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = ShowOutput::Table)]
    output: ShowOutput,
    /// Also give each record's inclusion proof (C2SP tlog-proof) in the newest checkpoint of the log's
    /// Merkle tree.
    #[arg(long)]
    proofs: bool,
    /// The log's public key: the checkpoint's signature must verify (with --proofs).
    #[arg(long, requires = "proofs")]
    public_key: Option<std::path::PathBuf>,
    /// The change id, e.g. CHG-1234.
    change_id: String,
}

/// Prints the change report, or the change's records.
///
/// # Errors
///
/// The log cannot be read or is broken, or no record mentions the change.
pub(super) fn run(args: &ShowArgs) -> Result<Exit> {
    // Only the change's records are kept, however long the log (docs/audit-log.md, "Commands and memory").
    let selected = args.source.change_records(&args.change_id)?;
    if selected.is_empty() {
        return Err(no_such_change(&args.change_id, &args.source));
    }
    if args.proofs {
        return with_proofs(args, &selected);
    }
    let out = match args.output {
        ShowOutput::Table => {
            let mut text = report::change_report(&args.change_id, &selected)
                .ok_or_else(|| no_such_change(&args.change_id, &args.source))?;
            let records: Vec<&crate::record::Record> = selected.iter().collect();
            super::tickets::review(&mut text, &args.change_id, &records, super::since::now()?);
            text
        }
        ShowOutput::Csv => listing::to_csv(&selected),
        ShowOutput::Json => structured(&selected, Structured::Json)?,
        ShowOutput::Yaml => structured(&selected, Structured::Yaml)?,
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}

/// The report (or the records) with each record's proof.
fn with_proofs(args: &ShowArgs, selected: &[crate::record::Record]) -> Result<Exit> {
    let keys = args
        .public_key
        .iter()
        .map(|p| super::verify::read_public_key(p))
        .collect::<Result<Vec<_>>>()?;
    let (checkpoint, proofs) = super::proofs::of_records(&args.source, selected, &keys)?;
    let out = match args.output {
        ShowOutput::Csv => {
            return Err(Error::Usage(
                "audit show --proofs -o csv: give table, json or yaml".into(),
            ))
        }
        ShowOutput::Table => {
            let mut out = report::change_report(&args.change_id, selected)
                .ok_or_else(|| no_such_change(&args.change_id, &args.source))?;
            let size = checkpoint.lines().nth(1).unwrap_or("?");
            let _ = write!(
                out,
                "\nInclusion proofs (C2SP tlog-proof) in the checkpoint of {size} records; check one with \
                 `sluice audit check-proof FILE --record LINE-FILE`:\n"
            );
            for (seq, text) in &proofs {
                let _ = write!(out, "\n# seq {seq}\n{text}");
            }
            let unproven = selected.len() - proofs.len();
            if unproven > 0 {
                let _ = writeln!(
                    out,
                    "\n{unproven} newer records are not in a signed checkpoint yet"
                );
            }
            out
        }
        ShowOutput::Json | ShowOutput::Yaml => {
            let items: Vec<serde_json::Value> = proofs
                .iter()
                .map(|(seq, text)| serde_json::json!({"seq": seq, "tlogProof": text}))
                .collect();
            structured(
                &serde_json::json!({"records": selected, "proofs": items}),
                if args.output == ShowOutput::Yaml {
                    Structured::Yaml
                } else {
                    Structured::Json
                },
            )?
        }
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
