//! The verification hook's report (`POST /v1/verifications`, docs/hooks.md, "What the hook
//! reports") → a `verification` record, with the report checked and bounded: known members only,
//! phases and verdicts from Argo Rollouts' list, times in RFC 3339, lengths and counts capped. A
//! report that does not fit is refused whole (400), nothing recorded. Pure.

use super::event::{verification_key, EventError, VERIFICATION};
use super::evidence::{CheckEvidence, MeasurementEvidence, Verification};
use super::model::{Body, GuardApp, GuardDestination, VerificationRecord};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Most checks a report may carry (policy checks and collected `AnalysisRun` metrics).
pub const MAX_CHECKS: usize = 64;
/// Most measurements per check.
pub const MAX_MEASUREMENTS: usize = 1000;
/// Longest text member (a query, a value, a message).
pub const MAX_TEXT: usize = 8192;

/// The report as the hook sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Report {
    pub app: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub change_id: Option<String>,
    #[serde(default)]
    pub revision: Option<String>,
    /// `false` for a measurement in progress (kept in memory), `true` for the verdict (recorded).
    #[serde(rename = "final")]
    pub done: bool,
    pub verification: ReportedVerification,
}

/// The verification as reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportedVerification {
    #[serde(default)]
    pub verdict: Option<String>,
    #[serde(default)]
    pub reason: String,
    pub on_failure: String,
    pub within: String,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    pub checks: Vec<ReportedCheck>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedCheck {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub query: String,
    pub phase: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub measurements: Vec<ReportedMeasurement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportedMeasurement {
    #[serde(default)]
    pub value: String,
    pub phase: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default)]
    pub message: Option<String>,
}

const PHASES: [&str; 6] = [
    "Pending",
    "Running",
    "Successful",
    "Failed",
    "Error",
    "Inconclusive",
];
const VERDICTS: [&str; 4] = ["Successful", "Failed", "Inconclusive", "Error"];
const KINDS: [&str; 4] = ["prometheus", "http", "workloads", "rollouts-analysis"];
const ON_FAILURE: [&str; 3] = ["record", "fail-sync", "rollback"];

fn bad(field: &'static str, expected: &'static str) -> EventError {
    EventError::WrongType { field, expected }
}

fn text(field: &'static str, s: &str) -> Result<(), EventError> {
    if s.len() > MAX_TEXT {
        return Err(bad(field, "at most 8192 bytes"));
    }
    Ok(())
}

fn time(field: &'static str, s: &str) -> Result<(), EventError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|_| ())
        .map_err(|_| bad(field, "an RFC 3339 time"))
}

/// Reads a report.
///
/// # Errors
///
/// The body is not a report: unknown or missing members, values out of their lists, oversized.
pub fn report(body: &Value) -> Result<Report, EventError> {
    if !body.is_object() {
        return Err(EventError::NotAnObject);
    }
    let r: Report = serde_path_to_error::deserialize(body).map_err(|e| {
        let _ = e.path();
        bad(
            "verification report",
            "the shape the verify hook sends (docs/hooks.md, \"What the hook reports\")",
        )
    })?;
    if r.app.is_empty() || r.app.len() > 253 {
        return Err(EventError::Missing("app"));
    }
    for (field, v) in [
        ("namespace", &r.namespace),
        ("changeId", &r.change_id),
        ("revision", &r.revision),
    ] {
        if v.as_ref().is_some_and(|v| v.len() > 253) {
            return Err(bad(field, "at most 253 bytes"));
        }
    }
    let v = &r.verification;
    if v.verdict.as_deref().is_some_and(|x| !VERDICTS.contains(&x)) {
        return Err(bad(
            "verification.verdict",
            "Successful, Failed, Inconclusive or Error",
        ));
    }
    if !ON_FAILURE.contains(&v.on_failure.as_str()) {
        return Err(bad(
            "verification.onFailure",
            "record, fail-sync or rollback",
        ));
    }
    text("verification.reason", &v.reason)?;
    text("verification.within", &v.within)?;
    time("verification.startedAt", &v.started_at)?;
    if let Some(f) = &v.finished_at {
        time("verification.finishedAt", f)?;
    }
    if v.checks.len() > MAX_CHECKS {
        return Err(bad("verification.checks", "at most 64 checks"));
    }
    for c in &v.checks {
        if c.name.is_empty() || c.name.len() > 253 {
            return Err(bad("verification.checks[].name", "1 to 253 bytes"));
        }
        if !KINDS.contains(&c.kind.as_str()) {
            return Err(bad(
                "verification.checks[].kind",
                "prometheus, http, workloads or rollouts-analysis",
            ));
        }
        if !PHASES.contains(&c.phase.as_str()) {
            return Err(bad(
                "verification.checks[].phase",
                "an Argo Rollouts AnalysisPhase",
            ));
        }
        text("verification.checks[].query", &c.query)?;
        text(
            "verification.checks[].message",
            c.message.as_deref().unwrap_or(""),
        )?;
        if c.measurements.len() > MAX_MEASUREMENTS {
            return Err(bad(
                "verification.checks[].measurements",
                "at most 1000 measurements",
            ));
        }
        for m in &c.measurements {
            if !PHASES.contains(&m.phase.as_str()) {
                return Err(bad(
                    "verification.checks[].measurements[].phase",
                    "an Argo Rollouts AnalysisPhase",
                ));
            }
            text("verification.checks[].measurements[].value", &m.value)?;
            text(
                "verification.checks[].measurements[].message",
                m.message.as_deref().unwrap_or(""),
            )?;
            time(
                "verification.checks[].measurements[].startedAt",
                &m.started_at,
            )?;
            time(
                "verification.checks[].measurements[].finishedAt",
                &m.finished_at,
            )?;
        }
    }
    if r.done && v.verdict.is_none() {
        return Err(EventError::Missing("verification.verdict"));
    }
    Ok(r)
}

impl ReportedVerification {
    /// The record member: the finding of the verdict, no report seq, no rollback yet.
    pub fn to_evidence(&self) -> Verification {
        let checks = self
            .checks
            .iter()
            .map(|c| CheckEvidence {
                name: c.name.clone(),
                kind: c.kind.clone(),
                query: c.query.clone(),
                phase: c.phase.clone(),
                message: c.message.clone(),
                measurements: c
                    .measurements
                    .iter()
                    .map(|m| MeasurementEvidence {
                        value: m.value.clone(),
                        phase: m.phase.clone(),
                        started_at: m.started_at.clone(),
                        finished_at: m.finished_at.clone(),
                        message: m.message.clone(),
                        extra: Map::new(),
                    })
                    .collect(),
                extra: Map::new(),
            })
            .collect();
        Verification {
            verdict: self.verdict.clone(),
            finding: Verification::finding_of(self.verdict.as_deref()),
            reason: self.reason.clone(),
            on_failure: Some(self.on_failure.clone()),
            within: Some(self.within.clone()),
            started_at: Some(self.started_at.clone()),
            finished_at: self.finished_at.clone(),
            checks,
            report: None,
            rollback: None,
            extra: Map::new(),
        }
    }
}

/// The `verification` record of a final report.
pub fn verification_record(r: &Report, received_at: &str) -> Body {
    let namespace = r.namespace.clone().filter(|n| !n.is_empty());
    let key = verification_key(
        &format!("{}/{}", namespace.as_deref().unwrap_or(""), r.app),
        r.revision.as_deref().unwrap_or(""),
        &r.verification.started_at,
    );
    Body::Verify(Box::new(VerificationRecord {
        event: VERIFICATION.to_owned(),
        received_at: received_at.to_owned(),
        key,
        app: GuardApp {
            name: r.app.clone(),
            extra: Map::new(),
        },
        destination: GuardDestination {
            namespace,
            extra: Map::new(),
        },
        change_id: r.change_id.clone().filter(|c| !c.is_empty()),
        revision: r.revision.clone().filter(|c| !c.is_empty()),
        verification: Verification {
            // The sync record of the operation carries the finding (`audit exceptions` lists syncs).
            finding: None,
            ..r.verification.to_evidence()
        },
        extra: Map::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn sample(done: bool) -> Value {
        json!({"app": "shop", "namespace": "production", "changeId": "CHG-1", "revision": "abc", "final": done,
            "verification": {"verdict": if done { json!("Failed") } else { Value::Null }, "reason": "errors: failed (1) > failureLimit (0)",
                "onFailure": "fail-sync", "within": "5m", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:03Z",
                "checks": [{"name": "errors", "kind": "prometheus", "query": "sum(rate(x[1m]))", "phase": "Failed", "message": null,
                    "measurements": [{"value": "[0.2]", "phase": "Failed", "startedAt": "2026-01-01T00:00:01Z", "finishedAt": "2026-01-01T00:00:01Z"}]}]}})
    }

    #[test]
    fn a_final_report_becomes_a_verification_record() {
        let r = report(&sample(true)).unwrap();
        let Body::Verify(v) = verification_record(&r, "2026-01-01T00:00:04.000Z") else {
            panic!()
        };
        assert_eq!(v.event, "verification");
        assert_eq!(v.verification.verdict.as_deref(), Some("Failed"));
        assert_eq!(v.verification.finding, None);
        assert_eq!(
            r.verification.to_evidence().finding.as_deref(),
            Some("verification-failed")
        );
        assert_eq!(v.verification.checks[0].measurements[0].value, "[0.2]");
        // The key depends on the start, not on the receipt.
        let Body::Verify(again) = verification_record(&r, "2026-01-02T00:00:00.000Z") else {
            panic!()
        };
        assert_eq!(v.key, again.key);
    }

    #[test]
    fn a_report_that_does_not_fit_is_refused() {
        let mut x = sample(true);
        x["verification"]["verdict"] = json!("Passed");
        assert!(report(&x).is_err());
        let mut x = sample(true);
        x["verification"]["checks"][0]["measurements"][0]["startedAt"] = json!("yesterday");
        assert!(report(&x).is_err());
        let mut x = sample(true);
        x["verification"]["extra"] = json!(1);
        assert!(report(&x).is_err());
        let mut x = sample(true);
        x["verification"]["verdict"] = Value::Null;
        assert!(report(&x).is_err(), "a final report needs a verdict");
        let mut x = sample(false);
        x["verification"]["checks"][0]["query"] = json!("x".repeat(MAX_TEXT + 1));
        assert!(report(&x).is_err());
        assert!(report(&sample(false)).is_ok());
        assert!(report(&json!([])).is_err());
    }
}
