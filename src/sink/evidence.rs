//! Evidence beside the log: the checkpoint signer and the archive uploader, each on its own thread so
//! that neither ever delays an append. The writer hands every durable head to [`Evidence::durable`]
//! (a store into a shared cell, no I/O); the signer signs a checkpoint when `every_records` records or
//! `every` time have passed since the last one and something new is there, and at shutdown
//! ([`Evidence::finish`]). Each new checkpoint nudges the uploader.

use crate::archive::uploader::{Status as ArchiveStatus, Uploader};
use crate::archive::Archive;
use crate::evidence::checkpoint::{self, Checkpoint, SigningKey};
use crate::ledger::Head;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long shutdown waits for the last archive pass.
const ARCHIVE_FINISH: Duration = Duration::from_secs(5);

/// After a checkpoint could not be written, wait this long before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// What to sign and where to copy it.
#[derive(Debug)]
pub struct Config {
    /// The checkpoint key (`--checkpoint-key-file`); `None`: no checkpoints.
    pub key: Option<SigningKey>,
    /// Sign after this many new records (`--checkpoint-every`).
    pub every_records: u64,
    /// Sign at least this often while new records come in (`--checkpoint-interval`).
    pub every: Duration,
    /// The archive (`--archive`), its retention already checked.
    pub archive: Option<Archive>,
}

/// Counters for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct Status {
    pub checkpoints: AtomicU64,
    pub checkpoint_seq: AtomicU64,
    pub checkpoint_failures: AtomicU64,
    pub archive: Option<Arc<ArchiveStatus>>,
}

impl Status {
    /// The evidence lines of the Prometheus exposition.
    pub fn render(&self, o: &mut String) {
        let rows: [(&str, &str, &str, &AtomicU64); 3] = [
            (
                "sluice_checkpoints_total",
                "counter",
                "Checkpoints signed since start.",
                &self.checkpoints,
            ),
            (
                "sluice_checkpoint_last_seq",
                "gauge",
                "Tree size (seq) of the newest signed checkpoint.",
                &self.checkpoint_seq,
            ),
            (
                "sluice_checkpoint_failures_total",
                "counter",
                "Checkpoints that could not be written.",
                &self.checkpoint_failures,
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
        if let Some(a) = &self.archive {
            a.render(o);
        }
    }

    /// The evidence part of `/healthz`.
    pub fn detail(&self) -> serde_json::Value {
        let mut d = serde_json::json!({"checkpointSeq": self.checkpoint_seq.load(Relaxed)});
        if let Some(a) = &self.archive {
            d["archive"] = a.detail();
        }
        d
    }
}

#[derive(Debug, Default)]
struct Cell {
    head: Option<Head>,
    stopping: bool,
}

/// The running signer and uploader.
#[derive(Debug)]
pub struct Evidence {
    cell: Arc<(Mutex<Cell>, Condvar)>,
    signer_done: Mutex<Option<mpsc::Receiver<()>>>,
    uploader: Option<Arc<Uploader>>,
    pub status: Arc<Status>,
}

impl Evidence {
    /// Starts the signer (when a key is given) and the uploader (when an archive is), over the log
    /// whose durable head is `head`.
    ///
    /// # Errors
    ///
    /// A thread cannot be started, or the checkpoints directory cannot be read.
    pub fn start(config: Config, data_dir: PathBuf, head: Head) -> std::io::Result<Self> {
        let archive_status = config
            .archive
            .as_ref()
            .map(|_| Arc::new(ArchiveStatus::default()));
        let status = Arc::new(Status {
            archive: archive_status.clone(),
            ..Status::default()
        });
        let uploader = match (config.archive, archive_status) {
            (Some(archive), Some(s)) => {
                Some(Arc::new(Uploader::spawn(archive, data_dir.clone(), s)?))
            }
            _ => None,
        };
        let cell = Arc::new((
            Mutex::new(Cell {
                head: Some(head),
                stopping: false,
            }),
            Condvar::new(),
        ));
        let mut signer_done = None;
        if let Some(key) = config.key {
            let last = checkpoint::list(&data_dir)?.last().map_or(0, |(s, _)| *s);
            status.checkpoint_seq.store(last, Relaxed);
            let signer = Signer {
                key,
                data_dir,
                every_records: config.every_records.max(1),
                every: config.every,
                last_seq: last,
                status: Arc::clone(&status),
                uploader: uploader.clone(),
            };
            let (tx, rx) = mpsc::channel();
            let c = Arc::clone(&cell);
            std::thread::Builder::new()
                .name("checkpoints".into())
                .spawn(move || {
                    signer.run(&c);
                    let _ = tx.send(());
                })?;
            signer_done = Some(rx);
        }
        Ok(Evidence {
            cell,
            signer_done: Mutex::new(signer_done),
            uploader,
            status,
        })
    }

    /// The writer made `head` durable.
    pub fn durable(&self, head: &Head) {
        let (lock, cv) = &*self.cell;
        if let Ok(mut c) = lock.lock() {
            c.head = Some(head.clone());
            cv.notify_one();
        }
    }

    /// At shutdown: signs the durable head if it is not signed yet, then gives the archive one last pass
    /// (bounded). Call once appends have stopped.
    pub fn finish(&self) {
        let (lock, cv) = &*self.cell;
        if let Ok(mut c) = lock.lock() {
            c.stopping = true;
            cv.notify_one();
        }
        if let Some(done) = self.signer_done.lock().ok().and_then(|mut d| d.take()) {
            let _ = done.recv();
        }
        if let Some(u) = &self.uploader {
            u.finish(ARCHIVE_FINISH);
        }
    }
}

struct Signer {
    key: SigningKey,
    data_dir: PathBuf,
    every_records: u64,
    every: Duration,
    last_seq: u64,
    status: Arc<Status>,
    uploader: Option<Arc<Uploader>>,
}

impl Signer {
    fn run(mut self, cell: &(Mutex<Cell>, Condvar)) {
        let (lock, cv) = cell;
        let mut last_time = Instant::now();
        // A head that is not signed yet when the sink starts is signed right away.
        let mut first = true;
        loop {
            let Ok(mut c) = lock.lock() else { return };
            let (head, stopping) = loop {
                let head = c.head.clone().unwrap_or_default();
                let new = head.seq > self.last_seq;
                let due = new
                    && (first
                        || head.seq - self.last_seq >= self.every_records
                        || last_time.elapsed() >= self.every);
                first = false;
                if due || c.stopping {
                    break (head, c.stopping);
                }
                // Nothing new: sleep until a record comes. Something new: until the interval is up.
                c = if new {
                    let left = self.every.saturating_sub(last_time.elapsed());
                    match cv.wait_timeout(c, left) {
                        Ok((c, _)) => c,
                        Err(_) => return,
                    }
                } else {
                    match cv.wait(c) {
                        Ok(c) => c,
                        Err(_) => return,
                    }
                };
            };
            drop(c);
            if head.seq > self.last_seq {
                if self.sign(&head) {
                    last_time = Instant::now();
                } else if !stopping {
                    std::thread::sleep(RETRY);
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Signs and stores the checkpoint of `head`; false when it could not be written.
    fn sign(&mut self, head: &Head) -> bool {
        let cp = Checkpoint {
            origin: self.key.name().to_owned(),
            size: head.seq,
            head: head.hash.clone(),
            time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        let stored = cp
            .sign(&self.key)
            .map_err(|e| e.to_string())
            .and_then(|note| {
                checkpoint::store(&self.data_dir, head.seq, &note).map_err(|e| e.to_string())
            });
        match stored {
            Ok(_) => {
                self.last_seq = head.seq;
                self.status.checkpoints.fetch_add(1, Relaxed);
                self.status.checkpoint_seq.store(head.seq, Relaxed);
                tracing::info!(seq = head.seq, "checkpoint signed");
                if let Some(u) = &self.uploader {
                    u.nudge();
                }
                true
            }
            Err(e) => {
                self.status.checkpoint_failures.fetch_add(1, Relaxed);
                tracing::error!(seq = head.seq, error = %e, "cannot write a checkpoint; appends go on, retrying");
                false
            }
        }
    }
}
