//! The one reader of the log's lines. Every piece of code that reads `audit.jsonl` or a sealed segment
//! reads it through here: [`scan_from`] verifies the chain line by line (opening the log, `audit
//! verify`, the proof against checkpoints, the archive's copies), [`Lines`] reads lines without
//! verifying them (a second pass over a log already verified, the index's fallback scan), and
//! [`line_at`], [`first_line`] and [`last_line`] read one line where the index or a segment's edges say
//! it is. Takes byte readers and files; gives JSON objects and the first line that breaks the chain.
//! Never writes.
//!
//! A line is a record's canonical bytes and a newline; its `hash` is that of the line before it
//! followed by its own canonical bytes without the `hash` member (canonical.rs).

use super::canonical::{chain_hash, object_to_canonical, GENESIS};
use super::check;
use super::error::{BadReason, LedgerError};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Longest line read where an index or a segment's edge says a record is (a record is at most about
/// 1 MiB, the sink's body limit being 4 MiB).
pub const MAX_LINE: usize = 8 << 20;

/// The end of a valid chain: last seq and hash, and the byte length up to and including its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub len: u64,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_owned(),
            len: 0,
        }
    }
}

/// The first line that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// The seq that line should carry.
    pub expected_seq: u64,
    /// Byte offset where the line starts (the length of the valid prefix).
    pub offset: u64,
    pub reason: BadReason,
    /// Nothing follows this line and it is unfinished (no newline) or unparsable: a crash mid-write.
    pub torn: bool,
}

impl BadLine {
    /// The error that names this line of the log at `path`.
    pub fn into_error(self, path: PathBuf) -> LedgerError {
        LedgerError::Broken {
            path,
            line: self.line,
            seq: self.expected_seq,
            reason: self.reason,
        }
    }
}

/// What a scan found: the valid prefix and, if any, the first bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub head: Head,
    pub bad: Option<BadLine>,
}

/// Scans a log from its start, verifying the chain line by line; `on_record` is given each valid
/// record with its offset.
///
/// # Errors
///
/// Reading fails.
pub fn scan(reader: impl Read, on_record: impl FnMut(Map<String, Value>, u64)) -> io::Result<Scan> {
    scan_from(
        BufReader::with_capacity(1 << 16, reader),
        Head::default(),
        0,
        on_record,
    )
}

/// Scans lines of a log from the reader's position, which is `start.len` bytes into the file, after
/// the record `start.seq` with hash `start.hash`; `base` is the seq before the file's first line (line
/// numbers count from there). `on_record` is given each valid record with its offset.
///
/// # Errors
///
/// Reading fails.
pub fn scan_from(
    reader: impl BufRead,
    start: Head,
    base: u64,
    mut on_record: impl FnMut(Map<String, Value>, u64),
) -> io::Result<Scan> {
    scan_lines_from(reader, start, base, |record, offset, _| {
        on_record(record, offset);
    })
}

/// [`scan_from`], also giving each valid record's line (its canonical bytes, without the newline):
/// what the Merkle tree hashes as the record's leaf.
///
/// # Errors
///
/// Reading fails.
pub fn scan_lines_from(
    mut reader: impl BufRead,
    start: Head,
    base: u64,
    mut on_record: impl FnMut(Map<String, Value>, u64, &[u8]),
) -> io::Result<Scan> {
    let mut head = start;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(Scan { head, bad: None });
        }
        let expected_seq = head.seq + 1;
        match check_line(&line, &head) {
            Ok((record, hash)) => {
                on_record(record, head.len, &line[..n - 1]);
                head = Head {
                    seq: expected_seq,
                    hash,
                    len: head.len + n as u64,
                };
            }
            Err(reason) => {
                let at_end = reader.fill_buf()?.is_empty();
                let torn = at_end && matches!(reason, BadReason::NoNewline | BadReason::NotJson(_));
                return Ok(Scan {
                    bad: Some(BadLine {
                        line: expected_seq - base,
                        expected_seq,
                        offset: head.len,
                        reason,
                        torn,
                    }),
                    head,
                });
            }
        }
    }
}

/// Checks one line (with its newline) against the head before it; gives the record and its hash.
/// The check is made on the bytes as they are ([`check_fast`]); only a line that fails it is parsed
/// and written again, to name the reason as before.
fn check_line(line: &[u8], head: &Head) -> Result<(Map<String, Value>, String), BadReason> {
    if let Some(hash) = check_fast(line, head) {
        if let Ok(record) = serde_json::from_slice(&line[..line.len() - 1]) {
            return Ok((record, hash));
        }
    }
    check_line_slow(line, head)
}

/// Checks one line (with its newline) against the head before it without building the record; gives
/// its hash, or the reason it breaks the chain (named by the slow check, as before). Notes in `spans`
/// where each member of the record is when the check on the bytes passed
/// (`check::canonical_fields_with`); empty when the line had to be parsed.
///
/// # Errors
///
/// The line breaks the chain after `head`.
pub fn check_bytes(
    line: &[u8],
    head: &Head,
    spans: &mut Vec<check::Span>,
) -> Result<String, BadReason> {
    if let Some(hash) = check_fast_with(line, head, Some(spans)) {
        return Ok(hash);
    }
    spans.clear();
    check_line_slow(line, head).map(|(_, hash)| hash)
}

/// The hash of `line` (with its newline) when it is the canonical record after `head` and its hash is
/// right, decided on its bytes; `None` for anything else (the slow check then names the reason).
pub(crate) fn check_fast(line: &[u8], head: &Head) -> Option<String> {
    check_fast_with(line, head, None)
}

/// [`check_fast`], noting in `spans` (when given) where each member of the record is; they are right
/// only when it gives a hash.
pub(crate) fn check_fast_with(
    line: &[u8],
    head: &Head,
    spans: Option<&mut Vec<check::Span>>,
) -> Option<String> {
    let body = line.strip_suffix(b"\n")?;
    let fields = check::canonical_fields_with(body, spans)?;
    if fields.seq? != head.seq + 1 || body[fields.prev.clone()?] != *head.hash.as_bytes() {
        return None;
    }
    let hash = &body[fields.hash.clone()?];
    let digest = check::chain_hash_of(body, &fields)?;
    if !check::is_hex_of(hash, &digest) {
        return None;
    }
    // 64 lower-case hex digits: ASCII.
    String::from_utf8(hash.to_vec()).ok()
}

/// The check as it was before issue 28: parse, write again in canonical form, hash the map. It names
/// the reason a line breaks the chain, in this order: not JSON, a missing member, seq, prev, not
/// canonical, hash.
pub(crate) fn check_line_slow(
    line: &[u8],
    head: &Head,
) -> Result<(Map<String, Value>, String), BadReason> {
    let Some(body) = line.strip_suffix(b"\n") else {
        // Report unparsable before unfinished only when it is not JSON at all: either way it is torn.
        return match serde_json::from_slice::<Map<String, Value>>(line) {
            Ok(_) => Err(BadReason::NoNewline),
            Err(e) => Err(BadReason::NotJson(e.to_string())),
        };
    };
    let record: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| BadReason::NotJson(e.to_string()))?;
    let seq = record
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(BadReason::Field("seq"))?;
    let prev = record
        .get("prev")
        .and_then(Value::as_str)
        .ok_or(BadReason::Field("prev"))?;
    let hash = record
        .get("hash")
        .and_then(Value::as_str)
        .ok_or(BadReason::Field("hash"))?;
    if seq != head.seq + 1 {
        return Err(BadReason::Seq {
            found: seq,
            expected: head.seq + 1,
        });
    }
    if prev != head.hash {
        return Err(BadReason::Prev);
    }
    if object_to_canonical(&record).ok().as_deref() != Some(body) {
        return Err(BadReason::NotCanonical);
    }
    if chain_hash(prev, &record).ok().as_deref() != Some(hash) {
        return Err(BadReason::Hash);
    }
    let hash = hash.to_owned();
    Ok((record, hash))
}

/// Whether `record`, read from the line `body` (without its newline), is intact: its line is its
/// canonical form and its `hash` is that of its content after its `prev`.
pub fn is_intact(record: &Map<String, Value>, body: &[u8]) -> bool {
    // On the bytes first (the record is the one read from them); the slow check decides the rest.
    if check::canonical_fields(body).is_some_and(|fields| {
        fields.hash.clone().is_some_and(|hash| {
            check::chain_hash_of(body, &fields).is_some_and(|d| check::is_hex_of(&body[hash], &d))
        })
    }) {
        return true;
    }
    let prev = record.get("prev").and_then(Value::as_str).unwrap_or("");
    let hash = record.get("hash").and_then(Value::as_str);
    object_to_canonical(record).ok().as_deref() == Some(body)
        && hash.is_some_and(|h| chain_hash(prev, record).ok().as_deref() == Some(h))
}

/// The `seq` member of a record read from the log.
pub fn seq_of(record: &Map<String, Value>) -> u64 {
    record.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

/// The lines of a file (or any reader), each without its newline, with the byte offset where it
/// starts; nothing is verified. A last line without a newline is given too (the caller decides what
/// an unfinished line means).
pub struct Lines<R> {
    reader: R,
    offset: u64,
    buf: Vec<u8>,
}

impl Lines<BufReader<io::Take<File>>> {
    /// The first `len` bytes of `path`, line by line.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub fn of_file(path: &Path, len: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(Lines::new(BufReader::with_capacity(
            1 << 16,
            file.take(len),
        )))
    }
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`, from its current position (offset 0).
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            offset: 0,
            buf: Vec::with_capacity(1024),
        }
    }

    /// The next line and where it starts, or `None` at the end.
    ///
    /// # Errors
    ///
    /// Reading fails.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        let at = self.offset;
        self.offset += n as u64;
        let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        Ok(Some((at, line)))
    }
}

/// The line that starts at `offset` of `file`, without its newline, into `buf` (at most [`MAX_LINE`]
/// bytes).
///
/// # Errors
///
/// Reading fails, there is no complete line there, or it is longer than [`MAX_LINE`].
pub fn line_at<'b>(file: &File, offset: u64, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read_at(&mut chunk, offset + buf.len() as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no line there",
            ));
        }
        if let Some(end) = chunk[..n].iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&chunk[..end]);
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// The record on the first line of `path`, when it has a readable one.
pub fn first_line(path: &Path) -> Option<Map<String, Value>> {
    let file = File::open(path).ok()?;
    let mut line = Vec::new();
    BufReader::new(file.take(MAX_LINE as u64))
        .read_until(b'\n', &mut line)
        .ok()?;
    serde_json::from_slice(&line).ok()
}

/// The record on the last complete line of `path`, when it has a readable one.
pub fn last_line(path: &Path) -> Option<Map<String, Value>> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(MAX_LINE as u64);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let body = tail.strip_suffix(b"\n")?;
    let from = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    serde_json::from_slice(&body[from..]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_offsets_and_the_unfinished_last_line() {
        let mut lines = Lines::new(&b"{\"a\":1}\n{}\n{\"b\""[..]);
        let mut got = Vec::new();
        while let Some((at, line)) = lines.next_line().unwrap() {
            got.push((at, line.to_vec()));
        }
        assert_eq!(
            got,
            vec![
                (0, b"{\"a\":1}".to_vec()),
                (8, b"{}".to_vec()),
                (11, b"{\"b\"".to_vec())
            ]
        );
    }

    #[test]
    fn line_at_reads_one_line_and_refuses_an_unfinished_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one\ntwo\nthr").unwrap();
        let file = File::open(&path).unwrap();
        let mut buf = Vec::new();
        assert_eq!(line_at(&file, 4, &mut buf).unwrap(), b"two");
        assert!(line_at(&file, 8, &mut buf).is_err());
        assert!(line_at(&file, 99, &mut buf).is_err());
    }
}
