//! Verifying a data directory's log against its checkpoints on all cores (`audit verify
//! --public-key`, and the pass of `audit export` that copies the records; issue 28). The chain check is
//! the one of ledger/verify.rs: the segments are cut into chunks of whole lines, each chunk checked on
//! its own (every line canonical, its hash right, its seq and prev following the line before it), and
//! here each line's Merkle leaf hash, the snapshots it names and what the caller extracts from it are
//! computed in the chunk too. The chunks are joined in order on the calling thread: a chunk whose
//! first line follows the head reached so far gives its records to the tree, the tiles and the
//! checkpoints ([`Check`]) as the walk in order would; any other chunk, or a line a chunk could not
//! check, is read again in order from that head with the walk's own code ([`Check::segment_each`]'s),
//! so that what is reported is exactly what the walk in order reports. At most a few chunks are held
//! at once, whatever the size of the log.
//!
//! A new module beside ledger/verify.rs (which the sink's first start extends at the same time): the
//! lead may fold the two chunk readers together.

use super::{conclude, io_err, not_there, prepare, Check, ProofError, Report};
use crate::evidence::snapshot;
use crate::ledger::line::{self, Head, MAX_LINE};
use crate::ledger::lock;
use crate::ledger::segment::Listing;
use crate::ledger::tree::hash::{self as tree_hash, Hash};
use crate::ledger::Span;
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The bytes of a chunk: enough lines (about 800 records) that a core works on it for a while, few
/// enough that the chunks held at once (two per core) stay within a few MiB.
pub const CHUNK: u64 = 1 << 20;

/// One line a chunk checked.
struct Checked {
    /// Where the line starts in its segment.
    offset: u64,
    /// Its length without the newline.
    len: usize,
    seq: u64,
    hash: String,
    leaf: Hash,
    /// The snapshots it names.
    snapshots: Vec<String>,
}

/// What one chunk holds, checked on its own.
enum Chunk<T> {
    /// No line starts in it.
    Empty,
    /// Its first line is not a record it could check: it is read again in order.
    Unsure,
    /// Its lines from the first one (at `offset`, with `seq` and `prev`), each following the one
    /// before it; `whole`: every line that starts in the chunk is there (otherwise the one after the
    /// last is read again in order, to name what is wrong with it).
    Lines {
        offset: u64,
        seq: u64,
        prev: String,
        lines: Vec<Checked>,
        /// What the caller extracted from them, one for each.
        items: Vec<T>,
        /// The bytes read, from `from`.
        buf: Vec<u8>,
        from: u64,
        whole: bool,
    },
}

/// [`super::verify_dir`] on all cores, with chunks of `chunk` bytes: `extract` is given each record's
/// line (without its newline) on any thread, and `each` what it gave, with the segment's index, where
/// the line starts there and the line, in log order, on the calling thread. As with
/// [`super::verify_dir_each`], what `each` makes of the records stands only once the whole
/// verification succeeded. Gives the report and the listing read.
///
/// # Errors
///
/// As [`super::verify_dir`], the same error the walk in order ([`super::verify_dir_each`]) gives.
pub fn verify_dir_with<T: Send>(
    data_dir: &Path,
    check: Check,
    chunk: u64,
    extract: impl Fn(&[u8]) -> T + Sync,
    each: impl FnMut(usize, T, u64, &[u8]),
) -> Result<(Report, Listing), ProofError> {
    let extract = |lines: &[&[u8]], _: &[&[Span]]| lines.iter().map(|l| extract(l)).collect();
    verify_chunks(data_dir, check, chunk, false, extract, each)
}

/// [`verify_dir_with`], with `extract` given the lines of records (without their newlines) that follow
/// one another in a segment, those of a chunk at once, on any thread, and where each member of each
/// line is (`check::canonical_fields_with`'s spans, noted by the check of the line's bytes; none for a
/// line read again in order): it gives one item for each line (a chunk for which it gives another
/// number of items is read again in order, each line on its own).
///
/// # Errors
///
/// As [`verify_dir_with`].
pub fn verify_dir_lines<T: Send>(
    data_dir: &Path,
    check: Check,
    chunk: u64,
    extract: impl Fn(&[&[u8]], &[&[Span]]) -> Vec<T> + Sync,
    each: impl FnMut(usize, T, u64, &[u8]),
) -> Result<(Report, Listing), ProofError> {
    verify_chunks(data_dir, check, chunk, true, extract, each)
}

/// [`verify_dir_lines`]; `spans`: whether the members' spans are noted (else each line's are empty).
fn verify_chunks<T: Send>(
    data_dir: &Path,
    mut check: Check,
    chunk: u64,
    spans: bool,
    extract: impl Fn(&[&[u8]], &[&[Span]]) -> Vec<T> + Sync,
    mut each: impl FnMut(usize, T, u64, &[u8]),
) -> Result<(Report, Listing), ProofError> {
    let chunk = chunk.max(1);
    let listing = prepare(data_dir, &mut check)?;
    let live = lock::is_held(data_dir);
    let segments = &listing.segments;
    // Each segment's length as listed (None: the active one is not there), or why it cannot be read.
    let lengths: Vec<io::Result<Option<u64>>> = (0..segments.len())
        .map(|i| listing.file(i).map(|f| f.map(|(_, len)| len)))
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
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let work = |&(i, start, end, len): &(usize, u64, u64, u64)| -> io::Result<Chunk<T>> {
        let (file, _) = listing
            .file(i)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        check_chunk(&file, (start, end, len), spans, &extract)
    };
    let check = crate::parallel::map_in_order(&tasks, threads, work, |results| {
        for (i, (seg, len)) in segments.iter().zip(lengths).enumerate() {
            let name = seg.path.display().to_string();
            let len = match len {
                Ok(Some(len)) => len,
                Ok(None) if check.head.seq > 0 => continue,
                Ok(None) => return Err(not_there(&seg.path)),
                Err(e) => return Err(io_err(&seg.path)(e)),
            };
            let first_seq = seg.sealed.then_some(seg.first_seq);
            let unfinished = !seg.sealed && live;
            let segment = Segment {
                listing: &listing,
                i,
                name: &name,
                extract: &extract,
            };
            let chunks = usize::try_from(len.div_ceil(chunk)).unwrap_or(usize::MAX);
            check.join(
                &segment,
                first_seq,
                unfinished,
                (0..chunks).map(|_| results.next().map(crate::parallel::Made::into_inner)),
                &mut |item, at, line| each(i, item, at, line),
            )?;
        }
        Ok(check)
    })?;
    Ok((conclude(data_dir, check)?, listing))
}

/// The segment being joined.
struct Segment<'a, E> {
    listing: &'a Listing,
    i: usize,
    name: &'a str,
    extract: &'a E,
}

impl Check {
    /// [`Check::segment_each`] from the segment's checked chunks, in order (`None`: a chunk that was
    /// not checked, read again in order).
    fn join<T, E: Fn(&[&[u8]], &[&[Span]]) -> Vec<T>>(
        &mut self,
        seg: &Segment<'_, E>,
        first_seq: Option<u64>,
        unfinished: bool,
        chunks: impl Iterator<Item = Option<io::Result<Chunk<T>>>>,
        each: &mut impl FnMut(T, u64, &[u8]),
    ) -> Result<(), ProofError> {
        let name = seg.name;
        self.segment_start(name, first_seq)?;
        let base = self.head.seq;
        let mut head = Head {
            len: 0,
            ..self.head.clone()
        };
        let mut mismatch = None;
        let mut bad = None;
        let mut done = false;
        for result in chunks {
            // Every chunk of the segment is taken, whatever happens, so the next segment starts at its own.
            if done {
                continue;
            }
            let io = |source| ProofError::Io {
                name: name.to_owned(),
                source,
            };
            let whole = match result.unwrap_or(Ok(Chunk::Unsure)).map_err(io)? {
                Chunk::Empty => continue,
                Chunk::Lines {
                    offset,
                    seq,
                    prev,
                    lines,
                    items,
                    buf,
                    from,
                    whole,
                } if offset == head.len
                    && seq == head.seq + 1
                    && prev == head.hash
                    && items.len() == lines.len() =>
                {
                    for (c, item) in lines.into_iter().zip(items) {
                        let at = usize::try_from(c.offset - from).unwrap_or(usize::MAX);
                        each(item, c.offset, &buf[at..at + c.len]);
                        self.leaf(c.leaf);
                        for digest in c.snapshots {
                            self.snapshots.entry(digest).or_insert(c.seq);
                        }
                        if mismatch.is_none() {
                            mismatch = self.reached(c.seq, &c.hash, name);
                        }
                        head = Head {
                            seq: c.seq,
                            hash: c.hash,
                            len: c.offset + c.len as u64 + 1,
                        };
                    }
                    whole
                }
                Chunk::Lines { .. } | Chunk::Unsure => false,
            };
            if whole {
                continue;
            }
            // From the head on, the rest of the segment line by line, as the walk in order reads it.
            let Some((reader, _)) = seg.listing.reader(seg.i, head.len).map_err(io)? else {
                return Err(io(io::Error::from(io::ErrorKind::NotFound)));
            };
            let extract = seg.extract;
            let scan =
                line::scan_lines_from(reader, head.clone(), base, |record, offset, bytes| {
                    if let Some(item) = extract(&[bytes], &[&[]]).pop() {
                        each(item, offset, bytes);
                    }
                    let seq = line::seq_of(&record);
                    self.leaf(tree_hash::leaf(bytes));
                    for digest in snapshot::named_by(&record) {
                        self.snapshots.entry(digest.to_owned()).or_insert(seq);
                    }
                    if mismatch.is_none() {
                        let hash = record
                            .get("hash")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("");
                        mismatch = self.reached(seq, hash, name);
                    }
                })
                .map_err(io)?;
            head = scan.head;
            bad = scan.bad;
            done = true;
        }
        super::segment_end(name, mismatch, bad, unfinished)?;
        self.head = head;
        Ok(())
    }
}

/// Checks the lines that start in `start..end` of `file` (`len` bytes long), each against the one
/// before it, the first against the seq and prev it says it follows; `noting`: whether each line's
/// spans are noted for `extract`.
fn check_chunk<T>(
    file: &File,
    (start, end, len): (u64, u64, u64),
    noting: bool,
    extract: &impl Fn(&[&[u8]], &[&[Span]]) -> Vec<T>,
) -> io::Result<Chunk<T>> {
    // From the byte before the chunk (to see whether a line starts at `start`) to a little past it.
    let from = start.saturating_sub(1);
    let upto = (end + (64 << 10)).min(len);
    let mut buf = vec![0; usize::try_from(upto - from).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut buf, from)?;
    let mut at = if start == 0 {
        0
    } else {
        match memchr::memchr(b'\n', &buf) {
            Some(nl) => nl + 1,
            None => return Ok(Chunk::Empty),
        }
    };
    let mut first: Option<(u64, u64, String)> = None;
    let mut head = Head::default();
    let mut lines = Vec::with_capacity(usize::try_from((end - start) / 512).unwrap_or(0) + 1);
    // The spans of every line, one after another, and where each line's end.
    let mut spans: Vec<Span> = Vec::new();
    let mut spans_end: Vec<usize> = Vec::new();
    let mut scratch = Vec::new();
    let mut whole = true;
    while from + (at as u64) < end {
        let offset = from + at as u64;
        // The line's end: in the buffer, or read on until its newline or the end of the file.
        let line_end = loop {
            if let Some(nl) = memchr::memchr(b'\n', &buf[at..]) {
                break at + nl + 1;
            }
            let have = from + buf.len() as u64;
            if have >= len || buf.len() - at > MAX_LINE {
                // Unfinished, or longer than any record: the walk in order names it.
                break buf.len();
            }
            let more = usize::try_from((len - have).min(1 << 20)).unwrap_or(1 << 20);
            let old = buf.len();
            buf.resize(old + more, 0);
            file.read_exact_at(&mut buf[old..], have)?;
        };
        let text = &buf[at..line_end];
        let hash = if first.is_none() {
            let Some((seq, prev)) = seq_and_prev(text) else {
                return Ok(Chunk::Unsure);
            };
            let claimed = Head {
                seq: seq - 1,
                hash: prev.clone(),
                len: offset,
            };
            let Some(hash) = line::check_fast_with(text, &claimed, noting.then_some(&mut scratch))
            else {
                return Ok(Chunk::Unsure);
            };
            first = Some((offset, seq, prev));
            head.seq = seq - 1;
            hash
        } else {
            let Some(hash) = line::check_fast_with(text, &head, noting.then_some(&mut scratch))
            else {
                whole = false;
                break;
            };
            hash
        };
        // check_fast passed: the line ends with its newline.
        let body = &text[..text.len() - 1];
        head = Head {
            seq: head.seq + 1,
            hash,
            len: offset + text.len() as u64,
        };
        lines.push(Checked {
            offset,
            len: body.len(),
            seq: head.seq,
            hash: head.hash.clone(),
            leaf: tree_hash::leaf(body),
            snapshots: snapshot::named_in(body, &scratch).unwrap_or_default(),
        });
        spans.append(&mut scratch);
        spans_end.push(spans.len());
        at = line_end;
    }
    Ok(match first {
        None => Chunk::Empty,
        Some((offset, seq, prev)) => Chunk::Lines {
            offset,
            seq,
            prev,
            items: extract(
                &lines
                    .iter()
                    .map(|c| {
                        let at = usize::try_from(c.offset - from).unwrap_or(usize::MAX);
                        &buf[at..at + c.len]
                    })
                    .collect::<Vec<_>>(),
                &spans_end
                    .iter()
                    .scan(0, |start, &end| {
                        let these = &spans[*start..end];
                        *start = end;
                        Some(these)
                    })
                    .collect::<Vec<_>>(),
            ),
            lines,
            buf,
            from,
            whole,
        },
    })
}

/// The seq (at least 1) and prev a line says it has, when it is a JSON object with both.
fn seq_and_prev(text: &[u8]) -> Option<(u64, String)> {
    #[derive(serde::Deserialize)]
    struct Link<'a> {
        seq: u64,
        #[serde(borrow)]
        prev: Cow<'a, str>,
    }
    let link: Link<'_> = serde_json::from_slice(text.strip_suffix(b"\n")?).ok()?;
    (link.seq > 0).then(|| (link.seq, link.prev.into_owned()))
}

#[cfg(test)]
mod tests;
