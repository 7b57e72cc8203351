//! The witness (C2SP tlog-witness, `add-checkpoint`): another party's check that a log only ever grows.
//! It knows the logs' public keys, keeps the last checkpoint it cosigned for each log, and cosigns a
//! new checkpoint only when a consistency proof shows it extends that one; it persists the new
//! checkpoint before it answers, under one lock, so no two requests can roll it back. Also the client
//! side: the request body a log sends, and the cosignatures read from the answer.
//!
//! The answers, as the specification lists them:
//!
//! | status | when |
//! |---|---|
//! | 200 | cosigned: the body is the cosignature line |
//! | 400 | the body is not an `add-checkpoint` request, or the old size is larger than the checkpoint's |
//! | 403 | no signature by a key the witness knows for the origin verifies (or one by a known key fails) |
//! | 404 | the origin is not a log the witness knows |
//! | 409 | the old size is not the size of the checkpoint it holds: the body is that size (`text/x.tlog.size`) |
//! | 422 | the consistency proof does not verify (a fork), or a size-0 checkpoint has another root |
//!
//! State: `STATE_DIR/<hex SHA-256 of the origin>/checkpoint`, the last cosigned note (the log's
//! signature and the witness's cosignature), the same path as the monitoring URL.

use super::checkpoint::Checkpoint;
use super::note::{self, KeyKind, NoteError, SigningKey, VerifierKey};
use crate::ledger::tree::hash::{self as tree_hash, Hash, EMPTY};
use crate::ledger::tree::proof;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Most consistency proof lines a request may carry (the specification's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body: the old size, 63 proof lines and a checkpoint with signatures.
pub const MAX_BODY: usize = 64 * 1024;

/// The content type of a 409's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// A witness's answer to `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Answer {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A parsed `add-checkpoint` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

/// The body of an `add-checkpoint` request: `old <size>`, the proof lines, an empty line, the note.
pub fn request_body(old: u64, proof: &[Hash], note: &str) -> String {
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&tree_hash::to_base64(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// Reads an `add-checkpoint` body.
///
/// # Errors
///
/// It is not of that form (why, for the 400's body).
pub fn parse_request(body: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8")?;
    let (head, note) = text
        .split_once("\n\n")
        .ok_or("no empty line between the proof and the checkpoint")?;
    let mut lines = head.split('\n');
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .filter(|n| {
            !n.is_empty()
                && n.len() <= 19
                && n.bytes().all(|b| b.is_ascii_digit())
                && (*n == "0" || !n.starts_with('0'))
        })
        .and_then(|n| n.parse().ok())
        .ok_or("the first line must be `old <size>` (decimal, no leading zeros)")?;
    let mut proof = Vec::new();
    for line in lines {
        if proof.len() == MAX_PROOF_LINES {
            return Err("more than 63 consistency proof lines");
        }
        proof.push(tree_hash::from_base64(line).ok_or("a proof line is not a base64 hash")?);
    }
    Ok(Request {
        old,
        proof,
        note: note.to_owned(),
    })
}

/// The witness: its key, the logs it knows, where it keeps their checkpoints.
#[derive(Debug)]
pub struct Witness {
    key: SigningKey,
    logs: Vec<VerifierKey>,
    state_dir: PathBuf,
    /// Held from reading the stored checkpoint to persisting the new one.
    lock: Mutex<()>,
}

/// Why a witness cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("{0}")]
    Key(#[from] NoteError),
    #[error(
        "no log key given: the witness cosigns only logs whose public key it is given (--log-key)"
    )]
    NoLogs,
}

/// The hex SHA-256 of an origin: the name of its directory, and of its monitoring URL.
pub fn origin_hash(origin: &str) -> String {
    crate::ledger::canonical::to_hex(&Sha256::digest(origin.as_bytes()))
}

impl Witness {
    /// A witness with cosigning `key`, cosigning the logs of `logs` (their origins are their names).
    ///
    /// # Errors
    ///
    /// `key` is not a cosigning key, a log key is not a log's key, or no log is given.
    pub fn new(
        key: SigningKey,
        logs: Vec<VerifierKey>,
        state_dir: &Path,
    ) -> Result<Self, WitnessError> {
        key.kind().expect(KeyKind::Witness)?;
        for k in &logs {
            k.kind().expect(KeyKind::Log)?;
        }
        if logs.is_empty() {
            return Err(WitnessError::NoLogs);
        }
        Ok(Witness {
            key,
            logs,
            state_dir: state_dir.to_path_buf(),
            lock: Mutex::new(()),
        })
    }

    /// The witness's public key.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// The origins of the logs it cosigns.
    pub fn origins(&self) -> Vec<String> {
        self.logs.iter().map(|k| k.name().to_owned()).collect()
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        self.state_dir.join(origin_hash(origin)).join("checkpoint")
    }

    /// The last checkpoint cosigned for the log whose origin hashes to `hash` (the monitoring URL).
    pub fn latest(&self, hash: &str) -> Option<String> {
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        std::fs::read_to_string(self.state_dir.join(hash).join("checkpoint")).ok()
    }

    /// The size and root of the last checkpoint cosigned for `origin`: (0, empty root) when none.
    fn stored(&self, origin: &str, keys: &[VerifierKey]) -> io::Result<(u64, Hash)> {
        let text = match std::fs::read_to_string(self.state_path(origin)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, EMPTY)),
            Err(e) => return Err(e),
        };
        let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        let cp = Checkpoint::open(&text, keys).map_err(|e| bad(e.to_string()))?;
        let root = cp
            .tree_root()
            .ok_or_else(|| bad("not a checkpoint of a tree".into()))?;
        Ok((cp.size, root))
    }

    /// Answers one `add-checkpoint` body at `now` (POSIX seconds), persisting before it answers.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        let request = match parse_request(body) {
            Ok(r) => r,
            Err(why) => return Answer::text(400, why),
        };
        let origin = request.note.lines().next().unwrap_or("");
        let keys: Vec<VerifierKey> = self
            .logs
            .iter()
            .filter(|k| k.name() == origin)
            .cloned()
            .collect();
        if keys.is_empty() {
            return Answer::text(404, format!("unknown log origin {origin:?}"));
        }
        let (text, signed) = match note::verify(&request.note, &keys) {
            Ok((_, signed)) if signed.is_empty() => {
                return Answer::text(403, "no signature by a key of this log verifies")
            }
            Ok(v) => v,
            Err(e @ NoteError::BadSignature(_)) => return Answer::text(403, e.to_string()),
            Err(e) => return Answer::text(400, e.to_string()),
        };
        let cp = match Checkpoint::parse(text) {
            Ok(cp) => cp,
            Err(e) => return Answer::text(400, e.to_string()),
        };
        let Some(root) = cp.tree_root() else {
            return Answer::text(
                400,
                "a checkpoint of a hash chain's head: no tree to witness",
            );
        };
        if request.old > cp.size {
            return Answer::text(
                400,
                format!(
                    "old size {} is larger than the checkpoint's {}",
                    request.old, cp.size
                ),
            );
        }
        // From reading what is stored to persisting the new checkpoint: nothing else in between.
        let _held = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (size, stored_root) = match self.stored(origin, &keys) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(origin, error = %e, "cannot read the witness's state");
                return Answer::text(500, "the witness cannot read its state");
            }
        };
        if request.old != size {
            return Answer {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{size}\n"),
            };
        }
        if cp.size == 0 && root != EMPTY {
            return Answer::text(
                422,
                "a checkpoint of size 0 must have the empty tree's root",
            );
        }
        if let Err(e) =
            proof::verify_consistency(size, cp.size, &stored_root, &root, &request.proof)
        {
            tracing::warn!(origin, old = size, new = cp.size, error = %e, "refused a checkpoint that does not extend the one cosigned");
            return Answer::text(422, e.to_string());
        }
        let line = self.key.cosign(text, now);
        let kept: String = signed.iter().map(|s| s.line.as_str()).collect();
        let state = format!("{text}\n{kept}{line}");
        if let Err(e) = persist(&self.state_path(origin), &state) {
            tracing::error!(origin, error = %e, "cannot persist the witness's state; not cosigning");
            return Answer::text(500, "the witness cannot persist its state");
        }
        tracing::info!(origin, old = size, new = cp.size, "cosigned");
        Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: line,
        }
    }
}

/// Writes `text` to `path` atomically and durably: beside it, fsynced, renamed, the directory fsynced.
fn persist(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".checkpoint.tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// The cosignatures by `witness` in an `add-checkpoint` answer, checked against the checkpoint `text`.
///
/// # Errors
///
/// The answer holds no line by this witness that verifies.
pub fn read_cosignatures(
    answer: &str,
    text: &str,
    witness: &VerifierKey,
) -> Result<String, NoteError> {
    if answer.len() > note::MAX_NOTE {
        return Err(NoteError::Malformed("larger than 64 KiB"));
    }
    // The specification's way: append the answer to the checkpoint and verify it as a note.
    let (_, signed) = note::verify(&format!("{text}\n{answer}"), std::slice::from_ref(witness))?;
    if signed.is_empty() {
        return Err(NoteError::UnknownKey(witness.to_text()));
    }
    Ok(signed.into_iter().map(|s| s.line).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tree::hash::{leaf, root_of};
    use crate::ledger::tree::proof::Leaves;

    struct Setup {
        _dir: tempfile::TempDir,
        log: SigningKey,
        witness: Witness,
        leaves: Vec<Hash>,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let log = SigningKey::generate("log.example/a", KeyKind::Log).unwrap();
        let key = SigningKey::generate("witness.example/w", KeyKind::Witness).unwrap();
        let witness = Witness::new(key, vec![log.verifier()], dir.path()).unwrap();
        let leaves = (0..20u32).map(|i| leaf(&i.to_be_bytes())).collect();
        Setup {
            _dir: dir,
            log,
            witness,
            leaves,
        }
    }

    impl Setup {
        fn note(&self, size: usize) -> String {
            Checkpoint::of_tree("log.example/a", size as u64, root_of(&self.leaves[..size]))
                .sign(&self.log)
        }

        fn add(&self, old: u64, size: usize) -> Answer {
            let proof = proof::consistency(&mut Leaves(&self.leaves), old, size as u64).unwrap();
            let body = request_body(old, &proof, &self.note(size));
            self.witness.add_checkpoint(body.as_bytes(), 1_700_000_000)
        }
    }

    #[test]
    fn the_witness_cosigns_a_growing_log_and_keeps_what_it_cosigned() {
        let s = setup();
        let a = s.add(0, 5);
        assert_eq!(a.status, 200, "{a:?}");
        let text = Checkpoint::of_tree("log.example/a", 5, root_of(&s.leaves[..5])).to_text();
        read_cosignatures(&a.body, &text, &s.witness.verifier()).unwrap();
        assert_eq!(s.add(5, 12).status, 200);
        assert_eq!(s.add(12, 12).status, 200);
        let latest = s.witness.latest(&origin_hash("log.example/a")).unwrap();
        assert!(latest.starts_with("log.example/a\n12\n"), "{latest}");
        let (_, signed) = note::verify(&latest, &[s.log.verifier(), s.witness.verifier()]).unwrap();
        assert_eq!(signed.len(), 2);
    }

    #[test]
    fn the_witness_answers_as_the_specification_lists() {
        let s = setup();
        assert_eq!(s.add(0, 5).status, 200);
        // Not what it holds: 409 with its size.
        let a = s.add(0, 8);
        assert_eq!(
            (a.status, a.body.as_str(), a.content_type),
            (409, "5\n", SIZE_CONTENT_TYPE)
        );
        assert_eq!(s.add(3, 8).status, 409);
        // A fork: another record 2, a proof from the forked tree.
        let mut forked = s.leaves.clone();
        forked[2] = leaf(b"forged");
        let proof = proof::consistency(&mut Leaves(&forked), 5, 9).unwrap();
        let note = Checkpoint::of_tree("log.example/a", 9, root_of(&forked[..9])).sign(&s.log);
        let a = s
            .witness
            .add_checkpoint(request_body(5, &proof, &note).as_bytes(), 1);
        assert_eq!(a.status, 422, "{a:?}");
        // Same size, other root.
        let note = Checkpoint::of_tree("log.example/a", 5, root_of(&forked[..5])).sign(&s.log);
        let a = s
            .witness
            .add_checkpoint(request_body(5, &[], &note).as_bytes(), 1);
        assert_eq!(a.status, 422);
        // Old size above the checkpoint's.
        let a = s
            .witness
            .add_checkpoint(request_body(9, &[], &s.note(5)).as_bytes(), 1);
        assert_eq!(a.status, 400);
        // Unknown origin; signed by another key; not a request.
        let other = SigningKey::generate("log.example/b", KeyKind::Log).unwrap();
        let note = Checkpoint::of_tree("log.example/b", 1, leaf(b"x")).sign(&other);
        assert_eq!(
            s.witness
                .add_checkpoint(request_body(0, &[], &note).as_bytes(), 1)
                .status,
            404
        );
        let impostor = SigningKey::generate("log.example/a", KeyKind::Log).unwrap();
        let note = Checkpoint::of_tree("log.example/a", 9, root_of(&forked[..9])).sign(&impostor);
        assert_eq!(
            s.witness
                .add_checkpoint(request_body(5, &proof, &note).as_bytes(), 1)
                .status,
            403
        );
        assert_eq!(s.witness.add_checkpoint(b"hello", 1).status, 400);
        // A proof with a non-empty old size of zero, and the empty tree with another root.
        let fresh = setup();
        let note = fresh.note(5);
        let a = fresh
            .witness
            .add_checkpoint(request_body(0, &[leaf(b"x")], &note).as_bytes(), 1);
        assert_eq!(a.status, 422);
        let note = Checkpoint::of_tree("log.example/a", 0, leaf(b"x")).sign(&fresh.log);
        assert_eq!(
            fresh
                .witness
                .add_checkpoint(request_body(0, &[], &note).as_bytes(), 1)
                .status,
            422
        );
        // Nothing refused changed what it holds.
        assert_eq!(s.add(5, 9).status, 200);
    }

    #[test]
    fn requests_are_read_strictly() {
        let h = tree_hash::to_base64(&leaf(b"a"));
        let ok = format!("old 3\n{h}\n{h}\n\nnote\n");
        assert_eq!(parse_request(ok.as_bytes()).unwrap().proof.len(), 2);
        for bad in [
            "old 03\n\nx",
            "old -1\n\nx",
            "old 1\nnot base64\n\nx",
            "3\n\nx",
            "old 1\n",
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let long = format!("old 1\n{}\nx", format!("{h}\n").repeat(64));
        assert!(parse_request(long.as_bytes()).is_err());
    }
}
