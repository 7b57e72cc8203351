//! `sluice audit exceptions --data-dir DIR [--since T] [--format table|json]`: the syncs that skipped
//! the gate (selective syncs, rollbacks, sources that bypass the plugin, no guard decision), oldest
//! first: the list an auditor looks at first (docs/audit-log.md, "Gate findings").

use crate::audit::{self, gate, query};
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(in crate::cli) struct ExceptionsArgs {
    /// The sink's data directory (holding audit.jsonl).
    #[arg(long)]
    data_dir: PathBuf,
    /// Only records received at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// How to print the records.
    #[arg(long, value_enum, default_value_t = ExceptionsFormat::Table)]
    format: ExceptionsFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExceptionsFormat {
    Table,
    Json,
}

/// Prints the sync records with gate exceptions.
///
/// # Errors
///
/// `--since` is not RFC 3339 (usage), the log cannot be read or its chain is broken.
pub(super) fn run(args: &ExceptionsArgs) -> Result<Exit> {
    let since = args
        .since
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s).map_err(|e| {
                Error::Usage(format!(
                    "--since {s:?}: {e}; give an RFC 3339 time such as 2026-01-31T00:00:00Z"
                ))
            })
        })
        .transpose()?;
    let filter = query::Filter {
        since,
        ..query::Filter::default()
    };
    let records: Vec<_> = audit::read_verified(&args.data_dir)?
        .into_iter()
        .filter(|r| filter.matches(r) && !gate::exceptions(r).is_empty())
        .collect();
    let out = match args.format {
        ExceptionsFormat::Table => gate::to_table(&records),
        ExceptionsFormat::Json => {
            let mut s = serde_json::to_string_pretty(&records)
                .map_err(|e| Error::Usage(format!("cannot print records: {e}")))?;
            s.push('\n');
            s
        }
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
