//! The approvals part of `audit show` (docs/approvals.md, "What an auditor reads"): per app and
//! revision, the verdict the Git host's answers gave, who approved which pull request on which head,
//! whose approval did not count and why, direct pushes, and the snapshot to re-judge it from. Pure:
//! typed records in, text out.

use super::table::{clean, short};
use crate::record::evidence::{self, Approval};
use crate::record::findings;
use crate::record::{Body, Record};
use std::fmt::Write as _;

/// Whether any of the records carries approval evidence.
pub fn any(records: &[&Record]) -> bool {
    records.iter().any(|r| findings::approval(r).is_some())
}

/// The section, one block per (app, revision, decision): a sync's copy of a guard's decision is shown
/// once, with the sync.
pub fn section(w: &mut String, records: &[&Record]) {
    let _ = writeln!(w, "\nApprovals (verified at the Git host):");
    let mut shown: Vec<(String, String, u64)> = Vec::new();
    // Syncs first (they say what happened), then decisions no sync of this change points to.
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
        let Some(a) = findings::approval(r) else {
            continue;
        };
        let app = r.body.app_name().to_owned();
        let revision = a.revision.clone().unwrap_or_default();
        let origin = a.decision.unwrap_or(r.seq);
        if shown
            .iter()
            .any(|(x, y, z)| *x == app && *y == revision && *z == origin)
        {
            continue;
        }
        shown.push((app.clone(), revision.clone(), origin));
        block(w, r, &app, a);
    }
}

#[allow(clippy::many_single_char_names)] // w, r, a: the writer, the record, its approval
fn block(w: &mut String, r: &Record, app: &str, a: &Approval) {
    let how = match (a.decided.as_str(), a.decision) {
        (_, Some(seq)) => format!("decided at sync time, guard decision seq {seq}"),
        (evidence::DECIDED_AT_SYNC, None) => format!("decided at sync time, seq {}", r.seq),
        _ => format!("judged after the fact, seq {}", r.seq),
    };
    let finding = a
        .finding
        .as_deref()
        .map_or_else(String::new, |f| format!(" [{f}]"));
    let _ = writeln!(
        w,
        "  {}  {}  {}{} (required {}; {})",
        clean(app),
        clean(short(a.revision.as_deref().unwrap_or(""))),
        clean(&a.verdict),
        clean(&finding),
        a.required,
        clean(&how)
    );
    let place = [
        a.host.as_deref(),
        a.repository.as_deref(),
        a.branch.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    if !place.is_empty() {
        let range = match (a.base.as_deref(), a.reviewed.as_deref()) {
            (Some(b), Some(h)) => format!(", commits after {} up to {}", short(b), short(h)),
            (None, Some(h)) => format!(", the pull request of {}", short(h)),
            _ => String::new(),
        };
        let _ = writeln!(w, "    host: {}{}", clean(&place), clean(&range));
    }
    for p in &a.pulls {
        let _ = writeln!(
            w,
            "    PR #{} by {}, merged {}, head {}: {}",
            p.number,
            clean(&p.author),
            clean(&p.merged_at),
            clean(short(&p.head)),
            clean(&p.url)
        );
        let approvers: Vec<String> = p
            .approvers
            .iter()
            .map(|v| {
                let on = v
                    .commit
                    .as_deref()
                    .map_or_else(String::new, |c| format!(" on {}", short(c)));
                format!("{} at {}{on}", v.login, v.at)
            })
            .collect();
        let _ = writeln!(
            w,
            "      approved by: {}",
            clean(&if approvers.is_empty() {
                "(nobody that counts)".to_owned()
            } else {
                approvers.join("; ")
            })
        );
        for d in &p.dismissed {
            let _ = writeln!(
                w,
                "      not counted: {} ({})",
                clean(&d.login),
                clean(&d.why)
            );
        }
    }
    if !a.direct_pushes.is_empty() {
        let pushes: Vec<&str> = a.direct_pushes.iter().map(|s| short(s)).collect();
        let _ = writeln!(w, "    direct pushes: {}", clean(&pushes.join(", ")));
    }
    let _ = writeln!(w, "    reason: {}", clean(&a.reason));
    if !a.claimed_approvers.is_empty() {
        let _ = writeln!(
            w,
            "    claimed in trailers (not evidence): {}",
            clean(&a.claimed_approvers.join(", "))
        );
    }
    match (&a.snapshot_digest, &a.fetched_at) {
        (Some(d), Some(at)) => {
            let _ = writeln!(
                w,
                "    snapshot: {d} (fetched {}; sluice audit rejudge {})",
                clean(at),
                r.seq
            );
        }
        _ => {
            let _ = writeln!(w, "    snapshot: none (the host was not asked)");
        }
    }
}
