//! The postings of the index: `DATA_DIR/index/postings`, the journal up to a point turned inside out,
//! so that a command finds an app's, a change id's or a tag's records without reading the journal.
//!
//! The writer builds it (a chore) from the journal's first bytes at a *point*: when the log is opened,
//! and at each seal. The marker names the point (the seq, the journal's length and checksum there, the
//! names' counts) and carries the checksum of the journal's bytes after it (the *tail*, at most about
//! a segment's records). A reader whose marker names the point of the postings on disk reads a few
//! blocks of them and decodes only the tail; any other reader streams the whole journal as before.
//!
//! ```text
//! MAGIC
//! lists    for each name, in the order of the names: its records' (seq, offset), u64 LE each, by seq
//! blocks   the names sorted by (kind, bytes), cut in blocks of about BLOCK bytes; a name is
//!          kind u8 | length u32 | bytes | id u32 | where its list starts u64 | records u32 | XXH3-64 of its list u64
//! header   JSON: the point, and each block's first name, place, length and XXH3-64
//! footer   the header's length u32 | its XXH3-128 u128 (LE)
//! ```
//!
//! Kinds are those of the journal (an app, a change id, a tag) and [`NONE`]: the records without a
//! change id, under the empty name. Every block and list a reader reads is checked against its
//! checksum, and the header against the footer; the file is written to a temporary name and renamed,
//! so a reader sees a whole file or none. Like the journal it is derived data: a mismatch means the
//! reader streams the journal instead.

use super::journal::{
    self, Checksum, Decoder, Item, Point, NO_CHANGE, TAG_APP, TAG_CHANGE, TAG_TAG,
};
use crate::ledger::line::MAX_LINE;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// The postings inside the index directory.
pub const POSTINGS_FILE: &str = "postings";
const MAGIC: &[u8] = b"sluice-postings 1\n";
/// The kind of the records without a change id.
pub(super) const NONE: u8 = b'N';
/// The bytes of a block of names, about.
const BLOCK: usize = 32 << 10;
/// The most bytes of a header a reader reads.
const MAX_HEADER: u32 = 16 << 20;
const FOOTER: usize = 4 + 16;
/// A name's fixed bytes in a block, besides its own.
const NAME_FIXED: usize = 1 + 4 + 4 + 8 + 4 + 8;

/// A block of names: its first name, where it is, its length and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockRef {
    kind: u8,
    first: String,
    at: u64,
    len: u32,
    xxh3: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    point: Point,
    blocks: Vec<BlockRef>,
}

/// Writes the postings of the journal `bytes` (its first bytes, up to `point`) to `dir`, replacing
/// any there.
///
/// # Errors
///
/// The journal bytes are damaged, or the file cannot be written.
pub(super) fn write(dir: &Path, bytes: &[u8], point: &Point) -> Result<(), String> {
    let tmp = dir.join(format!("{POSTINGS_FILE}.tmp"));
    let written = build(bytes, point).and_then(|parts| {
        let file = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        parts
            .write_to(&mut out)
            .and_then(|()| out.into_inner().map_err(io::IntoInnerError::into_error))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, dir.join(POSTINGS_FILE)).map_err(|e| format!("{e}"))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The postings of a journal, laid out: the records of each name, and the names in order.
struct Parts {
    /// (seq, offset) of every posting of each kind (apps, change ids, tags), grouped by name.
    groups: [Vec<(u64, u64)>; 3],
    /// The lists in the order they are written: a group and a range of it.
    lists: Vec<(usize, usize, usize)>,
    blocks: Vec<Vec<u8>>,
    header: Vec<u8>,
}

impl Parts {
    fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(MAGIC)?;
        for &(k, from, to) in &self.lists {
            for (seq, offset) in &self.groups[k][from..to] {
                out.write_all(&seq.to_le_bytes())?;
                out.write_all(&offset.to_le_bytes())?;
            }
        }
        for b in &self.blocks {
            out.write_all(b)?;
        }
        out.write_all(&self.header)?;
        let len = u32::try_from(self.header.len()).map_err(io::Error::other)?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&xxh3_128(&self.header).to_le_bytes())
    }
}

fn list_bytes(list: &[(u64, u64)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(list.len() * 16);
    for (seq, offset) in list {
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
    }
    b
}

/// Lays out the postings of the journal `bytes` (which must end at `point`).
fn build(bytes: &[u8], point: &Point) -> Result<Parts, String> {
    let rest = bytes
        .strip_prefix(journal::MAGIC)
        .ok_or("the journal has no header")?;
    // The names of each kind by id, and every record's ids.
    let mut names: [Vec<&[u8]>; 3] = Default::default();
    let mut records: Vec<(u64, u32, u32)> = Vec::new();
    let mut tagged: Vec<(u32, u64)> = Vec::new();
    let mut decoder = Decoder::default();
    let mut rest = rest;
    while !rest.is_empty() {
        let Some((item, len)) = decoder.next(rest)? else {
            return Err("the journal is cut short".into());
        };
        rest = &rest[len..];
        match item {
            Item::Name(kind, name) => names[kind_index(kind)].push(name),
            Item::Record(e) => {
                records.push((e.offset, e.app, e.change));
                tagged.extend(e.tags().map(|t| (t, e.seq)));
            }
        }
    }
    if decoder.seq != point.seq || decoder.counts != point.counts {
        return Err("the journal does not end at the postings' point".into());
    }
    let offset_of = |seq: u64| records[usize::try_from(seq - 1).unwrap_or(usize::MAX)].0;
    // Each kind's postings grouped by id (a counting sort: seqs stay ascending).
    let group = |count: usize, of: &mut dyn Iterator<Item = (u32, u64)>| {
        let pairs: Vec<(u32, u64)> = of.collect();
        let mut starts = vec![0usize; count + 1];
        for &(id, _) in &pairs {
            starts[id as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut out = vec![(0u64, 0u64); pairs.len()];
        let mut next = starts.clone();
        for (id, seq) in pairs {
            out[next[id as usize]] = (seq, offset_of(seq));
            next[id as usize] += 1;
        }
        (starts, out)
    };
    let seqs = || (1u64..).zip(records.iter());
    let mut by_kind = [
        group(names[0].len(), &mut seqs().map(|(s, r)| (r.1, s))),
        group(
            names[1].len() + 1,
            &mut seqs().map(|(s, r)| (if r.2 == NO_CHANGE { 0 } else { r.2 + 1 }, s)),
        ),
        group(names[2].len(), &mut tagged.iter().copied()),
    ];
    let mut order: Vec<Named<'_>> = Vec::new();
    for (k, kind) in [TAG_APP, TAG_CHANGE, TAG_TAG].into_iter().enumerate() {
        let starts = &by_kind[k].0;
        // Change ids are shifted by one in their group: slot 0 holds the records without one.
        let shift = usize::from(k == 1);
        for (id, name) in names[k].iter().enumerate() {
            let range = (starts[id + shift], starts[id + shift + 1]);
            order.push((kind, name, u32::try_from(id).unwrap_or(u32::MAX), k, range));
        }
    }
    let none = (by_kind[1].0[0], by_kind[1].0[1]);
    order.push((NONE, b"", NO_CHANGE, 1, none));
    order.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut lists = Vec::with_capacity(order.len());
    let mut listed = 0u64;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut refs: Vec<BlockRef> = Vec::new();
    let mut at = MAGIC.len() as u64 + 16 * by_kind.iter().map(|(_, l)| l.len() as u64).sum::<u64>();
    for (kind, name, id, k, (from, to)) in order {
        let list = &by_kind[k].1[from..to];
        let list_at = MAGIC.len() as u64 + 16 * listed;
        listed += list.len() as u64;
        lists.push((k, from, to));
        if blocks
            .last()
            .is_none_or(|b| b.len() + NAME_FIXED + name.len() > BLOCK)
        {
            if let (Some(b), Some(r)) = (blocks.last(), refs.last_mut()) {
                r.len = u32::try_from(b.len()).unwrap_or(u32::MAX);
                r.xxh3 = xxh3_64(b);
                at += b.len() as u64;
            }
            refs.push(BlockRef {
                kind,
                first: journal::name_str(name)?.to_owned(),
                at,
                len: 0,
                xxh3: 0,
            });
            blocks.push(Vec::with_capacity(BLOCK + NAME_FIXED + name.len()));
        }
        let b = blocks.last_mut().ok_or("no block")?;
        b.push(kind);
        b.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&list_at.to_le_bytes());
        b.extend_from_slice(&u32::try_from(list.len()).unwrap_or(u32::MAX).to_le_bytes());
        b.extend_from_slice(&xxh3_64(&list_bytes(list)).to_le_bytes());
    }
    if let (Some(b), Some(r)) = (blocks.last(), refs.last_mut()) {
        r.len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        r.xxh3 = xxh3_64(b);
    }
    let header = serde_json::to_vec(&Header {
        point: point.clone(),
        blocks: refs,
    })
    .map_err(|e| e.to_string())?;
    let groups = [
        std::mem::take(&mut by_kind[0].1),
        std::mem::take(&mut by_kind[1].1),
        std::mem::take(&mut by_kind[2].1),
    ];
    Ok(Parts {
        groups,
        lists,
        blocks,
        header,
    })
}

/// A name in the order of the postings: its kind, bytes and id, the kind's group, and the range of
/// its list there.
type Named<'b> = (u8, &'b [u8], u32, usize, (usize, usize));

fn kind_index(kind: u8) -> usize {
    match kind {
        TAG_APP => 0,
        TAG_CHANGE => 1,
        _ => 2,
    }
}

/// A name found in the postings: its id in the journal, and its records' (seq, offset) by seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Posted {
    pub(super) id: u32,
    pub(super) records: Vec<(u64, u64)>,
}

/// The postings on disk, opened to read: the header checked against the footer.
pub(super) struct Postings {
    file: File,
    header: Header,
}

impl Postings {
    /// The postings in `dir`, when they stop at `point`.
    ///
    /// # Errors
    ///
    /// There are none, they stop elsewhere, or they are damaged (says how).
    pub(super) fn open(dir: &Path, point: &Point) -> Result<Self, String> {
        let path = dir.join(POSTINGS_FILE);
        let file = File::open(&path).map_err(|e| format!("no postings: {e}"))?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let damaged = || "the postings are damaged".to_owned();
        let mut magic = vec![0u8; MAGIC.len()];
        file.read_exact_at(&mut magic, 0).map_err(|_| damaged())?;
        if magic != MAGIC {
            return Err("the postings are of another version".into());
        }
        let mut footer = [0u8; FOOTER];
        let footer_at = size.checked_sub(FOOTER as u64).ok_or_else(damaged)?;
        file.read_exact_at(&mut footer, footer_at)
            .map_err(|_| damaged())?;
        let len = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
        let mut sum = [0u8; 16];
        sum.copy_from_slice(&footer[4..]);
        let header_at = footer_at
            .checked_sub(u64::from(len))
            .filter(|_| len <= MAX_HEADER)
            .ok_or_else(damaged)?;
        let mut text = vec![0u8; len as usize];
        file.read_exact_at(&mut text, header_at)
            .map_err(|_| damaged())?;
        if xxh3_128(&text) != u128::from_le_bytes(sum) {
            return Err(damaged());
        }
        let header: Header = serde_json::from_slice(&text).map_err(|_| damaged())?;
        if header.point != *point {
            return Err("the postings stop elsewhere than the marker says".into());
        }
        Ok(Postings { file, header })
    }

    /// The records filed under `name` of `kind` ([`TAG_APP`], [`TAG_CHANGE`], [`TAG_TAG`], or
    /// [`NONE`] with the empty name); `None` when no record up to the point is.
    ///
    /// # Errors
    ///
    /// A block or list read is damaged.
    pub(super) fn find(&self, kind: u8, name: &str) -> Result<Option<Posted>, String> {
        let key = (kind, name.as_bytes());
        let blocks = &self.header.blocks;
        let i = blocks.partition_point(|b| (b.kind, b.first.as_bytes()) <= key);
        let Some(block) = i.checked_sub(1).map(|i| &blocks[i]) else {
            return Ok(None);
        };
        // Bounded before reading: a block holds names of at most a line's length past its size, a
        // list at most every record up to the point (a forged header or block asks for no more).
        if block.len as usize > BLOCK + NAME_FIXED + MAX_LINE {
            return Err("the postings are damaged".into());
        }
        let bytes = self.read(block.at, u64::from(block.len), block.xxh3)?;
        let mut rest = &bytes[..];
        while rest.len() >= NAME_FIXED {
            let n = u32_at(rest, 1) as usize;
            let Some(this) = rest.get(5..5 + n) else {
                break;
            };
            let fixed = &rest[5 + n..];
            if fixed.len() < NAME_FIXED - 5 {
                break;
            }
            match (rest[0], this).cmp(&key) {
                std::cmp::Ordering::Less => rest = &fixed[NAME_FIXED - 5..],
                std::cmp::Ordering::Greater => return Ok(None),
                std::cmp::Ordering::Equal => {
                    let id = u32_at(fixed, 0);
                    let at = u64_at(fixed, 4);
                    let count = u64::from(u32_at(fixed, 12));
                    let sum = u64_at(fixed, 16);
                    if count > self.header.point.seq {
                        return Err("the postings are damaged".into());
                    }
                    let list = self.read(at, count * 16, sum)?;
                    let records = list
                        .chunks_exact(16)
                        .map(|p| (u64_at(p, 0), u64_at(p, 8)))
                        .collect();
                    return Ok(Some(Posted { id, records }));
                }
            }
        }
        if rest.is_empty() {
            Ok(None)
        } else {
            Err("the postings are damaged".into())
        }
    }

    /// `len` bytes at `at`, checked against `sum`.
    fn read(&self, at: u64, len: u64, sum: u64) -> Result<Vec<u8>, String> {
        let damaged = || "the postings are damaged".to_owned();
        let len = usize::try_from(len).map_err(|_| damaged())?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| damaged())?;
        bytes.resize(len, 0);
        self.file
            .read_exact_at(&mut bytes, at)
            .map_err(|_| damaged())?;
        if xxh3_64(&bytes) == sum {
            Ok(bytes)
        } else {
            Err(damaged())
        }
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(x)
}

/// The point of a journal whose first bytes are `bytes` (checksummed as `sum`), ending at `seq` with
/// `counts` names of each kind.
pub(super) fn point(sum: &Checksum, len: u64, seq: u64, counts: [u32; 3]) -> Point {
    Point {
        seq,
        journal_bytes: len,
        journal_xxh3: sum.hex(),
        counts,
    }
}
