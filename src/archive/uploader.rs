//! The background copy of the evidence of a data directory (approval snapshots, sealed segments, tiles,
//! checkpoints: archive/objects.rs) into the archive. One thread with its own small tokio runtime: it lists what the archive has once, then on every nudge (a new checkpoint) or
//! poll looks for local files the archive lacks and puts them, oldest first. A failing put is retried
//! with exponential backoff (1 s doubling to 30 s); nothing here ever waits on the log's writer, and
//! the writer never waits on it. What is pending and what failed is in [`Status`] (`/metrics`, `/healthz`).

use super::{Archive, Put};
use crate::ledger::segment::SEGMENTS_DIR;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How often the local directories are looked at without a nudge (a segment sealed by the writer).
const POLL: Duration = Duration::from_secs(5);

/// The archive's progress, shared with `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct Status {
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

impl Status {
    /// The archive's lines of the Prometheus exposition.
    pub fn render(&self, o: &mut String) {
        let rows: [(&str, &str, &str, &AtomicU64); 5] = [
            (
                "sluice_archive_lag_segments",
                "gauge",
                "Sealed segments not yet in the archive.",
                &self.lag_segments,
            ),
            (
                "sluice_archive_lag_checkpoints",
                "gauge",
                "Checkpoints not yet in the archive.",
                &self.lag_checkpoints,
            ),
            (
                "sluice_archive_uploads_total",
                "counter",
                "Objects written to the archive.",
                &self.uploads,
            ),
            (
                "sluice_archive_upload_failures_total",
                "counter",
                "Failed archive uploads (each retried with backoff).",
                &self.failures,
            ),
            (
                "sluice_archive_last_success_timestamp_seconds",
                "gauge",
                "Unix time of the last archive pass that left nothing pending.",
                &self.last_success_unix,
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
    }

    /// The archive's part of `/healthz`.
    pub fn detail(&self) -> serde_json::Value {
        let error = self.last_error.lock().ok().and_then(|e| e.clone());
        serde_json::json!({
            "state": if error.is_some() { "retrying" } else { "ok" },
            "lagSegments": self.lag_segments.load(Relaxed),
            "lagCheckpoints": self.lag_checkpoints.load(Relaxed),
            "uploadFailures": self.failures.load(Relaxed),
            "lastError": error,
        })
    }
}

/// The running uploader.
#[derive(Debug)]
pub struct Uploader {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    done: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Uploader {
    /// Starts the uploader thread over `data_dir`.
    ///
    /// # Errors
    ///
    /// The thread or its runtime cannot be started.
    pub fn spawn(
        archive: Archive,
        data_dir: PathBuf,
        status: Arc<Status>,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = mpsc::channel();
        let (w, s) = (Arc::clone(&wake), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || {
                runtime.block_on(run(&archive, &data_dir, &status, &w, &s));
                let _ = done_tx.send(());
            })?;
        Ok(Uploader {
            wake,
            stop,
            done: Mutex::new(Some(done)),
        })
    }

    /// Something new may be there to copy (a checkpoint was just written).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// One last pass, waiting at most `bound` for it (at shutdown).
    pub fn finish(&self, bound: Duration) {
        self.stop.store(true, Relaxed);
        self.wake.notify_one();
        if let Some(done) = self.done.lock().ok().and_then(|mut d| d.take()) {
            let _ = done.recv_timeout(bound);
        }
    }
}

async fn run(
    archive: &Archive,
    data_dir: &Path,
    status: &Status,
    wake: &Notify,
    stop: &AtomicBool,
) {
    let mut archived: HashSet<String> = HashSet::new();
    let mut listed = false;
    let mut backoff = MIN_BACKOFF;
    loop {
        let stopping = stop.load(Relaxed);
        let outcome = pass(archive, data_dir, status, &mut archived, &mut listed).await;
        match outcome {
            Ok(()) => {
                backoff = MIN_BACKOFF;
                if let Ok(mut e) = status.last_error.lock() {
                    *e = None;
                }
                let now = chrono::Utc::now().timestamp();
                status
                    .last_success_unix
                    .store(u64::try_from(now).unwrap_or(0), Relaxed);
            }
            Err(why) => {
                status.failures.fetch_add(1, Relaxed);
                tracing::warn!(archive = archive.url(), error = %why, retry_in = ?backoff, "archive upload failed; appends go on, retrying");
                if let Ok(mut e) = status.last_error.lock() {
                    *e = Some(why);
                }
            }
        }
        if stopping {
            return;
        }
        let failing = status.last_error.lock().is_ok_and(|e| e.is_some());
        if failing {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// One pass: learn what the archive holds (once), then put every local file it lacks, segments first.
async fn pass(
    archive: &Archive,
    data_dir: &Path,
    status: &Status,
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
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if archive
            .put_once(&name, bytes)
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
    status: &Status,
) -> Result<(), String> {
    let dir = format!("{}/", crate::evidence::checkpoint::DIR);
    let newest = archived
        .iter()
        .filter(|n| {
            n.strip_prefix(&dir)
                .and_then(crate::evidence::checkpoint::size_of_name)
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

fn set_lag(status: &Status, pending: &[(String, PathBuf)]) {
    let count = |dir: &str| {
        pending
            .iter()
            .filter(|(n, _)| n.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
            .count() as u64
    };
    status.lag_segments.store(count(SEGMENTS_DIR), Relaxed);
    status
        .lag_checkpoints
        .store(count(crate::evidence::checkpoint::DIR), Relaxed);
}

/// The archive names of the local files to archive that are not in `archived`, in the order they are
/// put (archive/objects.rs).
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
    let status = Status::default();
    let mut archived = HashSet::new();
    let mut listed = true;
    pass(archive, data_dir, &status, &mut archived, &mut listed).await?;
    Ok(usize::try_from(status.uploads.load(Relaxed)).unwrap_or(usize::MAX))
}
