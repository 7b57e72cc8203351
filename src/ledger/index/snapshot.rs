//! What readers see: the durable head, the segments, and the index of every record up to the head (its
//! byte offset, the seqs of every app and change id), as an immutable value that the writer publishes
//! after each batch and a reader loads without a lock. The records that were in the log when it was
//! opened are the base (plain vectors, built once and shared); those appended since are in persistent
//! `imbl` structures, so a snapshot is an O(1) copy of the writer's working index.

use crate::ledger::line::Head;
use crate::ledger::segment::Segment;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) type SeqList = imbl::Vector<u64>;

/// The index of the records that were in the log when it was opened: plain vectors, built once (a
/// counting sort over the journal or the verified log) and shared by every snapshot.
#[derive(Default)]
pub(super) struct Base {
    /// Byte offset of record `seq` in its segment, at index `seq - 1`.
    pub(super) offsets: Vec<u64>,
    pub(super) apps: Names,
    pub(super) changes: Names,
}

/// The apps (or the change ids) of the base: the journal's id of each name, and the seqs of each id,
/// ascending, as a range of one vector.
#[derive(Default)]
pub(super) struct Names {
    pub(super) ids: HashMap<Arc<str>, u32>,
    pub(super) ranges: Vec<(usize, usize)>,
    pub(super) seqs: Vec<u64>,
}

impl Names {
    fn seqs(&self, name: &str) -> Option<&[u64]> {
        let &(a, b) = self.ranges.get(*self.ids.get(name)? as usize)?;
        (b > a).then(|| &self.seqs[a..b])
    }
}

/// The durable head and the index of every record up to it.
#[derive(Clone)]
pub struct Snapshot {
    pub(super) head: Head,
    pub(super) segments: Arc<Vec<Segment>>,
    pub(super) base: Arc<Base>,
    /// Byte offsets of the records after the base.
    pub(super) offsets: SeqList,
    pub(super) by_app: imbl::HashMap<Arc<str>, SeqList>,
    pub(super) by_change: imbl::HashMap<Arc<str>, SeqList>,
}

/// The seqs of one app or change: those in the base, then those appended since.
#[derive(Clone, Copy)]
pub(super) struct Seqs<'s> {
    base: &'s [u64],
    delta: Option<&'s SeqList>,
}

impl Seqs<'_> {
    pub(super) fn len(&self) -> usize {
        self.base.len() + self.delta.map_or(0, imbl::Vector::len)
    }

    pub(super) fn get(&self, i: usize) -> Option<u64> {
        match i.checked_sub(self.base.len()) {
            None => self.base.get(i).copied(),
            Some(j) => self.delta.and_then(|d| d.get(j).copied()),
        }
    }

    /// The index of the first seq after `seq`.
    pub(super) fn first_after(&self, seq: u64) -> usize {
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
    pub(super) fn empty(segments: Vec<Segment>) -> Self {
        Snapshot {
            head: Head::default(),
            segments: Arc::new(segments),
            base: Arc::new(Base::default()),
            offsets: SeqList::new(),
            by_app: imbl::HashMap::new(),
            by_change: imbl::HashMap::new(),
        }
    }

    /// The durable head.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The segments, in chain order, the active one last.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
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

    pub(super) fn app(&self, name: &str) -> Option<Seqs<'_>> {
        Self::seqs(&self.base.apps, &self.by_app, name)
    }

    pub(super) fn change(&self, name: &str) -> Option<Seqs<'_>> {
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
    pub(super) fn position(&self, seq: u64) -> Option<(&Segment, u64)> {
        let offset = self.offset(seq)?;
        let i = self.segments.partition_point(|s| s.first_seq <= seq);
        Some((self.segments.get(i.checked_sub(1)?)?, offset))
    }
}
