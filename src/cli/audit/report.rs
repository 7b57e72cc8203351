//! The change report of `audit show`: every record that concerns a change (its syncs, and the guard
//! decisions that belong to it), and the story they tell: subject, approvals, windows, backups, the
//! outcome of each sync and the rollback commands. Pure: typed records in, text out.

use super::table::{aligned, clean, decision, initiated_by, number, short, text};
use crate::commit;
use crate::record::{Body, GuardDecision, Record, SyncEvent};
use std::fmt::Write as _;

/// A trailer member of an event (`risk`, `tested`, ...).
type TrailerField = fn(&SyncEvent) -> Option<&str>;

/// The records that concern `change_id`, in log order: its syncs, and the guard decisions that belong to
/// it (those that name it, as change id or emergency id, and those without a change id whose app and
/// revision are those of one of its syncs). `audit show -o json` prints them; [`change_report`] tells them.
pub fn change_records<'a>(change_id: &str, records: &'a [Record]) -> Vec<&'a Record> {
    let syncs: Vec<&SyncEvent> = records
        .iter()
        .filter_map(|r| match &r.body {
            Body::Sync(s) if text(s.change_id.as_deref()) == change_id => Some(&**s),
            _ => None,
        })
        .collect();
    let synced = |g: &GuardDecision| {
        syncs.iter().any(|s| {
            s.app.name == g.app.name
                && !text(g.revision.as_deref()).is_empty()
                && text(s.revision.as_deref()) == text(g.revision.as_deref())
        })
    };
    records
        .iter()
        .filter(|r| match &r.body {
            Body::Sync(s) => text(s.change_id.as_deref()) == change_id,
            Body::Guard(g) => {
                text(g.change_id.as_deref()) == change_id
                    || text(g.emergency.as_deref()) == change_id
                    || (text(g.change_id.as_deref()).is_empty() && synced(g))
            }
            Body::Confirmation(_) => false,
            Body::Review(v) => v.change_id == change_id,
            Body::Verify(v) => {
                text(v.change_id.as_deref()) == change_id
                    || (text(v.change_id.as_deref()).is_empty()
                        && syncs.iter().any(|s| {
                            s.app.name == v.app.name
                                && !text(v.revision.as_deref()).is_empty()
                                && text(s.revision.as_deref()) == text(v.revision.as_deref())
                        }))
            }
        })
        .collect()
}

/// The change report of `audit show`, or `None` when no record concerns `change_id`.
///
/// `records` is the whole log in order; the records of the change are those of [`change_records`].
pub fn change_report(change_id: &str, records: &[Record]) -> Option<String> {
    let selected = change_records(change_id, records);
    let syncs: Vec<(u64, &SyncEvent)> = selected
        .iter()
        .filter_map(|r| match &r.body {
            Body::Sync(s) => Some((r.seq, &**s)),
            Body::Guard(_) | Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => None,
        })
        .collect();
    let guards: Vec<&GuardDecision> = selected
        .iter()
        .filter_map(|r| match &r.body {
            Body::Guard(g) => Some(&**g),
            Body::Sync(_) | Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => None,
        })
        .collect();
    if syncs.is_empty() && guards.is_empty() {
        return None;
    }
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Change {}", clean(change_id));
    if let Some(commit) = syncs.iter().find_map(|(_, s)| s.commit.as_ref()) {
        let _ = writeln!(w, "  subject:     {}", clean(&commit.subject));
        let _ = writeln!(
            w,
            "  author:      {}",
            clean(text(commit.author.as_deref()))
        );
    }
    // The approver rule of commit.rs, also over records written before it: each sync's approvers
    // without its commit's author, then merged.
    let approvers = commit::approvers(
        syncs.iter().flat_map(|(_, s)| {
            let author = s.commit.as_ref().and_then(|c| c.author.as_deref());
            commit::approvers(s.approved_by.iter().map(String::as_str), author)
        }),
        None,
    );
    let approved = if approvers.is_empty() {
        "(none recorded)".to_owned()
    } else {
        approvers.join(", ")
    };
    // With approvals verified at the Git host, the trailers are only what someone typed.
    let verified = super::approvals::any(&selected);
    let label = if verified {
        "claimed by trailers (not evidence):"
    } else {
        "approved by:"
    };
    let _ = writeln!(w, "  {label} {}", clean(&approved));
    let trailers: [(&str, TrailerField); 4] = [
        ("risk", |s| s.risk.as_deref()),
        ("tested", |s| s.tested.as_deref()),
        ("rollback", |s| s.rollback.as_deref()),
        ("window", |s| s.maintenance_window.as_deref()),
    ];
    for (label, field) in trailers {
        let v = syncs
            .iter()
            .map(|(_, s)| text(field(s)))
            .rfind(|v| !v.is_empty());
        let label = format!("{label}:");
        let _ = writeln!(w, "  {label:<12} {}", clean(v.unwrap_or("(not stated)")));
    }
    if let Some(e) = syncs
        .iter()
        .map(|(_, s)| text(s.emergency.as_deref()))
        .rfind(|v| !v.is_empty())
    {
        let _ = writeln!(w, "  EMERGENCY change (override {})", clean(e));
    }

    let _ = writeln!(w, "\nSyncs:");
    let sync_rows = syncs
        .iter()
        .map(|(seq, s)| {
            vec![
                text(s.started_at.as_deref()).to_owned(),
                text(s.finished_at.as_deref()).to_owned(),
                s.app.name.clone(),
                s.event.clone(),
                text(s.phase.as_deref()).to_owned(),
                short(text(s.revision.as_deref())).to_owned(),
                initiated_by(s).to_owned(),
                seq.to_string(),
            ]
        })
        .collect();
    let header = [
        "STARTED",
        "FINISHED",
        "APP",
        "EVENT",
        "PHASE",
        "REVISION",
        "INITIATED BY",
        "SEQ",
    ];
    for line in aligned(&header, sync_rows).lines() {
        let _ = writeln!(w, "  {line}");
    }

    if verified {
        super::approvals::section(w, &selected);
    }
    if super::tickets::any(&selected) {
        super::tickets::section(w, &selected);
    }
    if super::verification::any(&selected) {
        super::verification::section(w, &selected);
    }

    let _ = writeln!(w, "\nWindows (guard decisions):");
    if guards.is_empty() {
        let _ = writeln!(w, "  (no guard decision recorded)");
    }
    for g in &guards {
        let within = if g.windows.is_empty() {
            "no active window".to_owned()
        } else {
            format!("in {}", g.windows.join("; "))
        };
        let by_ticket = matches!(g.ticket.as_present(), Some(Some(t)) if t.emergency);
        let emergency = match text(g.emergency.as_deref()) {
            "" => String::new(),
            e if by_ticket => format!(", emergency change {e} (an approved emergency ticket)"),
            e => format!(", emergency override {e}"),
        };
        let active: Vec<String> = g.active.iter().map(u64::to_string).collect();
        let _ = writeln!(
            w,
            "  {}  {}  {} {}{} (revision {}, active windows [{}]): {}",
            clean(&g.at),
            clean(&g.app.name),
            decision(g),
            clean(&within),
            clean(&emergency),
            clean(short(text(g.revision.as_deref()))),
            active.join(", "),
            clean(&g.reason),
        );
    }

    let _ = writeln!(w, "\nPre-change backups:");
    let mut backups: Vec<(&str, &str)> = Vec::new();
    for (_, s) in &syncs {
        let b = text(s.backup.as_deref());
        if !b.is_empty() && !backups.iter().any(|(_, x)| *x == b) {
            backups.push((&s.app.name, b));
        }
    }
    if backups.is_empty() {
        let _ = writeln!(w, "  (none recorded)");
    }
    for (app, b) in &backups {
        let _ = writeln!(w, "  {} (app {})", clean(b), clean(app));
    }

    let _ = writeln!(w, "\nRollback:");
    rollback_commands(w, &syncs, &backups);
    Some(out)
}

/// One `argocd app rollback` per app (to the deployment before the change's first recorded sync), and a
/// `velero restore` per backup.
fn rollback_commands(w: &mut String, syncs: &[(u64, &SyncEvent)], backups: &[(&str, &str)]) {
    let mut apps: Vec<&str> = Vec::new();
    for (_, s) in syncs {
        if !apps.contains(&s.app.name.as_str()) {
            apps.push(&s.app.name);
        }
    }
    let mut any = false;
    for app in apps {
        let of_app = syncs.iter().map(|(_, s)| *s).filter(|s| s.app.name == app);
        // Completed deployments name their own history entry; a `sync-running` event of a re-sync can
        // only guess (the latest entry with that revision), so it counts only when nothing else does.
        let completed = |s: &&SyncEvent| matches!(s.event.as_str(), "sync-succeeded" | "deployed");
        let has_prev = |s: &&SyncEvent| s.previous_history_id.is_some();
        let by_prev = |s: &&SyncEvent| s.previous_history_id;
        let with_prev = of_app
            .clone()
            .filter(|s| completed(s) && has_prev(s))
            .min_by_key(by_prev)
            .or_else(|| of_app.clone().filter(has_prev).min_by_key(by_prev));
        match with_prev {
            Some(s) => {
                let _ = writeln!(
                    w,
                    "  argocd app rollback {} {}    # back to revision {}",
                    clean(app),
                    number(s.previous_history_id),
                    short(text(s.previous_revision.as_deref()))
                );
                any = true;
            }
            None => {
                if let Some(s) = of_app.clone().rfind(|s| s.history_id.is_some()) {
                    let _ = writeln!(
                        w,
                        "  # {}: the change is history id {}; roll back to the id before it: argocd app history {}",
                        clean(app),
                        number(s.history_id),
                        clean(app)
                    );
                    any = true;
                }
            }
        }
    }
    for (_, b) in backups {
        let _ = writeln!(w, "  velero restore create --from-backup {}", clean(b));
        any = true;
    }
    if !any {
        let _ = writeln!(w, "  (no history id or backup recorded)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{event_record, guard_record, Commit};
    use serde_json::json;

    fn rec(seq: u64, body: Body) -> Record {
        Record {
            seq,
            prev: "p".into(),
            hash: format!("h{seq}"),
            body,
        }
    }

    /// An event of `app` as the sink records a body without status or commit.
    fn sync_event(event: &str, app: &str, received_at: &str) -> SyncEvent {
        let body = json!({"event": event, "app": {"metadata": {"name": app}}});
        let pattern = regex::Regex::new("^CHG-[0-9]+$").unwrap();
        match event_record(&body, received_at, &pattern).unwrap() {
            Body::Sync(s) => *s,
            Body::Guard(_) | Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => {
                unreachable!("an event body")
            }
        }
    }

    #[test]
    fn show_reports_rollback_to_the_deployment_before_the_change() {
        let guard = guard_record(
            &json!({"app": "shop", "changeId": null, "revision": "bbb", "allowed": true,
                "reason": "inside window", "at": "2026-01-02T00:00:00Z", "active": [0],
                "windows": ["Tue/Thu maintenance window"]}),
            "2026-01-02T00:00:01.000Z",
        )
        .unwrap();
        let mut s = sync_event("sync-succeeded", "shop", "2026-01-02T00:05:00.000Z");
        s.change_id = Some("CHG-1".into());
        s.revision = Some("bbb".into());
        s.phase = Some("Succeeded".into());
        (s.history_id, s.previous_history_id) = (Some(5), Some(4));
        s.previous_revision = Some("aaa".into());
        s.backup = Some("pre-change-chg-1-x".into());
        s.approved_by = vec!["Bob".into()];
        s.risk = Some("low".into());
        s.initiated_by.username = Some("alice".into());
        s.commit = Some(Commit {
            subject: "CHG-1: bump".into(),
            author: Some("Ann".into()),
            date: None,
            extra: serde_json::Map::new(),
        });
        let records = vec![rec(1, guard), rec(2, Body::Sync(Box::new(s)))];
        let report = change_report("CHG-1", &records).unwrap();
        assert!(report.contains("argocd app rollback shop 4"), "{report}");
        assert!(report.contains("velero restore create --from-backup pre-change-chg-1-x"));
        assert!(report.contains("Tue/Thu maintenance window"));
        assert!(report.contains("approved by: Bob"));
        assert!(change_report("CHG-2", &records).is_none());
    }
}
