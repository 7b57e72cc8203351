//! Verifying a log against its signed checkpoints (`audit verify --public-key`), over the segments of a
//! data directory or of an archive. Takes segment readers in chain order, checkpoint notes and tiles;
//! gives a report or the first thing that does not hold.
//!
//! The chain alone detects any change before its last record, but not a log rewritten whole with every
//! hash recomputed, nor records cut off the end. A checkpoint signed by a key the rewriter does not hold
//! detects both up to its tree size: the records' lines must give the root it signed (the Merkle tree,
//! RFC 6962) or, for a checkpoint from before the tree, the last one's `hash`. A checkpoint that
//! witnesses cosigned shows a fork even to someone who doubts the log's own key: the witnesses never
//! cosign two trees of which one does not extend the other. The tiles given are compared with the tree
//! the records give, and the checkpoints past the records (an archive holds sealed segments only) are
//! checked against the tiles. The snapshots the records name (what an outside system such as a Git
//! host said for a judgment, `snapshots/<digest>.json` beside the log) are listed in the report, for the caller to
//! check that each is there with its digest: [`verify_dir`] does so in the data directory.
//!
//! Segment layout (docs/audit-log.md, "Segments"): sealed segments are `segments/<first seq, 20
//! digits>.jsonl`, never modified again; the active segment is `audit.jsonl`, after them.

use super::checkpoint::{self, Checkpoint, Root};
use super::note::{self, NoteError, VerifierKey};
use super::snapshot;
use super::tiles::{self, TileError, TileSet};
use crate::ledger::line::{self, Head};
use crate::ledger::segment::Listing;
use crate::ledger::tree::hash::{self as tree_hash, Hash};
use crate::ledger::tree::{self, Builder};
use crate::ledger::BadReason;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::Path;

mod chunked;
pub use chunked::{verify_dir_lines, verify_dir_with, CHUNK};

/// Why the log does not match its checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("{name}: {source}")]
    Note {
        name: String,
        #[source]
        source: NoteError,
    },
    #[error(
        "{name}: the file name says tree size {named} but the checkpoint inside says {inside}"
    )]
    Renamed {
        name: String,
        named: u64,
        inside: u64,
    },
    #[error("{name}: line {line} (seq {seq}): {reason}")]
    Broken {
        name: String,
        line: u64,
        seq: u64,
        reason: BadReason,
    },
    #[error(
        "{name} starts at seq {first} but the records before end at seq {before}: a segment is missing, \
         or segments were renamed or reordered"
    )]
    Gap {
        name: String,
        first: u64,
        before: u64,
    },
    #[error(
        "record {seq} (in {segment}) has hash {found}, but {checkpoint} signed {signed}: the log was \
         rewritten before this checkpoint (every later hash may have been recomputed to hide it)"
    )]
    Rewritten {
        seq: u64,
        segment: String,
        found: String,
        checkpoint: String,
        signed: String,
    },
    #[error(
        "{checkpoint}{witnesses}: the log's records 1 to {size} give the tree root {found}, but the \
         checkpoint signed {signed}: the log was rewritten (a fork of what was signed{held})"
    )]
    Fork {
        size: u64,
        checkpoint: String,
        found: String,
        signed: String,
        witnesses: String,
        held: &'static str,
    },
    #[error(
        "{name} and {other} are both signed by the log's key for tree size {size} but with other \
         roots: the log signed two histories (a fork)"
    )]
    Forked {
        size: u64,
        name: String,
        other: String,
    },
    #[error(
        "the log ends at seq {end}, but {checkpoint} covers seq {size}: records were cut off the end"
    )]
    Truncated {
        end: u64,
        checkpoint: String,
        size: u64,
    },
    #[error("no checkpoint under {0}: nothing is signed to verify against")]
    NoCheckpoint(String),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Tile(#[from] TileError),
    #[error("{name} does not match the records it covers (records {from} to {to}): tiles are derived from the log, so either was changed")]
    TileMismatch { name: String, from: u64, to: u64 },
    #[error("{name} covers records past the end of the log (seq {end}): records were cut off the end, or the tile belongs to another log")]
    TileBeyond { name: String, end: u64 },
    #[error("{checkpoint} covers records past the archived segments and cannot be checked: {missing} is not in the archive")]
    Unchecked { checkpoint: String, missing: String },
    #[error("no checkpoint is cosigned by {threshold} of the {given} witness keys given{newest}: nothing is witnessed")]
    Unwitnessed {
        threshold: usize,
        given: usize,
        newest: String,
    },
    #[error("record {seq} names the snapshot {digest} (what an outside system said for its evidence): {reason}")]
    Snapshot {
        seq: u64,
        digest: String,
        reason: String,
    },
    #[error("{what}: the tree of the first {size} records has root {expected} there, but {found} here: one of them was rewritten")]
    Root {
        what: String,
        size: u64,
        expected: String,
        found: String,
    },
}

/// The keys a verification trusts.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// The log's public keys (rotated keys: any of them).
    pub log: Vec<VerifierKey>,
    /// The witnesses' public keys (cosigning keys).
    pub witnesses: Vec<VerifierKey>,
    /// How many distinct witnesses must have cosigned a checkpoint for it to count as witnessed.
    pub threshold: usize,
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The head of the verified chain.
    pub head: Head,
    /// The root of the tree of the verified records.
    pub root: Hash,
    /// Checkpoints whose signature verified and whose records matched (distinct tree sizes).
    pub checked: usize,
    /// The newest checked checkpoint's tree size.
    pub latest: Option<u64>,
    /// Checkpoints past the records, checked against the tiles (an archive).
    pub from_tiles: Vec<u64>,
    /// Checkpoints of the chain head past the records: nothing to check them against.
    pub beyond: Vec<u64>,
    /// The newest checkpoint cosigned by the threshold of witnesses, and by how many.
    pub witnessed: Option<(u64, usize)>,
    /// Tiles compared with the records.
    pub tiles: usize,
    /// The snapshots the records name (their digests), each with the first record's seq naming it.
    pub snapshots: BTreeMap<String, u64>,
}

/// One tree size's checkpoints (the same statement may come from several files).
#[derive(Debug)]
struct Signed {
    names: Vec<String>,
    root: Root,
    witnesses: BTreeSet<usize>,
}

impl Signed {
    fn cosigners(&self, keys: &Keys) -> String {
        let names: Vec<&str> = self
            .witnesses
            .iter()
            .map(|i| keys.witnesses[*i].name())
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(" (cosigned by {})", names.join(", "))
        }
    }
}

/// Verification in progress: give it the checkpoints and tiles, then the segments in chain order,
/// then [`Check::finish`].
pub struct Check {
    keys: Keys,
    head: Head,
    tree: Builder,
    signed: BTreeMap<u64, Signed>,
    checked: BTreeSet<u64>,
    tiles: TileSet,
    tiles_checked: usize,
    /// A tile that does not match, reported at the end (a checkpoint's mismatch is the stronger word).
    tile_error: Option<ProofError>,
    required: BTreeMap<u64, (Hash, String)>,
    snapshots: BTreeMap<String, u64>,
}

impl Check {
    /// A verification trusting `keys`.
    pub fn new(keys: Keys) -> Self {
        Check {
            keys,
            head: Head::default(),
            tree: Builder::new(),
            signed: BTreeMap::new(),
            checked: BTreeSet::new(),
            tiles: TileSet::default(),
            tiles_checked: 0,
            tile_error: None,
            required: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        }
    }

    /// Adds the checkpoint note `text` read from `name`: it must be signed by a log key (and match its
    /// file name); its cosignatures by the witness keys are counted (a bad one is an error).
    ///
    /// # Errors
    ///
    /// Not signed by a given log key, a signature that fails, a renamed file, or another checkpoint of
    /// the same size with another root.
    pub fn checkpoint(&mut self, name: String, text: &str) -> Result<(), ProofError> {
        let note_err = |source| ProofError::Note {
            name: name.clone(),
            source,
        };
        let cp = Checkpoint::open(text, &self.keys.log).map_err(note_err)?;
        let (_, cosigned) = note::verify(text, &self.keys.witnesses).map_err(note_err)?;
        let file = Path::new(&name).file_name().and_then(|f| f.to_str());
        if let Some(named) = file.and_then(checkpoint::size_of_name) {
            if named != cp.size {
                return Err(ProofError::Renamed {
                    name,
                    named,
                    inside: cp.size,
                });
            }
        }
        let witnesses: BTreeSet<usize> = match cp.root {
            Root::Tree(_) => cosigned.iter().map(|s| s.key).collect(),
            Root::ChainHead(_) => BTreeSet::new(),
        };
        match self.signed.get_mut(&cp.size) {
            Some(s) if s.root != cp.root => {
                return Err(ProofError::Forked {
                    size: cp.size,
                    name,
                    other: s.names[0].clone(),
                })
            }
            Some(s) => {
                s.names.push(name);
                s.witnesses.extend(witnesses);
            }
            None => {
                self.signed.insert(
                    cp.size,
                    Signed {
                        names: vec![name],
                        root: cp.root,
                        witnesses,
                    },
                );
            }
        }
        Ok(())
    }

    /// How many checkpoint files were given.
    pub fn checkpoints(&self) -> usize {
        self.signed.values().map(|s| s.names.len()).sum()
    }

    /// Adds the tiles to compare with the records (and to check checkpoints past them against).
    pub fn tiles(&mut self, tiles: TileSet) {
        self.tiles = tiles;
    }

    /// Requires the tree of the first `size` records to have `root` (what another copy of the log
    /// gave, named by `what`).
    pub fn require_root(&mut self, size: u64, root: Hash, what: String) {
        self.required.insert(size, (root, what));
    }

    /// Verifies the next segment: it must continue the chain (a sealed one's `first_seq` from its name
    /// must be the next seq), and every checkpoint it reaches must match.
    ///
    /// # Errors
    ///
    /// The segment cannot be read, does not continue the chain, breaks it, or disagrees with a
    /// checkpoint.
    pub fn segment(
        &mut self,
        name: &str,
        first_seq: Option<u64>,
        reader: impl Read,
    ) -> Result<(), ProofError> {
        self.segment_of(name, first_seq, reader, false)
    }

    /// [`Check::segment`]; with `unfinished`, an unfinished last line is a batch a sink is writing (the
    /// active segment while a writer holds the directory), and is left out.
    ///
    /// # Errors
    ///
    /// As [`Check::segment`].
    pub fn segment_of(
        &mut self,
        name: &str,
        first_seq: Option<u64>,
        reader: impl Read,
        unfinished: bool,
    ) -> Result<(), ProofError> {
        self.segment_each(name, first_seq, reader, unfinished, |_, _, _| {})
    }

    /// A sealed segment (its first seq `first_seq`) must begin right after the head checked so far.
    fn segment_start(&self, name: &str, first_seq: Option<u64>) -> Result<(), ProofError> {
        match first_seq {
            Some(first) if first != self.head.seq + 1 => Err(ProofError::Gap {
                name: name.to_owned(),
                first,
                before: self.head.seq,
            }),
            _ => Ok(()),
        }
    }

    /// [`Check::segment_of`], giving each record that continues the chain, where its line starts in
    /// the segment, and its line (without the newline) to `each`, in order. A record given may still
    /// be followed by an error (a checkpoint it disagrees with, a broken line after it): what `each`
    /// makes of the records stands only once the whole verification succeeds.
    ///
    /// # Errors
    ///
    /// As [`Check::segment`].
    pub fn segment_each(
        &mut self,
        name: &str,
        first_seq: Option<u64>,
        reader: impl Read,
        unfinished: bool,
        mut each: impl FnMut(&serde_json::Map<String, Value>, u64, &[u8]),
    ) -> Result<(), ProofError> {
        self.segment_start(name, first_seq)?;
        let start = Head {
            len: 0,
            ..self.head.clone()
        };
        let base = start.seq;
        let reader = io::BufReader::with_capacity(1 << 16, reader);
        let mut mismatch = None;
        let scan = line::scan_lines_from(reader, start, base, |record, offset, bytes| {
            each(&record, offset, bytes);
            let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
            self.leaf(tree_hash::leaf(bytes));
            for digest in snapshot::named_by(&record) {
                self.snapshots.entry(digest.to_owned()).or_insert(seq);
            }
            if mismatch.is_none() {
                let hash = record.get("hash").and_then(Value::as_str).unwrap_or("");
                mismatch = self.reached(seq, hash, name);
            }
        })
        .map_err(|source| ProofError::Io {
            name: name.to_owned(),
            source,
        })?;
        segment_end(name, mismatch, scan.bad, unfinished)?;
        self.head = scan.head;
        Ok(())
    }

    /// Adds a leaf, comparing every tile it fills with the tiles given.
    fn leaf(&mut self, leaf: Hash) {
        let mut filled = Vec::new();
        self.tree
            .push(leaf, |id, hashes| filled.push((id, hashes.to_vec())));
        for (id, hashes) in filled {
            self.compare_tile(id.level, id.index, &hashes);
        }
    }

    fn compare_tile(&mut self, level: u8, index: u64, hashes: &[Hash]) {
        for (name, theirs) in self.tiles.at(level, index) {
            let common = theirs.len().min(hashes.len());
            self.tiles_checked += 1;
            if theirs[..common] != hashes[..common] && self.tile_error.is_none() {
                let span = 1u64 << (8 * u32::from(level));
                let from = (index * tree::tile::WIDTH as u64) * span + 1;
                self.tile_error = Some(ProofError::TileMismatch {
                    name: name.to_owned(),
                    from,
                    to: from + common as u64 * span - 1,
                });
            }
        }
    }

    /// The tree now has `seq` records: the checkpoints and required roots of that size must hold.
    fn reached(&mut self, seq: u64, hash: &str, segment: &str) -> Option<ProofError> {
        if let Some((root, what)) = self.required.remove(&seq) {
            let found = self.tree.root();
            if found != root {
                return Some(ProofError::Root {
                    what,
                    size: seq,
                    expected: tree_hash::to_base64(&root),
                    found: tree_hash::to_base64(&found),
                });
            }
        }
        let signed = self.signed.get(&seq)?;
        let error = match signed.root {
            Root::Tree(root) if self.tree.root() != root => Some(self.fork(seq, self.tree.root())),
            Root::ChainHead(head) if hex::encode(head) != hash => Some(ProofError::Rewritten {
                seq,
                segment: segment.to_owned(),
                found: hash.to_owned(),
                checkpoint: signed.names[0].clone(),
                signed: hex::encode(head),
            }),
            _ => None,
        };
        if error.is_none() {
            self.checked.insert(seq);
        }
        error
    }

    fn fork(&self, size: u64, found: Hash) -> ProofError {
        let signed = &self.signed[&size];
        let witnesses = signed.cosigners(&self.keys);
        let held = if witnesses.is_empty() {
            ""
        } else {
            "; the witnesses hold the original"
        };
        let signed_root = match signed.root {
            Root::Tree(h) | Root::ChainHead(h) => tree_hash::to_base64(&h),
        };
        ProofError::Fork {
            size,
            checkpoint: signed.names[0].clone(),
            found: tree_hash::to_base64(&found),
            signed: signed_root,
            witnesses,
            held,
        }
    }

    /// Ends the verification. `complete`: the segments given are the whole log (a data directory), so a
    /// checkpoint or tile past them means records were cut off; otherwise (an archive, which holds
    /// sealed segments only) checkpoints past them are checked against the tiles.
    ///
    /// # Errors
    ///
    /// A checkpoint past the log's end (complete), one that its tiles do not give, a tile that does not
    /// match, or too few cosignatures.
    pub fn finish(mut self, complete: bool) -> Result<Report, ProofError> {
        let end = self.head.seq;
        // The partial tiles of the tree at its end, against the tiles given of the same places.
        let partial: Vec<(u8, u64, Vec<Hash>)> = self
            .tree
            .partial()
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(l, p)| (l as u8, (end >> (8 * (l as u32 + 1))), p.clone()))
            .collect();
        for (level, index, hashes) in &partial {
            self.compare_tile(*level, *index, hashes);
        }
        if let Some(e) = self.tile_error.take() {
            return Err(e);
        }
        let mut from_tiles = Vec::new();
        let mut beyond = Vec::new();
        let past: Vec<u64> = self.signed.range(end + 1..).map(|(s, _)| *s).collect();
        for size in past {
            let signed = &self.signed[&size];
            if complete {
                return Err(ProofError::Truncated {
                    end,
                    checkpoint: signed.names[0].clone(),
                    size,
                });
            }
            match signed.root {
                Root::ChainHead(_) => beyond.push(size),
                Root::Tree(root) => {
                    if let Some(missing) = self.tiles.missing_for(size).first() {
                        return Err(ProofError::Unchecked {
                            checkpoint: signed.names[0].clone(),
                            missing: missing.path(),
                        });
                    }
                    let found = tree::proof::root(&mut &self.tiles, size).map_err(|e| {
                        ProofError::Unchecked {
                            checkpoint: signed.names[0].clone(),
                            missing: e.to_string(),
                        }
                    })?;
                    if found != root {
                        return Err(self.fork(size, found));
                    }
                    from_tiles.push(size);
                }
            }
        }
        if complete {
            self.no_tiles_beyond(end)?;
        }
        if let Some((size, (_, what))) = self.required.iter().next() {
            return Err(ProofError::Truncated {
                end,
                checkpoint: what.clone(),
                size: *size,
            });
        }
        let witnessed = self.witnessed()?;
        Ok(Report {
            head: self.head,
            root: self.tree.root(),
            checked: self.checked.len(),
            latest: self.checked.last().copied(),
            from_tiles,
            beyond,
            witnessed,
            tiles: self.tiles_checked,
            snapshots: self.snapshots,
        })
    }

    /// No tile given may cover records past `end` (a data directory's whole log).
    fn no_tiles_beyond(&self, end: u64) -> Result<(), ProofError> {
        for (level, index) in self.tiles.places() {
            let span = 1u64 << (8 * u32::from(level));
            let first = index * tree::tile::WIDTH as u64;
            for (name, hashes) in self.tiles.at(level, index) {
                let covers = (first + hashes.len() as u64) * span;
                if covers > end {
                    return Err(ProofError::TileBeyond {
                        name: name.to_owned(),
                        end,
                    });
                }
            }
        }
        Ok(())
    }

    /// The newest checkpoint (checked against records or tiles) cosigned by the threshold.
    fn witnessed(&self) -> Result<Option<(u64, usize)>, ProofError> {
        if self.keys.witnesses.is_empty() {
            return Ok(None);
        }
        let threshold = self.keys.threshold.max(1);
        let best = self
            .signed
            .iter()
            .rev()
            .find(|(_, s)| s.witnesses.len() >= threshold)
            .map(|(size, s)| (*size, s.witnesses.len()));
        if best.is_none() {
            let newest = self
                .signed
                .iter()
                .next_back()
                .map(|(size, s)| {
                    format!(
                        " (the newest, at seq {size}, has {} of them)",
                        s.witnesses.len()
                    )
                })
                .unwrap_or_default();
            return Err(ProofError::Unwitnessed {
                threshold,
                given: self.keys.witnesses.len(),
                newest,
            });
        }
        Ok(best)
    }
}

fn io_err(name: &Path) -> impl FnOnce(io::Error) -> ProofError {
    let name = name.display().to_string();
    move |source| ProofError::Io { name, source }
}

/// Reads every checkpoint of a data directory (`checkpoints/` and `witnessed/`) into `check`.
///
/// # Errors
///
/// A file cannot be read, or a checkpoint does not hold (see [`Check::checkpoint`]).
pub fn add_local_checkpoints(check: &mut Check, data_dir: &Path) -> Result<(), ProofError> {
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        for (_, path) in checkpoint::list(data_dir, dir).map_err(io_err(&data_dir.join(dir)))? {
            let text = checkpoint::read_note(&path).map_err(io_err(&path))?;
            check.checkpoint(path.display().to_string(), &text)?;
        }
    }
    Ok(())
}

/// The end of a segment's check: the first record that disagreed with a checkpoint or tile
/// (`mismatch`), else the first line that broke the chain (`bad`), is the error; a torn last line is
/// not one while a sink writes the log (`unfinished`).
fn segment_end(
    name: &str,
    mismatch: Option<ProofError>,
    bad: Option<line::BadLine>,
    unfinished: bool,
) -> Result<(), ProofError> {
    if let Some(e) = mismatch {
        return Err(e);
    }
    match bad {
        Some(bad) if !(unfinished && bad.torn) => Err(ProofError::Broken {
            name: name.to_owned(),
            line: bad.line,
            seq: bad.expected_seq,
            reason: bad.reason,
        }),
        _ => Ok(()),
    }
}

/// Verifies the data directory's log (sealed segments, then `audit.jsonl`) against its checkpoints and
/// tiles, and against `check`'s other checkpoints and required roots, and that every snapshot a record
/// names is in `snapshots/` with its digest. A torn last line is not verified and fails, as in `audit
/// verify`.
///
/// # Errors
///
/// See [`Check`]; also no checkpoint at all while the log has records, and a snapshot a record names
/// that is missing or changed.
pub fn verify_dir(data_dir: &Path, check: Check) -> Result<Report, ProofError> {
    Ok(verify_dir_with(data_dir, check, CHUNK, |_| (), |_, (), _, _| {})?.0)
}

/// [`verify_dir`] record by record on one thread: the walk in order that [`verify_dir_with`] must
/// agree with (tests only), giving each record, its segment's index in the listing it read, where its line
/// starts there and its line to `each`, in order (see [`Check::segment_each`]: they stand only if
/// this succeeds); gives that listing back with the report, to read the records again by position.
///
/// # Errors
///
/// As [`verify_dir`].
#[cfg(test)]
pub fn verify_dir_each(
    data_dir: &Path,
    mut check: Check,
    mut each: impl FnMut(usize, &serde_json::Map<String, Value>, u64, &[u8]),
) -> Result<(Report, Listing), ProofError> {
    let listing = prepare(data_dir, &mut check)?;
    let live = crate::ledger::lock::is_held(data_dir);
    for (i, seg) in listing.segments.iter().enumerate() {
        let name = seg.path.display().to_string();
        match listing.reader(i, 0).map_err(io_err(&seg.path))? {
            Some((reader, _)) if seg.sealed => {
                check.segment_each(&name, Some(seg.first_seq), reader, false, |r, at, l| {
                    each(i, r, at, l);
                })?;
            }
            Some((reader, _)) => check.segment_each(&name, None, reader, live, |r, at, l| {
                each(i, r, at, l);
            })?,
            None if check.head.seq > 0 => {}
            None => return Err(not_there(&seg.path)),
        }
    }
    Ok((conclude(data_dir, check)?, listing))
}

/// The error of a segment listed but not there.
fn not_there(path: &Path) -> ProofError {
    let e = std::fs::File::open(path)
        .err()
        .unwrap_or_else(|| io::Error::from(io::ErrorKind::NotFound));
    io_err(path)(e)
}

/// Gives `check` the data directory's checkpoints and tiles, then lists the log as one snapshot.
fn prepare(data_dir: &Path, check: &mut Check) -> Result<Listing, ProofError> {
    add_local_checkpoints(check, data_dir)?;
    let set = tiles::read_dir(data_dir).map_err(|e| ProofError::Io {
        name: data_dir.join(tree::tile::DIR).display().to_string(),
        source: io::Error::other(e),
    })?;
    check.tiles(set);
    // The checkpoints and tiles first, then the log as one snapshot (a seal meanwhile moves nothing
    // under the reader): the log only grows after them.
    Ok(Listing::take(data_dir)?)
}

/// Ends the verification of a data directory's whole log: a checkpoint at all, [`Check::finish`], and
/// every snapshot the records name there with its digest.
fn conclude(data_dir: &Path, check: Check) -> Result<Report, ProofError> {
    if check.checkpoints() == 0 && check.head.seq > 0 {
        return Err(ProofError::NoCheckpoint(
            data_dir.join(checkpoint::DIR).display().to_string(),
        ));
    }
    let report = check.finish(true)?;
    for (digest, seq) in &report.snapshots {
        snapshot::read(data_dir, digest).map_err(|e| ProofError::Snapshot {
            seq: *seq,
            digest: digest.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
