//! The writer's side of the index: the working index (offsets, the seqs of each app and change id),
//! the idempotency keys, the journal entries of each batch, and the marker, moved at most once a
//! second (and on open and at each seal). Publishes a [`Snapshot`] after each batch for the readers.
//! Writing the marker (an fsync of the journal) and putting a start's keys into their map are chores
//! (`ledger::chores`): done at once, or by the ledger's owner.

use super::journal::{
    self, Checksum, Decoded, Marked, Marker, MarkerJob, Point, SavedFold, INDEX_DIR, JOURNAL_FILE,
    KEYS_FILE, MAGIC, NO_CHANGE,
};
use super::postings;
use super::query::{Fetcher, Reader};
use super::snapshot::{Base, Names, Snapshot};
use crate::ledger::chores::{Handoff, Queue};
use crate::ledger::line::Head;
use crate::ledger::schema::{Filing, Schema};
use crate::ledger::segment::{Resume, Segment};
use arc_swap::ArcSwap;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often, at most, the writer moves the marker forward.
const MARKER_EVERY: Duration = Duration::from_secs(1);

/// Hashes a key digest by taking its low 64 bits: it is already a SHA-256, and `SipHash` would cost
/// more than everything else in loading a million of them.
#[derive(Default)]
struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

type KeyMap = HashMap<u128, u64, std::hash::BuildHasherDefault<DigestHasher>>;

fn fill_keys(keys: &[u128]) -> KeyMap {
    let mut map = KeyMap::default();
    map.reserve(keys.len());
    for (i, key) in keys.iter().enumerate() {
        map.insert(*key, i as u64 + 1);
    }
    map
}

/// The keys of the records that were in the log at start, on their way into the map.
enum StartKeys {
    /// In the map already.
    Ready,
    /// Not yet put in the map (the owner has not taken the chores).
    Listed(Arc<Vec<u128>>),
    /// Being put in the map by a chore.
    Filling(mpsc::Receiver<KeyMap>, Arc<Vec<u128>>),
}

/// The writer's side: the working index, its journal, the idempotency keys and the marker.
pub struct Writer {
    dir: PathBuf,
    schema: Schema,
    /// The kind of the owner's derived state saved with the marker (`Fold::KIND`; empty: none).
    fold_kind: &'static str,
    journal: Option<File>,
    journal_len: u64,
    digest: Checksum,
    pending: Vec<u8>,
    /// The keys file, as the journal (open when the journal is).
    keys_file: Option<File>,
    keys_len: u64,
    keys_digest: Checksum,
    pending_keys: Vec<u8>,
    /// Where the postings stop (`postings.rs`), and the checksum of the journal after that.
    point: Option<Point>,
    tail_digest: Checksum,
    /// The postings at `point`, to be written (as a chore once the owner runs them).
    postings_due: bool,
    /// The journal's ids of the names not in the base (all of them while opening).
    app_ids: HashMap<Arc<str>, u32>,
    change_ids: HashMap<Arc<str>, u32>,
    /// The journal's ids of the tags (every one: readers find tagged records in the journal only).
    tag_ids: HashMap<Arc<str>, u32>,
    /// How many ids the journal has given out.
    app_count: u32,
    change_count: u32,
    tag_count: u32,
    /// While the log is opened: the records indexed so far, to become the base.
    building: Option<Decoded>,
    /// First 128 bits of the SHA-256 of each idempotency key → its seq (a hit is confirmed on the log).
    keys: KeyMap,
    start_keys: StartKeys,
    snap: Snapshot,
    shared: Arc<ArcSwap<Snapshot>>,
    stale: Arc<AtomicBool>,
    chores: Queue,
    /// Where the last indexed record starts (for the marker).
    last_start: u64,
    marked: Option<Instant>,
    fetcher: Fetcher,
}

/// How the log is to be opened: from a verified prefix, or from the start.
pub struct Start {
    pub writer: Writer,
    /// Where to continue verifying; `None`: the whole chain.
    pub resume: Option<Resume>,
    /// The owner's derived state as of the verified prefix (with `resume`).
    pub saved: Option<Value>,
}

impl Writer {
    fn new(
        data_dir: &Path,
        segments: Vec<Segment>,
        schema: Schema,
        fold_kind: &'static str,
    ) -> Self {
        let snap = Snapshot::empty(segments);
        Writer {
            dir: data_dir.join(INDEX_DIR),
            schema,
            fold_kind,
            journal: None,
            journal_len: 0,
            digest: Checksum::default(),
            pending: Vec::new(),
            keys_file: None,
            keys_len: 0,
            keys_digest: Checksum::default(),
            pending_keys: Vec::new(),
            point: None,
            tail_digest: Checksum::default(),
            postings_due: false,
            app_ids: HashMap::new(),
            change_ids: HashMap::new(),
            tag_ids: HashMap::new(),
            app_count: 0,
            change_count: 0,
            tag_count: 0,
            building: Some(Decoded::default()),
            keys: KeyMap::default(),
            start_keys: StartKeys::Ready,
            shared: Arc::new(ArcSwap::from_pointee(snap.clone())),
            snap,
            stale: Arc::new(AtomicBool::new(false)),
            chores: Queue::default(),
            last_start: 0,
            marked: None,
            fetcher: Fetcher::default(),
        }
    }

    /// Prepares opening the log in `data_dir` whose segments are `segments`: from the marker and the
    /// journal when both still match the log (and the marker holds a saved state of `fold_kind`,
    /// unless that is empty), else (logged) from nothing, to verify everything.
    pub fn start(
        data_dir: &Path,
        segments: Vec<Segment>,
        schema: Schema,
        fold_kind: &'static str,
    ) -> Start {
        match Writer::from_marker(data_dir, &segments, schema, fold_kind) {
            Ok(start) => start,
            Err(why) => {
                tracing::info!(reason = %why, "verifying the whole audit log and rebuilding its index");
                Writer::fresh(data_dir, segments, schema, fold_kind)
            }
        }
    }

    /// Opening from nothing: the whole chain is verified and the index built again.
    pub fn fresh(
        data_dir: &Path,
        segments: Vec<Segment>,
        schema: Schema,
        fold_kind: &'static str,
    ) -> Start {
        let mut writer = Writer::new(data_dir, segments, schema, fold_kind);
        writer.open_journal(0, 0);
        Start {
            writer,
            resume: None,
            saved: None,
        }
    }

    fn from_marker(
        data_dir: &Path,
        segments: &[Segment],
        schema: Schema,
        fold_kind: &'static str,
    ) -> Result<Start, String> {
        let dir = data_dir.join(INDEX_DIR);
        let m = journal::read_marker(&dir)?;
        let saved = match (&m.fold, fold_kind) {
            (_, "") => None,
            (Some(f), kind) if f.kind == kind => Some(f.state.clone()),
            _ => return Err(format!("the marker holds no saved {fold_kind}")),
        };
        let at = journal::check_marked_segments(&m, segments)?;
        journal::check_marked_record(&m, &segments[at].path)?;
        let t = Instant::now();
        let (bytes, digest) =
            journal::read_prefix(&dir.join(JOURNAL_FILE), m.journal_bytes, &m.journal_xxh3)?;
        let (keys, keys_digest) =
            journal::read_prefix(&dir.join(KEYS_FILE), m.keys_bytes, &m.keys_xxh3)?;
        let read = t.elapsed();
        let mut writer = Writer::new(data_dir, segments.to_vec(), schema, fold_kind);
        writer.load_journal(&bytes, &keys)?;
        tracing::debug!(
            read_ms = read.as_millis() as u64,
            load_ms = t.elapsed().saturating_sub(read).as_millis() as u64,
            bytes = bytes.len(),
            "index journal loaded"
        );
        if writer.snap.head.seq != m.seq {
            return Err(format!(
                "the journal indexes {} records, the marker {}",
                writer.snap.head.seq, m.seq
            ));
        }
        writer.digest = digest;
        writer.keys_digest = keys_digest;
        // The postings of the marked point, when they are on disk: only the tail is new since.
        if let Some(marked) = m.postings.as_ref().filter(|p| {
            p.point.journal_bytes <= m.journal_bytes
                && postings::Postings::open(&dir, &p.point).is_ok()
        }) {
            let from = usize::try_from(marked.point.journal_bytes).unwrap_or(usize::MAX);
            writer.tail_digest.update(&bytes[from.min(bytes.len())..]);
            writer.point = Some(marked.point.clone());
        }
        writer.open_journal(m.journal_bytes, m.keys_bytes);
        writer.last_start = m.start;
        let head = Head {
            seq: m.seq,
            hash: m.hash,
            len: m.end,
        };
        writer.snap.head = head.clone();
        Ok(Start {
            writer,
            resume: Some(Resume { segment: at, head }),
            saved,
        })
    }

    /// Parses the journal and the keys into the base being built.
    fn load_journal(&mut self, bytes: &[u8], keys: &[u8]) -> Result<(), String> {
        let mut decoded = journal::decode(bytes)?;
        decoded.keys = journal::decode_keys(keys)?;
        if decoded.keys.len() != decoded.offsets.len() {
            return Err(format!(
                "the index holds {} records and {} keys",
                decoded.offsets.len(),
                decoded.keys.len()
            ));
        }
        self.app_count = decoded.app_ids.len() as u32;
        self.change_count = decoded.change_ids.len() as u32;
        self.tag_count = decoded.tag_ids.len() as u32;
        self.app_ids.clone_from(&decoded.app_ids);
        self.change_ids.clone_from(&decoded.change_ids);
        self.tag_ids = std::mem::take(&mut decoded.tag_ids);
        self.last_start = decoded.offsets.last().copied().unwrap_or(0);
        self.snap.head.seq = decoded.offsets.len() as u64;
        self.building = Some(decoded);
        Ok(())
    }

    /// Ends opening: the records indexed so far become the base (seq lists by counting sort), and
    /// the records appended from now on go to the persistent delta.
    pub fn finish_open(&mut self) {
        let Some(build) = self.building.take() else {
            return;
        };
        let t = Instant::now();
        let group = |of: &[u32], count: u32, ids: HashMap<Arc<str>, u32>| {
            let count = count as usize;
            let mut starts = vec![0usize; count + 1];
            for &id in of.iter().filter(|id| **id != NO_CHANGE) {
                starts[id as usize + 1] += 1;
            }
            for i in 1..starts.len() {
                starts[i] += starts[i - 1];
            }
            let mut seqs = vec![0u64; starts[count]];
            let mut next = starts.clone();
            for (i, &id) in of.iter().enumerate() {
                if id != NO_CHANGE {
                    seqs[next[id as usize]] = i as u64 + 1;
                    next[id as usize] += 1;
                }
            }
            let ranges = starts.windows(2).map(|w| (w[0], w[1])).collect();
            Names { ids, ranges, seqs }
        };
        let apps = group(
            &build.apps,
            self.app_count,
            std::mem::take(&mut self.app_ids),
        );
        let changes = group(
            &build.changes,
            self.change_count,
            std::mem::take(&mut self.change_ids),
        );
        // The keys are only needed by the first append: a chore puts them in their map meanwhile.
        self.start_keys = StartKeys::Listed(Arc::new(build.keys));
        self.snap.base = Arc::new(Base {
            offsets: build.offsets,
            apps,
            changes,
        });
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "index base built");
    }

    /// Gives `job` to the owner (after the chores given before it), or runs it here when there is none.
    pub(crate) fn run_chore(&self, job: super::super::chores::Job) {
        self.chores.run(job);
    }

    /// From now on, chores go to the owner through `to`: the start's keys first.
    pub fn hand_chores_to(&mut self, to: Handoff) {
        self.chores.hand_to(to);
        self.write_postings_if_due();
        if let StartKeys::Listed(keys) = &self.start_keys {
            let (tx, rx) = mpsc::sync_channel(1);
            let theirs = Arc::clone(keys);
            self.chores.run(Box::new(move || {
                let _ = tx.send(fill_keys(&theirs));
            }));
            self.start_keys = StartKeys::Filling(rx, Arc::clone(keys));
        }
    }

    /// Opens the journal and the keys for appending, cut to `len` and `keys_len` bytes (0: new files).
    /// A journal that cannot be written is no reason to stop: the index is kept in memory, and rebuilt
    /// on the next start.
    fn open_journal(&mut self, len: u64, keys_len: u64) {
        let open = |name: &str, len: u64, header: &[u8]| {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.dir.join(name))?;
            f.set_len(len)?;
            f.seek(SeekFrom::End(0))?;
            if len == 0 {
                f.write_all(header)?;
            }
            Ok::<File, io::Error>(f)
        };
        let opened = std::fs::create_dir_all(&self.dir).and_then(|()| {
            Ok((
                open(JOURNAL_FILE, len, MAGIC)?,
                open(KEYS_FILE, keys_len, b"")?,
            ))
        });
        match opened {
            Ok((f, k)) => {
                if len == 0 {
                    self.point = None;
                    self.digest = Checksum::default();
                    self.digest.update(MAGIC);
                    self.journal_len = MAGIC.len() as u64;
                } else {
                    self.journal_len = len;
                }
                if keys_len == 0 {
                    self.keys_digest = Checksum::default();
                }
                self.keys_len = keys_len;
                self.journal = Some(f);
                self.keys_file = Some(k);
            }
            Err(e) => self.drop_journal(&e),
        }
    }

    fn drop_journal(&mut self, e: &io::Error) {
        tracing::warn!(path = %self.dir.display(), error = %e, "cannot write the audit index; it is kept in memory and rebuilt on the next start");
        self.journal = None;
        self.keys_file = None;
        self.point = None;
        self.send_marker(MarkerJob::Remove, false);
    }

    /// Indexes record `seq`, filed as `filing`, that starts at `offset` in its segment.
    pub fn add(&mut self, seq: u64, offset: u64, filing: &Filing<'_>) {
        let base = Arc::clone(&self.snap.base);
        let app: &str = &filing.app;
        let app_id = if let Some(&id) = base.apps.ids.get(app).or_else(|| self.app_ids.get(app)) {
            id
        } else {
            let id = self.app_count;
            self.app_count += 1;
            self.app_ids.insert(app.into(), id);
            journal::push_name(&mut self.pending, journal::TAG_APP, app);
            id
        };
        let change_id = match filing.change.as_deref() {
            None => NO_CHANGE,
            Some(c) => {
                if let Some(&id) = base.changes.ids.get(c).or_else(|| self.change_ids.get(c)) {
                    id
                } else {
                    let id = self.change_count;
                    self.change_count += 1;
                    self.change_ids.insert(c.into(), id);
                    journal::push_name(&mut self.pending, journal::TAG_CHANGE, c);
                    id
                }
            }
        };
        let tags: Vec<u32> = filing
            .tags
            .iter()
            .map(|tag| {
                if let Some(&id) = self.tag_ids.get(tag.as_ref()) {
                    id
                } else {
                    let id = self.tag_count;
                    self.tag_count += 1;
                    self.tag_ids.insert(tag.as_ref().into(), id);
                    journal::push_name(&mut self.pending, journal::TAG_TAG, tag);
                    id
                }
            })
            .collect();
        let key = journal::key_digest(&filing.key);
        journal::push_record(&mut self.pending, offset, (app_id, change_id), &tags);
        self.pending_keys.extend_from_slice(&key.to_le_bytes());
        self.snap.head.seq = seq;
        self.last_start = offset;
        if let Some(build) = self.building.as_mut() {
            build.offsets.push(offset);
            build.apps.push(app_id);
            build.changes.push(change_id);
            build.keys.push(key);
            // Keep the journal's buffer small while a long log is indexed.
            if self.pending.len() >= 1 << 20 {
                self.flush_journal();
            }
            return;
        }
        self.snap.offsets.push_back(offset);
        match self.snap.by_app.get_mut(app) {
            Some(l) => l.push_back(seq),
            None => {
                self.snap.by_app.insert(app.into(), imbl::vector![seq]);
            }
        }
        if let Some(c) = filing.change.as_deref() {
            match self.snap.by_change.get_mut(c) {
                Some(l) => l.push_back(seq),
                None => {
                    self.snap.by_change.insert(c.into(), imbl::vector![seq]);
                }
            }
        }
        self.keys.insert(key, seq);
    }

    /// Puts the start's keys into the map, if that is not done yet.
    fn start_keys_in(&mut self) {
        let filled = match std::mem::replace(&mut self.start_keys, StartKeys::Ready) {
            StartKeys::Ready => return,
            StartKeys::Listed(keys) => fill_keys(&keys),
            // An owner that stopped running chores dropped the chore: fill here instead.
            StartKeys::Filling(rx, keys) => rx.recv().unwrap_or_else(|_| fill_keys(&keys)),
        };
        // Keys added since start (none yet, or a few) join the base's.
        let later = std::mem::replace(&mut self.keys, filled);
        self.keys.extend(later);
    }

    /// The seq of the record with idempotency key `key`, if the log has one (checked on the log itself:
    /// the index only says where to look).
    pub fn duplicate_of(&mut self, key: &str) -> Option<u64> {
        self.start_keys_in();
        let seq = *self.keys.get(&journal::key_digest(key))?;
        match self.fetcher.fetch(&self.snap, seq) {
            Some(found) if (self.schema.filing)(&found.record).key == key => Some(seq),
            // A digest collision, or an index that does not match: not a duplicate (a record kept
            // twice is better than a record lost).
            _ => None,
        }
    }

    /// Makes everything indexed so far visible to readers at `head`, with the segments `segments`, and
    /// appends the batch's entries to the journal; moves the marker when it is due (or `mark`), with the
    /// owner's derived state as `fold` gives it (asked only then).
    pub fn publish(
        &mut self,
        head: &Head,
        segments: Option<Vec<Segment>>,
        mark: bool,
        fold: &dyn Fn() -> Value,
    ) {
        let sealed = segments.is_some();
        if let Some(s) = segments {
            self.snap.segments = Arc::new(s);
            // Open files may be of a segment that was renamed.
            self.fetcher = Fetcher::default();
        }
        self.snap.head = head.clone();
        self.shared.store(Arc::new(self.snap.clone()));
        self.flush_journal();
        // A new point for the postings when the log was opened without one, and at each seal; the
        // first start's are written once the owner runs chores, not while it waits to open.
        let opening = !sealed && self.point.is_none();
        if (sealed || opening) && self.journal.is_some() && head.seq > 0 {
            self.point = Some(postings::point(
                &self.digest,
                self.journal_len,
                head.seq,
                [self.app_count, self.change_count, self.tag_count],
            ));
            self.tail_digest = Checksum::default();
            self.postings_due = true;
        }
        if self.chores.owned() || !opening {
            self.write_postings_if_due();
        }
        if mark || self.marked.is_none_or(|t| t.elapsed() >= MARKER_EVERY) {
            self.write_marker(mark, fold);
        }
    }

    /// Appends the pending entries to the journal, and the pending keys to theirs.
    fn flush_journal(&mut self) {
        if self.pending.is_empty() && self.pending_keys.is_empty() {
            return;
        }
        if let (Some(f), Some(k)) = (self.journal.as_mut(), self.keys_file.as_mut()) {
            match f
                .write_all(&self.pending)
                .and_then(|()| k.write_all(&self.pending_keys))
            {
                Ok(()) => {
                    self.digest.update(&self.pending);
                    self.tail_digest.update(&self.pending);
                    self.journal_len += self.pending.len() as u64;
                    self.keys_digest.update(&self.pending_keys);
                    self.keys_len += self.pending_keys.len() as u64;
                }
                Err(e) => self.drop_journal(&e),
            }
        }
        self.pending.clear();
        self.pending_keys.clear();
    }

    /// Writes the marker for the current head: fsyncs the journal first, so the marker never claims
    /// journal bytes that a crash could lose.
    fn write_marker(&mut self, now: bool, fold: &dyn Fn() -> Value) {
        self.marked = Some(Instant::now());
        if self.stale.load(Ordering::Relaxed) {
            self.send_marker(MarkerJob::Remove, now);
            return;
        }
        let head = &self.snap.head;
        let (Some(journal), Some(keys)) = (self.journal.as_ref(), self.keys_file.as_ref()) else {
            return;
        };
        if head.seq == 0 {
            return;
        }
        let Some((seg, _)) = self.snap.position(head.seq) else {
            return;
        };
        let sealed = self
            .snap
            .segments
            .iter()
            .filter(|s| s.sealed && s.first_seq <= seg.first_seq)
            .map(|s| {
                (
                    s.first_seq,
                    std::fs::metadata(&s.path).map_or(0, |m| m.len()),
                )
            })
            .collect();
        let marker = Marker {
            version: journal::VERSION,
            seq: head.seq,
            hash: head.hash.clone(),
            segment: seg.first_seq,
            start: self.last_start,
            end: if seg.sealed {
                std::fs::metadata(&seg.path).map_or(0, |m| m.len())
            } else {
                head.len
            },
            sealed,
            journal_bytes: self.journal_len,
            journal_xxh3: self.digest.hex(),
            keys_bytes: self.keys_len,
            keys_xxh3: self.keys_digest.hex(),
            postings: self.point.clone().map(|point| Marked {
                point,
                tail_xxh3: self.tail_digest.hex(),
            }),
            fold: (!self.fold_kind.is_empty()).then(|| SavedFold {
                kind: self.fold_kind.to_owned(),
                state: fold(),
            }),
        };
        match journal.try_clone().and_then(|j| Ok([j, keys.try_clone()?])) {
            Ok(files) => self.send_marker(MarkerJob::Write(Box::new(marker), files), now),
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the verified-prefix marker; the next start verifies more");
            }
        }
    }

    /// Writes the postings of the current point, as a chore, when they are due: reads the journal's
    /// first bytes back (checked against the point's checksum) and lays them out. A failure is logged;
    /// readers stream the journal meanwhile.
    fn write_postings_if_due(&mut self) {
        let Some(point) = self.point.clone().filter(|_| self.postings_due) else {
            return;
        };
        self.postings_due = false;
        let dir = self.dir.clone();
        self.chores.run(Box::new(move || {
            let t = Instant::now();
            let written = journal::read_prefix(
                &dir.join(JOURNAL_FILE),
                point.journal_bytes,
                &point.journal_xxh3,
            )
            .and_then(|(bytes, _)| postings::write(&dir, &bytes, &point));
            match written {
                Ok(()) => tracing::debug!(
                    ms = t.elapsed().as_millis() as u64,
                    seq = point.seq,
                    "index postings written"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot write the index postings; commands read the whole index journal"),
            }
        }));
    }

    /// Writes or removes the marker as a chore, so that the journal's fsync never delays the writer's
    /// replies; `now` (on open and when sealing): after the chores given so far, here.
    fn send_marker(&mut self, job: MarkerJob, now: bool) {
        let dir = self.dir.clone();
        if now {
            self.chores.wait();
            job.run(&dir);
        } else {
            self.chores.run(Box::new(move || job.run(&dir)));
        }
    }

    /// Where record `seq` starts in its segment (bytes), once published.
    pub fn offset_of(&self, seq: u64) -> Option<u64> {
        self.snap.position(seq).map(|(_, offset)| offset)
    }

    /// The readers' handle.
    pub fn reader(&self) -> Reader {
        Reader {
            shared: Arc::clone(&self.shared),
            stale: Arc::clone(&self.stale),
            schema: self.schema,
        }
    }
}
