//! Ticket evidence on sync records: a `sync-succeeded` or `sync-failed` record of an app a ticket rule
//! covers gets the evidence of the guard's decision for its revision; a sync that has none (a selective
//! sync, a rollback, a source that bypasses the plugin, a guard that could not reach the sink, a sync
//! only the watch saw) is judged after the fact by the rules in force, and flagged
//! `ticket-not-authorized`, `ticket-outside-window` or `ticket-unverified` when its ticket does not
//! back it.

use super::run::Ask;
use super::Tickets;
use crate::policy::ticket;
use crate::record::evidence::{Ticket as Evidence, DECIDED_AFTER};
use crate::record::review::default_due;
use crate::record::{Added, Body, SyncEvent, SYNC_FAILED, SYNC_SUCCEEDED};

/// The finding of evidence on a sync: none when the ticket backs it; none either when the sync was
/// stopped by the guard's own refusal (a failed sync whose guard hook failed): the control worked.
fn finding(sync: &SyncEvent, evidence: &Evidence) -> Option<String> {
    let guard_failed = sync.event == SYNC_FAILED
        && matches!(sync.gate.as_present(), Some(Some(g)) if g.guard.as_deref() == Some("Failed"));
    if guard_failed {
        return None;
    }
    Evidence::finding_of(&evidence.verdict, evidence.conflict_flagged())
}

impl Tickets {
    /// Adds the `ticket` member to a sync record draft when a ticket rule covers its app.
    pub async fn attach(&self, draft: &mut Body) {
        let Body::Sync(sync) = draft else {
            return;
        };
        if !matches!(sync.event.as_str(), SYNC_SUCCEEDED | SYNC_FAILED) {
            return;
        }
        if let Some(id) = sync.emergency.clone() {
            // The emergency's review is due when its decision said, else 48 hours after this sync.
            let known = self.registry.with_async(move |r| r.emergency(&id)).await;
            let due = known
                .map(|e| e.due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .or_else(|| default_due(sync));
            sync.review_due = Added::Present(due);
        }
        let app = sync.app.name.clone();
        if let Some(revision) = sync.revision.clone() {
            let found = {
                let app = app.clone();
                self.registry
                    .with_async(move |r| r.decision(&app, &revision))
                    .await
            };
            if let Some((seq, mut evidence)) = found {
                evidence.decision = Some(seq);
                evidence.finding = finding(sync, &evidence);
                sync.ticket = Added::Present(Some(evidence));
                return;
            }
        }
        let in_force = {
            let app = app.clone();
            self.registry.with_async(move |r| r.in_force(&app)).await
        };
        let Some(in_force) = in_force else {
            return;
        };
        let Ok(rules) = ticket::from_value(&in_force.policy, &in_force.pattern) else {
            return;
        };
        let ask = Ask {
            id: sync.change_id.clone().or_else(|| sync.emergency.clone()),
            change_id: sync.change_id.clone(),
            own: None,
            pattern: in_force.pattern,
            sources: vec![format!("in-force (decision seq {})", in_force.seq)],
            decided: DECIDED_AFTER,
            budget: self.after_budget,
        };
        let mut evidence = self.run(&ask, &rules).await.evidence;
        evidence.finding = finding(sync, &evidence);
        sync.ticket = Added::Present(Some(evidence));
    }
}
