//! Queries: the records of an app or a change (or all), the first `limit` after a seq or the last
//! `limit`, read through the index and checked, or, when the index is found wrong, by reading the
//! segments in order. Runs on the caller's thread, without any lock the writer waits on; the caller
//! decides where (the sink runs queries on its query pool).

use super::snapshot::{Seqs, Snapshot};
use crate::ledger::error::LedgerError;
use crate::ledger::line::{self, Lines};
use crate::ledger::schema::{Filing, Schema};
use crate::ledger::segment::{self, Segment};
use arc_swap::ArcSwap;
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Which records a query wants: those of an app, of a change id (`""`: those without one), or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Select {
    pub app: Option<String>,
    pub change: Option<String>,
}

impl Select {
    /// Whether a record filed as `filing` is wanted.
    pub fn matches(&self, filing: &Filing<'_>) -> bool {
        self.app.as_deref().is_none_or(|a| filing.app == a)
            && self
                .change
                .as_deref()
                .is_none_or(|c| filing.change.as_deref().unwrap_or("") == c)
    }

    /// Whether the index filed a record it gave for this selection where it does not belong (rather
    /// than it being left out because it has a change id where none was asked for).
    fn misfiled(&self, filing: &Filing<'_>) -> bool {
        self.app.as_deref().is_some_and(|a| filing.app != a)
            || self
                .change
                .as_deref()
                .is_some_and(|c| !c.is_empty() && filing.change.as_deref() != Some(c))
    }
}

/// A record a query found: the file and line it was read from, and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: PathBuf,
    pub line: u64,
    pub record: Map<String, Value>,
}

/// The readers' side: lock-free access to the latest snapshot, and queries.
#[derive(Clone)]
pub struct Reader {
    pub(super) shared: Arc<ArcSwap<Snapshot>>,
    /// Set when a query found the index wrong: the writer stops moving the marker and removes it, so
    /// the next start verifies everything and rebuilds the index.
    pub(super) stale: Arc<AtomicBool>,
    pub(super) schema: Schema,
}

impl Reader {
    /// A reader of an empty log (no segment, head 0).
    #[cfg(test)]
    pub fn empty(schema: Schema) -> Self {
        Reader {
            shared: Arc::new(ArcSwap::from_pointee(Snapshot::empty(Vec::new()))),
            stale: Arc::default(),
            schema,
        }
    }

    /// The durable head.
    pub fn head(&self) -> crate::ledger::Head {
        self.shared.load().head().clone()
    }

    /// The records that `select` wants: with `after`, the first `limit` after that seq; without it, the
    /// last `limit`; oldest first. Reads only the records it answers with (through the index), plus
    /// those it must skip when both an app and a change are asked for. `cancelled` is asked between
    /// records: once it says so, the query ends with what it has.
    ///
    /// # Errors
    ///
    /// The log cannot be read when the index was found wrong.
    pub fn query(
        &self,
        select: &Select,
        after: Option<u64>,
        limit: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Vec<Found>, LedgerError> {
        for _ in 0..2 {
            let snap = self.shared.load_full();
            if let Some(found) = self.indexed(&snap, select, after, limit, cancelled) {
                return Ok(found);
            }
            // Perhaps the segment was sealed after the snapshot was taken: once more, afresh.
        }
        if !self.stale.swap(true, Ordering::Relaxed) {
            tracing::warn!("the audit index does not match the log; queries read the log until the next start rebuilds it");
        }
        scan(
            &self.shared.load_full(),
            self.schema,
            select,
            after,
            limit,
            cancelled,
        )
    }

    /// Record `seq` as the log holds it (read through the index and checked to be that record), or
    /// `None` when it cannot be read.
    pub fn record(&self, seq: u64) -> Option<Found> {
        let snap = self.shared.load_full();
        if seq > snap.head().seq {
            return None;
        }
        Fetcher::default().fetch(&snap, seq)
    }

    /// The query through the index; `None` when the index is found not to match the log.
    fn indexed(
        &self,
        snap: &Snapshot,
        select: &Select,
        after: Option<u64>,
        limit: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<Found>> {
        let cands = candidates(snap, select);
        let mut fetcher = Fetcher::default();
        let mut found = Vec::new();
        let mut take = |seq: u64, found: &mut Vec<Found>| -> Option<()> {
            let record = fetcher.fetch(snap, seq)?;
            let filing = (self.schema.filing)(&record.record);
            if select.matches(&filing) {
                found.push(record);
            } else if select.misfiled(&filing) {
                // The index listed it under an app or change it does not have.
                return None;
            }
            Some(())
        };
        if let Some(a) = after {
            let mut i = cands.first_after(a);
            while found.len() < limit && !cancelled() {
                let Some(seq) = cands.get(i) else { break };
                take(seq, &mut found)?;
                i += 1;
            }
        } else {
            let mut i = cands.len();
            while found.len() < limit && i > 0 && !cancelled() {
                i -= 1;
                let Some(seq) = cands.get(i) else { break };
                take(seq, &mut found)?;
            }
            found.reverse();
        }
        Some(found)
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

fn candidates<'s>(snap: &'s Snapshot, select: &Select) -> Candidates<'s> {
    let app = select.app.as_deref().map(|a| snap.app(a));
    // A change id of "" asks for records without one: those have no list of their own.
    let change = select
        .change
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| snap.change(c));
    match (app, change) {
        (Some(None), _) | (_, Some(None)) => Candidates::Nothing,
        (Some(Some(a)), Some(Some(c))) => Candidates::List(if c.len() <= a.len() { c } else { a }),
        (Some(Some(l)), None) | (None, Some(Some(l))) => Candidates::List(l),
        (None, None) => Candidates::All(snap.head().seq),
    }
}

/// Where segment `seg` is once sealed.
pub(super) fn sealed_path(seg: &Segment) -> PathBuf {
    if seg.sealed {
        return seg.path.clone();
    }
    let dir = seg.path.parent().unwrap_or(Path::new("."));
    dir.join(segment::SEGMENTS_DIR)
        .join(segment::segment_name(seg.first_seq))
}

/// Reads single records where the index says they are, one open file per segment.
#[derive(Default)]
pub(super) struct Fetcher {
    files: HashMap<PathBuf, File>,
    buf: Vec<u8>,
}

impl Fetcher {
    /// Record `seq`, read where the index says it is and checked to be that record; `None` when it is
    /// not there.
    pub(super) fn fetch(&mut self, snap: &Snapshot, seq: u64) -> Option<Found> {
        let (seg, offset) = snap.position(seq)?;
        self.fetch_at(seg, offset, seq)
    }

    /// Record `seq`, read at `offset` in `seg` and checked to be that record; `None` when it is not
    /// there.
    pub(super) fn fetch_at(&mut self, seg: &Segment, offset: u64, seq: u64) -> Option<Found> {
        let line = (seq + 1).checked_sub(seg.first_seq)?;
        // The active segment may have been sealed (renamed) since the snapshot was taken.
        let paths =
            std::iter::once(seg.path.clone()).chain((!seg.sealed).then(|| sealed_path(seg)));
        for path in paths {
            if !self.files.contains_key(&path) {
                let Ok(file) = File::open(&path) else {
                    continue;
                };
                self.files.insert(path.clone(), file);
            }
            let Ok(text) = line::line_at(&self.files[&path], offset, &mut self.buf) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<Map<String, Value>>(text) else {
                continue;
            };
            if line::seq_of(&record) == seq {
                return Some(Found { path, line, record });
            }
        }
        None
    }
}

/// The query answered by reading the segments in order (the index is not used).
fn scan(
    snap: &Snapshot,
    schema: Schema,
    select: &Select,
    after: Option<u64>,
    limit: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Vec<Found>, LedgerError> {
    let mut found: VecDeque<Found> = VecDeque::new();
    let end = snap.head().seq;
    for seg in snap.segments() {
        // A sealed segment is never modified: when the active one has been sealed meanwhile, read that.
        let sealed = sealed_path(seg);
        let path = if !seg.sealed && sealed.exists() {
            &sealed
        } else {
            &seg.path
        };
        let io_err = |source| LedgerError::Io {
            path: path.clone(),
            source,
        };
        let mut lines = match Lines::of_file(path, u64::MAX) {
            Ok(lines) => lines,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !seg.sealed => continue,
            Err(e) => return Err(io_err(e)),
        };
        while let Some((_, text)) = lines.next_line().map_err(io_err)? {
            if cancelled() {
                return Ok(found.into());
            }
            let Ok(record) = serde_json::from_slice::<Map<String, Value>>(text) else {
                break;
            };
            let seq = line::seq_of(&record);
            if seq > end {
                break;
            }
            if after.is_some_and(|a| seq <= a) || !select.matches(&(schema.filing)(&record)) {
                continue;
            }
            found.push_back(Found {
                path: path.clone(),
                line: (seq + 1).saturating_sub(seg.first_seq),
                record,
            });
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
