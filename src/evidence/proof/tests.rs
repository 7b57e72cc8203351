//! Tests of the verification against checkpoints, over data directories the ledger wrote.

use super::*;
use crate::evidence::note::{KeyKind, SigningKey};
use crate::ledger::segment::{self, LOG_FILE, SEGMENTS_DIR};
use crate::ledger::testing::{self, Draft};
use crate::ledger::tree::TileId;
use crate::ledger::Ledger;
use serde_json::json;

fn draft(i: u64) -> Draft {
    testing::draft(i, &format!("app{}", i % 3), None, "r")
}

pub(super) fn key() -> SigningKey {
    SigningKey::generate("test.example/sluice", KeyKind::Log).unwrap()
}

pub(super) fn keys(k: &SigningKey) -> Keys {
    Keys {
        log: vec![k.verifier()],
        ..Keys::default()
    }
}

/// A data directory with `n` records and a checkpoint of the tree signed at each of `at`.
pub(super) fn signed_log(n: u64, at: &[u64], key: &SigningKey) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Ledger::open(dir.path(), 1).unwrap();
    let mut done = 0;
    for &size in at.iter().chain([&n]) {
        let drafts: Vec<Draft> = (done + 1..=size).map(draft).collect();
        log.append_batch(&drafts).unwrap();
        done = size;
        if at.contains(&size) {
            let (tree_size, root) = log.tree().head();
            assert_eq!(tree_size, size);
            let cp = Checkpoint::of_tree(key.name(), size, root);
            checkpoint::store(dir.path(), checkpoint::DIR, size, &cp.sign(key)).unwrap();
        }
    }
    dir
}

/// Seals the log by hand as the segment contract says: `starts` are the first seqs of the sealed
/// segments, then the first seq of the active one.
pub(super) fn split_into_segments(data_dir: &Path, starts: &[u64]) {
    let path = data_dir.join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    let index = |seq: u64| usize::try_from(seq - 1).unwrap();
    std::fs::create_dir_all(data_dir.join(SEGMENTS_DIR)).unwrap();
    for w in starts.windows(2) {
        let chunk = lines[index(w[0])..index(w[1])].concat();
        std::fs::write(
            data_dir
                .join(SEGMENTS_DIR)
                .join(segment::segment_name(w[0])),
            chunk,
        )
        .unwrap();
    }
    let active = lines[index(*starts.last().unwrap())..].concat();
    std::fs::write(&path, active).unwrap();
}

fn verify(dir: &Path, k: &SigningKey) -> Result<Report, ProofError> {
    verify_dir(dir, Check::new(keys(k)))
}

/// Rewrites record `seq` and recomputes every hash after it: the chain alone verifies again.
pub(super) fn rewrite(dir: &Path, seq: u64) {
    let path = dir.join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut prev = crate::ledger::canonical::GENESIS.to_owned();
    let mut out = String::new();
    for line in text.lines() {
        let mut rec: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        if rec["seq"] == seq {
            rec.insert("text".into(), json!("forged"));
        }
        rec.insert("prev".into(), json!(prev));
        rec.remove("hash");
        let hash = crate::ledger::canonical::chain_hash(&prev, &rec).unwrap();
        rec.insert("hash".into(), json!(hash));
        out.push_str(
            &String::from_utf8(crate::ledger::canonical::object_to_canonical(&rec).unwrap())
                .unwrap(),
        );
        out.push('\n');
        prev = hash;
    }
    std::fs::write(&path, out).unwrap();
}

#[test]
fn a_signed_log_verifies_whole_and_in_segments() {
    let k = key();
    let dir = signed_log(300, &[10, 257], &k);
    let r = verify(dir.path(), &k).unwrap();
    assert_eq!((r.head.seq, r.checked, r.latest), (300, 2, Some(257)));
    // The tiles on disk were compared (the full level-0 tile; the sink also writes partial ones).
    assert!(r.tiles >= 1, "{r:?}");
    split_into_segments(dir.path(), &[1, 11, 201]);
    let r = verify(dir.path(), &k).unwrap();
    assert_eq!((r.head.seq, r.checked), (300, 2));
}

#[test]
fn a_rewrite_with_recomputed_hashes_before_a_checkpoint_is_a_fork() {
    let k = key();
    let dir = signed_log(12, &[10], &k);
    rewrite(dir.path(), 3);
    crate::ledger::verify(dir.path()).expect("the chain alone still verifies");
    match verify(dir.path(), &k) {
        Err(ProofError::Fork { size: 10, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_checkpoint_of_the_chain_head_from_before_the_tree_still_verifies() {
    let k = key();
    let dir = signed_log(12, &[], &k);
    let lines = testing::records(dir.path());
    let hash = lines[6]["hash"].as_str().unwrap();
    let head: Hash = (0..32)
        .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .try_into()
        .unwrap();
    let cp = Checkpoint {
        origin: k.name().into(),
        size: 7,
        root: Root::ChainHead(head),
    };
    checkpoint::store(dir.path(), checkpoint::DIR, 7, &cp.sign(&k)).unwrap();
    assert_eq!(verify(dir.path(), &k).unwrap().checked, 1);
    rewrite(dir.path(), 3);
    match verify(dir.path(), &k) {
        Err(ProofError::Rewritten { seq: 7, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_log_that_still_chains_is_detected() {
    let k = key();
    let dir = signed_log(12, &[10], &k);
    let path = dir.path().join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept = text
        .lines()
        .take(8)
        .fold(String::new(), |s, l| s + l + "\n");
    std::fs::write(&path, kept).unwrap();
    crate::ledger::verify(dir.path()).expect("the chain alone still verifies");
    match verify(dir.path(), &k) {
        Err(ProofError::Truncated {
            end: 8, size: 10, ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tile_that_does_not_match_the_records_is_named() {
    let k = key();
    let dir = signed_log(600, &[600], &k);
    let tile = dir.path().join("tile/0/001");
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    match verify(dir.path(), &k) {
        Err(ProofError::TileMismatch {
            name, from: 257, ..
        }) => assert!(name.ends_with("tile/0/001")),
        other => panic!("{other:?}"),
    }
    bytes[100] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    // A tile past the end of the log (records cut off, checkpoints with them).
    std::fs::remove_dir_all(dir.path().join(checkpoint::DIR)).unwrap();
    let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    let kept: String = text.lines().take(300).flat_map(|l| [l, "\n"]).collect();
    std::fs::write(dir.path().join(LOG_FILE), kept).unwrap();
    let cp = Checkpoint::of_tree(k.name(), 300, [0; 32]);
    checkpoint::store(dir.path(), checkpoint::DIR, 300, &cp.sign(&k)).unwrap();
    match verify(dir.path(), &k) {
        Err(ProofError::TileBeyond { end: 300, .. } | ProofError::Fork { size: 300, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleted_renamed_or_reordered_segments_are_detected() {
    let k = key();
    let dir = signed_log(30, &[25], &k);
    split_into_segments(dir.path(), &[1, 11, 21, 26]);
    verify(dir.path(), &k).unwrap();
    let seg = |s| dir.path().join(SEGMENTS_DIR).join(segment::segment_name(s));
    let middle = std::fs::read(seg(11)).unwrap();
    std::fs::remove_file(seg(11)).unwrap();
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::Gap {
            first: 21,
            before: 10,
            ..
        })
    ));
    let third = std::fs::read(seg(21)).unwrap();
    std::fs::write(seg(11), &third).unwrap();
    std::fs::write(seg(21), &middle).unwrap();
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::Broken {
            line: 1,
            seq: 11,
            ..
        })
    ));
    std::fs::write(seg(11), &middle).unwrap();
    std::fs::remove_file(seg(21)).unwrap();
    std::fs::write(dir.path().join(LOG_FILE), "").unwrap();
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::Truncated {
            end: 20,
            size: 25,
            ..
        })
    ));
}

#[test]
fn a_checkpoint_signed_by_another_key_renamed_or_forked_is_refused() {
    let k = key();
    let dir = signed_log(5, &[5], &k);
    let other = key();
    match verify(dir.path(), &other) {
        Err(ProofError::Note {
            source: NoteError::UnknownKey(_),
            ..
        }) => {}
        r => panic!("{r:?}"),
    }
    // Another checkpoint of the same size and another root, signed by the log's own key: a fork.
    let forked = Checkpoint::of_tree(k.name(), 5, [7; 32]);
    checkpoint::store(dir.path(), checkpoint::WITNESSED_DIR, 5, &forked.sign(&k)).unwrap();
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::Forked { size: 5, .. })
    ));
    std::fs::remove_dir_all(dir.path().join(checkpoint::WITNESSED_DIR)).unwrap();
    let cps = dir.path().join(checkpoint::DIR);
    std::fs::rename(
        cps.join(checkpoint::file_name(5)),
        cps.join(checkpoint::file_name(4)),
    )
    .unwrap();
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::Renamed {
            named: 4,
            inside: 5,
            ..
        })
    ));
}

#[test]
fn cosignatures_count_towards_a_threshold_and_name_the_fork() {
    let k = key();
    let dir = signed_log(12, &[10], &k);
    let w1 = SigningKey::generate("w1.example", KeyKind::Witness).unwrap();
    let w2 = SigningKey::generate("w2.example", KeyKind::Witness).unwrap();
    let note = checkpoint::read_note(
        &dir.path()
            .join("checkpoints")
            .join(checkpoint::file_name(10)),
    )
    .unwrap();
    let text = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let cosigned = format!("{note}{}", w1.cosign(&text, 1_700_000_000));
    checkpoint::store(dir.path(), checkpoint::WITNESSED_DIR, 10, &cosigned).unwrap();
    let with = |threshold, ws: &[&SigningKey]| Keys {
        log: vec![k.verifier()],
        witnesses: ws.iter().map(|w| w.verifier()).collect(),
        threshold,
    };
    let r = verify_dir(dir.path(), Check::new(with(1, &[&w1, &w2]))).unwrap();
    assert_eq!(r.witnessed, Some((10, 1)));
    match verify_dir(dir.path(), Check::new(with(2, &[&w1, &w2]))) {
        Err(ProofError::Unwitnessed { threshold: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
    rewrite(dir.path(), 2);
    let e = verify_dir(dir.path(), Check::new(with(1, &[&w1]))).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("cosigned by w1.example") && text.contains("fork"),
        "{text}"
    );
}

#[test]
fn no_checkpoint_for_a_log_with_records_fails() {
    let k = key();
    let dir = signed_log(3, &[], &k);
    assert!(matches!(
        verify(dir.path(), &k),
        Err(ProofError::NoCheckpoint(_))
    ));
}

#[test]
fn checkpoints_past_the_records_are_checked_against_the_tiles() {
    let k = key();
    let dir = signed_log(600, &[300, 600], &k);
    let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    let first: String = text.lines().take(256).flat_map(|l| [l, "\n"]).collect();
    // The partial tiles of the checkpoint at 600, as the signer writes them.
    let mut view = Ledger::open(dir.path(), 2).unwrap().tree().view();
    let partials: Vec<(TileId, Vec<u8>)> = tree::tile::partials_of(600)
        .into_iter()
        .map(|id| (id, view.tile(id).unwrap().unwrap()))
        .collect();
    let run = |with_partials: bool, forged: bool| {
        let mut check = Check::new(keys(&k));
        add_local_checkpoints(&mut check, dir.path()).unwrap();
        let mut set = tiles::read_dir(dir.path()).unwrap();
        for (id, bytes) in &partials {
            let mut bytes = bytes.clone();
            if forged && id.level == 0 {
                bytes[0] ^= 1;
            }
            if with_partials {
                set.insert(id.path(), *id, &bytes).unwrap();
            }
        }
        check.tiles(set);
        // Only the first 256 records: the checkpoints at 300 and 600 are past them.
        check.segment("first", Some(1), first.as_bytes()).unwrap();
        check.finish(false)
    };
    let r = run(true, false).unwrap();
    assert_eq!((r.head.seq, r.from_tiles.clone()), (256, vec![300, 600]));
    match run(false, false) {
        Err(ProofError::Unchecked { missing, .. }) => assert!(missing.contains(".p/"), "{missing}"),
        other => panic!("{other:?}"),
    }
    match run(true, true) {
        Err(ProofError::Fork { size: 600, .. }) => {}
        other => panic!("{other:?}"),
    }
}
