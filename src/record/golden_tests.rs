//! The golden log (tests/fixtures/audit/golden): the requests the first release was sent make the
//! records it wrote (plus the documented attribution changes), and its log opens with every delivery
//! found as a duplicate.

use super::build::event_record;
use super::decision::guard_record;
use super::event::index_key;
use super::{Body, SCHEMA};
use crate::commit::DEFAULT_CHANGE_PATTERN;
use crate::ledger::{Ledger, Outcome, Rolling};
use regex::Regex;
use serde_json::Value;

fn pattern() -> Regex {
    Regex::new(DEFAULT_CHANGE_PATTERN).unwrap()
}

fn open(dir: &std::path::Path) -> Ledger {
    Ledger::open_with(dir, 1, Rolling::default(), SCHEMA).unwrap()
}

/// A file of tests/fixtures/audit/golden: what the released sluice was sent and wrote.
fn golden(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/audit/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!text.is_empty(), "{path} is empty");
    text
}

/// The golden requests and what the release made of them: (request path, body, the release's line
/// for it, the release's answer).
fn golden_deliveries() -> Vec<(String, Value, Value, Value)> {
    let lines: Vec<Value> = golden("audit.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let responses: Vec<Value> = golden("responses.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests = golden("requests.jsonl");
    assert_eq!(requests.lines().count(), responses.len());
    requests
        .lines()
        .zip(responses)
        .map(|(request, response)| {
            let request: Value = serde_json::from_str(request).unwrap();
            let seq = response["body"]["seq"].as_u64().unwrap();
            let line = lines[usize::try_from(seq).unwrap() - 1].clone();
            let path = request["path"].as_str().unwrap().to_owned();
            (path, request["body"].clone(), line, response)
        })
        .collect()
}

/// The record of a golden request, with the release's clock taken from the line it made.
fn golden_record(path: &str, body: &Value, line: &Value) -> Body {
    let received_at = line["receivedAt"].as_str().unwrap();
    match path {
        "/v1/events" => event_record(body, received_at, &pattern()),
        "/v1/guard" => guard_record(body, received_at),
        other => panic!("requests.jsonl: path {other:?}"),
    }
    .unwrap()
}

/// (seq, member, what the release wrote, what this version writes).
type Changed = (u64, String, Option<Value>, Value);

/// The documented extraction changes since the release (tests/fixtures/audit/golden/README.md,
/// "Deliberate changes"): the members every event record adds, and (seq, member, what the
/// release wrote, what this version writes). Anything else that differs fails the test.
fn deliberate_changes() -> (Vec<String>, Vec<Changed>) {
    let changes: Value = serde_json::from_str(&golden("changes.json")).unwrap();
    let added = changes["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    // Members the sink adds to a record (`"by": "sink"`), not the record builder these tests run.
    let records = changes["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["by"] != "sink")
        .map(|c| {
            let member = c["member"].as_str().unwrap().to_owned();
            (
                c["seq"].as_u64().unwrap(),
                member,
                Some(c["release"].clone()),
                c["now"].clone(),
            )
        })
        .collect();
    (added, records)
}

/// The golden requests make the release's records, member for member, but for the key (now a
/// digest, which the legacy `a|b|c|d` key of each line maps to), the chain over it, and the
/// documented attribution changes.
#[test]
fn the_golden_requests_make_the_records_the_release_wrote_plus_attribution_with_digest_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path());
    let (added, expected) = deliberate_changes();
    let mut changed = Vec::new();
    for (path, body, line, response) in golden_deliveries() {
        let seq = response["body"]["seq"].as_u64().unwrap();
        let record = golden_record(&path, &body, &line);
        assert!(line["key"].as_str().unwrap().contains('|'));
        assert_eq!(record.key().len(), 64, "a SHA-256 hex digest");
        assert_eq!(
            index_key(&line.as_object().unwrap()).as_deref(),
            Some(record.key()),
            "the legacy key of seq {seq} maps to the digest key"
        );
        let outcome = log.append_batch(std::slice::from_ref(&record)).unwrap();
        match (response["status"].as_u64(), &outcome[..]) {
            (Some(201), [Outcome::Appended { seq: s, .. }]) if *s == seq => {}
            (Some(200), [Outcome::Duplicate { seq: s }]) if *s == seq => continue,
            other => panic!("seq {seq}: {other:?}"),
        }
        let mut now = record.to_map();
        now.remove("key");
        let mut release = line.as_object().unwrap().clone();
        for member in ["seq", "prev", "hash", "key"] {
            release.remove(member);
        }
        if let Body::Sync(s) = &record {
            assert_eq!(s.via.as_present().map(String::as_str), Some("webhook"));
            for member in &added {
                assert!(now.remove(member).is_some(), "seq {seq} has no {member}");
            }
        }
        for (member, value) in &now {
            if release.get(member) != Some(value) {
                changed.push((
                    seq,
                    member.clone(),
                    release.get(member).cloned(),
                    value.clone(),
                ));
            }
        }
        assert_eq!(now.len(), release.len(), "seq {seq}: the same members");
    }
    assert_eq!(changed, expected);
}

#[test]
fn a_release_log_opens_and_its_deliveries_are_found_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(crate::ledger::LOG_FILE),
        golden("audit.jsonl"),
    )
    .unwrap();
    let mut log = open(dir.path());
    let len = log.head().len;
    for (path, body, line, response) in golden_deliveries() {
        let seq = response["body"]["seq"].as_u64().unwrap();
        let outcome = log
            .append_batch(&[golden_record(&path, &body, &line)])
            .unwrap();
        assert_eq!(outcome, vec![Outcome::Duplicate { seq }]);
    }
    assert_eq!(log.head().len, len, "nothing written");
}
