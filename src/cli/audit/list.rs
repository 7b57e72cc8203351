//! `sluice audit list --data-dir DIR [--app A] [--change ID] [--since T] [--format table|json|csv]`.

use super::stream;
use crate::audit::query;
use crate::cli::error::{Error, Exit, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(in crate::cli) struct ListArgs {
    /// The sink's data directory (holding audit.jsonl).
    #[arg(long)]
    data_dir: PathBuf,
    /// Only records of this Argo CD application.
    #[arg(long)]
    app: Option<String>,
    /// Only records of this change id.
    #[arg(long)]
    change: Option<String>,
    /// Only records received at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// How to print the records.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
    Csv,
}

/// Prints the records that pass the filter, oldest first.
///
/// # Errors
///
/// `--since` is not RFC 3339 (usage), the log cannot be read or its chain is broken.
pub(super) fn run(args: ListArgs) -> Result<Exit> {
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
        app: args.app,
        change: args.change,
        since,
    };
    let format = match args.format {
        ListFormat::Table => stream::Format::Table,
        ListFormat::Json => stream::Format::Json,
        ListFormat::Csv => stream::Format::Csv,
    };
    stream::list(&args.data_dir, &filter, format)?;
    Ok(Exit::Success)
}
