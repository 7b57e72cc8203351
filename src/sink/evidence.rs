//! Evidence beside the log: the checkpoint signer and the archive uploader, two tasks on the sink's
//! runtime, so that neither ever delays an append. The writer hands every durable head to the
//! [`Evidence::on_durable`] handle (a store into a watch channel, no I/O); the signer signs a
//! checkpoint of the Merkle tree when `every_records` records or `every` time have passed since the
//! last one and something new is there, and at shutdown ([`Evidence::finish`]). It signs only a tree
//! that extends the newest checkpoint signed before, found locally or in the archive (evidence/sign.rs):
//! otherwise it refuses, and `/healthz`, `/metrics` and the alert say so. Each checkpoint goes to the
//! witnesses (witnesses.rs), whose cosignatures are kept in `witnessed/`, and nudges the uploader. A
//! signing round (reading the tree, proving consistency, writing tiles and the checkpoint, asking the
//! witnesses) is blocking work: it runs on the runtime's blocking pool, one round at a time.

use super::metrics::{Checkpoints, Metrics};
use super::witnesses::Witness;
use crate::archive::uploader::{self, Control, Progress};
use crate::archive::Archive;
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::note::{SigningKey, VerifierKey};
use crate::evidence::sign::{self, Signed};
use crate::ledger::tree::{self, tile};
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

/// After a checkpoint could not be written (or was refused), wait this long before trying again.
const RETRY: Duration = Duration::from_secs(5);

/// How often a checkpoint no witness cosigned yet is submitted again.
const WITNESS_RETRY: Duration = Duration::from_secs(30);

/// How long after start the signer waits for the archive's newest checkpoint before it signs without it.
const ARCHIVE_WAIT: Duration = Duration::from_mins(1);

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
    /// The witnesses (`--witness URL --witness-key FILE`): submission prefix and cosigning key.
    pub witnesses: Vec<(String, VerifierKey)>,
}

/// What the signer reads besides the head: the tree, and the records (for checkpoints of the chain
/// head, from before the tree).
pub struct Sources {
    pub tree: tree::Reader,
    pub records: crate::ledger::Reader,
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
    /// runtime, over the log whose durable head is `head` and whose tree and records `sources` reads;
    /// their figures go to `metrics`. A checkpoints directory that cannot be read counts as none: the
    /// signer then finds nothing signed before, and says so when it signs.
    pub fn start(
        config: Config,
        data_dir: PathBuf,
        head: Head,
        sources: Sources,
        metrics: &Metrics,
    ) -> Self {
        let figures = Arc::new(Checkpoints::default());
        let _ = metrics.checkpoints.set(Arc::clone(&figures));
        let witnesses: Vec<Witness> = config
            .witnesses
            .into_iter()
            .map(|(url, key)| {
                let w = Witness::new(&url, key);
                w.learn(&data_dir);
                w
            })
            .collect();
        if !witnesses.is_empty() {
            let _ = metrics.witnesses.set(
                witnesses
                    .iter()
                    .map(|w| (w.key.name().to_owned(), Arc::clone(&w.status)))
                    .collect(),
            );
        }
        let (heads, heads_rx) = watch::channel(head);
        let (stopping, stopping_rx) = watch::channel(false);
        let progress = config
            .archive
            .as_ref()
            .map(|_| Arc::new(Progress::default()));
        let uploader = match (config.archive, &progress) {
            (Some(archive), Some(progress)) => {
                let _ = metrics.archive.set(Arc::clone(progress));
                let control = Arc::new(Control::default());
                let (c, p, dir) = (Arc::clone(&control), Arc::clone(progress), data_dir.clone());
                let task = tokio::spawn(async move { uploader::run(&archive, &dir, &p, &c).await });
                Some((task, control))
            }
            _ => None,
        };
        let mut signer = None;
        if let Some(key) = config.key {
            let latest = sign::latest_local(&data_dir, &key.verifier());
            let last = latest.as_ref().map_or(0, |l| l.checkpoint.size);
            figures.last_seq.store(last, Relaxed);
            let s = Signer {
                verifier: key.verifier(),
                key,
                data_dir,
                every_records: config.every_records.max(1),
                every: config.every,
                last_seq: last,
                unwitnessed: None,
                started: Instant::now(),
                figures,
                witnesses,
                archive: progress,
                uploader: uploader.as_ref().map(|(_, c)| Arc::clone(c)),
                sources,
            };
            signer = Some(tokio::spawn(s.run(heads_rx, stopping_rx)));
        }
        Evidence {
            heads,
            stopping,
            signer,
            uploader,
        }
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
    key: SigningKey,
    verifier: VerifierKey,
    data_dir: PathBuf,
    every_records: u64,
    every: Duration,
    /// The size of the newest checkpoint signed (here or before).
    last_seq: u64,
    /// A checkpoint signed that no witness has cosigned yet.
    unwitnessed: Option<(Checkpoint, String)>,
    started: Instant,
    figures: Arc<Checkpoints>,
    witnesses: Vec<Witness>,
    /// The archive's progress (its listing gives the newest checkpoint archived).
    archive: Option<Arc<Progress>>,
    uploader: Option<Arc<Control>>,
    sources: Sources,
}

/// What one signing round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Signed,
    /// Nothing new to sign (and the tree extends what was signed).
    Nothing,
    /// Refused, or not written: try again later.
    Again,
}

/// What the signer does next.
enum Step {
    Sign { head: Head, stopping: bool },
    Witness,
    Stop,
}

impl Signer {
    async fn run(self, mut heads: watch::Receiver<Head>, mut stopping: watch::Receiver<bool>) {
        let mut me = Some(self);
        let mut last_time = Instant::now();
        // At start the tree is checked against what was signed, and a head not signed yet is signed.
        let mut first = true;
        loop {
            let Some(s) = me.as_ref() else { return };
            let step = loop {
                let head = heads.borrow_and_update().clone();
                let stop = *stopping.borrow_and_update();
                let new = head.seq > s.last_seq;
                let due = first
                    || (new
                        && (head.seq - s.last_seq >= s.every_records
                            || last_time.elapsed() >= s.every));
                first = false;
                if due || stop {
                    break Step::Sign {
                        head,
                        stopping: stop,
                    };
                }
                // Nothing new: wait for a record (or the time to ask the witnesses again).
                // Something new: until the interval is up.
                let wait = if new {
                    Some(s.every.saturating_sub(last_time.elapsed()))
                } else {
                    s.unwitnessed.as_ref().map(|_| WITNESS_RETRY)
                };
                let timed_out = tokio::select! {
                    changed = heads.changed() => if changed.is_err() { break Step::Stop } else { false },
                    () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => true,
                    _ = stopping.changed() => false,
                };
                if timed_out && !new && s.unwitnessed.is_some() {
                    break Step::Witness;
                }
            };
            let Some(mut s) = me.take() else { return };
            match step {
                Step::Stop => return,
                Step::Witness => {
                    me = on_blocking_pool(s, |s| {
                        s.witness_again();
                        Round::Nothing
                    })
                    .await
                    .map(|(s, _)| s);
                }
                Step::Sign {
                    head,
                    stopping: stop,
                } => {
                    let done = on_blocking_pool(s, move |s| s.sign(head.seq, stop)).await;
                    let Some((signer, round)) = done else { return };
                    s = signer;
                    if stop {
                        return;
                    }
                    match round {
                        Round::Signed => last_time = Instant::now(),
                        Round::Again => {
                            tokio::select! {
                                () = tokio::time::sleep(RETRY) => {}
                                _ = stopping.wait_for(|s| *s) => {}
                            }
                        }
                        Round::Nothing => {}
                    }
                    me = Some(s);
                }
            }
        }
    }

    /// The newest checkpoint signed before: here, or in the archive.
    fn latest(&self) -> Option<Signed> {
        let local = sign::latest_local(&self.data_dir, &self.verifier);
        let archived = self.archive.as_ref().and_then(|a| {
            let (name, text) = a.latest_checkpoint.lock().ok()?.clone()?;
            let cp = Checkpoint::open(&text, std::slice::from_ref(&self.verifier)).ok()?;
            Some(Signed {
                name,
                checkpoint: cp,
            })
        });
        sign::newest(local, archived)
    }

    /// Checks the tree of the first `durable` records against the newest checkpoint signed before, and
    /// signs it when it is new. Blocking (files, fsyncs, the witnesses' answers).
    fn sign(&mut self, durable: u64, stopping: bool) -> Round {
        if let Some(a) = &self.archive {
            if !a.listed.load(Relaxed) && self.started.elapsed() < ARCHIVE_WAIT && !stopping {
                tracing::debug!("waiting for the archive's newest checkpoint before signing");
                return Round::Again;
            }
        }
        let mut view = self.sources.tree.view();
        // A checkpoint on disk (and so in the archive) always finds its full tiles there: after a
        // first start, once the chore writing the tiles it made is done (a second or two).
        view.wait_for_tiles();
        // The tree may have grown past the head the writer announced: sign that head's tree.
        let size = durable.min(view.size());
        let root = if size == view.size() {
            view.root()
        } else {
            match tree::proof::root(&mut view, size) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(size, error = %e, "cannot read the tree to sign it");
                    return Round::Again;
                }
            }
        };
        let latest = self.latest();
        let records = &self.sources.records;
        let hash_at = |seq: u64| {
            records
                .record(seq)
                .and_then(|f| f.record.get("hash")?.as_str().map(str::to_owned))
        };
        if let Err(refusal) = sign::extends(&mut view, size, &root, latest.as_ref(), hash_at) {
            let why = refusal.to_string();
            let mut r = self
                .figures
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if r.as_deref() != Some(why.as_str()) {
                tracing::error!(size, error = %why, "the log does not extend what was signed; no checkpoint is signed until that is resolved");
            }
            *r = Some(why);
            return Round::Again;
        }
        if let Ok(mut r) = self.figures.refused.lock() {
            *r = None;
        }
        let signed_size = latest.as_ref().map_or(0, |l| l.checkpoint.size);
        self.last_seq = self.last_seq.max(signed_size);
        if size == 0 || size <= signed_size {
            return Round::Nothing;
        }
        let cp = Checkpoint::of_tree(self.key.name(), size, root);
        let note = cp.sign(&self.key);
        // The partial tiles of this size first: an archived checkpoint always finds its tiles.
        for id in tile::partials_of(size) {
            let written = view.tile(id).map_err(|e| e.to_string()).and_then(|bytes| {
                let hashes = tile::from_bytes(&bytes.unwrap_or_default()).unwrap_or_default();
                tree::store::write_tile(&self.data_dir, id, &hashes).map_err(|e| e.to_string())
            });
            if let Err(e) = written {
                tracing::warn!(tile = %id.path(), error = %e, "cannot write a partial tile of the checkpoint");
            }
        }
        match checkpoint::store(&self.data_dir, checkpoint::DIR, size, &note) {
            Ok(_) => {
                self.last_seq = size;
                self.figures.signed.fetch_add(1, Relaxed);
                self.figures.last_seq.store(size, Relaxed);
                tracing::info!(seq = size, "checkpoint signed");
            }
            Err(e) => {
                self.figures.failures.fetch_add(1, Relaxed);
                tracing::error!(seq = size, error = %e, "cannot write a checkpoint; appends go on, retrying");
                return Round::Again;
            }
        }
        self.unwitnessed = Some((cp, note));
        self.witness(&mut view);
        if let Some(u) = &self.uploader {
            u.nudge();
        }
        Round::Signed
    }

    /// Submits the checkpoint no witness has cosigned yet again (its tree is still the log's).
    fn witness_again(&mut self) {
        let mut view = self.sources.tree.view();
        self.witness(&mut view);
        if let Some(u) = &self.uploader {
            u.nudge();
        }
    }

    /// Submits the unwitnessed checkpoint to every witness; keeps the cosigned note once one cosigns.
    fn witness(&mut self, view: &mut tree::View) {
        let Some((cp, note)) = self.unwitnessed.take() else {
            return;
        };
        if self.witnesses.is_empty() {
            return;
        }
        let lines: String = self
            .witnesses
            .iter()
            .filter_map(|w| w.submit(&cp, &note, view))
            .collect();
        if lines.is_empty() {
            self.unwitnessed = Some((cp, note));
            return;
        }
        let cosigned = format!("{note}{lines}");
        if let Err(e) = checkpoint::store(
            &self.data_dir,
            checkpoint::WITNESSED_DIR,
            cp.size,
            &cosigned,
        ) {
            tracing::error!(seq = cp.size, error = %e, "cannot keep the cosigned checkpoint");
        }
    }
}

/// Runs `f` on the signer on the runtime's blocking pool and gives the signer back with its answer;
/// `None` when the round panicked (the signer is gone; appends go on, unsigned).
async fn on_blocking_pool<T: Send + 'static>(
    mut signer: Signer,
    f: impl FnOnce(&mut Signer) -> T + Send + 'static,
) -> Option<(Signer, T)> {
    match tokio::task::spawn_blocking(move || {
        let out = f(&mut signer);
        (signer, out)
    })
    .await
    {
        Ok(done) => Some(done),
        Err(e) => {
            tracing::error!(error = %e, "the checkpoint signer failed; no more checkpoints until a restart");
            None
        }
    }
}
