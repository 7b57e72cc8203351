//! `audit verify --archive`: the archive read whole and checked (evidence/proof.rs). On S3 every object
//! version is listed first: sluice writes each object once, so a second version (a put on top of a
//! locked object) or a delete marker (hiding one) is tampering, named by the object; the versions read
//! are the first ones, which the lock protects. Then the checkpoints, the tiles, the snapshots
//! (each must still have the digest of its name) and the segments, in chain order, one segment in
//! memory at a time; every snapshot a record of the archived segments names must be archived too (the
//! uploader puts it before the segment).

use super::objects::DIRS;
use super::versions::Version;
use super::Archive;
use crate::evidence::checkpoint;
use crate::evidence::note::MAX_NOTE;
use crate::evidence::proof::{Check, ProofError, Report};
use crate::evidence::snapshot;
use crate::evidence::tiles::TileSet;
use crate::ledger::segment::{self, SEGMENTS_DIR};
use crate::ledger::tree::tile::{self, TileId};
use std::collections::{BTreeMap, BTreeSet};

/// What was read, besides the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Whether the store's object versions were listed and checked (S3).
    pub versions_checked: bool,
    /// Objects read.
    pub objects: usize,
    /// Snapshots read (what outside systems said), each with the digest of its name.
    pub snapshots: usize,
}

/// Which version of each object to read (`None`: the current one), or the first sign of tampering.
///
/// # Errors
///
/// An object has more than one version or a delete marker (naming it, and how many others do).
pub fn originals(
    url: &str,
    versions: &[Version],
) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut by_name: BTreeMap<&str, Vec<&Version>> = BTreeMap::new();
    for v in versions {
        by_name.entry(v.name.as_str()).or_default().push(v);
    }
    let mut problems = Vec::new();
    let mut out = BTreeMap::new();
    for (name, all) in by_name {
        let kept: Vec<&&Version> = all.iter().filter(|v| !v.delete_marker).collect();
        let markers = all.len() - kept.len();
        let first = kept.first();
        if markers > 0 {
            problems.push(match first {
                Some(v) => format!(
                    "{url}/{name}: a delete marker hides it (its locked version {} of {} is still \
                     there): someone deleted an archived object",
                    v.id, v.last_modified
                ),
                None => format!("{url}/{name}: only delete markers, no version"),
            });
        } else if kept.len() > 1 {
            let newest = kept.last().map_or("", |v| v.id.as_str());
            problems.push(format!(
                "{url}/{name}: {} versions, but sluice writes each object once: version {newest} was \
                 put over the locked version {}",
                kept.len(),
                first.map_or("", |v| v.id.as_str())
            ));
        }
        if let Some(v) = first {
            out.insert(name.to_owned(), Some(v.id.clone()));
        }
    }
    match problems.len() {
        0 => Ok(out),
        1 => Err(problems.remove(0)),
        n => Err(format!(
            "{} (and {} more objects with extra versions or delete markers)",
            problems[0],
            n - 1
        )),
    }
}

impl Archive {
    async fn read(&self, name: &str, version: Option<&str>) -> Result<Vec<u8>, String> {
        match version {
            Some(v) => self.get_version(name, v).await,
            None => self.get(name).await,
        }
        .map_err(|e| e.to_string())
    }
}

/// The checkpoint notes read from the archive: (name, text).
pub type Notes = Vec<(String, String)>;

/// Verifies the archive with `check` (its keys, and any other checkpoints or roots it holds already);
/// also gives the checkpoints it read, for a data directory to be checked against.
///
/// # Errors
///
/// An object was tampered with (versions), cannot be read, or a check does not hold.
pub async fn verify(archive: &Archive, mut check: Check) -> Result<(Report, Read, Notes), String> {
    let url = archive.url().to_owned();
    let named = |name: &str| format!("{url}/{name}");
    let versions = archive.versions().await.map_err(|e| e.to_string())?;
    let (objects, versions_checked) = if let Some(v) = versions {
        (originals(&url, &v)?, true)
    } else {
        let mut all = BTreeMap::new();
        for dir in DIRS {
            for name in archive.list_all(dir).await.map_err(|e| e.to_string())? {
                all.insert(name, None);
            }
        }
        (all, false)
    };
    let mut tiles = TileSet::default();
    let mut segments = Vec::new();
    let mut notes = Vec::new();
    let mut snapshots = BTreeSet::new();
    for (name, version) in &objects {
        let (dir, file) = name.split_once('/').unwrap_or(("", name));
        if dir == checkpoint::DIR || dir == checkpoint::WITNESSED_DIR {
            if checkpoint::size_of_name(file).is_none() {
                continue;
            }
            let bytes = archive.read(name, version.as_deref()).await?;
            if bytes.len() > MAX_NOTE {
                return Err(format!("{}: larger than a checkpoint", named(name)));
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            check
                .checkpoint(named(name), &text)
                .map_err(|e| e.to_string())?;
            notes.push((named(name), text));
        } else if dir == tile::DIR {
            let Some(id) = TileId::parse(name) else {
                continue;
            };
            let bytes = archive.read(name, version.as_deref()).await?;
            tiles
                .insert(named(name), id, &bytes)
                .map_err(|e| e.to_string())?;
        } else if dir == snapshot::DIR {
            let Some(digest) = file
                .strip_suffix(".json")
                .filter(|d| snapshot::is_digest(d))
            else {
                continue;
            };
            let bytes = archive.read(name, version.as_deref()).await?;
            let actual = snapshot::digest_of(&bytes);
            if actual != digest {
                return Err(format!(
                    "{}: the content's SHA-256 is {actual}, not the digest of its name: the \
                     snapshot was changed",
                    named(name)
                ));
            }
            snapshots.insert(digest.to_owned());
        } else if dir == SEGMENTS_DIR {
            if let Some(first) = segment::first_seq_of_name(file) {
                segments.push((first, name.clone(), version.clone()));
            }
        }
    }
    if notes.is_empty() {
        return Err(ProofError::NoCheckpoint(named(checkpoint::DIR)).to_string());
    }
    check.tiles(tiles);
    segments.sort();
    for (first, name, version) in &segments {
        let bytes = archive.read(name, version.as_deref()).await?;
        check
            .segment(&named(name), Some(*first), &bytes[..])
            .map_err(|e| e.to_string())?;
    }
    let report = check.finish(false).map_err(|e| e.to_string())?;
    if let Some((digest, seq)) = report
        .snapshots
        .iter()
        .find(|(d, _)| !snapshots.contains(*d))
    {
        return Err(format!(
            "record {seq} of the archived segments names the snapshot {digest} (what an outside \
             system said for its evidence), but {} is not in the archive",
            named(&format!("{}/{digest}.json", snapshot::DIR))
        ));
    }
    Ok((
        report,
        Read {
            versions_checked,
            objects: objects.len(),
            snapshots: snapshots.len(),
        },
        notes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, id: &str, at: &str, marker: bool) -> Version {
        Version {
            name: name.into(),
            id: id.into(),
            latest: false,
            delete_marker: marker,
            last_modified: at.into(),
        }
    }

    #[test]
    fn a_second_version_or_a_delete_marker_is_named() {
        let ok = [
            v("segments/1", "a", "1", false),
            v("tile/0/000", "b", "1", false),
        ];
        let picked = originals("s3://b/p", &ok).unwrap();
        assert_eq!(picked["segments/1"], Some("a".into()));
        let marked = [
            v("segments/1", "a", "1", false),
            v("segments/1", "m", "2", true),
        ];
        let e = originals("s3://b/p", &marked).unwrap_err();
        assert!(
            e.starts_with("s3://b/p/segments/1: a delete marker hides it"),
            "{e}"
        );
        let rewritten = [
            v("segments/1", "a", "1", false),
            v("segments/1", "c", "3", false),
            v("checkpoints/x", "d", "1", false),
            v("checkpoints/x", "m", "2", true),
        ];
        let e = originals("s3://b/p", &rewritten).unwrap_err();
        assert!(
            e.contains("checkpoints/x: a delete marker") && e.contains("1 more"),
            "{e}"
        );
        let e = originals("s3://b/p", &rewritten[..2]).unwrap_err();
        assert!(
            e.contains("2 versions") && e.contains("version c was put over the locked version a"),
            "{e}"
        );
    }
}
