//! The tree of a data directory: full tiles on disk under `DATA_DIR/tile/` (C2SP paths, each written
//! once it fills: beside its name, fsynced, renamed into place), the partial tile of each level in
//! memory. The ledger's writer owns a [`Writer`] and publishes a [`State`] after each batch; readers
//! ([`Reader`]) take the latest state without a lock the writer waits on and read full tiles from disk.
//!
//! Tiles are derived from the log: on open they are checked against the log as far as the open
//! verifies it, and a missing or different one is written again. They are never trusted for
//! integrity: a checkpoint's root is compared with them before anything is signed or proven.
//!
//! A sink opening a log defers the tiles it makes ([`Writer::defer`]): they are served from memory
//! ([`Deferred`]) and written by a chore once it answers, each fsynced before it takes its name, so
//! that creating thousands of files does not hold up its first start.

use super::hash::{root_of, Hash};
use super::proof::{HashSource, ProofError};
use super::tile::{self, Builder, TileId, FULL_BYTES, WIDTH};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Threads that fsync the tiles written while the log is opened.
const SYNC_THREADS: usize = 16;

/// The most tiles a sink's open keeps in memory for a chore to write (8 KiB each: 128 MiB, the
/// level-0 tiles of about 4 million records); the tiles after them are written as they are made.
pub const DEFER_MAX: usize = 16_384;

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
    /// Full tiles made while the log was opened, until the chore that writes them is done.
    deferred: Option<Arc<Deferred>>,
}

/// Full tiles made while a sink opened the log, served from memory until a chore has written them
/// ([`Writer::deferred_job`]). The signer waits for them ([`View::wait_for_tiles`]) before it writes
/// a checkpoint, so that a checkpoint on disk (and in the archive) always finds its tiles there.
#[derive(Debug, Default)]
pub struct Deferred {
    tiles: BTreeMap<TileId, Arc<Vec<Hash>>>,
    /// Once the chore has run, or was dropped without running: the tiles it could not write.
    outcome: Mutex<Option<Vec<TileId>>>,
    done: Condvar,
}

impl Deferred {
    /// Records the chore's outcome (the first one given counts) and wakes whoever waits for it.
    fn finish(&self, failed: Vec<TileId>) {
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if outcome.is_none() {
            *outcome = Some(failed);
        }
        self.done.notify_all();
    }

    /// The tiles the chore could not write, once it is done.
    fn failed(&self) -> Option<Vec<TileId>> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks until the chore is done.
    fn wait(&self) {
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        while outcome.is_none() {
            outcome = self
                .done
                .wait(outcome)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The chore's hold on the deferred tiles: were it dropped without running (an owner that stops), every
/// tile counts as not written, to be written at the next batch, and nobody waits for it any more.
struct Writing {
    deferred: Arc<Deferred>,
    data_dir: PathBuf,
}

impl Writing {
    fn run(self) {
        let t = std::time::Instant::now();
        let failed = write_durably(&self.data_dir, &self.deferred.tiles);
        tracing::debug!(
            tiles = self.deferred.tiles.len(),
            failed = failed.len(),
            ms = t.elapsed().as_millis() as u64,
            "the tiles made at the start are on disk"
        );
        self.deferred.finish(failed);
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.deferred
            .finish(self.deferred.tiles.keys().copied().collect());
    }
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
    let (f, tmp) = stage(&path, &bytes)?;
    if sync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if sync {
        if let Ok(d) = File::open(path.parent().unwrap_or(data_dir)) {
            let _ = d.sync_all();
        }
    }
    Ok(true)
}

/// Writes `bytes` beside `path` (`.<name>.tmp`, its directory made if need be), not fsynced yet;
/// gives the file and its path.
fn stage(path: &Path, bytes: &[u8]) -> io::Result<(File, PathBuf)> {
    let dir = path.parent().unwrap_or(Path::new("."));
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
    f.write_all(bytes)?;
    Ok((f, tmp))
}

/// Writes `tiles` so that none takes its name before its bytes are durable: each one missing or
/// different is written beside its name, all of those are fsynced (many at once, which lets the
/// filesystem commit them together), then renamed into place in order, then their directories
/// fsynced. A crash at any point leaves each tile whole or missing, and a missing one is made again
/// from the log at the next start. Gives the tiles it could not write.
fn write_durably(data_dir: &Path, tiles: &BTreeMap<TileId, Arc<Vec<Hash>>>) -> Vec<TileId> {
    let mut failed = Vec::new();
    let mut staged = Vec::new();
    for (&id, hashes) in tiles {
        let path = tile_path(data_dir, id);
        let bytes = tile::to_bytes(hashes);
        match std::fs::read(&path) {
            Ok(b) if b == bytes => continue,
            Ok(_) => {
                tracing::warn!(tile = %id.path(), "a tile did not match the log; written again from the log");
            }
            Err(_) => {}
        }
        match stage(&path, &bytes) {
            Ok((_, tmp)) => staged.push((id, tmp, path)),
            Err(e) => {
                tracing::warn!(tile = %id.path(), error = %e, "cannot write a tile; it is served from memory and written later");
                failed.push(id);
            }
        }
    }
    let unsynced = Mutex::new(BTreeSet::new());
    crate::parallel::for_each_blocking(&staged, SYNC_THREADS, |(id, tmp, _)| {
        if let Err(e) = File::open(tmp).and_then(|f| f.sync_all()) {
            tracing::warn!(tile = %id.path(), error = %e, "cannot fsync a tile; it is served from memory and written later");
            unsynced
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(*id);
        }
    });
    let unsynced = unsynced
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let mut dirs = BTreeSet::new();
    for (id, tmp, path) in &staged {
        let renamed = if unsynced.contains(id) {
            Err(io::Error::other("not fsynced"))
        } else {
            std::fs::rename(tmp, path)
        };
        match renamed {
            Ok(()) => {
                dirs.insert(path.parent().unwrap_or(data_dir).to_path_buf());
            }
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                if !unsynced.contains(id) {
                    tracing::warn!(tile = %id.path(), error = %e, "cannot write a tile; it is served from memory and written later");
                }
                failed.push(*id);
            }
        }
    }
    let dirs: Vec<_> = dirs.into_iter().collect();
    crate::parallel::for_each_blocking(&dirs, SYNC_THREADS, |d| {
        if let Ok(d) = File::open(d) {
            let _ = d.sync_all();
        }
    });
    failed.sort_unstable();
    failed
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
    /// Tiles still to keep in memory for a chore rather than write ([`Writer::defer`]); 0 when not
    /// deferring (after the first publish).
    defer: usize,
    /// The tiles kept for a chore, until its outcome is taken in at a publish.
    deferred: Option<Arc<Deferred>>,
    /// Whether [`Writer::deferred_job`] gave them to a chore.
    handed: bool,
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
            defer: 0,
            deferred: None,
            handed: false,
        }
    }

    /// Until the tree is first published, up to `max` full tiles made are kept in memory rather than
    /// written, for [`Writer::deferred_job`]; the ones after them are written as they are made.
    pub fn defer(&mut self, max: usize) {
        if !self.read_only {
            self.defer = max;
        }
    }

    /// The chore that writes the deferred tiles (once; `None` when there are none), for the ledger's
    /// owner to run after the log is open. Until it is done, they are served from memory.
    pub fn deferred_job(&mut self) -> Option<super::super::chores::Job> {
        if self.handed {
            return None;
        }
        let deferred = Arc::clone(self.deferred.as_ref()?);
        self.handed = true;
        let writing = Writing {
            deferred,
            data_dir: self.data_dir.clone(),
        };
        Some(Box::new(move || writing.run()))
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
        if self.defer > 0 {
            let deferred = self.deferred.get_or_insert_with(Default::default);
            if let Some(d) = Arc::get_mut(deferred) {
                d.tiles.insert(id, Arc::new(hashes));
                self.defer -= 1;
                return;
            }
        }
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
        self.defer = 0;
        if let Some(failed) = self.deferred.as_ref().and_then(|d| d.failed()) {
            if let Some(d) = self.deferred.take() {
                for id in failed {
                    if let Some(hashes) = d.tiles.get(&id) {
                        self.unwritten.insert(id, Arc::clone(hashes));
                    }
                }
            }
        }
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
            deferred: self.deferred.clone(),
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

    /// Blocks until the full tiles of this tree are on disk as far as they can be: returns at once
    /// unless tiles made while the log was opened are still being written by their chore.
    pub fn wait_for_tiles(&self) {
        if let Some(d) = &self.state.deferred {
            d.wait();
        }
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
        let in_memory = self
            .state
            .unwritten
            .get(&id)
            .or_else(|| self.state.deferred.as_ref().and_then(|d| d.tiles.get(&id)));
        let full = match in_memory {
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
mod tests;
