//! The tree of a data directory: full tiles on disk under `DATA_DIR/tile/` (C2SP paths, each written
//! once it fills: beside its name, fsynced, renamed into place), the partial tile of each level in
//! memory. The ledger's writer owns a [`Writer`] and publishes a [`State`] after each batch; readers
//! ([`Reader`]) take the latest state without a lock the writer waits on and read full tiles from disk.
//!
//! Tiles are derived from the log: on open they are checked against the log as far as the open
//! verifies it, and a missing or different one is written again. They are never trusted for
//! integrity: a checkpoint's root is compared with them before anything is signed or proven.

use super::hash::{root_of, Hash};
use super::proof::{HashSource, ProofError};
use super::tile::{self, Builder, TileId, FULL_BYTES, WIDTH};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Threads that fsync the tiles written while the log is opened.
const SYNC_THREADS: usize = 16;

/// Tiles a view keeps read (a proof needs a few per level; an export of many records reuses them).
const VIEW_CACHE: usize = 1024;

/// What readers see of the tree: its size, root and the partial tile of each level.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub size: u64,
    pub root: Hash,
    partial: Vec<Vec<Hash>>,
    /// Full tiles that could not be written to disk (yet): served from here.
    unwritten: BTreeMap<TileId, Arc<Vec<Hash>>>,
}

/// The path of a tile inside the data directory.
pub fn tile_path(data_dir: &Path, id: TileId) -> PathBuf {
    data_dir.join(id.path())
}

/// Reads a full tile from disk; `None` when it is missing or not exactly 256 hashes.
pub fn read_full(data_dir: &Path, id: TileId) -> Option<Vec<Hash>> {
    let mut bytes = Vec::with_capacity(FULL_BYTES);
    File::open(tile_path(data_dir, id))
        .ok()?
        .take(FULL_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() == FULL_BYTES)
        .then(|| tile::from_bytes(&bytes))
        .flatten()
}

/// Writes a tile unless the same bytes are there already: beside its name, fsynced, renamed into
/// place, so that a tile on disk is always whole. Gives whether it wrote (a missing or different tile).
///
/// # Errors
///
/// The directory or file cannot be written.
pub fn write_tile(data_dir: &Path, id: TileId, hashes: &[Hash]) -> io::Result<bool> {
    write_tile_then(data_dir, id, hashes, true)
}

/// [`write_tile`], fsyncing the file before it is renamed into place only when `sync`; otherwise the
/// caller fsyncs it later ([`Writer::end_bulk`]): thousands of tiles written at once cost a fraction
/// of as many fsyncs one by one.
fn write_tile_then(data_dir: &Path, id: TileId, hashes: &[Hash], sync: bool) -> io::Result<bool> {
    let path = tile_path(data_dir, id);
    let bytes = tile::to_bytes(hashes);
    if std::fs::read(&path).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(&bytes)?;
    if sync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if sync {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(true)
}

/// The number of full level-0 tiles on disk, counted from the first while they are there whole
/// (found by doubling, then bisecting: a few probes for any size).
fn full_level0_tiles(data_dir: &Path) -> u64 {
    let whole = |i: u64| {
        std::fs::metadata(tile_path(data_dir, TileId::full(0, i)))
            .is_ok_and(|m| m.len() == FULL_BYTES as u64)
    };
    if !whole(0) {
        return 0;
    }
    let mut hi = 1u64;
    while whole(hi) {
        hi *= 2;
    }
    // whole(lo) and !whole(hi): the count is in (lo, hi].
    let mut lo = hi / 2;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if whole(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Leaves below one hash of level `level`: `256^level`.
fn span(level: u8) -> u64 {
    1u64 << (8 * u32::from(level))
}

/// The tree's writer: grows the tree as records are appended, writes full tiles, publishes states.
pub struct Writer {
    data_dir: PathBuf,
    builder: Builder,
    unwritten: BTreeMap<TileId, Arc<Vec<Hash>>>,
    shared: Arc<ArcSwap<State>>,
    /// Tiles that were on disk with other bytes and were written again (on open).
    repaired: u64,
    /// Never write to disk (a command reading a sink's data directory): new tiles stay in memory.
    read_only: bool,
    /// While the log is opened: tiles written and not yet fsynced ([`Writer::end_bulk`]).
    bulk: Option<Vec<PathBuf>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("tree::Writer")
            .field("size", &self.builder.size())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// An empty tree over `data_dir` (to be grown from the first record on).
    pub fn empty(data_dir: &Path) -> Self {
        Writer {
            data_dir: data_dir.to_path_buf(),
            builder: Builder::new(),
            unwritten: BTreeMap::new(),
            shared: Arc::new(ArcSwap::from_pointee(State::default())),
            repaired: 0,
            read_only: false,
            bulk: None,
        }
    }

    /// From now on (opening the log: every tile of an existing log may be written), tiles are fsynced
    /// together at [`Writer::end_bulk`] rather than one by one.
    pub fn begin_bulk(&mut self) {
        self.bulk.get_or_insert_with(Vec::new);
    }

    /// Fsyncs the tiles written since [`Writer::begin_bulk`], and their directories. A tile a crash
    /// before this leaves short is taken as missing on the next start, and written again.
    pub fn end_bulk(&mut self) {
        let Some(paths) = self.bulk.take() else {
            return;
        };
        // Each fsync mostly waits for the disk: many at once let the filesystem commit them together.
        crate::parallel::for_each_blocking(&paths, SYNC_THREADS, |path| {
            if let Err(e) = File::open(path).and_then(|f| f.sync_all()) {
                tracing::warn!(tile = %path.display(), error = %e, "cannot fsync a tile");
            }
        });
        let dirs: std::collections::BTreeSet<_> = paths.iter().filter_map(|p| p.parent()).collect();
        let dirs: Vec<_> = dirs.into_iter().collect();
        crate::parallel::for_each_blocking(&dirs, SYNC_THREADS, |d| {
            if let Ok(d) = File::open(d) {
                let _ = d.sync_all();
            }
        });
    }

    /// The tree as far as the full tiles on disk take it, at most `limit` leaves, rounded down to a
    /// whole level-0 tile: the partial tiles of the higher levels are read from the tiles below (and a
    /// missing higher full tile is made again from them). The caller adds the leaves after
    /// [`Writer::size`]. `write`: tiles made are written to disk (the sink), else kept in memory (a
    /// command reading the data directory).
    pub fn from_disk(data_dir: &Path, limit: u64, write: bool) -> Self {
        let mut w = Writer::empty(data_dir);
        w.read_only = !write;
        let tiles0 = full_level0_tiles(data_dir).min(limit / WIDTH as u64);
        let size = tiles0 * WIDTH as u64;
        let mut partial = vec![Vec::new()];
        let mut level = 1u8;
        while span(level) <= size {
            // Level L's tiles hold the roots of level L−1's full tiles.
            let full_below = size / span(level);
            let full_here = full_below / WIDTH as u64;
            for i in 0..full_here {
                let id = TileId::full(level, i);
                if read_full(data_dir, id).is_none() {
                    let Some(hashes) = w.rebuild(level, i) else {
                        return Writer {
                            read_only: !write,
                            ..Writer::empty(data_dir)
                        };
                    };
                    w.store(id, hashes);
                }
            }
            let mut entries = Vec::new();
            for j in full_here * WIDTH as u64..full_below {
                let Some(below) = read_full(data_dir, TileId::full(level - 1, j))
                    .or_else(|| w.rebuild(level - 1, j))
                else {
                    return Writer {
                        read_only: !write,
                        ..Writer::empty(data_dir)
                    };
                };
                entries.push(root_of(&below));
            }
            partial.push(entries);
            level += 1;
        }
        w.builder = Builder::from_parts(size, partial);
        w
    }

    /// A full tile of `level` ≥ 1 made from the full tiles below it (`None` when one is missing).
    fn rebuild(&self, level: u8, index: u64) -> Option<Vec<Hash>> {
        if level == 0 {
            return None;
        }
        (index * WIDTH as u64..(index + 1) * WIDTH as u64)
            .map(|j| {
                let id = TileId::full(level - 1, j);
                self.unwritten
                    .get(&id)
                    .map(|t| t.to_vec())
                    .or_else(|| read_full(&self.data_dir, id))
                    .or_else(|| self.rebuild(level - 1, j))
                    .map(|t| root_of(&t))
            })
            .collect()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.builder.size()
    }

    /// The root of the tree.
    #[cfg(test)]
    pub fn root(&self) -> Hash {
        self.builder.root()
    }

    /// Tiles found on disk with other bytes than the log gives, and written again.
    #[cfg(test)]
    pub fn repaired(&self) -> u64 {
        self.repaired
    }

    /// Adds the next leaf; a tile it fills is written to disk (or kept in memory until it can be).
    pub fn push(&mut self, leaf: Hash) {
        let mut filled = Vec::new();
        self.builder
            .push(leaf, |id, hashes| filled.push((id, hashes.to_vec())));
        for (id, hashes) in filled {
            self.store(id, hashes);
        }
    }

    fn store(&mut self, id: TileId, hashes: Vec<Hash>) {
        if self.read_only {
            if read_full(&self.data_dir, id).as_ref() != Some(&hashes) {
                self.unwritten.insert(id, Arc::new(hashes));
            }
            return;
        }
        let existed = tile_path(&self.data_dir, id).exists();
        let sync = self.bulk.is_none();
        match write_tile_then(&self.data_dir, id, &hashes, sync) {
            Ok(wrote) => {
                if wrote {
                    if let Some(bulk) = self.bulk.as_mut() {
                        bulk.push(tile_path(&self.data_dir, id));
                    }
                }
                if wrote && existed {
                    self.repaired += 1;
                    tracing::warn!(tile = %id.path(), "a tile did not match the log; written again from the log");
                }
            }
            Err(e) => {
                tracing::warn!(tile = %id.path(), error = %e, "cannot write a tile; it is served from memory and written later");
                self.unwritten.insert(id, Arc::new(hashes));
            }
        }
    }

    /// Makes the tree so far visible to readers (after each batch), retrying tiles not yet written.
    pub fn publish(&mut self) {
        let pending: Vec<TileId> = if self.read_only {
            Vec::new()
        } else {
            self.unwritten.keys().copied().collect()
        };
        for id in pending {
            if let Some(hashes) = self.unwritten.get(&id) {
                if write_tile(&self.data_dir, id, hashes).is_ok() {
                    self.unwritten.remove(&id);
                }
            }
        }
        self.shared.store(Arc::new(State {
            size: self.builder.size(),
            root: self.builder.root(),
            partial: self.builder.partial().to_vec(),
            unwritten: self.unwritten.clone(),
        }));
    }

    /// The readers' handle.
    pub fn reader(&self) -> Reader {
        Reader {
            data_dir: self.data_dir.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A reader of the tree: the latest published state, and the tiles on disk.
#[derive(Debug, Clone)]
pub struct Reader {
    data_dir: PathBuf,
    shared: Arc<ArcSwap<State>>,
}

impl Reader {
    /// A consistent view of the tree as it is now.
    pub fn view(&self) -> View {
        View {
            data_dir: self.data_dir.clone(),
            state: self.shared.load_full(),
            cache: HashMap::new(),
        }
    }

    /// Size and root of the tree now.
    #[cfg(test)]
    pub fn head(&self) -> (u64, Hash) {
        let s = self.shared.load();
        (s.size, s.root)
    }
}

/// One state of the tree, with the tiles it reads.
pub struct View {
    data_dir: PathBuf,
    state: Arc<State>,
    cache: HashMap<(u8, u64), Arc<Vec<Hash>>>,
}

impl View {
    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.state.size
    }

    /// Its root.
    pub fn root(&self) -> Hash {
        self.state.root
    }

    /// Entries tile `index` of `level` has in this tree (0: none yet).
    fn entries(&self, level: u8, index: u64) -> u64 {
        if level > tile::MAX_LEVEL || 8 * u32::from(level) >= 64 {
            return 0;
        }
        let at_level = self.state.size >> (8 * u32::from(level));
        at_level
            .saturating_sub(index.saturating_mul(WIDTH as u64))
            .min(WIDTH as u64)
    }

    /// The hashes of tile `index` of `level` as far as this tree has them.
    fn hashes(&mut self, level: u8, index: u64) -> Result<Arc<Vec<Hash>>, ProofError> {
        let have = self.entries(level, index);
        if have == 0 {
            return Err(ProofError::Source(format!(
                "tile {level}/{index} is beyond the tree of size {}",
                self.state.size
            )));
        }
        if have < WIDTH as u64 {
            let partial = self
                .state
                .partial
                .get(usize::from(level))
                .filter(|p| p.len() as u64 == have)
                .ok_or_else(|| ProofError::Source(format!("no partial tile at level {level}")))?;
            return Ok(Arc::new(partial.clone()));
        }
        if let Some(t) = self.cache.get(&(level, index)) {
            return Ok(Arc::clone(t));
        }
        let id = TileId::full(level, index);
        let full = match self.state.unwritten.get(&id) {
            Some(t) => Arc::clone(t),
            None => Arc::new(self.full_from_disk(level, index)?),
        };
        if self.cache.len() >= VIEW_CACHE {
            self.cache.clear();
        }
        self.cache.insert((level, index), Arc::clone(&full));
        Ok(full)
    }

    fn full_from_disk(&mut self, level: u8, index: u64) -> Result<Vec<Hash>, ProofError> {
        if let Some(t) = read_full(&self.data_dir, TileId::full(level, index)) {
            return Ok(t);
        }
        if level == 0 {
            return Err(ProofError::Source(format!(
                "{}: missing or damaged (the sink writes it again from the log when it starts)",
                tile_path(&self.data_dir, TileId::full(0, index)).display()
            )));
        }
        // Made again from the level below.
        (index * WIDTH as u64..(index + 1) * WIDTH as u64)
            .map(|j| self.hashes(level - 1, j).map(|t| root_of(&t)))
            .collect()
    }

    /// The bytes of `id` as the tree has it now: a full tile once it is full, a partial tile of width
    /// `W` while the tile has at least `W` hashes (the first `W` of them). `None` when the tree does
    /// not have it.
    ///
    /// # Errors
    ///
    /// A tile on disk is missing or damaged.
    pub fn tile(&mut self, id: TileId) -> Result<Option<Vec<u8>>, ProofError> {
        let have = self.entries(id.level, id.index);
        let want = u64::from(id.width);
        if have < want || (id.is_full() && have < WIDTH as u64) {
            return Ok(None);
        }
        let hashes = self.hashes(id.level, id.index)?;
        Ok(Some(tile::to_bytes(&hashes[..want as usize])))
    }
}

impl HashSource for View {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let (tile_level, height) = (level / 8, level % 8);
        let first = index << height;
        let width = 1u64 << height;
        let tile_index = first / WIDTH as u64;
        let at = (first % WIDTH as u64) as usize;
        let hashes = self.hashes(tile_level, tile_index)?;
        hashes
            .get(at..at + width as usize)
            .map(root_of)
            .ok_or_else(|| {
                ProofError::Source(format!(
                    "subtree {level}/{index} is beyond the tree of size {}",
                    self.state.size
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::leaf;
    use super::super::proof::{self, Leaves};
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf(format!("r{i}").as_bytes())).collect()
    }

    fn grown(dir: &Path, l: &[Hash]) -> Writer {
        let mut w = Writer::empty(dir);
        for h in l {
            w.push(*h);
        }
        w.publish();
        w
    }

    #[test]
    fn tiles_on_disk_serve_the_same_proofs_as_the_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let l = leaves(70_000);
        let w = grown(dir.path(), &l);
        assert!(tile_path(dir.path(), TileId::full(0, 272)).exists());
        assert!(tile_path(dir.path(), TileId::full(1, 0)).exists());
        let mut view = w.reader().view();
        assert_eq!(view.root(), root_of(&l));
        assert_eq!(proof::root(&mut view, 70_000).unwrap(), root_of(&l));
        for (index, size) in [(0, 70_000), (69_999, 70_000), (300, 1000), (65_535, 65_536)] {
            assert_eq!(
                proof::inclusion(&mut view, index, size).unwrap(),
                proof::inclusion(&mut Leaves(&l), index, size).unwrap()
            );
        }
        for (old, new) in [(1, 70_000), (256, 70_000), (65_536, 69_999), (7, 8)] {
            assert_eq!(
                proof::consistency(&mut view, old, new).unwrap(),
                proof::consistency(&mut Leaves(&l), old, new).unwrap()
            );
        }
        // A partial tile is a prefix of what the tree has now; a larger one than it has is not served.
        let p = TileId {
            level: 0,
            index: 273,
            width: 100,
        };
        let bytes = view.tile(p).unwrap().unwrap();
        assert_eq!(bytes, tile::to_bytes(&l[273 * 256..273 * 256 + 100]));
        assert_eq!(view.tile(TileId { width: 113, ..p }).unwrap(), None);
        assert_eq!(view.tile(TileId::full(0, 273)).unwrap(), None);
        let old = TileId {
            level: 0,
            index: 5,
            width: 3,
        };
        assert_eq!(
            view.tile(old).unwrap().unwrap(),
            tile::to_bytes(&l[5 * 256..5 * 256 + 3])
        );
    }

    #[test]
    fn a_tree_reopened_from_its_tiles_goes_on_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let l = leaves(66_000);
        drop(grown(dir.path(), &l[..65_800]));
        // A missing level-1 tile is made again from level 0.
        std::fs::remove_file(tile_path(dir.path(), TileId::full(1, 0))).unwrap();
        let mut w = Writer::from_disk(dir.path(), 65_800, true);
        assert_eq!(w.size(), 65_792);
        assert!(tile_path(dir.path(), TileId::full(1, 0)).exists());
        for h in &l[65_792..] {
            w.push(*h);
        }
        w.publish();
        assert_eq!(w.root(), root_of(&l));
        // Limited by the log: a shorter log than the tiles uses only the tiles it covers.
        let w = Writer::from_disk(dir.path(), 1000, true);
        assert_eq!(w.size(), 768);
        assert_eq!(w.root(), root_of(&l[..768]));
        // No tiles: nothing.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(Writer::from_disk(empty.path(), 5000, true).size(), 0);
    }

    #[test]
    fn a_damaged_tile_is_written_again_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let l = leaves(600);
        drop(grown(dir.path(), &l));
        let t1 = tile_path(dir.path(), TileId::full(0, 1));
        let mut bytes = std::fs::read(&t1).unwrap();
        bytes[5] ^= 1;
        std::fs::write(&t1, &bytes).unwrap();
        let w = grown(dir.path(), &l);
        assert_eq!(w.repaired(), 1);
        assert_eq!(
            read_full(dir.path(), TileId::full(0, 1)).unwrap(),
            l[256..512].to_vec()
        );
    }
}
