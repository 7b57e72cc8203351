//! The auditor's search: a period, an app, a change id and a person, over the log through its index.
//! A period becomes a range of seqs by bisecting on `receivedAt` (the sink's clock, which only moves
//! forward with the seqs), so a search reads the records it shows plus about 2·log2(N) more; an app
//! or a change id narrows through the index; a person is matched on the records read, at most
//! [`MAX_EXAMINED`] of them per search. Takes a reader and the parameters; gives the records.

use super::Access;
use crate::ledger::{Reader, Select};
use crate::record::{findings, Body, Record};

/// Default and largest number of records a search shows.
pub const DEFAULT_LIMIT: usize = 200;
pub const MAX_LIMIT: usize = 1000;
/// Most records one search reads to match a person (the page says where it stopped).
pub const MAX_EXAMINED: usize = 20_000;

/// What the auditor asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Received at or after (RFC 3339, or a day: from its midnight UTC).
    pub from: String,
    /// Received before the end of (a day), or before (RFC 3339).
    pub to: String,
    pub app: String,
    pub change: String,
    /// A user name, login or author, matched without case as part of a word.
    pub person: String,
    /// Page on: records after this seq.
    pub after: Option<u64>,
    pub limit: usize,
}

impl Params {
    /// The parameters of a query string; unknown keys are ignored (a form may add its button's).
    ///
    /// # Errors
    ///
    /// A malformed date, seq or limit, naming it and the form to use.
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut p = Params {
            limit: DEFAULT_LIMIT,
            ..Params::default()
        };
        for (k, v) in super::parse_query(query) {
            let v = v.trim().to_owned();
            match k.as_str() {
                "from" => p.from = v,
                "to" => p.to = v,
                "app" => p.app = v,
                "change" => p.change = v,
                "person" => p.person = v,
                "after" if !v.is_empty() => {
                    p.after = Some(
                        v.parse()
                            .map_err(|_| "after: give a record seq".to_owned())?,
                    );
                }
                "limit" if !v.is_empty() => match v.parse::<usize>() {
                    Ok(n) if n >= 1 => p.limit = n.min(MAX_LIMIT),
                    _ => return Err(format!("limit: give a number from 1 to {MAX_LIMIT}")),
                },
                _ => {}
            }
        }
        for (name, value) in [("from", &p.from), ("to", &p.to)] {
            if !value.is_empty() && bound(value, false).is_none() {
                return Err(format!(
                    "{name}: {value:?} is not a day (2026-11-20) or an RFC 3339 time (2026-11-20T02:00:00Z)"
                ));
            }
        }
        Ok(p)
    }
}

/// A time bound as an instant; a day is its midnight UTC, or with `end` the next midnight.
fn bound(text: &str, end: bool) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let day = if end { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    pub records: Vec<Record>,
    /// The seq to page on from, when there may be more.
    pub next: Option<u64>,
    /// The search stopped after reading [`MAX_EXAMINED`] records.
    pub cut: bool,
    /// The seq range the period covers.
    pub range: (u64, u64),
}

/// Runs a search.
///
/// # Errors
///
/// The log cannot be read.
pub fn run(access: &Access, reader: &Reader, p: &Params) -> Result<Found, String> {
    let head = reader.head().seq;
    let lo = match bound(&p.from, false) {
        Some(t) => first_at_or_after(reader, head, t),
        None => 1,
    };
    let hi = match bound(&p.to, true) {
        Some(t) => first_at_or_after(reader, head, t).saturating_sub(1),
        None => head,
    };
    let mut found = Found {
        range: (lo, hi),
        ..Found::default()
    };
    if lo > hi {
        return Ok(found);
    }
    let select = Select {
        app: (!p.app.is_empty()).then(|| p.app.clone()),
        change: (!p.change.is_empty()).then(|| p.change.clone()),
    };
    let person = p.person.to_lowercase();
    let mut after = p.after.unwrap_or(0).max(lo - 1);
    let mut examined = 0;
    loop {
        let batch = if person.is_empty() { p.limit + 1 } else { 1000 };
        let page = access
            .queries
            .query(reader, &select, Some(after), batch)
            .map_err(|e| e.to_string())?;
        let ended = page.len() < batch;
        for r in page {
            after = r.seq;
            examined += 1;
            if r.seq > hi {
                return Ok(found);
            }
            if !person.is_empty() && !mentions(&r, &person) {
                continue;
            }
            if found.records.len() == p.limit {
                found.next = found.records.last().map(|r| r.seq);
                return Ok(found);
            }
            found.records.push(r);
        }
        if ended {
            return Ok(found);
        }
        if examined >= MAX_EXAMINED {
            found.cut = true;
            found.next = Some(after);
            return Ok(found);
        }
    }
}

/// The first seq received at or after `t` (`head + 1` when none is): a bisection on `receivedAt`.
fn first_at_or_after(reader: &Reader, head: u64, t: chrono::DateTime<chrono::Utc>) -> u64 {
    let at = |seq: u64| {
        reader
            .record(seq)
            .and_then(|f| {
                f.record
                    .get("receivedAt")
                    .and_then(|v| v.as_str())
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            })
            .map(|d| d.with_timezone(&chrono::Utc))
    };
    let (mut lo, mut hi) = (1, head + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // An unreadable record counts as early: the search then starts later, never misses later ones.
        if at(mid).is_some_and(|d| d >= t) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Whether a record names the person: who started the sync, the commit's author, `Approved-by`, and
/// the Git host's approvers, dismissed reviewers and pull request authors.
pub fn mentions(r: &Record, person: &str) -> bool {
    let hit = |s: &str| s.to_lowercase().contains(person);
    let approval = findings::approval(r);
    let in_approval = approval.is_some_and(|a| {
        a.claimed_approvers.iter().any(|c| hit(c))
            || a.pulls.iter().any(|p| {
                hit(&p.author)
                    || p.approvers.iter().any(|v| hit(&v.login))
                    || p.dismissed.iter().any(|d| hit(&d.login))
            })
    });
    let Body::Sync(s) = &r.body else {
        return in_approval;
    };
    in_approval
        || s.initiated_by.username.as_deref().is_some_and(hit)
        || s.approved_by.iter().any(|a| hit(a))
        || s.commit
            .as_ref()
            .and_then(|c| c.author.as_deref())
            .is_some_and(hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_days_and_instants_and_refuses_others() {
        let p =
            Params::parse("from=2026-11-01&to=2026-11-30&app=shop&person=Ann&limit=5000&go=Search")
                .expect("parses");
        assert_eq!(
            (p.app.as_str(), p.person.as_str(), p.limit),
            ("shop", "Ann", MAX_LIMIT)
        );
        assert_eq!(
            bound("2026-11-30", true).map(|t| t.to_rfc3339()),
            Some("2026-12-01T00:00:00+00:00".into())
        );
        assert!(Params::parse("from=2026-11-20T02:00:00%2B01:00").is_ok());
        let e = Params::parse("from=yesterday").unwrap_err();
        assert!(e.contains("from: \"yesterday\" is not a day"), "{e}");
        assert!(Params::parse("limit=0").is_err());
        assert_eq!(Params::parse("").expect("empty").limit, DEFAULT_LIMIT);
    }
}
