//! What the sink remembers of its log, learned only from records that are in it: the gate knowledge
//! (`record::gate`, for the findings of the next sync), and per app the approvals registry (rules in
//! force, decisions by revision), the tickets registry (rules in force, decisions, every emergency and
//! its review) and the verification registry (verdicts, checks, reverts). The ledger
//! keeps it as its fold (src/ledger/schema.rs, `Fold`): it feeds each record once its batch is durable
//! (or once verified at open), in log order, and saves the whole beside the verified-prefix marker,
//! so that a restart reads no record to know it and accepts writes as soon as it accepts connections.
//!
//! The writer thread owns the gate knowledge (only it completes batches). The registries are shared
//! with the handlers behind a mutex that is held for one lookup or one record, never across a wait;
//! they name records by seq, and the handlers read the evidence itself from the log ([`record_at`]).

use super::approvals::registry::{self as approvals, Registry as Approvals};
use super::tickets::registry::Registry as Tickets;
use super::verification::registry::{self as verification, Registry as Verifications};
use crate::ledger::{Fold, Reader, Reading, Schema, Span};
use crate::record::facts::{Facts, Member};
use crate::record::gate::{self, Knowledge};
use crate::record::{self, Record};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The sink's fold of the log.
#[derive(Debug, Default)]
pub struct Memory {
    pub gate: Knowledge,
    pub approvals: Arc<Mutex<Approvals>>,
    pub tickets: Arc<Mutex<Tickets>>,
    pub verifications: Arc<Mutex<Verifications>>,
}

/// What a record teaches the memory: each part's lesson, read from the record's line on any core.
#[derive(Debug, Default)]
pub struct Lesson {
    gate: gate::Lesson<'static>,
    approvals: approvals::Lesson,
    tickets: Option<Box<Record>>,
    verifications: verification::Lesson,
}

/// The memory of the audit log's records, which are filed as [`record::SCHEMA`] files them: it reads
/// each line once, for its filing and all it teaches (`schema` is that one).
impl Fold for Memory {
    const KIND: &'static str = "sink-memory/2";
    type Lesson = Lesson;

    fn read(line: &[u8], members: &[Span], _: &Schema) -> Option<Reading<Lesson>> {
        let facts = Facts::of_line(line, members)?;
        Some(Reading {
            seq: facts.get("seq").and_then(Member::u64).unwrap_or(0),
            filing: record::read::filing_of(&facts).into_owned(),
            lesson: Lesson {
                gate: gate::Lesson::of_facts(&facts).into_owned(),
                approvals: Approvals::lesson(&facts),
                tickets: Tickets::lesson(&facts, line),
                verifications: Verifications::lesson(&facts),
            },
        })
    }

    fn learn(&mut self, lesson: &Lesson) {
        self.gate.learn(&lesson.gate);
        lock(&self.approvals).learn(&lesson.approvals);
        lock(&self.tickets).learn_from(lesson.tickets.as_deref());
        lock(&self.verifications).learn(&lesson.verifications);
    }

    fn save(&self) -> Value {
        // The registries are plain maps of strings, numbers and times: serialising them cannot fail.
        json!({
            "gate": self.gate.save(),
            "approvals": serde_json::to_value(&*lock(&self.approvals)).unwrap_or(Value::Null),
            "tickets": serde_json::to_value(&*lock(&self.tickets)).unwrap_or(Value::Null),
            "verifications": serde_json::to_value(&*lock(&self.verifications)).unwrap_or(Value::Null),
        })
    }

    fn load(saved: &Value) -> Option<Self> {
        Some(Memory {
            gate: Knowledge::load(saved.get("gate")?)?,
            approvals: Arc::new(Mutex::new(
                serde_json::from_value(saved.get("approvals")?.clone()).ok()?,
            )),
            tickets: Arc::new(Mutex::new(
                serde_json::from_value(saved.get("tickets")?.clone()).ok()?,
            )),
            verifications: Arc::new(Mutex::new(
                serde_json::from_value(saved.get("verifications")?.clone()).ok()?,
            )),
        })
    }
}

/// A registry's lock. A panic while it was held cannot leave it half-changed in a way that matters
/// (each change is one insertion), so a poisoned lock is taken as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Longest wait for a record the memory names to be readable: the writer publishes a batch to the
/// readers just after the memory learnt it.
const PUBLISH_WAIT: Duration = Duration::from_secs(1);

/// The record at `seq`, read through the index on the blocking pool; `None` when it cannot be read.
pub async fn record_at(reader: &Reader, seq: u64) -> Option<Record> {
    let deadline = tokio::time::Instant::now() + PUBLISH_WAIT;
    while reader.head().seq < seq && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || record::read_found(reader.record(seq)?).ok())
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory reads each line for its filing too: it must file every record as the schema files
    /// the record's map (the index is built from one at a first start and the other when reading).
    #[test]
    fn a_line_is_filed_as_the_schema_files_its_map() {
        let golden = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/audit/golden/audit.jsonl"
        ))
        .expect("the golden log");
        let odd = [
            // Today's records: a digest key, tags for an emergency and for a revision.
            json!({"seq": 1, "event": "guard-decision", "key": "k1", "app": {"name": "shop"},
                   "emergency": "CHG-9", "revision": "abc", "changeId": null}),
            json!({"seq": 2, "event": "verification", "key": "k2", "app": {"name": "shop"},
                   "revision": "abc", "changeId": ""}),
            // Members of other types read as absent; escapes are read.
            json!({"seq": 3, "event": 7, "key": ["x"], "app": {"name": 12}, "changeId": {"a": 1},
                   "emergency": true, "revision": null}),
            json!({"seq": 4, "event": "guard-decision", "key": "é\"\u{1}|x", "app": "shop",
                   "emergency": "CHG-\"1\"", "revision": "r\n", "allowed": true,
                   "destination": {"namespace": "n\té"}, "at": "2026-01-01T00:00:00Z"}),
            json!({"seq": 5, "event": "sync-succeeded", "key": "sync-succeeded|shop|t|r",
                   "app": {"name": "shop", "uid": "u-1", "namespace": "argocd"},
                   "startedAt": "t", "revision": "r", "changeId": "CHG-1"}),
            json!({"seq": 6}),
        ];
        let lines = golden
            .lines()
            .map(str::to_owned)
            .chain(odd.iter().map(Value::to_string))
            .collect::<Vec<_>>();
        assert!(lines.len() > 30);
        for line in lines {
            let map: serde_json::Map<String, Value> =
                serde_json::from_str(&line).expect("an object");
            let read = Memory::read(line.as_bytes(), &[], &record::SCHEMA).expect("reads");
            assert_eq!(read.filing, (record::SCHEMA.filing)(&map), "{line}");
            assert_eq!(
                Some(read.seq),
                map.get("seq").and_then(Value::as_u64),
                "{line}"
            );
            // Read from where the ledger's check found each member of the canonical line: the same.
            let canonical = crate::ledger::canonical::object_to_canonical(&map).expect("canonical");
            let spans = crate::ledger::spans(&canonical).expect("canonical");
            let from_spans = Memory::read(&canonical, &spans, &record::SCHEMA).expect("reads");
            assert_eq!(from_spans.filing, read.filing, "{line}");
            assert_eq!(
                format!("{:?}", from_spans.lesson),
                format!("{:?}", read.lesson)
            );
        }
        assert!(Memory::read(b"[1]", &[], &record::SCHEMA).is_none());
    }

    #[test]
    fn saves_and_loads_all_it_learnt() {
        let mut m = Memory::default();
        for record in [
            json!({"seq": 1, "event": "guard-decision", "app": {"name": "shop"}, "at": "2026-01-02T10:00:00Z",
                   "revision": "abc", "approval": {"revision": "abc", "verdict": "approved"}}),
            json!({"seq": 2, "event": "verification", "app": {"name": "shop"}, "revision": "abc",
                   "verification": {"verdict": "Successful", "startedAt": "2026-01-02T10:01:00Z"}}),
            json!({"seq": 3, "event": "sync-succeeded", "phase": "Succeeded", "revision": "abc",
                   "app": {"name": "shop", "project": "p"}, "destination": {"name": "prod"},
                   "gate": {"guard": "Succeeded"}}),
        ] {
            let line = serde_json::to_vec(&record).expect("serialises");
            let read = Memory::read(&line, &[], &record::SCHEMA).expect("an object");
            m.learn(&read.lesson);
        }
        let loaded = Memory::load(&m.save()).expect("loads");
        assert_eq!(loaded.gate.save(), m.gate.save());
        assert_eq!(*lock(&loaded.approvals), *lock(&m.approvals));
        assert_eq!(lock(&loaded.approvals).decision("shop", "abc"), Some(1));
        assert_eq!(
            lock(&loaded.verifications).verdict("shop", "abc", None),
            Some(2)
        );
        assert_eq!(
            lock(&loaded.verifications).app("shop").synced.as_deref(),
            Some("abc")
        );
        assert!(
            Memory::load(&json!({"gate": m.gate.save()})).is_none(),
            "a part missing"
        );
    }
}
