//! The open ledger, owned by one writer that holds the data directory's lock (lock.rs): verify the
//! chain, recover a torn tail on open, append batches (one write, one `sync_data`) with idempotency to
//! the active segment `DATA_DIR/audit.jsonl`, seal it into `DATA_DIR/segments/` at a size or age
//! (segment.rs), keep the index (index/) and the owner's derived state ([`Fold`]) as it goes. It never
//! rewrites a record: the only shrinking is cutting an unacknowledged tail (a torn last line on open,
//! or the bytes of a batch whose write or fsync failed).

use super::canonical::{hash_after, object_with_to_canonical};
use super::chores::Handoff;
use super::error::LedgerError;
use super::index;
use super::line::{BadLine, Head};
use super::lock::{self, DirLock};
use super::schema::{Entry, Filing, Fold, Reading, Schema};
use super::segment::{self, Listing, Segment, LOG_FILE};
use super::tree;
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bytes of a chunk of the log checked and parsed on one core at the first start: the records
/// parsed from it wait for the join in memory (about ten times their bytes), a few chunks per core.
const OPEN_CHUNK: u64 = 1 << 20;

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

/// The open log, owned by one writer (the only one: it holds the data directory's lock), with the
/// owner's state `F` derived from its records.
pub struct Ledger<F: Fold = ()> {
    _lock: DirLock,
    fold: F,
    dir: PathBuf,
    path: PathBuf,
    file: File,
    head: Head,
    index: index::Writer,
    segments: Vec<Segment>,
    rolling: Rolling,
    /// How the records are filed (the fold reads their lines as it files them).
    schema: Schema,
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

impl<F: Fold> std::fmt::Debug for Ledger<F> {
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

    /// [`Ledger::open_folding`] without derived state.
    ///
    /// # Errors
    ///
    /// As [`Ledger::open_folding`].
    #[cfg(test)]
    pub fn open_with(
        dir: &Path,
        now_unix: i64,
        rolling: Rolling,
        schema: Schema,
    ) -> Result<Self, LedgerError> {
        Self::open_folding(dir, now_unix, rolling, schema)
    }
}

impl<F: Fold> Ledger<F> {
    /// Opens (creating) the log in `dir` for writing, taking the data directory's lock: the sealed
    /// segments in `dir/segments/` and the active `dir/audit.jsonl`. Verifies the chain (only what follows the verified-prefix marker when the log
    /// still matches it, else all of it, rebuilding the index), moves a torn last line aside to
    /// `audit.jsonl.torn-<unix seconds>` and cuts it off. `now_unix` names the side file; `schema`
    /// says how the records are filed in the index. The derived state `F` is loaded from the marker and
    /// fed the records after it, or (no marker, or none with a saved `F`) fed every record.
    ///
    /// # Errors
    ///
    /// Another process writes the directory ([`LedgerError::Locked`]), I/O errors, and a chain broken
    /// anywhere but a torn last line ([`LedgerError::Broken`], [`LedgerError::Segment`]).
    pub fn open_folding(
        dir: &Path,
        now_unix: i64,
        rolling: Rolling,
        schema: Schema,
    ) -> Result<Self, LedgerError> {
        Self::open_chunked(dir, now_unix, rolling, schema, Some(OPEN_CHUNK), None)
    }

    /// [`Ledger::open_folding`] for an owner that runs the ledger's chores (the sink): they go to
    /// `chores` from the start ([`Ledger::hand_chores_to`]), and the tiles of the Merkle tree that
    /// opening makes are kept in memory (up to [`tree::store::DEFER_MAX`]) and written by a chore,
    /// so that creating them does not hold up the first start. Each is fsynced before it takes its
    /// name, so a crash leaves it whole or missing, and the next start makes a missing one again.
    ///
    /// # Errors
    ///
    /// As [`Ledger::open_folding`].
    pub fn open_serving(
        dir: &Path,
        now_unix: i64,
        rolling: Rolling,
        schema: Schema,
        chores: impl Fn(super::chores::Chore) + Send + 'static,
    ) -> Result<Self, LedgerError> {
        let chores: Handoff = Box::new(chores);
        Self::open_chunked(
            dir,
            now_unix,
            rolling,
            schema,
            Some(OPEN_CHUNK),
            Some(chores),
        )
    }

    /// [`Ledger::open_folding`], verifying the whole chain (when it does) in chunks of `chunk` bytes
    /// on all cores, or (`None`) in order on this thread, as before the first start went parallel:
    /// what the tests compare it with. With `chores`, as [`Ledger::open_serving`].
    fn open_chunked(
        dir: &Path,
        now_unix: i64,
        rolling: Rolling,
        schema: Schema,
        chunk: Option<u64>,
        chores: Option<Handoff>,
    ) -> Result<Self, LedgerError> {
        let since = chrono::DateTime::from_timestamp(now_unix, 0).map_or_else(String::new, |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        let lock = DirLock::acquire(dir, &lock::holder(&since))?;
        let path = dir.join(LOG_FILE);
        let io_err = |source| LedgerError::Io {
            path: path.clone(),
            source,
        };
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
        let listing = Listing::take(dir)?;
        let segments = listing.segments.clone();
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "segments listed");
        let mut start = index::Writer::start(dir, segments.clone(), schema, F::KIND);
        let mut fold = match (&start.resume, &start.saved) {
            (Some(_), Some(saved)) => F::load(saved),
            (Some(_), None) if F::KIND.is_empty() => Some(F::default()),
            _ => None,
        };
        if fold.is_none() && start.resume.is_some() {
            tracing::info!(
                kind = F::KIND,
                "the saved state does not read; verifying the whole audit log"
            );
            start = index::Writer::fresh(dir, segments.clone(), schema, F::KIND);
        }
        let mut fold = fold.take().unwrap_or_default();
        let index::Start {
            mut writer, resume, ..
        } = start;
        let verified_after = resume.as_ref().map_or(0, |r| r.head.seq);
        // Verifying everything: the tree is built from the same lines as they are verified.
        let defer = if chores.is_some() {
            tree::store::DEFER_MAX
        } else {
            0
        };
        let mut tree = tree::Writer::empty(dir);
        tree.begin_bulk();
        tree.defer(defer);
        let full = resume.is_none();
        let walked = if let (true, Some(chunk)) = (full, chunk) {
            // The first start: every line checked and parsed on all cores, then filed, folded and
            // added to the tree here in log order.
            super::verify::walk_with(
                &listing,
                chunk,
                &|offset, line, members| {
                    let read = F::read(line, members, &schema)?;
                    Some((read, offset, tree::hash::leaf(line)))
                },
                &|_, offset, line| {
                    let read = read_verified::<F>(line, &schema);
                    (read, offset, tree::hash::leaf(line))
                },
                |(read, offset, leaf)| {
                    writer.add(read.seq, *offset, &read.filing);
                    fold.learn(&read.lesson);
                    tree.push(*leaf);
                },
            )?
        } else {
            segment::walk_lines(&listing, resume.as_ref(), |_, pos, _, line| {
                let read = read_verified::<F>(line, &schema);
                writer.add(read.seq, pos.offset, &read.filing);
                fold.learn(&read.lesson);
                if full {
                    tree.push(tree::hash::leaf(line));
                }
            })?
        };
        let torn = match walked.torn {
            Some(bad) => Some(move_aside(&path, &mut file, &bad, now_unix)?),
            None => None,
        };
        let head = walked.head;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "chain verified");
        writer.finish_open();
        if full {
            // Every tile written is durable before the marker says the log was verified: a crash
            // before that means a full start again, which writes any tile missing or different. (A
            // deferred tile takes its name only once durable: one missing after a crash is made
            // again from the log by the next start's catch-up.)
            tree.end_bulk();
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "tiles fsynced");
        }
        writer.publish(&head, None, true, &|| fold.save());
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "index published");
        if !full {
            tree = catch_up_tree(dir, &listing, &head, defer, |seq| writer.offset_of(seq))?;
        }
        drop(listing);
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
            super::line::first_line(&path).and_then(|first| (schema.received)(&first))
        };
        let mut ledger = Ledger {
            _lock: lock,
            fold,
            dir: dir.to_path_buf(),
            path,
            file,
            head,
            index: writer,
            segments,
            rolling,
            schema,
            active_since,
            sealed_bytes,
            dirty: false,
            no_active: false,
            torn,
            verified_after,
            tree,
        };
        if let Some(to) = chores {
            ledger.hand_chores_to(to);
        }
        Ok(ledger)
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

    /// The state derived from the records in the log.
    pub fn fold(&self) -> &F {
        &self.fold
    }

    /// From now on, the work that need not hold up an append (writing the marker, filling the
    /// idempotency keys after a start) goes to `to`, for the owner to run one at a time in order, on a
    /// thread of its choosing (see `ledger::chores`). Until this is called, that work is done inline.
    /// The tiles a sink's open deferred ([`Ledger::open_serving`]) are written by a chore after the
    /// index's.
    pub fn hand_chores_to(&mut self, to: impl Fn(super::chores::Chore) + Send + 'static) {
        let to: Handoff = Box::new(to);
        self.index.hand_chores_to(to);
        if let Some(job) = self.tree.deferred_job() {
            self.index.run_chore(job);
        }
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
        let fold = &self.fold;
        self.index
            .publish(&self.head, Some(self.segments.clone()), true, &|| {
                fold.save()
            });
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
            let members = draft.members();
            let (line, hash) = chain(&members, seq, &head.hash)?;
            leaves.push(tree::hash::leaf(&line));
            appended.push((
                seq,
                head.len,
                draft,
                filing,
                buf.len()..buf.len() + line.len(),
            ));
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
            if let Some((_, _, first, ..)) = appended.first() {
                self.active_since = first.received();
            }
        }
        // Only now that the batch is durable do its records count, for the index and the fold; the
        // fold reads each record's line as the log holds it, as at open.
        for (seq, offset, _, filing, line) in appended {
            self.index.add(seq, offset, filing);
            self.fold
                .learn(&read_verified::<F>(&buf[line], &self.schema).lesson);
        }
        for leaf in leaves {
            self.tree.push(leaf);
        }
        self.head = head;
        self.tree.publish();
        let fold = &self.fold;
        self.index.publish(&self.head, None, false, &|| fold.save());
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
/// [`Fold::read`] of a line the chain verified, which is a JSON object; were it not read, the record
/// would be filed under no name and teach nothing (so that the log still opens).
fn read_verified<F: Fold>(line: &[u8], schema: &Schema) -> Reading<F::Lesson> {
    F::read(line, &[], schema).unwrap_or_else(|| {
        tracing::error!(
            "a verified record does not read as a JSON object; it is filed under no name"
        );
        Reading {
            seq: 0,
            filing: Filing {
                app: Cow::Borrowed(""),
                change: None,
                key: Cow::Borrowed(""),
                tags: Vec::new(),
            },
            lesson: F::Lesson::default(),
        }
    })
}

fn catch_up_tree(
    dir: &Path,
    listing: &Listing,
    head: &Head,
    defer: usize,
    offset_of: impl Fn(u64) -> Option<u64>,
) -> Result<tree::Writer, LedgerError> {
    let mut tree = tree::Writer::from_disk(dir, head.seq, true);
    tree.begin_bulk();
    tree.defer(defer);
    let from = tree.size() + 1;
    if from <= head.seq {
        tracing::info!(
            from,
            to = head.seq,
            "adding the records after the tiles on disk to the Merkle tree"
        );
    }
    segment::for_each_line(listing, from, head.seq, offset_of(from), |_, line| {
        tree.push(tree::hash::leaf(line));
    })?;
    Ok(tree)
}

/// The line (canonical bytes, no newline) and hash of `draft` as record `seq` after `prev`.
fn chain(
    fields: &serde_json::Map<String, serde_json::Value>,
    seq: u64,
    prev: &str,
) -> Result<(Vec<u8>, String), LedgerError> {
    let (seq, prev_value) = (json!(seq), json!(prev));
    let body = object_with_to_canonical(fields, &[("seq", &seq), ("prev", &prev_value)])
        .map_err(LedgerError::Canonical)?;
    let hash = hash_after(prev, &body);
    let hash_value = json!(hash);
    let line = object_with_to_canonical(
        fields,
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
mod tests;
