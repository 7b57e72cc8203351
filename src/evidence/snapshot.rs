//! The content-addressed store of snapshots beside the log (docs/approvals.md): what an outside system
//! said for a decision (a Git host's trimmed answers today; a ticket system's or a metrics query's
//! later), kept as `DATA_DIR/snapshots/<sha256 hex>.json` and archived with the segments. Takes bytes,
//! gives their digest; a file is never replaced, and reading checks that the bytes still have the
//! digest of their name, so `sha256sum` alone verifies the store.

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory under the data directory.
pub const DIR: &str = "snapshots";

/// Largest snapshot read back.
pub const MAX_BYTES: u64 = 64 << 20;

/// A stored snapshot that cannot be read as what its name says.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0:?} is not a snapshot digest (64 lower-case hex digits)")]
    Name(String),
    #[error("{path}: the content's SHA-256 is {actual}, not the {expected} of its name: the snapshot was changed")]
    Changed {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: over {MAX_BYTES} bytes")]
    TooLarge { path: String },
}

/// The digests of the snapshots a record (a log line read as JSON) names: the `snapshotDigest` of each
/// of its evidence members (record/evidence.rs: `approval`, and any member of the same shape beside
/// it), in member order. Verification (evidence/proof.rs) and the export read records this way,
/// without the typed model, as they read every other member.
pub fn named_by(record: &serde_json::Map<String, serde_json::Value>) -> impl Iterator<Item = &str> {
    record
        .values()
        .filter_map(|member| member.as_object()?.get("snapshotDigest")?.as_str())
}

/// [`named_by`] of the canonical record on `line`, which is parsed only when it holds the name; with
/// the spans of its members (`check::canonical_fields_with` noted them as it checked the line; empty:
/// not noted), only an object member that holds the name is.
///
/// # Errors
///
/// What is parsed is not JSON (a line the check passed always is).
pub fn named_in(line: &[u8], spans: &[crate::ledger::Span]) -> serde_json::Result<Vec<String>> {
    if spans.is_empty() {
        if memchr::memmem::find(line, b"\"snapshotDigest\"").is_none() {
            return Ok(Vec::new());
        }
        let record: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line)?;
        return Ok(named_by(&record).map(str::to_owned).collect());
    }
    let mut named = Vec::new();
    for (_, value) in spans {
        let v = &line[value.clone()];
        if v.first() == Some(&b'{') && memchr::memmem::find(v, b"\"snapshotDigest\"").is_some() {
            let member: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(v)?;
            if let Some(serde_json::Value::String(digest)) = member.get("snapshotDigest") {
                named.push(digest.clone());
            }
        }
    }
    Ok(named)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `name` is a digest as this store writes them.
pub fn is_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The path of the snapshot with `digest`.
pub fn path_of(data_dir: &Path, digest: &str) -> PathBuf {
    data_dir.join(DIR).join(format!("{digest}.json"))
}

/// Stores `bytes` under their digest (fsynced, and the directory), unless a file of that digest is
/// there already (the same bytes, by construction). Returns the digest.
///
/// # Errors
///
/// The directory or file cannot be created or written.
pub fn store(data_dir: &Path, bytes: &[u8]) -> io::Result<String> {
    let d = digest_of(bytes);
    let dir = data_dir.join(DIR);
    std::fs::create_dir_all(&dir)?;
    let path = path_of(data_dir, &d);
    if path.exists() {
        return Ok(d);
    }
    let tmp = dir.join(format!(".{d}.{}.tmp", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    // Linked into place: a crash never leaves half a snapshot under its name, and a file that is
    // there is never replaced.
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(d),
        Err(e) => return Err(e),
    }
    if let Ok(dir) = File::open(&dir) {
        dir.sync_all()?;
    }
    Ok(d)
}

/// Reads the snapshot with `digest`, checking its bytes against the name.
///
/// # Errors
///
/// Not a digest, the file cannot be read, is too large, or its bytes no longer have that digest.
pub fn read(data_dir: &Path, digest: &str) -> Result<Vec<u8>, StoreError> {
    if !is_digest(digest) {
        return Err(StoreError::Name(digest.to_owned()));
    }
    let path = path_of(data_dir, digest);
    let shown = path.display().to_string();
    let io = |source| StoreError::Io {
        path: shown.clone(),
        source,
    };
    let len = std::fs::metadata(&path).map_err(io)?.len();
    if len > MAX_BYTES {
        return Err(StoreError::TooLarge { path: shown });
    }
    let bytes = std::fs::read(&path).map_err(io)?;
    let actual = digest_of(&bytes);
    if actual != digest {
        return Err(StoreError::Changed {
            path: shown,
            expected: digest.to_owned(),
            actual,
        });
    }
    Ok(bytes)
}

/// The digests of the stored snapshots, sorted (none without a directory). Other files are ignored.
///
/// # Errors
///
/// The directory exists but cannot be listed.
pub fn list(data_dir: &Path) -> io::Result<Vec<String>> {
    let dir = data_dir.join(DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(d) = name.strip_suffix(".json").filter(|d| is_digest(d)) {
            out.push(d.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_digest_never_replaces_and_detects_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let d = store(dir.path(), b"{\"a\":1}\n").unwrap();
        assert_eq!(d, digest_of(b"{\"a\":1}\n"));
        assert_eq!(store(dir.path(), b"{\"a\":1}\n").unwrap(), d);
        assert_eq!(read(dir.path(), &d).unwrap(), b"{\"a\":1}\n");
        assert_eq!(list(dir.path()).unwrap(), vec![d.clone()]);
        std::fs::write(path_of(dir.path(), &d), b"{\"a\":2}\n").unwrap();
        let e = read(dir.path(), &d).unwrap_err().to_string();
        assert!(e.contains("the snapshot was changed"), "{e}");
        assert!(matches!(read(dir.path(), "../x"), Err(StoreError::Name(_))));
        assert!(list(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_record_names_the_snapshots_of_its_evidence_members() {
        let named = serde_json::json!({"seq": 3, "approval": {"snapshotDigest": "ab"},
            "app": {"name": "x"}, "ticket": {"snapshotDigest": "cd"}, "snapshotDigest": "ef"});
        let all: Vec<&str> = named_by(named.as_object().unwrap()).collect();
        assert_eq!(all, ["ab", "cd"]);
        for none in [
            serde_json::json!({"seq": 3}),
            serde_json::json!({"approval": null}),
            serde_json::json!({"approval": {"snapshotDigest": null}}),
        ] {
            assert_eq!(named_by(none.as_object().unwrap()).count(), 0);
        }
    }

    #[test]
    fn the_snapshots_read_from_a_record_s_members_are_the_ones_it_names() {
        use serde_json::{json, Value};
        let digest = |c: char| c.to_string().repeat(64);
        let records = [
            json!({"seq": 1, "approval": {"snapshotDigest": digest('a'), "by": "x"}}),
            json!({"approval": {"snapshotDigest": digest('b')}, "other": {"snapshotDigest": digest('c')}}),
            // Decoys: nested deeper, not a string, in a string, in a list, at the top.
            json!({"approval": {"inner": {"snapshotDigest": digest('d')}}}),
            json!({"approval": {"snapshotDigest": 5}, "note": "\"snapshotDigest\": \"x\""}),
            json!({"list": [{"snapshotDigest": digest('e')}], "snapshotDigest": digest('f')}),
            json!({"a\"b": {"snapshotDigest": "not a digest \u{1} but a string"}}),
        ];
        for record in records {
            let Value::Object(map) = record else {
                unreachable!()
            };
            let line = crate::ledger::canonical::object_to_canonical(&map).unwrap();
            let spans = crate::ledger::spans(&line).unwrap();
            let want: Vec<String> = named_by(&map).map(str::to_owned).collect();
            assert_eq!(named_in(&line, &spans).unwrap(), want, "{map:?}");
            // Without the spans, the line is parsed.
            assert_eq!(named_in(&line, &[]).unwrap(), want, "{map:?}");
        }
    }
}
