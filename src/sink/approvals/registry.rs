//! What the log says about each app's approvals: the rules in force (the change's own rules of the
//! last guarded sync), the recent decisions by revision (their seqs: the evidence is in the records),
//! the revision last synced (the next change starts after it), and where the app runs (for floors by
//! cluster). Part of the sink's memory of the log (src/sink/memory.rs): the ledger feeds it each record
//! once it is in the log, in log order, and keeps it beside the verified-prefix marker, so a restart
//! reads nothing. It reads the record as the log holds it (its line's members, `record::facts`), never
//! parsing a whole record: it sees every record the sink writes, and every record of the log when that
//! is verified, each line read on any core and learnt in log order.

use crate::policy::approvals::{self, ApprovalsSpec};
use crate::record::facts::{self, Facts, Member, Members};
use crate::record::{
    EMERGENCY_REVIEW, GUARD_DECISION, SYNC_SUCCEEDED, VERIFICATION, WATCH_CONFIRMATION,
};
use serde::{Deserialize, Serialize};
#[cfg(test)]
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};

/// Decisions remembered per app.
const DECISIONS_KEPT: usize = 32;

/// A guard decision that carries approval evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// The revision decided on.
    pub revision: String,
    /// The revision judged for it (a Source Hydrator's dry revision), when another.
    pub reviewed: Option<String>,
    /// The decision's record.
    pub seq: u64,
}

/// One app.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppState {
    /// The change's own rules of the last guarded sync, and the seq of that decision.
    pub in_force: Option<(ApprovalsSpec, u64)>,
    /// The latest decisions, oldest first.
    pub decisions: VecDeque<Decided>,
    /// The revision last synced, and the one judged for it (a Source Hydrator's dry revision).
    pub synced: Option<(String, Option<String>)>,
    pub project: Option<String>,
    /// Destination server and name.
    pub clusters: Vec<String>,
}

/// Every app's state.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    apps: HashMap<String, AppState>,
}

/// What a record teaches the registry: read from its line on any core ([`Registry::lesson`]), learnt
/// in log order ([`Registry::learn`]).
#[derive(Debug, Default)]
pub enum Lesson {
    #[default]
    Nothing,
    /// A guard decision of `app` with approval evidence.
    Decided { app: String, decided: Decided },
    /// Another record of `app`: its project and clusters when it names them, and, for a successful
    /// sync, the revision synced and the rules it brought.
    Seen {
        app: String,
        project: Option<String>,
        clusters: Vec<String>,
        synced: Option<Synced>,
    },
}

/// A successful sync: the revision synced, the one judged for it, and the rules it brought.
#[derive(Debug)]
pub struct Synced {
    revision: (String, Option<String>),
    in_force: Option<(ApprovalsSpec, u64)>,
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

    /// What a record that is in the log teaches (its members as the line holds them).
    pub fn lesson(record: &Facts<'_>) -> Lesson {
        let Some(app) = record.named(&["app", "name"]) else {
            return Lesson::Nothing;
        };
        let seq = record.get("seq").and_then(Member::u64).unwrap_or(0);
        let approval = record.filled(&["approval"]);
        match record.text(&["event"]).as_deref() {
            Some(VERIFICATION | EMERGENCY_REVIEW | WATCH_CONFIRMATION) | None => Lesson::Nothing,
            Some(GUARD_DECISION) => {
                let Some(approval) = approval else {
                    return Lesson::Nothing;
                };
                let Some(revision) = approval
                    .named(&["revision"])
                    .or_else(|| record.named(&["revision"]))
                else {
                    return Lesson::Nothing;
                };
                let reviewed = approval.named(&["reviewed"]);
                Lesson::Decided {
                    app,
                    decided: Decided {
                        revision,
                        reviewed,
                        seq,
                    },
                }
            }
            Some(event) => {
                let clusters = [
                    record.named(&["destination", "server"]),
                    record.named(&["destination", "name"]),
                ]
                .into_iter()
                .flatten()
                .collect();
                let synced = (event == SYNC_SUCCEEDED
                    && record.text(&["phase"]).as_deref() == Some("Succeeded"))
                .then(|| record.named(&["revision"]))
                .flatten()
                .map(|revision| {
                    let reviewed = approval.as_ref().and_then(|a| a.named(&["reviewed"]));
                    // The rules this change brought are in force for the next one.
                    let decision = approval.as_ref().and_then(|a| a.get("decision")?.u64());
                    let policy = approval
                        .as_ref()
                        .and_then(|a| a.get("policy"))
                        .filter(|p| !p.is_null())
                        .and_then(Member::value);
                    let in_force = decision.zip(policy).and_then(|(decision, policy)| {
                        Some((approvals::from_value(&policy).ok()?, decision))
                    });
                    Synced {
                        revision: (revision, reviewed),
                        in_force,
                    }
                });
                Lesson::Seen {
                    app,
                    project: record.named(&["app", "project"]),
                    clusters,
                    synced,
                }
            }
        }
    }

    /// Learns what a record that is in the log teaches (each once, in log order).
    pub fn learn(&mut self, lesson: &Lesson) {
        match lesson {
            Lesson::Nothing => {}
            Lesson::Decided { app, decided } => {
                let state = facts::entry(&mut self.apps, app);
                if state.decisions.len() == DECISIONS_KEPT {
                    state.decisions.pop_front();
                }
                state.decisions.push_back(decided.clone());
            }
            Lesson::Seen {
                app,
                project,
                clusters,
                synced,
            } => {
                let state = facts::entry(&mut self.apps, app);
                if project.is_some() && state.project != *project {
                    state.project.clone_from(project);
                }
                if !clusters.is_empty() && state.clusters != *clusters {
                    state.clusters.clone_from(clusters);
                }
                if let Some(synced) = synced {
                    state.synced = Some(synced.revision.clone());
                    if let Some(in_force) = &synced.in_force {
                        state.in_force = Some(in_force.clone());
                    }
                }
            }
        }
    }

    /// Learns from a record that is in the log (its members as the line holds them).
    #[cfg(test)]
    pub fn observe(&mut self, record: &Map<String, Value>) {
        let lesson = facts::of_map(record, |facts, _| Self::lesson(facts));
        self.learn(&lesson);
    }

    /// The seq of the latest decision for `revision` of `app`.
    pub fn decision(&self, app: &str, revision: &str) -> Option<u64> {
        self.apps
            .get(app)?
            .decisions
            .iter()
            .rev()
            .find(|d| d.revision == revision || d.reviewed.as_deref() == Some(revision))
            .map(|d| d.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observe(r: &mut Registry, record: &Value) {
        r.observe(record.as_object().expect("an object"));
    }

    #[test]
    fn learns_decisions_the_revision_synced_and_the_rules_in_force_and_saves_them() {
        let mut r = Registry::default();
        observe(
            &mut r,
            &json!({"seq": 3, "event": "guard-decision", "app": {"name": "shop"}, "revision": "abc",
                    "approval": {"revision": "abc", "reviewed": "dry1", "verdict": "approved"}}),
        );
        observe(
            &mut r,
            &json!({"seq": 4, "event": "guard-decision", "app": {"name": "shop"}, "revision": "def"}),
        );
        assert_eq!(r.decision("shop", "abc"), Some(3));
        assert_eq!(
            r.decision("shop", "dry1"),
            Some(3),
            "by the revision judged"
        );
        assert_eq!(r.decision("shop", "def"), None, "no approval evidence");
        observe(
            &mut r,
            &json!({"seq": 5, "event": "sync-succeeded", "phase": "Succeeded", "revision": "abc",
                    "app": {"name": "shop", "project": "team"},
                    "destination": {"server": "https://kubernetes.default.svc", "name": null},
                    "approval": {"reviewed": "dry1", "decision": 3, "policy": {"required": 2}}}),
        );
        let state = r.app("shop");
        assert_eq!(state.synced, Some(("abc".into(), Some("dry1".into()))));
        assert_eq!(state.project.as_deref(), Some("team"));
        assert_eq!(state.clusters, vec!["https://kubernetes.default.svc"]);
        let (spec, decision) = state.in_force.expect("rules in force");
        assert_eq!((spec.required, decision), (2, 3));
        // A failed sync teaches where the app runs, not what was synced.
        observe(
            &mut r,
            &json!({"seq": 6, "event": "sync-failed", "phase": "Failed", "revision": "zzz",
                    "app": {"name": "shop"}, "destination": {"name": "prod"}}),
        );
        assert_eq!(r.app("shop").synced.map(|s| s.0).as_deref(), Some("abc"));
        assert_eq!(r.app("shop").clusters, vec!["prod"]);
        let saved = serde_json::to_value(&r).expect("save");
        let loaded: Registry = serde_json::from_value(saved).expect("load");
        assert_eq!(loaded, r);
    }

    #[test]
    fn keeps_the_latest_decisions_of_an_app() {
        let mut r = Registry::default();
        for seq in 1..=(DECISIONS_KEPT as u64 + 5) {
            observe(
                &mut r,
                &json!({"seq": seq, "event": "guard-decision", "app": {"name": "a"},
                        "approval": {"revision": format!("r{seq}")}}),
            );
        }
        assert_eq!(r.decision("a", "r1"), None);
        assert_eq!(r.decision("a", "r37"), Some(37));
        assert_eq!(r.apps["a"].decisions.len(), DECISIONS_KEPT);
    }
}
