//! Reading the members of a request body defensively: a member of another type reads as absent, and
//! integers only when they are safe (the canonical form refuses larger ones). Shared by the builders
//! of records (`build`, `decision`). Pure.

use crate::ledger::canonical::MAX_SAFE_INTEGER;
use serde_json::Value;

/// Reads a string at `path` in `v`; anything else reads as absent.
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path)?.as_str()
}

pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(*k))
}

pub(super) fn opt_str(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

pub(super) fn safe_int(v: &Value) -> Option<i64> {
    v.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER)
}
