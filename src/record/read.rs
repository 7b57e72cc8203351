//! Records in the ledger: how the ledger files them ([`SCHEMA`]: app, change id, idempotency key, time
//! of receipt), how a draft is appended ([`Entry`] for [`Body`]), and how verified lines read into the
//! typed model, naming the file, line and member of a record that does not fit. No I/O of its own: the
//! ledger reads the files.

use super::event::{index_key, GUARD_DECISION, VERIFICATION};
use super::facts::Members;
use super::model::{Body, Misfit, Record};
use crate::ledger::{self, Entry, Filing, Found, LedgerError, Schema, SeqSet, Verified};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Why records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "{}: line {line} (seq {seq}): {misfit}; the chain verifies, so the record is as it was written, \
         but this version of sluice cannot read it (was it written by a newer one?)",
        path.display()
    )]
    Misfit {
        path: PathBuf,
        line: u64,
        seq: u64,
        misfit: Misfit,
    },
}

fn filing(record: &Map<String, Value>) -> Filing<'_> {
    filing_of(&record)
}

/// How a record of the log is filed, read from its members (a map, or a line's facts).
pub fn filing_of<'a>(record: &impl Members<'a>) -> Filing<'a> {
    let key = match record.text(&["key"]) {
        Some(key) if !key.contains('|') => key,
        _ => Cow::Owned(index_key(record).unwrap_or_default()),
    };
    let app = record.text(&["app", "name"]).unwrap_or_default();
    let change = record.text(&["changeId"]);
    let tags = tags(
        record.text(&["event"]).as_deref(),
        change.as_deref(),
        record.text(&["emergency"]).as_deref(),
        &app,
        record.text(&["revision"]).as_deref(),
    );
    Filing {
        app,
        change,
        key,
        tags,
    }
}

/// The tag under which the guard decisions that name `change` as their emergency are filed.
pub fn emergency_tag(change: &str) -> String {
    format!("emergency:{change}")
}

/// The tag under which the guard decisions and verifications without a change id, of `app` at
/// `revision`, are filed: `audit show` finds them by the app and revision of the change's syncs.
pub fn revision_tag(app: &str, revision: &str) -> String {
    format!("revision:{app}\n{revision}")
}

/// The tags of a record (the same whether it is read from the log or is a draft): a guard decision
/// naming an emergency change is filed under that change's [`emergency_tag`]; a guard decision or a
/// verification without a change id, under its app and revision ([`revision_tag`]). These are the
/// records `audit show` reports for a change besides those filed under its id
/// (`cli::audit::report::change_records`).
fn tags(
    event: Option<&str>,
    change: Option<&str>,
    emergency: Option<&str>,
    app: &str,
    revision: Option<&str>,
) -> Vec<Cow<'static, str>> {
    let guard = event == Some(GUARD_DECISION);
    let mut tags = Vec::new();
    if guard {
        if let Some(e) = emergency.filter(|e| !e.is_empty()) {
            tags.push(Cow::Owned(emergency_tag(e)));
        }
    }
    if (guard || event == Some(VERIFICATION)) && change.is_none_or(str::is_empty) {
        if let Some(r) = revision.filter(|r| !r.is_empty()) {
            tags.push(Cow::Owned(revision_tag(app, r)));
        }
    }
    tags
}

fn received(record: &Map<String, Value>) -> Option<i64> {
    unix(record.get("receivedAt")?.as_str()?)
}

fn unix(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// How the ledger files the records of the audit log: by app name, by change id, and by idempotency
/// key (a record written before keys were digests is filed under its digest key, recomputed).
pub const SCHEMA: Schema = Schema { filing, received };

impl Entry for Body {
    fn members(&self) -> Map<String, Value> {
        self.to_map()
    }

    fn filing(&self) -> Filing<'_> {
        Filing {
            app: Cow::Borrowed(self.app_name()),
            change: self.change_id().map(Cow::Borrowed),
            key: Cow::Borrowed(self.key()),
            tags: tags(
                Some(self.event()),
                self.change_id(),
                match self {
                    Body::Guard(g) => g.emergency.as_deref(),
                    Body::Sync(_) | Body::Confirmation(_) | Body::Review(_) | Body::Verify(_) => {
                        None
                    }
                },
                self.app_name(),
                self.revision(),
            ),
        }
    }

    fn received(&self) -> Option<i64> {
        unix(self.received_at())
    }
}

/// The typed record of a verified line of the log at `path` (its `line` there).
///
/// # Errors
///
/// The record does not fit the typed model ([`ReadError::Misfit`], naming its line, seq and member).
pub fn read(path: &Path, map: Map<String, Value>, line: u64) -> Result<Record, ReadError> {
    let seq = ledger::line::seq_of(&map);
    Record::from_map(map).map_err(|misfit| ReadError::Misfit {
        path: path.to_path_buf(),
        line,
        seq,
        misfit,
    })
}

/// The typed record of what a query found.
///
/// # Errors
///
/// As [`read`].
pub fn read_found(found: Found) -> Result<Record, ReadError> {
    read(&found.path, found.record, found.line)
}

/// Verifies the whole chain in `data_dir` and gives each record, typed, to `each`, oldest first, one at
/// a time ([`ledger::read_each`]). After a record that does not fit the typed model, `each` is given
/// nothing more, but the chain is still verified to its end: a broken chain is reported first
/// (integrity before types).
///
/// # Errors
///
/// The log cannot be read, its chain is broken, or a record does not fit the typed model.
pub fn read_each(data_dir: &Path, mut each: impl FnMut(Record)) -> Result<Verified, ReadError> {
    let mut misfit = None;
    let verified = ledger::read_each(data_dir, |map, at| {
        if misfit.is_none() {
            match read(at.path, map, at.line) {
                Ok(record) => each(record),
                Err(e) => misfit = Some(e),
            }
        }
    })?;
    match misfit {
        Some(e) => Err(e),
        None => Ok(verified),
    }
}

/// Reads again the records of `wanted`, typed, from a log that [`read_each`] verified
/// ([`ledger::read_again`]).
///
/// # Errors
///
/// A segment cannot be read, or a wanted line is no longer a record that fits the typed model.
pub fn read_again(
    verified: &Verified,
    wanted: &SeqSet,
    mut each: impl FnMut(Record),
) -> Result<(), ReadError> {
    let mut misfit = None;
    ledger::read_again(verified, wanted, |map, at| {
        if misfit.is_none() {
            match read(at.path, map, at.line) {
                Ok(record) => each(record),
                Err(e) => misfit = Some(e),
            }
        }
    })?;
    misfit.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden records, and variants of its guard decisions: with an emergency and no change id, an
    /// empty change id, another event.
    fn records() -> Vec<Map<String, Value>> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/audit/golden/audit.jsonl"
        ))
        .unwrap();
        let mut out: Vec<Map<String, Value>> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let guard = out[24].clone();
        for (change, emergency) in [
            (Value::Null, Value::from("CHG-1001")),
            (Value::from(""), Value::Null),
            (Value::from("CHG-1004"), Value::from("CHG-1002")),
            (Value::Null, Value::from("")),
        ] {
            let mut g = guard.clone();
            g.insert("changeId".into(), change);
            g.insert("emergency".into(), emergency);
            out.push(g);
        }
        out
    }

    #[test]
    fn a_record_is_tagged_alike_as_a_draft_and_as_read_from_the_log() {
        let mut tagged = Vec::new();
        for map in records() {
            let read = (SCHEMA.filing)(&map);
            let body = Record::from_map(map.clone()).unwrap().body;
            assert_eq!(body.filing().tags, read.tags, "{map:?}");
            tagged.push((ledger::line::seq_of(&map), read.tags.join(" | ")));
        }
        let c0ffee = revision_tag("cart", &"c0ffee00".repeat(5));
        let revision = |t: &(u64, String)| t.1.contains(&c0ffee);
        // The golden guard decisions: seq 22 names its own change as its emergency; seq 25 has no
        // change id (filed by app and revision); the others have a change id and no emergency.
        assert_eq!(tagged[21].1, emergency_tag("CHG-1003"));
        assert!(revision(&tagged[24]), "{:?}", tagged[24]);
        assert!(tagged[..21].iter().all(|t| t.1.is_empty()), "{tagged:?}");
        // The variants: an emergency without a change id is filed both ways; "" is no change id; an
        // emergency naming another change is filed under that change; an empty emergency is none.
        assert_eq!(
            tagged[28].1,
            format!("{} | {c0ffee}", emergency_tag("CHG-1001"))
        );
        assert!(revision(&tagged[29]) && !tagged[29].1.contains("emergency"));
        assert_eq!(tagged[30].1, emergency_tag("CHG-1002"));
        assert!(revision(&tagged[31]) && !tagged[31].1.contains("emergency"));
    }
}
