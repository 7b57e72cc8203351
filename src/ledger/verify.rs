//! Verifying the whole chain on all cores (issue 28; `audit verify`). The segments are cut into
//! chunks of whole lines; each chunk is checked on its own (every line canonical, its hash right, its
//! seq and prev following the line before it in the chunk), giving the seq and prev of its first line
//! and the head after its last. The chunks are then joined in order: a chunk whose first line follows
//! the head the chunks before it reached is taken as checked; any other is read again line by line
//! from that head, so what is reported (the first line that breaks the chain, its reason, a missing or
//! reordered segment) is exactly what the walk in segment.rs reports. The segments are read as one
//! snapshot (segment.rs, `Listing`): a seal while the log is verified moves nothing under it, and while
//! a sink holds the directory an unfinished last line is a batch being written, left out. Reads the
//! data directory; never writes.

use super::check::Span;
use super::error::{BadReason, LedgerError, SegmentProblem};
use super::line::{self, BadLine, Head, MAX_LINE};
use super::lock;
use super::segment::{Listing, Segment, Walked};
use crate::parallel::Made;
use serde_json::{Map, Value};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The bytes of a chunk: large enough that a core hashes for a while, small enough that two cores
/// hold 16 MiB between them.
pub const CHUNK: u64 = 8 << 20;

/// What one chunk holds, checked on its own.
#[derive(Debug)]
enum Chunk {
    /// No line starts in it.
    Empty,
    /// Its first line (at `offset`) is not a whole canonical record: it is read again in order.
    Unsure,
    /// Its lines, the first at `offset` with `seq` and `prev`, each checked against the one before.
    Lines {
        offset: u64,
        seq: u64,
        prev: String,
        /// After the last line that was checked.
        end: Head,
        /// The first line that is not the record after the one before it: offset, reason, torn.
        bad: Option<(u64, BadReason, bool)>,
    },
}

/// Verifies the whole chain in `data_dir` on all cores, with chunks of `chunk` bytes; gives its head.
/// See [`super::verify`].
///
/// # Errors
///
/// As the walk: the log cannot be read, a segment is missing or out of order, or a line breaks the
/// chain (a torn last line included, unless a sink holds the directory: then it is a batch being
/// written, and the head is the record before it).
pub fn verify_with(data_dir: &Path, chunk: u64) -> Result<Head, LedgerError> {
    let listing = Listing::take(data_dir)?;
    let live = lock::is_held(data_dir);
    let walked = walk_with(
        &listing,
        chunk,
        &|_, _, _| Some(()),
        &|_, _, _| (),
        |&()| {},
    )?;
    match walked.torn {
        // An unfinished last line of the active segment while a sink writes it: a batch being
        // written, left out.
        Some(_) if live => Ok(walked.head),
        // A torn last line of the active segment is not verified either.
        Some(bad) => {
            let path = listing
                .segments
                .last()
                .map(|s| s.path.clone())
                .unwrap_or_default();
            Err(bad.into_error(path))
        }
        None => Ok(walked.head),
    }
}

/// What a line read again in order makes: from the record, its offset and its bytes.
type FromScan<'a, O> = dyn Fn(Map<String, Value>, u64, &[u8]) -> O + 'a;

/// What a line a chunk checked makes, on the core that checked it: from its offset, its bytes and
/// where each of its members is.
type Make<'a, O> = dyn Fn(u64, &[u8], &[Span]) -> Option<O> + Sync + 'a;

/// Chunks computed ahead of the join, per core: bounds the memory of what they made.
const AHEAD_PER_CORE: usize = 4;

/// Walks the chain of `listing` from its start on all cores, as [`super::segment::walk`] does in
/// order, with chunks of `chunk` bytes: what it reports (the head, a torn last line of the active
/// segment, or the error naming the segment and line) is exactly what the walk reports. Each line a
/// chunk checked is also given, on the core that checked it, to `make` (its offset in its segment, its
/// bytes without the newline, and where each of its members is, as the check found them; `None`: the
/// line is not a record to serde, and the walk in order decides what it is); the lines read again in order go to `from_scan` (the record, its offset, its
/// bytes). What they made goes to `on_record` on the calling thread, in log order.
///
/// # Errors
///
/// As [`super::segment::walk`].
pub(crate) fn walk_with<O: Send>(
    listing: &Listing,
    chunk: u64,
    make: &Make<'_, O>,
    from_scan: &FromScan<'_, O>,
    mut on_record: impl FnMut(&O),
) -> Result<Walked, LedgerError> {
    let chunk = chunk.max(1);
    let segments = &listing.segments;
    // The length of each segment as listed (None: the active one is not there), or why it cannot be
    // read.
    let lengths: Vec<io::Result<Option<u64>>> = (0..segments.len())
        .map(|i| match listing.file(i) {
            Ok(Some((_, len))) => Ok(Some(len)),
            Ok(None) if i > 0 => Ok(None),
            Ok(None) => Err(std::fs::File::open(&segments[i].path)
                .err()
                .unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound))),
            Err(e) => Err(e),
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, len) in lengths.iter().enumerate() {
        if let Ok(Some(len)) = len {
            let mut start = 0;
            while start < *len {
                tasks.push((i, start, (start + chunk).min(*len), *len));
                start += chunk;
            }
        }
    }
    let ahead = AHEAD_PER_CORE * std::thread::available_parallelism().map_or(1, usize::from);
    let check = |&(i, start, end, len): &(usize, u64, u64, u64)| {
        let (file, _) = listing
            .file(i)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        check_chunk(&file, start, end, len, make)
    };
    crate::parallel::map_in_order(&tasks, ahead, check, |results| {
        let mut walked = Walked {
            head: Head::default(),
            lengths: vec![0; segments.len()],
            torn: None,
        };
        let mut join = Join {
            listing,
            chunk,
            results,
            from_scan,
            on_record: &mut on_record,
        };
        for (i, (seg, len)) in segments.iter().zip(lengths).enumerate() {
            let io_err = |source| LedgerError::Io {
                path: seg.path.clone(),
                source,
            };
            let Some(len) = len.map_err(io_err)? else {
                walked.head.len = 0;
                continue;
            };
            let expected = walked.head.seq + 1;
            super::segment::starts_at(seg, len, expected)?;
            let (seg_head, bad) = join.segment(i, len, &walked.head)?;
            if seg.sealed && seg_head.seq == walked.head.seq && bad.is_none() {
                return Err(LedgerError::Segment {
                    path: seg.path.clone(),
                    problem: SegmentProblem::Empty,
                });
            }
            walked.lengths[i] = seg_head.len;
            walked.head = seg_head;
            match bad {
                None => {}
                Some(bad) if bad.torn && !seg.sealed => walked.torn = Some(bad),
                Some(bad) if bad.torn && bad.reason == BadReason::NoNewline => {
                    return Err(LedgerError::Segment {
                        path: seg.path.clone(),
                        problem: SegmentProblem::Torn,
                    })
                }
                Some(bad) => return Err(bad.into_error(seg.path.clone())),
            }
        }
        Ok(walked)
    })
}

/// The in-order side of [`walk_with`]: the chunks' results as they come, and where they go.
struct Join<'a, 'm, O: Send, F: FnMut(&O)> {
    listing: &'a Listing,
    chunk: u64,
    results: &'a mut dyn Iterator<Item = Made<'m, io::Result<(Chunk, Vec<O>)>>>,
    from_scan: &'a FromScan<'a, O>,
    on_record: &'a mut F,
}

impl<O: Send, F: FnMut(&O)> Join<'_, '_, O, F> {
    /// Joins the chunks of segment `i` (of `len` bytes) after `before`, the head at the end of the
    /// segments before it; gives the segment's head and its first bad line. Takes the segment's chunks
    /// from the results whatever happens, so the next segment starts at its own.
    fn segment(
        &mut self,
        i: usize,
        len: u64,
        before: &Head,
    ) -> Result<(Head, Option<BadLine>), LedgerError> {
        let seg: &Segment = &self.listing.segments[i];
        let io_err = |source| LedgerError::Io {
            path: seg.path.clone(),
            source,
        };
        let base = before.seq;
        let mut head = Head {
            len: 0,
            ..before.clone()
        };
        let mut bad = None;
        let mut done = false;
        for _ in 0..len.div_ceil(self.chunk) {
            let Some(result) = self.results.next() else {
                // No more results (a worker stopped): the rest is read in order.
                if !done {
                    bad = self.scan(i, &mut head, base)?;
                    done = true;
                }
                continue;
            };
            if done {
                continue;
            }
            let (checked, made) = match &*result {
                Ok(r) => r,
                Err(e) => return Err(io_err(io::Error::new(e.kind(), e.to_string()))),
            };
            match checked {
                Chunk::Empty => {}
                Chunk::Lines {
                    offset,
                    seq,
                    prev,
                    end,
                    bad: found,
                } if *offset == head.len && *seq == head.seq + 1 && *prev == head.hash => {
                    made.iter().for_each(&mut *self.on_record);
                    if let Some((offset, reason, torn)) = found {
                        bad = Some(BadLine {
                            line: end.seq + 1 - base,
                            expected_seq: end.seq + 1,
                            offset: *offset,
                            reason: reason.clone(),
                            torn: *torn,
                        });
                        done = true;
                    }
                    head = end.clone();
                }
                // The first line does not follow: read the rest of the segment in order from the head.
                _ => {
                    bad = self.scan(i, &mut head, base)?;
                    done = true;
                }
            }
        }
        Ok((head, bad))
    }

    /// Reads segment `i` in order from `head` (moved to its end); gives its first bad line.
    fn scan(
        &mut self,
        i: usize,
        head: &mut Head,
        base: u64,
    ) -> Result<Option<BadLine>, LedgerError> {
        let seg: &Segment = &self.listing.segments[i];
        let io_err = |source| LedgerError::Io {
            path: seg.path.clone(),
            source,
        };
        tracing::debug!(segment = %seg.path.display(), offset = head.len, "a chunk does not follow the one before; reading the rest of the segment in order");
        let Some((reader, _)) = self.listing.reader(i, head.len).map_err(io_err)? else {
            return Err(io_err(io::Error::from(io::ErrorKind::NotFound)));
        };
        let (from_scan, on_record) = (self.from_scan, &mut *self.on_record);
        let scan = line::scan_lines_from(reader, head.clone(), base, |r, at, bytes| {
            on_record(&from_scan(r, at, bytes));
        })
        .map_err(io_err)?;
        *head = scan.head;
        Ok(scan.bad)
    }
}

/// Checks the lines that start in `start..end` of the file at `path` (`len` bytes long), each against
/// the one before it; the first against nothing but itself.
fn check_chunk<O>(
    file: &File,
    start: u64,
    end: u64,
    len: u64,
    make: &Make<'_, O>,
) -> io::Result<(Chunk, Vec<O>)> {
    // From the byte before the chunk (to see whether a line starts at `start`) to a little past it.
    let from = start.saturating_sub(1);
    let mut buf = vec![0; (end.min(len) + (64 << 10)).min(len).saturating_sub(from) as usize];
    file.read_exact_at(&mut buf, from)?;
    let mut at = if start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buf) {
            Some(nl) => nl + 1,
            None => return Ok((Chunk::Empty, Vec::new())),
        }
    };
    let mut made = Vec::new();
    let mut spans = Vec::new();
    let mut first: Option<(u64, u64, String)> = None;
    let mut head = Head::default();
    while from + (at as u64) < end {
        let offset = from + at as u64;
        // The line's end: in the buffer, or read on until its newline or the end of the file.
        let nl = loop {
            if let Some(nl) = memchr::memchr(b'\n', &buf[at..]) {
                break Some(at + nl + 1);
            }
            let have = from + buf.len() as u64;
            if have >= len {
                break None;
            }
            if buf.len() - at > MAX_LINE {
                // Longer than any record: the walk in order decides what it is.
                return Ok((Chunk::Unsure, Vec::new()));
            }
            let more = (len - have).min(1 << 20) as usize;
            let old = buf.len();
            buf.resize(old + more, 0);
            file.read_exact_at(&mut buf[old..], have)?;
        };
        let line_end = nl.unwrap_or(buf.len());
        let text = &buf[at..line_end];
        let at_end = from + line_end as u64 >= len;
        if first.is_none() {
            // The first line: checked against the seq and prev it says it follows.
            let Some((seq, prev)) = seq_and_prev(text) else {
                return Ok((Chunk::Unsure, Vec::new()));
            };
            let claimed = Head {
                seq: seq - 1,
                hash: prev.clone(),
                len: offset,
            };
            let Some(hash) = line::check_fast_with(text, &claimed, Some(&mut spans)) else {
                return Ok((Chunk::Unsure, Vec::new()));
            };
            let Some(out) = make(offset, &text[..text.len() - 1], &spans) else {
                return Ok((Chunk::Unsure, Vec::new()));
            };
            made.push(out);
            first = Some((offset, seq, prev));
            head = Head {
                seq,
                hash,
                len: offset + text.len() as u64,
            };
        } else {
            let checked = line::check_bytes(text, &head, &mut spans).and_then(|hash| {
                // A line the check passed that serde does not read: what the walk in order says of it.
                match text
                    .strip_suffix(b"\n")
                    .and_then(|body| make(offset, body, &spans))
                {
                    Some(out) => {
                        made.push(out);
                        Ok(hash)
                    }
                    None => Err(line::check_line_slow(text, &head)
                        .err()
                        .unwrap_or_else(|| BadReason::NotJson("not a record".to_owned()))),
                }
            });
            match checked {
                Ok(hash) => {
                    head = Head {
                        seq: head.seq + 1,
                        hash,
                        len: offset + text.len() as u64,
                    };
                }
                Err(reason) => {
                    let torn =
                        at_end && matches!(reason, BadReason::NoNewline | BadReason::NotJson(_));
                    return Ok((chunk_of(first, head, Some((offset, reason, torn))), made));
                }
            }
        }
        at = line_end;
    }
    Ok(match first {
        None => (Chunk::Empty, made),
        some => (chunk_of(some, head, None), made),
    })
}

fn chunk_of(
    first: Option<(u64, u64, String)>,
    end: Head,
    bad: Option<(u64, BadReason, bool)>,
) -> Chunk {
    match first {
        Some((offset, seq, prev)) => Chunk::Lines {
            offset,
            seq,
            prev,
            end,
            bad,
        },
        None => Chunk::Unsure,
    }
}

/// The seq (at least 1) and prev of a line that is a canonical record, from its bytes.
fn seq_and_prev(text: &[u8]) -> Option<(u64, String)> {
    let body = text.strip_suffix(b"\n")?;
    let fields = super::check::canonical_fields(body)?;
    let seq = fields.seq.filter(|s| *s > 0)?;
    let prev = std::str::from_utf8(&body[fields.prev?]).ok()?;
    // A prev with an escape is not a hash: the line is read again in order.
    (!prev.contains('\\')).then(|| (seq, prev.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::log::{Ledger, Rolling};
    use crate::ledger::read::verify_in_order;
    use crate::ledger::segment;
    use crate::ledger::testing;

    /// A log of `n` records in segments of about `max_bytes`.
    fn log(n: u64, max_bytes: u64) -> tempfile::TempDir {
        log_of(n, max_bytes, "é\"x")
    }

    fn log_of(n: u64, max_bytes: u64, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let rolling = Rolling {
            max_bytes,
            ..Rolling::default()
        };
        let mut log = Ledger::open_with(dir.path(), 1, rolling, testing::SCHEMA).unwrap();
        for i in 1..=n {
            log.append_batch(&[testing::draft(i, "app", None, &text.repeat(i as usize % 7))])
                .unwrap();
        }
        drop(log);
        dir
    }

    /// Verification on all cores, with chunks of several sizes, reports what the walk in order does.
    fn same_as_in_order(dir: &Path) -> String {
        let want = format!("{:?}", verify_in_order(dir).map_err(|e| e.to_string()));
        for chunk in [1, 700, CHUNK] {
            let got = format!("{:?}", verify_with(dir, chunk).map_err(|e| e.to_string()));
            assert_eq!(got, want, "chunks of {chunk}");
        }
        want
    }

    fn lines(path: &Path) -> Vec<Vec<u8>> {
        let text = std::fs::read(path).unwrap();
        text.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn write(path: &Path, lines: &[Vec<u8>]) {
        std::fs::write(path, lines.concat()).unwrap();
    }

    #[test]
    fn a_whole_log_verifies_to_the_same_head_in_any_chunks() {
        let dir = log(120, 6_000);
        let got = same_as_in_order(dir.path());
        assert!(got.starts_with("Ok(Head { seq: 120"), "{got}");
        assert!(segment::sealed(dir.path()).unwrap().len() > 3);
        let empty = tempfile::tempdir().unwrap();
        same_as_in_order(empty.path());
    }

    #[test]
    fn a_deletion_insertion_reordering_or_altered_byte_is_named_as_in_order() {
        let dir = log(40, 4_000);
        let sealed = segment::sealed(dir.path()).unwrap();
        let active = dir.path().join(segment::LOG_FILE);
        let mut files: Vec<_> = sealed.iter().map(|s| s.path.clone()).collect();
        files.push(active);
        let mut reasons = std::collections::BTreeSet::new();
        // Lines of another chain: each canonical, its hash right, its seq in place, its prev not.
        let other = log_of(40, 4_000, "other");
        let mut forged = std::collections::HashMap::new();
        for seg in segment::segments(other.path()).unwrap() {
            for line in lines(&seg.path) {
                let map: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&line).unwrap();
                forged.insert(line::seq_of(&map), line);
            }
        }
        for path in &files {
            let original = std::fs::read(path).unwrap();
            let all = lines(path);
            for i in 0..all.len() {
                let mut deleted = all.clone();
                deleted.remove(i);
                write(path, &deleted);
                reasons.insert(same_as_in_order(dir.path()));
                let mut inserted = all.clone();
                inserted.insert(i, all[(i + 1) % all.len()].clone());
                write(path, &inserted);
                reasons.insert(same_as_in_order(dir.path()));
                let seq = line::seq_of(&serde_json::from_slice(&all[i]).unwrap());
                let mut replaced = all.clone();
                replaced[i].clone_from(&forged[&seq]);
                write(path, &replaced);
                reasons.insert(same_as_in_order(dir.path()));
                if i + 1 < all.len() {
                    let mut swapped = all.clone();
                    swapped.swap(i, i + 1);
                    write(path, &swapped);
                    reasons.insert(same_as_in_order(dir.path()));
                }
            }
            for at in (0..original.len()).step_by(211) {
                let mut altered = original.clone();
                altered[at] ^= 0x01;
                std::fs::write(path, &altered).unwrap();
                reasons.insert(same_as_in_order(dir.path()));
            }
            // Valid JSON, but not canonical.
            let spaced = String::from_utf8(original.clone())
                .unwrap()
                .replacen("{\"", "{ \"", 3);
            std::fs::write(path, spaced).unwrap();
            reasons.insert(same_as_in_order(dir.path()));
            for cut in [1, 2, original.len() / 2] {
                std::fs::write(path, &original[..original.len() - cut]).unwrap();
                reasons.insert(same_as_in_order(dir.path()));
            }
            std::fs::write(path, &original).unwrap();
        }
        // A segment gone, or renamed out of its place.
        std::fs::remove_file(&files[1]).unwrap();
        reasons.insert(same_as_in_order(dir.path()));
        // Every kind of report was met.
        let all = reasons.iter().cloned().collect::<Vec<_>>().join("\n");
        for kind in ["seq is", "prev", "hash", "canonical", "missing", "Ok("] {
            assert!(all.contains(kind), "no {kind:?} in:\n{all}");
        }
    }
}
