//! The sink's metrics and their one Prometheus text exposition (format 0.0.4): events by event type and
//! outcome, the append latency histogram, the log's size and last seq, recovery and write failures,
//! gate exceptions, the Application watch and its health, the checkpoints, witnesses and archive
//! (whose figures their own modules keep, as plain numbers), approvals and ticket decisions with the
//! outside systems' requests, emergencies awaiting review, verification verdicts and rollbacks. Everything is written by one [`Exposition`] writer; the histogram is
//! updated and read under one lock, so a scrape never sees it half-updated. Label values come from fixed
//! sets only (never from request data beyond the eight known events).

use super::watch_health::WatchHealth;
use crate::archive::uploader::Progress;
use crate::host::client::HostMetrics;
use crate::itsm::client::ItsmMetrics;
use crate::record::gate::REASONS;
use crate::record::{Via, EVENTS, GUARD_DECISION, VERIFICATION};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What happened to a request, as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Created,
    Duplicate,
    Rejected,
    TooLarge,
    Unauthorized,
    Unavailable,
    Timeout,
    Conflict,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
            Outcome::TooLarge => "too_large",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Unavailable => "unavailable",
            Outcome::Timeout => "timeout",
            Outcome::Conflict => "conflict",
        }
    }
}

/// Upper bounds (seconds) of the append latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram whose buckets, count and sum change together.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative), and those above the last bound.
    buckets: [u64; BUCKETS.len() + 1],
    count: u64,
    sum_nanos: u128,
}

/// The checkpoint signer's figures.
#[derive(Debug, Default)]
pub struct Checkpoints {
    pub signed: AtomicU64,
    pub last_seq: AtomicU64,
    pub failures: AtomicU64,
    /// Why the signer refuses to sign (the tree does not extend what was signed), while it does.
    pub refused: Mutex<Option<String>>,
}

impl Checkpoints {
    /// Why the signer refuses to sign, while it does.
    pub fn refusal(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }
}

/// What `/metrics` and `/healthz` show of one witness (sink/witnesses.rs keeps it).
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

/// The ticket gate's figures read at each scrape: the systems' requests, and the emergencies awaiting
/// review at a time (pending, overdue).
pub struct TicketFigures {
    pub systems: Arc<ItsmMetrics>,
    pub reviews: Box<dyn Fn(chrono::DateTime<chrono::Utc>) -> (u64, u64) + Send + Sync>,
}

impl std::fmt::Debug for TicketFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketFigures")
    }
}

/// All the sink's metrics; shared by the handlers, the writer, the watch and the evidence tasks.
#[derive(Debug, Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    latency: Mutex<Histogram>,
    pub log_bytes: AtomicU64,
    pub last_seq: AtomicU64,
    pub torn_tails: AtomicU64,
    pub torn_bytes: AtomicU64,
    pub write_failures: AtomicU64,
    pub batches: AtomicU64,
    pub batched_records: AtomicU64,
    /// Sync records written with gate exceptions, by reason (in [`REASONS`] order).
    ungated: [AtomicU64; REASONS.len()],
    /// Records the Application watch appended or found already recorded, by via and outcome.
    watched: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    /// Times the watch listed the Applications (start, and after a watch expired).
    pub watch_relists: AtomicU64,
    /// The checkpoint signer's figures, when it runs.
    pub checkpoints: OnceLock<Arc<Checkpoints>>,
    /// The witnesses' figures by witness name, when there are witnesses.
    pub witnesses: OnceLock<Vec<(String, Arc<WitnessStatus>)>>,
    /// The archive uploader's progress, when it runs.
    pub archive: OnceLock<Arc<Progress>>,
    /// The Application watch's health, when it runs.
    pub watch: OnceLock<Arc<WatchHealth>>,
    /// Approvals judged, by (decided, verdict).
    approval_decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// The Git hosts' requests of the approvals decisions, when they are made.
    pub hosts: OnceLock<Arc<HostMetrics>>,
    /// Verification verdicts recorded, by verdict.
    verdicts: Mutex<BTreeMap<String, u64>>,
    /// Rollbacks of failed verifications, by action.
    rollbacks: Mutex<BTreeMap<String, u64>>,
    /// Tickets judged, by (decided, verdict), and work notes written back, by outcome.
    ticket_decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    writebacks: Mutex<BTreeMap<&'static str, u64>>,
    /// The ticket gate's figures, when it runs.
    pub tickets: OnceLock<TicketFigures>,
    /// Verification runs; with the revert writer's requests to the Git hosts when it has write access.
    pub verification: OnceLock<Option<Arc<HostMetrics>>>,
}

/// The `event` label for a request's event name: one of the known events, else `unknown`.
pub fn event_label(event: Option<&str>) -> &'static str {
    match event {
        Some(GUARD_DECISION) => GUARD_DECISION,
        Some(VERIFICATION) => VERIFICATION,
        Some(e) => EVENTS
            .iter()
            .find(|k| **k == e)
            .copied()
            .unwrap_or("unknown"),
        None => "unknown",
    }
}

impl Metrics {
    /// Counts one request to `/v1/events` or `/v1/guard`.
    pub fn count(&self, event: &'static str, outcome: Outcome) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry((event, outcome)).or_default() += 1;
        }
    }

    /// Counts one written sync record that skipped the gate for `reason` (one of [`REASONS`]).
    pub fn count_ungated(&self, reason: &str) {
        if let Some(i) = REASONS.iter().position(|r| *r == reason) {
            self.ungated[i].fetch_add(1, Relaxed);
        }
    }

    /// Counts one record the Application watch handed to the log.
    pub fn count_watched(&self, via: Via, outcome: Outcome) {
        if let Ok(mut m) = self.watched.lock() {
            *m.entry((via.as_str(), outcome)).or_default() += 1;
        }
    }

    /// Counts one approvals judgment: `decided` at sync or after the fact, and its verdict.
    pub fn count_approval(&self, decided: &'static str, verdict: &str) {
        let verdict = match verdict {
            "approved" => "approved",
            "unapproved" => "unapproved",
            _ => "unverified",
        };
        if let Ok(mut m) = self.approval_decisions.lock() {
            *m.entry((decided, verdict)).or_default() += 1;
        }
    }

    /// Counts one ticket judgment: `decided` at sync or after the fact, and its verdict.
    pub fn count_ticket(&self, decided: &'static str, verdict: &'static str) {
        if let Ok(mut m) = self.ticket_decisions.lock() {
            *m.entry((decided, verdict)).or_default() += 1;
        }
    }

    /// Counts one work note written back to a ticket, by outcome.
    pub fn count_writeback(&self, outcome: &'static str) {
        if let Ok(mut m) = self.writebacks.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// Counts one verification verdict recorded.
    pub fn count_verdict(&self, verdict: &str) {
        if let Ok(mut m) = self.verdicts.lock() {
            *m.entry(verdict.to_owned()).or_default() += 1;
        }
    }

    /// Counts one rollback of a failed verification, by what was done.
    pub fn count_rollback(&self, action: &str) {
        if let Ok(mut m) = self.rollbacks.lock() {
            *m.entry(action.to_owned()).or_default() += 1;
        }
    }

    /// Observes one append's latency (enqueue to durable reply).
    pub fn observe_append(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(BUCKETS.len());
        if let Ok(mut h) = self.latency.lock() {
            h.buckets[bucket] += 1;
            h.count += 1;
            h.sum_nanos += took.as_nanos();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut x = Exposition::default();
        let events = self.events.lock().map(|m| m.clone()).unwrap_or_default();
        x.family(
            "sluice_events_total",
            "counter",
            "Requests to /v1/events and /v1/guard, by event and outcome.",
            events.iter().map(|((event, outcome), n)| {
                (
                    format!("event=\"{event}\",outcome=\"{}\"", outcome.label()),
                    n.to_string(),
                )
            }),
        );
        let latency = self.latency.lock().map(|h| {
            let mut cumulative = 0;
            let mut buckets = Vec::with_capacity(BUCKETS.len());
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                buckets.push((*bound, cumulative));
            }
            (buckets, h.count, h.sum_nanos)
        });
        if let Ok((buckets, count, sum_nanos)) = latency {
            x.histogram(
                "sluice_append_latency_seconds",
                "Time from queueing a record to its durable acknowledgement.",
                &buckets,
                count,
                sum_nanos as f64 / 1e9,
            );
        }
        let figures: [(&str, &str, &str, &AtomicU64); 7] = [
            (
                "sluice_audit_log_size_bytes",
                "gauge",
                "Bytes of durable records in audit.jsonl.",
                &self.log_bytes,
            ),
            (
                "sluice_audit_last_seq",
                "gauge",
                "Seq of the last durable record.",
                &self.last_seq,
            ),
            (
                "sluice_audit_torn_tails_recovered",
                "gauge",
                "Torn last lines moved aside at start (0 or 1).",
                &self.torn_tails,
            ),
            (
                "sluice_audit_torn_bytes_recovered",
                "gauge",
                "Bytes of the torn last line moved aside at start.",
                &self.torn_bytes,
            ),
            (
                "sluice_audit_write_failures_total",
                "counter",
                "Batches whose write or fsync failed (answered 503).",
                &self.write_failures,
            ),
            (
                "sluice_audit_batches_total",
                "counter",
                "Durable batches (one write and one fsync each).",
                &self.batches,
            ),
            (
                "sluice_audit_batched_records_total",
                "counter",
                "Records written in those batches.",
                &self.batched_records,
            ),
        ];
        for (name, kind, help, v) in figures {
            x.single(name, kind, help, v.load(Relaxed));
        }
        x.family(
            "sluice_ungated_syncs_total",
            "counter",
            "Sync records written whose sync skipped the gate (guard, backup, migrations), by reason.",
            REASONS
                .iter()
                .zip(&self.ungated)
                .map(|(reason, n)| (format!("reason=\"{reason}\""), n.load(Relaxed).to_string())),
        );
        let watched = self.watched.lock().map(|m| m.clone()).unwrap_or_default();
        x.family(
            "sluice_watch_records_total",
            "counter",
            "Records the Application watch handed to the log, by via and outcome.",
            watched.iter().map(|((via, outcome), n)| {
                (
                    format!("via=\"{via}\",outcome=\"{}\"", outcome.label()),
                    n.to_string(),
                )
            }),
        );
        x.single(
            "sluice_watch_relists_total",
            "counter",
            "Times the Application watch listed every Application (start, and after a watch expired).",
            self.watch_relists.load(Relaxed),
        );
        if let Some(watch) = self.watch.get() {
            x.watch_health(watch);
        }
        if let Some(c) = self.checkpoints.get() {
            x.single(
                "sluice_checkpoints_total",
                "counter",
                "Checkpoints signed since start.",
                c.signed.load(Relaxed),
            );
            x.single(
                "sluice_checkpoint_last_seq",
                "gauge",
                "Tree size (seq) of the newest signed checkpoint.",
                c.last_seq.load(Relaxed),
            );
            x.single(
                "sluice_checkpoint_failures_total",
                "counter",
                "Checkpoints that could not be written.",
                c.failures.load(Relaxed),
            );
            x.single(
                "sluice_checkpoint_refused",
                "gauge",
                "1 while the sink refuses to sign: the log does not extend the newest checkpoint signed before.",
                u64::from(c.refusal().is_some()),
            );
        }
        if let Some(witnesses) = self.witnesses.get() {
            x.witnesses(witnesses);
        }
        if let Some(a) = self.archive.get() {
            let rows: [(&str, &str, &str, &AtomicU64); 5] = [
                (
                    "sluice_archive_lag_segments",
                    "gauge",
                    "Sealed segments not yet in the archive.",
                    &a.lag_segments,
                ),
                (
                    "sluice_archive_lag_checkpoints",
                    "gauge",
                    "Checkpoints not yet in the archive.",
                    &a.lag_checkpoints,
                ),
                (
                    "sluice_archive_uploads_total",
                    "counter",
                    "Objects written to the archive.",
                    &a.uploads,
                ),
                (
                    "sluice_archive_upload_failures_total",
                    "counter",
                    "Failed archive uploads (each retried with backoff).",
                    &a.failures,
                ),
                (
                    "sluice_archive_last_success_timestamp_seconds",
                    "gauge",
                    "Unix time of the last archive pass that left nothing pending.",
                    &a.last_success_unix,
                ),
            ];
            for (name, kind, help, v) in rows {
                x.single(name, kind, help, v.load(Relaxed));
            }
        }
        if let Some(hosts) = self.hosts.get() {
            let decisions = self
                .approval_decisions
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default();
            x.family(
                "sluice_approval_decisions_total",
                "counter",
                "Approvals judged, by when (at-sync for the guard, after-the-fact for syncs that skipped it) and verdict.",
                decisions.iter().map(|((decided, verdict), n)| {
                    (format!("decided=\"{decided}\",verdict=\"{verdict}\""), n.to_string())
                }),
            );
            x.hosts("sluice_host", "Requests to the Git hosts", hosts);
        }
        if let Some(tickets) = self.tickets.get() {
            self.render_tickets(&mut x, tickets);
        }
        if let Some(rollback_hosts) = self.verification.get() {
            let verdicts = self.verdicts.lock().map(|m| m.clone()).unwrap_or_default();
            x.family(
                "sluice_verification_verdicts_total",
                "counter",
                "Verification verdicts recorded (the PostSync hook's final reports), by verdict.",
                verdicts
                    .iter()
                    .map(|(verdict, n)| (format!("verdict=\"{verdict}\""), n.to_string())),
            );
            let rollbacks = self.rollbacks.lock().map(|m| m.clone()).unwrap_or_default();
            x.family(
                "sluice_rollbacks_total",
                "counter",
                "What was done about failed verifications with onFailure: rollback, by action.",
                rollbacks
                    .iter()
                    .map(|(action, n)| (format!("action=\"{action}\""), n.to_string())),
            );
            if let Some(hosts) = rollback_hosts {
                x.hosts(
                    "sluice_rollback_host",
                    "Requests of the revert writer to the Git hosts",
                    hosts,
                );
            }
        }
        x.out
    }
}

impl Metrics {
    /// The ticket gate's families.
    fn render_tickets(&self, x: &mut Exposition, tickets: &TicketFigures) {
        let decisions = self
            .ticket_decisions
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        x.family(
            "sluice_ticket_decisions_total",
            "counter",
            "Change tickets judged, by when (at-sync for the guard, after-the-fact for syncs that skipped it) and verdict.",
            decisions.iter().map(|((decided, verdict), n)| {
                (format!("decided=\"{decided}\",verdict=\"{verdict}\""), n.to_string())
            }),
        );
        let notes = self
            .writebacks
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        x.family(
            "sluice_ticket_writebacks_total",
            "counter",
            "Work notes and comments written back to tickets when a sync finished, by outcome.",
            notes
                .iter()
                .map(|(outcome, n)| (format!("outcome=\"{outcome}\""), n.to_string())),
        );
        let (pending, overdue) = (tickets.reviews)(chrono::Utc::now());
        x.family(
            "sluice_emergency_reviews",
            "gauge",
            "Emergency changes without a post-implementation review, by status (pending: not yet due; overdue: past emergency.reviewWithin).",
            [("pending", pending), ("overdue", overdue)]
                .map(|(status, n)| (format!("status=\"{status}\""), n.to_string())),
        );
        x.family(
            "sluice_ticket_requests_total",
            "counter",
            "Requests to the ticket systems, by outcome (ok, cached, not_found, denied, rate_limited, failed).",
            tickets
                .systems
                .requests()
                .into_iter()
                .map(|((system, outcome), n)| {
                    (format!("system=\"{system}\",outcome=\"{outcome}\""), n.to_string())
                }),
        );
    }
}

/// The one writer of the text exposition: `# HELP`, `# TYPE`, then the samples of each metric.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.header(name, kind, help);
        let _ = writeln!(self.out, "{name} {value}");
    }

    fn family(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        rows: impl IntoIterator<Item = (String, String)>,
    ) {
        self.header(name, kind, help);
        for (labels, value) in rows {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }

    /// The Application watch's health.
    fn watch_health(&mut self, watch: &WatchHealth) {
        let since = watch.failing_since.load(Relaxed);
        self.single(
            "sluice_watch_healthy",
            "gauge",
            "1 while the Application watch works, 0 while it fails (it retries).",
            u64::from(since == 0),
        );
        self.single(
            "sluice_watch_failing_since_timestamp_seconds",
            "gauge",
            "Unix time since which the watch fails (0: it works).",
            since,
        );
        self.single(
            "sluice_watch_errors_total",
            "counter",
            "Errors of the Application watch (each retried with backoff).",
            watch.errors.load(Relaxed),
        );
        self.single(
            "sluice_watch_pending",
            "gauge",
            "Finished operations the watch holds until the webhook's grace period is over.",
            watch.pending.load(Relaxed),
        );
    }

    /// The witnesses' families, one sample per witness.
    fn witnesses(&mut self, witnesses: &[(String, Arc<WitnessStatus>)]) {
        type Get = fn(&WitnessStatus) -> u64;
        let rows: [(&str, &str, &str, Get); 4] = [
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
            self.family(
                name,
                kind,
                help,
                witnesses.iter().map(|(witness, status)| {
                    // The key name is the operator's configuration, not request data; quotes and
                    // backslashes escaped as the exposition format wants.
                    let label = witness.replace('\\', "\\\\").replace('"', "\\\"");
                    (format!("witness=\"{label}\""), get(status).to_string())
                }),
            );
        }
    }

    /// The requests to the Git hosts of one client, and their rate limits left.
    fn hosts(&mut self, prefix: &str, what: &str, hosts: &HostMetrics) {
        self.family(
            &format!("{prefix}_requests_total"),
            "counter",
            &format!("{what}, by outcome (ok, cached, not_found, denied, rate_limited, failed)."),
            hosts.requests().into_iter().map(|((host, outcome), n)| {
                (
                    format!("host=\"{host}\",outcome=\"{outcome}\""),
                    n.to_string(),
                )
            }),
        );
        self.family(
            &format!("{prefix}_rate_limit_remaining"),
            "gauge",
            "The host's X-RateLimit-Remaining at the last answer.",
            hosts
                .rate_limit_remaining()
                .into_iter()
                .map(|(host, n)| (format!("host=\"{host}\""), n.to_string())),
        );
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        cumulative: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) {
        self.header(name, "histogram", help);
        for (bound, n) in cumulative {
            let _ = writeln!(self.out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            self.out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.count(event_label(Some("sync-succeeded")), Outcome::Created);
        m.count(event_label(Some("sync-succeeded")), Outcome::Created);
        m.count(event_label(Some("<script>")), Outcome::Rejected);
        m.observe_append(Duration::from_millis(3));
        m.observe_append(Duration::from_secs(9));
        let text = m.render();
        assert!(
            text.contains("sluice_events_total{event=\"sync-succeeded\",outcome=\"created\"} 2\n")
        );
        assert!(text.contains("sluice_events_total{event=\"unknown\",outcome=\"rejected\"} 1\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"2.5\"} 1\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("sluice_append_latency_seconds_count 2\n"));
        assert!(text.contains("sluice_append_latency_seconds_sum 9.003\n"));
    }

    #[test]
    fn the_histogram_is_never_seen_half_updated() {
        let m = Arc::new(Metrics::default());
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        m.observe_append(Duration::from_micros(i % 3000));
                    }
                })
            })
            .collect();
        let value = |text: &str, key: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        for _ in 0..200 {
            let text = m.render();
            let inf = value(&text, "sluice_append_latency_seconds_bucket{le=\"+Inf\"}");
            let count = value(&text, "sluice_append_latency_seconds_count");
            let last = value(&text, "sluice_append_latency_seconds_bucket{le=\"2.5\"}");
            assert_eq!(inf, count);
            assert!(last <= inf);
        }
        for w in writers {
            w.join().unwrap();
        }
    }
}
