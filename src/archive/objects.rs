//! What of a data directory belongs in the archive, under which name, in which order: the snapshots
//! the records name (src/evidence/snapshot.rs: what a Git host said for an approval judgment) first,
//! then the sealed segments, then the tiles, then the checkpoints and the cosigned checkpoints. A
//! record's snapshot is archived before the segment holding the record, and a checkpoint only after
//! the segments and tiles of the same pass, so an archived checkpoint always finds the tiles it needs
//! (the records past the sealed segments are in the tiles only, until they are sealed). Files that are
//! not one of these (temporary files, the index) are never archived.

use crate::evidence::{checkpoint, snapshot};
use crate::ledger::segment::{self, SEGMENTS_DIR};
use crate::ledger::tree::tile::{self, TileId};
use std::io;
use std::path::{Path, PathBuf};

/// The archive's directories, in the order their objects are put.
pub const DIRS: [&str; 5] = [
    snapshot::DIR,
    SEGMENTS_DIR,
    tile::DIR,
    checkpoint::DIR,
    checkpoint::WITNESSED_DIR,
];

/// The local files to archive, as (archive name, path), in the order they are to be put.
///
/// # Errors
///
/// A directory cannot be read.
pub fn local(data_dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out: Vec<(String, PathBuf)> = snapshot::list(data_dir)?
        .into_iter()
        .map(|digest| {
            (
                format!("{}/{digest}.json", snapshot::DIR),
                snapshot::path_of(data_dir, &digest),
            )
        })
        .collect();
    out.extend(segment::sealed(data_dir)?.into_iter().map(|s| {
        (
            format!("{SEGMENTS_DIR}/{}", segment::segment_name(s.first_seq)),
            s.path,
        )
    }));
    let mut tiles = Vec::new();
    collect_tiles(data_dir, &data_dir.join(tile::DIR), &mut tiles)?;
    // Lower levels first, then by index and width: the order a reader needs them in.
    tiles.sort_by_key(|(id, _, _)| *id);
    out.extend(tiles.into_iter().map(|(_, name, path)| (name, path)));
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        for (size, path) in checkpoint::list(data_dir, dir)? {
            out.push((format!("{dir}/{}", checkpoint::file_name(size)), path));
        }
    }
    Ok(out)
}

fn collect_tiles(
    data_dir: &Path,
    dir: &Path,
    out: &mut Vec<(TileId, String, PathBuf)>,
) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_tiles(data_dir, &path, out)?;
            continue;
        }
        let name = path
            .strip_prefix(data_dir)
            .ok()
            .and_then(Path::to_str)
            .map(str::to_owned);
        if let Some((id, name)) = name.and_then(|n| TileId::parse(&n).map(|id| (id, n))) {
            out.push((id, name, path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_then_segments_then_tiles_then_checkpoints_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let digest = snapshot::store(d, b"{}").unwrap();
        std::fs::write(d.join("snapshots/notes.txt"), "x").unwrap();
        std::fs::create_dir_all(d.join("segments")).unwrap();
        std::fs::write(d.join("segments").join(segment::segment_name(1)), "x\n").unwrap();
        std::fs::write(d.join("segments/notes.txt"), "x").unwrap();
        std::fs::create_dir_all(d.join("tile/0/000.p")).unwrap();
        std::fs::create_dir_all(d.join("tile/1/000.p")).unwrap();
        std::fs::write(d.join("tile/0/000"), [0u8; 8192]).unwrap();
        std::fs::write(d.join("tile/0/000.p/3"), [0u8; 96]).unwrap();
        std::fs::write(d.join("tile/0/.001.tmp"), [0u8; 96]).unwrap();
        std::fs::write(d.join("tile/1/000.p/1"), [0u8; 32]).unwrap();
        checkpoint::store(d, checkpoint::DIR, 7, "n").unwrap();
        checkpoint::store(d, checkpoint::WITNESSED_DIR, 7, "n").unwrap();
        std::fs::create_dir_all(d.join("index")).unwrap();
        std::fs::write(d.join("index/marker.json"), "{}").unwrap();
        let names: Vec<String> = local(d).unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                format!("snapshots/{digest}.json").as_str(),
                "segments/00000000000000000001.jsonl",
                "tile/0/000.p/3",
                "tile/0/000",
                "tile/1/000.p/1",
                "checkpoints/00000000000000000007.note",
                "witnessed/00000000000000000007.note",
            ]
        );
    }
}
