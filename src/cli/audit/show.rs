//! `sluice audit show CHANGE-ID [-o table|json|yaml|csv]`: the change record (every sync of it, approvals,
//! windows, backups, and the rollback commands), from `--data-dir` or `--server`.

use super::source::{no_such_change, SourceArgs};
use super::{listing, report};
use super::{structured, ShowOutput, Structured};
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use clap::Args;

#[derive(Debug, Args)]
pub(in crate::cli) struct ShowArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format: table is the report; json, yaml and csv give the change's records.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = ShowOutput::Table)]
    output: ShowOutput,
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
    let out = match args.output {
        ShowOutput::Table => report::change_report(&args.change_id, &selected)
            .ok_or_else(|| no_such_change(&args.change_id, &args.source))?,
        ShowOutput::Csv => listing::to_csv(&selected),
        ShowOutput::Json => structured(&selected, Structured::Json)?,
        ShowOutput::Yaml => structured(&selected, Structured::Yaml)?,
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
