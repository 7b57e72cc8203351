//! Evidence beside the log: the checkpoint signer and the archive uploader, each on its own thread so
//! that neither ever delays an append. The writer hands every durable head to [`Evidence::durable`]
//! (a store into a shared cell, no I/O); the signer signs a checkpoint of the Merkle tree when
//! `every_records` records or `every` time have passed since the last one and something new is there,
//! and at shutdown ([`Evidence::finish`]). It signs only a tree that extends the newest checkpoint
//! signed before, found locally or in the archive (evidence/sign.rs): otherwise it refuses, and
//! `/healthz`, `/metrics` and the alert say so. Each checkpoint goes to the witnesses (witnesses.rs),
//! whose cosignatures are kept in `witnessed/`, and nudges the uploader.

use super::witnesses::{self, Witness};
use crate::archive::uploader::{Status as ArchiveStatus, Uploader};
use crate::archive::Archive;
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::note::{SigningKey, VerifierKey};
use crate::evidence::sign::{self, Signed};
use crate::ledger::tree::{self, tile};
use crate::ledger::Head;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long shutdown waits for the last archive pass.
const ARCHIVE_FINISH: Duration = Duration::from_secs(5);

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

/// Counters for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct Status {
    pub checkpoints: AtomicU64,
    pub checkpoint_seq: AtomicU64,
    pub checkpoint_failures: AtomicU64,
    pub archive: Option<Arc<ArchiveStatus>>,
    /// Why the signer refuses to sign (the tree does not extend what was signed), while it does.
    pub refused: Mutex<Option<String>>,
    pub witnesses: Vec<Witness>,
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
        let refused = u8::from(self.refusal().is_some());
        let _ = writeln!(
            o,
            "# HELP sluice_checkpoint_refused 1 while the sink refuses to sign: the log does not extend \
             the newest checkpoint signed before.\n# TYPE sluice_checkpoint_refused gauge\n\
             sluice_checkpoint_refused {refused}"
        );
        if !self.witnesses.is_empty() {
            witnesses::render(&self.witnesses, o);
        }
        if let Some(a) = &self.archive {
            a.render(o);
        }
    }

    fn refusal(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    /// The evidence part of `/healthz`.
    pub fn detail(&self) -> serde_json::Value {
        let mut d = serde_json::json!({
            "checkpointSeq": self.checkpoint_seq.load(Relaxed),
            "signing": if self.refusal().is_some() { "refused" } else { "ok" },
        });
        if let Some(why) = self.refusal() {
            d["refused"] = serde_json::json!(why);
        }
        if !self.witnesses.is_empty() {
            d["witnesses"] = witnesses::detail(&self.witnesses).0;
        }
        if let Some(a) = &self.archive {
            d["archive"] = a.detail();
        }
        d
    }

    /// What needs a human: a refused signature, a witness refusing the log. `/healthz` is then
    /// `degraded` (200: records are still taken, and each one is still evidence).
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.refusal().into_iter().collect();
        out.extend(witnesses::detail(&self.witnesses).1);
        out
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
    /// whose durable head is `head` and whose tree and records `sources` reads.
    ///
    /// # Errors
    ///
    /// A thread cannot be started.
    pub fn start(
        config: Config,
        data_dir: PathBuf,
        head: Head,
        sources: Sources,
    ) -> std::io::Result<Self> {
        let archive_status = config
            .archive
            .as_ref()
            .map(|_| Arc::new(ArchiveStatus::default()));
        let witnesses: Vec<Witness> = config
            .witnesses
            .into_iter()
            .map(|(url, key)| {
                let w = Witness::new(&url, key);
                w.learn(&data_dir);
                w
            })
            .collect();
        let status = Arc::new(Status {
            archive: archive_status.clone(),
            witnesses,
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
            let latest = sign::latest_local(&data_dir, &key.verifier());
            let last = latest.as_ref().map_or(0, |l| l.checkpoint.size);
            status.checkpoint_seq.store(last, Relaxed);
            let signer = Signer {
                verifier: key.verifier(),
                key,
                data_dir,
                every_records: config.every_records.max(1),
                every: config.every,
                last_seq: last,
                unwitnessed: None,
                started: Instant::now(),
                status: Arc::clone(&status),
                uploader: uploader.clone(),
                sources,
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
    verifier: VerifierKey,
    data_dir: PathBuf,
    every_records: u64,
    every: Duration,
    /// The size of the newest checkpoint signed (here or before).
    last_seq: u64,
    /// A checkpoint signed that no witness has cosigned yet.
    unwitnessed: Option<(Checkpoint, String)>,
    started: Instant,
    status: Arc<Status>,
    uploader: Option<Arc<Uploader>>,
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

impl Signer {
    fn run(mut self, cell: &(Mutex<Cell>, Condvar)) {
        let (lock, cv) = cell;
        let mut last_time = Instant::now();
        // At start the tree is checked against what was signed, and a head not signed yet is signed.
        let mut first = true;
        loop {
            let Ok(mut c) = lock.lock() else { return };
            let (head, stopping, retry) = loop {
                let head = c.head.clone().unwrap_or_default();
                let new = head.seq > self.last_seq;
                let due = first
                    || (new
                        && (head.seq - self.last_seq >= self.every_records
                            || last_time.elapsed() >= self.every));
                first = false;
                if due || c.stopping {
                    break (head, c.stopping, false);
                }
                // Nothing new: sleep until a record comes (or a witness is to be asked again).
                // Something new: until the interval is up.
                let wait = if new {
                    Some(self.every.saturating_sub(last_time.elapsed()))
                } else {
                    self.unwitnessed.as_ref().map(|_| WITNESS_RETRY)
                };
                if let Some(left) = wait {
                    let Ok((guard, timeout)) = cv.wait_timeout(c, left) else {
                        return;
                    };
                    c = guard;
                    if timeout.timed_out() && !new && self.unwitnessed.is_some() {
                        break (head, c.stopping, true);
                    }
                } else {
                    let Ok(guard) = cv.wait(c) else { return };
                    c = guard;
                }
            };
            drop(c);
            if retry {
                self.witness_again();
                continue;
            }
            match self.sign(head.seq, stopping) {
                Round::Signed => last_time = Instant::now(),
                Round::Again if !stopping => std::thread::sleep(RETRY),
                Round::Nothing | Round::Again => {}
            }
            if stopping {
                return;
            }
        }
    }

    /// The newest checkpoint signed before: here, or in the archive.
    fn latest(&self) -> Option<Signed> {
        let local = sign::latest_local(&self.data_dir, &self.verifier);
        let archived = self.status.archive.as_ref().and_then(|a| {
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
    /// signs it when it is new.
    fn sign(&mut self, durable: u64, stopping: bool) -> Round {
        if let Some(a) = &self.status.archive {
            if !a.listed.load(Relaxed) && self.started.elapsed() < ARCHIVE_WAIT && !stopping {
                tracing::debug!("waiting for the archive's newest checkpoint before signing");
                return Round::Again;
            }
        }
        let mut view = self.sources.tree.view();
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
                .status
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if r.as_deref() != Some(why.as_str()) {
                tracing::error!(size, error = %why, "the log does not extend what was signed; no checkpoint is signed until that is resolved");
            }
            *r = Some(why);
            return Round::Again;
        }
        if let Ok(mut r) = self.status.refused.lock() {
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
                self.status.checkpoints.fetch_add(1, Relaxed);
                self.status.checkpoint_seq.store(size, Relaxed);
                tracing::info!(seq = size, "checkpoint signed");
            }
            Err(e) => {
                self.status.checkpoint_failures.fetch_add(1, Relaxed);
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
        if self.status.witnesses.is_empty() {
            return;
        }
        let lines: String = self
            .status
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
