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
//!   (after the fact, by the rules in force) → the sync record's `ticket` → append → observe
//!   → writeback (ticket.writeBack: one work note per recorded sync, never per redelivery)
//! POST /v1/reviews → review: the emergency's records and due date → `emergency-review` record
//! registry: per app the rules in force and recent decisions, every emergency and its review (read
//!   from the log at start on a side thread, then kept up to date by observe)
//! ```

// "ServiceNow" and "OpenAPI" are names, not code: no backticks around them in the docs.
#![allow(clippy::doc_markdown)]

mod attach;
mod decide;
mod registry;
mod review;
mod run;
mod writeback;

pub use decide::{section, Window};

use crate::itsm::client::{self, Systems};
use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    registry: Arc<registry::Shared>,
    decide_budget: Duration,
    after_budget: Duration,
    writeback_budget: Duration,
    /// (decided, verdict) → judgments.
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// outcome → work notes.
    notes: Mutex<BTreeMap<&'static str, u64>>,
}

impl Tickets {
    /// Starts the service: the HTTP client, and the registry read from the log on a side thread.
    ///
    /// # Errors
    ///
    /// The HTTP client cannot be built, or the thread cannot be started.
    pub fn start(config: Config, data_dir: PathBuf) -> Result<Tickets, String> {
        let systems = Systems::new(config.systems)?;
        let registry = Arc::new(registry::Shared::load(
            data_dir.clone(),
            "tickets-registry",
        )?);
        Ok(Tickets {
            systems,
            data_dir,
            registry,
            decide_budget: config.decide_budget,
            after_budget: config.after_budget,
            writeback_budget: config.writeback_budget,
            counts: Mutex::default(),
            notes: Mutex::default(),
        })
    }

    fn count(&self, decided: &'static str, verdict: &'static str) {
        if let Ok(mut m) = self.counts.lock() {
            *m.entry((decided, verdict)).or_default() += 1;
        }
    }

    fn count_note(&self, outcome: &'static str) {
        if let Ok(mut m) = self.notes.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// The Prometheus lines: judgments, work notes, emergencies awaiting review at `now`, and the
    /// systems' requests.
    pub fn render(&self, o: &mut String, now: chrono::DateTime<chrono::Utc>) {
        let _ = writeln!(
            o,
            "# HELP sluice_ticket_decisions_total Change tickets judged, by when (at-sync for the guard, after-the-fact for syncs that skipped it) and verdict.\n# TYPE sluice_ticket_decisions_total counter"
        );
        if let Ok(m) = self.counts.lock() {
            for ((decided, verdict), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_ticket_decisions_total{{decided=\"{decided}\",verdict=\"{verdict}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP sluice_ticket_writebacks_total Work notes and comments written back to tickets when a sync finished, by outcome.\n# TYPE sluice_ticket_writebacks_total counter"
        );
        if let Ok(m) = self.notes.lock() {
            for (outcome, n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_ticket_writebacks_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        // The registry may still be loading: then the gauges wait for the next scrape.
        let (pending, overdue) = self
            .registry
            .peek(|r| r.review_counts(now))
            .unwrap_or((0, 0));
        let _ = writeln!(
            o,
            "# HELP sluice_emergency_reviews Emergency changes without a post-implementation review, by status (pending: not yet due; overdue: past emergency.reviewWithin).\n# TYPE sluice_emergency_reviews gauge\nsluice_emergency_reviews{{status=\"pending\"}} {pending}\nsluice_emergency_reviews{{status=\"overdue\"}} {overdue}"
        );
        self.systems.metrics.render(o);
    }
}
