//! The index as a command reads it (`audit list`, `audit show` on a data directory, beside a running
//! sink or not): read-only and in small memory. It never opens the journal for writing, never writes
//! or removes the marker, and takes no lock.
//!
//! - Opening checks the marker against the log, as the sink's quick start does. It then verifies the
//!   records after the marker, keeping how each is filed.
//! - A query streams the journal up to the marked length in pieces of [`PIECE`] bytes. It checks the
//!   journal's SHA-256 against the marker and keeps only the seqs and offsets of the records it wants
//!   (at most the newest `n` of them, when asked). Nothing else of the journal stays in memory: not the
//!   offsets of other records, not the names, not the idempotency keys.
//! - Every record it answers with is read where the index says it is, and checked to be that seq and
//!   filed as asked. An index found not to match the log answers nothing (`None`): the caller reads
//!   the log instead.

use super::journal::{
    self, Decoder, Item, Marker, RecordEntry, INDEX_DIR, JOURNAL_FILE, MAGIC, NO_CHANGE, TAG_APP,
    TAG_CHANGE,
};
use super::query::Fetcher;
use super::Found;
use crate::ledger::error::LedgerError;
use crate::ledger::line::Head;
use crate::ledger::lock;
use crate::ledger::schema::{Filing, Schema};
use crate::ledger::segment::{self, Listing, Resume};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

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
                .is_none_or(|c| filing.change.unwrap_or("") == c)
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
            app: &self.app,
            change: self.change.as_deref(),
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
    journal: PathBuf,
    marker: Marker,
    listing: Listing,
    /// The records after the marker.
    pub(super) after: Vec<Filed>,
    schema: Schema,
}

/// What [`Lookup::find`] found.
pub struct Answer {
    /// For each want, its records, oldest first.
    pub found: Vec<Vec<Found>>,
    /// The hashes of every tag the index knows.
    tags: HashSet<u64>,
}

impl Answer {
    /// Whether some record may be filed under `tag` (`false`: none is).
    pub fn may_have_tag(&self, tag: &str) -> bool {
        self.tags.contains(&tag_hash(tag))
    }
}

fn tag_hash(tag: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    tag.hash(&mut h);
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

    fn name(&mut self, want: &Want, kind: u8, name: &str, id: u32) {
        let (asked, slot) = match kind {
            TAG_APP => (&want.app, &mut self.app),
            TAG_CHANGE => (&want.change, &mut self.change),
            _ => (&want.tag, &mut self.tag),
        };
        if asked.as_deref() == Some(name) {
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
                app: filing.app.to_owned(),
                change: filing.change.map(str::to_owned),
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
            marker,
            listing,
            after,
            schema,
        }))
    }

    /// The records each of `wants` asks for, oldest first, each read where the index says it is and
    /// checked to be that record and filed as asked. One pass over the journal answers them all.
    /// `None` when the index is found not to match the log or its marker (read the log instead).
    pub fn find(&self, wants: &[Want]) -> Option<Answer> {
        let (mut hits, mut tags) = match self.pass(wants) {
            Ok(found) => found,
            Err(why) => {
                tracing::debug!(reason = %why, "the index journal cannot be used");
                return None;
            }
        };
        for f in &self.after {
            let filing = f.filing();
            tags.extend(filing.tags.iter().map(|t| tag_hash(t)));
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
        Some(Answer { found, tags })
    }

    /// Streams the journal up to the marked length: the seqs and offsets each want asks for, and the
    /// hashes of every tag's name; checks the marked length, SHA-256 and record count. The digest is
    /// computed beside the decoding (on another core when there is one): each reads the file.
    #[allow(clippy::type_complexity)]
    fn pass(&self, wants: &[Want]) -> Result<(Vec<VecDeque<(u64, u64)>>, HashSet<u64>), String> {
        enum Job {
            Digest,
            Decode,
        }
        enum Done {
            Digest(Result<String, String>),
            Decode(Result<Decoded, String>),
        }
        let m = &self.marker;
        let done = crate::parallel::map_each(&[Job::Digest, Job::Decode], |job| match job {
            Job::Digest => Done::Digest(digest_of(&self.journal, m.journal_bytes)),
            Job::Decode => Done::Decode(decode(&self.journal, m.journal_bytes, wants)),
        });
        let (mut digest, mut decoded) = (None, None);
        for d in done {
            match d {
                Done::Digest(r) => digest = Some(r?),
                Done::Decode(r) => decoded = Some(r?),
            }
        }
        let (Some(digest), Some(decoded)) = (digest, decoded) else {
            return Err("the index journal was not read".into());
        };
        if digest != m.journal_sha256 {
            return Err("the index journal is not the one the marker knew".into());
        }
        if decoded.seq != m.seq {
            return Err(format!(
                "the journal indexes {} records, the marker {}",
                decoded.seq, m.seq
            ));
        }
        Ok((decoded.hits, decoded.tags))
    }
}

/// What one pass over the journal found: for each want, its seqs and offsets; the hashes of the tags'
/// names; the last seq.
struct Decoded {
    hits: Vec<VecDeque<(u64, u64)>>,
    tags: HashSet<u64>,
    seq: u64,
}

/// Opens the journal and gives its first `len` bytes (no more: the writer may be appending).
fn journal_prefix(path: &Path, len: u64) -> Result<std::io::Take<File>, String> {
    let file = File::open(path).map_err(|e| format!("no index journal: {e}"))?;
    Ok(file.take(len))
}

/// The SHA-256 (hex) of the first `len` bytes of the journal, which must have that many.
fn digest_of(path: &Path, len: u64) -> Result<String, String> {
    let mut file = journal_prefix(path, len)?;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; PIECE];
    let mut read = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read the index journal: {e}"))?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        read += n as u64;
    }
    if read != len {
        return Err("the index journal is shorter than the marker says".into());
    }
    Ok(hex::encode(digest.finalize()))
}

/// Decodes the first `len` bytes of the journal, in pieces, keeping what `wants` ask for.
fn decode(path: &Path, len: u64, wants: &[Want]) -> Result<Decoded, String> {
    let mut file = journal_prefix(path, len)?;
    let mut resolved: Vec<Resolved> = wants.iter().map(Resolved::of).collect();
    let mut hits: Vec<VecDeque<(u64, u64)>> = wants.iter().map(|_| VecDeque::new()).collect();
    let mut tags = HashSet::new();
    let mut decoder = Decoder::default();
    let mut pending: Vec<u8> = Vec::with_capacity(2 * PIECE);
    let mut header = false;
    loop {
        let had = pending.len();
        pending.resize(had + PIECE, 0);
        let n = file
            .read(&mut pending[had..])
            .map_err(|e| format!("cannot read the index journal: {e}"))?;
        pending.truncate(had + n);
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
    if !pending.is_empty() {
        return Err("the index journal is damaged (cut short)".into());
    }
    Ok(Decoded {
        hits,
        tags,
        seq: decoder.seq,
    })
}
