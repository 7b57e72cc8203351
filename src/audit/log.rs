//! The append-only log `DATA_DIR/audit.jsonl`: scan and verify the chain, recover a torn tail on open,
//! append batches (one write, one `sync_data`) with idempotency, and read records back for queries.
//! It never rewrites a record: the only shrinking is cutting an unacknowledged tail (a torn last line
//! on open, or the bytes of a batch whose write or fsync failed).

use super::canonical::{
    chain_hash, hash_after, object_to_canonical, object_with_to_canonical, GENESIS,
};
use super::record::{Body, Record};
use super::AuditError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The log's file name inside the data directory.
pub const LOG_FILE: &str = "audit.jsonl";

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
    pub fn into_error(self, path: PathBuf) -> AuditError {
        AuditError::Broken {
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

/// Scans a log, verifying the chain line by line; `on_record` is given each valid record with its offset.
///
/// # Errors
///
/// Reading fails.
pub fn scan(reader: impl Read, on_record: impl FnMut(Map<String, Value>, u64)) -> io::Result<Scan> {
    scan_from(reader, Head::default(), on_record)
}

/// [`scan`] of a file whose first record follows `start` (its seq and hash; `start.len` is ignored):
/// how a chain continues in the next segment. Offsets and line numbers count from this file's start.
///
/// # Errors
///
/// Reading fails.
pub fn scan_from(
    reader: impl Read,
    start: Head,
    mut on_record: impl FnMut(Map<String, Value>, u64),
) -> io::Result<Scan> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let first_seq = start.seq;
    let mut head = Head { len: 0, ..start };
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
                on_record(record, head.len);
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
                        line: expected_seq - first_seq,
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
fn check_line(line: &[u8], head: &Head) -> Result<(Map<String, Value>, String), BadReason> {
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

/// What `append_batch` did with one draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Appended { seq: u64, hash: String },
    Duplicate { seq: u64 },
}

/// A torn last line found on open, moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub line: u64,
    pub bytes: u64,
    pub side_file: PathBuf,
}

/// What readers may see of the log: only what has been made durable.
#[derive(Debug, Default)]
pub struct Published {
    pub head: Head,
    /// Byte offset of record `seq` at index `seq - 1`.
    pub offsets: Vec<u64>,
}

/// The open log, owned by one writer.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: Head,
    keys: HashMap<String, u64>,
    published: Arc<RwLock<Published>>,
    /// A failed batch left bytes past `head.len` that could not be cut yet.
    dirty: bool,
    torn: Option<TornTail>,
}

impl AuditLog {
    /// Opens (creating) `DIR/audit.jsonl`, verifies the chain, moves a torn last line aside to
    /// `audit.jsonl.torn-<unix seconds>` and cuts it off, and rebuilds the idempotency index.
    /// `now_unix` names the side file.
    ///
    /// # Errors
    ///
    /// I/O errors, and a chain broken anywhere but a torn last line ([`AuditError::Broken`]).
    pub fn open(dir: &Path, now_unix: i64) -> Result<Self, AuditError> {
        let path = dir.join(LOG_FILE);
        let io_err = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err)?;
        let mut keys = HashMap::new();
        let mut offsets = Vec::new();
        let scanned = scan(&mut file, |r, off| {
            offsets.push(off);
            // Keys of records written before keys were digests are indexed by their digest key.
            if let (Some(k), Some(s)) = (super::record::index_key(&r), r.get("seq")) {
                keys.insert(k, s.as_u64().unwrap_or(0));
            }
        })
        .map_err(io_err)?;
        let torn = match scanned.bad {
            None => None,
            Some(bad) if bad.torn => Some(move_aside(&path, &mut file, &bad, now_unix)?),
            Some(bad) => return Err(bad.into_error(path)),
        };
        // The file may have just been created: make its directory entry durable before any record
        // in it is acknowledged. Some filesystems cannot fsync a directory; that is not worth refusing.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        let published = Arc::new(RwLock::new(Published {
            head: scanned.head.clone(),
            offsets,
        }));
        Ok(AuditLog {
            path,
            file,
            head: scanned.head,
            keys,
            published,
            dirty: false,
            torn,
        })
    }

    /// The path of `audit.jsonl`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head of the durable chain.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The torn tail recovered on open, if any.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// The durable head and record offsets, shared with readers.
    pub fn published(&self) -> Arc<RwLock<Published>> {
        Arc::clone(&self.published)
    }

    /// Chains the records (bodies without `seq`, `prev`, `hash`) onto the log in one write and one
    /// `sync_data`, answering one whose key is already in the log (or earlier in the batch) as a
    /// duplicate. Nothing is acknowledged unless the whole batch is durable; on failure the file is cut
    /// back to the last good length.
    ///
    /// # Errors
    ///
    /// The write, the fsync, or cutting back a failed earlier batch failed; nothing of this batch counts.
    pub fn append_batch(&mut self, drafts: &[Body]) -> Result<Vec<Outcome>, AuditError> {
        if self.dirty {
            self.cut_back()?;
        }
        let mut head = self.head.clone();
        let mut batch_keys: HashMap<&str, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(drafts.len());
        let mut buf = Vec::with_capacity(drafts.len() * 1024);
        let mut offsets = Vec::new();
        for draft in drafts {
            if let Some(&seq) = self
                .keys
                .get(draft.key())
                .or_else(|| batch_keys.get(draft.key()))
            {
                outcomes.push(Outcome::Duplicate { seq });
                continue;
            }
            let seq = head.seq + 1;
            let (line, hash) = chain(draft, seq, &head.hash)?;
            offsets.push(head.len);
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            head = Head {
                seq,
                hash: hash.clone(),
                len: head.len + line.len() as u64 + 1,
            };
            batch_keys.insert(draft.key(), seq);
            outcomes.push(Outcome::Appended { seq, hash });
        }
        if !buf.is_empty() {
            if let Err(source) = self.write_durably(&buf) {
                self.dirty = true;
                // Best effort now; if it fails, the next batch retries before writing anything.
                let _ = self.cut_back();
                return Err(AuditError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        for (key, seq) in batch_keys {
            self.keys.insert(key.to_owned(), seq);
        }
        self.head = head;
        if let Ok(mut p) = self.published.write() {
            p.head = self.head.clone();
            p.offsets.extend(offsets);
        }
        Ok(outcomes)
    }

    fn write_durably(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        self.file.sync_data()
    }

    /// Cuts the file back to the durable head, dropping the bytes of a failed batch.
    fn cut_back(&mut self) -> Result<(), AuditError> {
        let res = self
            .file
            .set_len(self.head.len)
            .and_then(|()| self.file.sync_all());
        match res {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(source) => Err(AuditError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// The line (canonical bytes, no newline) and hash of `draft` as record `seq` after `prev`.
fn chain(draft: &Body, seq: u64, prev: &str) -> Result<(Vec<u8>, String), AuditError> {
    let fields = draft.to_map();
    let (seq, prev_value) = (json!(seq), json!(prev));
    let body = object_with_to_canonical(&fields, &[("seq", &seq), ("prev", &prev_value)])
        .map_err(AuditError::Canonical)?;
    let hash = hash_after(prev, &body);
    let hash_value = json!(hash);
    let line = object_with_to_canonical(
        &fields,
        &[("seq", &seq), ("prev", &prev_value), ("hash", &hash_value)],
    )
    .map_err(AuditError::Canonical)?;
    Ok((line, hash))
}

/// Copies the torn bytes from `bad.offset` to a side file (fsynced), then cuts the log there.
fn move_aside(
    path: &Path,
    file: &mut File,
    bad: &BadLine,
    now_unix: i64,
) -> Result<TornTail, AuditError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| AuditError::Io { path: p, source }
    };
    let mut torn = Vec::new();
    file.seek(SeekFrom::Start(bad.offset))
        .and_then(|_| file.read_to_end(&mut torn))
        .map_err(io_err(path))?;
    let mut side = PathBuf::from(format!("{}.torn-{now_unix}", path.display()));
    let mut n = 1;
    while side.exists() {
        side = PathBuf::from(format!("{}.torn-{now_unix}.{n}", path.display()));
        n += 1;
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&side)
        .map_err(io_err(&side))?;
    out.write_all(&torn)
        .and_then(|()| out.sync_all())
        .map_err(io_err(&side))?;
    file.set_len(bad.offset)
        .and_then(|()| file.sync_all())
        .map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        // Make the side file's directory entry durable too; a directory that cannot be opened for
        // fsync (some filesystems) is not worth refusing to start over.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(TornTail {
        line: bad.line,
        bytes: torn.len() as u64,
        side_file: side,
    })
}

/// Reads the records of `path` between byte `start` and `end` (a durable length), in order.
///
/// # Errors
///
/// The file cannot be read, a line in the range does not parse (the range must be durable records), or
/// a record does not fit the typed model ([`AuditError::Misfit`]).
pub fn read_range(
    path: &Path,
    start: u64,
    end: u64,
    mut each: impl FnMut(Record),
) -> Result<(), AuditError> {
    let io_err = |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let reader = BufReader::with_capacity(1 << 16, file.take(end.saturating_sub(start)));
    for line in reader.split(b'\n') {
        let map: Map<String, Value> = serde_json::from_slice(&line.map_err(io_err)?)
            .map_err(|e| io_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        each(read_record(path, map)?);
    }
    Ok(())
}

/// The typed record of a verified line of the log at `path`.
///
/// # Errors
///
/// The record does not fit the typed model ([`AuditError::Misfit`], naming its seq and the member).
pub fn read_record(path: &Path, map: Map<String, Value>) -> Result<Record, AuditError> {
    let seq = map.get("seq").and_then(Value::as_u64).unwrap_or(0);
    Record::from_map(map).map_err(|misfit| AuditError::Misfit {
        path: path.to_path_buf(),
        seq,
        misfit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A guard decision keyed by `i`, with strings that need escapes.
    fn draft(i: u64) -> Body {
        let body = json!({"app": format!("app{}", i % 3), "revision": format!("k{i}"), "allowed": true,
            "at": "2026-01-02T00:00:00Z", "reason": "line\nbreak \u{7f} é"});
        crate::audit::record::guard_record(&body, "2026-01-02T00:00:01.000Z").unwrap()
    }

    fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), 1).unwrap();
        let drafts: Vec<Body> = (1..=n).map(draft).collect();
        log.append_batch(&drafts).unwrap();
        (dir, log)
    }

    fn verify(path: &Path) -> Scan {
        scan(File::open(path).unwrap(), |_, _| {}).unwrap()
    }

    #[test]
    fn appends_a_verifiable_chain() {
        let (dir, log) = log_with(5);
        assert_eq!(log.head().seq, 5);
        let s = verify(&dir.path().join(LOG_FILE));
        assert_eq!(s.bad, None);
        assert_eq!(s.head, *log.head());
    }

    #[test]
    fn duplicate_keys_write_nothing_even_within_a_batch() {
        let (dir, mut log) = log_with(2);
        let len = log.head().len;
        let out = log.append_batch(&[draft(1), draft(3), draft(3)]).unwrap();
        assert_eq!(out[0], Outcome::Duplicate { seq: 1 });
        assert!(matches!(out[1], Outcome::Appended { seq: 3, .. }));
        assert_eq!(out[2], Outcome::Duplicate { seq: 3 });
        assert!(log.head().len > len);
        drop(log);
        // The index is rebuilt on open.
        let mut log = AuditLog::open(dir.path(), 2).unwrap();
        assert_eq!(
            log.append_batch(&[draft(2)]).unwrap(),
            vec![Outcome::Duplicate { seq: 2 }]
        );
    }

    #[test]
    fn verify_names_first_broken_record() {
        let (dir, log) = log_with(4);
        let path = dir.path().join(LOG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        drop(log);
        // Delete line 2.
        let deleted = [lines[0], lines[2], lines[3]].join("\n") + "\n";
        std::fs::write(&path, deleted).unwrap();
        let bad = verify(&path).bad.unwrap();
        assert_eq!((bad.line, bad.torn), (2, false));
        assert_eq!(
            bad.reason,
            BadReason::Seq {
                found: 3,
                expected: 2
            }
        );
        // Swap lines 3 and 4.
        let swapped = [lines[0], lines[1], lines[3], lines[2]].join("\n") + "\n";
        std::fs::write(&path, swapped).unwrap();
        assert_eq!(verify(&path).bad.unwrap().line, 3);
    }

    #[test]
    fn flipping_any_byte_breaks_verification_at_its_line() {
        let (dir, log) = log_with(3);
        let path = dir.path().join(LOG_FILE);
        let original = std::fs::read(&path).unwrap();
        drop(log);
        for i in 0..original.len() {
            for mask in [0x01u8, 0x20, 0x80] {
                let mut bytes = original.clone();
                bytes[i] ^= mask;
                let line = 1 + original[..i].iter().filter(|b| **b == b'\n').count() as u64;
                let s = scan(&bytes[..], |_, _| {}).unwrap();
                let bad = s
                    .bad
                    .unwrap_or_else(|| panic!("byte {i} ^ {mask:#x} went unnoticed"));
                // A flipped newline merges two lines: the first bad line is still this one.
                assert_eq!(bad.line, line, "byte {i} ^ {mask:#x}");
            }
        }
    }

    #[test]
    fn open_refuses_a_chain_broken_in_the_middle() {
        let (dir, log) = log_with(3);
        let path = dir.path().join(LOG_FILE);
        drop(log);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replacen("app1", "app9", 1);
        std::fs::write(&path, text).unwrap();
        match AuditLog::open(dir.path(), 1) {
            Err(AuditError::Broken { line: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_batch_leaves_the_log_valid() {
        let (dir, mut log) = log_with(2);
        // Simulate bytes of a failed write past the head, then recover on the next batch.
        log.file.write_all(b"{\"partial\":").unwrap();
        log.dirty = true;
        let out = log.append_batch(&[draft(3)]).unwrap();
        assert!(matches!(out[0], Outcome::Appended { seq: 3, .. }));
        assert_eq!(verify(&dir.path().join(LOG_FILE)).bad, None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn recovery_after_any_truncation_keeps_every_complete_record(n in 1u64..6, cut in 0usize..4000) {
            let (dir, log) = log_with(n);
            let path = dir.path().join(LOG_FILE);
            let full = std::fs::read(&path).unwrap();
            drop(log);
            let cut = cut % (full.len() + 1);
            std::fs::write(&path, &full[..cut]).unwrap();
            let complete = full[..cut].iter().filter(|b| **b == b'\n').count() as u64;
            let mut log = AuditLog::open(dir.path(), 7).unwrap();
            prop_assert_eq!(log.head().seq, complete);
            let kept = log.head().len as usize;
            prop_assert_eq!(&full[..kept], &std::fs::read(&path).unwrap()[..]);
            if let Some(t) = log.torn_tail() {
                prop_assert!(kept < cut);
                prop_assert_eq!(std::fs::read(&t.side_file).unwrap(), full[kept..cut].to_vec());
            } else { prop_assert_eq!(kept, cut) }
            // The log takes appends again and verifies.
            log.append_batch(&[draft(100)]).unwrap();
            prop_assert_eq!(verify(&path).bad, None);
        }
    }
}
