//! The index of the log and the verified-prefix marker (docs/audit-log.md, "Index and start-up"), both
//! derived from the log and never trusted for integrity.
//!
//! - In memory, the writer keeps, for every record, its byte offset in its segment, and the seqs of
//!   every app and every change id, and publishes an immutable [`Snapshot`] after each batch through an
//!   [`ArcSwap`]: a reader loads the current snapshot without a lock (the persistent `imbl` structures
//!   make each snapshot an O(1) copy), so readers never hold anything the writer waits for.
//! - On disk, `DATA_DIR/index/journal` records the same in append-only binary entries (written after
//!   each batch, not fsynced), and `DATA_DIR/index/marker.json` the verified prefix: the seq, hash and
//!   place of the last record verified, the sealed segments' lengths, and the journal's length and
//!   SHA-256 at that point (the journal is fsynced before the marker is written).
//! - On start, when the log still matches the marker (the record at the marked place has the marked
//!   seq and hash and is itself intact, the sealed segments have the marked lengths) and the journal
//!   has the marked digest, the index is loaded from the journal and only the records after the marker
//!   are verified (and indexed). Otherwise the whole chain is verified and the index rebuilt.
//! - Every record a query reads through the index is checked (its seq, and the query's filter) before
//!   it is answered; if the index is found wrong, the query reads the log instead.

use super::canonical::{chain_hash, object_to_canonical};
use super::log::{self, Head};
use super::query::Filter;
use super::record::Record;
use super::segment::{self, Resume, Segment};
use super::AuditError;
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The directory of derived files inside the data directory.
pub const INDEX_DIR: &str = "index";
/// The index journal inside [`INDEX_DIR`].
pub const JOURNAL_FILE: &str = "journal";
/// The verified-prefix marker inside [`INDEX_DIR`].
pub const MARKER_FILE: &str = "marker.json";

const MAGIC: &[u8] = b"sluice-index 1\n";
const TAG_APP: u8 = b'A';
const TAG_CHANGE: u8 = b'C';
const TAG_RECORD: u8 = b'R';
/// A change id of `NO_CHANGE` in a journal entry: the record has none.
const NO_CHANGE: u32 = u32::MAX;
/// How often, at most, the writer moves the marker forward.
const MARKER_EVERY: Duration = Duration::from_secs(1);
/// Longest line read through the index (a record is at most about 1 MiB).
const MAX_LINE: usize = 8 << 20;

type SeqList = imbl::Vector<u64>;

/// The index of the records that were in the log when it was opened: plain vectors, built once (a
/// counting sort over the journal or the verified log) and shared by every snapshot.
#[derive(Default)]
struct Base {
    /// Byte offset of record `seq` in its segment, at index `seq - 1`.
    offsets: Vec<u64>,
    apps: Names,
    changes: Names,
}

/// The apps (or the change ids) of the base: the journal's id of each name, and the seqs of each id,
/// ascending, as a range of one vector.
#[derive(Default)]
struct Names {
    ids: HashMap<Arc<str>, u32>,
    ranges: Vec<(usize, usize)>,
    seqs: Vec<u64>,
}

impl Names {
    fn seqs(&self, name: &str) -> Option<&[u64]> {
        let &(a, b) = self.ranges.get(*self.ids.get(name)? as usize)?;
        (b > a).then(|| &self.seqs[a..b])
    }
}

/// What readers see: the durable head and the index of every record up to it: the base, and the
/// records appended since the log was opened, in persistent structures that the writer updates and
/// that a snapshot shares in O(1).
#[derive(Clone)]
pub struct Snapshot {
    head: Head,
    segments: Arc<Vec<Segment>>,
    base: Arc<Base>,
    /// Byte offsets of the records after the base.
    offsets: SeqList,
    by_app: imbl::HashMap<Arc<str>, SeqList>,
    by_change: imbl::HashMap<Arc<str>, SeqList>,
}

/// The seqs of one app or change: those in the base, then those appended since.
#[derive(Clone, Copy)]
struct Seqs<'s> {
    base: &'s [u64],
    delta: Option<&'s SeqList>,
}

impl Seqs<'_> {
    fn len(&self) -> usize {
        self.base.len() + self.delta.map_or(0, imbl::Vector::len)
    }

    fn get(&self, i: usize) -> Option<u64> {
        match i.checked_sub(self.base.len()) {
            None => self.base.get(i).copied(),
            Some(j) => self.delta.and_then(|d| d.get(j).copied()),
        }
    }

    /// The index of the first seq after `seq`.
    fn first_after(&self, seq: u64) -> usize {
        let in_base = self.base.partition_point(|s| *s <= seq);
        if in_base < self.base.len() {
            return in_base;
        }
        let in_delta = self.delta.map_or(0, |d| match d.binary_search(&seq) {
            Ok(i) => i + 1,
            Err(i) => i,
        });
        in_base + in_delta
    }
}

impl Snapshot {
    fn empty(segments: Vec<Segment>) -> Self {
        Snapshot {
            head: Head::default(),
            segments: Arc::new(segments),
            base: Arc::new(Base::default()),
            offsets: SeqList::new(),
            by_app: imbl::HashMap::new(),
            by_change: imbl::HashMap::new(),
        }
    }

    fn seqs<'s>(
        base: &'s Names,
        delta: &'s imbl::HashMap<Arc<str>, SeqList>,
        name: &str,
    ) -> Option<Seqs<'s>> {
        let base = base.seqs(name);
        let delta = delta.get(name);
        (base.is_some() || delta.is_some()).then(|| Seqs {
            base: base.unwrap_or(&[]),
            delta,
        })
    }

    fn app(&self, name: &str) -> Option<Seqs<'_>> {
        Self::seqs(&self.base.apps, &self.by_app, name)
    }

    fn change(&self, name: &str) -> Option<Seqs<'_>> {
        Self::seqs(&self.base.changes, &self.by_change, name)
    }

    fn offset(&self, seq: u64) -> Option<u64> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        match i.checked_sub(self.base.offsets.len()) {
            None => self.base.offsets.get(i).copied(),
            Some(j) => self.offsets.get(j).copied(),
        }
    }

    /// The segment that holds `seq` and the record's offset in it.
    fn position(&self, seq: u64) -> Option<(&Segment, u64)> {
        let offset = self.offset(seq)?;
        let i = self.segments.partition_point(|s| s.first_seq <= seq);
        Some((self.segments.get(i.checked_sub(1)?)?, offset))
    }
}

/// The fields of a record that the index keeps.
struct Entry<'a> {
    seq: u64,
    offset: u64,
    app: &'a str,
    change: Option<&'a str>,
    /// The idempotency key it is indexed under ([`super::record::index_key`]).
    key: std::borrow::Cow<'a, str>,
}

impl<'a> Entry<'a> {
    fn of_map(map: &'a Map<String, Value>, offset: u64) -> Self {
        Entry {
            seq: map.get("seq").and_then(Value::as_u64).unwrap_or(0),
            offset,
            app: map
                .get("app")
                .and_then(|a| a.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(""),
            change: map.get("changeId").and_then(Value::as_str),
            key: super::record::index_key(map).unwrap_or_default().into(),
        }
    }
}

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

fn key_digest(key: &str) -> u128 {
    let d = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

/// The verified prefix, as `index/marker.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Marker {
    version: u32,
    /// The last record verified.
    seq: u64,
    hash: String,
    /// The first seq of its segment, and its byte range there.
    segment: u64,
    start: u64,
    end: u64,
    /// The sealed segments before and including it: first seq and length in bytes.
    sealed: Vec<(u64, u64)>,
    /// The journal's length when the marker was written, and the SHA-256 of those bytes.
    journal_bytes: u64,
    journal_sha256: String,
}

/// A query to run on a query thread.
type Job = Box<dyn FnOnce() + Send>;

/// The threads that run queries: one less than the cores (at least one), at the lowest CPU priority
/// (`SCHED_IDLE`), so that readers, however many, never take CPU that the writer and the request
/// handlers want. Started on the first query. The writer never waits for them.
#[derive(Default)]
struct QueryPool {
    jobs: OnceLock<Option<mpsc::Sender<Job>>>,
}

impl QueryPool {
    /// Runs `job` on a query thread; gives it back when there is none (it then runs on the caller).
    fn run(&self, job: Job) -> Result<(), Job> {
        let jobs = self.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            let mut started = 0;
            for i in 0..cores.saturating_sub(1).max(1) {
                let rx = Arc::clone(&rx);
                let spawned = std::thread::Builder::new()
                    .name(format!("audit-query-{i}"))
                    .spawn(move || {
                        let idle = thread_priority::ThreadSchedulePolicy::Normal(
                            thread_priority::NormalThreadSchedulePolicy::Idle,
                        );
                        if let Err(e) = thread_priority::set_thread_priority_and_policy(
                            thread_priority::thread_native_id(),
                            thread_priority::ThreadPriority::Min,
                            idle,
                        ) {
                            tracing::debug!(error = ?e, "queries run at normal priority");
                        }
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            match job {
                                Ok(job) => job(),
                                Err(_) => return,
                            }
                        }
                    });
                started += usize::from(spawned.is_ok());
            }
            (started > 0).then_some(tx)
        });
        match jobs {
            Some(tx) => tx.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        }
    }
}

/// The readers' side: lock-free access to the latest snapshot, and queries.
#[derive(Clone)]
pub struct Reader {
    shared: Arc<ArcSwap<Snapshot>>,
    pool: Arc<QueryPool>,
    /// Set when a query found the index wrong: the writer stops moving the marker and removes it, so
    /// the next start verifies everything and rebuilds the index.
    stale: Arc<AtomicBool>,
}

impl Default for Reader {
    /// A reader of an empty log (no segment, head 0).
    fn default() -> Self {
        Reader {
            shared: Arc::new(ArcSwap::from_pointee(Snapshot::empty(Vec::new()))),
            pool: Arc::default(),
            stale: Arc::default(),
        }
    }
}

/// Why a record read through the index cannot be answered as it is.
enum Fetch {
    /// The index does not match the log (or the segment was sealed meanwhile): read the log instead.
    Stale,
    /// The record does not fit the typed model.
    Error(AuditError),
}

impl Reader {
    /// The durable head.
    pub fn head(&self) -> Head {
        self.shared.load().head.clone()
    }

    /// The records that pass `filter`: with `after`, the first `limit` after that seq; without it, the
    /// last `limit`; oldest first. Reads only the records it answers with (through the index), plus
    /// those it must skip when both an app and a change are asked for, or a `since`.
    ///
    /// # Errors
    ///
    /// A record does not fit the typed model, or the log cannot be read when the index was found wrong.
    pub fn query(
        &self,
        filter: &Filter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Record>, AuditError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let (me, f) = (self.clone(), filter.clone());
        let job: Job = Box::new(move || {
            let _ = tx.send(me.query_here(&f, after, limit));
        });
        match self.pool.run(job) {
            Ok(()) => match rx.recv() {
                Ok(answer) => answer,
                Err(_) => self.query_here(filter, after, limit),
            },
            Err(_) => self.query_here(filter, after, limit),
        }
    }

    /// Record `seq` as the log holds it (read through the index and checked to be that record), or
    /// `None` when it cannot be read.
    pub fn record(&self, seq: u64) -> Option<Record> {
        let snap = self.shared.load_full();
        if seq > snap.head.seq {
            return None;
        }
        LineReader::default().fetch(&snap, seq).ok()
    }

    /// [`Reader::query`], on the calling thread.
    fn query_here(
        &self,
        filter: &Filter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Record>, AuditError> {
        for _ in 0..2 {
            let snap = self.shared.load_full();
            match indexed_query(&snap, filter, after, limit) {
                Ok(records) => return Ok(records),
                Err(Fetch::Error(e)) => return Err(e),
                // Perhaps the segment was sealed after the snapshot was taken: once more, afresh.
                Err(Fetch::Stale) => {}
            }
        }
        if !self.stale.swap(true, Ordering::Relaxed) {
            tracing::warn!("the audit index does not match the log; queries read the log until the next start rebuilds it");
        }
        scan_query(&self.shared.load_full(), filter, after, limit)
    }
}

/// The seqs a query walks: one app's or change's list, or every seq.
enum Candidates<'s> {
    List(Seqs<'s>),
    All(u64),
    Nothing,
}

impl Candidates<'_> {
    fn len(&self) -> usize {
        match self {
            Candidates::List(l) => l.len(),
            Candidates::All(n) => usize::try_from(*n).unwrap_or(usize::MAX),
            Candidates::Nothing => 0,
        }
    }

    /// The index of the first candidate after `seq`.
    fn first_after(&self, seq: u64) -> usize {
        match self {
            Candidates::List(l) => l.first_after(seq),
            Candidates::All(n) => usize::try_from(seq.min(*n)).unwrap_or(usize::MAX),
            Candidates::Nothing => 0,
        }
    }

    fn get(&self, i: usize) -> Option<u64> {
        match self {
            Candidates::List(l) => l.get(i),
            Candidates::All(n) => Some(i as u64 + 1).filter(|s| s <= n),
            Candidates::Nothing => None,
        }
    }
}

fn candidates<'s>(snap: &'s Snapshot, filter: &Filter) -> Candidates<'s> {
    let app = filter.app.as_deref().map(|a| snap.app(a));
    // A change id of "" asks for records without one: those have no list of their own.
    let change = filter
        .change
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| snap.change(c));
    match (app, change) {
        (Some(None), _) | (_, Some(None)) => Candidates::Nothing,
        (Some(Some(a)), Some(Some(c))) => Candidates::List(if c.len() <= a.len() { c } else { a }),
        (Some(Some(l)), None) | (None, Some(Some(l))) => Candidates::List(l),
        (None, None) => Candidates::All(snap.head.seq),
    }
}

fn indexed_query(
    snap: &Snapshot,
    filter: &Filter,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, Fetch> {
    let cands = candidates(snap, filter);
    let mut reader = LineReader::default();
    let mut found = Vec::new();
    let mut take = |seq: u64, found: &mut Vec<Record>| -> Result<(), Fetch> {
        let record = reader.fetch(snap, seq)?;
        if filter.matches(&record) {
            found.push(record);
        } else if filter
            .app
            .as_deref()
            .is_some_and(|a| record.body.app_name() != a)
            || filter
                .change
                .as_deref()
                .is_some_and(|c| !c.is_empty() && record.body.change_id() != Some(c))
        {
            // The index listed it under an app or change it does not have.
            return Err(Fetch::Stale);
        }
        Ok(())
    };
    if let Some(a) = after {
        let mut i = cands.first_after(a);
        while found.len() < limit {
            let Some(seq) = cands.get(i) else { break };
            take(seq, &mut found)?;
            i += 1;
        }
    } else {
        let mut i = cands.len();
        while found.len() < limit && i > 0 {
            i -= 1;
            let Some(seq) = cands.get(i) else { break };
            take(seq, &mut found)?;
        }
        found.reverse();
    }
    Ok(found)
}

/// Reads single lines through the index, one open file per segment.
#[derive(Default)]
struct LineReader {
    files: HashMap<PathBuf, File>,
    buf: Vec<u8>,
}

impl LineReader {
    /// The line at `offset` of `path`, without its newline.
    fn line(&mut self, path: &Path, offset: u64) -> io::Result<&[u8]> {
        if !self.files.contains_key(path) {
            self.files.insert(path.to_path_buf(), File::open(path)?);
        }
        let file = &self.files[path];
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = file.read_at(&mut chunk, offset + self.buf.len() as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "no line there",
                ));
            }
            if let Some(end) = chunk[..n].iter().position(|b| *b == b'\n') {
                self.buf.extend_from_slice(&chunk[..end]);
                return Ok(&self.buf);
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
        }
    }

    /// Record `seq`, read where the index says it is and checked to be that record.
    fn fetch_map(
        &mut self,
        snap: &Snapshot,
        seq: u64,
    ) -> Result<(PathBuf, u64, Map<String, Value>), Fetch> {
        let (seg, offset) = snap.position(seq).ok_or(Fetch::Stale)?;
        let line_no = seq + 1 - seg.first_seq;
        // The active segment may have been sealed (renamed) since the snapshot was taken.
        let paths =
            std::iter::once(seg.path.clone()).chain((!seg.sealed).then(|| sealed_path(seg)));
        for path in paths {
            let Ok(line) = self.line(&path, offset) else {
                continue;
            };
            let Ok(map) = serde_json::from_slice::<Map<String, Value>>(line) else {
                continue;
            };
            if map.get("seq").and_then(Value::as_u64) == Some(seq) {
                return Ok((path, line_no, map));
            }
        }
        Err(Fetch::Stale)
    }

    fn fetch(&mut self, snap: &Snapshot, seq: u64) -> Result<Record, Fetch> {
        let (path, line, map) = self.fetch_map(snap, seq)?;
        log::read_record(&path, map, line).map_err(Fetch::Error)
    }
}

/// The query answered by reading the segments in order (the index is not used).
fn scan_query(
    snap: &Snapshot,
    filter: &Filter,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Record>, AuditError> {
    let mut found: VecDeque<Record> = VecDeque::new();
    let end = snap.head.seq;
    for seg in snap.segments.iter() {
        // A sealed segment is never modified: when the active one has been sealed meanwhile, read that.
        let sealed = sealed_path(seg);
        let path = if !seg.sealed && sealed.exists() {
            &sealed
        } else {
            &seg.path
        };
        let io_err = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !seg.sealed => continue,
            Err(e) => return Err(io_err(e)),
        };
        for line in BufReader::with_capacity(1 << 16, file).split(b'\n') {
            let line = line.map_err(io_err)?;
            let map: Map<String, Value> = match serde_json::from_slice(&line) {
                Ok(m) => m,
                Err(_) => break,
            };
            let seq = map.get("seq").and_then(Value::as_u64).unwrap_or(0);
            if seq > end {
                break;
            }
            if after.is_some_and(|a| seq <= a) {
                continue;
            }
            let record = log::read_record(path, map, (seq + 1).saturating_sub(seg.first_seq))?;
            if !filter.matches(&record) {
                continue;
            }
            found.push_back(record);
            if found.len() > limit {
                if after.is_some() {
                    found.pop_back();
                    return Ok(found.into());
                }
                found.pop_front();
            }
        }
    }
    Ok(found.into())
}

/// The writer's side: the working index, its journal, the idempotency keys and the marker.
pub struct Writer {
    dir: PathBuf,
    journal: Option<File>,
    journal_len: u64,
    digest: Sha256,
    pending: Vec<u8>,
    /// The journal's ids of the names not in the base (all of them while opening).
    app_ids: HashMap<Arc<str>, u32>,
    change_ids: HashMap<Arc<str>, u32>,
    /// How many ids the journal has given out.
    app_count: u32,
    change_count: u32,
    /// While the log is opened: the records indexed so far, to become the base.
    building: Option<Builder>,
    /// First 128 bits of the SHA-256 of each idempotency key → its seq (a hit is confirmed on the log).
    keys: KeyMap,
    /// The keys of the base, being put in a map by another thread while the sink starts.
    pending_keys: Option<std::thread::JoinHandle<KeyMap>>,
    snap: Snapshot,
    shared: Arc<ArcSwap<Snapshot>>,
    stale: Arc<AtomicBool>,
    pool: Arc<QueryPool>,
    marker_jobs: Option<std::sync::mpsc::Sender<MarkerJob>>,
    marker_thread: Option<std::thread::JoinHandle<()>>,
    /// Where the last indexed record starts (for the marker).
    last_start: u64,
    marked: Option<Instant>,
    lines: LineReader,
}

/// The index of the records read while opening, as plain vectors (seq `i + 1` at index `i`).
#[derive(Default)]
struct Builder {
    offsets: Vec<u64>,
    apps: Vec<u32>,
    changes: Vec<u32>,
    keys: Vec<u128>,
}

impl Builder {
    fn with_capacity(n: usize) -> Self {
        Builder {
            offsets: Vec::with_capacity(n),
            apps: Vec::with_capacity(n),
            changes: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
        }
    }
}

/// How the log is to be opened: from a verified prefix, or from the start.
pub struct Start {
    pub writer: Writer,
    /// Where to continue verifying; `None`: the whole chain.
    pub resume: Option<Resume>,
}

impl Writer {
    fn new(data_dir: &Path, segments: Vec<Segment>) -> Self {
        let snap = Snapshot::empty(segments);
        Writer {
            dir: data_dir.join(INDEX_DIR),
            journal: None,
            journal_len: 0,
            digest: Sha256::new(),
            pending: Vec::new(),
            app_ids: HashMap::new(),
            change_ids: HashMap::new(),
            app_count: 0,
            change_count: 0,
            building: Some(Builder::default()),
            keys: KeyMap::default(),
            pending_keys: None,
            shared: Arc::new(ArcSwap::from_pointee(snap.clone())),
            snap,
            stale: Arc::new(AtomicBool::new(false)),
            pool: Arc::new(QueryPool::default()),
            marker_jobs: None,
            marker_thread: None,
            last_start: 0,
            marked: None,
            lines: LineReader::default(),
        }
    }

    /// Prepares opening the log in `data_dir` whose segments are `segments`: from the marker and the
    /// journal when both still match the log, else (logged) from nothing, to verify everything.
    pub fn start(data_dir: &Path, segments: Vec<Segment>) -> Start {
        match Writer::from_marker(data_dir, &segments) {
            Ok(start) => start,
            Err(why) => {
                tracing::info!(reason = %why, "verifying the whole audit log and rebuilding its index");
                let mut writer = Writer::new(data_dir, segments);
                writer.open_journal(0);
                Start {
                    writer,
                    resume: None,
                }
            }
        }
    }

    fn from_marker(data_dir: &Path, segments: &[Segment]) -> Result<Start, String> {
        let dir = data_dir.join(INDEX_DIR);
        let text = match std::fs::read(dir.join(MARKER_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err("no marker yet".into()),
            Err(e) => return Err(format!("cannot read the marker: {e}")),
        };
        let m: Marker =
            serde_json::from_slice(&text).map_err(|e| format!("the marker does not parse: {e}"))?;
        if m.version != 1 || m.seq == 0 {
            return Err("the marker is of another version".into());
        }
        let at = check_marked_segments(&m, segments)?;
        check_marked_record(&m, &segments[at].path)?;
        let t = Instant::now();
        let journal = read_journal_prefix(&dir.join(JOURNAL_FILE), &m)?;
        let read = t.elapsed();
        let mut writer = Writer::new(data_dir, segments.to_vec());
        writer.load_journal(&journal)?;
        tracing::debug!(
            read_ms = read.as_millis() as u64,
            load_ms = t.elapsed().saturating_sub(read).as_millis() as u64,
            bytes = journal.len(),
            "index journal loaded"
        );
        if writer.snap.head.seq != m.seq {
            return Err(format!(
                "the journal indexes {} records, the marker {}",
                writer.snap.head.seq, m.seq
            ));
        }
        writer.digest.update(&journal);
        writer.open_journal(m.journal_bytes);
        writer.last_start = m.start;
        writer.snap.head = Head {
            seq: m.seq,
            hash: m.hash.clone(),
            len: m.end,
        };
        Ok(Start {
            writer,
            resume: Some(Resume {
                segment: at,
                head: Head {
                    seq: m.seq,
                    hash: m.hash,
                    len: m.end,
                },
            }),
        })
    }

    /// Parses the journal into the base being built.
    fn load_journal(&mut self, bytes: &[u8]) -> Result<(), String> {
        fn take<'b>(rest: &mut &'b [u8], n: usize) -> Result<&'b [u8], String> {
            if rest.len() < n {
                return Err("the journal is damaged (cut short)".into());
            }
            let (a, b) = rest.split_at(n);
            *rest = b;
            Ok(a)
        }
        let bad = |what: &str| format!("the journal is damaged ({what})");
        let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        let mut rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("no header"))?;
        let mut build = Builder::with_capacity(rest.len() / 41);
        while let Some((&tag, tail)) = rest.split_first() {
            rest = tail;
            match tag {
                TAG_APP | TAG_CHANGE => {
                    let len = u32_of(take(&mut rest, 4)?) as usize;
                    let name: Arc<str> = std::str::from_utf8(take(&mut rest, len)?)
                        .map_err(|_| bad("a name is not UTF-8"))?
                        .into();
                    let (ids, count) = if tag == TAG_APP {
                        (&mut self.app_ids, &mut self.app_count)
                    } else {
                        (&mut self.change_ids, &mut self.change_count)
                    };
                    ids.insert(name, *count);
                    *count += 1;
                }
                TAG_RECORD => {
                    let e = take(&mut rest, 40)?;
                    let (seq, offset) = (u64_of(&e[0..8]), u64_of(&e[8..16]));
                    let (app, change) = (u32_of(&e[16..20]), u32_of(&e[20..24]));
                    if seq != build.offsets.len() as u64 + 1 {
                        return Err(bad("seqs out of order"));
                    }
                    if app >= self.app_count || (change != NO_CHANGE && change >= self.change_count)
                    {
                        return Err(bad("an unknown name"));
                    }
                    build.offsets.push(offset);
                    build.apps.push(app);
                    build.changes.push(change);
                    build
                        .keys
                        .push(u128::from_le_bytes(e[24..40].try_into().unwrap_or([0; 16])));
                    self.last_start = offset;
                }
                _ => return Err(bad("unknown entry")),
            }
        }
        self.snap.head.seq = build.offsets.len() as u64;
        self.building = Some(build);
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
        // The keys are only needed by the first append: they are put in their map meanwhile.
        let keys = Arc::new(build.keys);
        let fill = |keys: &[u128]| {
            let mut map = KeyMap::default();
            map.reserve(keys.len());
            for (i, key) in keys.iter().enumerate() {
                map.insert(*key, i as u64 + 1);
            }
            map
        };
        let theirs = Arc::clone(&keys);
        let spawned = std::thread::Builder::new()
            .name("audit-keys".into())
            .spawn(move || fill(&theirs));
        if let Ok(handle) = spawned {
            self.pending_keys = Some(handle);
        } else {
            self.keys = fill(&keys);
        }
        self.snap.base = Arc::new(Base {
            offsets: build.offsets,
            apps,
            changes,
        });
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "index base built");
    }

    /// Opens the journal for appending, cut to `len` bytes (0: a new journal). A journal that cannot be
    /// written is no reason to stop: the index is kept in memory, and rebuilt on the next start.
    fn open_journal(&mut self, len: u64) {
        let path = self.dir.join(JOURNAL_FILE);
        let opened = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            f.set_len(len)?;
            f.seek(SeekFrom::End(0))?;
            if len == 0 {
                f.write_all(MAGIC)?;
            }
            Ok(f)
        });
        match opened {
            Ok(f) => {
                if len == 0 {
                    self.digest = Sha256::new();
                    self.digest.update(MAGIC);
                    self.journal_len = MAGIC.len() as u64;
                } else {
                    self.journal_len = len;
                }
                self.journal = Some(f);
            }
            Err(e) => self.drop_journal(&e),
        }
    }

    fn drop_journal(&mut self, e: &io::Error) {
        tracing::warn!(path = %self.dir.display(), error = %e, "cannot write the audit index; it is kept in memory and rebuilt on the next start");
        self.journal = None;
        self.send_marker(MarkerJob::Remove, false);
    }

    /// Indexes a verified record (as read from the log) that starts at `offset` in its segment.
    pub fn add_map(&mut self, map: &Map<String, Value>, offset: u64) {
        self.add(&Entry::of_map(map, offset));
    }

    /// Indexes a record just appended.
    pub(crate) fn add_appended(&mut self, seq: u64, offset: u64, body: &super::record::Body) {
        self.add(&Entry {
            seq,
            offset,
            app: body.app_name(),
            change: body.change_id(),
            key: body.key().into(),
        });
    }

    fn add(&mut self, e: &Entry<'_>) {
        let base = Arc::clone(&self.snap.base);
        let app_id = if let Some(&id) = base.apps.ids.get(e.app).or_else(|| self.app_ids.get(e.app))
        {
            id
        } else {
            let id = self.app_count;
            self.app_count += 1;
            self.app_ids.insert(e.app.into(), id);
            push_name(&mut self.pending, TAG_APP, e.app);
            id
        };
        let change_id = match e.change {
            None => NO_CHANGE,
            Some(c) => {
                if let Some(&id) = base.changes.ids.get(c).or_else(|| self.change_ids.get(c)) {
                    id
                } else {
                    let id = self.change_count;
                    self.change_count += 1;
                    self.change_ids.insert(c.into(), id);
                    push_name(&mut self.pending, TAG_CHANGE, c);
                    id
                }
            }
        };
        let key = key_digest(&e.key);
        self.pending.push(TAG_RECORD);
        self.pending.extend_from_slice(&e.seq.to_le_bytes());
        self.pending.extend_from_slice(&e.offset.to_le_bytes());
        self.pending.extend_from_slice(&app_id.to_le_bytes());
        self.pending.extend_from_slice(&change_id.to_le_bytes());
        self.pending.extend_from_slice(&key.to_le_bytes());
        self.snap.head.seq = e.seq;
        self.last_start = e.offset;
        if let Some(build) = self.building.as_mut() {
            build.offsets.push(e.offset);
            build.apps.push(app_id);
            build.changes.push(change_id);
            build.keys.push(key);
            // Keep the journal's buffer small while a long log is indexed.
            if self.pending.len() >= 1 << 20 {
                self.flush_journal();
            }
            return;
        }
        self.snap.offsets.push_back(e.offset);
        match self.snap.by_app.get_mut(e.app) {
            Some(l) => l.push_back(e.seq),
            None => {
                self.snap.by_app.insert(e.app.into(), imbl::vector![e.seq]);
            }
        }
        if let Some(c) = e.change {
            match self.snap.by_change.get_mut(c) {
                Some(l) => l.push_back(e.seq),
                None => {
                    self.snap.by_change.insert(c.into(), imbl::vector![e.seq]);
                }
            }
        }
        self.keys.insert(key, e.seq);
    }

    /// The seq of the record with idempotency key `key`, if the log has one (checked on the log itself:
    /// the index only says where to look).
    pub fn duplicate_of(&mut self, key: &str) -> Option<u64> {
        if let Some(handle) = self.pending_keys.take() {
            // Keys added since start (none yet, or a few) join the base's.
            let later = std::mem::take(&mut self.keys);
            self.keys = handle.join().unwrap_or_default();
            self.keys.extend(later);
        }
        let seq = *self.keys.get(&key_digest(key))?;
        match self.lines.fetch_map(&self.snap, seq) {
            Ok((_, _, map)) if super::record::index_key(&map).as_deref() == Some(key) => Some(seq),
            // A digest collision, or an index that does not match: not a duplicate (a record kept
            // twice is better than a record lost).
            _ => None,
        }
    }

    /// Makes everything indexed so far visible to readers at `head`, with the segments `segments`, and
    /// appends the batch's entries to the journal; moves the marker when it is due (or `mark`).
    pub fn publish(&mut self, head: &Head, segments: Option<Vec<Segment>>, mark: bool) {
        if let Some(s) = segments {
            self.snap.segments = Arc::new(s);
            // Open files may be of a segment that was renamed.
            self.lines = LineReader::default();
        }
        self.snap.head = head.clone();
        self.shared.store(Arc::new(self.snap.clone()));
        self.flush_journal();
        if mark || self.marked.is_none_or(|t| t.elapsed() >= MARKER_EVERY) {
            self.write_marker(mark);
        }
    }

    /// Appends the pending entries to the journal.
    fn flush_journal(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(f) = self.journal.as_mut() {
            match f.write_all(&self.pending) {
                Ok(()) => {
                    self.digest.update(&self.pending);
                    self.journal_len += self.pending.len() as u64;
                }
                Err(e) => self.drop_journal(&e),
            }
        }
        self.pending.clear();
    }

    /// Writes the marker for the current head: fsyncs the journal first, so the marker never claims
    /// journal bytes that a crash could lose.
    fn write_marker(&mut self, now: bool) {
        self.marked = Some(Instant::now());
        if self.stale.load(Ordering::Relaxed) {
            self.send_marker(MarkerJob::Remove, now);
            return;
        }
        let head = &self.snap.head;
        let Some(journal) = self.journal.as_ref() else {
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
            version: 1,
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
            journal_sha256: super::canonical::to_hex(&self.digest.clone().finalize()),
        };
        match journal.try_clone() {
            Ok(journal) => self.send_marker(MarkerJob::Write(marker, journal), now),
            Err(e) => {
                tracing::warn!(error = %e, "cannot write the verified-prefix marker; the next start verifies more");
            }
        }
    }

    /// Hands a marker job to the marker thread (started on first use; inline if it cannot be), so that
    /// the journal's fsync never delays the writer's replies; `now` (on open and when sealing): waits
    /// for what is queued, then runs it here.
    fn send_marker(&mut self, job: MarkerJob, now: bool) {
        if now {
            self.marker_jobs = None;
            if let Some(handle) = self.marker_thread.take() {
                let _ = handle.join();
            }
            job.run(&self.dir);
            return;
        }
        if self.marker_jobs.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<MarkerJob>();
            let dir = self.dir.clone();
            if let Ok(handle) = std::thread::Builder::new()
                .name("audit-marker".into())
                .spawn(move || {
                    for job in rx {
                        job.run(&dir);
                    }
                })
            {
                self.marker_jobs = Some(tx);
                self.marker_thread = Some(handle);
            }
        }
        match &self.marker_jobs {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
                    job.run(&self.dir);
                }
            }
            None => job.run(&self.dir),
        }
    }

    /// The readers' handle.
    pub fn reader(&self) -> Reader {
        Reader {
            shared: Arc::clone(&self.shared),
            pool: Arc::clone(&self.pool),
            stale: Arc::clone(&self.stale),
        }
    }
}

impl Drop for Writer {
    /// Waits for the marker thread to write what it was given.
    fn drop(&mut self) {
        self.marker_jobs = None;
        if let Some(handle) = self.marker_thread.take() {
            let _ = handle.join();
        }
    }
}

/// What the marker thread does.
enum MarkerJob {
    /// Fsyncs the journal, then writes the marker (to a temporary file renamed over it).
    Write(Marker, File),
    /// Removes the marker: the index was found not to match the log.
    Remove,
}

impl MarkerJob {
    fn run(self, dir: &Path) {
        let path = dir.join(MARKER_FILE);
        let written = match self {
            MarkerJob::Remove => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            MarkerJob::Write(marker, journal) => {
                let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
                journal.sync_data().and_then(|()| {
                    let text = serde_json::to_vec(&marker).map_err(io::Error::other)?;
                    std::fs::write(&tmp, text)?;
                    std::fs::rename(&tmp, &path)
                })
            }
        };
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the verified-prefix marker; the next start verifies more");
        }
    }
}

/// Where segment `seg` is once sealed.
fn sealed_path(seg: &Segment) -> PathBuf {
    if seg.sealed {
        return seg.path.clone();
    }
    let dir = seg.path.parent().unwrap_or(Path::new("."));
    dir.join(segment::SEGMENTS_DIR)
        .join(segment::segment_name(seg.first_seq))
}

fn push_name(out: &mut Vec<u8>, tag: u8, name: &str) {
    out.push(tag);
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// Checks that the sealed segments up to the marked one are those the marker knew, at the same
/// lengths; gives the index of the marked segment.
fn check_marked_segments(m: &Marker, segments: &[Segment]) -> Result<usize, String> {
    let at = segments
        .iter()
        .position(|s| s.first_seq == m.segment)
        .ok_or_else(|| {
            format!(
                "the marked segment {} is gone",
                segment::segment_name(m.segment)
            )
        })?;
    let sealed: Vec<(u64, u64)> = segments[..=at]
        .iter()
        .filter(|s| s.sealed && s.first_seq <= m.segment)
        .map(|s| {
            (
                s.first_seq,
                std::fs::metadata(&s.path).map_or(0, |md| md.len()),
            )
        })
        .collect();
    // The marked segment may have been sealed after the marker was written.
    let expected: Vec<(u64, u64)> = m.sealed.clone();
    let same = if segments[at].sealed && !expected.iter().any(|(f, _)| *f == m.segment) {
        sealed.len() == expected.len() + 1 && sealed[..expected.len()] == expected[..]
    } else {
        sealed == expected
    };
    if !same {
        return Err("the sealed segments are not those the marker knew".into());
    }
    Ok(at)
}

/// Checks that the marked record is still where the marker says, with the marked seq and hash, and
/// intact (canonical, and its hash that of its content).
fn check_marked_record(m: &Marker, path: &Path) -> Result<(), String> {
    let len = m
        .end
        .checked_sub(m.start)
        .filter(|l| *l > 0 && *l <= MAX_LINE as u64)
        .ok_or("the marker's range is invalid")?;
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut line = vec![0u8; len as usize];
    file.read_exact_at(&mut line, m.start)
        .map_err(|_| "the log is shorter than the marker says".to_owned())?;
    let body = line
        .strip_suffix(b"\n")
        .ok_or("the marked record has changed")?;
    let map: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| "the marked record has changed".to_owned())?;
    let prev = map.get("prev").and_then(Value::as_str).unwrap_or("");
    let intact = map.get("seq").and_then(Value::as_u64) == Some(m.seq)
        && map.get("hash").and_then(Value::as_str) == Some(m.hash.as_str())
        && object_to_canonical(&map).ok().as_deref() == Some(body)
        && chain_hash(prev, &map).ok().as_deref() == Some(m.hash.as_str());
    if intact {
        Ok(())
    } else {
        Err("the marked record has changed".into())
    }
}

/// The first `journal_bytes` of the journal, when their SHA-256 is the marked one.
fn read_journal_prefix(path: &Path, m: &Marker) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|e| format!("no index journal: {e}"))?;
    let mut bytes = Vec::new();
    file.take(m.journal_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the index journal: {e}"))?;
    if bytes.len() as u64 != m.journal_bytes
        || super::canonical::to_hex(&Sha256::digest(&bytes)) != m.journal_sha256
    {
        return Err("the index journal is not the one the marker knew".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::log::{AuditLog, Outcome, Rolling};
    use super::super::record::{guard_record, Body};
    use super::*;
    use serde_json::json;

    /// A guard decision keyed by `i`, of app `app{i % 3}` and change `CHG-{i % 5}` (none when 4).
    fn draft(i: u64) -> Body {
        let change = (i % 5 != 4).then(|| format!("CHG-{}", i % 5));
        let body = json!({"app": format!("app{}", i % 3), "changeId": change, "revision": format!("r{i}"),
            "allowed": true, "at": "2026-01-02T00:00:00Z", "reason": "inside window"});
        guard_record(&body, "2026-01-02T00:00:01.000Z").unwrap()
    }

    fn small() -> Rolling {
        Rolling {
            max_bytes: 2000,
            ..Rolling::default()
        }
    }

    /// A log of `n` records, one batch of three at a time, rolling at 2000 bytes.
    fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open_with(dir.path(), 1, small()).unwrap();
        let drafts: Vec<Body> = (1..=n).map(draft).collect();
        for batch in drafts.chunks(3) {
            log.append_batch(batch).unwrap();
        }
        (dir, log)
    }

    /// What a query must answer, from every record of the log.
    fn expected(dir: &Path, f: &Filter, after: Option<u64>, limit: usize) -> Vec<u64> {
        let all: Vec<u64> = super::super::read_verified_for_tests(dir)
            .into_iter()
            .filter(|r| f.matches(r) && after.is_none_or(|a| r.seq > a))
            .map(|r| r.seq)
            .collect();
        match after {
            Some(_) => all.into_iter().take(limit).collect(),
            None => all[all.len().saturating_sub(limit)..].to_vec(),
        }
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn filters() -> Vec<Filter> {
        let f = |app: Option<&str>, change: Option<&str>| Filter {
            app: app.map(Into::into),
            change: change.map(Into::into),
            since: None,
        };
        vec![
            f(None, None),
            f(Some("app1"), None),
            f(None, Some("CHG-2")),
            f(Some("app2"), Some("CHG-1")),
            f(None, Some("")),
            f(Some("nope"), None),
            f(None, Some("CHG-9")),
        ]
    }

    #[test]
    fn queries_stop_at_limit_and_page_by_after_across_segments() {
        let (dir, log) = log_with(60);
        assert!(
            std::fs::read_dir(dir.path().join("segments"))
                .unwrap()
                .count()
                >= 3,
            "the log rolled"
        );
        let reader = log.reader();
        for f in filters() {
            for limit in [1, 4, 100] {
                assert_eq!(
                    seqs(&reader.query(&f, None, limit).unwrap()),
                    expected(dir.path(), &f, None, limit),
                    "{f:?} limit {limit}"
                );
                // Paging forward by the last seq seen gives every match once, in order.
                let mut paged = Vec::new();
                let mut after = 0;
                loop {
                    let page = seqs(&reader.query(&f, Some(after), limit).unwrap());
                    assert!(page.len() <= limit);
                    assert_eq!(page, expected(dir.path(), &f, Some(after), limit));
                    let Some(&last) = page.last() else { break };
                    paged.extend(page);
                    after = last;
                }
                assert_eq!(
                    paged,
                    expected(dir.path(), &f, Some(0), usize::MAX),
                    "{f:?}"
                );
            }
        }
    }

    #[test]
    fn the_next_start_verifies_only_what_follows_the_marker() {
        let (dir, log) = log_with(20);
        drop(log);
        // The writer moves the marker at most once a second, and on open and when sealing.
        let mut log = AuditLog::open_with(dir.path(), 2, small()).unwrap();
        assert!(
            (1..=20).contains(&log.verified_after()),
            "{}",
            log.verified_after()
        );
        assert_eq!(log.head().seq, 20);
        log.append_batch(&[draft(21)]).unwrap();
        drop(log);
        let log = AuditLog::open_with(dir.path(), 3, small()).unwrap();
        // Opening moved the marker to 20.
        assert!(
            (20..=21).contains(&log.verified_after()),
            "{}",
            log.verified_after()
        );
        assert_eq!(log.head().seq, 21);
        // Keys come back from the journal: a redelivery is still a duplicate, in any segment.
        let mut log = log;
        assert_eq!(
            log.append_batch(&[draft(1), draft(21)]).unwrap(),
            vec![
                Outcome::Duplicate { seq: 1 },
                Outcome::Duplicate { seq: 21 }
            ]
        );
    }

    #[test]
    fn a_marker_the_log_no_longer_matches_means_verifying_everything() {
        let (dir, log) = log_with(12);
        drop(log);
        let marker_path = dir.path().join(INDEX_DIR).join(MARKER_FILE);
        let marker: Marker = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
        let cases: Vec<(&str, Marker)> = vec![
            (
                "another seq",
                Marker {
                    seq: marker.seq - 1,
                    ..marker.clone()
                },
            ),
            (
                "another hash",
                Marker {
                    hash: "0".repeat(64),
                    ..marker.clone()
                },
            ),
            (
                "another place",
                Marker {
                    start: marker.start + 1,
                    ..marker.clone()
                },
            ),
            (
                "other sealed lengths",
                Marker {
                    sealed: vec![(1, 5)],
                    ..marker.clone()
                },
            ),
            (
                "another journal",
                Marker {
                    journal_sha256: "0".repeat(64),
                    ..marker.clone()
                },
            ),
        ];
        for (what, m) in cases {
            std::fs::write(&marker_path, serde_json::to_vec(&m).unwrap()).unwrap();
            let log = AuditLog::open_with(dir.path(), 2, small()).unwrap();
            assert_eq!(log.verified_after(), 0, "{what}");
            assert_eq!(log.head().seq, 12, "{what}");
            drop(log);
        }
        std::fs::write(&marker_path, b"{not json").unwrap();
        assert_eq!(
            AuditLog::open_with(dir.path(), 2, small())
                .unwrap()
                .verified_after(),
            0
        );
        // The marked record itself changed: the whole chain is verified, and the change found.
        let active = dir.path().join(super::super::log::LOG_FILE);
        let text = std::fs::read_to_string(&active).unwrap();
        std::fs::write(&active, text.replace("\"r12\"", "\"r99\"")).unwrap();
        match AuditLog::open_with(dir.path(), 2, small()) {
            Err(AuditError::Broken { path, .. }) => assert_eq!(path, active),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_deleted_or_damaged_index_is_rebuilt_and_queries_stay_right() {
        let (dir, log) = log_with(30);
        let f = Filter {
            app: Some("app1".into()),
            ..Filter::default()
        };
        let right = seqs(&log.reader().query(&f, None, 100).unwrap());
        assert_eq!(right, expected(dir.path(), &f, None, 100));
        drop(log);
        let index = dir.path().join(INDEX_DIR);
        // Deleted.
        std::fs::remove_dir_all(&index).unwrap();
        let log = AuditLog::open_with(dir.path(), 2, small()).unwrap();
        assert_eq!(log.verified_after(), 0);
        assert_eq!(seqs(&log.reader().query(&f, None, 100).unwrap()), right);
        drop(log);
        // An entry edited to point at another record: the journal's digest no longer matches.
        let journal = index.join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&journal).unwrap();
        let at = bytes.len() - 40 + 8;
        bytes[at] ^= 0x40;
        std::fs::write(&journal, &bytes).unwrap();
        let log = AuditLog::open_with(dir.path(), 3, small()).unwrap();
        assert_eq!(log.verified_after(), 0);
        assert_eq!(seqs(&log.reader().query(&f, None, 100).unwrap()), right);
        drop(log);
        // Journal and marker forged to agree: the index is loaded, but every record read through it
        // is checked, and the query reads the log instead.
        let marker_path = index.join(MARKER_FILE);
        let mut marker: Marker =
            serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
        let mut bytes = std::fs::read(&journal).unwrap();
        bytes.truncate(usize::try_from(marker.journal_bytes).unwrap());
        // The offset of the last record (an app1 record, seq 28 or later) now points at record 1.
        let last_app1 = *right.last().unwrap();
        let mut pos = MAGIC.len();
        while pos < bytes.len() {
            if bytes[pos] == TAG_RECORD {
                let seq = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap());
                if seq == last_app1 {
                    bytes[pos + 9..pos + 17].copy_from_slice(&0u64.to_le_bytes());
                }
                pos += 41;
            } else {
                let len = u32::from_le_bytes(bytes[pos + 1..pos + 5].try_into().unwrap());
                pos += 5 + len as usize;
            }
        }
        std::fs::write(&journal, &bytes).unwrap();
        marker.journal_sha256 = super::super::canonical::to_hex(&Sha256::digest(&bytes));
        std::fs::write(&marker_path, serde_json::to_vec(&marker).unwrap()).unwrap();
        let log = AuditLog::open_with(dir.path(), 4, small()).unwrap();
        assert_eq!(
            log.verified_after(),
            30,
            "the forged index is taken at start"
        );
        assert_eq!(seqs(&log.reader().query(&f, None, 100).unwrap()), right);
        assert_eq!(seqs(&log.reader().query(&f, Some(0), 100).unwrap()), right);
    }
}
