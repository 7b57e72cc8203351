//! The sink's ticket decisions (docs/tickets.md): the guard asks (`POST /v1/decide`), the sink holds
//! the ticket system's credentials, reads the change request, judges it, stores the snapshot beside
//! the log and records the decision with its evidence; sync records get the evidence of their
//! revision, or are judged after the fact when they skipped the guard; a finished sync gets a work
//! note on its ticket when the policy asks; emergencies wait for their review.
//!
//! ```text
//! POST /v1/decide (src/sink/decide.rs) → decide: the window's decision, the emergency id, the change's
//!   `ticket` section → run: ticket gather (deadline) → snapshot (evidence::snapshot) → judge
//!   → allowed | refused | an emergency by its ticket → `ticket` evidence (+ `reviewDue`)
//! POST /v1/events (sync-succeeded | sync-failed) → attach: the decision of that revision, else run
//!   (after the fact, by the rules in force) → the sync record's `ticket` → append
//!   → writeback (ticket.writeBack: one work note per recorded sync, never per redelivery)
//! POST /v1/reviews → review: the emergency's records and due date → `emergency-review` record
//! registry: per app the rules in force and recent decisions (by seq), every emergency and its
//!   review: part of the sink's memory of the log (src/sink/memory.rs), fed by the ledger
//! ```

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

mod attach;
mod decide;
pub mod registry;
mod review;
mod run;
mod writeback;

pub use decide::{section, Window};

use super::memory::{self, record_at};
use super::metrics::Metrics;
use crate::itsm::client::{self, ItsmMetrics, Systems};
use crate::ledger::Reader;
use crate::record::evidence::Ticket;
use crate::record::Body;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a guard's ticket decision may take (the guard waits 90 s for the whole decision).
pub const DECIDE_BUDGET: Duration = Duration::from_secs(20);
/// How long judging a sync after the fact may hold up its webhook.
pub const AFTER_BUDGET: Duration = Duration::from_secs(10);
/// How long a work note may take, retries included (it runs after the webhook was answered).
pub const WRITEBACK_BUDGET: Duration = Duration::from_mins(1);

/// What the commands layer validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub systems: client::Config,
    pub decide_budget: Duration,
    pub after_budget: Duration,
    pub writeback_budget: Duration,
}

/// The ticket service of a running sink.
pub struct Tickets {
    systems: Systems,
    data_dir: PathBuf,
    /// What the log says (the sink's memory), and the log itself for the evidence it names.
    registry: Arc<Mutex<registry::Registry>>,
    reader: Reader,
    metrics: Arc<Metrics>,
    decide_budget: Duration,
    after_budget: Duration,
    writeback_budget: Duration,
}

impl Tickets {
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
    ) -> Result<Tickets, String> {
        let systems = Systems::new(config.systems)?;
        Ok(Tickets {
            systems,
            data_dir,
            registry,
            reader,
            metrics,
            decide_budget: config.decide_budget,
            after_budget: config.after_budget,
            writeback_budget: config.writeback_budget,
        })
    }

    /// The ticket systems' request counters (for `/metrics`).
    pub fn system_metrics(&self) -> Arc<ItsmMetrics> {
        Arc::clone(&self.systems.metrics)
    }

    /// The emergencies without a review, (not yet due, overdue) at a time (for `/metrics`).
    pub fn review_counts(
        &self,
    ) -> impl Fn(chrono::DateTime<chrono::Utc>) -> (u64, u64) + Send + Sync {
        let registry = Arc::clone(&self.registry);
        move |now| memory::lock(&registry).review_counts(now)
    }

    /// The latest decision with ticket evidence for `revision` of `app`: its seq and evidence, read
    /// from the log.
    async fn decision(&self, app: &str, revision: &str) -> Option<(u64, Ticket)> {
        let seq = memory::lock(&self.registry).decision(app, revision)?;
        match record_at(&self.reader, seq).await?.body {
            Body::Guard(g) => g.ticket.as_present().cloned().flatten().map(|t| (seq, t)),
            _ => None,
        }
    }

    fn count(&self, decided: &'static str, verdict: &'static str) {
        self.metrics.count_ticket(decided, verdict);
    }

    fn count_note(&self, outcome: &'static str) {
        self.metrics.count_writeback(outcome);
    }
}
