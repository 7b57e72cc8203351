//! `sluice audit list [--app A] [--change ID] [--since T] [--limit N] [-o table|wide|json|yaml|csv]`, from
//! `--data-dir` or `--server`.

use super::listing;
use super::source::{Query, SourceArgs};
use super::{since, structured, Listing, Structured};
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use crate::record::Filter;
use clap::Args;

#[derive(Debug, Args)]
pub(in crate::cli) struct ListArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Only records of this Argo CD application.
    #[arg(long)]
    app: Option<String>,
    /// Only records of this change id ("" for records without one).
    #[arg(long)]
    change: Option<String>,
    /// Only records received at or after this time: a span back from now (24h, 90m, 7d), a day
    /// (2026-11-01, midnight UTC) or an RFC 3339 instant.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// At most the newest N matching records (still printed oldest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Output format.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Listing::Table)]
    output: Listing,
}

/// Prints the records that pass the filter, oldest first.
///
/// # Errors
///
/// A bad `--since` (usage), the log cannot be read or its chain is broken, the sink cannot be queried.
pub(super) fn run(args: ListArgs) -> Result<Exit> {
    let since = args
        .since
        .as_deref()
        .map(|s| since::parse(s, since::now()?))
        .transpose()?;
    let q = Query {
        filter: Filter {
            app: args.app,
            change: args.change,
            since,
        },
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let records = args.source.list(&q)?;
    let out = match args.output {
        Listing::Table => listing::to_table(&records),
        Listing::Wide => listing::to_wide_table(&records),
        Listing::Csv => listing::to_csv(&records),
        Listing::Json => structured(&records, Structured::Json)?,
        Listing::Yaml => structured(&records, Structured::Yaml)?,
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
