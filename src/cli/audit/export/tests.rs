//! The bundle rendered in the pass and read back after it, compared file by file.

use super::*;
use crate::evidence::note::SigningKey;
use crate::ledger::segment::{segment_name, LOG_FILE, SEGMENTS_DIR};
use crate::ledger::{testing, Ledger};

/// A signed data directory of records with the change ids `changes` (`None`: none), sealed into
/// segments that begin at the seqs `starts` (the last: the active one), and the key it trusts.
fn signed(changes: &[Option<&str>], starts: &[u64]) -> (tempfile::TempDir, Keys) {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate("test.example/sluice", KeyKind::Log).unwrap();
    let mut log = crate::ledger::Ledger::open(dir.path(), 1).unwrap();
    let drafts: Vec<_> = (1..)
        .zip(changes)
        .map(|(i, c)| testing::draft(i, &format!("app{}", i % 3), *c, "t"))
        .collect();
    log.append_batch(&drafts).unwrap();
    let (size, root) = log.tree().head();
    let cp = Checkpoint::of_tree(key.name(), size, root);
    checkpoint::store(dir.path(), checkpoint::DIR, size, &cp.sign(&key)).unwrap();
    drop::<Ledger>(log);
    let path = dir.path().join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    std::fs::create_dir_all(dir.path().join(SEGMENTS_DIR)).unwrap();
    let index = |seq: u64| usize::try_from(seq - 1).unwrap();
    for w in starts.windows(2) {
        let name = dir.path().join(SEGMENTS_DIR).join(segment_name(w[0]));
        std::fs::write(name, lines[index(w[0])..index(w[1])].concat()).unwrap();
    }
    std::fs::write(&path, lines[index(*starts.last().unwrap())..].concat()).unwrap();
    let keys = Keys {
        log: vec![key.verifier()],
        ..Keys::default()
    };
    (dir, keys)
}

/// Every file of the bundle `dir` (its path in the bundle, and its bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The bundle of `data`'s records holding `hold` bytes in the pass: its files and whether the
/// changes were read back after the pass; or the error.
fn export(
    data: &Path,
    keys: &Keys,
    hold: usize,
) -> std::result::Result<(BTreeMap<String, Vec<u8>>, bool), String> {
    let period = Period {
        from: "2000-01-01T00:00:00.000Z".into(),
        to: "2100-01-01T00:00:00.000Z".into(),
        sample: Some((3, "seed".into())),
    };
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("bundle");
    let (_, _, _, read_back) = build(data, &dir, &period, keys, hold).map_err(|e| e.to_string())?;
    Ok((files(&dir), read_back))
}

#[test]
fn a_bundle_is_the_same_whether_its_changes_are_rendered_in_the_pass_or_read_back() {
    // CHG-A's records follow one another; CHG-B's are far apart; CHG-C's straddle two segments;
    // records without a change id are a change each; a formula id is neutralised in the row.
    let mut changes: Vec<Option<&str>> = vec![Some("CHG-A"); 3];
    changes.push(Some("CHG-B"));
    changes.extend([None, Some("=1+1"), None, None, None]);
    changes.extend([Some("CHG-C"), Some("CHG-C")]);
    changes.extend((0..18).map(|i| Some(["CHG-D", "CHG-E", "CHG-F"][i % 3])));
    changes.push(Some("CHG-B"));
    changes.extend([Some("CHG-G"); 4]);
    let (data, keys) = signed(&changes, &[1, 11, 25]);
    // Everything held: each change rendered in the pass (CHG-C from both segments' lines).
    let (fast, read_back) = export(data.path(), &keys, HOLD).unwrap();
    assert!(!read_back);
    // Nothing held: CHG-A's second record comes for a change let go already.
    let (slow, read_back) = export(data.path(), &keys, 0).unwrap();
    assert!(read_back);
    assert_eq!(
        fast.keys().collect::<Vec<_>>(),
        slow.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &fast {
        assert!(
            *bytes == slow[name],
            "{name}:\n{}\n\nread back:\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&slow[name])
        );
    }
    let csv = String::from_utf8_lossy(&fast["changes.csv"]).into_owned();
    assert_eq!(csv.lines().count(), 1 + 12, "{csv}");
    assert!(
        csv.contains("\"CHG-B\",") && csv.contains(",\"4 30\"\n"),
        "{csv}"
    );
    assert!(csv.contains(",\"10 11\"\n"), "{csv}");
    assert!(csv.contains("\"'=1+1\","), "{csv}");
    assert_eq!(
        String::from_utf8_lossy(&fast["sample.txt"]).lines().count(),
        3
    );
}

#[test]
fn a_change_that_cannot_be_rendered_is_named_the_same_either_way() {
    let (data, keys) = signed(
        &[Some("CHG-1"), Some("bad\u{7}id"), Some("CHG-1"), None],
        &[1, 3],
    );
    let fast = export(data.path(), &keys, HOLD).unwrap_err();
    assert_eq!(fast, export(data.path(), &keys, 0).unwrap_err());
    assert!(fast.contains("control character"), "{fast}");
}
