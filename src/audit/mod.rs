//! The audit log (SPEC.md §5): record model, canonical bytes and SHA-256 chain, the append-only
//! `audit.jsonl` (open, recover, append with group commit, verify), queries, and commit-message
//! parsing shared by the sink and `lint-commit` (SPEC.md §6).
//!
//! ```text
//! record (event body → Draft) → log (seq, prev → canonical bytes → hash → one write + fsync per batch)
//! log (scan + verify) → query (filter → table | csv | json | change report)
//! ```

pub mod canonical;
pub mod commit;
pub mod lint;
pub mod log;
pub mod query;
pub mod record;

use crate::cli::{AuditListArgs, LintCommitArgs, ListFormat};
use crate::{Error, Exit, Result};
use serde_json::{Map, Value};
use std::fs::File;
use std::path::{Path, PathBuf};

/// What can go wrong with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: line {line} (seq {seq}): {reason}{}", path.display(), torn_hint(reason))]
    Broken {
        path: PathBuf,
        line: u64,
        seq: u64,
        reason: log::BadReason,
    },
    #[error("record has no canonical form: {0}")]
    Canonical(canonical::CanonicalError),
    #[error("no record in {} mentions change {change:?}", path.display())]
    NoSuchChange { change: String, path: PathBuf },
    #[error("{}: {failure}", path.display())]
    Lint {
        path: PathBuf,
        failure: lint::LintFailure,
    },
}

fn torn_hint(reason: &log::BadReason) -> &'static str {
    match reason {
        log::BadReason::NoNewline => " (`sluice serve` moves a torn last line aside on start)",
        _ => "",
    }
}

/// Reads and verifies the whole log in `data_dir`; a torn last line is left out with a warning.
///
/// # Errors
///
/// The log cannot be read, or its chain is broken before the last line.
pub fn read_verified(data_dir: &Path) -> Result<Vec<Map<String, Value>>, AuditError> {
    let path = data_dir.join(log::LOG_FILE);
    let file = File::open(&path).map_err(|source| AuditError::Io {
        path: path.clone(),
        source,
    })?;
    let mut records = Vec::new();
    let scan =
        log::scan(file, |r, _| records.push(r.clone())).map_err(|source| AuditError::Io {
            path: path.clone(),
            source,
        })?;
    match scan.bad {
        None => {}
        Some(bad) if bad.torn => tracing::warn!(
            path = %path.display(),
            line = bad.line,
            "the last line is torn (an unfinished write); it is left out"
        ),
        Some(bad) => return Err(bad.into_error(path)),
    }
    Ok(records)
}

/// `sluice audit verify`: prints the record count and head hash, or fails naming the first bad line.
///
/// # Errors
///
/// The log cannot be read, or a line breaks the chain (a torn last line included: it is not verified).
pub fn verify_command(data_dir: &Path) -> Result<Exit> {
    let path = data_dir.join(log::LOG_FILE);
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let scan = log::scan(file, |_, _| {}).map_err(|e| Error::io(&path, e))?;
    if let Some(bad) = scan.bad {
        return Err(bad.into_error(path).into());
    }
    println!(
        "ok: {} records, head seq {} hash {}",
        scan.head.seq, scan.head.seq, scan.head.hash
    );
    Ok(Exit::Success)
}

/// `sluice audit list`.
///
/// # Errors
///
/// `--since` is not RFC 3339 (usage), the log cannot be read or its chain is broken.
pub fn list_command(args: AuditListArgs) -> Result<Exit> {
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
    let records: Vec<Map<String, Value>> = read_verified(&args.data_dir)?
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect();
    let out = match args.format {
        ListFormat::Table => query::to_table(&records),
        ListFormat::Csv => query::to_csv(&records),
        ListFormat::Json => {
            let mut s = serde_json::to_string_pretty(&records)
                .map_err(|e| Error::Usage(format!("cannot print records: {e}")))?;
            s.push('\n');
            s
        }
    };
    print!("{out}");
    Ok(Exit::Success)
}

/// `sluice audit show`.
///
/// # Errors
///
/// The log cannot be read or is broken, or no record mentions the change.
pub fn show_command(data_dir: &Path, change_id: &str) -> Result<Exit> {
    let records = read_verified(data_dir)?;
    let report =
        query::change_report(change_id, &records).ok_or_else(|| AuditError::NoSuchChange {
            change: change_id.to_owned(),
            path: data_dir.join(log::LOG_FILE),
        })?;
    print!("{report}");
    Ok(Exit::Success)
}

/// `sluice lint-commit`.
///
/// # Errors
///
/// The message file cannot be read, the pattern is invalid (usage), or the message breaks a rule.
pub fn lint_commit_command(args: LintCommitArgs) -> Result<Exit> {
    let pattern = regex::Regex::new(&args.pattern)
        .map_err(|e| Error::Usage(format!("--pattern {:?}: {e}", args.pattern)))?;
    let text = std::fs::read(&args.file).map_err(|e| Error::io(&args.file, e))?;
    let message = commit::CommitMessage::parse(&String::from_utf8_lossy(&text));
    let rules = lint::LintRules {
        pattern,
        require: args.require,
        min_approvers: args.min_approvers,
    };
    lint::lint(&message, &rules).map_err(|failure| AuditError::Lint {
        path: args.file.clone(),
        failure,
    })?;
    Ok(Exit::Success)
}
