//! Verifying the chain against signed checkpoints (`audit verify --public-key`), over the segments of a
//! data directory or of an archive. Takes segment readers in chain order and checkpoint notes; gives a
//! report or the first thing that does not hold. The chain alone detects any change before its last
//! record but not a log rewritten whole with every hash recomputed, nor records cut off the end; a
//! checkpoint signed by a key the rewriter does not hold detects both, up to its tree size.
//!
//! Segment layout (docs/audit-log.md, "Segments"): sealed segments are `segments/<first seq, 20
//! digits>.jsonl`, never modified again; the active segment is `audit.jsonl`, after them.

use super::checkpoint::{self, Checkpoint, NoteError, VerifierKey};
use crate::ledger::line::{self, Head};
use crate::ledger::segment::{self, LOG_FILE, SEGMENTS_DIR};
use crate::ledger::BadReason;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

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
        "the log ends at seq {end}, but {checkpoint} covers seq {size}: records were cut off the end"
    )]
    Truncated {
        end: u64,
        checkpoint: String,
        size: u64,
    },
    #[error("no checkpoint under {0}: nothing is signed to verify against")]
    NoCheckpoint(String),
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The head of the verified chain.
    pub head: Head,
    /// Checkpoints whose signature verified and whose record matched.
    pub checked: usize,
    /// The newest checked checkpoint's tree size.
    pub latest: Option<u64>,
    /// Checkpoints beyond the records given (only allowed from an archive: the active segment is not there).
    pub beyond: Vec<u64>,
}

/// One signed, opened checkpoint waiting for its record.
struct Pending {
    name: String,
    head: String,
}

/// Verification in progress: feed it the segments in chain order, then [`ChainCheck::finish`].
pub struct ChainCheck {
    head: Head,
    pending: BTreeMap<u64, Pending>,
    checked: Vec<u64>,
}

impl ChainCheck {
    /// Opens every checkpoint `(name, text)` with `keys`; each must verify and match its file name.
    ///
    /// # Errors
    ///
    /// A checkpoint is malformed, signed by no given key, or its signature does not verify.
    pub fn new(
        checkpoints: impl IntoIterator<Item = (String, String)>,
        keys: &[VerifierKey],
    ) -> Result<Self, ProofError> {
        let mut pending = BTreeMap::new();
        for (name, text) in checkpoints {
            let cp = Checkpoint::open(&text, keys).map_err(|source| ProofError::Note {
                name: name.clone(),
                source,
            })?;
            let file = Path::new(&name).file_name().and_then(|f| f.to_str());
            match file.and_then(checkpoint::size_of_name) {
                Some(named) if named != cp.size => {
                    return Err(ProofError::Renamed {
                        name,
                        named,
                        inside: cp.size,
                    })
                }
                _ => {}
            }
            pending.insert(
                cp.size,
                Pending {
                    name,
                    head: cp.head,
                },
            );
        }
        Ok(ChainCheck {
            head: Head::default(),
            pending,
            checked: Vec::new(),
        })
    }

    /// How many checkpoints were given.
    pub fn checkpoints(&self) -> usize {
        self.pending.len() + self.checked.len()
    }

    /// Verifies the next segment: it must continue the chain (a sealed one's `first_seq` from its name
    /// must be the next seq), and every record a checkpoint covers must have the signed hash.
    ///
    /// # Errors
    ///
    /// The segment cannot be read, does not continue the chain, breaks it, or disagrees with a checkpoint.
    pub fn segment(
        &mut self,
        name: &str,
        first_seq: Option<u64>,
        reader: impl Read,
    ) -> Result<(), ProofError> {
        if let Some(first) = first_seq {
            if first != self.head.seq + 1 {
                return Err(ProofError::Gap {
                    name: name.to_owned(),
                    first,
                    before: self.head.seq,
                });
            }
        }
        let mut mismatch = None;
        let pending = &mut self.pending;
        let checked = &mut self.checked;
        let start = Head {
            len: 0,
            ..self.head.clone()
        };
        let base = start.seq;
        let reader = io::BufReader::with_capacity(1 << 16, reader);
        let scan = line::scan_from(reader, start, base, |record, _| {
            let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
            let Some(cp) = pending.remove(&seq) else {
                return;
            };
            let hash = record.get("hash").and_then(Value::as_str).unwrap_or("");
            if hash == cp.head {
                checked.push(seq);
            } else if mismatch.is_none() {
                mismatch = Some(ProofError::Rewritten {
                    seq,
                    segment: name.to_owned(),
                    found: hash.to_owned(),
                    checkpoint: cp.name,
                    signed: cp.head,
                });
            }
        })
        .map_err(|source| ProofError::Io {
            name: name.to_owned(),
            source,
        })?;
        // The checkpoint is the stronger statement: a rewrite with recomputed hashes shows there first.
        if let Some(e) = mismatch {
            return Err(e);
        }
        if let Some(bad) = scan.bad {
            return Err(ProofError::Broken {
                name: name.to_owned(),
                line: bad.line,
                seq: bad.expected_seq,
                reason: bad.reason,
            });
        }
        self.head = scan.head;
        Ok(())
    }

    /// Ends the verification. Checkpoints beyond the last record are a truncation, unless
    /// `allow_beyond` (an archive holds sealed segments only): then they are listed in the report.
    ///
    /// # Errors
    ///
    /// A checkpoint covers a seq past the end of the log.
    pub fn finish(self, allow_beyond: bool) -> Result<Report, ProofError> {
        if let Some((&size, cp)) = self.pending.iter().next() {
            if !allow_beyond {
                return Err(ProofError::Truncated {
                    end: self.head.seq,
                    checkpoint: cp.name.clone(),
                    size,
                });
            }
        }
        Ok(Report {
            head: self.head,
            checked: self.checked.len(),
            latest: self.checked.iter().max().copied(),
            beyond: self.pending.into_keys().collect(),
        })
    }
}

/// Verifies the data directory's log (sealed segments, then `audit.jsonl`) against its checkpoints.
/// A torn last line is not verified and fails, as in `audit verify`.
///
/// # Errors
///
/// See [`ChainCheck`]; also no checkpoint at all while the log has records.
pub fn verify_dir(data_dir: &Path, keys: &[VerifierKey]) -> Result<Report, ProofError> {
    let io_err = |name: &Path| {
        let name = name.display().to_string();
        move |source| ProofError::Io { name, source }
    };
    let cp_dir = data_dir.join(checkpoint::DIR);
    let mut notes = Vec::new();
    for (_, path) in checkpoint::list(data_dir).map_err(io_err(&cp_dir))? {
        let text = read_bounded(&path, checkpoint::MAX_NOTE).map_err(io_err(&path))?;
        notes.push((path.display().to_string(), text));
    }
    let mut check = ChainCheck::new(notes, keys)?;
    let seg_dir = data_dir.join(SEGMENTS_DIR);
    for seg in segment::sealed(data_dir).map_err(io_err(&seg_dir))? {
        let file = std::fs::File::open(&seg.path).map_err(io_err(&seg.path))?;
        check.segment(&seg.path.display().to_string(), Some(seg.first_seq), file)?;
    }
    let active = data_dir.join(LOG_FILE);
    match std::fs::File::open(&active) {
        Ok(file) => check.segment(&active.display().to_string(), None, file)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound && check.head.seq > 0 => {}
        Err(e) => return Err(io_err(&active)(e)),
    }
    if check.checkpoints() == 0 && check.head.seq > 0 {
        return Err(ProofError::NoCheckpoint(cp_dir.display().to_string()));
    }
    check.finish(false)
}

/// Calls `each` with every record of the data directory's log (sealed segments, then `audit.jsonl`), in
/// order. For a log [`verify_dir`] has verified: a line that breaks the chain is an error all the same.
///
/// # Errors
///
/// A file cannot be read, or a line breaks the chain.
pub fn for_each_record(
    data_dir: &Path,
    mut each: impl FnMut(serde_json::Map<String, Value>),
) -> Result<Head, ProofError> {
    let io_err = |name: &Path| {
        let name = name.display().to_string();
        move |source| ProofError::Io { name, source }
    };
    let mut files: Vec<PathBuf> = segment::sealed(data_dir)
        .map_err(io_err(&data_dir.join(SEGMENTS_DIR)))?
        .into_iter()
        .map(|s| s.path)
        .collect();
    files.push(data_dir.join(LOG_FILE));
    let mut head = Head::default();
    for path in files {
        let file = std::fs::File::open(&path).map_err(io_err(&path))?;
        let start = Head {
            len: 0,
            ..head.clone()
        };
        let base = start.seq;
        let scan = line::scan_from(io::BufReader::new(file), start, base, |r, _| each(r))
            .map_err(io_err(&path))?;
        if let Some(bad) = scan.bad {
            return Err(ProofError::Broken {
                name: path.display().to_string(),
                line: bad.line,
                seq: bad.expected_seq,
                reason: bad.reason,
            });
        }
        head = scan.head;
    }
    Ok(head)
}

/// A file's text, refusing one larger than `max` bytes.
fn read_bounded(path: &Path, max: usize) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes: not a checkpoint"),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkpoint::SigningKey;
    use crate::ledger::testing::{self, Draft};
    use crate::ledger::Ledger;
    use serde_json::json;

    fn draft(i: u64) -> Draft {
        testing::draft(i, &format!("app{}", i % 3), None, "r")
    }

    /// A data directory with `n` records and a checkpoint signed at each of `at`.
    fn signed_log(n: u64, at: &[u64], key: &SigningKey) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Ledger::open(dir.path(), 1).unwrap();
        let mut done = 0;
        for &size in at.iter().chain([&n]) {
            let drafts: Vec<Draft> = (done + 1..=size).map(draft).collect();
            log.append_batch(&drafts).unwrap();
            done = size;
            if at.contains(&size) {
                let cp = Checkpoint {
                    origin: key.name().into(),
                    size,
                    head: log.head().hash.clone(),
                    time: "2026-01-02T00:00:02Z".into(),
                };
                checkpoint::store(dir.path(), size, &cp.sign(key).unwrap()).unwrap();
            }
        }
        dir
    }

    /// Seals the log by hand as the segment contract says: `starts` are the first seqs of the sealed
    /// segments, then the first seq of the active one; each sealed one holds the lines up to the next
    /// start in `segments/<start>.jsonl`, and `audit.jsonl` keeps the rest.
    fn split_into_segments(data_dir: &Path, starts: &[u64]) {
        let path = data_dir.join(LOG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
        let index = |seq: u64| usize::try_from(seq - 1).unwrap();
        std::fs::create_dir_all(data_dir.join(SEGMENTS_DIR)).unwrap();
        for w in starts.windows(2) {
            let chunk = lines[index(w[0])..index(w[1])].concat();
            std::fs::write(
                data_dir
                    .join(SEGMENTS_DIR)
                    .join(segment::segment_name(w[0])),
                chunk,
            )
            .unwrap();
        }
        let active = lines[index(*starts.last().unwrap())..].concat();
        std::fs::write(&path, active).unwrap();
    }

    fn key() -> SigningKey {
        SigningKey::generate("test.example/sluice").unwrap()
    }

    #[test]
    fn a_signed_log_verifies_whole_and_in_segments() {
        let k = key();
        let dir = signed_log(30, &[10, 25], &k);
        let r = verify_dir(dir.path(), &[k.verifier()]).unwrap();
        assert_eq!((r.head.seq, r.checked, r.latest), (30, 2, Some(25)));
        split_into_segments(dir.path(), &[1, 11, 21]);
        let r = verify_dir(dir.path(), &[k.verifier()]).unwrap();
        assert_eq!((r.head.seq, r.checked), (30, 2));
    }

    #[test]
    fn a_rewrite_with_recomputed_hashes_before_a_checkpoint_is_detected() {
        let k = key();
        let dir = signed_log(12, &[10], &k);
        // Rewrite record 3 and recompute every hash after it: the chain alone verifies again.
        let path = dir.path().join(LOG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut prev = crate::ledger::canonical::GENESIS.to_owned();
        let mut out = String::new();
        for line in text.lines() {
            let mut rec: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            if rec["seq"] == 3 {
                rec.insert("reason".into(), json!("forged"));
            }
            rec.insert("prev".into(), json!(prev));
            rec.remove("hash");
            let hash = crate::ledger::canonical::chain_hash(&prev, &rec).unwrap();
            rec.insert("hash".into(), json!(hash));
            out.push_str(
                &String::from_utf8(crate::ledger::canonical::object_to_canonical(&rec).unwrap())
                    .unwrap(),
            );
            out.push('\n');
            prev = hash;
        }
        std::fs::write(&path, out).unwrap();
        crate::ledger::verify(dir.path()).expect("the chain alone still verifies");
        match verify_dir(dir.path(), &[k.verifier()]) {
            Err(ProofError::Rewritten { seq: 10, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_truncated_log_that_still_chains_is_detected() {
        let k = key();
        let dir = signed_log(12, &[10], &k);
        let path = dir.path().join(LOG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept = text
            .lines()
            .take(8)
            .fold(String::new(), |s, l| s + l + "\n");
        std::fs::write(&path, kept).unwrap();
        crate::ledger::verify(dir.path()).expect("the chain alone still verifies");
        match verify_dir(dir.path(), &[k.verifier()]) {
            Err(ProofError::Truncated {
                end: 8, size: 10, ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deleted_renamed_or_reordered_segments_are_detected() {
        let k = key();
        let dir = signed_log(30, &[25], &k);
        split_into_segments(dir.path(), &[1, 11, 21, 26]);
        verify_dir(dir.path(), &[k.verifier()]).unwrap();
        let seg = |s| dir.path().join(SEGMENTS_DIR).join(segment::segment_name(s));
        // Deleted middle segment.
        let middle = std::fs::read(seg(11)).unwrap();
        std::fs::remove_file(seg(11)).unwrap();
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::Gap {
                first: 21,
                before: 10,
                ..
            })
        ));
        // Two segments' contents swapped under each other's names.
        let third = std::fs::read(seg(21)).unwrap();
        std::fs::write(seg(11), &third).unwrap();
        std::fs::write(seg(21), &middle).unwrap();
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::Broken {
                line: 1,
                seq: 11,
                ..
            })
        ));
        // The newest sealed segment and the active one gone: what is left still chains; the
        // checkpoint catches it.
        std::fs::write(seg(11), &middle).unwrap();
        std::fs::remove_file(seg(21)).unwrap();
        std::fs::write(dir.path().join(LOG_FILE), "").unwrap();
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::Truncated {
                end: 20,
                size: 25,
                ..
            })
        ));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_or_renamed_is_refused() {
        let k = key();
        let dir = signed_log(5, &[5], &k);
        let other = key();
        match verify_dir(dir.path(), &[other.verifier()]) {
            Err(ProofError::Note {
                source: NoteError::UnknownKey(_),
                ..
            }) => {}
            r => panic!("{r:?}"),
        }
        // An extra checkpoint by another key with the same name is refused too, even beside good ones.
        let forged = Checkpoint {
            origin: k.name().into(),
            size: 3,
            head: "00".repeat(32),
            time: "2026-01-02T00:00:02Z".into(),
        };
        checkpoint::store(dir.path(), 3, &forged.sign(&other).unwrap()).unwrap();
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::Note {
                source: NoteError::UnknownKey(_),
                ..
            })
        ));
        std::fs::remove_file(
            dir.path()
                .join(checkpoint::DIR)
                .join(checkpoint::file_name(3)),
        )
        .unwrap();
        std::fs::rename(
            dir.path()
                .join(checkpoint::DIR)
                .join(checkpoint::file_name(5)),
            dir.path()
                .join(checkpoint::DIR)
                .join(checkpoint::file_name(4)),
        )
        .unwrap();
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::Renamed {
                named: 4,
                inside: 5,
                ..
            })
        ));
    }

    #[test]
    fn no_checkpoint_for_a_log_with_records_fails() {
        let k = key();
        let dir = signed_log(3, &[], &k);
        assert!(matches!(
            verify_dir(dir.path(), &[k.verifier()]),
            Err(ProofError::NoCheckpoint(_))
        ));
    }
}
