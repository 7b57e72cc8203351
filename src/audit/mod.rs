//! The audit log (docs/audit-log.md): record model, canonical bytes and SHA-256 chain, the append-only
//! `audit.jsonl` (open, recover, append with group commit, verify), queries, and commit-message
//! parsing shared by the sink and `lint-commit`. Reads and writes the log's files; never
//! the process environment or stdout.
//!
//! ```text
//! record (event body → Body) → log (seq, prev → canonical bytes → hash → one write + fsync per batch)
//! log (scan + verify raw lines → Record) → query (filter → table | csv | json | change report)
//! ```

pub mod canonical;
pub mod checkpoint;
pub mod commit;
pub mod export;
pub mod gate;
pub mod lint;
pub mod log;
pub mod proof;
pub mod query;
pub mod record;

use record::Record;
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
    #[error(
        "{}: line {seq} (seq {seq}): {misfit}; the chain verifies, so the record is as it was written, \
         but this version of sluice cannot read it (was it written by a newer one?)",
        path.display()
    )]
    Misfit {
        path: PathBuf,
        seq: u64,
        misfit: record::Misfit,
    },
    #[error("record has no canonical form: {0}")]
    Canonical(canonical::CanonicalError),
    #[error("no record in {} mentions change {change:?}", path.display())]
    NoSuchChange { change: String, path: PathBuf },
    #[error("{}: {}", path.display(), lint_summary(failures))]
    Lint {
        path: PathBuf,
        failures: Vec<lint::LintFailure>,
    },
}

/// One problem as it is; several as a count and one indented line each.
fn lint_summary(failures: &[lint::LintFailure]) -> String {
    match failures {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|f| format!("\n  - {f}")).collect();
            format!("{} problems:{}", many.len(), lines.concat())
        }
    }
}

fn torn_hint(reason: &log::BadReason) -> &'static str {
    match reason {
        log::BadReason::NoNewline => " (`sluice serve` moves a torn last line aside on start)",
        _ => "",
    }
}

/// Reads and verifies the whole log in `data_dir`; a torn last line is left out with a warning. The
/// chain is verified on the raw lines; only then are the records read into the typed model.
///
/// # Errors
///
/// The log cannot be read, its chain is broken before the last line, or a record does not fit the
/// typed model ([`AuditError::Misfit`]).
pub fn read_verified(data_dir: &Path) -> Result<Vec<Record>, AuditError> {
    let path = data_dir.join(log::LOG_FILE);
    let file = File::open(&path).map_err(|source| AuditError::Io {
        path: path.clone(),
        source,
    })?;
    let mut records = Vec::new();
    let mut misfit = None;
    let scan = log::scan(file, |r, _| {
        if misfit.is_none() {
            match log::read_record(&path, r) {
                Ok(record) => records.push(record),
                Err(e) => misfit = Some(e),
            }
        }
    })
    .map_err(|source| AuditError::Io {
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
    // A broken chain is reported first: integrity before types.
    match misfit {
        Some(e) => Err(e),
        None => Ok(records),
    }
}

/// Verifies the whole chain in `data_dir` and gives its head (`audit verify`).
///
/// # Errors
///
/// The log cannot be read, or a line breaks the chain (a torn last line included: it is not verified).
pub fn verify(data_dir: &Path) -> Result<log::Head, AuditError> {
    let path = data_dir.join(log::LOG_FILE);
    let io = |source| AuditError::Io {
        path: path.clone(),
        source,
    };
    let file = File::open(&path).map_err(io)?;
    let scan = log::scan(file, |_, _| {}).map_err(io)?;
    match scan.bad {
        Some(bad) => Err(bad.into_error(path)),
        None => Ok(scan.head),
    }
}
