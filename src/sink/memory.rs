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

use super::approvals::registry::Registry as Approvals;
use super::tickets::registry::Registry as Tickets;
use super::verification::registry::Registry as Verifications;
use crate::ledger::{Fold, Reader};
use crate::record::gate::Knowledge;
use crate::record::{self, Record};
use serde_json::{json, Map, Value};
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

impl Fold for Memory {
    const KIND: &'static str = "sink-memory/2";

    fn observe(&mut self, record: &Map<String, Value>) {
        Fold::observe(&mut self.gate, record);
        lock(&self.approvals).observe(record);
        lock(&self.tickets).observe(record);
        lock(&self.verifications).observe(record);
    }

    fn save(&self) -> Value {
        // The registries are plain maps of strings, numbers and times: serialising them cannot fail.
        json!({
            "gate": Fold::save(&self.gate),
            "approvals": serde_json::to_value(&*lock(&self.approvals)).unwrap_or(Value::Null),
            "tickets": serde_json::to_value(&*lock(&self.tickets)).unwrap_or(Value::Null),
            "verifications": serde_json::to_value(&*lock(&self.verifications)).unwrap_or(Value::Null),
        })
    }

    fn load(saved: &Value) -> Option<Self> {
        Some(Memory {
            gate: <Knowledge as Fold>::load(saved.get("gate")?)?,
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
            m.observe(record.as_object().expect("an object"));
        }
        let loaded = Memory::load(&m.save()).expect("loads");
        assert_eq!(Fold::save(&loaded.gate), Fold::save(&m.gate));
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
            Memory::load(&json!({"gate": Fold::save(&m.gate)})).is_none(),
            "a part missing"
        );
    }
}
