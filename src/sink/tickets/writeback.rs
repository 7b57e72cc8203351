//! Write-back (`ticket.writeBack: true`, off by default): when a sync record of a ticket-gated app
//! becomes durable, the sink adds a work note (ServiceNow) or a comment (Jira) to its ticket: the app,
//! the revision, the outcome, the audit record, the backup and the rollback commands. It never changes
//! the ticket's state.
//!
//! Once per finished sync: the note is written only for a record that was appended, never for a
//! redelivery the log found as a duplicate (Argo CD Notifications retries, or the Application watch
//! seeing the same operation); and the write itself is never retried once it may have reached the
//! system (src/itsm/client.rs). It runs after the webhook was answered, in a task of its own.

use super::Tickets;
use crate::policy::ticket::System;
use crate::record::{Body, SyncEvent, SYNC_FAILED, SYNC_SUCCEEDED};
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;

/// The note of a finished sync recorded as `seq` with `hash`.
pub fn note_text(s: &SyncEvent, seq: u64, hash: &str) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let outcome = match s.event.as_str() {
        SYNC_SUCCEEDED => "succeeded",
        _ => "failed",
    };
    let mut o = format!("sluice: the sync of {} {outcome}\n", s.app.name);
    let mut place = Vec::new();
    if let Some(p) = &s.app.project {
        place.push(format!("project {p}"));
    }
    if let Some(d) = s
        .destination
        .server
        .as_ref()
        .or(s.destination.name.as_ref())
    {
        place.push(format!("cluster {d}"));
    }
    if let Some(n) = &s.destination.namespace {
        place.push(format!("namespace {n}"));
    }
    let _ = writeln!(o, "App: {} ({})", s.app.name, place.join(", "));
    let _ = writeln!(o, "Revision: {}", text(&s.revision));
    let _ = writeln!(
        o,
        "Outcome: {} ({}), health {}",
        text(&s.phase),
        s.event,
        s.health.as_deref().unwrap_or("unknown")
    );
    if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
        let m: String = m.chars().take(300).collect();
        let _ = writeln!(o, "Message: {m}");
    }
    let _ = writeln!(o, "Audit record: seq {seq}, hash {hash}");
    let _ = writeln!(o, "Backup: {}", s.backup.as_deref().unwrap_or("none"));
    let _ = writeln!(o, "Rollback:");
    match (s.previous_history_id, &s.previous_revision) {
        (Some(id), prev) => {
            let _ = writeln!(
                o,
                "  argocd app rollback {} {id}    # back to revision {}",
                s.app.name,
                prev.as_deref().unwrap_or("?")
            );
        }
        (None, _) => {
            let _ = writeln!(
                o,
                "  argocd app history {}    # roll back to the entry before this sync",
                s.app.name
            );
        }
    }
    if let Some(b) = &s.backup {
        let _ = writeln!(o, "  velero restore create --from-backup {b}");
    }
    o
}

impl Tickets {
    /// After a record became durable as `seq` (appended, not found as a duplicate): when it is a
    /// finished sync whose ticket rules ask for write-back, writes the note in a task on `runtime`.
    pub fn after_append(
        self: &Arc<Self>,
        runtime: &tokio::runtime::Handle,
        seq: u64,
        hash: &str,
        body: &Body,
    ) {
        let Body::Sync(s) = body else {
            return;
        };
        if !matches!(s.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED) {
            return;
        }
        let Some(Some(t)) = s.ticket.as_present() else {
            return;
        };
        if t.rules.get("writeBack").and_then(Value::as_bool) != Some(true) {
            return;
        }
        let Some(system) = System::parse(&t.system) else {
            return;
        };
        let (Some(id), Some(number)) = (t.id.clone(), t.number.clone()) else {
            tracing::info!(
                seq,
                "no work note: the sync's ticket was not found in the ticket system"
            );
            self.count_note("skipped");
            return;
        };
        let text = note_text(s, seq, hash);
        let me = Arc::clone(self);
        runtime.spawn(async move {
            let deadline = tokio::time::Instant::now() + me.writeback_budget;
            match me
                .systems
                .write_note(system, &id, &number, &text, deadline)
                .await
            {
                Ok(()) => {
                    tracing::info!(seq, system = system.as_str(), ticket = %number, "work note written");
                    me.count_note("written");
                }
                Err(e) => {
                    tracing::warn!(seq, system = system.as_str(), ticket = %number, error = %e, "the work note could not be written");
                    me.count_note("failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event_record;
    use serde_json::json;

    #[test]
    fn the_note_names_the_app_revision_outcome_record_backup_and_rollback() {
        let body = json!({"event": "sync-succeeded", "app": {
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "u"},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"}},
            "status": {"health": {"status": "Healthy"},
                "history": [{"id": 4, "revision": "aaa", "deployStartedAt": "2026-01-01T00:00:00Z"},
                            {"id": 5, "revision": "bbb", "deployStartedAt": "2026-01-02T00:00:00Z"}],
                "operationState": {"phase": "Succeeded", "message": "successfully synced", "startedAt": "2026-01-02T00:00:00Z",
                    "syncResult": {"revision": "bbb", "resources": [{"group": "velero.io", "kind": "Backup", "name": "shop-backup-1", "hookType": "PreSync", "hookPhase": "Succeeded"}]}}}}});
        let pattern = regex::Regex::new("^CHG-[0-9]+$").unwrap();
        let Body::Sync(s) = event_record(&body, "2026-01-02T00:01:00Z", &pattern).unwrap() else {
            unreachable!("an event")
        };
        let note = note_text(&s, 42, "ab12");
        assert!(
            note.starts_with("sluice: the sync of shop succeeded\n"),
            "{note}"
        );
        for line in [
            "App: shop (project default, cluster https://kubernetes.default.svc, namespace prod)",
            "Revision: bbb",
            "Outcome: Succeeded (sync-succeeded), health Healthy",
            "Audit record: seq 42, hash ab12",
            "Backup: shop-backup-1",
            "  argocd app rollback shop 4    # back to revision aaa",
            "  velero restore create --from-backup shop-backup-1",
        ] {
            assert!(note.lines().any(|l| l == line), "{line:?} not in:\n{note}");
        }
    }
}
