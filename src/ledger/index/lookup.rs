//! The index as a command reads it (`audit list`, `audit show` on a data directory, beside a running
//! sink or not): read-only and in small memory. It never opens the journal for writing, never writes
//! or removes the marker, and takes no lock.
//!
//! - Opening checks the marker against the log, as the sink's quick start does. It then verifies the
//!   records after the marker, keeping how each is filed.
//! - A query streams the journal up to the marked length in pieces of [`PIECE`] bytes. It checks the
//!   journal's checksum against the marker and keeps only the seqs and offsets of the records it wants
//!   (at most the newest `n` of them, when asked). Nothing else of the journal stays in memory: not the
//!   offsets of other records, not the names, not the idempotency keys.
//! - Every record it answers with is read where the index says it is, and checked to be that seq and
//!   filed as asked. An index found not to match the log answers nothing (`None`): the caller reads
//!   the log instead.

use super::journal::{
    self, Checksum, Decoder, Item, Marker, RecordEntry, INDEX_DIR, JOURNAL_FILE, MAGIC, NO_CHANGE,
    TAG_APP, TAG_CHANGE, TAG_TAG,
};
use super::postings::{Postings, NONE};
use super::query::Fetcher;
use super::Found;
use crate::ledger::error::LedgerError;
use crate::ledger::line::Head;
use crate::ledger::lock;
use crate::ledger::schema::{Filing, Schema};
use crate::ledger::segment::{self, Listing, Resume};
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::hash::Hasher;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How much of the journal is read at a time.
const PIECE: usize = 1 << 20;

/// Which records a command wants: those of an app, of a change id (`""`: those without one), under a
/// tag, or any combination (all must hold); at most the newest `newest` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    pub app: Option<String>,
    pub change: Option<String>,
    pub tag: Option<String>,
    pub newest: Option<usize>,
}

impl Want {
    /// Whether a record filed as `filing` is wanted.
    pub(super) fn matches(&self, filing: &Filing<'_>) -> bool {
        self.app.as_deref().is_none_or(|a| filing.app == a)
            && self
                .change
                .as_deref()
                .is_none_or(|c| filing.change.as_deref().unwrap_or("") == c)
            && self
                .tag
                .as_deref()
                .is_none_or(|t| filing.tags.iter().any(|x| x == t))
    }
}

/// A record after the marker: where it starts, and how it is filed.
pub(super) struct Filed {
    seq: u64,
    offset: u64,
    app: String,
    change: Option<String>,
    tags: Vec<String>,
}

impl Filed {
    fn filing(&self) -> Filing<'_> {
        Filing {
            app: Cow::Borrowed(&self.app),
            change: self.change.as_deref().map(Cow::Borrowed),
            key: Cow::Borrowed(""),
            tags: self
                .tags
                .iter()
                .map(|t| Cow::Borrowed(t.as_str()))
                .collect(),
        }
    }
}

/// The index of a data directory, opened to read only.
pub struct Lookup {
    dir: PathBuf,
    journal: PathBuf,
    marker: Marker,
    /// The postings the marker names, once opened (or why they cannot be used).
    postings: OnceLock<Result<Arc<Postings>, String>>,
    listing: Listing,
    /// The records after the marker.
    pub(super) after: Vec<Filed>,
    schema: Schema,
}

/// What [`Lookup::find`] found.
pub struct Answer {
    /// For each want, its records, oldest first.
    pub found: Vec<Vec<Found>>,
    /// The hashes of every tag the journal named in what was read of it (all of it, or the part
    /// after the postings' point).
    tags: HashSet<u64>,
    /// The postings, when they answered: the tags up to their point are found there.
    postings: Option<Arc<Postings>>,
}

impl Answer {
    /// Whether the postings answered (not the whole journal).
    #[cfg(test)]
    pub(super) fn used_postings(&self) -> bool {
        self.postings.is_some()
    }

    /// Whether some record may be filed under `tag` (`false`: none is).
    pub fn may_have_tag(&self, tag: &str) -> bool {
        self.tags.contains(&tag_hash(tag))
            || self
                .postings
                .as_ref()
                .is_some_and(|p| !matches!(p.find(TAG_TAG, tag), Ok(None)))
    }
}

/// A tag's name hashed (its bytes, as the journal holds them).
fn tag_hash(tag: impl AsRef<[u8]>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(tag.as_ref());
    h.finish()
}

/// A name a want asks for, as the journal's id of it once given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    /// Not asked for: any.
    Any,
    /// Asked for, and given no id (yet): nothing matches.
    Unseen,
    Id(u32),
}

impl Name {
    fn asked(name: Option<&String>) -> Self {
        name.map_or(Name::Any, |_| Name::Unseen)
    }
}

/// A want with its names resolved to the journal's ids as they are given.
struct Resolved {
    app: Name,
    change: Name,
    /// The change asked for is "": records without a change id match too.
    no_change: bool,
    tag: Name,
}

impl Resolved {
    fn of(want: &Want) -> Self {
        Resolved {
            app: Name::asked(want.app.as_ref()),
            change: Name::asked(want.change.as_ref()),
            no_change: want.change.as_deref() == Some(""),
            tag: Name::asked(want.tag.as_ref()),
        }
    }

    fn name(&mut self, want: &Want, kind: u8, name: &[u8], id: u32) {
        let (asked, slot) = match kind {
            TAG_APP => (&want.app, &mut self.app),
            TAG_CHANGE => (&want.change, &mut self.change),
            _ => (&want.tag, &mut self.tag),
        };
        if asked.as_ref().is_some_and(|a| a.as_bytes() == name) {
            *slot = Name::Id(id);
        }
    }

    fn matches(&self, e: &RecordEntry<'_>) -> bool {
        let app = match self.app {
            Name::Any => true,
            Name::Unseen => false,
            Name::Id(id) => id == e.app,
        };
        let change = match self.change {
            Name::Any => true,
            Name::Unseen => self.no_change && e.change == NO_CHANGE,
            Name::Id(id) => id == e.change || (self.no_change && e.change == NO_CHANGE),
        };
        let tag = match self.tag {
            Name::Any => true,
            Name::Unseen => false,
            Name::Id(id) => e.tags().any(|t| t == id),
        };
        app && change && tag
    }
}

/// Keeps the newest `newest` (or all) of what is pushed.
fn push(hits: &mut VecDeque<(u64, u64)>, newest: Option<usize>, seq: u64, offset: u64) {
    hits.push_back((seq, offset));
    if newest.is_some_and(|n| hits.len() > n) {
        hits.pop_front();
    }
}

impl Lookup {
    /// The index in `data_dir`, when it has one that still matches the log (the marker's record and
    /// sealed segments are as marked); the records after the marker are verified (and a torn last line
    /// left out, as the sink's start would). `None`: no usable index (the caller reads the log).
    ///
    /// # Errors
    ///
    /// The log cannot be read, or the chain after the marker is broken.
    pub fn open(data_dir: &Path, schema: Schema) -> Result<Option<Self>, LedgerError> {
        // One snapshot of the segments (a seal meanwhile moves nothing under the reader).
        let listing = Listing::take(data_dir)?;
        let dir = data_dir.join(INDEX_DIR);
        let usable = journal::read_marker(&dir).and_then(|m| {
            let at = journal::check_marked_segments(&m, &listing.segments)?;
            journal::check_marked_record(&m, &listing.segments[at].path)?;
            Ok((m, at))
        });
        let (marker, at) = match usable {
            Ok(usable) => usable,
            Err(why) => {
                tracing::debug!(reason = %why, "the index cannot be used");
                return Ok(None);
            }
        };
        let resume = Resume {
            segment: at,
            head: Head {
                seq: marker.seq,
                hash: marker.hash.clone(),
                len: marker.end,
            },
        };
        let mut after = Vec::new();
        let walked = segment::walk(&listing, Some(&resume), |record, position, _| {
            let filing = (schema.filing)(&record);
            after.push(Filed {
                seq: crate::ledger::line::seq_of(&record),
                offset: position.offset,
                app: filing.app.into_owned(),
                change: filing.change.map(Cow::into_owned),
                tags: filing.tags.iter().map(ToString::to_string).collect(),
            });
        })?;
        if let Some(bad) = &walked.torn {
            if lock::is_held(data_dir) {
                tracing::debug!(
                    line = bad.line,
                    "a batch is being written; its records are left out"
                );
            } else {
                tracing::warn!(
                    line = bad.line,
                    "the last line is torn (an unfinished write); it is left out"
                );
            }
        }
        Ok(Some(Lookup {
            journal: dir.join(JOURNAL_FILE),
            dir,
            marker,
            postings: OnceLock::new(),
            listing,
            after,
            schema,
        }))
    }

    /// The records each of `wants` asks for, oldest first, each read where the index says it is and
    /// checked to be that record and filed as asked. One pass over the journal answers them all.
    /// `None` when the index is found not to match the log or its marker (read the log instead).
    pub fn find(&self, wants: &[Want]) -> Option<Answer> {
        let through = match self.through_postings(wants) {
            Some(Ok((decoded, postings))) => Some((decoded, postings)),
            Some(Err(why)) => {
                tracing::debug!(reason = %why, "the index postings cannot be used; reading the journal");
                None
            }
            None => None,
        };
        let (decoded, postings) = match through {
            Some((decoded, postings)) => (Ok(decoded), Some(postings)),
            None => (self.pass(wants), None),
        };
        let (mut hits, mut tags) = match decoded {
            Ok(d) => (d.hits, d.tags),
            Err(why) => {
                tracing::debug!(reason = %why, "the index journal cannot be used");
                return None;
            }
        };
        for f in &self.after {
            let filing = f.filing();
            tags.extend(filing.tags.iter().map(|t| tag_hash(t.as_bytes())));
            for (want, hits) in wants.iter().zip(hits.iter_mut()) {
                if want.matches(&filing) {
                    push(hits, want.newest, f.seq, f.offset);
                }
            }
        }
        let mut fetcher = Fetcher::default();
        let segments = &self.listing.segments;
        let mut found = Vec::with_capacity(wants.len());
        for (want, hits) in wants.iter().zip(hits) {
            let mut records = Vec::with_capacity(hits.len());
            for (seq, offset) in hits {
                let i = segments.partition_point(|s| s.first_seq <= seq);
                let Some(record) = i
                    .checked_sub(1)
                    .and_then(|i| fetcher.fetch_at(&segments[i], offset, seq))
                else {
                    tracing::debug!(seq, "the index points where the record is not");
                    return None;
                };
                if !want.matches(&(self.schema.filing)(&record.record)) {
                    tracing::debug!(seq, "the index files a record where it does not belong");
                    return None;
                }
                records.push(record);
            }
            found.push(records);
        }
        Some(Answer {
            found,
            tags,
            postings,
        })
    }

    /// Streams the journal up to the marked length: the seqs and offsets each want asks for, and the
    /// hashes of every tag's name; checks the marked length, checksum and record count, in the same
    /// pass (the checksum costs less than reading the file twice would).
    fn pass(&self, wants: &[Want]) -> Result<Decoded, String> {
        let m = &self.marker;
        let decoded = decode(
            &self.journal,
            (0, m.journal_bytes),
            Decoder::default(),
            wants,
            wants.iter().map(Resolved::of).collect(),
            wants.iter().map(|_| VecDeque::new()).collect(),
            HashSet::new(),
        )?;
        self.check(&decoded, &m.journal_xxh3)?;
        Ok(decoded)
    }

    /// Checks what was decoded against the marker: the checksum of the bytes read (`sum`), and the
    /// number of records.
    fn check(&self, decoded: &Decoded, sum: &str) -> Result<(), String> {
        if decoded.checksum != sum {
            return Err("the index journal is not the one the marker knew".into());
        }
        if decoded.seq == self.marker.seq {
            Ok(())
        } else {
            Err(format!(
                "the journal indexes {} records, the marker {}",
                decoded.seq, self.marker.seq
            ))
        }
    }

    /// The postings the marker names, opened once.
    fn postings(&self) -> Option<Result<Arc<Postings>, String>> {
        let marked = self.marker.postings.as_ref()?;
        Some(
            self.postings
                .get_or_init(|| Postings::open(&self.dir, &marked.point).map(Arc::new))
                .clone(),
        )
    }

    /// What [`Lookup::pass`] finds, through the postings and the journal after their point. `None`
    /// when there are none, or a want names nothing (every record: the journal has them in order).
    fn through_postings(&self, wants: &[Want]) -> Option<Result<(Decoded, Arc<Postings>), String>> {
        if wants
            .iter()
            .any(|w| w.app.is_none() && w.change.is_none() && w.tag.is_none())
        {
            return None;
        }
        let postings = match self.postings()? {
            Ok(p) => p,
            Err(why) => return Some(Err(why)),
        };
        Some(self.postings_pass(wants, &postings).map(|d| (d, postings)))
    }

    fn postings_pass(&self, wants: &[Want], postings: &Postings) -> Result<Decoded, String> {
        let (m, marked) = match &self.marker.postings {
            Some(marked) => (&self.marker, marked),
            None => return Err("no postings".into()),
        };
        let mut resolved: Vec<Resolved> = wants.iter().map(Resolved::of).collect();
        let mut hits: Vec<VecDeque<(u64, u64)>> = wants.iter().map(|_| VecDeque::new()).collect();
        for ((want, r), hits) in wants.iter().zip(&mut resolved).zip(&mut hits) {
            let mut lists = Vec::new();
            let asked = [
                (TAG_APP, &want.app, &mut r.app),
                (TAG_CHANGE, &want.change, &mut r.change),
                (TAG_TAG, &want.tag, &mut r.tag),
            ];
            for (kind, name, slot) in asked {
                let Some(name) = name else { continue };
                let found = postings.find(kind, name)?;
                if let Some(p) = &found {
                    *slot = Name::Id(p.id);
                }
                let mut list = found.map(|p| p.records).unwrap_or_default();
                if kind == TAG_CHANGE && name.is_empty() {
                    // No change id: those filed under none, with any filed under the empty one.
                    let none = postings.find(NONE, "")?.map(|p| p.records);
                    list = union(list, none.unwrap_or_default());
                }
                lists.push(list);
            }
            for (seq, offset) in intersection(lists) {
                push(hits, want.newest, seq, offset);
            }
        }
        let point = &marked.point;
        let decoded = decode(
            &self.journal,
            (point.journal_bytes, m.journal_bytes),
            Decoder {
                counts: point.counts,
                seq: point.seq,
            },
            wants,
            resolved,
            hits,
            HashSet::new(),
        )?;
        self.check(&decoded, &marked.tail_xxh3)?;
        Ok(decoded)
    }
}

/// The records in both of two lists (each by seq).
fn both(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The records in every one of `lists` (each by seq; at least one list).
fn intersection(lists: Vec<Vec<(u64, u64)>>) -> Vec<(u64, u64)> {
    let mut lists = lists.into_iter();
    let first = lists.next().unwrap_or_default();
    lists.fold(first, |acc, l| both(&acc, &l))
}

/// The records in either of two lists (each by seq), by seq.
fn union(mut a: Vec<(u64, u64)>, b: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

/// What one pass over the journal found: for each want, its seqs and offsets; the hashes of the tags'
/// names; the last seq; the checksum of the bytes read.
struct Decoded {
    hits: Vec<VecDeque<(u64, u64)>>,
    tags: HashSet<u64>,
    seq: u64,
    checksum: String,
}

/// Opens the journal and gives its first `len` bytes (no more: the writer may be appending).
fn journal_prefix(path: &Path, len: u64) -> Result<std::io::Take<File>, String> {
    let file = File::open(path).map_err(|e| format!("no index journal: {e}"))?;
    Ok(file.take(len))
}

/// Decodes the journal's bytes from `from` to `to`, in pieces, with `decoder` as it stands at `from`
/// (the start of the journal, past its header, or the postings' point), adding what `wants` ask for
/// to `hits` (their names' ids, when already known, in `resolved`) and the hashes of the tags named
/// there to `tags`. Checksums each piece as it is read.
#[allow(clippy::too_many_arguments)]
fn decode(
    path: &Path,
    (from, to): (u64, u64),
    mut decoder: Decoder,
    wants: &[Want],
    mut resolved: Vec<Resolved>,
    mut hits: Vec<VecDeque<(u64, u64)>>,
    mut tags: HashSet<u64>,
) -> Result<Decoded, String> {
    let mut file = journal_prefix(path, to)?;
    file.get_mut()
        .seek(std::io::SeekFrom::Start(from))
        .map_err(|e| format!("cannot read the index journal: {e}"))?;
    file.set_limit(to.saturating_sub(from));
    let mut checksum = Checksum::default();
    let mut read = 0u64;
    let mut pending: Vec<u8> = Vec::with_capacity(2 * PIECE);
    let mut header = from > 0;
    loop {
        let had = pending.len();
        // Appended without zeroing the space first; at most a piece at a time.
        let n = (&mut file)
            .take(PIECE as u64)
            .read_to_end(&mut pending)
            .map_err(|e| format!("cannot read the index journal: {e}"))?;
        checksum.update(&pending[had..]);
        read += n as u64;
        let mut rest: &[u8] = &pending;
        if !header {
            if rest.len() < MAGIC.len() && n > 0 {
                continue;
            }
            rest = rest
                .strip_prefix(MAGIC)
                .ok_or("the index journal is of another version")?;
            header = true;
        }
        while let Some((item, len)) = decoder.next(rest)? {
            rest = &rest[len..];
            match item {
                Item::Name(kind, name) => {
                    let id = match kind {
                        TAG_APP => decoder.counts[0],
                        TAG_CHANGE => decoder.counts[1],
                        _ => {
                            tags.insert(tag_hash(name));
                            decoder.counts[2]
                        }
                    } - 1;
                    for (r, w) in resolved.iter_mut().zip(wants) {
                        r.name(w, kind, name, id);
                    }
                }
                Item::Record(e) => {
                    for ((r, w), hits) in resolved.iter().zip(wants).zip(hits.iter_mut()) {
                        if r.matches(&e) {
                            push(hits, w.newest, e.seq, e.offset);
                        }
                    }
                }
            }
        }
        let used = pending.len() - rest.len();
        pending.drain(..used);
        if n == 0 {
            break;
        }
    }
    if read != to - from {
        return Err("the index journal is shorter than the marker says".into());
    }
    if !pending.is_empty() {
        return Err("the index journal is damaged (cut short)".into());
    }
    Ok(Decoded {
        hits,
        tags,
        seq: decoder.seq,
        checksum: checksum.hex(),
    })
}
