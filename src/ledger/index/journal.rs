//! The index on disk: `DATA_DIR/index/journal`, append-only binary entries (a name of an app, a change
//! id or a tag, or a record, in seq order: offset, app id, change id, and its tags' ids),
//! `DATA_DIR/index/keys`, the first 128 bits of the SHA-256 of each record's idempotency key in seq
//! order (apart, so that a reader streams only what queries need), and `DATA_DIR/index/marker.json`,
//! the verified prefix: the seq, hash and place of the last record verified, the sealed segments'
//! lengths, and both files' lengths and XXH3-128 checksums at that point. Encodes and decodes entries (whole, or streamed by [`Decoder`]), checks a
//! marker against the log, and writes or removes the marker. Both files are derived from the log and
//! never trusted for integrity: a mismatch means verifying the whole log again.
//!
//! The format has a version (in the journal's first line and the marker): a journal or marker of
//! another version is never read; the sink verifies the log and writes both again.

use crate::ledger::line::{self, MAX_LINE};
use crate::ledger::segment::{self, Segment};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3Default;

/// The directory of derived files inside the data directory.
pub const INDEX_DIR: &str = "index";
/// The index journal inside [`INDEX_DIR`].
pub const JOURNAL_FILE: &str = "journal";
/// The idempotency keys' digests inside [`INDEX_DIR`].
pub const KEYS_FILE: &str = "keys";
/// The verified-prefix marker inside [`INDEX_DIR`].
pub const MARKER_FILE: &str = "marker.json";

/// The version of the journal and the marker. 2: records carry their tags (version 1 had none: a
/// guard decision naming an emergency change could not be found by that change), and the keys are
/// in their own file. 3: the files' checksums are XXH3-128, not SHA-256 (a command reading through
/// the index spent most of its time hashing the journal).
pub(super) const VERSION: u32 = 3;
pub(super) const MAGIC: &[u8] = b"sluice-index 3\n";
pub(super) const TAG_APP: u8 = b'A';
pub(super) const TAG_CHANGE: u8 = b'C';
pub(super) const TAG_TAG: u8 = b'T';
pub(super) const TAG_RECORD: u8 = b'R';
/// A change id of `NO_CHANGE` in a journal entry: the record has none.
pub(super) const NO_CHANGE: u32 = u32::MAX;
/// Bytes of a record entry after its tag, before its tags' ids (4 bytes each): offset, app id,
/// change id, the number of tags.
pub(super) const RECORD_BYTES: usize = 17;
/// Bytes of a key digest in the keys file.
pub(super) const KEY_BYTES: usize = 16;
/// Most tags one record has.
const MAX_TAGS: usize = 16;

/// The verified prefix, as `index/marker.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Marker {
    pub(super) version: u32,
    /// The last record verified.
    pub(super) seq: u64,
    pub(super) hash: String,
    /// The first seq of its segment, and its byte range there.
    pub(super) segment: u64,
    pub(super) start: u64,
    pub(super) end: u64,
    /// The sealed segments before and including it: first seq and length in bytes.
    pub(super) sealed: Vec<(u64, u64)>,
    /// The journal's length when the marker was written, and the [`Checksum`] of those bytes.
    pub(super) journal_bytes: u64,
    pub(super) journal_xxh3: String,
    /// The same of the keys file.
    pub(super) keys_bytes: u64,
    pub(super) keys_xxh3: String,
    /// Where the postings stop, and the checksum of the journal's bytes after that point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) postings: Option<Marked>,
    /// The owner's state derived from the records up to `seq` (`ledger::Fold`), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fold: Option<SavedFold>,
}

/// The postings' point as the marker holds it, with the checksum of the journal after it (from the
/// point's `journalBytes` to the marker's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Marked {
    pub(super) point: Point,
    pub(super) tail_xxh3: String,
}

/// Where the postings (`postings.rs`) stop: the journal's first `journal_bytes` (their checksum
/// `journal_xxh3`), records up to `seq`, `counts` names of each kind (apps, change ids, tags) given
/// ids. The marker holds it with the checksum of the journal's bytes after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Point {
    pub(super) seq: u64,
    pub(super) journal_bytes: u64,
    pub(super) journal_xxh3: String,
    pub(super) counts: [u32; 3],
}

/// A [`crate::ledger::Fold`]'s state as the marker holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SavedFold {
    pub(super) kind: String,
    pub(super) state: Value,
}

/// The checksum of the journal's and the keys' bytes: XXH3-128, in hex. Not a cryptographic digest,
/// and it need not be one: the index is derived from the log and never trusted for integrity (whoever
/// can change the journal can change the marker beside it); the checksum finds a file damaged, cut,
/// or left by another run, at the speed of memory (SHA-256 was most of a command's time).
#[derive(Clone, Default)]
pub(super) struct Checksum(Xxh3Default);

impl Checksum {
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything given so far.
    pub(super) fn hex(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// The first 128 bits of the SHA-256 of an idempotency key, as the journal and the key map hold it.
pub(super) fn key_digest(key: &str) -> u128 {
    let d = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

/// Appends a name entry (an app or a change id gets the next id of its kind).
pub(super) fn push_name(out: &mut Vec<u8>, tag: u8, name: &str) {
    out.push(tag);
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// A record entry (its seq is the one after the entry before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordEntry<'b> {
    pub(super) seq: u64,
    pub(super) offset: u64,
    pub(super) app: u32,
    pub(super) change: u32,
    /// The tags' ids, 4 bytes each (little-endian).
    tags: &'b [u8],
}

impl RecordEntry<'_> {
    /// The ids of the record's tags.
    pub(super) fn tags(&self) -> impl Iterator<Item = u32> + '_ {
        self.tags
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Appends a record entry, the next seq's (at most [`MAX_TAGS`] tags: more are not filed).
pub(super) fn push_record(out: &mut Vec<u8>, offset: u64, (app, change): (u32, u32), tags: &[u32]) {
    let tags = &tags[..tags.len().min(MAX_TAGS)];
    out.push(TAG_RECORD);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&app.to_le_bytes());
    out.extend_from_slice(&change.to_le_bytes());
    out.push(u8::try_from(tags.len()).unwrap_or(u8::MAX));
    for t in tags {
        out.extend_from_slice(&t.to_le_bytes());
    }
}

/// One journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item<'b> {
    /// A name: of an app ([`TAG_APP`]), a change id ([`TAG_CHANGE`]) or a tag ([`TAG_TAG`]), which gets
    /// the next id of its kind. Its bytes as they are (UTF-8 when the writer wrote them): a reader
    /// that only compares names need not check that; [`name_str`] does.
    Name(u8, &'b [u8]),
    Record(RecordEntry<'b>),
}

/// Reads journal entries in order, numbering the records and checking that every id was named before:
/// from the whole journal, or from pieces of it as they are read.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    /// How many names of each kind have been given ids: apps, changes, tags.
    pub(super) counts: [u32; 3],
    /// The seq of the last record.
    pub(super) seq: u64,
}

fn bad(what: &str) -> String {
    format!("the journal is damaged ({what})")
}

impl Decoder {
    /// The entry at the start of `bytes` and its length; `None` when `bytes` ends inside it.
    ///
    /// # Errors
    ///
    /// The entry is damaged (says how).
    #[inline]
    pub(super) fn next<'b>(
        &mut self,
        bytes: &'b [u8],
    ) -> Result<Option<(Item<'b>, usize)>, String> {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let Some(&tag) = bytes.first() else {
            return Ok(None);
        };
        match tag {
            TAG_APP | TAG_CHANGE | TAG_TAG => {
                if bytes.len() < 5 {
                    return Ok(None);
                }
                let len = u32_at(1) as usize;
                if len > MAX_LINE {
                    return Err(bad("a name is too long"));
                }
                let Some(name) = bytes.get(5..5 + len) else {
                    return Ok(None);
                };
                let kind = match tag {
                    TAG_APP => 0,
                    TAG_CHANGE => 1,
                    _ => 2,
                };
                self.counts[kind] += 1;
                Ok(Some((Item::Name(tag, name), 5 + len)))
            }
            TAG_RECORD => {
                let Some(e) = bytes.get(1..=RECORD_BYTES) else {
                    return Ok(None);
                };
                let n = usize::from(e[RECORD_BYTES - 1]);
                if n > MAX_TAGS {
                    return Err(bad("too many tags"));
                }
                let Some(tags) = bytes.get(1 + RECORD_BYTES..1 + RECORD_BYTES + 4 * n) else {
                    return Ok(None);
                };
                let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let entry = RecordEntry {
                    seq: self.seq + 1,
                    offset: u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
                    app: u32_of(&e[8..12]),
                    change: u32_of(&e[12..16]),
                    tags,
                };
                if entry.app >= self.counts[0]
                    || (entry.change != NO_CHANGE && entry.change >= self.counts[1])
                    || (n > 0 && entry.tags().any(|t| t >= self.counts[2]))
                {
                    return Err(bad("an unknown name"));
                }
                self.seq = entry.seq;
                Ok(Some((Item::Record(entry), 1 + RECORD_BYTES + 4 * n)))
            }
            _ => Err(bad("unknown entry")),
        }
    }
}

/// A name entry's bytes as text.
///
/// # Errors
///
/// They are not UTF-8 (the journal is damaged).
pub(super) fn name_str(name: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(name).map_err(|_| bad("a name is not UTF-8"))
}

/// The records of a journal as plain vectors (seq `i + 1` at index `i`), and the names it gave ids.
#[derive(Default)]
pub(super) struct Decoded {
    pub(super) offsets: Vec<u64>,
    pub(super) apps: Vec<u32>,
    pub(super) changes: Vec<u32>,
    pub(super) keys: Vec<u128>,
    pub(super) app_ids: HashMap<Arc<str>, u32>,
    pub(super) change_ids: HashMap<Arc<str>, u32>,
    pub(super) tag_ids: HashMap<Arc<str>, u32>,
}

impl Decoded {
    pub(super) fn with_capacity(n: usize) -> Self {
        Decoded {
            offsets: Vec::with_capacity(n),
            apps: Vec::with_capacity(n),
            changes: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            ..Decoded::default()
        }
    }
}

/// Reads a journal's entries (the writer's start: every record's offset, app and change; the tags'
/// names, to give new tags the next ids). The keys are read apart ([`decode_keys`]).
///
/// # Errors
///
/// The journal is damaged (says how).
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    let mut rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("no header"))?;
    let mut out = Decoded::with_capacity(rest.len() / (RECORD_BYTES + 1));
    let mut decoder = Decoder::default();
    while !rest.is_empty() {
        let Some((item, len)) = decoder.next(rest)? else {
            return Err(bad("cut short"));
        };
        rest = &rest[len..];
        match item {
            Item::Name(kind, name) => {
                let name = name_str(name)?;
                let (ids, count) = match kind {
                    TAG_APP => (&mut out.app_ids, decoder.counts[0]),
                    TAG_CHANGE => (&mut out.change_ids, decoder.counts[1]),
                    _ => (&mut out.tag_ids, decoder.counts[2]),
                };
                ids.insert(name.into(), count - 1);
            }
            Item::Record(e) => {
                out.offsets.push(e.offset);
                out.apps.push(e.app);
                out.changes.push(e.change);
            }
        }
    }
    Ok(out)
}

/// The key digests of the keys file, one per record.
///
/// # Errors
///
/// The file does not hold whole digests.
pub(super) fn decode_keys(bytes: &[u8]) -> Result<Vec<u128>, String> {
    if !bytes.len().is_multiple_of(KEY_BYTES) {
        return Err("the index's keys file is damaged (cut short)".into());
    }
    Ok(bytes
        .chunks_exact(KEY_BYTES)
        .map(|b| {
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(b);
            u128::from_le_bytes(key)
        })
        .collect())
}

/// The marker in `dir` (the index directory), when there is one of this version.
///
/// # Errors
///
/// There is none, or it cannot be read (says why: the start then verifies everything).
pub(super) fn read_marker(dir: &Path) -> Result<Marker, String> {
    let text = match std::fs::read(dir.join(MARKER_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err("no marker yet".into()),
        Err(e) => return Err(format!("cannot read the marker: {e}")),
    };
    let m: Marker =
        serde_json::from_slice(&text).map_err(|e| format!("the marker does not parse: {e}"))?;
    if m.version != VERSION || m.seq == 0 {
        return Err("the marker is of another version".into());
    }
    Ok(m)
}

/// Checks that the sealed segments up to the marked one are those the marker knew, at the same
/// lengths; gives the index of the marked segment.
pub(super) fn check_marked_segments(m: &Marker, segments: &[Segment]) -> Result<usize, String> {
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
pub(super) fn check_marked_record(m: &Marker, path: &Path) -> Result<(), String> {
    let len = m
        .end
        .checked_sub(m.start)
        .filter(|l| *l > 0 && *l <= MAX_LINE as u64)
        .ok_or("the marker's range is invalid")?;
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = vec![0u8; len as usize];
    file.read_exact_at(&mut text, m.start)
        .map_err(|_| "the log is shorter than the marker says".to_owned())?;
    let body = text
        .strip_suffix(b"\n")
        .ok_or("the marked record has changed")?;
    let map: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| "the marked record has changed".to_owned())?;
    let intact = line::seq_of(&map) == m.seq
        && map.get("hash").and_then(Value::as_str) == Some(m.hash.as_str())
        && line::is_intact(&map, body);
    if intact {
        Ok(())
    } else {
        Err("the marked record has changed".into())
    }
}

/// The first `len` bytes of the file at `path` (the journal or the keys), when their [`Checksum`] is
/// `sum`; with the checksum's state, to go on with what is appended.
pub(super) fn read_prefix(path: &Path, len: u64, sum: &str) -> Result<(Vec<u8>, Checksum), String> {
    let file = File::open(path).map_err(|e| format!("no {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut checksum = Checksum::default();
    checksum.update(&bytes);
    if bytes.len() as u64 != len || checksum.hex() != sum {
        return Err(format!("{} is not the one the marker knew", path.display()));
    }
    Ok((bytes, checksum))
}

/// Writing or removing the marker.
pub(super) enum MarkerJob {
    /// Fsyncs the journal and the keys, then writes the marker (to a temporary file renamed over it).
    Write(Box<Marker>, [File; 2]),
    /// Removes the marker: the index was found not to match the log.
    Remove,
}

impl MarkerJob {
    /// Does it, in the index directory `dir`; a failure is logged (the next start verifies more).
    pub(super) fn run(self, dir: &Path) {
        let path = dir.join(MARKER_FILE);
        let written = match self {
            MarkerJob::Remove => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            MarkerJob::Write(marker, [journal, keys]) => {
                let tmp = dir.join(format!("{MARKER_FILE}.tmp"));
                journal
                    .sync_data()
                    .and_then(|()| keys.sync_data())
                    .and_then(|()| {
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
