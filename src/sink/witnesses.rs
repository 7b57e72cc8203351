//! The log's side of C2SP tlog-witness: each new checkpoint goes to every configured witness as
//! `POST <url>/add-checkpoint` with the size that witness last cosigned and a consistency proof from
//! it; the cosignatures that come back are checked against the witness's key and kept. A 409 tells the
//! size the witness holds (the sink learns it after a restart, and tries once more); a 422, or a held
//! size larger than the log's, is a witness refusing the log's history: a fork shows, and `/healthz`,
//! `/metrics` and an alert say so. Called from the checkpoint signer's thread (blocking HTTP, bounded).

use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::note::{self, VerifierKey};
use crate::evidence::witness::{read_cosignatures, request_body};
use crate::ledger::tree::proof::{self, HashSource};
use std::io::Read as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Longest one submission may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Largest answer read (a few cosignature lines).
const MAX_ANSWER: u64 = 64 * 1024;

/// One configured witness.
#[derive(Debug)]
pub struct Witness {
    /// The submission prefix (`POST <url>/add-checkpoint`).
    pub url: String,
    pub key: VerifierKey,
    /// The size it last cosigned for this log, as far as the sink knows (`None`: not known yet).
    held: Mutex<Option<u64>>,
    pub status: WitnessStatus,
}

/// What `/metrics` and `/healthz` show of one witness.
#[derive(Debug, Default)]
pub struct WitnessStatus {
    pub cosigned_size: AtomicU64,
    pub cosigned_unix: AtomicU64,
    pub failures: AtomicU64,
    pub refusals: AtomicU64,
    /// The last failure (unreachable, an error) and the last refusal (the witness says the log forked).
    pub last_error: Mutex<Option<String>>,
    pub refused: Mutex<Option<String>>,
}

/// What became of one submission.
enum Outcome {
    Cosigned(String),
    /// The witness said it holds another size.
    Holds(u64),
    Refused(String),
    Failed(String),
}

impl Witness {
    /// A witness at `url` with `key`.
    pub fn new(url: &str, key: VerifierKey) -> Self {
        Witness {
            url: url.trim_end_matches('/').to_owned(),
            key,
            held: Mutex::new(None),
            status: WitnessStatus::default(),
        }
    }

    /// Learns the size this witness last cosigned from the cosigned checkpoints kept in `data_dir`.
    pub fn learn(&self, data_dir: &Path) {
        let Ok(listed) = checkpoint::list(data_dir, checkpoint::WITNESSED_DIR) else {
            return;
        };
        for (size, path) in listed.into_iter().rev() {
            let Ok(text) = checkpoint::read_note(&path) else {
                continue;
            };
            let by_it = note::verify(&text, std::slice::from_ref(&self.key))
                .is_ok_and(|(_, signed)| !signed.is_empty());
            if by_it {
                if let Ok(mut h) = self.held.lock() {
                    *h = Some(size);
                }
                self.status.cosigned_size.store(size, Relaxed);
                return;
            }
        }
    }

    fn post(&self, body: String) -> Outcome {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent("sluice-sink")
            .build()
            .into();
        let url = format!("{}/add-checkpoint", self.url);
        let mut response = match agent
            .post(&url)
            .header("Content-Type", "text/plain; charset=utf-8")
            .send(body)
        {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot reach {url}: {e}")),
        };
        let status = response.status().as_u16();
        let mut text = String::new();
        let read = response
            .body_mut()
            .as_reader()
            .take(MAX_ANSWER)
            .read_to_string(&mut text);
        if let Err(e) = read {
            return Outcome::Failed(format!("{url}: cannot read the answer: {e}"));
        }
        match status {
            200 => Outcome::Cosigned(text),
            409 => match text.trim().parse() {
                Ok(size) => Outcome::Holds(size),
                Err(_) => Outcome::Failed(format!("{url} answered 409 without a size")),
            },
            422 => Outcome::Refused(format!(
                "{} ({url}) refuses the log's checkpoint: it is not consistent with the one the \
                 witness cosigned before, so the log was rewritten or forked ({})",
                self.key.name(),
                text.trim()
            )),
            403 | 404 => Outcome::Refused(format!(
                "{} ({url}) answered {status}: {} (is the witness given this log's public key?)",
                self.key.name(),
                text.trim()
            )),
            _ => Outcome::Failed(format!("{url} answered {status}: {}", text.trim())),
        }
    }

    /// Submits the checkpoint `cp` (signed note `note_text`) with a consistency proof from `tree`;
    /// gives the witness's cosignature line(s), checked, when it cosigned.
    pub fn submit(
        &self,
        cp: &Checkpoint,
        note_text: &str,
        tree: &mut impl HashSource,
    ) -> Option<String> {
        let text = cp.to_text();
        let mut old = self.held.lock().ok().and_then(|h| *h).unwrap_or(0);
        for _ in 0..2 {
            if old > cp.size {
                return self.refused(format!(
                    "{} ({}) holds a checkpoint of {old} records, more than the log's {}: the log was \
                     rolled back or forked",
                    self.key.name(),
                    self.url,
                    cp.size
                ));
            }
            let proof = match proof::consistency(tree, old, cp.size) {
                Ok(p) => p,
                Err(e) => return self.failed(format!("cannot prove {old} to {}: {e}", cp.size)),
            };
            match self.post(request_body(old, &proof, note_text)) {
                Outcome::Cosigned(answer) => {
                    return match read_cosignatures(&answer, &text, &self.key) {
                        Ok(lines) => {
                            self.cosigned(cp.size);
                            Some(lines)
                        }
                        Err(e) => self.failed(format!(
                            "{}: the answer holds no cosignature by its key that verifies: {e}",
                            self.url
                        )),
                    };
                }
                Outcome::Holds(size) => old = size,
                Outcome::Refused(why) => return self.refused(why),
                Outcome::Failed(why) => return self.failed(why),
            }
        }
        self.failed(format!(
            "{}: the held size changed while submitting",
            self.url
        ))
    }

    fn cosigned(&self, size: u64) {
        if let Ok(mut h) = self.held.lock() {
            *h = Some(size);
        }
        let s = &self.status;
        s.cosigned_size.store(size, Relaxed);
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        s.cosigned_unix.store(now, Relaxed);
        for cell in [&s.last_error, &s.refused] {
            if let Ok(mut e) = cell.lock() {
                *e = None;
            }
        }
        tracing::info!(witness = self.key.name(), size, "checkpoint cosigned");
    }

    fn failed(&self, why: String) -> Option<String> {
        self.status.failures.fetch_add(1, Relaxed);
        tracing::warn!(witness = self.key.name(), error = %why, "a witness did not cosign; tried again with the next checkpoint");
        if let Ok(mut e) = self.status.last_error.lock() {
            *e = Some(why);
        }
        None
    }

    fn refused(&self, why: String) -> Option<String> {
        self.status.refusals.fetch_add(1, Relaxed);
        tracing::error!(witness = self.key.name(), error = %why, "a witness refused the log's checkpoint");
        if let Ok(mut e) = self.status.refused.lock() {
            *e = Some(why);
        }
        None
    }
}

/// A metric of the witnesses: name, type, help, and its value for one witness.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    fn(&WitnessStatus) -> u64,
);

/// The witnesses' lines of the Prometheus exposition.
pub fn render(witnesses: &[Witness], o: &mut String) {
    use std::fmt::Write as _;
    let rows: [Row; 4] = [
        (
            "sluice_witness_cosigned_size",
            "gauge",
            "Tree size of the newest checkpoint the witness cosigned.",
            |s| s.cosigned_size.load(Relaxed),
        ),
        (
            "sluice_witness_last_cosigned_timestamp_seconds",
            "gauge",
            "Unix time of the witness's last cosignature (0: none since start).",
            |s| s.cosigned_unix.load(Relaxed),
        ),
        (
            "sluice_witness_failures_total",
            "counter",
            "Submissions to the witness that failed (unreachable, errors).",
            |s| s.failures.load(Relaxed),
        ),
        (
            "sluice_witness_refusals_total",
            "counter",
            "Checkpoints the witness refused as not extending what it cosigned (a fork).",
            |s| s.refusals.load(Relaxed),
        ),
    ];
    for (name, kind, help, get) in rows {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for w in witnesses {
            // The key name is the operator's configuration, not request data; quotes and backslashes
            // escaped as the exposition format wants.
            let label = w.key.name().replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(o, "{name}{{witness=\"{label}\"}} {}", get(&w.status));
        }
    }
}

/// The witnesses' part of `/healthz`, and whether one refused the log (a fork).
pub fn detail(witnesses: &[Witness]) -> (serde_json::Value, Option<String>) {
    let mut refused = None;
    let list: Vec<serde_json::Value> = witnesses
        .iter()
        .map(|w| {
            let r = w.status.refused.lock().ok().and_then(|e| e.clone());
            let e = w.status.last_error.lock().ok().and_then(|e| e.clone());
            if refused.is_none() {
                refused.clone_from(&r);
            }
            serde_json::json!({
                "name": w.key.name(),
                "cosignedSize": w.status.cosigned_size.load(Relaxed),
                "state": if r.is_some() { "refused" } else if e.is_some() { "retrying" } else { "ok" },
                "refused": r,
                "lastError": e,
            })
        })
        .collect();
    (serde_json::Value::Array(list), refused)
}
