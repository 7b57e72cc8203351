//! `sluice lint-commit FILE [--pattern RE] [--require T,...] [--min-approvers N] [--author WHO]`: a
//! `commit-msg` hook and CI check (docs/audit-log.md, "Commands"). Exit 0, or 1 with every problem, or 2
//! when the message file cannot be read or an option is invalid.

use super::error::{Error, Exit, Result};
use crate::commit::{self, CommitMessage, LintError, LintRules};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct LintCommitArgs {
    /// The commit message file (as git passes it to a commit-msg hook).
    file: PathBuf,
    /// Pattern the change id at the start of the subject must match.
    #[arg(long, default_value = "^CHG-[0-9]+$")]
    pattern: String,
    /// Trailers that must be present, comma-separated (e.g. Approved-by,Rollback).
    #[arg(long, value_delimiter = ',')]
    require: Vec<String>,
    /// Distinct approvers the Approved-by trailers must name (comma-separated values count one each;
    /// the author never counts).
    #[arg(long, default_value_t = 0)]
    min_approvers: usize,
    /// The commit's author, "Name <email>", who cannot approve their own change (in CI:
    /// --author "$(git log -1 --format='%an <%ae>')").
    #[arg(long)]
    author: Option<String>,
}

/// Checks the message file.
///
/// # Errors
///
/// The message file cannot be read, the pattern is invalid (usage), or the message breaks a rule.
pub(super) fn run(args: &LintCommitArgs) -> Result<Exit> {
    let pattern = regex::Regex::new(&args.pattern)
        .map_err(|e| Error::Usage(format!("--pattern {:?}: {e}", args.pattern)))?;
    let text = std::fs::read(&args.file).map_err(|e| {
        Error::Usage(format!(
            "{}: cannot read the commit message ({e}); give the message file: the commit-msg hook's \
             first argument (sluice lint-commit \"$1\"), or in CI a file of `git log -1 --format=%B`",
            args.file.display()
        ))
    })?;
    let message = CommitMessage::parse(&String::from_utf8_lossy(&text));
    let rules = LintRules {
        pattern,
        require: args.require.clone(),
        min_approvers: args.min_approvers,
        author: args.author.clone().filter(|a| !a.trim().is_empty()),
    };
    let report = commit::lint(&message, &rules);
    if !report.failures.is_empty() {
        return Err(LintError {
            path: args.file.clone(),
            failures: report.failures,
        }
        .into());
    }
    Ok(Exit::Success)
}
