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
pub mod index;
pub mod lint;
pub mod log;
pub mod proof;
pub mod query;
pub mod record;
pub mod segment;

use record::Record;
use segment::{Position, Segment};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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
        "{}: line {line} (seq {seq}): {misfit}; the chain verifies, so the record is as it was written, \
         but this version of sluice cannot read it (was it written by a newer one?)",
        path.display()
    )]
    Misfit {
        path: PathBuf,
        line: u64,
        seq: u64,
        misfit: record::Misfit,
    },
    /// The segments do not form one chain (one is missing, renamed, reordered, emptied or cut).
    #[error("{}: {problem}", path.display())]
    Segment {
        path: PathBuf,
        problem: segment::SegmentProblem,
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

/// The log in `data_dir` as verified by [`read_each`]: its segments and the valid length of each.
#[derive(Debug, Clone)]
pub struct Verified {
    pub segments: Vec<Segment>,
    pub lengths: Vec<u64>,
}

/// Verifies the whole chain in `data_dir` (every segment, in order) and gives each record, read into
/// the typed model, with its position to `each`, oldest first, one at a time: memory stays bounded
/// whatever the size of the log. A torn last line of the active segment is left out with a warning.
/// After a record that does not fit the typed model, `each` is given nothing more, but the chain is
/// still verified to its end: a broken chain is reported first (integrity before types).
///
/// # Errors
///
/// The log cannot be read, its chain is broken (naming the segment and line), or a record does not
/// fit the typed model ([`AuditError::Misfit`]).
pub fn read_each(
    data_dir: &Path,
    mut each: impl FnMut(Record, Position),
) -> Result<Verified, AuditError> {
    let segments = segment::segments(data_dir)?;
    let mut misfit = None;
    let walked = segment::walk(&segments, None, |map, pos, line| {
        if misfit.is_none() {
            match log::read_record(&segments[pos.segment].path, map, line) {
                Ok(record) => each(record, pos),
                Err(e) => misfit = Some(e),
            }
        }
    })?;
    if let Some(bad) = &walked.torn {
        tracing::warn!(
            path = %segments.last().map(|s| s.path.display().to_string()).unwrap_or_default(),
            line = bad.line,
            "the last line is torn (an unfinished write); it is left out"
        );
    }
    match misfit {
        Some(e) => Err(e),
        None => Ok(Verified {
            lengths: walked.lengths,
            segments,
        }),
    }
}

/// A set of seqs, one bit each (125 KB for a million records): what a second pass over a log wants.
#[derive(Debug, Clone, Default)]
pub struct SeqSet {
    words: Vec<u64>,
    len: usize,
}

impl SeqSet {
    pub fn insert(&mut self, seq: u64) {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] & (1 << bit) == 0 {
            self.words[word] |= 1 << bit;
            self.len += 1;
        }
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Reads again, without verifying, the records of `wanted` from a log that [`read_each`] verified,
/// within the lengths it verified, oldest first. Lines that are not wanted are not parsed.
///
/// # Errors
///
/// A segment cannot be read, or a wanted line is no longer a record that fits the typed model.
pub fn read_again(
    verified: &Verified,
    wanted: &SeqSet,
    mut each: impl FnMut(Record),
) -> Result<(), AuditError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let mut line = Vec::new();
    for (seg, &len) in verified.segments.iter().zip(&verified.lengths) {
        let io_err = |source| AuditError::Io {
            path: seg.path.clone(),
            source,
        };
        if len == 0 {
            continue;
        }
        let file = File::open(&seg.path).map_err(io_err)?;
        let mut reader = BufReader::with_capacity(1 << 16, file.take(len));
        let mut seq = seg.first_seq;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
                break;
            }
            if wanted.contains(seq) {
                let map: Map<String, Value> = serde_json::from_slice(&line)
                    .map_err(|e| io_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                let found = map.get("seq").and_then(Value::as_u64);
                if found != Some(seq) {
                    return Err(io_err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the log changed while it was read",
                    )));
                }
                each(log::read_record(&seg.path, map, seq + 1 - seg.first_seq)?);
            }
            seq += 1;
        }
    }
    Ok(())
}

/// Every record of the verified log in `data_dir`, in memory (for tests).
#[cfg(test)]
pub fn read_verified_for_tests(data_dir: &Path) -> Vec<Record> {
    let mut records = Vec::new();
    read_each(data_dir, |r, _| records.push(r)).expect("a verified log");
    records
}

/// Verifies the whole chain in `data_dir`, every segment in order, and gives its head (`audit verify`).
///
/// # Errors
///
/// The log cannot be read, a segment is missing or out of order, or a line breaks the chain (a torn
/// last line included: it is not verified).
pub fn verify(data_dir: &Path) -> Result<log::Head, AuditError> {
    let segments = segment::segments(data_dir)?;
    let walked = segment::walk(&segments, None, |_, _, _| {})?;
    match walked.torn {
        Some(bad) => {
            let path = segments
                .last()
                .map_or_else(|| data_dir.join(log::LOG_FILE), |s| s.path.clone());
            Err(bad.into_error(path))
        }
        None => Ok(walked.head),
    }
}
