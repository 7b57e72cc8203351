//! Signed checkpoints of the chain (docs/audit-log.md, "Checkpoints"): Ed25519 keys in the text forms of
//! Go's `golang.org/x/mod/sumdb/note` package, checkpoint bodies in the C2SP `tlog-checkpoint` layout,
//! and the signed-note envelope around them. Takes key text, note text and chain heads; gives note text
//! and verified checkpoints. The only I/O is [`store`] and [`list`] over `DATA_DIR/checkpoints/`.
//!
//! A note is `text` (lines, each ending in `\n`), an empty line, then one line per signature:
//! `— <key name> <base64(4-byte key hash ++ 64-byte Ed25519 signature over text)>`. The key hash is the
//! first 4 bytes of `SHA-256(name ++ "\n" ++ 0x01 ++ public key)`, big-endian. A checkpoint's text is
//!
//! ```text
//! <origin>                      the key's name: one log, one key
//! <tree size>                   the seq of the record it covers (the record count)
//! <base64 of 32 bytes>          that record's `hash`: the head of a hash chain, NOT a Merkle tree root
//! hash-chain-head               extension line saying so, for readers that expect a Merkle root
//! time <RFC 3339 UTC>           when it was signed
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The directory (inside the data directory and the archive) holding one file per checkpoint.
pub const DIR: &str = "checkpoints";

/// The extension line that marks the root hash as the head of a hash chain.
pub const CHAIN_HEAD_LINE: &str = "hash-chain-head";

/// The algorithm byte of Ed25519 keys in Go's note format.
const ALG_ED25519: u8 = 1;

/// Prefix of a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Largest note read (a checkpoint is about 200 bytes; bounds hostile files).
pub const MAX_NOTE: usize = 64 * 1024;

/// Most signature lines read from one note (Go's note package stops at 100 too).
const MAX_SIGNATURES: usize = 100;

/// A key or note that cannot be used, or a checkpoint that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a private key of the form PRIVATE+KEY+<name>+<8 hex digits>+<base64> (make one with `sluice audit keygen`)")]
    PrivateKey,
    #[error("not a public key of the form <name>+<8 hex digits>+<base64> (the .pub file of `sluice audit keygen`)")]
    PublicKey,
    #[error("the key hash {found:08x} does not match the name and key (expected {expected:08x}): the key text was changed")]
    KeyHash { found: u32, expected: u32 },
    #[error("key name {0:?} must be non-empty, without spaces or '+'")]
    Name(String),
    #[error("only Ed25519 keys (algorithm 1) are supported, not algorithm {0}")]
    Algorithm(u8),
    #[error("cannot read random bytes for a key: {0}")]
    Random(String),
    #[error("not a signed note: {0}")]
    Malformed(&'static str),
    #[error(
        "signed only by keys not given ({0}); a checkpoint signed by another key does not count"
    )]
    UnknownKey(String),
    #[error("the signature of {0} does not verify: the checkpoint text was changed")]
    BadSignature(String),
    #[error("not a checkpoint: {0}")]
    Body(&'static str),
}

/// The key hash Go's note package puts in key texts and signatures.
fn key_hash(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Go's `isValidName`: non-empty, no Unicode white space, no `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(char::is_whitespace) || name.contains('+') {
        return Err(NoteError::Name(name.to_owned()));
    }
    Ok(())
}

/// `name+hash+base64` → the name and the 32 key bytes, checking the algorithm and the hash.
fn parse_key_text(text: &str, err: NoteError) -> Result<(String, [u8; 32], u32), NoteError> {
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err);
    };
    check_name(name)?;
    if hash.len() != 8 {
        return Err(err);
    }
    let hash = u32::from_str_radix(hash, 16).map_err(|_| err.clone())?;
    let raw = B64.decode(b64).map_err(|_| err.clone())?;
    let (&alg, key) = raw.split_first().ok_or(err.clone())?;
    if alg != ALG_ED25519 {
        return Err(NoteError::Algorithm(alg));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| err)?;
    Ok((name.to_owned(), key, hash))
}

/// An Ed25519 signing key with its name (`PRIVATE+KEY+name+hash+base64(0x01 ++ seed)`).
pub struct SigningKey {
    name: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        write!(f, "SigningKey({})", self.name)
    }
}

impl SigningKey {
    /// A new random key named `name`.
    ///
    /// # Errors
    ///
    /// The name is not valid, or the system has no random source.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NoteError::Random(e.to_string()))?;
        Ok(SigningKey {
            name: name.to_owned(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// Reads the private key text (surrounding white space ignored).
    ///
    /// # Errors
    ///
    /// The text is not a private key of this form, or its hash does not match.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::PrivateKey)?;
        let (name, seed, hash) = parse_key_text(rest, NoteError::PrivateKey)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let expected = key_hash(&name, key.verifying_key().as_bytes());
        if hash != expected {
            return Err(NoteError::KeyHash {
                found: hash,
                expected,
            });
        }
        Ok(SigningKey { name, key })
    }

    /// The key's name: the origin of every checkpoint it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The private key text (a secret).
    pub fn to_private_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        let hash = key_hash(&self.name, self.key.verifying_key().as_bytes());
        format!("PRIVATE+KEY+{}+{hash:08x}+{}", self.name, B64.encode(raw))
    }

    /// The matching public key.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            hash: key_hash(&self.name, key.as_bytes()),
            name: self.name.clone(),
            key,
        }
    }

    /// The signed note of `text` (which must end in a newline): `text`, an empty line, the signature.
    pub fn sign_note(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'));
        let mut sig = key_hash(&self.name, self.key.verifying_key().as_bytes())
            .to_be_bytes()
            .to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(sig))
    }
}

/// An Ed25519 public key with its name (`name+hash+base64(0x01 ++ key)`, Go's verifier key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    hash: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Reads the public key text (surrounding white space ignored).
    ///
    /// # Errors
    ///
    /// The text is not a public key of this form, or its hash does not match.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, bytes, hash) = parse_key_text(text, NoteError::PublicKey)?;
        let expected = key_hash(&name, &bytes);
        if hash != expected {
            return Err(NoteError::KeyHash {
                found: hash,
                expected,
            });
        }
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::PublicKey)?;
        Ok(VerifierKey { name, hash, key })
    }

    /// The public key text.
    pub fn to_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.hash, B64.encode(raw))
    }
}

/// Splits a signed note and verifies it: the text, once a signature by one of `keys` verifies.
///
/// # Errors
///
/// The note is malformed, no signature is by a given key ([`NoteError::UnknownKey`]), or a signature by
/// a given key does not verify ([`NoteError::BadSignature`]).
pub fn open_note<'a>(note: &'a str, keys: &[VerifierKey]) -> Result<&'a str, NoteError> {
    if note.len() > MAX_NOTE {
        return Err(NoteError::Malformed("larger than 64 KiB"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no empty line before the signatures"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the signature lines must end in a newline",
        ));
    }
    let mut unknown = Vec::new();
    let mut verified = false;
    for (i, line) in sigs.lines().enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 100 signatures"));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "a signature line must start with '— '",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line is '— <name> <base64>'",
        ))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        let Some((hash, sig)) = raw.split_first_chunk::<4>() else {
            return Err(NoteError::Malformed("a signature is too short"));
        };
        let hash = u32::from_be_bytes(*hash);
        let Some(key) = keys.iter().find(|k| k.name == name && k.hash == hash) else {
            unknown.push(format!("{name}+{hash:08x}"));
            continue;
        };
        let sig = ed25519_dalek::Signature::from_slice(sig)
            .map_err(|_| NoteError::BadSignature(key.to_text()))?;
        key.key
            .verify(text.as_bytes(), &sig)
            .map_err(|_| NoteError::BadSignature(key.to_text()))?;
        verified = true;
    }
    if verified {
        Ok(text)
    } else {
        Err(NoteError::UnknownKey(unknown.join(", ")))
    }
}

/// What a checkpoint says: record `size` of the log named `origin` has the hash `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    /// The seq of the last record covered (the number of records).
    pub size: u64,
    /// That record's `hash` as 64 lower-case hex digits.
    pub head: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
}

impl Checkpoint {
    /// The checkpoint text (see the module doc), ending in a newline.
    ///
    /// # Errors
    ///
    /// `head` is not 64 hex digits.
    pub fn to_text(&self) -> Result<String, NoteError> {
        let raw =
            hex_to_bytes(&self.head).ok_or(NoteError::Body("the head is not 64 hex digits"))?;
        Ok(format!(
            "{}\n{}\n{}\n{CHAIN_HEAD_LINE}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(raw),
            self.time
        ))
    }

    /// Reads a checkpoint text (already verified by [`open_note`]).
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
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) && l.len() <= 19)
            .and_then(|l| l.parse().ok())
            .ok_or(NoteError::Body("line 2 is not a tree size"))?;
        let head = lines
            .next()
            .and_then(|l| B64.decode(l).ok())
            .filter(|raw| raw.len() == 32)
            .ok_or(NoteError::Body("line 3 is not a base64 SHA-256 hash"))?;
        let head = to_hex(&head);
        let mut time = None;
        let mut chain = false;
        for line in lines {
            if line == CHAIN_HEAD_LINE {
                chain = true;
            } else if let Some(t) = line.strip_prefix("time ") {
                time = Some(t.to_owned());
            }
        }
        if !chain {
            return Err(NoteError::Body(
                "no `hash-chain-head` line: not a sluice checkpoint",
            ));
        }
        Ok(Checkpoint {
            origin,
            size,
            head,
            time: time.ok_or(NoteError::Body("no `time` line"))?,
        })
    }

    /// The signed note of this checkpoint.
    ///
    /// # Errors
    ///
    /// `head` is not 64 hex digits.
    pub fn sign(&self, key: &SigningKey) -> Result<String, NoteError> {
        Ok(key.sign_note(&self.to_text()?))
    }

    /// Verifies a signed checkpoint note with `keys` and reads it; its origin must be the signer's name.
    ///
    /// # Errors
    ///
    /// See [`open_note`] and [`Checkpoint::parse`].
    pub fn open(note: &str, keys: &[VerifierKey]) -> Result<Self, NoteError> {
        let text = open_note(note, keys)?;
        let cp = Checkpoint::parse(text)?;
        if !keys.iter().any(|k| k.name == cp.origin) {
            return Err(NoteError::Body("its origin is not the name of a given key"));
        }
        Ok(cp)
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn hex_to_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
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

/// Writes `note` as the checkpoint of `size` under `data_dir/checkpoints/`, never replacing a file
/// (fsynced, and its directory). `Ok(None)` when that checkpoint exists already.
///
/// # Errors
///
/// The directory or file cannot be created or written.
pub fn store(data_dir: &Path, size: u64, note: &str) -> io::Result<Option<PathBuf>> {
    let dir = data_dir.join(DIR);
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

/// The checkpoint files under `data_dir/checkpoints/`, by tree size (none when there is no directory).
/// Other files are ignored.
///
/// # Errors
///
/// The directory exists but cannot be read.
pub fn list(data_dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = data_dir.join(DIR);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "example.com/sluice".into(),
            size,
            head: "ab".repeat(32),
            time: "2026-01-02T03:04:05Z".into(),
        }
    }

    #[test]
    fn keys_round_trip_through_their_texts() {
        let key = SigningKey::generate("example.com/sluice").unwrap();
        let again = SigningKey::parse(&format!("{}\n", key.to_private_text())).unwrap();
        assert_eq!(again.to_private_text(), key.to_private_text());
        let public = VerifierKey::parse(&key.verifier().to_text()).unwrap();
        assert_eq!(public, key.verifier());
        assert!(key
            .to_private_text()
            .starts_with("PRIVATE+KEY+example.com/sluice+"));
        assert!(!format!("{key:?}").contains(&key.to_private_text()[30..]));
    }

    #[test]
    fn key_texts_with_a_wrong_hash_name_or_algorithm_are_refused() {
        let key = SigningKey::generate("a").unwrap();
        let public = key.verifier().to_text();
        let renamed = public.replacen("a+", "b+", 1);
        assert!(matches!(
            VerifierKey::parse(&renamed),
            Err(NoteError::KeyHash { .. })
        ));
        assert_eq!(
            SigningKey::generate("has space").unwrap_err(),
            NoteError::Name("has space".into())
        );
        assert_eq!(VerifierKey::parse("nonsense"), Err(NoteError::PublicKey));
        assert!(SigningKey::parse(&public).is_err());
        // Algorithm byte 2 instead of 1.
        let mut raw = vec![2u8];
        raw.extend([0u8; 32]);
        let other = format!("a+00000000+{}", B64.encode(raw));
        assert_eq!(VerifierKey::parse(&other), Err(NoteError::Algorithm(2)));
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let key = SigningKey::generate("example.com/sluice").unwrap();
        let note = checkpoint(7).sign(&key).unwrap();
        assert_eq!(
            Checkpoint::open(&note, &[key.verifier()]).unwrap(),
            checkpoint(7)
        );
        let other = SigningKey::generate("example.com/sluice").unwrap();
        assert!(matches!(
            Checkpoint::open(&note, &[other.verifier()]),
            Err(NoteError::UnknownKey(_))
        ));
        // Same name and hash cannot be forged; a changed text breaks the signature.
        let changed = note.replacen("\n7\n", "\n8\n", 1);
        assert_eq!(
            Checkpoint::open(&changed, &[key.verifier()]),
            Err(NoteError::BadSignature(key.verifier().to_text()))
        );
    }

    #[test]
    fn the_checkpoint_text_has_the_tlog_checkpoint_layout() {
        let text = checkpoint(42).to_text().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "example.com/sluice");
        assert_eq!(lines[1], "42");
        assert_eq!(B64.decode(lines[2]).unwrap(), vec![0xab; 32]);
        assert_eq!(
            &lines[3..],
            ["hash-chain-head", "time 2026-01-02T03:04:05Z"]
        );
        assert_eq!(Checkpoint::parse(&text).unwrap(), checkpoint(42));
    }

    #[test]
    fn malformed_notes_are_errors_not_panics() {
        let key = SigningKey::generate("k").unwrap();
        for bad in [
            "",
            "\n\n",
            "text\n\n",
            "text\n\nno dash\n",
            "text\n\n\u{2014} k\n",
            "text\n\n\u{2014} k !!!\n",
            "text\n\n\u{2014} k AAAA\n",
        ] {
            assert!(open_note(bad, &[key.verifier()]).is_err(), "{bad:?}");
        }
        for bad in ["o\nx\nAAAA\n", "o\n1\nAAAA\n", "o\n1\n", ""] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn store_never_replaces_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert!(store(dir.path(), 3, "one").unwrap().is_some());
        assert_eq!(store(dir.path(), 3, "two").unwrap(), None);
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(std::fs::read_to_string(&listed[0].1).unwrap(), "one");
        assert_eq!(size_of_name(&file_name(3)), Some(3));
    }
}
