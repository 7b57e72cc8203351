//! What the log says about each app's approvals: the rules in force (the change's own rules of the
//! last guarded sync), the evidence of recent decisions by revision, the revision last synced (the
//! next change starts after it), and where the app runs (for floors by cluster). Read from every
//! segment when the sink starts, on a side thread that the first decision waits for; then each
//! durable record is observed in the order the handlers see them (src/sink/registry.rs).

use crate::policy::approvals::{self, ApprovalsSpec};
use crate::record::evidence::Approval;
use crate::record::{Body, SYNC_SUCCEEDED};
use crate::sink::registry::{holds, Learn};
use std::collections::{HashMap, VecDeque};

/// Decisions remembered per app.
const DECISIONS_KEPT: usize = 32;

/// One app.
#[derive(Debug, Default, Clone)]
pub struct AppState {
    /// The change's own rules of the last guarded sync, and the seq of that decision.
    pub in_force: Option<(ApprovalsSpec, u64)>,
    /// (revision, seq, evidence) of the latest decisions, oldest first.
    pub decisions: VecDeque<(String, u64, Approval)>,
    /// The revision last synced, and the one judged for it (a Source Hydrator's dry revision).
    pub synced: Option<(String, Option<String>)>,
    pub project: Option<String>,
    /// Destination server and name.
    pub clusters: Vec<String>,
}

/// Every app's state.
#[derive(Debug, Default)]
pub struct Registry {
    apps: HashMap<String, AppState>,
}

impl Registry {
    /// The state of `app` without its decisions (empty when the log says nothing of it): what judging
    /// needs, cheap to copy on every sync record.
    pub fn app(&self, app: &str) -> AppState {
        self.apps
            .get(app)
            .map_or_else(AppState::default, |s| AppState {
                in_force: s.in_force.clone(),
                decisions: VecDeque::new(),
                synced: s.synced.clone(),
                project: s.project.clone(),
                clusters: s.clusters.clone(),
            })
    }

    /// The latest decision for `revision` of `app`.
    pub fn decision(&self, app: &str, revision: &str) -> Option<(u64, Approval)> {
        self.apps
            .get(app)?
            .decisions
            .iter()
            .rev()
            .find_map(|(rev, seq, a)| {
                (rev == revision || a.reviewed.as_deref() == Some(revision))
                    .then(|| (*seq, a.clone()))
            })
    }
}

/// The registry, loaded from the log at start.
pub type Shared = crate::sink::registry::Shared<Registry>;

impl Learn for Registry {
    fn wants(line: &[u8]) -> bool {
        // Only records that can hold approval evidence or a synced revision matter.
        holds(line, b"\"approva") || holds(line, b"sync-succeeded")
    }

    /// Learns from a durable record (a decision seen twice is kept twice, which changes no answer).
    fn observe(&mut self, seq: u64, body: &Body) {
        match body {
            Body::Guard(g) => {
                let Some(Some(approval)) = g.approval.as_present() else {
                    return;
                };
                let Some(revision) = approval.revision.clone().or_else(|| g.revision.clone())
                else {
                    return;
                };
                let state = self.apps.entry(g.app.name.clone()).or_default();
                if state.decisions.len() == DECISIONS_KEPT {
                    state.decisions.pop_front();
                }
                state.decisions.push_back((revision, seq, approval.clone()));
            }
            Body::Sync(s) => {
                let state = self.apps.entry(s.app.name.clone()).or_default();
                if s.app.project.is_some() {
                    state.project.clone_from(&s.app.project);
                }
                let clusters: Vec<String> = [&s.destination.server, &s.destination.name]
                    .into_iter()
                    .flatten()
                    .filter(|c| !c.is_empty())
                    .cloned()
                    .collect();
                if !clusters.is_empty() {
                    state.clusters = clusters;
                }
                if s.event != SYNC_SUCCEEDED || s.phase.as_deref() != Some("Succeeded") {
                    return;
                }
                let Some(revision) = s.revision.clone() else {
                    return;
                };
                let approval = s.approval.as_present().and_then(Option::as_ref);
                let reviewed = approval.and_then(|a| a.reviewed.clone());
                state.synced = Some((revision, reviewed));
                // The rules this change brought are in force for the next one.
                if let Some(a) = approval {
                    if let (Some(decision), false) = (a.decision, a.policy.is_null()) {
                        if let Ok(spec) = approvals::from_value(&a.policy) {
                            state.in_force = Some((spec, decision));
                        }
                    }
                }
            }
            Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => {}
        }
    }
}
