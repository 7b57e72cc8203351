//! What the log says about each app's verification: its recent verdicts (the `verification` records,
//! by revision and start), whether it has checks at all (a verdict or a sync's verification member
//! was ever recorded), the revision last synced, and the revert pull requests already opened (so that
//! a second report of the same failure opens none). Measurements in progress are kept in memory only.
//! Read from every segment when the sink starts, on a side thread the first use waits for; then each
//! durable record is observed.

use crate::record::evidence::{PullRequestRef, Verification};
use crate::record::{Body, Record, SYNC_SUCCEEDED};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Verdicts remembered per app.
const VERDICTS_KEPT: usize = 32;
/// Measurements in progress remembered (oldest dropped first).
const PROGRESS_KEPT: usize = 1024;

/// A recorded verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub revision: String,
    pub seq: u64,
    pub verification: Verification,
}

/// One app.
#[derive(Debug, Default, Clone)]
pub struct AppState {
    pub verdicts: VecDeque<Verdict>,
    /// The app's syncs have had checks.
    pub has_checks: bool,
    /// The revision last synced successfully.
    pub synced: Option<String>,
}

/// Every app's state, and what is in progress.
#[derive(Debug, Default)]
pub struct Registry {
    apps: HashMap<String, AppState>,
    /// (app, revision) → the latest progress report.
    progress: HashMap<(String, String), Verification>,
    progress_order: VecDeque<(String, String)>,
    /// (repository, revision) → the revert pull request opened for it.
    reverts: HashMap<(String, String), PullRequestRef>,
}

impl Registry {
    pub fn app(&self, app: &str) -> AppState {
        self.apps.get(app).cloned().unwrap_or_default()
    }

    /// The latest verdict for `revision` of `app` whose verification started at or after `not_before`
    /// (RFC 3339; `None`: any).
    pub fn verdict(&self, app: &str, revision: &str, not_before: Option<&str>) -> Option<Verdict> {
        let since = not_before.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        self.apps
            .get(app)?
            .verdicts
            .iter()
            .rev()
            .find(|v| {
                let started = v
                    .verification
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                same_revision(&v.revision, revision)
                    && since.is_none_or(|s| started.is_none_or(|t| t >= s))
            })
            .cloned()
    }

    /// Keeps a progress report.
    pub fn progress(&mut self, app: &str, revision: &str, v: Verification) {
        let key = (app.to_owned(), revision.to_owned());
        if self.progress.insert(key.clone(), v).is_none() {
            self.progress_order.push_back(key);
        }
        while self.progress_order.len() > PROGRESS_KEPT {
            if let Some(old) = self.progress_order.pop_front() {
                self.progress.remove(&old);
            }
        }
        self.apps.entry(app.to_owned()).or_default().has_checks = true;
    }

    /// The latest progress of `revision` of `app`.
    pub fn in_progress(&self, app: &str, revision: &str) -> Option<Verification> {
        self.progress
            .iter()
            .find(|((a, r), _)| a == app && same_revision(r, revision))
            .map(|(_, v)| v.clone())
    }

    /// The revert pull request already opened for `revision` of `repository`.
    pub fn revert(&self, repository: &str, revision: &str) -> Option<PullRequestRef> {
        self.reverts
            .get(&(repository.to_owned(), revision.to_owned()))
            .cloned()
    }

    pub fn remember_revert(&mut self, repository: &str, revision: &str, pull: PullRequestRef) {
        self.reverts
            .insert((repository.to_owned(), revision.to_owned()), pull);
    }

    /// Learns from a durable record.
    pub fn observe(&mut self, seq: u64, body: &Body) {
        match body {
            Body::Verify(v) => {
                let revision = v.revision.clone().unwrap_or_default();
                let state = self.apps.entry(v.app.name.clone()).or_default();
                state.has_checks = true;
                if state.verdicts.len() == VERDICTS_KEPT {
                    state.verdicts.pop_front();
                }
                state.verdicts.push_back(Verdict {
                    revision: revision.clone(),
                    seq,
                    verification: v.verification.clone(),
                });
                self.progress.remove(&(v.app.name.clone(), revision));
            }
            Body::Sync(s) => {
                let verification = s.verification.as_present().and_then(Option::as_ref);
                let state = self.apps.entry(s.app.name.clone()).or_default();
                if verification.is_some() {
                    state.has_checks = true;
                }
                if s.event == SYNC_SUCCEEDED && s.phase.as_deref() == Some("Succeeded") {
                    state.synced.clone_from(&s.revision);
                }
                let opened = verification
                    .and_then(|v| v.rollback.as_ref())
                    .and_then(|r| {
                        Some((
                            r.repository.clone()?,
                            r.revision.clone()?,
                            r.pull_request.clone()?,
                        ))
                    });
                if let Some((repository, revision, pull)) = opened {
                    self.reverts.insert((repository, revision), pull);
                }
            }
            Body::Guard(_) => {}
        }
    }
}

/// Revisions match in full, or when one is the other's abbreviation (the hook knows the full commit;
/// an old report may carry the short one).
fn same_revision(a: &str, b: &str) -> bool {
    !a.is_empty()
        && !b.is_empty()
        && (a == b || (a.len() >= 7 && b.starts_with(a)) || (b.len() >= 7 && a.starts_with(b)))
}

/// The registry, loaded on a side thread at start.
pub struct Shared {
    registry: Mutex<Registry>,
    loading: Mutex<Option<JoinHandle<Registry>>>,
}

impl Shared {
    /// Starts reading the log in `data_dir`.
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn load(data_dir: PathBuf) -> Result<Shared, String> {
        let handle = std::thread::Builder::new()
            .name("verification-registry".into())
            .spawn(move || read_log(&data_dir))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Shared {
            registry: Mutex::default(),
            loading: Mutex::new(Some(handle)),
        })
    }

    /// Runs `f` on the registry once it is loaded; blocks while the log is read.
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let handle = self.loading.lock().ok().and_then(|mut l| l.take());
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = handle {
            // A reader that panicked taught nothing: start from an empty registry.
            let mut loaded = handle.join().unwrap_or_default();
            let observed = std::mem::take(&mut *registry);
            // What was observed while loading came after the log's end.
            for (name, state) in observed.apps {
                let entry = loaded.apps.entry(name).or_default();
                entry.has_checks |= state.has_checks;
                entry.verdicts.extend(state.verdicts);
                if state.synced.is_some() {
                    entry.synced = state.synced;
                }
            }
            loaded.progress.extend(observed.progress);
            loaded.progress_order.extend(observed.progress_order);
            loaded.reverts.extend(observed.reverts);
            *registry = loaded;
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
            // Only verification records, syncs with a verification member, and successful syncs.
            if !line.windows(13).any(|w| w == b"\"verification")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviated_revisions_match_full_ones() {
        assert!(same_revision("0123456789abcdef", "0123456"));
        assert!(same_revision("0123456", "0123456789abcdef"));
        assert!(!same_revision("0123", "0123456789abcdef"));
        assert!(!same_revision("", ""));
    }
}
