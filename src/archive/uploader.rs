//! The background copy of the evidence of a data directory (approval and ticket snapshots, sealed
//! segments, tiles, checkpoints: archive/objects.rs) into the archive: a task its owner runs (the sink
//! runs it on its one runtime; it starts no thread or runtime of its own). It lists what the archive
//! has once (and reads the newest checkpoint there, for the signer), then on every nudge (a new
//! checkpoint) or poll looks for local files the archive lacks and copies them, oldest first, each
//! streamed from its file. A failing copy is
//! retried with exponential backoff (1 s doubling to 30 s); nothing here ever waits on the log's writer,
//! and the writer never waits on it. What is pending and what failed is in [`Progress`] (`/metrics`,
//! `/healthz`).

use super::{Archive, Put};
use crate::evidence::checkpoint;
use crate::ledger::segment::SEGMENTS_DIR;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often the local directories are looked at without a nudge (a segment sealed by the writer).
const POLL: Duration = Duration::from_secs(5);

/// The archive's progress, shared with `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct Progress {
    pub lag_segments: AtomicU64,
    pub lag_checkpoints: AtomicU64,
    pub uploads: AtomicU64,
    pub failures: AtomicU64,
    pub last_success_unix: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Whether the archive was listed (once, at start).
    pub listed: AtomicBool,
    /// The newest checkpoint in the archive when it was listed (name, note): the signer must not sign
    /// a tree that does not extend it, even when the local copy is gone.
    pub latest_checkpoint: Mutex<Option<(String, String)>>,
}

impl Progress {
    /// The last error, while copies are failing.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// How the owner steers the uploader: a nudge when something new may be there, and the end.
#[derive(Debug, Default)]
pub struct Control {
    wake: Notify,
    stopping: AtomicBool,
}

impl Control {
    /// Something new may be there to copy (a checkpoint was just written).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Makes one last pass and then ends the uploader.
    pub fn finish(&self) {
        self.stopping.store(true, Relaxed);
        self.wake.notify_one();
    }
}

/// Copies what the archive lacks until [`Control::finish`], then makes one last pass and returns.
pub async fn run(archive: &Archive, data_dir: &Path, progress: &Progress, control: &Control) {
    let mut archived: HashSet<String> = HashSet::new();
    let mut listed = false;
    let mut backoff = MIN_BACKOFF;
    loop {
        let stopping = control.stopping.load(Relaxed);
        let outcome = pass(archive, data_dir, progress, &mut archived, &mut listed).await;
        match outcome {
            Ok(()) => {
                backoff = MIN_BACKOFF;
                if let Ok(mut e) = progress.last_error.lock() {
                    *e = None;
                }
                let now = chrono::Utc::now().timestamp();
                progress
                    .last_success_unix
                    .store(u64::try_from(now).unwrap_or(0), Relaxed);
            }
            Err(why) => {
                progress.failures.fetch_add(1, Relaxed);
                tracing::warn!(archive = archive.url(), error = %why, retry_in = ?backoff, "archive upload failed; appends go on, retrying");
                if let Ok(mut e) = progress.last_error.lock() {
                    *e = Some(why);
                }
            }
        }
        if stopping {
            return;
        }
        let wait = if progress.last_error().is_some() {
            let wait = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            wait
        } else {
            POLL
        };
        tokio::select! {
            () = control.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass: learn what the archive holds (once), then put every local file it lacks, snapshots first.
async fn pass(
    archive: &Archive,
    data_dir: &Path,
    status: &Progress,
    archived: &mut HashSet<String>,
    listed: &mut bool,
) -> Result<(), String> {
    let pending =
        pending(data_dir, archived).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    set_lag(status, &pending);
    if !*listed {
        for dir in super::objects::DIRS {
            archived.extend(archive.list_all(dir).await.map_err(|e| e.to_string())?);
        }
        learn_latest(archive, archived, status).await?;
        *listed = true;
        status.listed.store(true, Relaxed);
    }
    let mut pending = pending;
    pending.retain(|(name, _)| !archived.contains(name));
    set_lag(status, &pending);
    while let Some((name, path)) = pending.first().cloned() {
        if archive
            .put_file_once(&name, &path)
            .await
            .map_err(|e| e.to_string())?
            == Put::Created
        {
            status.uploads.fetch_add(1, Relaxed);
        }
        archived.insert(name);
        pending.remove(0);
        set_lag(status, &pending);
    }
    Ok(())
}

/// Reads the newest checkpoint of the archive into `status`.
async fn learn_latest(
    archive: &Archive,
    archived: &HashSet<String>,
    status: &Progress,
) -> Result<(), String> {
    let dir = format!("{}/", checkpoint::DIR);
    let newest = archived
        .iter()
        .filter(|n| {
            n.strip_prefix(&dir)
                .and_then(checkpoint::size_of_name)
                .is_some()
        })
        .max();
    let Some(name) = newest else {
        return Ok(());
    };
    let bytes = archive.get(name).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if let Ok(mut latest) = status.latest_checkpoint.lock() {
        *latest = Some((format!("{}/{name}", archive.url()), text));
    }
    Ok(())
}

fn set_lag(status: &Progress, pending: &[(String, PathBuf)]) {
    let count = |dir: &str| {
        pending
            .iter()
            .filter(|(n, _)| n.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
            .count() as u64
    };
    status.lag_segments.store(count(SEGMENTS_DIR), Relaxed);
    status
        .lag_checkpoints
        .store(count(checkpoint::DIR), Relaxed);
}

/// The archive names of the local files to archive that are not in `archived`, in the order they are
/// put (archive/objects.rs: a record's snapshots before its segment, a checkpoint after its tiles).
///
/// # Errors
///
/// A directory cannot be read.
pub fn pending(
    data_dir: &Path,
    archived: &HashSet<String>,
) -> std::io::Result<Vec<(String, PathBuf)>> {
    Ok(super::objects::local(data_dir)?
        .into_iter()
        .filter(|(name, _)| !archived.contains(name))
        .collect())
}

/// Copies every object of `data_dir` (archive/objects.rs) the archive lacks, once (`audit archive`).
/// Unlike the background uploader it does not trust the listing: every local file is put, so one that
/// is there already is compared byte for byte. Gives how many objects were written.
///
/// # Errors
///
/// A directory cannot be read, or a put fails (including a name that exists with other content).
pub async fn sync_once(archive: &Archive, data_dir: &Path) -> Result<usize, String> {
    let status = Progress::default();
    let mut archived = HashSet::new();
    let mut listed = true;
    pass(archive, data_dir, &status, &mut archived, &mut listed).await?;
    Ok(usize::try_from(status.uploads.load(Relaxed)).unwrap_or(usize::MAX))
}
