//! The sink's approvals decisions (docs/approvals.md): the guard asks (`POST /v1/decide`), the sink
//! holds the host credentials, asks the host, judges, stores the snapshot beside the log and records
//! the decision with its evidence; sync records get the evidence of their revision, or are judged
//! after the fact when they skipped the guard.
//!
//! ```text
//! POST /v1/decide (src/sink/decide.rs) → decide: rules (the change's own, the one in force, floors)
//!   → run: host gather (deadline) → snapshot (evidence::snapshot) → judge → `approval` evidence
//! POST /v1/events (sync-succeeded | sync-failed) → attach: the decision of that revision, else
//!   run (after the fact) → the sync record's `approval` → append
//! registry: per app, the rules in force, recent decisions (by seq), the revision synced: part of the
//!   sink's memory of the log (src/sink/memory.rs), fed by the ledger as records become durable
//! ```
//!
//! The ticket gate (src/sink/tickets) takes the same path: a section of the guard's request, a `run`
//! that asks the outside system through credentials only the sink holds, a snapshot stored by digest,
//! and an evidence member of the record beside `approval`; src/sink/decide.rs puts them together.

mod attach;
mod decide;
pub mod registry;
mod run;

pub use attach::source_of;
pub use decide::{field, section};

use super::memory::{self, record_at};
use super::metrics::Metrics;
use crate::approval::Floor;
use crate::host::client::{Endpoint, HostMetrics, Hosts};
use crate::ledger::Reader;
use crate::record::evidence::Approval;
use crate::record::Body;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
    /// What the log says (the sink's memory), and the log itself for the evidence it names.
    registry: Arc<Mutex<registry::Registry>>,
    reader: Reader,
    metrics: Arc<Metrics>,
}

impl Approvals {
    /// The service over the sink's memory of the log (`registry`) and its reader.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built.
    pub fn start(
        config: Config,
        data_dir: PathBuf,
        registry: Arc<Mutex<registry::Registry>>,
        reader: Reader,
        metrics: Arc<Metrics>,
    ) -> Result<Approvals, String> {
        let hosts = Hosts::new(config.endpoints, config.call_timeout)?;
        Ok(Approvals {
            hosts,
            floors: config.floors,
            max_commits: config.max_commits,
            decide_budget: config.decide_budget,
            after_budget: config.after_budget,
            data_dir,
            registry,
            reader,
            metrics,
        })
    }

    /// The hosts' request counters (for `/metrics`).
    pub fn host_metrics(&self) -> Arc<HostMetrics> {
        Arc::clone(&self.hosts.metrics)
    }

    /// What the log says of `app` (its decisions left out).
    fn registry_state(&self, app: &str) -> registry::AppState {
        memory::lock(&self.registry).app(app)
    }

    /// The latest decision with approval evidence for `revision` of `app`: its seq and evidence, read
    /// from the log.
    async fn decision(&self, app: &str, revision: &str) -> Option<(u64, Approval)> {
        let seq = memory::lock(&self.registry).decision(app, revision)?;
        match record_at(&self.reader, seq).await?.body {
            Body::Guard(g) => g.approval.as_present().cloned().flatten().map(|a| (seq, a)),
            _ => None,
        }
    }

    fn count(&self, decided: &'static str, verdict: &str) {
        self.metrics.count_approval(decided, verdict);
    }
}
