//! What the ledger needs to know of the records it holds, which the record layer defines: how a record
//! is filed in the index (app, change id, idempotency key), when it was received, and, for a draft,
//! its members. The ledger itself knows records only as JSON objects.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// How a record is filed in the index: its app, its change id, the idempotency key under which a
/// second delivery of it is found, and other names it is found under (tags: the record layer names
/// them, e.g. the change an emergency guard decision names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing<'a> {
    pub app: &'a str,
    pub change: Option<&'a str>,
    pub key: Cow<'a, str>,
    pub tags: Vec<Cow<'a, str>>,
}

/// What the ledger needs to know of the records in the log, which the record layer defines.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// How a record read from the log is filed.
    pub filing: for<'a> fn(&'a Map<String, Value>) -> Filing<'a>,
    /// When a record read from the log was received (Unix seconds): how old its segment is.
    pub received: fn(&Map<String, Value>) -> Option<i64>,
}

/// A record to append: its members (without `seq`, `prev` and `hash`, which the ledger adds), how it
/// is filed, and when it was received.
pub trait Entry {
    /// The record's members.
    fn members(&self) -> Map<String, Value>;
    /// How it is filed in the index.
    fn filing(&self) -> Filing<'_>;
    /// When it was received (Unix seconds).
    fn received(&self) -> Option<i64>;
}

/// State the owner derives from the records in the log, in log order (the sink's gate knowledge),
/// which the ledger keeps beside its verified-prefix marker, so that a start learns it from the marker
/// and the few records after it instead of reading every record. The ledger feeds it only records that
/// are in the log: those it verifies when it opens, and those of a batch once the batch is durable.
pub trait Fold: Default + Send + 'static {
    /// The kind of state and its version (a saved state of another kind is never loaded); empty for
    /// no state at all.
    const KIND: &'static str;
    /// Learns from a record that is in the log (each once, in log order), as the log holds it: its
    /// members with `seq`, `prev` and `hash`, whether it was just written or read at open.
    fn observe(&mut self, record: &Map<String, Value>);
    /// The state, to save beside the marker.
    fn save(&self) -> Value;
    /// A saved state; `None` when it does not read (the ledger then reads every record again).
    fn load(saved: &Value) -> Option<Self>;
}

/// No state.
impl Fold for () {
    const KIND: &'static str = "";
    fn observe(&mut self, _: &Map<String, Value>) {}
    fn save(&self) -> Value {
        Value::Null
    }
    fn load(_: &Value) -> Option<Self> {
        Some(())
    }
}
