//! The ticket part of `audit show` (docs/tickets.md, "What an auditor reads"): per app and revision,
//! what the change ticket said (state, approval, approvers, planned window, type), the verdict and its
//! reason, and the snapshot to re-judge it from; then the emergency and its post-implementation review.
//! Pure: typed records in, text out.

use super::table::{clean, short};
use crate::record::evidence::{self, Ticket};
use crate::record::review::{emergencies, Status};
use crate::record::{findings, Body, Record};
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// Whether any of the records carries ticket evidence.
pub fn any(records: &[&Record]) -> bool {
    records.iter().any(|r| findings::ticket(r).is_some())
}

/// The section, one block per (app, revision, decision): a sync's copy of a guard's decision is shown
/// once, with the sync.
pub fn section(w: &mut String, records: &[&Record]) {
    let _ = writeln!(w, "\nTicket (the change request's own state):");
    let mut shown: Vec<(String, String, u64)> = Vec::new();
    let mut ordered: Vec<&Record> = records
        .iter()
        .copied()
        .filter(|r| matches!(r.body, Body::Sync(_)))
        .collect();
    ordered.extend(
        records
            .iter()
            .copied()
            .filter(|r| matches!(r.body, Body::Guard(_))),
    );
    for r in ordered {
        let Some(t) = findings::ticket(r) else {
            continue;
        };
        let app = r.body.app_name().to_owned();
        let revision = r.body.revision().unwrap_or("").to_owned();
        let origin = t.decision.unwrap_or(r.seq);
        if shown
            .iter()
            .any(|(x, y, z)| *x == app && *y == revision && *z == origin)
        {
            continue;
        }
        shown.push((app.clone(), revision.clone(), origin));
        block(w, r, &app, &revision, t);
    }
}

#[allow(clippy::many_single_char_names)] // w, r, t: the writer, the record, its ticket
fn block(w: &mut String, r: &Record, app: &str, revision: &str, t: &Ticket) {
    let how = match (t.decided.as_str(), t.decision) {
        (_, Some(seq)) => format!("decided at sync time, guard decision seq {seq}"),
        (evidence::DECIDED_AT_SYNC, None) => format!("decided at sync time, seq {}", r.seq),
        _ => format!("judged after the fact, seq {}", r.seq),
    };
    let finding = t
        .finding
        .as_deref()
        .map_or_else(String::new, |f| format!(" [{f}]"));
    let emergency = if t.emergency { ", EMERGENCY" } else { "" };
    let _ = writeln!(
        w,
        "  {}  {}  {}{}{} ({})",
        clean(app),
        clean(short(revision)),
        clean(&t.verdict),
        clean(&finding),
        emergency,
        clean(&how)
    );
    let number = t.number.as_deref().unwrap_or("(none)");
    let mut facts = vec![format!("{} {number}", t.system)];
    for (label, value) in [
        ("type", &t.kind),
        ("state", &t.state),
        ("approval", &t.approval),
        ("assignment group", &t.assignment_group),
        ("conflict", &t.conflict),
    ] {
        if let Some(v) = value {
            facts.push(format!("{label} {v}"));
        }
    }
    let _ = writeln!(w, "    ticket: {}", clean(&facts.join(", ")));
    if let (Some(s), Some(e)) = (&t.planned_start, &t.planned_end) {
        let _ = writeln!(w, "    planned: {} to {}", clean(s), clean(e));
    }
    for a in &t.approvers {
        let by = if a.by.is_empty() || a.by == [a.name.clone()] {
            String::new()
        } else {
            format!(" by {}", a.by.join(", "))
        };
        let at =
            a.at.as_deref()
                .map_or_else(String::new, |at| format!(" at {at}"));
        let _ = writeln!(
            w,
            "    approver: {}: {}{}{}",
            clean(&a.name),
            clean(&a.decision),
            clean(&by),
            clean(&at)
        );
    }
    let _ = writeln!(w, "    reason: {}", clean(&t.reason));
    match (&t.snapshot_digest, &t.fetched_at) {
        (Some(d), Some(at)) => {
            let _ = writeln!(
                w,
                "    snapshot: {d} (fetched {}; sluice audit rejudge {})",
                clean(at),
                r.seq
            );
        }
        _ => {
            let _ = writeln!(w, "    snapshot: none (the ticket system was not asked)");
        }
    }
}

/// The emergency `change_id` and its review, when the records hold one.
pub fn review(w: &mut String, change_id: &str, records: &[&Record], now: DateTime<Utc>) {
    let Some(e) = emergencies(records.iter().copied())
        .into_iter()
        .find(|e| e.change_id == change_id)
    else {
        return;
    };
    let _ = writeln!(w, "\nEmergency (post-implementation review):");
    let seqs: Vec<String> = e.seqs.iter().map(u64::to_string).collect();
    let _ = writeln!(
        w,
        "  emergency at {} (records {}), review due {}",
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        seqs.join(", "),
        e.due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    match e.status(now) {
        Status::Reviewed => {
            let (seq, by, at) = e.review.clone().unwrap_or_default();
            let note = records
                .iter()
                .find_map(|r| match &r.body {
                    Body::Review(v) if r.seq == seq => Some((v.note.clone(), v.late)),
                    _ => None,
                })
                .unwrap_or_default();
            let late = if note.1 { " (late)" } else { "" };
            let _ = writeln!(
                w,
                "  reviewed by {} at {}{late}, seq {seq}: {}",
                clean(&by),
                clean(&at),
                clean(&note.0)
            );
        }
        Status::Pending => {
            let _ = writeln!(
                w,
                "  awaiting review: sluice audit review {} --by WHO --note TEXT",
                clean(change_id)
            );
        }
        Status::Overdue => {
            let _ = writeln!(
                w,
                "  OVERDUE: no review recorded; sluice audit review {} --by WHO --note TEXT",
                clean(change_id)
            );
        }
    }
}
