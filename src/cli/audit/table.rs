//! The one table writer of the audit commands: columns padded to their widest cell, two spaces apart,
//! cells made safe for a terminal; and the cell texts the tables share (who started a sync, a guard's
//! decision, a short revision). Pure: strings in, text out.

use crate::record::{Confirmation, GuardDecision, SyncEvent};

/// Columns padded to their widest cell, two spaces apart; cells cleaned of control characters.
pub(super) fn aligned(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The text of an optional member, "" for `null`.
pub(super) fn text(value: Option<&str>) -> &str {
    value.unwrap_or("")
}

/// Who started a sync: "automated", else the user name.
pub(super) fn initiated_by(s: &SyncEvent) -> &str {
    if s.initiated_by.automated {
        "automated"
    } else {
        text(s.initiated_by.username.as_deref())
    }
}

pub(super) fn number(value: Option<i64>) -> String {
    value.map_or_else(String::new, |n| n.to_string())
}

pub(super) fn decision(g: &GuardDecision) -> &'static str {
    if g.allowed {
        "allowed"
    } else {
        "blocked"
    }
}

/// What a watch confirmation says in a listing's phase column: the record it confirms, and where the
/// watch saw the operation.
pub(super) fn confirms(c: &Confirmation) -> String {
    format!("confirms {} ({})", c.confirms, c.via)
}

/// Text safe for a terminal: control characters become spaces.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(super) fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}
