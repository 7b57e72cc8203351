//! Reading the whole log in a data directory, for the commands: verify every segment in order and hand
//! each record over one at a time ([`read_each`], [`verify`]), then read again only the records a
//! second pass wants ([`read_again`], with a [`SeqSet`] of one bit per record). Memory stays bounded
//! whatever the size of the log. Never writes, and never takes the writer's lock.
//!
//! A sink may be appending and sealing while the log is read: the segments are listed as one snapshot
//! (`segment::Listing`: a seal that renames the active file while it is listed makes the listing be
//! taken again, and the active segment is read through the file opened then, up to the length it had),
//! so a seal is never taken for a missing or moved record. An unfinished last line while a writer holds
//! the data directory is a batch being written, not a torn one.

use super::error::LedgerError;
use super::line::{self, Head};
use super::lock;
use super::segment::{self, Listing, Segment};
use serde_json::{Map, Value};
use std::path::Path;

/// The log in `data_dir` as [`read_each`] verified it: its segments (as listed then) and the valid
/// length of each.
#[derive(Debug)]
pub struct Verified {
    listing: Listing,
    lengths: Vec<u64>,
}

impl Verified {
    /// The segments, in chain order.
    pub fn segments(&self) -> &[Segment] {
        &self.listing.segments
    }
}

/// Where a record was read: the file, and its line there (1-based).
#[derive(Debug, Clone, Copy)]
pub struct At<'p> {
    pub path: &'p Path,
    pub line: u64,
}

/// Verifies the whole chain in `data_dir` (every segment, in order) and gives each record with where
/// it is to `each`, oldest first, one at a time: memory stays bounded whatever the size of the log. A
/// torn last line of the active segment is left out with a warning.
///
/// # Errors
///
/// The log cannot be read, or its chain is broken (naming the segment and line).
pub fn read_each(
    data_dir: &Path,
    mut each: impl FnMut(Map<String, Value>, At<'_>),
) -> Result<Verified, LedgerError> {
    let listing = Listing::take(data_dir)?;
    let walked = segment::walk(&listing, None, |map, position, line| {
        let at = At {
            path: &listing.segments[position.segment].path,
            line,
        };
        each(map, at);
    })?;
    if let Some(bad) = &walked.torn {
        let path = listing
            .segments
            .last()
            .map(|s| s.path.display().to_string());
        if lock::is_held(data_dir) {
            tracing::debug!(path = ?path, line = bad.line, "a batch is being written; its records are left out");
        } else {
            tracing::warn!(
                path = %path.unwrap_or_default(),
                line = bad.line,
                "the last line is torn (an unfinished write); it is left out"
            );
        }
    }
    Ok(Verified {
        lengths: walked.lengths,
        listing,
    })
}

/// The Merkle tree of the log in `data_dir` up to `head` (a chain verified already), read from the
/// tiles on disk and the records after them, without writing anything: for the commands that prove
/// records (`audit show --proofs`, `audit export`) while a sink may be running over the directory.
///
/// # Errors
///
/// A segment cannot be read.
pub fn tree(data_dir: &Path, head: &Head) -> Result<super::tree::Reader, LedgerError> {
    // One snapshot of the segments (a seal meanwhile moves nothing under the reader); the records up
    // to `head` are in it, sealed since or not.
    let listing = Listing::take(data_dir)?;
    let mut tree = super::tree::Writer::from_disk(data_dir, head.seq, false);
    let from = tree.size() + 1;
    segment::for_each_line(&listing, from, head.seq, None, |_, line| {
        tree.push(super::tree::hash::leaf(line));
    })?;
    tree.publish();
    Ok(tree.reader())
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
/// A segment cannot be read, or a wanted line is no longer the record it was.
pub fn read_again(
    verified: &Verified,
    wanted: &SeqSet,
    mut each: impl FnMut(Map<String, Value>, At<'_>),
) -> Result<(), LedgerError> {
    if wanted.is_empty() {
        return Ok(());
    }
    for (i, (seg, &len)) in verified
        .segments()
        .iter()
        .zip(&verified.lengths)
        .enumerate()
    {
        let io_err = |source| LedgerError::Io {
            path: seg.path.clone(),
            source,
        };
        if len == 0 {
            continue;
        }
        let Some((reader, _)) = verified.listing.reader(i, 0).map_err(io_err)? else {
            continue;
        };
        let mut lines = line::Lines::new(std::io::Read::take(reader, len));
        let mut seq = seg.first_seq;
        while let Some((_, text)) = lines.next_line().map_err(io_err)? {
            if wanted.contains(seq) {
                let map: Map<String, Value> = serde_json::from_slice(text)
                    .map_err(|e| io_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                if map.get("seq").and_then(Value::as_u64) != Some(seq) {
                    return Err(io_err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the log changed while it was read",
                    )));
                }
                let at = At {
                    path: &seg.path,
                    line: seq + 1 - seg.first_seq,
                };
                each(map, at);
            }
            seq += 1;
        }
    }
    Ok(())
}

/// Verifies the whole chain in `data_dir`, every segment, on all cores, and gives its head (`audit
/// verify`): verify.rs says how, and that it reports what the walk in order reports. While a sink
/// writes the log, an unfinished last line is a batch being written: the head is the last record
/// before it.
///
/// # Errors
///
/// The log cannot be read, a segment is missing or out of order, or a line breaks the chain (a torn
/// last line included when no sink writes the log: it is not verified).
pub fn verify(data_dir: &Path) -> Result<Head, LedgerError> {
    super::verify::verify_with(data_dir, super::verify::CHUNK)
}

/// The verification in order, line by line, as it was before the parallel one: the oracle of the
/// tests.
#[cfg(test)]
pub(crate) fn verify_in_order(data_dir: &Path) -> Result<Head, LedgerError> {
    let listing = Listing::take(data_dir)?;
    let walked = segment::walk(&listing, None, |_, _, _| {})?;
    match walked.torn {
        Some(bad) if !lock::is_held(data_dir) => {
            let path = listing.segments.last().map_or_else(
                || data_dir.join(super::segment::LOG_FILE),
                |s| s.path.clone(),
            );
            Err(bad.into_error(path))
        }
        _ => Ok(walked.head),
    }
}
