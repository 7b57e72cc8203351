//! The open ledger's tests: appends, verification on open, torn tails, the tree, and the first start
//! on all cores against the walk in order.
use super::*;
use crate::ledger::error::BadReason;
use crate::ledger::line::{scan, Scan};
use crate::ledger::testing::{self, files_under, Draft};
use crate::ledger::Span;
use proptest::prelude::*;

/// Record `i`, with text that needs escapes.
fn draft(i: u64) -> Draft {
    testing::draft(i, &format!("app{}", i % 3), None, "line\nbreak \u{7f} é")
}

fn log_with(n: u64) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Ledger::open(dir.path(), 1).unwrap();
    let drafts: Vec<Draft> = (1..=n).map(draft).collect();
    log.append_batch(&drafts).unwrap();
    (dir, log)
}

fn verify(path: &Path) -> Scan {
    scan(File::open(path).unwrap(), |_, _| {}).unwrap()
}

#[test]
fn appends_a_verifiable_chain() {
    let (dir, log) = log_with(5);
    assert_eq!(log.head().seq, 5);
    let s = verify(&dir.path().join(LOG_FILE));
    assert_eq!(s.bad, None);
    assert_eq!(s.head, *log.head());
}

#[test]
fn duplicate_keys_write_nothing_even_within_a_batch() {
    let (dir, mut log) = log_with(2);
    let len = log.head().len;
    let out = log.append_batch(&[draft(1), draft(3), draft(3)]).unwrap();
    assert_eq!(out[0], Outcome::Duplicate { seq: 1 });
    assert!(matches!(out[1], Outcome::Appended { seq: 3, .. }));
    assert_eq!(out[2], Outcome::Duplicate { seq: 3 });
    assert!(log.head().len > len);
    drop(log);
    // The index is rebuilt on open.
    let mut log = Ledger::open(dir.path(), 2).unwrap();
    assert_eq!(
        log.append_batch(&[draft(2)]).unwrap(),
        vec![Outcome::Duplicate { seq: 2 }]
    );
}

#[test]
fn verify_names_first_broken_record() {
    let (dir, log) = log_with(4);
    let path = dir.path().join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    drop(log);
    // Delete line 2.
    let deleted = [lines[0], lines[2], lines[3]].join("\n") + "\n";
    std::fs::write(&path, deleted).unwrap();
    let bad = verify(&path).bad.unwrap();
    assert_eq!((bad.line, bad.torn), (2, false));
    assert_eq!(
        bad.reason,
        BadReason::Seq {
            found: 3,
            expected: 2
        }
    );
    // Swap lines 3 and 4.
    let swapped = [lines[0], lines[1], lines[3], lines[2]].join("\n") + "\n";
    std::fs::write(&path, swapped).unwrap();
    assert_eq!(verify(&path).bad.unwrap().line, 3);
}

#[test]
fn flipping_any_byte_breaks_verification_at_its_line() {
    let (dir, log) = log_with(3);
    let path = dir.path().join(LOG_FILE);
    let original = std::fs::read(&path).unwrap();
    drop(log);
    for i in 0..original.len() {
        for mask in [0x01u8, 0x20, 0x80] {
            let mut bytes = original.clone();
            bytes[i] ^= mask;
            let line = 1 + original[..i].iter().filter(|b| **b == b'\n').count() as u64;
            let s = scan(&bytes[..], |_, _| {}).unwrap();
            let bad = s
                .bad
                .unwrap_or_else(|| panic!("byte {i} ^ {mask:#x} went unnoticed"));
            // A flipped newline merges two lines: the first bad line is still this one.
            assert_eq!(bad.line, line, "byte {i} ^ {mask:#x}");
        }
    }
}

#[test]
fn open_refuses_a_chain_broken_in_the_middle() {
    let (dir, log) = log_with(3);
    let path = dir.path().join(LOG_FILE);
    drop(log);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("app1", "app9", 1);
    std::fs::write(&path, text).unwrap();
    match Ledger::open(dir.path(), 1) {
        Err(LedgerError::Broken { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_batch_leaves_the_log_valid() {
    let (dir, mut log) = log_with(2);
    // Simulate bytes of a failed write past the head, then recover on the next batch.
    log.file.write_all(b"{\"partial\":").unwrap();
    log.dirty = true;
    let out = log.append_batch(&[draft(3)]).unwrap();
    assert!(matches!(out[0], Outcome::Appended { seq: 3, .. }));
    assert_eq!(verify(&dir.path().join(LOG_FILE)).bad, None);
}

/// The root of the records' lines, computed from the file alone.
fn root_of_lines(dir: &Path) -> tree::Hash {
    let mut leaves = Vec::new();
    for seg in segment::segments(dir).unwrap() {
        let text = std::fs::read(&seg.path).unwrap_or_default();
        for l in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            leaves.push(tree::hash::leaf(l));
        }
    }
    tree::hash::root_of(&leaves)
}

#[test]
fn the_tree_follows_appends_and_is_rebuilt_or_caught_up_on_open() {
    let (dir, mut log) = log_with(300);
    for i in 301..=600 {
        log.append_batch(&[draft(i)]).unwrap();
    }
    assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
    drop(log);
    // Opened again (from the marker, when one was written by now): the same tree.
    let log = Ledger::open(dir.path(), 2).unwrap();
    assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
    drop(log);
    // The tiles gone (a log written before the tree): built on open.
    std::fs::remove_dir_all(dir.path().join(tree::tile::DIR)).unwrap();
    let log = Ledger::open(dir.path(), 3).unwrap();
    assert_eq!(log.tree().head(), (600, root_of_lines(dir.path())));
    assert!(dir.path().join("tile/0/001").exists());
    // A quick start (each seal writes the marker) across sealed segments: the tiles on disk, then
    // the records after them, read from where the index says the tiles end.
    let rolled = tempfile::tempdir().unwrap();
    let rolling = Rolling {
        max_bytes: 20_000,
        ..Rolling::default()
    };
    let mut log = Ledger::open_with(rolled.path(), 1, rolling, testing::SCHEMA).unwrap();
    for i in 1..=700 {
        log.append_batch(&[draft(i)]).unwrap();
    }
    drop(log);
    std::fs::remove_file(rolled.path().join("tile/0/001")).unwrap();
    let log = Ledger::open_with(rolled.path(), 2, rolling, testing::SCHEMA).unwrap();
    assert!(log.verified_after() > 0);
    assert_eq!(log.tree().head(), (700, root_of_lines(rolled.path())));
}

#[test]
fn a_sink_s_open_leaves_the_tiles_to_a_chore_and_a_crash_before_it_ran_loses_none() {
    let (dir, log) = log_with(900);
    drop(log);
    let want = files_under(dir.path(), tree::tile::DIR);
    assert_eq!(want.len(), 3);
    let root = root_of_lines(dir.path());
    // A log without its derived files (a restore, an upgrade): the sink's first start.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    std::fs::remove_dir_all(dir.path().join(tree::tile::DIR)).unwrap();
    let chores = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let open = |now| {
        let to = std::sync::Arc::clone(&chores);
        Ledger::<()>::open_serving(
            dir.path(),
            now,
            Rolling::default(),
            testing::SCHEMA,
            move |c| {
                to.lock().unwrap().push(c);
            },
        )
        .unwrap()
    };
    let log = open(2);
    assert_eq!(log.verified_after(), 0);
    assert!(files_under(dir.path(), tree::tile::DIR).is_empty());
    assert_eq!(log.tree().head(), (900, root));
    // Killed before its chores ran: no tile on disk, and the marker says the log was verified.
    drop(log);
    chores.lock().unwrap().clear();
    let log = open(3);
    assert_eq!(log.verified_after(), 900);
    assert_eq!(log.tree().head(), (900, root));
    // The tiles are made again from the log, and written by the chore.
    assert!(files_under(dir.path(), tree::tile::DIR).is_empty());
    let jobs: Vec<_> = std::mem::take(&mut *chores.lock().unwrap());
    jobs.into_iter().for_each(super::super::chores::Chore::run);
    assert_eq!(files_under(dir.path(), tree::tile::DIR), want);
}

/// A fold that sees every record: their count and a digest of each, in order.
#[derive(Debug, Default)]
struct Digest(u64, String);

impl Fold for Digest {
    const KIND: &'static str = "test-digest/1";
    type Lesson = String;
    fn read(line: &[u8], _: &[Span], schema: &Schema) -> Option<Reading<String>> {
        crate::ledger::read_map(line, schema, |record| {
            serde_json::Value::Object(record.clone()).to_string()
        })
    }
    fn learn(&mut self, record: &String) {
        let text = format!("{}{record}", self.1);
        self.0 += 1;
        self.1 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text));
    }
    fn save(&self) -> serde_json::Value {
        json!({"records": self.0, "digest": self.1})
    }
    fn load(saved: &serde_json::Value) -> Option<Self> {
        Some(Digest(
            saved.get("records")?.as_u64()?,
            saved.get("digest")?.as_str()?.to_owned(),
        ))
    }
}

/// A first start (no index, no tiles) of a copy of `dir`, in chunks of `chunk` bytes (`None`: in
/// order): what it gave, and the index, tiles and log files it left.
fn first_start(dir: &Path, rolling: Rolling, chunk: Option<u64>) -> (String, String) {
    let copy = tempfile::tempdir().unwrap();
    for (name, bytes) in files_under(dir, "segments")
        .into_iter()
        .chain(files_under(dir, LOG_FILE))
    {
        let to = copy.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    if !copy.path().join(LOG_FILE).exists() && dir.join(LOG_FILE).exists() {
        std::fs::copy(dir.join(LOG_FILE), copy.path().join(LOG_FILE)).unwrap();
    }
    let opened =
        Ledger::<Digest>::open_chunked(copy.path(), 9, rolling, testing::SCHEMA, chunk, None);
    let said = match &opened {
        Ok(log) => format!(
            "head {:?}, torn {:?}, tree {:?}, fold {:?}, verified after {}",
            log.head(),
            log.torn_tail().map(|t| (t.line, t.bytes)),
            log.tree().head(),
            log.fold(),
            log.verified_after()
        ),
        Err(e) => format!("error: {e}"),
    }
    .replace(&copy.path().display().to_string(), "DIR");
    drop(opened);
    let mut left = String::new();
    for sub in ["index", "tile", "segments", LOG_FILE] {
        for (name, bytes) in files_under(copy.path(), sub) {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.replace(&copy.path().display().to_string(), "DIR");
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text));
            left.push_str(&name);
            left.push_str(": ");
            left.push_str(&digest);
            left.push('\n');
        }
    }
    (said, left)
}

/// The first start on all cores, in chunks small enough that records straddle them, gives what
/// the walk in order gives: head, torn tail, fold, tree, and the same index and tiles on disk.
fn same_first_start(dir: &Path, rolling: Rolling) -> String {
    let want = first_start(dir, rolling, None);
    for chunk in [1, 333, 4_000, OPEN_CHUNK] {
        assert_eq!(
            first_start(dir, rolling, Some(chunk)),
            want,
            "chunks of {chunk}"
        );
    }
    want.0
}

#[test]
fn the_first_start_on_all_cores_builds_what_the_walk_in_order_builds() {
    let dir = tempfile::tempdir().unwrap();
    let rolling = Rolling {
        max_bytes: 30_000,
        ..Rolling::default()
    };
    let mut log = Ledger::open_with(dir.path(), 1, rolling, testing::SCHEMA).unwrap();
    for i in 1..=900 {
        let change = (i % 4 == 0).then(|| format!("CHG-{}", i / 8));
        log.append_batch(&[testing::draft(
            i,
            &format!("app{}", i % 7),
            change.as_deref(),
            &"é\"x".repeat(i as usize % 5),
        )])
        .unwrap();
    }
    drop(log);
    assert!(segment::sealed(dir.path()).unwrap().len() > 5);
    let said = same_first_start(dir.path(), rolling);
    assert!(said.starts_with("head Head { seq: 900"), "{said}");
    assert!(said.contains("tree (900"), "{said}");
    let segs: Vec<_> = segment::sealed(dir.path()).unwrap();
    let active = dir.path().join(LOG_FILE);
    // A torn last line: moved aside alike.
    let full = std::fs::read(&active).unwrap();
    std::fs::write(&active, &full[..full.len() - 40]).unwrap();
    let said = same_first_start(dir.path(), rolling);
    assert!(said.contains("torn Some("), "{said}");
    std::fs::write(&active, &full).unwrap();
    // A line broken in the middle of a sealed segment: refused alike, naming segment and line.
    let middle = &segs[2].path;
    let original = std::fs::read(middle).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    let at = text.len() / 2;
    let at = at + text[at..].find("\"r").unwrap() + 3;
    let mut broken = original.clone();
    broken[at] ^= 0x01;
    std::fs::write(middle, &broken).unwrap();
    let said = same_first_start(dir.path(), rolling);
    assert!(
        said.starts_with("error: ") && said.contains("line "),
        "{said}"
    );
    // A line removed.
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    lines.remove(lines.len() / 2);
    std::fs::write(middle, lines.concat()).unwrap();
    let said = same_first_start(dir.path(), rolling);
    assert!(said.contains("seq is") || said.contains("seq"), "{said}");
    std::fs::write(middle, &original).unwrap();
    // A sealed segment missing.
    std::fs::remove_file(&segs[3].path).unwrap();
    let said = same_first_start(dir.path(), rolling);
    assert!(said.contains("missing"), "{said}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn recovery_after_any_truncation_keeps_every_complete_record(n in 1u64..6, cut in 0usize..4000) {
        let (dir, log) = log_with(n);
        let path = dir.path().join(LOG_FILE);
        let full = std::fs::read(&path).unwrap();
        drop(log);
        let cut = cut % (full.len() + 1);
        std::fs::write(&path, &full[..cut]).unwrap();
        let complete = full[..cut].iter().filter(|b| **b == b'\n').count() as u64;
        let mut log = Ledger::open(dir.path(), 7).unwrap();
        prop_assert_eq!(log.head().seq, complete);
        let kept = log.head().len as usize;
        prop_assert_eq!(&full[..kept], &std::fs::read(&path).unwrap()[..]);
        if let Some(t) = log.torn_tail() {
            prop_assert!(kept < cut);
            prop_assert_eq!(std::fs::read(&t.side_file).unwrap(), full[kept..cut].to_vec());
        } else { prop_assert_eq!(kept, cut) }
        // The log takes appends again and verifies.
        log.append_batch(&[draft(100)]).unwrap();
        prop_assert_eq!(verify(&path).bad, None);
    }
}
