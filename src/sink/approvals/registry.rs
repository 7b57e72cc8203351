//! What the log says about each app's approvals: the rules in force (the change's own rules of the
//! last guarded sync), the evidence of recent decisions by revision, the revision last synced (the
//! next change starts after it), and where the app runs (for floors by cluster). Read from every
//! segment when the sink starts, on a side thread that the first decision waits for; then each
//! durable record is observed in the order the handlers see them.

use crate::policy::approvals::{self, ApprovalsSpec};
use crate::record::evidence::Approval;
use crate::record::{Body, Record, SYNC_SUCCEEDED};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::JoinHandle;

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

    /// Learns from a durable record.
    pub fn observe(&mut self, seq: u64, body: &Body) {
        match body {
            Body::Verify(_) => {}
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
        }
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

/// The registry, loaded on a side thread at start.
pub struct Shared {
    registry: Mutex<Registry>,
    loading: Mutex<Option<JoinHandle<Registry>>>,
}

impl Shared {
    /// Starts reading the log in `data_dir` (its chain was verified when the sink opened it).
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn load(data_dir: PathBuf) -> Result<Shared, String> {
        let handle = std::thread::Builder::new()
            .name("approvals-registry".into())
            .spawn(move || read_log(&data_dir))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Shared {
            registry: Mutex::default(),
            loading: Mutex::new(Some(handle)),
        })
    }

    /// Runs `f` on the registry, once it is loaded. Blocks while the log is read: call it from a
    /// blocking context ([`Shared::with_async`] from async code).
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let handle = self.loading.lock().ok().and_then(|mut l| l.take());
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = handle {
            // A reader that panicked taught nothing: decisions start from an empty registry.
            let loaded = handle.join().unwrap_or_default();
            let mut merged = loaded;
            // Anything observed while loading came after the log's end.
            for (name, state) in std::mem::take(&mut registry.apps) {
                merged.apps.insert(name, state);
            }
            *registry = merged;
        }
        f(&mut registry)
    }

    /// [`Shared::with`] from async code: waits for the load without holding a runtime thread.
    pub async fn with_async<R: Send + 'static>(
        self: &std::sync::Arc<Self>,
        f: impl FnOnce(&mut Registry) -> R + Send + 'static,
    ) -> R {
        let loaded = self.loading.lock().map_or(true, |l| l.is_none());
        if loaded {
            return self.with(f);
        }
        let me = std::sync::Arc::clone(self);
        match tokio::task::spawn_blocking(move || me.with(f)).await {
            Ok(r) => r,
            // The closure panicked: nothing else can be done than to say so where it is seen.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// The registry from every record of the log.
fn read_log(data_dir: &std::path::Path) -> Registry {
    let mut registry = Registry::default();
    let segments = crate::ledger::segment::segments(data_dir).unwrap_or_default();
    for seg in segments {
        let Ok(mut lines) = crate::ledger::line::Lines::of_file(&seg.path, u64::MAX) else {
            continue;
        };
        while let Ok(Some((_, line))) = lines.next_line() {
            // Only records that can hold approval evidence or a synced revision matter.
            if !line.windows(8).any(|w| w == b"\"approva")
                && !line.windows(14).any(|w| w == b"sync-succeeded")
            {
                continue;
            }
            if let Ok(map) = serde_json::from_slice(line) {
                if let Ok(record) = Record::from_map(map) {
                    registry.observe(record.seq, &record.body);
                }
            }
        }
    }
    registry
}
