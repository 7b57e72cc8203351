//! The sink's approvals decisions (docs/approvals.md): the guard asks (`POST /v1/decide`), the sink
//! holds the host credentials, asks the host, judges, stores the snapshot beside the log and records
//! the decision with its evidence; sync records get the evidence of their revision, or are judged
//! after the fact when they skipped the guard.
//!
//! ```text
//! POST /v1/decide (src/sink/decide.rs) → decide: rules (the change's own, the one in force, floors)
//!   → run: host gather (deadline) → snapshot (evidence::snapshot) → judge → `approval` evidence
//! POST /v1/events (sync-succeeded | sync-failed) → attach: the decision of that revision, else
//!   run (after the fact) → the sync record's `approval` → append → observe
//! registry: per app, the rules in force, recent decisions, the revision synced (read from the log at
//!   start on a side thread, then kept up to date by observe)
//! ```
//!
//! The ticket gate (src/sink/tickets) takes the same path: a section of the guard's request, a `run`
//! that asks the outside system through credentials only the sink holds, a snapshot stored by digest,
//! and an evidence member of the record beside `approval`; src/sink/decide.rs puts them together.

mod attach;
mod decide;
mod registry;
mod run;

pub use attach::source_of;
pub use decide::{field, section};

use crate::approval::Floor;
use crate::host::client::{Endpoint, Hosts};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Default of `--approvals-max-commits`.
pub const DEFAULT_MAX_COMMITS: usize = 1000;
/// How long a guard's decision may take (the guard waits a little longer).
pub const DECIDE_BUDGET: Duration = Duration::from_secs(45);
/// How long judging a sync after the fact may hold up its webhook (Argo CD's notifications wait).
pub const AFTER_BUDGET: Duration = Duration::from_secs(15);

/// What the commands layer validated.
#[derive(Debug)]
pub struct Config {
    pub endpoints: Vec<Endpoint>,
    pub floors: Vec<Floor>,
    pub max_commits: usize,
    /// Each host call's timeout (`--host-timeout`).
    pub call_timeout: Duration,
    pub decide_budget: Duration,
    pub after_budget: Duration,
}

/// The approvals service of a running sink.
pub struct Approvals {
    hosts: Hosts,
    floors: Vec<Floor>,
    max_commits: usize,
    decide_budget: Duration,
    after_budget: Duration,
    data_dir: PathBuf,
    registry: std::sync::Arc<registry::Shared>,
    /// (decided, verdict) → decisions.
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Approvals {
    /// Starts the service: the HTTP client, and the registry read from the log on a side thread.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built, or the thread cannot be started.
    pub fn start(config: Config, data_dir: PathBuf) -> Result<Approvals, String> {
        let hosts = Hosts::new(config.endpoints, config.call_timeout)?;
        let registry = std::sync::Arc::new(registry::Shared::load(
            data_dir.clone(),
            "approvals-registry",
        )?);
        Ok(Approvals {
            hosts,
            floors: config.floors,
            max_commits: config.max_commits,
            decide_budget: config.decide_budget,
            after_budget: config.after_budget,
            data_dir,
            registry,
            counts: Mutex::default(),
        })
    }

    fn count(&self, decided: &'static str, verdict: &str) {
        let verdict = match verdict {
            "approved" => "approved",
            "unapproved" => "unapproved",
            _ => "unverified",
        };
        if let Ok(mut m) = self.counts.lock() {
            *m.entry((decided, verdict)).or_default() += 1;
        }
    }

    /// The Prometheus lines: decisions by how and what, and the hosts' requests.
    pub fn render(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "# HELP sluice_approval_decisions_total Approvals judged, by when (at-sync for the guard, after-the-fact for syncs that skipped it) and verdict.\n# TYPE sluice_approval_decisions_total counter"
        );
        if let Ok(m) = self.counts.lock() {
            for ((decided, verdict), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_approval_decisions_total{{decided=\"{decided}\",verdict=\"{verdict}\"}} {n}"
                );
            }
        }
        self.hosts.metrics.render(o);
    }
}
