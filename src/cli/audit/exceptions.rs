//! `sluice audit exceptions [--since T] [--limit N] [-o table|wide|json|yaml|csv]`, from `--data-dir` or `--server`:
//! the syncs that skipped the gate (selective syncs, rollbacks, sources that bypass the plugin, no guard
//! decision), those the Git host's approvals do not back (`unapproved`, `approval-unverified`), those
//! their change ticket does not back (`ticket-not-authorized`, `ticket-outside-window`,
//! `ticket-unverified`, `ticket-conflict`), the emergencies awaiting their post-implementation review
//! (`emergency-review-pending`, `emergency-review-overdue`, on the emergency's first record), and the
//! webhook records the Application watch never confirmed (`unconfirmed`, src/record/confirm.rs),
//! oldest first: the list an auditor looks at first (docs/audit-log.md, "Gate findings";
//! docs/approvals.md; docs/tickets.md).

use super::listing;
use super::source::{Query, SourceArgs};
use super::{since, structured, Listing, Structured};
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use crate::record::review::emergencies;
use crate::record::{confirm, findings, Filter};
use clap::Args;
use std::collections::HashMap;

#[derive(Debug, Args)]
pub(in crate::cli) struct ExceptionsArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Only records received at or after this time: a span back from now (24h, 90m, 7d), a day
    /// (2026-11-01, midnight UTC) or an RFC 3339 instant.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// At most the newest N exceptions (still printed oldest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Output format.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Listing::Table)]
    output: Listing,
}

/// Prints the records with gate exceptions or approval findings.
///
/// # Errors
///
/// A bad `--since` (usage), the log cannot be read or its chain is broken, the sink cannot be queried.
pub(super) fn run(args: &ExceptionsArgs) -> Result<Exit> {
    let now = since::now()?;
    let since = args
        .since
        .as_deref()
        .map(|s| since::parse(s, now))
        .transpose()?;
    // Every record: whether a record was confirmed depends on what the watch saw after it, an
    // emergency's review may come long after it, and an emergency before `--since` still counts for
    // the records after it.
    let all = args.source.list(&Query {
        filter: Filter::default(),
        limit: None,
    })?;
    let unconfirmed = confirm::unconfirmed(&all);
    let reviews: HashMap<u64, String> = emergencies(&all)
        .into_iter()
        .filter_map(|e| {
            let finding = e.finding(now)?;
            let due = e.due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            Some((*e.seqs.first()?, format!("{finding} (due {due})")))
        })
        .collect();
    let filter = Filter {
        since,
        ..Filter::default()
    };
    let mut records: Vec<_> = all
        .into_iter()
        .filter(|r| filter.matches(r))
        .filter(|r| {
            !findings::findings(r).is_empty()
                || reviews.contains_key(&r.seq)
                || unconfirmed.contains(&r.seq)
        })
        .collect();
    if let Some(limit) = args.limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        records.drain(..records.len().saturating_sub(limit));
    }
    let found = listing::Findings {
        reviews: &reviews,
        unconfirmed: &unconfirmed,
    };
    let out = match args.output {
        Listing::Table => listing::exceptions_table(&records, &found, false),
        Listing::Wide => listing::exceptions_table(&records, &found, true),
        Listing::Csv => listing::exceptions_csv(&records, &found),
        Listing::Json => structured(&records, Structured::Json)?,
        Listing::Yaml => structured(&records, Structured::Yaml)?,
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
