//! The tiles a verifier was given (a data directory's `tile/`, an archive's): full and partial tiles by
//! name, checked to agree with each other (a partial tile is a prefix of every wider one of the same
//! place), and usable as a [`HashSource`] for the roots of the checkpoints they cover. Also the reading
//! of a data directory's tiles. Takes tile names and bytes; gives hashes. The only I/O is [`read_dir`].

use crate::ledger::tree::proof::{HashSource, ProofError};
use crate::ledger::tree::tile::{self, TileId, WIDTH};
use crate::ledger::tree::Hash;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// Why the tiles given cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("{name}: {bytes} bytes is not the {width} hashes its name says")]
    Length {
        name: String,
        bytes: usize,
        width: u16,
    },
    #[error("{name} and {other} disagree on the hashes they share: one of them was changed")]
    Disagree { name: String, other: String },
}

/// The tiles of one place, by width: where each was read, and its hashes.
type Widths = BTreeMap<u16, (String, Vec<Hash>)>;

/// Tiles by place (level, index), each with its widths.
#[derive(Debug, Default)]
pub struct TileSet {
    tiles: BTreeMap<(u8, u64), Widths>,
}

impl TileSet {
    /// Adds tile `id`, read from `name`.
    ///
    /// # Errors
    ///
    /// Its length is not its width, or it disagrees with a tile of the same place given before.
    pub fn insert(&mut self, name: String, id: TileId, bytes: &[u8]) -> Result<(), TileError> {
        let hashes = tile::from_bytes(bytes)
            .filter(|h| h.len() == usize::from(id.width))
            .ok_or_else(|| TileError::Length {
                name: name.clone(),
                bytes: bytes.len(),
                width: id.width,
            })?;
        let place = self.tiles.entry((id.level, id.index)).or_default();
        for (other, theirs) in place.values() {
            let common = theirs.len().min(hashes.len());
            if theirs[..common] != hashes[..common] {
                return Err(TileError::Disagree {
                    name,
                    other: other.clone(),
                });
            }
        }
        place.insert(id.width, (name, hashes));
        Ok(())
    }

    /// The tiles of `(level, index)`: name and hashes, narrowest first.
    pub fn at(&self, level: u8, index: u64) -> impl Iterator<Item = (&str, &[Hash])> {
        self.tiles
            .get(&(level, index))
            .into_iter()
            .flat_map(|m| m.values().map(|(n, h)| (n.as_str(), h.as_slice())))
    }

    /// Every place with a tile.
    pub fn places(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.tiles.keys().copied()
    }

    /// The tiles a tree of `size` leaves needs that are not here (only the widest at each place).
    pub fn missing_for(&self, size: u64) -> Vec<TileId> {
        tile::tiles_of(size)
            .into_iter()
            .filter(|id| {
                self.at(id.level, id.index)
                    .all(|(_, h)| h.len() < usize::from(id.width))
            })
            .collect()
    }
}

impl HashSource for &TileSet {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let (tile_level, height) = (level / 8, level % 8);
        let first = index << height;
        let width = 1usize << height;
        let at = (first % WIDTH as u64) as usize;
        self.at(tile_level, first / WIDTH as u64)
            .find_map(|(_, h)| h.get(at..at + width))
            .map(crate::ledger::tree::hash::root_of)
            .ok_or_else(|| {
                ProofError::Source(format!(
                    "no tile holds subtree {level}/{index} ({})",
                    TileId::full(tile_level, first / WIDTH as u64).path()
                ))
            })
    }
}

/// Every tile file under `data_dir/tile/` (other files are not tiles and are left out).
///
/// # Errors
///
/// A directory or file cannot be read, or the tiles do not agree.
pub fn read_dir(data_dir: &Path) -> Result<TileSet, String> {
    let mut set = TileSet::default();
    let root = data_dir.join(tile::DIR);
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(rel) = path
                .strip_prefix(data_dir)
                .ok()
                .and_then(|r| r.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let Some(id) = TileId::parse(&rel) else {
                continue;
            };
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            set.insert(path.display().to_string(), id, &bytes)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tree::hash::{leaf, root_of};
    use crate::ledger::tree::proof;

    #[test]
    fn partial_tiles_must_be_prefixes_and_give_the_roots_they_cover() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf(&i.to_be_bytes())).collect();
        let mut set = TileSet::default();
        set.insert(
            "f".into(),
            TileId::full(0, 0),
            &tile::to_bytes(&leaves[..256]),
        )
        .unwrap();
        let p = |w: u16| TileId {
            level: 0,
            index: 1,
            width: w,
        };
        set.insert("p10".into(), p(10), &tile::to_bytes(&leaves[256..266]))
            .unwrap();
        set.insert("p44".into(), p(44), &tile::to_bytes(&leaves[256..300]))
            .unwrap();
        let l1 = TileId {
            level: 1,
            index: 0,
            width: 1,
        };
        set.insert("l1".into(), l1, &tile::to_bytes(&[root_of(&leaves[..256])]))
            .unwrap();
        assert_eq!(
            proof::root(&mut &set, 266).unwrap(),
            root_of(&leaves[..266])
        );
        assert_eq!(proof::root(&mut &set, 300).unwrap(), root_of(&leaves));
        assert!(set.missing_for(300).is_empty());
        assert_eq!(set.missing_for(301).len(), 1);
        let mut bad = tile::to_bytes(&leaves[256..270]);
        bad[40] ^= 1;
        assert!(matches!(
            set.insert("p14".into(), p(14), &bad),
            Err(TileError::Disagree { .. })
        ));
        assert!(matches!(
            set.insert("short".into(), p(14), &bad[..33]),
            Err(TileError::Length { .. })
        ));
    }
}
