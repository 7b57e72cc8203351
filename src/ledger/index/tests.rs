//! The index against the log: queries, the marker, a damaged or forged index.

use super::journal::{
    Marker, INDEX_DIR, JOURNAL_FILE, MAGIC, MARKER_FILE, RECORD_BYTES, TAG_RECORD,
};
use super::*;
use crate::ledger::line::seq_of;
use crate::ledger::log::{Ledger, Outcome, Rolling};
use crate::ledger::testing::{self, Draft, SCHEMA};
use crate::ledger::LedgerError;
use std::path::Path;

/// The journal's checksum as the marker holds it, computed here in one call (the writer and the
/// lookup compute it piece by piece).
fn xxh3_hex(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Record `i`, of app `app{i % 3}` and change `CHG-{i % 5}` (none when 4).
fn draft(i: u64) -> Draft {
    let change = (i % 5 != 4).then(|| format!("CHG-{}", i % 5));
    testing::draft(
        i,
        &format!("app{}", i % 3),
        change.as_deref(),
        "inside window",
    )
}

fn open(dir: &Path, now: i64) -> Ledger {
    Ledger::open_with(dir, now, small(), SCHEMA).unwrap()
}

fn query(log: &Ledger, f: &Select, after: Option<u64>, limit: usize) -> Vec<u64> {
    log.reader()
        .query(f, after, limit, &|| false)
        .unwrap()
        .iter()
        .map(|found| seq_of(&found.record))
        .collect()
}

fn small() -> Rolling {
    Rolling {
        max_bytes: 2000,
        ..Rolling::default()
    }
}

/// A log of `n` records, one batch of three at a time, rolling at 2000 bytes.
fn log_with(n: u64) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 1);
    let drafts: Vec<Draft> = (1..=n).map(draft).collect();
    for batch in drafts.chunks(3) {
        log.append_batch(batch).unwrap();
    }
    (dir, log)
}

/// What a query must answer, from every record of the log.
fn expected(dir: &Path, f: &Select, after: Option<u64>, limit: usize) -> Vec<u64> {
    let all: Vec<u64> = testing::records(dir)
        .iter()
        .filter(|r| f.matches(&(SCHEMA.filing)(r)) && after.is_none_or(|a| seq_of(r) > a))
        .map(seq_of)
        .collect();
    match after {
        Some(_) => all.into_iter().take(limit).collect(),
        None => all[all.len().saturating_sub(limit)..].to_vec(),
    }
}

fn filters() -> Vec<Select> {
    let f = |app: Option<&str>, change: Option<&str>| Select {
        app: app.map(Into::into),
        change: change.map(Into::into),
    };
    vec![
        f(None, None),
        f(Some("app1"), None),
        f(None, Some("CHG-2")),
        f(Some("app2"), Some("CHG-1")),
        f(None, Some("")),
        f(Some("nope"), None),
        f(None, Some("CHG-9")),
    ]
}

#[test]
fn queries_stop_at_limit_and_page_by_after_across_segments() {
    let (dir, log) = log_with(60);
    assert!(
        std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count()
            >= 3,
        "the log rolled"
    );
    for f in filters() {
        for limit in [1, 4, 100] {
            assert_eq!(
                query(&log, &f, None, limit),
                expected(dir.path(), &f, None, limit),
                "{f:?} limit {limit}"
            );
            // Paging forward by the last seq seen gives every match once, in order.
            let mut paged = Vec::new();
            let mut after = 0;
            loop {
                let page = query(&log, &f, Some(after), limit);
                assert!(page.len() <= limit);
                assert_eq!(page, expected(dir.path(), &f, Some(after), limit));
                let Some(&last) = page.last() else { break };
                paged.extend(page);
                after = last;
            }
            assert_eq!(
                paged,
                expected(dir.path(), &f, Some(0), usize::MAX),
                "{f:?}"
            );
        }
    }
}

#[test]
fn the_next_start_verifies_only_what_follows_the_marker() {
    let (dir, log) = log_with(20);
    drop(log);
    // The writer moves the marker at most once a second, and on open and when sealing.
    let mut log = open(dir.path(), 2);
    assert!(
        (1..=20).contains(&log.verified_after()),
        "{}",
        log.verified_after()
    );
    assert_eq!(log.head().seq, 20);
    log.append_batch(&[draft(21)]).unwrap();
    drop(log);
    let log = open(dir.path(), 3);
    // Opening moved the marker to 20.
    assert!(
        (20..=21).contains(&log.verified_after()),
        "{}",
        log.verified_after()
    );
    assert_eq!(log.head().seq, 21);
    // Keys come back from the journal: a redelivery is still a duplicate, in any segment.
    let mut log = log;
    assert_eq!(
        log.append_batch(&[draft(1), draft(21)]).unwrap(),
        vec![
            Outcome::Duplicate { seq: 1 },
            Outcome::Duplicate { seq: 21 }
        ]
    );
}

#[test]
fn a_marker_the_log_no_longer_matches_means_verifying_everything() {
    let (dir, log) = log_with(12);
    drop(log);
    let marker_path = dir.path().join(INDEX_DIR).join(MARKER_FILE);
    let marker: Marker = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    let cases: Vec<(&str, Marker)> = vec![
        (
            "another seq",
            Marker {
                seq: marker.seq - 1,
                ..marker.clone()
            },
        ),
        (
            "another hash",
            Marker {
                hash: "0".repeat(64),
                ..marker.clone()
            },
        ),
        (
            "another place",
            Marker {
                start: marker.start + 1,
                ..marker.clone()
            },
        ),
        (
            "other sealed lengths",
            Marker {
                sealed: vec![(1, 5)],
                ..marker.clone()
            },
        ),
        (
            "another journal",
            Marker {
                journal_xxh3: "0".repeat(32),
                ..marker.clone()
            },
        ),
        (
            "other keys",
            Marker {
                keys_xxh3: "0".repeat(32),
                ..marker.clone()
            },
        ),
        (
            "fewer keys",
            Marker {
                keys_bytes: marker.keys_bytes - 16,
                ..marker.clone()
            },
        ),
    ];
    for (what, m) in cases {
        std::fs::write(&marker_path, serde_json::to_vec(&m).unwrap()).unwrap();
        let log = open(dir.path(), 2);
        assert_eq!(log.verified_after(), 0, "{what}");
        assert_eq!(log.head().seq, 12, "{what}");
        drop(log);
    }
    std::fs::write(&marker_path, b"{not json").unwrap();
    assert_eq!(open(dir.path(), 2).verified_after(), 0);
    // The marked record itself changed: the whole chain is verified, and the change found.
    let active = dir.path().join(crate::ledger::LOG_FILE);
    let text = std::fs::read_to_string(&active).unwrap();
    std::fs::write(&active, text.replace("\"r12\"", "\"r99\"")).unwrap();
    match Ledger::open_with(dir.path(), 2, small(), SCHEMA) {
        Err(LedgerError::Broken { path, .. }) => assert_eq!(path, active),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deleted_or_damaged_index_is_rebuilt_and_queries_stay_right() {
    let (dir, log) = log_with(30);
    let f = Select {
        app: Some("app1".into()),
        ..Select::default()
    };
    let right = query(&log, &f, None, 100);
    assert_eq!(right, expected(dir.path(), &f, None, 100));
    drop(log);
    let index = dir.path().join(INDEX_DIR);
    // Deleted.
    std::fs::remove_dir_all(&index).unwrap();
    let log = open(dir.path(), 2);
    assert_eq!(log.verified_after(), 0);
    assert_eq!(query(&log, &f, None, 100), right);
    drop(log);
    // An entry edited to point at another record: the journal's digest no longer matches.
    let journal = index.join(JOURNAL_FILE);
    let mut bytes = std::fs::read(&journal).unwrap();
    let at = bytes.len() - RECORD_BYTES + 8;
    bytes[at] ^= 0x40;
    std::fs::write(&journal, &bytes).unwrap();
    let log = open(dir.path(), 3);
    assert_eq!(log.verified_after(), 0);
    assert_eq!(query(&log, &f, None, 100), right);
    drop(log);
    // Journal and marker forged to agree: the index is loaded, but every record read through it
    // is checked, and the query reads the log instead.
    let marker_path = index.join(MARKER_FILE);
    let mut marker: Marker = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.truncate(usize::try_from(marker.journal_bytes).unwrap());
    // The offset of the last record (an app1 record, seq 28 or later) now points at record 1.
    let last_app1 = *right.last().unwrap();
    let (mut pos, mut seq) = (MAGIC.len(), 0);
    while pos < bytes.len() {
        if bytes[pos] == TAG_RECORD {
            seq += 1;
            if seq == last_app1 {
                bytes[pos + 1..pos + 9].copy_from_slice(&0u64.to_le_bytes());
            }
            pos += 1 + RECORD_BYTES + 4 * usize::from(bytes[pos + RECORD_BYTES]);
        } else {
            let len = u32::from_le_bytes(bytes[pos + 1..pos + 5].try_into().unwrap());
            pos += 5 + len as usize;
        }
    }
    std::fs::write(&journal, &bytes).unwrap();
    marker.journal_xxh3 = xxh3_hex(&bytes);
    std::fs::write(&marker_path, serde_json::to_vec(&marker).unwrap()).unwrap();
    let log = open(dir.path(), 4);
    assert_eq!(
        log.verified_after(),
        30,
        "the forged index is taken at start"
    );
    assert_eq!(query(&log, &f, None, 100), right);
    assert_eq!(query(&log, &f, Some(0), 100), right);
}

/// A fold for the tests: how many records, of which apps, the sum of their seqs and how many came
/// with their chain members (the fold sees a record as the log holds it, whether it was just written
/// or verified at open).
#[derive(Debug, Default, Clone, PartialEq)]
struct Count {
    records: u64,
    apps: std::collections::BTreeSet<String>,
    seqs: u64,
    chained: u64,
}

impl crate::ledger::Fold for Count {
    const KIND: &'static str = "test-count/1";
    /// The record's app, seq and whether it is chained.
    type Lesson = (String, u64, bool);
    fn read(
        line: &[u8],
        _: &[crate::ledger::Span],
        schema: &crate::ledger::Schema,
    ) -> Option<crate::ledger::Reading<Self::Lesson>> {
        crate::ledger::read_map(line, schema, |record| {
            let hex64 = |m: &str| {
                record
                    .get(m)
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|h| h.len() == 64)
            };
            (
                (SCHEMA.filing)(record).app.into_owned(),
                record
                    .get("seq")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
                hex64("prev") && hex64("hash"),
            )
        })
    }
    fn learn(&mut self, (app, seq, chained): &Self::Lesson) {
        self.records += 1;
        self.apps.insert(app.clone());
        self.seqs += seq;
        self.chained += u64::from(*chained);
    }
    fn save(&self) -> serde_json::Value {
        serde_json::json!({"records": self.records, "apps": self.apps, "seqs": self.seqs, "chained": self.chained})
    }
    fn load(saved: &serde_json::Value) -> Option<Self> {
        Some(Count {
            records: saved.get("records")?.as_u64()?,
            apps: serde_json::from_value(saved.get("apps")?.clone()).ok()?,
            seqs: saved.get("seqs")?.as_u64()?,
            chained: saved.get("chained")?.as_u64()?,
        })
    }
}

#[test]
fn the_fold_is_kept_in_the_marker_and_learns_only_what_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Ledger::<Count>::open_folding(dir.path(), 1, small(), SCHEMA).unwrap();
    let mut log = open();
    for batch in (1..=20).map(draft).collect::<Vec<_>>().chunks(4) {
        log.append_batch(batch).unwrap();
    }
    // Duplicates are not records: the fold does not learn them twice.
    log.append_batch(&[draft(3)]).unwrap();
    assert_eq!(log.fold().records, 20);
    assert_eq!((log.fold().seqs, log.fold().chained), (210, 20));
    drop(log);
    // A quick start loads the fold from the marker and learns only the records after it.
    let log = open();
    assert!(log.verified_after() > 0);
    assert_eq!(log.fold().records, 20);
    assert_eq!(log.fold().apps.len(), 3);
    drop(log);
    // A marker written without this fold (by a ledger without one) means verifying everything, which
    // teaches the fold every record.
    drop(Ledger::open_with(dir.path(), 1, small(), SCHEMA).unwrap());
    let marker: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(INDEX_DIR).join(MARKER_FILE)).unwrap(),
    )
    .unwrap();
    assert!(marker.get("fold").is_none(), "{marker}");
    let log = open();
    assert_eq!(log.verified_after(), 0);
    assert_eq!(log.fold().records, 20);
    assert_eq!((log.fold().seqs, log.fold().chained), (210, 20));
    drop(log);
    // A saved fold that does not read, likewise.
    let path = dir.path().join(INDEX_DIR).join(MARKER_FILE);
    let mut marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    marker["fold"]["state"] = serde_json::json!("not a count");
    std::fs::write(&path, marker.to_string()).unwrap();
    let log = open();
    assert_eq!(log.verified_after(), 0);
    assert_eq!(log.fold().records, 20);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path(), 1);
    let second = Ledger::open_with(dir.path(), 2, small(), SCHEMA).unwrap_err();
    assert!(matches!(second, LedgerError::Locked { .. }), "{second}");
    drop(first);
    drop(open(dir.path(), 3));
}

/// Record `i` as [`draft`] makes it, with tags: `t:a` on every 7th, `t:a` and `t:b` on every 11th.
fn tagged(i: u64) -> Draft {
    let mut d = draft(i);
    let tags: &[&str] = match (i % 7, i % 11) {
        (_, 0) => &["t:a", "t:b"],
        (0, _) => &["t:a"],
        _ => &[],
    };
    if !tags.is_empty() {
        d.0.insert("tags".into(), serde_json::json!(tags));
    }
    d
}

/// What a lookup must answer for `want`, from every record of the log.
fn wanted(dir: &Path, want: &Want) -> Vec<u64> {
    let all: Vec<u64> = testing::records(dir)
        .iter()
        .filter(|r| want.matches(&(SCHEMA.filing)(r)))
        .map(seq_of)
        .collect();
    let n = want.newest.unwrap_or(usize::MAX);
    all[all.len().saturating_sub(n)..].to_vec()
}

fn wants() -> Vec<Want> {
    let w = |app: Option<&str>, change: Option<&str>, tag: Option<&str>, newest| Want {
        app: app.map(Into::into),
        change: change.map(Into::into),
        tag: tag.map(Into::into),
        newest,
    };
    vec![
        w(Some("app1"), None, None, None),
        w(Some("app1"), None, None, Some(3)),
        w(None, Some("CHG-2"), None, None),
        w(None, Some(""), None, Some(4)),
        w(Some("app2"), Some("CHG-1"), None, None),
        w(None, None, Some("t:a"), None),
        w(Some("app2"), None, Some("t:b"), None),
        w(None, Some("CHG-3"), Some("t:a"), Some(2)),
        w(Some("nope"), None, None, None),
        w(None, None, Some("t:nope"), None),
        w(None, None, None, Some(5)),
    ]
}

fn looked_up(dir: &Path, wants: &[Want]) -> Option<Vec<Vec<u64>>> {
    let lookup = Lookup::open(dir, SCHEMA).unwrap()?;
    let answer = lookup.find(wants)?;
    Some(
        answer
            .found
            .iter()
            .map(|f| f.iter().map(|r| seq_of(&r.record)).collect())
            .collect(),
    )
}

#[test]
fn a_lookup_answers_what_the_log_holds_beside_a_writer_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), 1);
    let drafts: Vec<Draft> = (1..=70).map(tagged).collect();
    for batch in drafts.chunks(3) {
        log.append_batch(batch).unwrap();
    }
    let index = dir.path().join(INDEX_DIR);
    let files = || {
        (
            std::fs::read(index.join(MARKER_FILE)).unwrap(),
            std::fs::read(index.join(JOURNAL_FILE)).unwrap(),
        )
    };
    // With the writer open: what every record says, in one pass for all the wants.
    let wants = wants();
    let expected: Vec<Vec<u64>> = wants.iter().map(|w| wanted(dir.path(), w)).collect();
    assert!(expected.iter().filter(|e| !e.is_empty()).count() >= 8);
    assert_eq!(looked_up(dir.path(), &wants), Some(expected.clone()));
    drop(log);
    // Records after the marker (a start moves it; a batch within the second does not, unless it
    // seals) are verified and filed by the lookup itself.
    let mut log = open(dir.path(), 2);
    log.append_batch(&[tagged(71), tagged(77)]).unwrap();
    let lookup = Lookup::open(dir.path(), SCHEMA).unwrap().unwrap();
    let expected: Vec<Vec<u64>> = wants.iter().map(|w| wanted(dir.path(), w)).collect();
    assert_eq!(looked_up(dir.path(), &wants), Some(expected));
    drop(lookup);
    drop(log);
    // Once a start marks the head, what the writer appended after its quick start (seq 72, tagged) is
    // read from the journal.
    drop(open(dir.path(), 3));
    let lookup = Lookup::open(dir.path(), SCHEMA).unwrap().unwrap();
    assert!(lookup.after.is_empty(), "the marker is at the head");
    let expected: Vec<Vec<u64>> = wants.iter().map(|w| wanted(dir.path(), w)).collect();
    assert!(expected[5].contains(&72), "{:?}", expected[5]);
    assert_eq!(looked_up(dir.path(), &wants), Some(expected));
    drop(lookup);
    // Reading writes nothing.
    let before = files();
    for want in &wants {
        looked_up(dir.path(), std::slice::from_ref(want)).unwrap();
    }
    assert_eq!(files(), before);
    // The tags the index knows.
    let answer = Lookup::open(dir.path(), SCHEMA)
        .unwrap()
        .unwrap()
        .find(&[])
        .unwrap();
    assert!(answer.may_have_tag("t:a") && answer.may_have_tag("t:b"));
    assert!(!answer.may_have_tag("t:c"));
}

#[test]
fn a_lookup_with_records_after_the_marker_files_them_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Ledger::open_with(dir.path(), 1, Rolling::default(), SCHEMA).unwrap();
    log.append_batch(&(1..=5).map(tagged).collect::<Vec<_>>())
        .unwrap();
    drop(log);
    let mut log = Ledger::open_with(dir.path(), 2, Rolling::default(), SCHEMA).unwrap();
    // Opening wrote the marker at 5; the next batches come within the second: not marked.
    log.append_batch(&(6..=22).map(tagged).collect::<Vec<_>>())
        .unwrap();
    let lookup = Lookup::open(dir.path(), SCHEMA).unwrap().unwrap();
    assert!(!lookup.after.is_empty(), "records after the marker");
    let wants = wants();
    let expected: Vec<Vec<u64>> = wants.iter().map(|w| wanted(dir.path(), w)).collect();
    assert_eq!(looked_up(dir.path(), &wants), Some(expected));
}

#[test]
fn an_index_of_the_previous_version_or_that_does_not_match_is_never_read() {
    let (dir, log) = log_with(30);
    drop(log);
    let want = [Want {
        app: Some("app1".into()),
        ..Want::default()
    }];
    let right = wanted(dir.path(), &want[0]);
    assert_eq!(looked_up(dir.path(), &want), Some(vec![right.clone()]));
    let index = dir.path().join(INDEX_DIR);
    let (marker_path, journal) = (index.join(MARKER_FILE), index.join(JOURNAL_FILE));
    let marker: Marker = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    let bytes = std::fs::read(&journal).unwrap();
    assert!(bytes.starts_with(b"sluice-index 3\n"));
    // A marker of version 1 (its journal had no tags) or 2 (SHA-256 checksums): not read by a
    // command, rebuilt by a start.
    for version in [1, 2] {
        let old = Marker {
            version,
            ..marker.clone()
        };
        std::fs::write(&marker_path, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(Lookup::open(dir.path(), SCHEMA).unwrap().is_none());
        let log = open(dir.path(), 2);
        assert_eq!(log.verified_after(), 0, "verified again");
        drop(log);
    }
    let rebuilt: Marker = serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap();
    assert_eq!(rebuilt.version, 3);
    assert_eq!(
        std::fs::read(&journal).unwrap(),
        bytes,
        "the same journal again"
    );
    // A journal of version 1 or 2 under a marker that agrees with it: never decoded as version 3.
    for version in ["1", "2"] {
        let mut old = format!("sluice-index {version}\n").into_bytes();
        old.extend_from_slice(&bytes[MAGIC.len()..]);
        let forged = Marker {
            journal_bytes: old.len() as u64,
            journal_xxh3: xxh3_hex(&old),
            ..rebuilt.clone()
        };
        std::fs::write(&journal, &old).unwrap();
        std::fs::write(&marker_path, serde_json::to_vec(&forged).unwrap()).unwrap();
        assert_eq!(looked_up(dir.path(), &want), None, "version {version}");
        assert_eq!(open(dir.path(), 3).verified_after(), 0, "version {version}");
    }
    // A journal that is not the marker's (one byte changed), or cut short: not used.
    let mut changed = bytes.clone();
    let last = changed.len() - 20;
    changed[last] ^= 1;
    for (what, journal_bytes) in [
        ("changed", changed),
        ("cut", bytes[..bytes.len() - 3].to_vec()),
    ] {
        std::fs::write(&journal, &journal_bytes).unwrap();
        std::fs::write(&marker_path, serde_json::to_vec(&rebuilt).unwrap()).unwrap();
        assert_eq!(looked_up(dir.path(), &want), None, "{what}");
    }
    // Journal and marker forged to agree, an app1 record's entry pointing at record 1: the record
    // read there is not the one asked for, and the lookup answers nothing rather than a wrong list.
    let mut forged_journal = bytes.clone();
    let target = *right.last().unwrap();
    let (mut pos, mut seq) = (MAGIC.len(), 0);
    while pos < forged_journal.len() {
        if forged_journal[pos] == TAG_RECORD {
            seq += 1;
            if seq == target {
                forged_journal[pos + 1..pos + 9].copy_from_slice(&0u64.to_le_bytes());
            }
            pos += 1 + RECORD_BYTES + 4 * usize::from(forged_journal[pos + RECORD_BYTES]);
        } else {
            let len = u32::from_le_bytes(forged_journal[pos + 1..pos + 5].try_into().unwrap());
            pos += 5 + len as usize;
        }
    }
    std::fs::write(&journal, &forged_journal).unwrap();
    let agreeing = Marker {
        journal_xxh3: xxh3_hex(&forged_journal),
        ..rebuilt.clone()
    };
    std::fs::write(&marker_path, serde_json::to_vec(&agreeing).unwrap()).unwrap();
    assert_eq!(looked_up(dir.path(), &want), None);
}

#[test]
fn the_checksum_is_xxh3_128_whether_given_whole_or_in_pieces() {
    // XXH3-128 of no bytes, as the xxHash reference gives it (XXH3_128bits of an empty input).
    assert_eq!(
        super::journal::Checksum::default().hex(),
        "99aa06d3014798d86001c324468d497f"
    );
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for piece in [1, 7, 64, 240, 4096, 100_000] {
        let mut sum = super::journal::Checksum::default();
        for chunk in bytes.chunks(piece) {
            sum.update(chunk);
        }
        assert_eq!(sum.hex(), xxh3_hex(&bytes), "pieces of {piece}");
    }
}

/// What a lookup answers for `wants`, and whether the postings answered it.
fn looked_up_how(dir: &Path, wants: &[Want]) -> (Vec<Vec<u64>>, bool) {
    let answer = Lookup::open(dir, SCHEMA)
        .unwrap()
        .unwrap()
        .find(wants)
        .unwrap();
    let found = answer
        .found
        .iter()
        .map(|f| f.iter().map(|r| seq_of(&r.record)).collect())
        .collect();
    (found, answer.used_postings())
}

#[test]
fn the_postings_answer_as_the_journal_does_and_never_when_they_do_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Ledger::open_with(dir.path(), 1, small(), SCHEMA).unwrap();
    let drafts: Vec<Draft> = (1..=64).map(tagged).collect();
    for batch in drafts.chunks(3) {
        log.append_batch(batch).unwrap();
    }
    drop(log);
    // A start marks the head (the last batches came within the second of the last seal's marker).
    drop(Ledger::open_with(dir.path(), 2, small(), SCHEMA).unwrap());
    let index = dir.path().join(INDEX_DIR);
    let marker_path = index.join(MARKER_FILE);
    let postings_path = index.join(super::postings::POSTINGS_FILE);
    let marker =
        || -> Marker { serde_json::from_slice(&std::fs::read(&marker_path).unwrap()).unwrap() };
    // The log sealed several times; the postings stop at the last seal, records follow in the tail.
    let m = marker();
    let point = m
        .postings
        .as_ref()
        .expect("the marker names the postings")
        .point
        .clone();
    assert!(m.sealed.len() >= 3, "{:?}", m.sealed);
    assert!(
        point.seq > 1 && point.seq < m.seq,
        "point {} head {}",
        point.seq,
        m.seq
    );
    // Every want that names something, through the postings: what the log holds.
    let named: Vec<Want> = wants()
        .into_iter()
        .filter(|w| w.app.is_some() || w.change.is_some() || w.tag.is_some())
        .collect();
    let expected: Vec<Vec<u64>> = named.iter().map(|w| wanted(dir.path(), w)).collect();
    assert!(expected.iter().filter(|e| !e.is_empty()).count() >= 7);
    assert!(
        expected.iter().any(|e| e.iter().any(|s| *s <= point.seq))
            && expected.iter().any(|e| e.iter().any(|s| *s > point.seq)),
        "answers from both the postings and the tail"
    );
    assert_eq!(looked_up_how(dir.path(), &named), (expected.clone(), true));
    for want in &named {
        let one = std::slice::from_ref(want);
        assert_eq!(
            looked_up_how(dir.path(), one),
            (vec![wanted(dir.path(), want)], true)
        );
    }
    // A want that names nothing (every record) reads the journal.
    assert!(!looked_up_how(dir.path(), &wants()).1);
    let answer = Lookup::open(dir.path(), SCHEMA)
        .unwrap()
        .unwrap()
        .find(&named[..1])
        .unwrap();
    assert!(answer.may_have_tag("t:a") && answer.may_have_tag("t:b"));
    assert!(!answer.may_have_tag("t:c"));
    // A restart keeps the postings (the marked point still matches them) and goes on with the tail.
    let mut log = Ledger::open_with(dir.path(), 3, small(), SCHEMA).unwrap();
    log.append_batch(&[tagged(65), tagged(66)]).unwrap();
    drop(log);
    drop(Ledger::open_with(dir.path(), 4, small(), SCHEMA).unwrap());
    assert!(marker().postings.unwrap().point.seq >= point.seq);
    let expected: Vec<Vec<u64>> = named.iter().map(|w| wanted(dir.path(), w)).collect();
    assert_eq!(looked_up_how(dir.path(), &named), (expected.clone(), true));
    // Any byte of the postings changed: the answer is still what the log holds (through the
    // journal when what was read of the postings does not check).
    let good = std::fs::read(&postings_path).unwrap();
    let mut fell_back = 0;
    for at in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&postings_path, &bad).unwrap();
        let (found, used) = looked_up_how(dir.path(), &named);
        assert_eq!(found, expected, "byte {at} of {}", good.len());
        fell_back += usize::from(!used);
    }
    assert!(fell_back > good.len() / 7 / 4, "{fell_back} fell back");
    // Postings cut short, of another point, or gone: the journal answers.
    std::fs::write(&postings_path, &good[..good.len() - 9]).unwrap();
    assert_eq!(looked_up_how(dir.path(), &named), (expected.clone(), false));
    std::fs::write(&postings_path, &good).unwrap();
    let mut other = marker();
    if let Some(p) = other.postings.as_mut() {
        p.point.seq -= 1;
    }
    std::fs::write(&marker_path, serde_json::to_vec(&other).unwrap()).unwrap();
    assert_eq!(looked_up_how(dir.path(), &named), (expected.clone(), false));
    std::fs::remove_file(&postings_path).unwrap();
    assert_eq!(looked_up_how(dir.path(), &named), (expected, false));
}
