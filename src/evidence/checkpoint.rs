//! Checkpoints (docs/audit-log.md, "Checkpoints"): C2SP tlog-checkpoint bodies in signed notes
//! (note.rs), and their files. Takes tree heads and note text; gives note text and verified
//! checkpoints. The only I/O is [`store`] and [`list`] over a directory of notes.
//!
//! A checkpoint's text is
//!
//! ```text
//! <origin>                      the log key's name: one log, one key
//! <tree size>                   the number of records (the seq of the last one)
//! <base64 of 32 bytes>          the root of the Merkle tree over the records' lines (RFC 6962)
//! ```
//!
//! Checkpoints signed before the tree existed have a fourth line, `hash-chain-head`, and a `time` line:
//! their third line is the `hash` of record `<tree size>` (the head of the hash chain), not a tree
//! root. They still verify, against the chain ([`Root::ChainHead`]).
//!
//! Files: `DATA_DIR/checkpoints/<tree size, 20 digits>.note` holds the note as the log signed it, and
//! `DATA_DIR/witnessed/<tree size>.note` the same note with the witnesses' cosignatures added.

use super::note::{self, NoteError, SigningKey, VerifierKey};
use crate::ledger::tree::hash::{self as tree_hash, Hash};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

/// The directory (inside the data directory and the archive) of the checkpoints the log signed.
pub const DIR: &str = "checkpoints";

/// The directory (inside the data directory and the archive) of checkpoints with cosignatures.
pub const WITNESSED_DIR: &str = "witnessed";

/// The extension line of checkpoints of the hash chain's head (before the Merkle tree).
pub const CHAIN_HEAD_LINE: &str = "hash-chain-head";

/// What a checkpoint's third line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The root of the Merkle tree of `size` records.
    Tree(Hash),
    /// The `hash` of record `size` (a checkpoint from before the tree).
    ChainHead(Hash),
}

/// What a checkpoint says: the log named `origin` had `size` records with this root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Root,
}

impl Checkpoint {
    /// The checkpoint of a tree.
    pub fn of_tree(origin: &str, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.to_owned(),
            size,
            root: Root::Tree(root),
        }
    }

    /// The tree root, for a checkpoint of the tree.
    pub fn tree_root(&self) -> Option<Hash> {
        match self.root {
            Root::Tree(h) => Some(h),
            Root::ChainHead(_) => None,
        }
    }

    /// The checkpoint text (see the module doc), ending in a newline. A chain-head checkpoint is
    /// written as sluice wrote them, with a `time` line of the epoch (only tests write one).
    pub fn to_text(&self) -> String {
        match self.root {
            Root::Tree(h) => format!(
                "{}\n{}\n{}\n",
                self.origin,
                self.size,
                tree_hash::to_base64(&h)
            ),
            Root::ChainHead(h) => format!(
                "{}\n{}\n{}\n{CHAIN_HEAD_LINE}\ntime 1970-01-01T00:00:00Z\n",
                self.origin,
                self.size,
                tree_hash::to_base64(&h)
            ),
        }
    }

    /// Reads a checkpoint text (already verified by [`note::open`]).
    ///
    /// # Errors
    ///
    /// A line is missing or malformed.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.lines();
        let origin = lines.next().filter(|l| !l.is_empty());
        let origin = origin.ok_or(NoteError::Body("no origin line"))?.to_owned();
        let size = lines
            .next()
            .filter(|l| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_digit())
                    && l.len() <= 19
                    && (*l == "0" || !l.starts_with('0'))
            })
            .and_then(|l| l.parse().ok())
            .ok_or(NoteError::Body("line 2 is not a tree size"))?;
        let hash = lines
            .next()
            .and_then(tree_hash::from_base64)
            .ok_or(NoteError::Body("line 3 is not a base64 SHA-256 hash"))?;
        let mut chain = false;
        for line in lines {
            if line.is_empty() {
                return Err(NoteError::Body("an empty extension line"));
            }
            chain |= line == CHAIN_HEAD_LINE;
        }
        let root = if chain {
            Root::ChainHead(hash)
        } else {
            Root::Tree(hash)
        };
        Ok(Checkpoint { origin, size, root })
    }

    /// The signed note of this checkpoint.
    pub fn sign(&self, key: &SigningKey) -> String {
        key.sign_note(&self.to_text())
    }

    /// Verifies a signed checkpoint note with `keys` and reads it; its origin must be the signer's name.
    ///
    /// # Errors
    ///
    /// See [`note::open`] and [`Checkpoint::parse`].
    pub fn open(note_text: &str, keys: &[VerifierKey]) -> Result<Self, NoteError> {
        let text = note::open(note_text, keys)?;
        let cp = Checkpoint::parse(text)?;
        if !keys.iter().any(|k| k.name() == cp.origin) {
            return Err(NoteError::Body("its origin is not the name of a given key"));
        }
        Ok(cp)
    }
}

/// The file name of the checkpoint of tree size `size`: 20 digits, so names sort as numbers.
pub fn file_name(size: u64) -> String {
    format!("{size:020}.note")
}

/// The tree size a checkpoint file name stands for.
pub fn size_of_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".note")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Writes `note` as the checkpoint of `size` under `data_dir/<dir>/`, never replacing a file
/// (fsynced, and its directory). `Ok(None)` when that checkpoint exists already.
///
/// # Errors
///
/// The directory or file cannot be created or written.
pub fn store(data_dir: &Path, dir: &str, size: u64, note: &str) -> io::Result<Option<PathBuf>> {
    let dir = data_dir.join(dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(file_name(size));
    let tmp = dir.join(format!(".{}.tmp", file_name(size)));
    // Written beside, then linked into place: a crash never leaves a half checkpoint under its name.
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(note.as_bytes())?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    }
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(Some(path))
}

/// The checkpoint files under `data_dir/<dir>/`, by tree size (none when there is no directory).
/// Other files are ignored.
///
/// # Errors
///
/// The directory exists but cannot be read.
pub fn list(data_dir: &Path, dir: &str) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = data_dir.join(dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(size) = entry.file_name().to_str().and_then(size_of_name) {
            out.push((size, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// A note file's text, refusing one larger than [`note::MAX_NOTE`].
///
/// # Errors
///
/// The file cannot be read, or is too large.
pub fn read_note(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(note::MAX_NOTE as u64 + 1)
        .read_to_string(&mut text)?;
    if text.len() > note::MAX_NOTE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {} bytes: not a checkpoint", note::MAX_NOTE),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::note::KeyKind;

    fn key() -> SigningKey {
        SigningKey::generate("example.com/sluice", KeyKind::Log).unwrap()
    }

    #[test]
    fn the_checkpoint_text_has_the_tlog_checkpoint_layout_and_no_extension_line() {
        let cp = Checkpoint::of_tree("example.com/sluice", 42, [0xab; 32]);
        let text = cp.to_text();
        assert_eq!(
            text,
            format!(
                "example.com/sluice\n42\n{}\n",
                tree_hash::to_base64(&[0xab; 32])
            )
        );
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        let k = key();
        assert_eq!(Checkpoint::open(&cp.sign(&k), &[k.verifier()]).unwrap(), cp);
    }

    #[test]
    fn a_checkpoint_of_the_chain_head_still_reads_as_one() {
        let old = "example.com/sluice\n7\nq83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80=\nhash-chain-head\ntime 2026-01-02T03:04:05Z\n";
        let cp = Checkpoint::parse(old).unwrap();
        assert_eq!(cp.size, 7);
        assert!(matches!(cp.root, Root::ChainHead(_)));
        assert_eq!(cp.tree_root(), None);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in [
            "o\nx\nAAAA\n",
            "o\n1\nAAAA\n",
            "o\n1\n",
            "",
            "o\n01\nq83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn store_never_replaces_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert!(store(dir.path(), DIR, 3, "one").unwrap().is_some());
        assert_eq!(store(dir.path(), DIR, 3, "two").unwrap(), None);
        let listed = list(dir.path(), DIR).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(std::fs::read_to_string(&listed[0].1).unwrap(), "one");
        assert_eq!(size_of_name(&file_name(3)), Some(3));
        assert!(list(dir.path(), WITNESSED_DIR).unwrap().is_empty());
    }
}
