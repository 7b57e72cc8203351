//! Drafts and a schema for the ledger's own tests: records with an app, an optional change id, a key
//! and a text member, about 330 bytes each once chained (the size of a guard decision).

use super::schema::{Entry, Filing, Schema};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// A record to append in tests.
#[derive(Debug, Clone)]
pub struct Draft(pub Map<String, Value>);

/// Record `i` of app `app`, with `change` (or none) and text `text`.
pub fn draft(i: u64, app: &str, change: Option<&str>, text: &str) -> Draft {
    let key = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{app}/{i}")));
    let Value::Object(map) = json!({"event": "test", "receivedAt": "2026-01-02T00:00:01.000Z",
        "key": key, "app": {"name": app}, "changeId": change, "revision": format!("r{i}"),
        "text": text, "at": "2026-01-02T00:00:00Z"})
    else {
        unreachable!("an object")
    };
    Draft(map)
}

fn filing(map: &Map<String, Value>) -> Filing<'_> {
    Filing {
        app: Cow::Borrowed(
            map.get("app")
                .and_then(|a| a.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
        change: map
            .get("changeId")
            .and_then(Value::as_str)
            .map(Cow::Borrowed),
        key: Cow::Borrowed(map.get("key").and_then(Value::as_str).unwrap_or("")),
        // A test record names its tags in a member `tags`: an array of strings.
        tags: map
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(Cow::Borrowed)
            .collect(),
    }
}

fn received(map: &Map<String, Value>) -> Option<i64> {
    let at = map.get("receivedAt")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.timestamp())
}

/// The schema of [`Draft`] records.
pub const SCHEMA: Schema = Schema { filing, received };

impl Entry for Draft {
    fn members(&self) -> Map<String, Value> {
        self.0.clone()
    }
    fn filing(&self) -> Filing<'_> {
        filing(&self.0)
    }
    fn received(&self) -> Option<i64> {
        received(&self.0)
    }
}

/// The seqs of every record of the verified log in `data_dir`.
pub fn seqs(data_dir: &std::path::Path) -> Vec<u64> {
    let mut seqs = Vec::new();
    super::read::read_each(data_dir, |m, _| seqs.push(super::line::seq_of(&m)))
        .expect("a verified log");
    seqs
}

/// Every record of the verified log in `data_dir`.
pub fn records(data_dir: &std::path::Path) -> Vec<Map<String, Value>> {
    let mut all = Vec::new();
    super::read::read_each(data_dir, |m, _| all.push(m)).expect("a verified log");
    all
}

/// Every file under `dir/sub`, by path, with its bytes.
pub fn files_under(
    dir: &std::path::Path,
    sub: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.join(sub)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}
