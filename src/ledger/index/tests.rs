//! The index against the log: queries, the marker, a damaged or forged index.

use super::journal::{
    Marker, INDEX_DIR, JOURNAL_FILE, MAGIC, MARKER_FILE, RECORD_BYTES, TAG_RECORD,
};
use super::*;
use crate::ledger::canonical::to_hex;
use crate::ledger::line::seq_of;
use crate::ledger::log::{Ledger, Outcome, Rolling};
use crate::ledger::testing::{self, Draft, SCHEMA};
use crate::ledger::LedgerError;
use sha2::{Digest, Sha256};
use std::path::Path;

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
                journal_sha256: "0".repeat(64),
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
    let mut pos = MAGIC.len();
    while pos < bytes.len() {
        if bytes[pos] == TAG_RECORD {
            let seq = u64::from_le_bytes(bytes[pos + 1..pos + 9].try_into().unwrap());
            if seq == last_app1 {
                bytes[pos + 9..pos + 17].copy_from_slice(&0u64.to_le_bytes());
            }
            pos += 1 + RECORD_BYTES;
        } else {
            let len = u32::from_le_bytes(bytes[pos + 1..pos + 5].try_into().unwrap());
            pos += 5 + len as usize;
        }
    }
    std::fs::write(&journal, &bytes).unwrap();
    marker.journal_sha256 = to_hex(&Sha256::digest(&bytes));
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
