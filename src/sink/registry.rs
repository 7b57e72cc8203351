//! What the sink's gates learn from the log (src/sink/approvals, src/sink/tickets): a registry of any
//! kind that [`Learn`]s from records, read from every segment when the sink starts, on a side thread
//! that the first use waits for; then each durable record is observed in the order the handlers see
//! them. A record appended while the log is read may be observed twice (once by the reader, once by
//! its handler), so observing must be idempotent.

use crate::record::{Body, Record};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A registry that learns from the records of the log.
pub trait Learn: Default + Send + 'static {
    /// Whether a line of the log can teach anything (a cheap test of its bytes before it is parsed).
    fn wants(line: &[u8]) -> bool;
    /// Learns from a durable record.
    fn observe(&mut self, seq: u64, body: &Body);
}

/// A registry, loaded on a side thread at start.
pub struct Shared<R> {
    registry: Mutex<R>,
    loading: Mutex<Option<JoinHandle<R>>>,
}

impl<R: Learn> Shared<R> {
    /// Starts reading the log in `data_dir` (its chain was verified when the sink opened it) on a
    /// thread named `name`.
    ///
    /// # Errors
    ///
    /// The thread cannot be started.
    pub fn load(data_dir: PathBuf, name: &str) -> Result<Shared<R>, String> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || read_log::<R>(&data_dir))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Shared {
            registry: Mutex::default(),
            loading: Mutex::new(Some(handle)),
        })
    }

    /// Runs `f` on the registry, once it is loaded. Blocks while the log is read: call it from a
    /// blocking context ([`Shared::with_async`] from async code).
    pub fn with<T>(&self, f: impl FnOnce(&mut R) -> T) -> T {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let handle = self.loading.lock().ok().and_then(|mut l| l.take());
        if let Some(handle) = handle {
            // A reader that panicked taught nothing: the gate starts from an empty registry.
            *registry = handle.join().unwrap_or_default();
        }
        f(&mut registry)
    }

    /// Runs `f` on the registry if it is loaded by now (never blocks on the load): for `/metrics`.
    pub fn peek<T>(&self, f: impl FnOnce(&R) -> T) -> Option<T> {
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut loading = self.loading.lock().ok()?;
        if loading.as_ref().is_some_and(|h| !h.is_finished()) {
            return None;
        }
        if let Some(handle) = loading.take() {
            *registry = handle.join().unwrap_or_default();
        }
        Some(f(&registry))
    }

    /// [`Shared::with`] from async code: waits for the load without holding a runtime thread.
    pub async fn with_async<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut R) -> T + Send + 'static,
    ) -> T {
        let loaded = self.loading.lock().map_or(true, |l| l.is_none());
        if loaded {
            return self.with(f);
        }
        let me = Arc::clone(self);
        match tokio::task::spawn_blocking(move || me.with(f)).await {
            Ok(r) => r,
            // The closure panicked: nothing else can be done than to say so where it is seen.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// The registry from every record of the log.
fn read_log<R: Learn>(data_dir: &Path) -> R {
    let mut registry = R::default();
    let segments = crate::ledger::segment::segments(data_dir).unwrap_or_default();
    for seg in segments {
        let Ok(mut lines) = crate::ledger::line::Lines::of_file(&seg.path, u64::MAX) else {
            continue;
        };
        while let Ok(Some((_, line))) = lines.next_line() {
            if !R::wants(line) {
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

/// Whether `haystack` holds `needle` (for [`Learn::wants`]).
pub fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
