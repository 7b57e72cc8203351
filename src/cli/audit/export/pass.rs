//! The pass of `audit export` over the verified log (issue 28): what the workers take from each chunk's
//! lines (each record's place against the period and its change, and the changes rendered from those
//! lines alone), and what the calling thread does with each record in order: copied into `records/`,
//! its place and change noted, and its change held until it is let go to the writer.

use super::{failure, Error, Out, Result, PASS_BATCH};
use crate::evidence::export::{self, Change, Row};
use crate::evidence::snapshot;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// What the pass needs of a record, taken from its line on any thread.
pub(super) struct Seen {
    pub(super) seq: u64,
    /// Where its `receivedAt` is against the period.
    pub(super) when: When,
    /// Its change ([`export::Row::change_key`]).
    pub(super) change: Box<str>,
    /// The snapshots it names.
    pub(super) snapshots: Vec<String>,
    /// When it is the first record of its change among the lines read with it: that change rendered
    /// from those lines alone (what it is when they are all its records).
    pub(super) local: Option<Box<Local>>,
}

/// Where a record's `receivedAt` is against the period `[from, to)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    Before,
    In,
    After,
}

/// A change rendered from some of the lines of the log (`records` of them).
pub(super) struct Local {
    pub(super) records: usize,
    pub(super) page: std::result::Result<export::Rendered, export::ExportError>,
}

impl Local {
    /// About the bytes it holds.
    pub(super) fn bytes(&self) -> usize {
        self.page
            .as_ref()
            .map_or(0, |p| p.csv.len() + p.json.len() + p.markdown.len())
    }
}

impl Seen {
    /// What the pass needs of the records on `lines`, which follow one another in the log (verified:
    /// an error only for a line that is not an object, which a verified line always is); and the
    /// changes of the records received in `[from, to)` rendered from these lines alone. `spans`: where
    /// each line's members are, when the check noted them (else empty: the line is parsed).
    /// `render`: whether to render the changes.
    pub(super) fn of(
        lines: &[&[u8]],
        spans: &[&[crate::ledger::Span]],
        (from, to): (&str, &str),
        render: bool,
    ) -> Vec<std::result::Result<Self, String>> {
        let spans_of = |i: usize| spans.get(i).copied().unwrap_or_default();
        let rows: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Row::from_spans(l, spans_of(i)))
            .collect();
        let mut seen = Vec::with_capacity(lines.len());
        // The changes, in the order of their first line, and the lines of each.
        let mut groups: Vec<(std::borrow::Cow<'_, str>, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<std::borrow::Cow<'_, str>, usize> = HashMap::new();
        for (i, (line, row)) in lines.iter().zip(&rows).enumerate() {
            let row = match row {
                Ok(row) => row,
                Err(e) => {
                    seen.push(Err(e.to_string()));
                    continue;
                }
            };
            let snapshots = match snapshot::named_in(line, spans_of(i)) {
                Ok(named) => named,
                Err(e) => {
                    seen.push(Err(e.to_string()));
                    continue;
                }
            };
            let at = row.received_at.as_deref().unwrap_or("");
            let when = if at < from {
                When::Before
            } else if at < to {
                When::In
            } else {
                When::After
            };
            let change = row.change_key();
            if when == When::In {
                let g = *group_of.entry(change.clone()).or_insert_with(|| {
                    groups.push((change.clone(), Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.push(i);
            }
            seen.push(Ok(Seen {
                seq: row.seq,
                when,
                change: change.into(),
                snapshots,
                local: None,
            }));
        }
        if !render {
            return seen;
        }
        let mut rows: Vec<Option<Row<'_>>> = rows.into_iter().map(Result::ok).collect();
        for (id, members) in groups {
            let records: Vec<Row<'_>> = members.iter().filter_map(|&i| rows[i].take()).collect();
            let change = Change::of_rows(
                id.into_owned(),
                records,
                members.iter().map(|&i| lines[i]).collect(),
            );
            let page = change.render();
            if let Some(Ok(first)) = seen.get_mut(members[0]) {
                first.local = Some(Box::new(Local {
                    records: members.len(),
                    page,
                }));
            }
        }
        seen
    }
}

/// What the first pass noted: every exported record's place, and the change of each one in the period.
pub(super) struct Scan<'r> {
    /// The seq of the first exported record.
    pub(super) first_seq: u64,
    /// The file of `records/` written.
    pub(super) file: String,
    /// Where each exported record is: its segment's index (above [`OFFSET_BITS`]) and its offset there.
    pub(super) positions: Vec<u64>,
    /// The change of each exported record (an index into `ids`), or [`OUTSIDE`].
    pub(super) change_of: Vec<u32>,
    /// The changes, in the order of their first record.
    pub(super) ids: Vec<Box<str>>,
    /// The index of each change id by a 64-bit hash of it (the next slot up on a collision), so
    /// that each id is held once; dropped once the pass is over.
    pub(super) keys: HashMap<u64, u32>,
    pub(super) hasher: std::hash::RandomState,
    /// The seq of the first record received at or after the period's end, if the log has one.
    pub(super) end: Option<u64>,
    /// The snapshots the exported records name, and the first record naming each.
    pub(super) snapshots: BTreeMap<String, u64>,
    /// The record before the ones seen in the period, held until the next one shows whether the
    /// period starts there: (segment, offset, line, what was taken from it).
    pub(super) before: Option<(usize, u64, Vec<u8>, Seen)>,
    pub(super) started: bool,
    /// The first write that failed (the pass goes on to its end; the export then stops).
    pub(super) error: Option<Error>,
    /// The changes held until they are let go to be rendered; `None` once a record came for a change
    /// let go already (then `fast` is false: the changes are rendered after the pass).
    pub(super) pending: Option<Pending>,
    pub(super) fast: bool,
    /// Cleared with `fast`: tells the workers to render no more changes.
    pub(super) renders: &'r AtomicBool,
}

/// A change's records in the period, held in the pass: their lines one after another, where each
/// ends.
pub(super) struct Held {
    pub(super) id: Box<str>,
    pub(super) lines: Vec<u8>,
    pub(super) ends: Vec<usize>,
    /// The change rendered from the lines its first record was read with (used when those were all
    /// its records), and the bytes held.
    pub(super) ready: Option<Box<Local>>,
    pub(super) bytes: usize,
}

/// The changes the pass holds (from the oldest, change `let_go`, on: the changes are numbered in the
/// order of their first record) and where it lets them go.
pub(super) struct Pending {
    pub(super) to: std::sync::mpsc::SyncSender<Vec<Held>>,
    pub(super) open: std::collections::VecDeque<Held>,
    pub(super) let_go: usize,
    /// The bytes of the lines held, and the most it holds.
    pub(super) held: usize,
    pub(super) hold: usize,
    pub(super) batch: Vec<Held>,
}

impl Pending {
    pub(super) fn new(to: std::sync::mpsc::SyncSender<Vec<Held>>, hold: usize) -> Self {
        Pending {
            to,
            open: std::collections::VecDeque::new(),
            let_go: 0,
            held: 0,
            hold,
            batch: Vec::with_capacity(PASS_BATCH),
        }
    }

    /// Holds `line`, a record of change `c` (`id`; a new change when it follows the ones held), and
    /// lets the oldest changes go while more than `hold` bytes are held. False when `c` was let go
    /// already.
    pub(super) fn hold(
        &mut self,
        c: usize,
        id: &str,
        line: &[u8],
        local: Option<Box<Local>>,
    ) -> bool {
        let Some(at) = c.checked_sub(self.let_go) else {
            return false;
        };
        if at == self.open.len() {
            let bytes = local.as_ref().map_or(0, |l| l.bytes());
            self.held += bytes;
            // Room for the lines the change was rendered from (its evidence line holds them all).
            let (room, records) = match local.as_ref().map(|l| (&l.page, l.records)) {
                Some((Ok(page), records)) => (page.json.len(), records),
                _ => (line.len(), 1),
            };
            self.open.push_back(Held {
                id: id.into(),
                lines: Vec::with_capacity(room),
                ends: Vec::with_capacity(records),
                ready: local,
                bytes,
            });
        }
        // The changes are numbered as they come: `c` is one held or the next one.
        let Some(held) = self.open.get_mut(at) else {
            return false;
        };
        held.lines.extend_from_slice(line);
        held.ends.push(held.lines.len());
        held.bytes += line.len();
        self.held += line.len();
        while self.held > self.hold {
            let Some(oldest) = self.open.pop_front() else {
                break;
            };
            self.held -= oldest.bytes;
            self.let_go += 1;
            self.batch.push(oldest);
            if self.batch.len() >= PASS_BATCH {
                self.send();
            }
        }
        true
    }

    /// Gives the batch to the writer (which, when it stopped on an error, takes nothing more: the
    /// error is its own).
    pub(super) fn send(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(PASS_BATCH));
            let _ = self.to.send(batch);
        }
    }

    /// Lets every change held go.
    pub(super) fn finish(mut self) {
        while let Some(oldest) = self.open.pop_front() {
            self.batch.push(oldest);
            if self.batch.len() >= PASS_BATCH {
                self.send();
            }
        }
        self.send();
    }
}

/// A record outside the period (the one before it, the one after it).
pub(super) const OUTSIDE: u32 = u32::MAX;
pub(super) const OFFSET_BITS: u32 = 40;

/// The records of each change, in log order: `members[start[c]..start[c + 1]]` are change `c`'s.
pub(super) struct Groups {
    pub(super) start: Vec<u32>,
    pub(super) members: Vec<u32>,
}

impl<'r> Scan<'r> {
    pub(super) fn new(pending: Pending, renders: &'r AtomicBool) -> Self {
        Scan {
            first_seq: 0,
            file: String::new(),
            positions: Vec::new(),
            change_of: Vec::new(),
            ids: Vec::new(),
            keys: HashMap::new(),
            hasher: std::hash::RandomState::new(),
            end: None,
            snapshots: BTreeMap::new(),
            before: None,
            started: false,
            error: None,
            pending: Some(pending),
            fast: true,
            renders,
        }
    }

    /// The next verified record of the log (what the pass took from it, or why it could not): from the
    /// first one to the first one received at or after the period's end, it copies the exported ones
    /// into `records/` and notes each one's place and change.
    pub(super) fn see(
        &mut self,
        segment: usize,
        seen: std::result::Result<Seen, String>,
        offset: u64,
        line: &[u8],
        out: &mut Out,
    ) {
        if self.end.is_some() || self.error.is_some() {
            return;
        }
        let seen = match seen {
            Ok(seen) => seen,
            Err(e) => {
                self.error = Some(failure(format!(
                    "a record (at byte {offset} of segment {segment}) cannot be read: {e}"
                )));
                return;
            }
        };
        if !self.started {
            if seen.when == When::Before {
                let mut kept = self.before.take().map(|(_, _, l, _)| l).unwrap_or_default();
                kept.clear();
                kept.extend_from_slice(line);
                self.before = Some((segment, offset, kept, seen));
                return;
            }
            self.started = true;
            self.take_before(out);
        }
        if seen.when == When::After {
            self.end = Some(seen.seq);
        }
        self.take(segment, seen, offset, line, out);
    }

    /// Ends the pass: the record before the period when nothing came after it, the last file closed.
    pub(super) fn finish(mut self, out: &mut Out) -> Result<Self> {
        if !self.started {
            // Nothing at or after the period's start: the last record shows where the log ended.
            self.take_before(out);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(pending) = self.pending.take() {
            pending.finish();
        }
        if !self.positions.is_empty() {
            out.close(&self.file)?;
        }
        self.keys = HashMap::new();
        Ok(self)
    }

    /// Adds the record held before the period.
    pub(super) fn take_before(&mut self, out: &mut Out) {
        if let Some((s, o, l, seen)) = self.before.take() {
            self.take(s, seen, o, &l, out);
        }
    }

    /// Adds the next exported record.
    pub(super) fn take(
        &mut self,
        segment: usize,
        seen: Seen,
        offset: u64,
        line: &[u8],
        out: &mut Out,
    ) {
        if let Err(e) = self.add(segment, seen, offset, line, out) {
            self.error.get_or_insert(e);
        }
    }

    pub(super) fn add(
        &mut self,
        segment: usize,
        mut seen: Seen,
        offset: u64,
        line: &[u8],
        out: &mut Out,
    ) -> Result<()> {
        let seq = seen.seq;
        let i = self.positions.len() as u64;
        if i == 0 {
            self.first_seq = seq;
        }
        if i.is_multiple_of(export::RECORDS_PER_FILE) {
            if i > 0 {
                out.close(&self.file)?;
            }
            self.file = export::records_file(self.first_seq + i);
        }
        out.append(&self.file, line)?;
        out.append(&self.file, b"\n")?;
        self.positions
            .push(((segment as u64) << OFFSET_BITS) | offset);
        let change = if seen.when == When::In {
            let c = self.change(&seen.change)?;
            if let Some(pending) = &mut self.pending {
                if !pending.hold(c as usize, &seen.change, line, seen.local.take()) {
                    // A record of a change rendered already: the changes are read back after the pass.
                    self.pending = None;
                    self.fast = false;
                    self.renders.store(false, Ordering::Relaxed);
                }
            }
            c
        } else {
            OUTSIDE
        };
        self.change_of.push(change);
        for digest in &seen.snapshots {
            self.snapshots.entry(digest.clone()).or_insert(seq);
        }
        Ok(())
    }

    /// The index of change `key`, a new one when it is not known yet.
    pub(super) fn change(&mut self, key: &str) -> Result<u32> {
        use std::hash::BuildHasher as _;
        let mut slot = self.hasher.hash_one(key);
        loop {
            match self.keys.get(&slot) {
                Some(&c) if *self.ids[c as usize] == *key => return Ok(c),
                Some(_) => slot = slot.wrapping_add(1),
                None => {
                    let c = u32::try_from(self.ids.len()).map_err(|_| {
                        failure("more than 4 billion changes in one period".to_owned())
                    })?;
                    self.ids.push(key.into());
                    self.keys.insert(slot, c);
                    return Ok(c);
                }
            }
        }
    }

    pub(super) fn groups(&self) -> Groups {
        let mut start = vec![0u32; self.ids.len() + 1];
        for &c in &self.change_of {
            if c != OUTSIDE {
                start[c as usize + 1] += 1;
            }
        }
        for c in 0..self.ids.len() {
            start[c + 1] += start[c];
        }
        let mut next = start.clone();
        let mut members = vec![0u32; start[self.ids.len()] as usize];
        for (i, &c) in self.change_of.iter().enumerate() {
            if c != OUTSIDE {
                members[next[c as usize] as usize] = u32::try_from(i).unwrap_or(u32::MAX);
                next[c as usize] += 1;
            }
        }
        Groups { start, members }
    }
}
