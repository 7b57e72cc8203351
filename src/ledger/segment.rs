//! Segments (docs/audit-log.md, "Segments"): the log is a sequence of files that together hold one
//! chain. The sealed ones are `DATA_DIR/segments/<first seq, 20 digits>.jsonl` and are never modified
//! again; the active one, the only file appended to, is `DATA_DIR/audit.jsonl`. The first `prev` of a
//! segment is the last `hash` of the one before, so verifying the segments in order verifies the chain.
//!
//! This module lists the segments, seals the active one, and walks the chain across them, naming a
//! segment that is missing, renamed, reordered, emptied or broken.

use super::error::{BadReason, LedgerError, SegmentProblem};
use super::line::{self, BadLine, Head};
pub use super::names::{first_seq_of_name, segment_name, LOG_FILE, SEGMENTS_DIR};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    /// The seq of its first record (for a sealed segment, the number in its name).
    pub first_seq: u64,
    /// Sealed segments are never modified again; the active one (`audit.jsonl`) is appended to.
    pub sealed: bool,
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How often the listing is taken again when a seal moved a file while it was taken.
const LISTING_TRIES: usize = 100;

/// The segments of a data directory as one snapshot: the sealed ones by name, and the active one as
/// an open file with the length it had, so that a seal (a rename) or an append while the log is read
/// changes nothing of what the reader sees.
#[derive(Debug)]
pub struct Listing {
    /// The sealed segments in chain order (by the first seq in their names), then the active one.
    pub segments: Vec<Segment>,
    /// The active segment as it was listed, and its length then; `None` when it did not exist.
    active: Option<(File, u64)>,
}

/// The sealed segments in chain order, then the active one ([`Listing::take`]'s segments).
///
/// # Errors
///
/// As [`Listing::take`].
#[cfg(test)]
pub fn segments(data_dir: &Path) -> Result<Vec<Segment>, LedgerError> {
    Ok(Listing::take(data_dir)?.segments)
}

impl Listing {
    /// Lists the segments of `data_dir` as one snapshot: the sealed ones, then the active one, which
    /// is always last, even when `audit.jsonl` does not exist (yet): its `first_seq` is that of its
    /// first line, or, when it has none, one past the last record of the last sealed segment. Files in
    /// `segments/` whose names are not 20 digits and `.jsonl` are not segments and are left out.
    /// When a seal renames the active segment while the listing is taken, it is taken again. Nothing
    /// is verified here: see [`walk`].
    ///
    /// # Errors
    ///
    /// `segments/` exists but cannot be listed, the active segment cannot be opened, or the segments
    /// kept moving (a hundred seals while listing: something else renames files here).
    pub fn take(data_dir: &Path) -> Result<Self, LedgerError> {
        let path = data_dir.join(LOG_FILE);
        let dir = data_dir.join(SEGMENTS_DIR);
        let dir_err = io_at(&dir);
        for _ in 0..LISTING_TRIES {
            let before = sealed(data_dir).map_err(&dir_err)?;
            let active = match File::open(&path) {
                Ok(f) => Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_at(&path)(e)),
            };
            let after = sealed(data_dir).map_err(&dir_err)?;
            // The file opened must still be the active segment, and no segment sealed meanwhile.
            let same_file = match (&active, std::fs::metadata(&path)) {
                (Some(f), Ok(now)) => f.metadata().is_ok_and(|m| same_inode(&m, &now)),
                (None, Err(e)) => e.kind() == io::ErrorKind::NotFound,
                _ => false,
            };
            if before != after || !same_file {
                continue;
            }
            let active = match active {
                Some(f) => {
                    let len = f.metadata().map_err(io_at(&path))?.len();
                    Some((f, len))
                }
                None => None,
            };
            let mut segments = after;
            let first_in_active = active.as_ref().and_then(|(f, len)| {
                let mut buf = Vec::new();
                let first = line::line_at(f, 0, &mut buf).ok()?;
                // Only a complete line within the length listed counts.
                if first.len() as u64 >= *len {
                    return None;
                }
                serde_json::from_slice::<Map<String, Value>>(first)
                    .ok()?
                    .get("seq")?
                    .as_u64()
            });
            let first_seq = match first_in_active {
                Some(seq) => seq,
                None => match segments.last() {
                    Some(last) => last_line_seq(&last.path).map_or(last.first_seq, |s| s + 1),
                    None => 1,
                },
            };
            segments.push(Segment {
                path: path.clone(),
                first_seq,
                sealed: false,
            });
            return Ok(Listing { segments, active });
        }
        Err(LedgerError::Io {
            path: data_dir.to_path_buf(),
            source: io::Error::other(
                "the segments kept moving while they were listed; is something else renaming files here?",
            ),
        })
    }

    /// Segment `i`'s file and its length: a sealed segment's file as it is (it never changes), the
    /// active one as listed. `None`: the active segment did not exist.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub fn file(&self, i: usize) -> io::Result<Option<(File, u64)>> {
        let seg = &self.segments[i];
        if seg.sealed {
            let f = File::open(&seg.path)?;
            let len = f.metadata()?.len();
            return Ok(Some((f, len)));
        }
        match &self.active {
            Some((f, len)) => Ok(Some((f.try_clone()?, *len))),
            None => Ok(None),
        }
    }

    /// A reader of segment `i` from byte `offset`: a sealed segment from its file, the active one from
    /// the file as listed, up to the length it had then. `None`: the active segment did not exist.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or read.
    pub fn reader(&self, i: usize, offset: u64) -> io::Result<Option<(Box<dyn io::BufRead>, u64)>> {
        let seg = &self.segments[i];
        let (mut file, len) = if seg.sealed {
            let f = File::open(&seg.path)?;
            let len = f.metadata()?.len();
            (f, len)
        } else {
            match &self.active {
                Some((f, len)) => (f.try_clone()?, *len),
                None => return Ok(None),
            }
        };
        file.seek(SeekFrom::Start(offset))?;
        let bounded = file.take(len.saturating_sub(offset));
        Ok(Some((
            Box::new(BufReader::with_capacity(1 << 16, bounded)),
            len,
        )))
    }
}

fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The sealed segments of `data_dir` (the files of `segments/` named as [`segment_name`] writes), by
/// first seq; none when there is no `segments/` directory. Nothing is read from the files.
///
/// # Errors
///
/// `segments/` exists but cannot be listed.
pub fn sealed(data_dir: &Path) -> io::Result<Vec<Segment>> {
    let entries = match std::fs::read_dir(data_dir.join(SEGMENTS_DIR)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut sealed = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(first_seq) = entry.file_name().to_str().and_then(first_seq_of_name) {
            sealed.push(Segment {
                path: entry.path(),
                first_seq,
                sealed: true,
            });
        }
    }
    sealed.sort_by_key(|s| s.first_seq);
    Ok(sealed)
}

/// The `seq` of a file's last complete line, when it has a readable one.
fn last_line_seq(path: &Path) -> Option<u64> {
    line::last_line(path)?.get("seq")?.as_u64()
}

/// Where a record is: the index of its segment in the list, and its byte offset in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: usize,
    pub offset: u64,
}

/// Where a walk starts: at the beginning of the chain, or after a record already verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Index of the segment in the list.
    pub segment: usize,
    /// The record the walk continues after: its seq and hash, and `len` the byte offset just after it
    /// in that segment.
    pub head: Head,
}

/// What a walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// The last valid record; `head.len` is the valid length of the active segment.
    pub head: Head,
    /// The valid length of each segment walked (the ones before a resume point are not included: 0).
    pub lengths: Vec<u64>,
    /// A torn last line of the active segment (a crash mid-write), left out of the chain.
    pub torn: Option<BadLine>,
}

/// A segment that holds records (sealed, or the active one when not empty) must begin with the seq
/// after the previous segment's last: a higher one means records are missing, a lower one that the
/// segments are out of order.
pub(crate) fn starts_at(seg: &Segment, len: u64, expected: u64) -> Result<(), LedgerError> {
    if !(seg.sealed || len > 0) || seg.first_seq == expected {
        return Ok(());
    }
    let problem = if seg.first_seq > expected {
        SegmentProblem::Missing {
            expected,
            found: seg.first_seq,
        }
    } else {
        SegmentProblem::Order {
            expected,
            found: seg.first_seq,
        }
    };
    Err(LedgerError::Segment {
        path: seg.path.clone(),
        problem,
    })
}

/// Verifies the chain across the segments of `listing`, from the start or from `resume`, giving each
/// valid record, its position and its line number (1-based, in its file) to `on_record`. Only the last
/// line of the active segment may be torn (or still being written, when the log is read while a sink
/// appends): it is reported in [`Walked::torn`] and left out; anything else that breaks the chain is
/// an error naming the segment (and the line).
///
/// # Errors
///
/// A segment cannot be read; a sealed segment is missing, out of order, empty or ends unfinished; a
/// line breaks the chain ([`LedgerError::Broken`], naming the segment's file and its line there).
pub fn walk(
    listing: &Listing,
    resume: Option<&Resume>,
    mut on_record: impl FnMut(Map<String, Value>, Position, u64),
) -> Result<Walked, LedgerError> {
    walk_lines(listing, resume, |record, position, line, _| {
        on_record(record, position, line);
    })
}

/// [`walk`], also giving each valid record's line (canonical bytes, without the newline), as the
/// Merkle tree hashes it.
///
/// # Errors
///
/// See [`walk`].
pub fn walk_lines(
    listing: &Listing,
    resume: Option<&Resume>,
    mut on_record: impl FnMut(Map<String, Value>, Position, u64, &[u8]),
) -> Result<Walked, LedgerError> {
    let segments = &listing.segments;
    let (start, mut head) = match resume {
        Some(r) => (r.segment, r.head.clone()),
        None => (0, Head::default()),
    };
    let mut lengths = vec![0; segments.len()];
    let mut torn = None;
    for (i, seg) in segments.iter().enumerate().skip(start) {
        let resuming = resume.is_some() && i == start;
        let expected = head.seq + 1;
        let from = if resuming { head.len } else { 0 };
        let (reader, len) = match listing.reader(i, from) {
            Ok(Some(r)) => r,
            // The active segment does not exist between sealing and the first record after it.
            Ok(None) if i > 0 => {
                head.len = 0;
                continue;
            }
            // No log at all: the error names the file (opening it again gives the system's words).
            Ok(None) => {
                let e = File::open(&seg.path)
                    .err()
                    .unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound));
                return Err(io_at(&seg.path)(e));
            }
            Err(e) => return Err(io_at(&seg.path)(e)),
        };
        if !resuming {
            starts_at(seg, len, expected)?;
        }
        let start_head = if resuming {
            head.clone()
        } else {
            Head {
                len: 0,
                ..head.clone()
            }
        };
        // Line numbers count from the segment's first record.
        let base = if resuming {
            seg.first_seq.saturating_sub(1)
        } else {
            head.seq
        };
        let scan = line::scan_lines_from(reader, start_head, base, |record, offset, bytes| {
            let line = line::seq_of(&record).saturating_sub(base);
            on_record(record, Position { segment: i, offset }, line, bytes);
        })
        .map_err(io_at(&seg.path))?;
        if seg.sealed && scan.head.seq == head.seq && scan.bad.is_none() && !resuming {
            return Err(LedgerError::Segment {
                path: seg.path.clone(),
                problem: SegmentProblem::Empty,
            });
        }
        lengths[i] = scan.head.len;
        head = scan.head;
        match scan.bad {
            None => {}
            Some(bad) if bad.torn && !seg.sealed => torn = Some(bad),
            Some(bad) if bad.torn && bad.reason == BadReason::NoNewline => {
                return Err(LedgerError::Segment {
                    path: seg.path.clone(),
                    problem: SegmentProblem::Torn,
                })
            }
            Some(bad) => return Err(bad.into_error(seg.path.clone())),
        }
    }
    Ok(Walked {
        head,
        lengths,
        torn,
    })
}

/// Gives the lines (without their newlines) of the records `from_seq` to `to_seq` of the listed
/// segments, in order, unverified: for a log whose chain was verified already (the tree catching up
/// after a quick start, or read by a command). The active segment is read as listed (a seal or an
/// append meanwhile changes nothing); `offset`, when known (the index), is where `from_seq` starts in
/// its segment, so that only what follows is read.
///
/// # Errors
///
/// A segment cannot be read, or holds fewer records than its neighbours' names say.
pub fn for_each_line(
    listing: &Listing,
    from_seq: u64,
    to_seq: u64,
    offset: Option<u64>,
    mut each: impl FnMut(u64, &[u8]),
) -> Result<(), LedgerError> {
    if from_seq > to_seq {
        return Ok(());
    }
    let segments = &listing.segments;
    let start = segments
        .iter()
        .rposition(|s| s.first_seq <= from_seq)
        .unwrap_or(0);
    let mut seq = from_seq;
    for (i, seg) in segments.iter().enumerate().skip(start) {
        let skip = offset.filter(|_| i == start).unwrap_or(0);
        let mut lines = match listing.reader(i, skip) {
            Ok(Some((reader, _))) => line::Lines::new(reader),
            Ok(None) => break,
            Err(e) => return Err(io_at(&seg.path)(e)),
        };
        let mut at = if skip > 0 { from_seq } else { seg.first_seq };
        while let Some((_, bytes)) = lines.next_line().map_err(io_at(&seg.path))? {
            if at >= seq {
                each(at, bytes);
                seq = at + 1;
                if seq > to_seq {
                    return Ok(());
                }
            }
            at += 1;
        }
    }
    if seq <= to_seq {
        return Err(LedgerError::Segment {
            path: segments.last().map(|s| s.path.clone()).unwrap_or_default(),
            problem: SegmentProblem::Missing {
                expected: seq,
                found: to_seq + 1,
            },
        });
    }
    Ok(())
}

/// Makes a directory entry durable. Some filesystems cannot fsync a directory; that is not worth
/// refusing to work over.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Seals the active segment `active` (whose first record is `first_seq`): fsync it, rename it to
/// `segments/<first seq>.jsonl`, fsync the directories. The caller then starts a new `audit.jsonl`.
///
/// # Errors
///
/// The fsync, the directory or the rename failed; the active segment is then still `audit.jsonl`
/// unless the rename itself succeeded.
pub fn seal(data_dir: &Path, active: &File, first_seq: u64) -> Result<PathBuf, LedgerError> {
    let from = data_dir.join(LOG_FILE);
    active.sync_all().map_err(io_at(&from))?;
    let dir = data_dir.join(SEGMENTS_DIR);
    std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
    sync_dir(data_dir);
    let to = dir.join(segment_name(first_seq));
    if to.exists() {
        return Err(LedgerError::Io {
            path: to,
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a sealed segment of that name already exists; it is never overwritten",
            ),
        });
    }
    std::fs::rename(&from, &to).map_err(io_at(&to))?;
    sync_dir(&dir);
    sync_dir(data_dir);
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_twenty_digits() {
        assert_eq!(segment_name(101), "00000000000000000101.jsonl");
        assert_eq!(first_seq_of_name("00000000000000000101.jsonl"), Some(101));
        assert_eq!(first_seq_of_name("0000000000000000101.jsonl"), None);
        assert_eq!(first_seq_of_name("00000000000000000101.json"), None);
        assert_eq!(first_seq_of_name("0000000000000000010a.jsonl"), None);
    }

    use crate::ledger::log::{Ledger, Rolling};
    use crate::ledger::testing::{self, Draft, SCHEMA};

    fn draft(i: u64) -> Draft {
        testing::draft(i, "shop", None, "inside window")
    }

    /// A log of `n` records appended one at a time, rolling at 500 bytes (two records of ~330).
    fn rolled(n: u64) -> (tempfile::TempDir, Vec<Segment>) {
        let dir = tempfile::tempdir().unwrap();
        let rolling = Rolling {
            max_bytes: 500,
            ..Rolling::default()
        };
        let mut log = Ledger::open_with(dir.path(), 1, rolling, SCHEMA).unwrap();
        for i in 1..=n {
            log.append_batch(&[draft(i)]).unwrap();
        }
        drop(log);
        let segs = segments(dir.path()).unwrap();
        (dir, segs)
    }

    fn verify_err(dir: &Path) -> String {
        crate::ledger::verify(dir).unwrap_err().to_string()
    }

    #[test]
    fn the_log_rolls_at_a_size_and_the_chain_continues_across_segments() {
        let (dir, segs) = rolled(9);
        assert!(segs.len() >= 4, "{segs:?}");
        let mut next = 1;
        let mut prev = crate::ledger::canonical::GENESIS.to_owned();
        for seg in &segs {
            let text = std::fs::read_to_string(&seg.path).unwrap();
            assert_eq!(seg.first_seq, next, "{seg:?}");
            if seg.sealed {
                assert_eq!(seg.path.parent().unwrap(), dir.path().join(SEGMENTS_DIR));
                assert_eq!(
                    seg.path.file_name().unwrap().to_str().unwrap(),
                    segment_name(next)
                );
            }
            for line in text.lines() {
                let m: Map<String, Value> = serde_json::from_str(line).unwrap();
                assert_eq!(m["seq"], next);
                // The first `prev` of a segment is the last hash of the one before.
                assert_eq!(m["prev"], prev.as_str());
                prev = m["hash"].as_str().unwrap().to_owned();
                next += 1;
            }
        }
        let head = crate::ledger::verify(dir.path()).unwrap();
        assert_eq!((head.seq, head.hash), (9, prev));
        let seqs = testing::seqs(dir.path());
        assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn the_log_rolls_at_an_age() {
        let dir = tempfile::tempdir().unwrap();
        let rolling = Rolling {
            max_age: std::time::Duration::from_hours(24),
            ..Rolling::default()
        };
        let mut log = Ledger::open_with(dir.path(), 1, rolling, SCHEMA).unwrap();
        // Empty: nothing to seal.
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:01Z")
            .unwrap()
            .timestamp();
        assert!(!log.roll_if_due(t0 + 10 * 86400).unwrap());
        log.append_batch(&[draft(1)]).unwrap();
        assert_eq!(log.due_in(t0 + 3600), Some(86400 - 3600));
        assert!(!log.roll_if_due(t0 + 3600).unwrap());
        assert!(log.roll_if_due(t0 + 86400).unwrap());
        assert!(dir.path().join(SEGMENTS_DIR).join(segment_name(1)).exists());
        log.append_batch(&[draft(2)]).unwrap();
        drop(log);
        assert_eq!(crate::ledger::verify(dir.path()).unwrap().seq, 2);
    }

    #[test]
    fn a_missing_segment_is_named() {
        let (dir, segs) = rolled(9);
        // A middle one.
        let gone = &segs[1];
        let saved = std::fs::read(&gone.path).unwrap();
        std::fs::remove_file(&gone.path).unwrap();
        let err = verify_err(dir.path());
        assert!(err.contains(&segment_name(gone.first_seq)), "{err}");
        assert!(err.contains("missing"), "{err}");
        std::fs::write(&gone.path, &saved).unwrap();
        // The first one.
        let saved = std::fs::read(&segs[0].path).unwrap();
        std::fs::remove_file(&segs[0].path).unwrap();
        let err = verify_err(dir.path());
        assert!(err.contains(&segment_name(1)), "{err}");
        std::fs::write(&segs[0].path, &saved).unwrap();
        // The last sealed one, before the active segment.
        let last = &segs[segs.len() - 2];
        std::fs::remove_file(&last.path).unwrap();
        let err = verify_err(dir.path());
        assert!(err.contains(&segment_name(last.first_seq)), "{err}");
        assert!(err.contains("audit.jsonl"), "{err}");
        // The sink refuses to start over it, too.
        let opened = Ledger::open(dir.path(), 2).unwrap_err().to_string();
        assert!(opened.contains(&segment_name(last.first_seq)), "{opened}");
    }

    #[test]
    fn reordered_truncated_or_changed_segments_are_named() {
        let (dir, segs) = rolled(9);
        let (a, b) = (&segs[0].path, &segs[1].path);
        let (bytes_a, bytes_b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        // Swapped contents (names kept): the first file now holds later records.
        std::fs::write(a, &bytes_b).unwrap();
        std::fs::write(b, &bytes_a).unwrap();
        let err = verify_err(dir.path());
        assert!(err.starts_with(&a.display().to_string()), "{err}");
        assert!(err.contains("line 1 "), "{err}");
        std::fs::write(b, &bytes_b).unwrap();
        // Renamed to a later first seq: a gap, then an overlap.
        let later = dir
            .path()
            .join(SEGMENTS_DIR)
            .join(segment_name(segs[1].first_seq + 1));
        std::fs::write(a, &bytes_a).unwrap();
        std::fs::rename(b, &later).unwrap();
        let err = verify_err(dir.path());
        assert!(err.contains(&segment_name(segs[1].first_seq)), "{err}");
        std::fs::rename(&later, b).unwrap();
        // Truncated at a record boundary: the records after the cut are missing.
        let first_line = bytes_b.iter().position(|c| *c == b'\n').unwrap() + 1;
        std::fs::write(b, &bytes_b[..first_line]).unwrap();
        let err = verify_err(dir.path());
        assert!(err.contains("missing"), "{err}");
        // Truncated in a line, and emptied.
        std::fs::write(b, &bytes_b[..first_line + 10]).unwrap();
        let err = verify_err(dir.path());
        assert!(err.starts_with(&b.display().to_string()), "{err}");
        std::fs::write(b, b"").unwrap();
        let err = verify_err(dir.path());
        assert!(
            err.starts_with(&b.display().to_string()) && err.contains("no record"),
            "{err}"
        );
        // A flipped byte in a sealed segment: that segment, that line.
        let mut flipped = bytes_b.clone();
        flipped[first_line + 30] ^= 0x01;
        std::fs::write(b, &flipped).unwrap();
        let err = verify_err(dir.path());
        assert!(
            err.starts_with(&format!(
                "{}: line 2 (seq {})",
                b.display(),
                segs[1].first_seq + 1
            )),
            "{err}"
        );
        std::fs::write(b, &bytes_b).unwrap();
        assert_eq!(crate::ledger::verify(dir.path()).unwrap().seq, 9);
    }

    #[test]
    fn an_empty_data_dir_has_one_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let segs = segments(dir.path()).unwrap();
        assert_eq!(
            segs,
            vec![Segment {
                path: dir.path().join(LOG_FILE),
                first_seq: 1,
                sealed: false
            }]
        );
    }
}
