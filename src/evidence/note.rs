//! Signed notes (C2SP signed-note) and the Ed25519 keys that sign them, in the text forms of Go's
//! `golang.org/x/mod/sumdb/note`: a log's checkpoint key (signature type 0x01) and a witness's
//! cosigning key (type 0x04, C2SP tlog-cosignature). Takes key and note text; gives note text,
//! signature lines, and which given keys signed a note. Pure.
//!
//! A note is `text` (lines, each ending in `\n`), an empty line, then one line per signature:
//! `— <key name> <base64(4-byte key ID ‖ signature)>`. The key ID is the first 4 bytes of
//! `SHA-256(name ‖ "\n" ‖ type ‖ public key)`, big-endian.
//! - type 0x01 (a log's key): the signature is Ed25519 over `text`;
//! - type 0x04 (a witness's cosignature, `cosignature/v1`): the signature is a big-endian u64 POSIX
//!   timestamp followed by Ed25519 over `cosignature/v1\ntime <timestamp>\n` followed by `text`.
//!
//! Private keys are `PRIVATE+KEY+<name>+<key ID>+base64(type ‖ 32-byte seed)` (Go's form for type
//! 0x01; the same form with type 0x04 for a witness), public keys `<name>+<key ID>+base64(type ‖ key)`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

/// Signature type of a log's Ed25519 key (C2SP signed-note).
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type of a witness's timestamped Ed25519 cosignature (C2SP tlog-cosignature).
pub const TYPE_COSIGNATURE: u8 = 0x04;

/// Prefix of a signature line: an em dash and a space.
pub const SIG_PREFIX: &str = "\u{2014} ";

/// Largest note read (a checkpoint with a few cosignatures is under 1 KiB; bounds hostile input).
pub const MAX_NOTE: usize = 64 * 1024;

/// Most signature lines read from one note (Go's note package stops at 100 too).
const MAX_SIGNATURES: usize = 100;

/// What a cosignature signs before the checkpoint text.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// A key or note that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("not a private key of the form PRIVATE+KEY+<name>+<8 hex digits>+<base64> (make one with `sluice audit keygen` or `sluice witness keygen`)")]
    PrivateKey,
    #[error("not a public key of the form <name>+<8 hex digits>+<base64> (the .pub file of `sluice audit keygen` or `sluice witness keygen`)")]
    PublicKey,
    #[error("the key hash {found:08x} does not match the name and key (expected {expected:08x}): the key text was changed")]
    KeyHash { found: u32, expected: u32 },
    #[error("key name {0:?} must be non-empty, without spaces or '+'")]
    Name(String),
    #[error("only Ed25519 keys (type 1) and Ed25519 cosigning keys (type 4) are supported, not type {0}")]
    Algorithm(u8),
    #[error("this is a {found} key; {wanted} key is needed here")]
    Kind {
        found: &'static str,
        wanted: &'static str,
    },
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

/// What a key signs: a log's notes, or a witness's cosignatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Type 0x01: signs notes (a log's checkpoints).
    Log,
    /// Type 0x04: cosigns checkpoints (a witness).
    Witness,
}

impl KeyKind {
    fn type_byte(self) -> u8 {
        match self {
            KeyKind::Log => TYPE_ED25519,
            KeyKind::Witness => TYPE_COSIGNATURE,
        }
    }

    fn of_type(byte: u8) -> Result<Self, NoteError> {
        match byte {
            TYPE_ED25519 => Ok(KeyKind::Log),
            TYPE_COSIGNATURE => Ok(KeyKind::Witness),
            other => Err(NoteError::Algorithm(other)),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KeyKind::Log => "log (checkpoint)",
            KeyKind::Witness => "witness (cosigning)",
        }
    }

    /// Errs unless `self` is `wanted`.
    ///
    /// # Errors
    ///
    /// The key is of the other kind.
    pub fn expect(self, wanted: KeyKind) -> Result<(), NoteError> {
        if self == wanted {
            Ok(())
        } else {
            Err(NoteError::Kind {
                found: self.describe(),
                wanted: match wanted {
                    KeyKind::Log => "a log (checkpoint)",
                    KeyKind::Witness => "a witness (cosigning)",
                },
            })
        }
    }
}

/// The key ID of C2SP signed-note: `SHA-256(name ‖ "\n" ‖ type ‖ key)[:4]`, big-endian.
fn key_id(name: &str, kind: KeyKind, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([kind.type_byte()]);
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

/// `name+hash+base64` → the name, the key kind, the 32 key bytes and the hash.
fn parse_key_text(
    text: &str,
    err: NoteError,
) -> Result<(String, KeyKind, [u8; 32], u32), NoteError> {
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
    let kind = KeyKind::of_type(alg)?;
    let key: [u8; 32] = key.try_into().map_err(|_| err)?;
    Ok((name.to_owned(), kind, key, hash))
}

/// An Ed25519 signing key with its name and kind.
pub struct SigningKey {
    name: String,
    kind: KeyKind,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        write!(f, "SigningKey({}, {:?})", self.name, self.kind)
    }
}

impl SigningKey {
    /// A new random key named `name`.
    ///
    /// # Errors
    ///
    /// The name is not valid, or the system has no random source.
    pub fn generate(name: &str, kind: KeyKind) -> Result<Self, NoteError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| NoteError::Random(e.to_string()))?;
        Ok(SigningKey {
            name: name.to_owned(),
            kind,
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
        let (name, kind, seed, hash) = parse_key_text(rest, NoteError::PrivateKey)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let expected = key_id(&name, kind, key.verifying_key().as_bytes());
        if hash != expected {
            return Err(NoteError::KeyHash {
                found: hash,
                expected,
            });
        }
        Ok(SigningKey { name, kind, key })
    }

    /// The key's name: for a log's key, the origin of every checkpoint it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the key signs.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    fn id(&self) -> u32 {
        key_id(&self.name, self.kind, self.key.verifying_key().as_bytes())
    }

    /// The private key text (a secret).
    pub fn to_private_text(&self) -> String {
        let mut raw = vec![self.kind.type_byte()];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id(),
            B64.encode(raw)
        )
    }

    /// The matching public key.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            hash: self.id(),
            name: self.name.clone(),
            kind: self.kind,
            key,
        }
    }

    /// The signature line of a log's key over `text` (which must end in a newline), ending in `\n`.
    /// A witness's key gives its cosignature at time 0: use [`SigningKey::cosign`].
    pub fn signature_line(&self, text: &str) -> String {
        debug_assert!(text.ends_with('\n'));
        match self.kind {
            KeyKind::Log => {
                let mut sig = self.id().to_be_bytes().to_vec();
                sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
                format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(sig))
            }
            KeyKind::Witness => self.cosign(text, 0),
        }
    }

    /// The signed note of `text`: `text`, an empty line, the signature.
    pub fn sign_note(&self, text: &str) -> String {
        format!("{text}\n{}", self.signature_line(text))
    }

    /// A `cosignature/v1` line of a witness's key over the checkpoint `text` at `timestamp` (POSIX
    /// seconds): key ID ‖ timestamp (u64, big-endian) ‖ Ed25519 over `cosignature/v1\ntime
    /// <timestamp>\n` and the text.
    pub fn cosign(&self, text: &str, timestamp: u64) -> String {
        let message = cosigned_message(text, timestamp);
        let mut sig = self.id().to_be_bytes().to_vec();
        sig.extend_from_slice(&timestamp.to_be_bytes());
        sig.extend_from_slice(&self.key.sign(message.as_bytes()).to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(sig))
    }
}

fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}time {timestamp}\n{text}")
}

/// An Ed25519 public key with its name and kind (`name+hash+base64(type ‖ key)`, a C2SP vkey).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    hash: u32,
    kind: KeyKind,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Reads the public key text (surrounding white space ignored).
    ///
    /// # Errors
    ///
    /// The text is not a public key of this form, or its hash does not match.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, kind, bytes, hash) = parse_key_text(text, NoteError::PublicKey)?;
        let expected = key_id(&name, kind, &bytes);
        if hash != expected {
            return Err(NoteError::KeyHash {
                found: hash,
                expected,
            });
        }
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::PublicKey)?;
        Ok(VerifierKey {
            name,
            hash,
            kind,
            key,
        })
    }

    /// The public key text.
    pub fn to_text(&self) -> String {
        let mut raw = vec![self.kind.type_byte()];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.hash, B64.encode(raw))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the key verifies.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Checks one signature (the bytes after the key ID) over `text`: `None` when it does not verify,
    /// else what it says (a cosignature's timestamp).
    fn check(&self, text: &str, sig: &[u8]) -> Option<Checked> {
        match self.kind {
            KeyKind::Log => {
                let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
                self.key.verify(text.as_bytes(), &sig).ok()?;
                Some(Checked { timestamp: None })
            }
            KeyKind::Witness => {
                let (ts, sig) = sig.split_first_chunk::<8>()?;
                let ts = u64::from_be_bytes(*ts);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
                self.key
                    .verify(cosigned_message(text, ts).as_bytes(), &sig)
                    .ok()?;
                Some(Checked {
                    timestamp: Some(ts),
                })
            }
        }
    }
}

/// A signature that verified: a cosignature's timestamp.
struct Checked {
    timestamp: Option<u64>,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    pub name: String,
    pub id: u32,
    /// The signature after the key ID.
    pub sig: Vec<u8>,
    /// The line as it was, with its newline.
    pub line: String,
}

/// A note split into its text (ending in a newline) and its signature lines; nothing verified.
///
/// # Errors
///
/// The note is larger than [`MAX_NOTE`], holds a control character other than newline, has no empty
/// line before its signatures, or a signature line is malformed.
pub fn split(note: &str) -> Result<(&str, Vec<SignatureLine>), NoteError> {
    if note.len() > MAX_NOTE {
        return Err(NoteError::Malformed("larger than 64 KiB"));
    }
    if note.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "a control character other than newline",
        ));
    }
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no empty line before the signatures"))?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the signature lines must end in a newline",
        ));
    }
    let mut out = Vec::new();
    for (i, line) in sigs.lines().enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::Malformed("more than 100 signatures"));
        }
        out.push(parse_signature_line(line)?);
    }
    Ok((text, out))
}

/// Reads one `— <name> <base64>` line (without its newline).
///
/// # Errors
///
/// The line is not of that form.
pub fn parse_signature_line(line: &str) -> Result<SignatureLine, NoteError> {
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
        "a signature line must start with '— '",
    ))?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
        "a signature line is '— <name> <base64>'",
    ))?;
    check_name(name).map_err(|_| NoteError::Malformed("a signature's key name is not valid"))?;
    let raw = B64
        .decode(b64)
        .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
    let Some((id, sig)) = raw.split_first_chunk::<4>() else {
        return Err(NoteError::Malformed("a signature is too short"));
    };
    Ok(SignatureLine {
        name: name.to_owned(),
        id: u32::from_be_bytes(*id),
        sig: sig.to_vec(),
        line: format!("{line}\n"),
    })
}

/// A signature by one of the given keys that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Index of the key in the list given.
    pub key: usize,
    /// A cosignature's timestamp.
    pub timestamp: Option<u64>,
    /// The signature line, with its newline.
    pub line: String,
}

/// Verifies the signatures of `note` by `keys` (C2SP signed-note: lines by unknown keys are ignored, a
/// line whose name and ID match a given key must verify).
///
/// # Errors
///
/// The note is malformed, or a signature by a given key does not verify ([`NoteError::BadSignature`]).
pub fn verify<'a>(
    note: &'a str,
    keys: &[VerifierKey],
) -> Result<(&'a str, Vec<Signed>), NoteError> {
    let (text, lines) = split(note)?;
    let mut signed = Vec::new();
    for line in lines {
        let Some(k) = keys
            .iter()
            .position(|k| k.name == line.name && k.hash == line.id)
        else {
            continue;
        };
        let timestamp = keys[k]
            .check(text, &line.sig)
            .ok_or_else(|| NoteError::BadSignature(keys[k].to_text()))?
            .timestamp;
        signed.push(Signed {
            key: k,
            timestamp,
            line: line.line,
        });
    }
    Ok((text, signed))
}

/// Splits a signed note and verifies it: the text, once a signature by one of `keys` verifies.
///
/// # Errors
///
/// The note is malformed, no signature is by a given key ([`NoteError::UnknownKey`]), or a signature by
/// a given key does not verify ([`NoteError::BadSignature`]).
pub fn open<'a>(note: &'a str, keys: &[VerifierKey]) -> Result<&'a str, NoteError> {
    let (text, signed) = verify(note, keys)?;
    if signed.is_empty() {
        let (_, lines) = split(note)?;
        let unknown: Vec<String> = lines
            .iter()
            .map(|l| format!("{}+{:08x}", l.name, l.id))
            .collect();
        return Err(NoteError::UnknownKey(unknown.join(", ")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_texts() {
        for kind in [KeyKind::Log, KeyKind::Witness] {
            let key = SigningKey::generate("example.com/sluice", kind).unwrap();
            let again = SigningKey::parse(&format!("{}\n", key.to_private_text())).unwrap();
            assert_eq!(again.to_private_text(), key.to_private_text());
            assert_eq!(again.kind(), kind);
            let public = VerifierKey::parse(&key.verifier().to_text()).unwrap();
            assert_eq!(public, key.verifier());
            assert!(!format!("{key:?}").contains(&key.to_private_text()[30..]));
        }
    }

    #[test]
    fn key_texts_with_a_wrong_hash_name_or_type_are_refused() {
        let key = SigningKey::generate("a", KeyKind::Log).unwrap();
        let public = key.verifier().to_text();
        let renamed = public.replacen("a+", "b+", 1);
        assert!(matches!(
            VerifierKey::parse(&renamed),
            Err(NoteError::KeyHash { .. })
        ));
        assert_eq!(
            SigningKey::generate("has space", KeyKind::Log).unwrap_err(),
            NoteError::Name("has space".into())
        );
        assert_eq!(VerifierKey::parse("nonsense"), Err(NoteError::PublicKey));
        assert!(SigningKey::parse(&public).is_err());
        let mut raw = vec![2u8];
        raw.extend([0u8; 32]);
        let other = format!("a+00000000+{}", B64.encode(raw));
        assert_eq!(VerifierKey::parse(&other), Err(NoteError::Algorithm(2)));
        // The same key bytes as a cosigning key have another ID: type 4 in the hash.
        let private = key.to_private_text();
        let rest = private.strip_prefix("PRIVATE+KEY+").unwrap();
        let mut parts = rest.splitn(3, '+');
        let (name, id, b64) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut raw = B64.decode(b64).unwrap();
        raw[0] = TYPE_COSIGNATURE;
        let witness = SigningKey::parse(&format!("PRIVATE+KEY+{name}+{id}+{}", B64.encode(raw)));
        assert!(
            matches!(witness, Err(NoteError::KeyHash { .. })),
            "{witness:?}"
        );
    }

    #[test]
    fn a_signed_note_opens_with_its_key_only() {
        let key = SigningKey::generate("example.com/sluice", KeyKind::Log).unwrap();
        let note = key.sign_note("hello\n");
        assert_eq!(open(&note, &[key.verifier()]).unwrap(), "hello\n");
        let other = SigningKey::generate("example.com/sluice", KeyKind::Log).unwrap();
        assert!(matches!(
            open(&note, &[other.verifier()]),
            Err(NoteError::UnknownKey(_))
        ));
        let changed = note.replacen("hello", "jello", 1);
        assert_eq!(
            open(&changed, &[key.verifier()]),
            Err(NoteError::BadSignature(key.verifier().to_text()))
        );
    }

    #[test]
    fn a_cosignature_signs_its_header_time_and_the_whole_text() {
        let log = SigningKey::generate("log.example", KeyKind::Log).unwrap();
        let witness = SigningKey::generate("witness.example/w1", KeyKind::Witness).unwrap();
        let text = "log.example\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let line = witness.cosign(text, 1_679_315_147);
        let raw = B64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        // Key ID (4), timestamp (8, big-endian), Ed25519 signature (64).
        assert_eq!(raw.len(), 76);
        assert_eq!(&raw[4..12], &1_679_315_147u64.to_be_bytes());
        let msg = format!("cosignature/v1\ntime 1679315147\n{text}");
        let sig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
        witness.verifier().key.verify(msg.as_bytes(), &sig).unwrap();
        let note = format!("{}{line}", log.sign_note(text));
        let (_, signed) = verify(&note, &[log.verifier(), witness.verifier()]).unwrap();
        let got: Vec<(usize, Option<u64>)> = signed.iter().map(|s| (s.key, s.timestamp)).collect();
        assert_eq!(got, [(0, None), (1, Some(1_679_315_147))]);
        // Another timestamp in the line: the signature no longer verifies.
        let mut forged = raw.clone();
        forged[11] ^= 1;
        let forged_line = format!("{SIG_PREFIX}witness.example/w1 {}\n", B64.encode(forged));
        let note = format!("{}{forged_line}", log.sign_note(text));
        assert!(matches!(
            verify(&note, &[witness.verifier()]),
            Err(NoteError::BadSignature(_))
        ));
    }

    #[test]
    fn malformed_notes_are_errors_not_panics() {
        let key = SigningKey::generate("k", KeyKind::Log).unwrap();
        for bad in [
            "",
            "\n\n",
            "text\n\n",
            "text\n\nno dash\n",
            "text\n\n\u{2014} k\n",
            "text\n\n\u{2014} k !!!\n",
            "text\n\n\u{2014} k AAAA\n",
            "te\u{7}xt\n\n\u{2014} k AAAAAAAA\n",
        ] {
            assert!(open(bad, &[key.verifier()]).is_err(), "{bad:?}");
        }
    }
}
