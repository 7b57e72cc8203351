//! The open ledger, owned by one writer: scan and verify the chain, recover a torn tail on open, append batches (one
//! write, one `sync_data`) with idempotency to the active segment `DATA_DIR/audit.jsonl`, seal it into
//! `DATA_DIR/segments/` at a size or age (segment.rs), and keep the index (index/) as it goes.
//! It never rewrites a record: the only shrinking is cutting an unacknowledged tail (a torn last line
//! on open, or the bytes of a batch whose write or fsync failed).

use super::canonical::{hash_after, object_with_to_canonical};
use super::chores::Chores;
use super::error::LedgerError;
use super::index;
use super::line::{self, BadLine, Head};
use super::schema::{Entry, Schema};
use super::segment::{self, Segment, LOG_FILE};
use super::tree;
use serde_json::json;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// When the active segment is sealed and a new one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolling {
    /// Seal once the active segment holds this many bytes (checked before each batch).
    pub max_bytes: u64,
    /// Seal once the active segment's first record is this old.
    pub max_age: Duration,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            max_bytes: 256 << 20,
            max_age: Duration::from_hours(30 * 24),
        }
    }
}

/// The open log, owned by one writer.
pub struct Ledger {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    head: Head,
    index: index::Writer,
    segments: Vec<Segment>,
    rolling: Rolling,
    /// Unix time of the first record of the active segment (its `receivedAt`), if it has one.
    active_since: Option<i64>,
    /// Bytes in sealed segments.
    sealed_bytes: u64,
    /// A failed batch left bytes past `head.len` that could not be cut yet.
    dirty: bool,
    /// Sealing renamed the active segment but could not start the next one yet.
    no_active: bool,
    torn: Option<TornTail>,
    /// The seq after which open verified the chain (0: all of it).
    verified_after: u64,
    /// The Merkle tree over the records (tiles under `DATA_DIR/tile/`).
    tree: tree::Writer,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// [`Ledger::open_with`] with the default rolling (256 MiB, 30 days), for the ledger's own tests.
    #[cfg(test)]
    pub fn open(dir: &Path, now_unix: i64) -> Result<Self, LedgerError> {
        Self::open_with(dir, now_unix, Rolling::default(), super::testing::SCHEMA)
    }

    /// Opens (creating) the log in `dir`: the sealed segments in `dir/segments/` and the active
    /// `dir/audit.jsonl`. Verifies the chain (only what follows the verified-prefix marker when the log
    /// still matches it, else all of it, rebuilding the index), moves a torn last line aside to
    /// `audit.jsonl.torn-<unix seconds>` and cuts it off. `now_unix` names the side file; `schema`
    /// says how the records are filed in the index.
    ///
    /// # Errors
    ///
    /// I/O errors, and a chain broken anywhere but a torn last line ([`LedgerError::Broken`],
    /// [`LedgerError::Segment`]).
    pub fn open_with(
        dir: &Path,
        now_unix: i64,
        rolling: Rolling,
        schema: Schema,
    ) -> Result<Self, LedgerError> {
        let path = dir.join(LOG_FILE);
        let io_err = |source| LedgerError::Io {
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
        // The file may have just been created: make its directory entry durable before any record
        // in it is acknowledged.
        segment::sync_dir(dir);
        let t = std::time::Instant::now();
        let segments = segment::segments(dir)?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "segments listed");
        let index::Start { mut writer, resume } =
            index::Writer::start(dir, segments.clone(), schema);
        let verified_after = resume.as_ref().map_or(0, |r| r.head.seq);
        // Verifying everything: the tree is built from the same lines as they are verified.
        let mut tree = tree::Writer::empty(dir);
        tree.begin_bulk();
        let full = resume.is_none();
        let walked = segment::walk_lines(&segments, resume.as_ref(), |record, pos, _, line| {
            writer.add_map(&record, pos.offset);
            if full {
                tree.push(tree::hash::leaf(line));
            }
        })?;
        let torn = match walked.torn {
            Some(bad) => Some(move_aside(&path, &mut file, &bad, now_unix)?),
            None => None,
        };
        let head = walked.head;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "chain verified");
        writer.finish_open();
        writer.publish(&head, None, true);
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "index published");
        if !full {
            tree = catch_up_tree(dir, &segments, &head, |seq| writer.offset_of(seq))?;
        }
        tree.end_bulk();
        tree.publish();
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            size = tree.size(),
            "Merkle tree ready"
        );
        let sealed_bytes = segments
            .iter()
            .filter(|s| s.sealed)
            .map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len()))
            .sum();
        let active_since = if head.len == 0 {
            None
        } else {
            line::first_line(&path).and_then(|first| (schema.received)(&first))
        };
        Ok(Ledger {
            dir: dir.to_path_buf(),
            path,
            file,
            head,
            index: writer,
            segments,
            rolling,
            active_since,
            sealed_bytes,
            dirty: false,
            no_active: false,
            torn,
            verified_after,
            tree,
        })
    }

    /// The seq after which opening verified the chain: 0 when it verified all of it, else the seq of
    /// the verified-prefix marker that the log still matched.
    pub fn verified_after(&self) -> u64 {
        self.verified_after
    }

    /// The path of the active segment, `audit.jsonl`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The head of the durable chain (`len`: the length of the active segment).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Bytes in all segments.
    pub fn total_bytes(&self) -> u64 {
        self.sealed_bytes + self.head.len
    }

    /// The torn tail recovered on open, if any.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// The Merkle tree's readers' handle: its size, root and tiles as of the last batch.
    pub fn tree(&self) -> tree::Reader {
        self.tree.reader()
    }

    /// The readers' handle: the durable head and the index, without any lock the writer waits on.
    pub fn reader(&self) -> index::Reader {
        self.index.reader()
    }

    /// The work that need not hold up an append (writing the marker, filling the idempotency keys
    /// after a start), for the owner to run on a thread of its choosing ([`Chores::run`], which ends
    /// once the ledger is dropped). Until this is called, that work is done inline.
    pub fn take_chores(&mut self) -> Chores {
        self.index.take_chores()
    }

    /// Seals the active segment when it is due by size, or by age at `now_unix`; whether it did.
    ///
    /// # Errors
    ///
    /// Sealing failed (see [`segment::seal`]); the log stays usable.
    pub fn roll_if_due(&mut self, now_unix: i64) -> Result<bool, LedgerError> {
        let by_age = self.active_since.is_some_and(|t| {
            now_unix.saturating_sub(t)
                >= i64::try_from(self.rolling.max_age.as_secs()).unwrap_or(i64::MAX)
        });
        if self.head.len == 0 || (self.head.len < self.rolling.max_bytes && !by_age) {
            return Ok(false);
        }
        self.seal()?;
        Ok(true)
    }

    /// Seconds until the active segment is due by age at `now_unix` (`None`: it is empty).
    #[cfg(test)]
    pub fn due_in(&self, now_unix: i64) -> Option<u64> {
        let since = self.active_since?;
        let age = u64::try_from(now_unix.saturating_sub(since)).unwrap_or(0);
        Some(self.rolling.max_age.as_secs().saturating_sub(age))
    }

    /// Seals the active segment and starts a new, empty `audit.jsonl`.
    fn seal(&mut self) -> Result<(), LedgerError> {
        if self.dirty {
            self.cut_back()?;
        }
        let first = self.head.seq + 1 - self.records_in_active();
        let sealed = segment::seal(&self.dir, &self.file, first)?;
        self.no_active = true;
        self.sealed_bytes += self.head.len;
        self.head.len = 0;
        self.active_since = None;
        if let Some(last) = self.segments.last_mut() {
            *last = Segment {
                path: sealed,
                first_seq: first,
                sealed: true,
            };
        }
        self.segments.push(Segment {
            path: self.path.clone(),
            first_seq: self.head.seq + 1,
            sealed: false,
        });
        tracing::info!(segment = %segment::segment_name(first), last_seq = self.head.seq, "sealed the active audit segment");
        self.start_active()?;
        self.index
            .publish(&self.head, Some(self.segments.clone()), true);
        Ok(())
    }

    /// Records in the active segment.
    fn records_in_active(&self) -> u64 {
        match self.segments.last() {
            Some(s) if self.head.len > 0 => self.head.seq + 1 - s.first_seq,
            _ => 0,
        }
    }

    /// Creates the next `audit.jsonl` after a seal.
    fn start_active(&mut self) -> Result<(), LedgerError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|source| LedgerError::Io {
                path: self.path.clone(),
                source,
            })?;
        segment::sync_dir(&self.dir);
        self.file = file;
        self.no_active = false;
        Ok(())
    }

    /// Chains the records (bodies without `seq`, `prev`, `hash`) onto the log in one write and one
    /// `sync_data`, answering one whose key is already in the log (or earlier in the batch) as a
    /// duplicate. Nothing is acknowledged unless the whole batch is durable; on failure the file is cut
    /// back to the last good length. Seals the active segment first when it is over the size limit.
    ///
    /// # Errors
    ///
    /// The write, the fsync, or cutting back a failed earlier batch failed; nothing of this batch counts.
    pub fn append_batch<E: Entry>(&mut self, drafts: &[E]) -> Result<Vec<Outcome>, LedgerError> {
        if self.no_active {
            self.start_active()?;
        }
        if self.dirty {
            self.cut_back()?;
        }
        if self.head.len >= self.rolling.max_bytes {
            if let Err(e) = self.seal() {
                if self.no_active {
                    return Err(e);
                }
                // Still the active segment: append to it, and seal on a later batch.
                tracing::error!(error = %e, "cannot seal the active audit segment; appending to it goes on");
            }
        }
        let mut head = self.head.clone();
        let mut batch_keys: HashMap<&str, u64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(drafts.len());
        let mut buf = Vec::with_capacity(drafts.len() * 1024);
        let mut appended = Vec::new();
        let mut leaves = Vec::with_capacity(drafts.len());
        let filings: Vec<_> = drafts.iter().map(Entry::filing).collect();
        for (draft, filing) in drafts.iter().zip(&filings) {
            let key: &str = &filing.key;
            let known = batch_keys
                .get(key)
                .copied()
                .or_else(|| self.index.duplicate_of(key));
            if let Some(seq) = known {
                outcomes.push(Outcome::Duplicate { seq });
                continue;
            }
            let seq = head.seq + 1;
            let (line, hash) = chain(draft, seq, &head.hash)?;
            leaves.push(tree::hash::leaf(&line));
            appended.push((seq, head.len, draft, filing));
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            head = Head {
                seq,
                hash: hash.clone(),
                len: head.len + line.len() as u64 + 1,
            };
            batch_keys.insert(key, seq);
            outcomes.push(Outcome::Appended { seq, hash });
        }
        if !buf.is_empty() {
            if let Err(source) = self.write_durably(&buf) {
                self.dirty = true;
                // Best effort now; if it fails, the next batch retries before writing anything.
                let _ = self.cut_back();
                return Err(LedgerError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        if self.head.len == 0 {
            if let Some((_, _, first, _)) = appended.first() {
                self.active_since = first.received();
            }
        }
        for (seq, offset, _, filing) in appended {
            self.index.add(seq, offset, filing);
        }
        for leaf in leaves {
            self.tree.push(leaf);
        }
        self.head = head;
        self.tree.publish();
        self.index.publish(&self.head, None, false);
        Ok(outcomes)
    }

    fn write_durably(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        self.file.sync_data()
    }

    /// Cuts the file back to the durable head, dropping the bytes of a failed batch.
    fn cut_back(&mut self) -> Result<(), LedgerError> {
        let res = self
            .file
            .set_len(self.head.len)
            .and_then(|()| self.file.sync_all());
        match res {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(source) => Err(LedgerError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// The tree after a quick start (the chain verified from the marker on): as far as the full tiles on
/// disk go, then the leaves of the records after them, read from the log (the first start after the
/// tree came in reads them all: the tree of an existing log is built then).
fn catch_up_tree(
    dir: &Path,
    segments: &[Segment],
    head: &Head,
    offset_of: impl Fn(u64) -> Option<u64>,
) -> Result<tree::Writer, LedgerError> {
    let mut tree = tree::Writer::from_disk(dir, head.seq, true);
    tree.begin_bulk();
    let from = tree.size() + 1;
    if from <= head.seq {
        tracing::info!(
            from,
            to = head.seq,
            "adding the records after the tiles on disk to the Merkle tree"
        );
    }
    segment::for_each_line(
        segments,
        from,
        head.seq,
        head.len,
        offset_of(from),
        |_, line| {
            tree.push(tree::hash::leaf(line));
        },
    )?;
    Ok(tree)
}

/// The line (canonical bytes, no newline) and hash of `draft` as record `seq` after `prev`.
fn chain(draft: &impl Entry, seq: u64, prev: &str) -> Result<(Vec<u8>, String), LedgerError> {
    let fields = draft.members();
    let (seq, prev_value) = (json!(seq), json!(prev));
    let body = object_with_to_canonical(&fields, &[("seq", &seq), ("prev", &prev_value)])
        .map_err(LedgerError::Canonical)?;
    let hash = hash_after(prev, &body);
    let hash_value = json!(hash);
    let line = object_with_to_canonical(
        &fields,
        &[("seq", &seq), ("prev", &prev_value), ("hash", &hash_value)],
    )
    .map_err(LedgerError::Canonical)?;
    Ok((line, hash))
}

/// Copies the torn bytes from `bad.offset` to a side file (fsynced), then cuts the log there.
fn move_aside(
    path: &Path,
    file: &mut File,
    bad: &BadLine,
    now_unix: i64,
) -> Result<TornTail, LedgerError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| LedgerError::Io { path: p, source }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::error::BadReason;
    use crate::ledger::line::{scan, Scan};
    use crate::ledger::testing::{self, Draft};
    use proptest::prelude::*;

    /// Record `i`, with text that needs escapes.
    fn draft(i: u64) -> Draft {
        testing::draft(i, &format!("app{}", i % 3), None, "line\nbreak \u{7f} é")
    }

    fn log_with(n: u64) -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Ledger::open(dir.path(), 1).unwrap();
        let drafts: Vec<Draft> = (1..=n).map(draft).collect();
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
        let mut log = Ledger::open(dir.path(), 2).unwrap();
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
        match Ledger::open(dir.path(), 1) {
            Err(LedgerError::Broken { line: 1, .. }) => {}
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

    /// The root of the records' lines, computed from the file alone.
    fn root_of_lines(dir: &Path) -> tree::Hash {
        let mut leaves = Vec::new();
        for seg in segment::segments(dir).unwrap() {
            let text = std::fs::read(&seg.path).unwrap_or_default();
            for l in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                leaves.push(tree::hash::leaf(l));
            }
        }
        tree::hash::root_of(&leaves)
    }

    #[test]
    fn the_tree_follows_appends_and_is_rebuilt_or_caught_up_on_open() {
        let (dir, mut log) = log_with(300);
        for i in 301..=600 {
            log.append_batch(&[draft(i)]).unwrap();
        }
        assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
        drop(log);
        // Opened again (from the marker, when one was written by now): the same tree.
        let log = Ledger::open(dir.path(), 2).unwrap();
        assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
        drop(log);
        // The tiles gone (a log written before the tree): built on open.
        std::fs::remove_dir_all(dir.path().join(tree::tile::DIR)).unwrap();
        let log = Ledger::open(dir.path(), 3).unwrap();
        assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
        assert!(dir.path().join("tile/0/001").exists());
        // A quick start (each seal writes the marker) across sealed segments: the tiles on disk, then
        // the records after them, read from where the index says the tiles end.
        let rolled = tempfile::tempdir().unwrap();
        let rolling = Rolling {
            max_bytes: 20_000,
            ..Rolling::default()
        };
        let mut log = Ledger::open_with(rolled.path(), 1, rolling, testing::SCHEMA).unwrap();
        for i in 1..=700 {
            log.append_batch(&[draft(i)]).unwrap();
        }
        drop(log);
        std::fs::remove_file(rolled.path().join("tile/0/001")).unwrap();
        let log = Ledger::open_with(rolled.path(), 2, rolling, testing::SCHEMA).unwrap();
        assert!(log.verified_after() > 0);
        assert_eq!(log.tree().head(), (700, root_of_lines(rolled.path())));
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
            let mut log = Ledger::open(dir.path(), 7).unwrap();
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
