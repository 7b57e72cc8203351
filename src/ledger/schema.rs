//! What the ledger needs to know of the records it holds, which the record layer defines: how a record
//! is filed in the index (app, change id, idempotency key), when it was received, and, for a draft,
//! its members. The ledger itself knows records only as JSON objects.

use super::check::Span;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// How a record is filed in the index: its app, its change id, the idempotency key under which a
/// second delivery of it is found, and other names it is found under (tags: the record layer names
/// them, e.g. the change an emergency guard decision names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing<'a> {
    pub app: Cow<'a, str>,
    pub change: Option<Cow<'a, str>>,
    pub key: Cow<'a, str>,
    pub tags: Vec<Cow<'a, str>>,
}

impl Filing<'_> {
    /// The same filing, owning its names (to hand from the core that read the line to the one that
    /// files it).
    #[must_use]
    pub fn into_owned(self) -> Filing<'static> {
        Filing {
            app: Cow::Owned(self.app.into_owned()),
            change: self.change.map(|c| Cow::Owned(c.into_owned())),
            key: Cow::Owned(self.key.into_owned()),
            tags: self
                .tags
                .into_iter()
                .map(|t| Cow::Owned(t.into_owned()))
                .collect(),
        }
    }
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
///
/// Learning is in two steps, so that a first start reads the lines on all cores and learns in log
/// order on one: [`Fold::read`] takes a line alone (any core, any order) to what the index and the
/// fold need of it, and [`Fold::learn`] takes that in log order. A fold reads the records' lines
/// itself because it knows what it needs of them: building the whole record as a map costs more than
/// checking and hashing the line (issue 28).
pub trait Fold: Default + Send + 'static {
    /// The kind of state and its version (a saved state of another kind is never loaded); empty for
    /// no state at all.
    const KIND: &'static str;
    /// What one record teaches the fold.
    type Lesson: Default + Send + 'static;
    /// Reads a record's line as the log holds it (its members with `seq`, `prev` and `hash`, without
    /// the newline): its seq, how the index files it (as `schema` files a record) and what it
    /// teaches. `members` is where each member of the line is when the ledger's check of the line
    /// found them (empty: not known), so that the line need not be scanned again. `None` when the line
    /// is not a JSON object, which a line the chain verified always is.
    fn read(line: &[u8], members: &[Span], schema: &Schema) -> Option<Reading<Self::Lesson>>;
    /// Learns what a record teaches: each record once, in log order.
    fn learn(&mut self, lesson: &Self::Lesson);
    /// The state, to save beside the marker.
    fn save(&self) -> Value;
    /// A saved state; `None` when it does not read (the ledger then reads every record again).
    fn load(saved: &Value) -> Option<Self>;
}

/// A record's line as a [`Fold`] reads it: its seq, how the index files it, and what it teaches.
#[derive(Debug)]
pub struct Reading<L> {
    pub seq: u64,
    pub filing: Filing<'static>,
    pub lesson: L,
}

/// [`Fold::read`] by the record as a map: `lesson` is what the fold learns from the map. For folds
/// that need the whole record and the ledger's tests; costs a map per record.
pub fn read_map<L>(
    line: &[u8],
    schema: &Schema,
    lesson: impl FnOnce(&Map<String, Value>) -> L,
) -> Option<Reading<L>> {
    let map: Map<String, Value> = serde_json::from_slice(line).ok()?;
    Some(Reading {
        seq: map.get("seq").and_then(Value::as_u64).unwrap_or(0),
        filing: (schema.filing)(&map).into_owned(),
        lesson: lesson(&map),
    })
}

/// No state.
impl Fold for () {
    const KIND: &'static str = "";
    type Lesson = ();
    fn read(line: &[u8], _: &[Span], schema: &Schema) -> Option<Reading<()>> {
        read_map(line, schema, |_| ())
    }
    fn learn(&mut self, (): &()) {}
    fn save(&self) -> Value {
        Value::Null
    }
    fn load(_: &Value) -> Option<Self> {
        Some(())
    }
}
