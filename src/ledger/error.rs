//! What can go wrong with the ledger: one variant per cause a caller can act on, each naming the file
//! (and the line) it concerns.

use super::canonical::CanonicalError;
use super::names::segment_name;
use std::path::PathBuf;

/// What can go wrong with the ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
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
        reason: BadReason,
    },
    /// The segments do not form one chain (one is missing, renamed, reordered, emptied or cut).
    #[error("{}: {problem}", path.display())]
    Segment {
        path: PathBuf,
        problem: SegmentProblem,
    },
    #[error("record has no canonical form: {0}")]
    Canonical(CanonicalError),
}

fn torn_hint(reason: &BadReason) -> &'static str {
    match reason {
        BadReason::NoNewline => " (`sluice serve` moves a torn last line aside on start)",
        _ => "",
    }
}

/// Why a line breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReason {
    #[error("the line has no trailing newline (a torn write)")]
    NoNewline,
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("missing or invalid {0:?}")]
    Field(&'static str),
    #[error("seq is {found}, expected {expected} (a record was deleted, inserted or moved)")]
    Seq { found: u64, expected: u64 },
    #[error("prev does not match the hash of the record before it")]
    Prev,
    #[error("the line is not in canonical form (its bytes were changed)")]
    NotCanonical,
    #[error("hash does not match the record's content (the record was changed)")]
    Hash,
}

/// Why the segments do not form one chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentProblem {
    #[error(
        "records {expected} to {} are missing: no segment holds them (expected {}; was a segment \
         deleted, or the one before truncated?)",
        found - 1, segment_name(*expected)
    )]
    Missing { expected: u64, found: u64 },
    #[error(
        "starts at seq {found} but the chain continues at seq {expected}: segments were renamed, \
         reordered or overlap"
    )]
    Order { expected: u64, found: u64 },
    #[error("the sealed segment holds no record (was it truncated?)")]
    Empty,
    #[error("the sealed segment ends in an unfinished line (was it truncated?)")]
    Torn,
}
