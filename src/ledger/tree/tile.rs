//! Tiles as C2SP tlog-tiles defines them: tile `N` of level `L` holds the 256 Merkle tree hashes
//! `MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L])` for `i` in `0..256` (level 0: leaf hashes);
//! served and stored at `tile/<L>/<N>`, with `N` in 3-digit path elements of which all but the last
//! start with `x` (`1234067` → `x001/x234/067`), and a partial tile of `W` hashes (1 to 255) at
//! `tile/<L>/<N>.p/<W>`. No height element: Go's sumdb writes `tile/8/<L>/<N>`, C2SP does not.
//!
//! [`Builder`] grows the tree leaf by leaf and hands out every tile that becomes full; it keeps only
//! the partial tile of each level (at most 255 hashes per level), so a tree of any size costs a few
//! KiB. Pure.

use super::hash::{node, root_of, Hash, EMPTY};

/// Hashes in a full tile.
pub const WIDTH: usize = 256;
/// Bytes of a full tile.
pub const FULL_BYTES: usize = WIDTH * 32;
/// The directory (in the data directory, the archive and the sink's URL space) of the tiles.
pub const DIR: &str = "tile";
/// Levels a tile path may have (C2SP: 0 to 63).
pub const MAX_LEVEL: u8 = 63;

/// One tile: its level, its index in the level, and its width (256 when full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TileId {
    pub level: u8,
    pub index: u64,
    pub width: u16,
}

impl TileId {
    /// The full tile `index` of `level`.
    pub fn full(level: u8, index: u64) -> Self {
        TileId {
            level,
            index,
            width: WIDTH as u16,
        }
    }

    /// Whether it is a full tile.
    pub fn is_full(&self) -> bool {
        usize::from(self.width) == WIDTH
    }

    /// Its path under the tiles' prefix: `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut n = self.index;
        let mut digits = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            digits = format!("x{:03}/{digits}", n % 1000);
        }
        if self.is_full() {
            format!("{DIR}/{}/{digits}", self.level)
        } else {
            format!("{DIR}/{}/{digits}.p/{}", self.level, self.width)
        }
    }

    /// Reads a tile path (`tile/0/x001/234.p/5`); `None` when it is not one.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix(DIR)?.strip_prefix('/')?;
        let (level, rest) = rest.split_once('/')?;
        if level.is_empty() || level.len() > 2 || (level.len() > 1 && level.starts_with('0')) {
            return None;
        }
        let level: u8 = level.parse().ok().filter(|l| *l <= MAX_LEVEL)?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((d, w)) => {
                if w.is_empty() || w.starts_with('0') || !w.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let w: u16 = w
                    .parse()
                    .ok()
                    .filter(|w| *w >= 1 && usize::from(*w) < WIDTH)?;
                (d, w)
            }
            None => (rest, WIDTH as u16),
        };
        let parts: Vec<&str> = digits.split('/').collect();
        let (last, groups) = parts.split_last()?;
        let mut index: u64 = 0;
        for g in groups {
            let g = g.strip_prefix('x')?;
            index = index.checked_mul(1000)?.checked_add(three_digits(g)?)?;
        }
        index = index.checked_mul(1000)?.checked_add(three_digits(last)?)?;
        // One spelling per index: no leading `x000` groups.
        (TileId {
            level,
            index,
            width,
        }
        .path()
            == path)
            .then_some(TileId {
                level,
                index,
                width,
            })
    }
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The tiles a tree of `size` leaves has: for each level, the full tiles and the partial one.
pub fn tiles_of(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut level = 0u8;
    let mut below = size;
    while below > 0 {
        let full = below / WIDTH as u64;
        out.extend((0..full).map(|i| TileId::full(level, i)));
        let partial = (below % WIDTH as u64) as u16;
        if partial > 0 {
            out.push(TileId {
                level,
                index: full,
                width: partial,
            });
        }
        below = full;
        level += 1;
    }
    out
}

/// The partial tiles of a tree of `size` leaves (what a checkpoint of that size needs besides full
/// tiles), lowest level first.
pub fn partials_of(size: u64) -> Vec<TileId> {
    tiles_of(size)
        .into_iter()
        .filter(|t| !t.is_full())
        .collect()
}

/// A tile's bytes: its hashes, concatenated.
pub fn to_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// A tile's hashes from its bytes; `None` when the length is not a whole number of hashes.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect(),
    )
}

/// The tree grown leaf by leaf: the partial tile of each level, and the tiles as they fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Builder {
    size: u64,
    /// `partial[L]`: the hashes of level `L`'s partial tile (fewer than 256).
    partial: Vec<Vec<Hash>>,
}

impl Builder {
    /// An empty tree.
    pub fn new() -> Self {
        Builder::default()
    }

    /// A tree of `size` leaves from its partial tiles (as [`Builder::partial`] gives them).
    pub fn from_parts(size: u64, partial: Vec<Vec<Hash>>) -> Self {
        Builder { size, partial }
    }

    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The partial tile of each level, lowest first.
    pub fn partial(&self) -> &[Vec<Hash>] {
        &self.partial
    }

    /// Adds the next leaf; `full` is given each tile that this fills, lowest level first.
    pub fn push(&mut self, leaf: Hash, mut full: impl FnMut(TileId, &[Hash])) {
        self.size += 1;
        let mut hash = leaf;
        let mut level = 0u8;
        loop {
            if self.partial.len() <= usize::from(level) {
                self.partial.push(Vec::with_capacity(WIDTH));
            }
            let tile = &mut self.partial[usize::from(level)];
            tile.push(hash);
            if tile.len() < WIDTH {
                return;
            }
            // size / 256^(level+1) full tiles of this level now exist: this one is the last of them.
            let index = (self.size >> (8 * (u32::from(level) + 1))) - 1;
            full(TileId::full(level, index), tile);
            hash = root_of(tile);
            tile.clear();
            level += 1;
        }
    }

    /// The root of the tree so far: the complete subtrees of the binary decomposition of its size,
    /// largest first, hashed from the right.
    pub fn root(&self) -> Hash {
        let mut subtrees = Vec::new();
        for tile in self.partial.iter().rev() {
            let mut at = 0usize;
            for bit in (0..8).rev() {
                let width = 1usize << bit;
                if tile.len() & width != 0 {
                    subtrees.push(root_of(&tile[at..at + width]));
                    at += width;
                }
            }
        }
        let Some(mut root) = subtrees.pop() else {
            return EMPTY;
        };
        while let Some(left) = subtrees.pop() {
            root = node(&left, &root);
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::leaf;
    use super::*;

    #[test]
    fn paths_follow_c2sp_with_no_height_element() {
        assert_eq!(TileId::full(0, 0).path(), "tile/0/000");
        assert_eq!(TileId::full(1, 1_234_067).path(), "tile/1/x001/x234/067");
        assert_eq!(TileId::full(0, 1000).path(), "tile/0/x001/000");
        let p = TileId {
            level: 2,
            index: 5,
            width: 17,
        };
        assert_eq!(p.path(), "tile/2/005.p/17");
        for id in [TileId::full(0, 0), TileId::full(1, 1_234_067), p] {
            assert_eq!(TileId::parse(&id.path()), Some(id));
        }
        for bad in [
            "tile/0/0",
            "tile/00/000",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/05",
            "tile/64/000",
            "tile/8/0/000",
            "tiles/0/000",
            "tile/0/001/002",
            "tile/0/../000",
        ] {
            assert_eq!(TileId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_tree_of_70000_has_the_tiles_c2sp_lists() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
        // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
        // partial level 2 tile of width 1."
        let tiles = tiles_of(70_000);
        let count = |l: u8, full: bool| {
            tiles
                .iter()
                .filter(|t| t.level == l && t.is_full() == full)
                .count()
        };
        assert_eq!(
            (count(0, true), count(1, true), count(2, true)),
            (273, 1, 0)
        );
        let widths: Vec<(u8, u16)> = partials_of(70_000)
            .iter()
            .map(|t| (t.level, t.width))
            .collect();
        assert_eq!(widths, [(0, 112), (1, 17), (2, 1)]);
        assert_eq!(
            partials_of(256),
            [TileId {
                level: 1,
                index: 0,
                width: 1
            }]
        );
    }

    #[test]
    fn the_builder_gives_the_root_of_every_size_and_each_tile_once() {
        let leaves: Vec<Hash> = (0..70_000u32).map(|i| leaf(&i.to_be_bytes())).collect();
        let mut b = Builder::new();
        let mut full = Vec::new();
        for (i, l) in leaves.iter().enumerate() {
            b.push(*l, |id, hashes| full.push((id, root_of(hashes))));
            let n = i + 1;
            if n < 600 || n % 9973 == 0 || n == 65_536 {
                assert_eq!(b.root(), root_of(&leaves[..n]), "size {n}");
            }
        }
        assert_eq!(b.root(), root_of(&leaves));
        let ids: Vec<TileId> = full.iter().map(|(id, _)| *id).collect();
        let expected: Vec<TileId> = tiles_of(70_000)
            .into_iter()
            .filter(TileId::is_full)
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(sorted, want);
        // The level-1 tile's hashes are the roots of the level-0 tiles.
        assert_eq!(full[0].1, root_of(&leaves[..256]));
        assert_eq!(Builder::new().root(), EMPTY);
    }
}
