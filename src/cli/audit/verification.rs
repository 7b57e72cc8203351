//! The "Verification" section of `audit show`: for each sync of the change, what the `PostSync` hook
//! measured and concluded (or that no verdict came), and what was done about a failure: the revert
//! pull request, or the commands that are the way back. Pure: records in, text out.

use super::table::{clean, short};
use crate::record::evidence::Verification;
use crate::record::{findings, Body, Record};
use std::fmt::Write as _;

/// Whether any record of the change has verification evidence.
pub fn any(records: &[&Record]) -> bool {
    records.iter().any(|r| findings::verification(r).is_some())
}

/// The section: the syncs' copies, then the verification records no sync points to.
pub fn section(w: &mut String, records: &[&Record]) {
    let _ = writeln!(w, "\nVerification (PostSync checks):");
    let copied: Vec<u64> = records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Sync(s) => s.verification.as_present()?.as_ref()?.report,
            _ => None,
        })
        .collect();
    for r in records {
        let Some(v) = findings::verification(r) else {
            continue;
        };
        if matches!(r.body, Body::Verify(_)) && copied.contains(&r.seq) {
            continue;
        }
        block(w, r, v);
    }
}

fn block(w: &mut String, r: &Record, v: &Verification) {
    let what = match &r.body {
        Body::Sync(s) => format!(
            "{} of {} (seq {})",
            s.event,
            short(s.revision.as_deref().unwrap_or("")),
            r.seq
        ),
        _ => format!(
            "verdict of {} (seq {}; no sync record names it)",
            short(r.body.revision().unwrap_or("")),
            r.seq
        ),
    };
    let verdict = v.verdict.as_deref().unwrap_or("no verdict");
    let finding = v
        .finding
        .as_deref()
        .map_or_else(String::new, |f| format!(" [{f}]"));
    let _ = writeln!(
        w,
        "  {}  {}  {}{}",
        clean(r.body.app_name()),
        clean(&what),
        clean(verdict),
        clean(&finding)
    );
    let mut how = Vec::new();
    if let Some(o) = &v.on_failure {
        how.push(format!("onFailure {o}"));
    }
    if let Some(within) = &v.within {
        how.push(format!("within {within}"));
    }
    if let (Some(a), Some(b)) = (&v.started_at, &v.finished_at) {
        how.push(format!("{a} to {b}"));
    }
    if let Some(seq) = v.report {
        how.push(format!("the hook's report is seq {seq}"));
    }
    if !how.is_empty() {
        let _ = writeln!(w, "    {}", clean(&how.join(", ")));
    }
    if !v.reason.is_empty() {
        let _ = writeln!(w, "    reason: {}", clean(&v.reason));
    }
    for c in &v.checks {
        let _ = writeln!(
            w,
            "    {} ({}): {}  {}",
            clean(&c.name),
            clean(&c.kind),
            clean(&c.phase),
            clean(&c.query.replace('\n', " "))
        );
        if let Some(m) = &c.message {
            let _ = writeln!(w, "      {}", clean(m));
        }
        for m in &c.measurements {
            let note = m
                .message
                .as_deref()
                .map_or_else(String::new, |t| format!("  ({t})"));
            let _ = writeln!(
                w,
                "      {}  {:<12} {}{}",
                clean(&m.finished_at),
                clean(&m.phase),
                clean(&m.value),
                clean(&note)
            );
        }
    }
    if let Some(rb) = &v.rollback {
        let _ = writeln!(
            w,
            "    rollback: {} ({})",
            clean(&rb.action),
            clean(&rb.reason)
        );
        if let Some(p) = &rb.pull_request {
            let _ = writeln!(
                w,
                "      revert pull request #{}: {} ({})",
                p.number,
                clean(&p.url),
                clean(&p.title)
            );
        }
        for c in &rb.revert {
            let _ = writeln!(w, "      {}", clean(c));
        }
        if let Some(restore) = &rb.restore {
            let _ = writeln!(
                w,
                "      data (never run by sluice; loses what was written since): {}",
                clean(restore)
            );
        }
    }
}
