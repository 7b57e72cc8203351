//! Evidence beside the log: the checkpoint signer and the archive uploader, two tasks on the sink's
//! runtime, so that neither ever delays an append. The writer hands every durable head to the
//! [`Evidence::on_durable`] handle (a store into a watch channel, no I/O); the signer signs a checkpoint
//! when `every_records` records or `every` time have passed since the last one and something new is
//! there, and at shutdown ([`Evidence::finish`]); signing and storing a checkpoint (an fsync) run on the
//! runtime's blocking pool. Each new checkpoint nudges the uploader.

use super::metrics::{Checkpoints, Metrics};
use crate::archive::uploader::{self, Control, Progress};
use crate::archive::Archive;
use crate::evidence::checkpoint::{self, Checkpoint, SigningKey};
use crate::ledger::Head;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long shutdown waits for the last archive pass (a pass interrupted here resumes at the next
/// start: what is in the archive is never partial).
const ARCHIVE_FINISH: Duration = Duration::from_secs(1);

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

/// The running signer and uploader.
pub struct Evidence {
    heads: watch::Sender<Head>,
    stopping: watch::Sender<bool>,
    signer: Option<JoinHandle<()>>,
    uploader: Option<(JoinHandle<()>, Arc<Control>)>,
}

impl Evidence {
    /// Starts the signer (when a key is given) and the uploader (when an archive is) on the current
    /// runtime, over the log whose durable head is `head`; their figures go to `metrics`.
    ///
    /// # Errors
    ///
    /// The checkpoints directory cannot be read.
    pub fn start(
        config: Config,
        data_dir: PathBuf,
        head: Head,
        metrics: &Metrics,
    ) -> std::io::Result<Self> {
        let figures = Arc::new(Checkpoints::default());
        let _ = metrics.checkpoints.set(Arc::clone(&figures));
        let (heads, heads_rx) = watch::channel(head);
        let (stopping, stopping_rx) = watch::channel(false);
        let uploader = config.archive.map(|archive| {
            let progress = Arc::new(Progress::default());
            let _ = metrics.archive.set(Arc::clone(&progress));
            let control = Arc::new(Control::default());
            let (c, dir) = (Arc::clone(&control), data_dir.clone());
            let task =
                tokio::spawn(async move { uploader::run(&archive, &dir, &progress, &c).await });
            (task, control)
        });
        let mut signer = None;
        if let Some(key) = config.key {
            let last = checkpoint::list(&data_dir)?.last().map_or(0, |(s, _)| *s);
            figures.last_seq.store(last, Relaxed);
            let s = Signer {
                key: Arc::new(key),
                data_dir,
                every_records: config.every_records.max(1),
                every: config.every,
                last_seq: last,
                figures,
                uploader: uploader.as_ref().map(|(_, c)| Arc::clone(c)),
            };
            signer = Some(tokio::spawn(s.run(heads_rx, stopping_rx)));
        }
        Ok(Evidence {
            heads,
            stopping,
            signer,
            uploader,
        })
    }

    /// What the writer calls with each new durable head (never blocks).
    pub fn on_durable(&self) -> impl Fn(&Head) + Send + 'static {
        let heads = self.heads.clone();
        move |head: &Head| {
            heads.send_replace(head.clone());
        }
    }

    /// At shutdown, once appends have stopped: signs the durable head if it is not signed yet, then
    /// gives the archive one last pass (bounded).
    pub async fn finish(self) {
        self.stopping.send_replace(true);
        if let Some(signer) = self.signer {
            let _ = signer.await;
        }
        if let Some((task, control)) = self.uploader {
            control.finish();
            if tokio::time::timeout(ARCHIVE_FINISH, task).await.is_err() {
                tracing::info!("the last archive pass did not finish; what is left is copied at the next start");
            }
        }
    }
}

struct Signer {
    key: Arc<SigningKey>,
    data_dir: PathBuf,
    every_records: u64,
    every: Duration,
    last_seq: u64,
    figures: Arc<Checkpoints>,
    uploader: Option<Arc<Control>>,
}

impl Signer {
    async fn run(mut self, mut heads: watch::Receiver<Head>, mut stopping: watch::Receiver<bool>) {
        let mut last_time = Instant::now();
        // A head that is not signed yet when the sink starts is signed right away.
        let mut first = true;
        loop {
            let head = heads.borrow_and_update().clone();
            let stop = *stopping.borrow_and_update();
            let new = head.seq > self.last_seq;
            let due = new
                && (first
                    || stop
                    || head.seq - self.last_seq >= self.every_records
                    || last_time.elapsed() >= self.every);
            first = false;
            if due {
                if self.sign(&head).await {
                    last_time = Instant::now();
                } else if stop {
                    return;
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        _ = stopping.wait_for(|s| *s) => {}
                    }
                }
                continue;
            }
            if stop {
                return;
            }
            // Nothing new: wait for a record. Something new: until the interval is up.
            let left = self.every.saturating_sub(last_time.elapsed());
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(left), if new => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// Signs and stores the checkpoint of `head`; false when it could not be written.
    async fn sign(&mut self, head: &Head) -> bool {
        let cp = Checkpoint {
            origin: self.key.name().to_owned(),
            size: head.seq,
            head: head.hash.clone(),
            time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        let (key, dir, seq) = (Arc::clone(&self.key), self.data_dir.clone(), head.seq);
        let stored = tokio::task::spawn_blocking(move || {
            let note = cp.sign(&key).map_err(|e| e.to_string())?;
            checkpoint::store(&dir, seq, &note).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match stored {
            Ok(_) => {
                self.last_seq = head.seq;
                self.figures.signed.fetch_add(1, Relaxed);
                self.figures.last_seq.store(head.seq, Relaxed);
                tracing::info!(seq = head.seq, "checkpoint signed");
                if let Some(u) = &self.uploader {
                    u.nudge();
                }
                true
            }
            Err(e) => {
                self.figures.failures.fetch_add(1, Relaxed);
                tracing::error!(seq = head.seq, error = %e, "cannot write a checkpoint; appends go on, retrying");
                false
            }
        }
    }
}
