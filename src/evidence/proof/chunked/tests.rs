//! The verification on all cores against the walk in order, over logs the ledger wrote and then broke.

use super::super::tests::{key, keys, signed_log, split_into_segments};
use super::*;
use crate::evidence::checkpoint;
use crate::evidence::note::SigningKey;
use crate::evidence::proof::verify_dir_each;
use crate::ledger::segment::{self, LOG_FILE};
use serde_json::{json, Map, Value};

/// What a verification gave: the report or the error, and every record given to `each` (its segment,
/// offset and line), as text to compare.
fn outcome(r: Result<(Report, Listing), ProofError>, seen: &[(usize, u64, Vec<u8>)]) -> String {
    let r = r.map(|(report, _)| report).map_err(|e| e.to_string());
    format!("{r:?}\n{} records given: {seen:?}", seen.len())
}

fn in_order(dir: &Path, k: &SigningKey) -> String {
    let mut seen = Vec::new();
    let r = verify_dir_each(dir, Check::new(keys(k)), |i, _, at, line| {
        seen.push((i, at, line.to_vec()));
    });
    outcome(r, &seen)
}

fn chunked(dir: &Path, k: &SigningKey, chunk: u64) -> String {
    let mut seen = Vec::new();
    let r = verify_dir_with(
        dir,
        Check::new(keys(k)),
        chunk,
        <[u8]>::len,
        |i, len, at, line| {
            assert_eq!(len, line.len(), "the item extracted from this line");
            seen.push((i, at, line.to_vec()));
        },
    );
    outcome(r, &seen)
}

/// The verification on all cores, with chunks of several sizes (less than a line, a few lines, lines
/// straddling every boundary, the default), gives what the walk in order gives: the same report, the
/// same error, the same records to `each` before it. Gives the report or error.
fn same_as_in_order(dir: &Path, k: &SigningKey) -> String {
    let want = in_order(dir, k);
    for chunk in [61, 700, 4_096, CHUNK] {
        let got = chunked(dir, k, chunk);
        assert!(
            got == want,
            "chunks of {chunk}:\n{got}\n\nin order:\n{want}"
        );
    }
    want.lines().next().unwrap_or_default().to_owned()
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read(path).unwrap();
    text.split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// The log's files, sealed segments first.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = segment::sealed(dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    files.push(dir.join(LOG_FILE));
    files
}

#[test]
fn a_signed_log_gives_the_same_report_and_records_in_any_chunks() {
    let k = key();
    let dir = signed_log(300, &[10, 257], &k);
    let got = same_as_in_order(dir.path(), &k);
    assert!(
        got.starts_with("Ok(Report { head: Head { seq: 300"),
        "{got}"
    );
    split_into_segments(dir.path(), &[1, 11, 201]);
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("checked: 2"), "{got}");
    let empty = tempfile::tempdir().unwrap();
    same_as_in_order(empty.path(), &k);
}

#[test]
fn broken_chains_forged_records_and_altered_bytes_are_named_as_in_order() {
    let k = key();
    let dir = signed_log(60, &[20, 45], &k);
    split_into_segments(dir.path(), &[1, 17, 40]);
    let mut reasons = std::collections::BTreeSet::new();
    for path in files(dir.path()) {
        let original = std::fs::read(&path).unwrap();
        let all = lines(&path);
        for i in 0..all.len() {
            let mut deleted = all.clone();
            deleted.remove(i);
            std::fs::write(&path, deleted.concat()).unwrap();
            reasons.insert(same_as_in_order(dir.path(), &k));
            let mut swapped = all.clone();
            swapped.swap(i, (i + 1) % all.len());
            std::fs::write(&path, swapped.concat()).unwrap();
            reasons.insert(same_as_in_order(dir.path(), &k));
            // A forged record: another text, its own hash right, its successor's prev not.
            let mut record: Map<String, Value> =
                serde_json::from_slice(all[i].strip_suffix(b"\n").unwrap()).unwrap();
            record.insert("text".into(), json!("forged"));
            let prev = record["prev"].as_str().unwrap().to_owned();
            record.remove("hash");
            let hash = crate::ledger::canonical::chain_hash(&prev, &record).unwrap();
            record.insert("hash".into(), json!(hash));
            let mut forged = all.clone();
            forged[i] = crate::ledger::canonical::object_to_canonical(&record).unwrap();
            forged[i].push(b'\n');
            std::fs::write(&path, forged.concat()).unwrap();
            reasons.insert(same_as_in_order(dir.path(), &k));
        }
        for at in (0..original.len()).step_by(211) {
            let mut altered = original.clone();
            altered[at] ^= 0x01;
            std::fs::write(&path, &altered).unwrap();
            reasons.insert(same_as_in_order(dir.path(), &k));
        }
        // Valid JSON, but not canonical.
        let spaced = String::from_utf8(original.clone())
            .unwrap()
            .replacen("{\"", "{ \"", 2);
        std::fs::write(&path, spaced).unwrap();
        reasons.insert(same_as_in_order(dir.path(), &k));
        for cut in [1, 2, original.len() / 2] {
            std::fs::write(&path, &original[..original.len() - cut]).unwrap();
            reasons.insert(same_as_in_order(dir.path(), &k));
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert!(same_as_in_order(dir.path(), &k).starts_with("Ok("));
    // A segment gone.
    std::fs::remove_file(&files(dir.path())[1]).unwrap();
    reasons.insert(same_as_in_order(dir.path(), &k));
    let all = reasons.iter().cloned().collect::<Vec<_>>().join("\n");
    for kind in [
        "seq is",
        "prev does not",
        "hash does not",
        "canonical",
        "not a JSON",
        "missing",
    ] {
        assert!(all.contains(kind), "no {kind:?} in:\n{all}");
    }
}

#[test]
fn a_rewritten_log_a_changed_tile_and_a_missing_checkpoint_are_named_as_in_order() {
    let k = key();
    // Every hash recomputed after record 3: the chain holds, the checkpoint of 10 does not.
    let dir = signed_log(300, &[10, 280], &k);
    super::super::tests::rewrite(dir.path(), 3);
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("the log was rewritten"), "{got}");

    // A tile that does not match the records.
    let dir = signed_log(300, &[280], &k);
    let tile = dir
        .path()
        .join(crate::ledger::tree::TileId::full(0, 0).path());
    let mut bytes = std::fs::read(&tile).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&tile, &bytes).unwrap();
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("does not match the records"), "{got}");

    // The checkpoints gone: nothing signed to verify against; one of them gone: the other checked.
    let dir = signed_log(300, &[10, 280], &k);
    let listed = checkpoint::list(dir.path(), checkpoint::DIR).unwrap();
    std::fs::remove_file(&listed[1].1).unwrap();
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("checked: 1"), "{got}");
    std::fs::remove_file(&listed[0].1).unwrap();
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("no checkpoint under"), "{got}");

    // A checkpoint past the records: they were cut off the end.
    let dir = signed_log(300, &[280], &k);
    let path = dir.path().join(LOG_FILE);
    let all = lines(&path);
    std::fs::write(&path, all[..270].concat()).unwrap();
    let got = same_as_in_order(dir.path(), &k);
    assert!(got.contains("cut off"), "{got}");
}
