//! The sink's counters and their Prometheus text exposition (format 0.0.4): events by event type and
//! outcome, the append latency histogram, the log's size and last seq, recovery and write failures.
//! Label values come from fixed sets only (never from request data beyond the eight known events).

use crate::record::gate::REASONS;
use crate::record::{Via, EVENTS, GUARD_DECISION, VERIFICATION};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
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

/// All the sink's metrics; shared by the workers and the writer.
#[derive(Debug, Default)]
pub struct Metrics {
    events: Mutex<BTreeMap<(&'static str, Outcome), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_nanos: AtomicU64,
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
    /// Checkpoints and archive, when configured (`sink::evidence`).
    pub evidence: std::sync::OnceLock<std::sync::Arc<super::evidence::Status>>,
    /// The Application watch's health, when it runs (`sink::watched`).
    pub watch: std::sync::OnceLock<std::sync::Arc<super::watch_health::WatchHealth>>,
    /// More lines from a part of the sink with counters of its own (the approvals decisions and
    /// the Git hosts' requests, `sink::approvals`).
    pub more: std::sync::OnceLock<MoreMetrics>,
}

/// Writes further Prometheus lines.
#[derive(Clone)]
pub struct MoreMetrics(pub std::sync::Arc<dyn Fn(&mut String) + Send + Sync>);

impl std::fmt::Debug for MoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MoreMetrics")
    }
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

    /// Observes one append's latency (enqueue to durable reply).
    pub fn observe_append(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        let _ = writeln!(o, "# HELP sluice_events_total Requests to /v1/events and /v1/guard, by event and outcome.");
        let _ = writeln!(o, "# TYPE sluice_events_total counter");
        if let Ok(m) = self.events.lock() {
            for ((event, outcome), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_events_total{{event=\"{event}\",outcome=\"{}\"}} {n}",
                    outcome.label()
                );
            }
        }
        let _ = writeln!(o, "# HELP sluice_append_latency_seconds Time from queueing a record to its durable acknowledgement.");
        let _ = writeln!(o, "# TYPE sluice_append_latency_seconds histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                o,
                "sluice_append_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            o,
            "sluice_append_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(o, "sluice_append_latency_seconds_sum {sum}");
        let _ = writeln!(o, "sluice_append_latency_seconds_count {count}");
        let gauges: [(&str, &str, &str, &AtomicU64); 7] = [
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
        for (name, kind, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
            let _ = writeln!(o, "{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(o, "# HELP sluice_ungated_syncs_total Sync records written whose sync skipped the gate (guard, backup, migrations), by reason.");
        let _ = writeln!(o, "# TYPE sluice_ungated_syncs_total counter");
        for (reason, n) in REASONS.iter().zip(&self.ungated) {
            let _ = writeln!(
                o,
                "sluice_ungated_syncs_total{{reason=\"{reason}\"}} {}",
                n.load(Relaxed)
            );
        }
        let _ = writeln!(o, "# HELP sluice_watch_records_total Records the Application watch handed to the log, by via and outcome.");
        let _ = writeln!(o, "# TYPE sluice_watch_records_total counter");
        if let Ok(m) = self.watched.lock() {
            for ((via, outcome), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "sluice_watch_records_total{{via=\"{via}\",outcome=\"{}\"}} {n}",
                    outcome.label()
                );
            }
        }
        let _ = writeln!(o, "# HELP sluice_watch_relists_total Times the Application watch listed every Application (start, and after a watch expired).");
        let _ = writeln!(o, "# TYPE sluice_watch_relists_total counter");
        let _ = writeln!(
            o,
            "sluice_watch_relists_total {}",
            self.watch_relists.load(Relaxed)
        );
        if let Some(watch) = self.watch.get() {
            watch.render(o);
        }
        if let Some(evidence) = self.evidence.get() {
            evidence.render(o);
        }
        if let Some(more) = self.more.get() {
            (more.0)(o);
        }
        out
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
        let text = m.render();
        assert!(
            text.contains("sluice_events_total{event=\"sync-succeeded\",outcome=\"created\"} 2\n")
        );
        assert!(text.contains("sluice_events_total{event=\"unknown\",outcome=\"rejected\"} 1\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("sluice_append_latency_seconds_bucket{le=\"+Inf\"} 1\n"));
    }
}
