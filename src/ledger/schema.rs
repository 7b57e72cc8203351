//! What the ledger needs to know of the records it holds, which the record layer defines: how a record
//! is filed in the index (app, change id, idempotency key), when it was received, and, for a draft,
//! its members. The ledger itself knows records only as JSON objects.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// How a record is filed in the index: its app, its change id, and the idempotency key under which a
/// second delivery of it is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing<'a> {
    pub app: &'a str,
    pub change: Option<&'a str>,
    pub key: Cow<'a, str>,
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
