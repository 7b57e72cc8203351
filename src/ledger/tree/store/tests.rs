//! The tree's store: tiles on disk and in memory, the deferred tiles of a sink's start, views.
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

/// The files under `dir/tile/`, by path, with their bytes.
fn tile_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    crate::ledger::testing::files_under(dir, tile::DIR)
}

/// A writer that deferred up to `max` tiles while `l` was pushed, published.
fn deferring(dir: &Path, l: &[Hash], max: usize) -> Writer {
    let mut w = Writer::empty(dir);
    w.defer(max);
    for h in l {
        w.push(*h);
    }
    w.publish();
    w
}

#[test]
fn deferred_tiles_are_served_from_memory_until_their_chore_writes_them_whole() {
    let l = leaves(70_000);
    let plain = tempfile::tempdir().unwrap();
    drop(grown(plain.path(), &l));
    let want = tile_files(plain.path());
    assert_eq!(want.len(), 274);

    let dir = tempfile::tempdir().unwrap();
    let mut w = deferring(dir.path(), &l, DEFER_MAX);
    assert!(tile_files(dir.path()).is_empty(), "nothing written yet");
    // Served from memory meanwhile: the same proofs as the leaves give.
    let mut view = w.reader().view();
    assert_eq!(view.root(), root_of(&l));
    assert_eq!(
        proof::inclusion(&mut view, 300, 70_000).unwrap(),
        proof::inclusion(&mut Leaves(&l), 300, 70_000).unwrap()
    );
    // A tile on disk with other bytes (a damaged one) is written again.
    let t1 = tile_path(dir.path(), TileId::full(0, 1));
    std::fs::create_dir_all(t1.parent().unwrap()).unwrap();
    std::fs::write(&t1, vec![7u8; FULL_BYTES]).unwrap();
    // Whoever waits for the tiles (the signer) waits for the chore.
    let waiting = {
        let view = w.reader().view();
        std::thread::spawn(move || view.wait_for_tiles())
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        !waiting.is_finished(),
        "wait_for_tiles returned before the chore ran"
    );
    let job = w.deferred_job().expect("a chore for the deferred tiles");
    assert!(w.deferred_job().is_none(), "handed once");
    job();
    waiting.join().unwrap();
    // Every tile whole at its name, nothing beside it, the same bytes as written at once.
    assert_eq!(tile_files(dir.path()), want);
    // The next publish lets the memory go; the tiles are read from disk.
    w.publish();
    assert!(w.deferred.is_none());
    let mut view = w.reader().view();
    assert_eq!(
        proof::inclusion(&mut view, 69_999, 70_000).unwrap(),
        proof::inclusion(&mut Leaves(&l), 69_999, 70_000).unwrap()
    );
}

#[test]
fn deferred_tiles_a_chore_never_wrote_are_written_at_the_next_batch() {
    let l = leaves(2_000);
    let dir = tempfile::tempdir().unwrap();
    let mut w = deferring(dir.path(), &l, DEFER_MAX);
    // The owner stops without running the chore: nobody waits for it any more.
    drop(w.deferred_job().unwrap());
    w.reader().view().wait_for_tiles();
    assert!(tile_files(dir.path()).is_empty());
    w.publish();
    assert_eq!(tile_files(dir.path()).len(), 7);
    assert_eq!(
        read_full(dir.path(), TileId::full(0, 6)).unwrap(),
        l[1536..1792].to_vec()
    );
    assert!(w.unwritten.is_empty() && w.deferred.is_none());
}

#[test]
fn deferring_stops_at_its_limit_and_at_the_first_publish() {
    let l = leaves(2_000);
    let dir = tempfile::tempdir().unwrap();
    let mut w = deferring(dir.path(), &l[..1_500], 2);
    // The first two tiles wait for the chore; the ones after them were written as they filled.
    let on_disk: Vec<_> = tile_files(dir.path()).into_keys().collect();
    assert_eq!(on_disk, ["tile/0/002", "tile/0/003", "tile/0/004"]);
    // After the first publish, a tile that fills is written at once.
    for h in &l[1_500..] {
        w.push(*h);
    }
    assert!(tile_path(dir.path(), TileId::full(0, 6)).exists());
    w.deferred_job().unwrap()();
    w.publish();
    assert_eq!(tile_files(dir.path()).len(), 7);
    assert_eq!(w.root(), root_of(&l));
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
