//! `sluice verify`, in the `PostSync` hook Job (docs/hooks.md, "Post-change verification"): runs the
//! policy's checks after the sync, each on its own cadence and all at once, as an `AnalysisRun` runs its
//! metrics; reports each measurement and the verdict to the sink; collects the verdicts of the app's
//! Argo Rollouts `AnalysisRuns`. Takes the validated [`Plan`] (the commands layer reads it from the
//! Job's environment) and an optional [`report::Sink`]; gives the [`Outcome`]. Runs on the caller's
//! runtime (no threads, no tasks of its own: the checks are futures joined on one task).
//!
//! ```text
//! Plan → checks (futures): prometheus | http → measurement → analysis (evaluate, limits) → phase
//!                          workloads → poll every interval → kubectl rollout status → phase
//!      → a check that ends Failed, Error or Inconclusive stops the others (Argo's terminating run)
//!      → AnalysisRuns of the app's Rollouts → more checks
//!      → verdict (the worst phase) → the sink (progress on every measurement, the verdict retried)
//! ```
//!
//! Everything is bounded by `within`: a check that cannot take its next measurement in time is
//! judged by what it has ([`crate::analysis::metric::MetricState::assess_at_deadline`]).

pub mod cluster;
pub mod probe;
pub mod report;

use crate::analysis::metric::{Limits, MetricState};
use crate::analysis::read::{self, Rollout};
use crate::analysis::{verdict, Measurement, Phase};
use crate::policy::verify::{self, CheckSpec, Conditions, Kind, VerifySpec};
use cluster::WorkloadRef;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Default seconds of a Prometheus query (Argo Rollouts' provider default).
const PROMETHEUS_TIMEOUT: u64 = 30;
/// Default seconds of an HTTP probe (Argo Rollouts' web provider default).
const HTTP_TIMEOUT: u64 = 10;
/// How often `AnalysisRuns` still running are looked at again.
const ANALYSIS_POLL: Duration = Duration::from_secs(5);

/// Which app and change the hook verifies.
#[derive(Debug, Clone, Default)]
pub struct AppRef {
    /// `ARGOCD_APP_NAME` as Argo CD gives it.
    pub name: String,
    pub namespace: String,
    pub change_id: String,
    /// The full revision synced.
    pub revision: String,
}

/// What the hook runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub spec: VerifySpec,
    /// The Deployments, `StatefulSets`, `DaemonSets` and Rollouts the app renders.
    pub workloads: Vec<WorkloadRef>,
    pub app: AppRef,
    /// The installation's Prometheus (`SLUICE_PROMETHEUS_URL`), for checks whose policy names none.
    pub prometheus: Option<String>,
}

/// Why verification could not start.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Setup(String),
}

/// One check's result, as the record shows it.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub name: String,
    pub kind: &'static str,
    pub query: String,
    pub phase: Phase,
    pub message: Option<String>,
    pub measurements: Vec<Measurement>,
}

impl CheckResult {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name, "kind": self.kind, "query": self.query, "phase": self.phase.as_str(),
            "message": self.message, "measurements": self.measurements,
        })
    }
}

/// The verdict and everything measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Phase,
    pub reason: String,
    pub checks: Vec<CheckResult>,
    pub started_at: String,
    pub finished_at: String,
}

impl Outcome {
    /// The `verification` member of the report.
    pub fn to_json(&self, spec: &VerifySpec) -> Value {
        json!({
            "verdict": self.verdict.as_str(), "reason": self.reason, "onFailure": spec.on_failure.as_str(),
            "within": spec.within, "startedAt": self.started_at, "finishedAt": self.finished_at,
            "checks": self.checks.iter().map(CheckResult::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The report body the sink takes.
pub fn report_body(app: &AppRef, done: bool, verification: &Value) -> Value {
    let opt = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
    json!({
        "app": app.name, "namespace": opt(&app.namespace), "changeId": opt(&app.change_id),
        "revision": opt(&app.revision), "final": done, "verification": verification,
    })
}

struct Prepared<'a> {
    spec: &'a CheckSpec,
    kind: Kind,
    query: String,
    limits: Limits,
    conditions: Conditions,
    /// The Prometheus server, for a Prometheus check.
    address: String,
    path: Vec<verify::Step>,
}

struct Run<'a> {
    plan: &'a Plan,
    checks: Vec<Prepared<'a>>,
    http: reqwest::Client,
    started: Instant,
    deadline: Instant,
    started_at: String,
    /// Each check's result so far (a snapshot is reported after every measurement).
    results: Mutex<Vec<CheckResult>>,
    /// Wakes the reporter; taken (closed) when every check has ended.
    progress: Mutex<Option<mpsc::UnboundedSender<()>>>,
    stop: watch::Sender<bool>,
}

/// Runs the plan to its verdict.
///
/// # Errors
///
/// The HTTP client cannot be built, or a Prometheus check has no server to ask.
pub async fn run(plan: &Plan, sink: Option<&report::Sink>) -> Result<Outcome, VerifyError> {
    let within = plan.spec.within();
    let started = Instant::now();
    let started_at = probe::now();
    let mut checks = Vec::new();
    for check in &plan.spec.checks {
        checks.push(prepare(plan, check)?);
    }
    let results = checks
        .iter()
        .map(|c| CheckResult {
            name: c.spec.name.clone(),
            kind: c.kind.as_str(),
            query: c.query.clone(),
            phase: Phase::Pending,
            message: None,
            measurements: Vec::new(),
        })
        .collect();
    let (progress, mut updates) = mpsc::unbounded_channel();
    let (stop, _) = watch::channel(false);
    let run = Run {
        plan,
        checks,
        http: probe::client().map_err(VerifyError::Setup)?,
        started,
        deadline: started + within,
        started_at: started_at.clone(),
        results: Mutex::new(results),
        progress: Mutex::new(Some(progress)),
        stop,
    };
    let checks = async {
        let all = (0..run.checks.len()).map(|i| run.check(i));
        futures_util::future::join_all(all).await;
        run.collect_analysis_runs().await;
    };
    let reporter = async {
        while updates.recv().await.is_some() {
            while updates.try_recv().is_ok() {}
            if let Some(sink) = sink {
                sink.progress(&report_body(&plan.app, false, &run.snapshot(None)))
                    .await;
            }
        }
    };
    let checks = async {
        checks.await;
        // No more progress: the reporter drains what is queued and ends.
        run.progress_closed();
    };
    tokio::join!(checks, reporter);
    let results = run.take_results();
    let phases: Vec<Phase> = results.iter().map(|c| c.phase).collect();
    let verdict = verdict(phases).unwrap_or(Phase::Successful);
    let reason = reason_of(verdict, &results);
    tracing::info!(
        verdict = verdict.as_str(),
        seconds = run.started.elapsed().as_secs(),
        "{reason}"
    );
    Ok(Outcome {
        verdict,
        reason,
        checks: results,
        started_at,
        finished_at: probe::now(),
    })
}

fn reason_of(verdict: Phase, results: &[CheckResult]) -> String {
    if verdict == Phase::Successful {
        return format!("every check Successful ({} checks)", results.len());
    }
    results.iter().find(|c| c.phase == verdict).map_or_else(
        || verdict.as_str().to_owned(),
        |c| {
            format!(
                "check {:?} assessed {}: {}",
                c.name,
                verdict.as_str(),
                c.message.as_deref().unwrap_or("no message")
            )
        },
    )
}

fn prepare<'a>(plan: &Plan, check: &'a CheckSpec) -> Result<Prepared<'a>, VerifyError> {
    let kind = check.kind();
    let conditions = verify::conditions(check).map_err(|(k, m)| {
        VerifyError::Setup(format!("verify.checks {:?}: {k}: {m}", check.name))
    })?;
    let mut address = String::new();
    let mut path = Vec::new();
    let query = match kind {
        Kind::Prometheus => {
            let p = check
                .prometheus()
                .ok_or_else(|| VerifyError::Setup("no query".into()))?;
            address = [&p.address, &plan.spec.prometheus.address]
                .into_iter()
                .find(|a| !a.is_empty())
                .cloned()
                .or_else(|| plan.prometheus.clone().filter(|a| !a.is_empty()))
                .ok_or_else(|| VerifyError::Setup(format!(
                    "check {:?}: no Prometheus to ask; set verify.prometheus.address (or the check's prometheus.address) in .sluice.yaml, or SLUICE_PROMETHEUS_URL on the plugin sidecar",
                    check.name
                )))?;
            p.query.clone()
        }
        Kind::Http => {
            let h = check
                .http
                .as_ref()
                .ok_or_else(|| VerifyError::Setup("no url".into()))?;
            if let Some(p) = &h.json_path {
                path = verify::json_path(p).map_err(VerifyError::Setup)?;
            }
            h.url.clone()
        }
        Kind::Workloads => {
            let labels: Vec<String> = plan.workloads.iter().map(WorkloadRef::label).collect();
            if labels.is_empty() {
                "(no workload rendered)".to_owned()
            } else {
                labels.join(", ")
            }
        }
    };
    Ok(Prepared {
        spec: check,
        kind,
        query,
        limits: Limits::of(check),
        conditions,
        address,
        path,
    })
}

impl Run<'_> {
    fn snapshot(&self, verdict: Option<Phase>) -> Value {
        let results = self.results.lock().map(|r| r.clone()).unwrap_or_default();
        json!({
            "verdict": verdict.map(Phase::as_str), "reason": "", "onFailure": self.plan.spec.on_failure.as_str(),
            "within": self.plan.spec.within, "startedAt": self.started_at, "finishedAt": Value::Null,
            "checks": results.iter().map(CheckResult::to_json).collect::<Vec<_>>(),
        })
    }

    fn take_results(&self) -> Vec<CheckResult> {
        self.results
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    fn progress_closed(&self) {
        // The last sender goes: the reporter reports what is queued, then ends.
        if let Ok(mut p) = self.progress.lock() {
            p.take();
        }
    }

    fn notify(&self) {
        if let Ok(p) = self.progress.lock() {
            if let Some(p) = p.as_ref() {
                let _ = p.send(());
            }
        }
    }

    fn update(&self, i: usize, f: impl FnOnce(&mut CheckResult)) {
        if let Ok(mut results) = self.results.lock() {
            if let Some(r) = results.get_mut(i) {
                f(r);
            }
        }
        self.notify();
    }

    fn end(&self, i: usize, phase: Phase, message: Option<String>) {
        tracing::info!(check = %self.checks.get(i).map_or("", |c| c.spec.name.as_str()), phase = phase.as_str(), "{}", message.as_deref().unwrap_or(""));
        if matches!(phase, Phase::Failed | Phase::Error | Phase::Inconclusive) {
            self.stop.send_replace(true);
        }
        self.update(i, |r| {
            r.phase = phase;
            r.message = message;
        });
    }

    /// Sleeps until `until`; `false` when the verification was stopped meanwhile.
    async fn wait(&self, until: Instant) -> bool {
        let mut stop = self.stop.subscribe();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(until) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    async fn check(&self, i: usize) {
        match self.checks[i].kind {
            Kind::Workloads => self.workloads(i).await,
            Kind::Prometheus | Kind::Http => self.metric(i).await,
        }
    }

    async fn measure(&self, c: &Prepared<'_>) -> Measurement {
        let left = self
            .deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        if c.kind == Kind::Http {
            let h = c.spec.http.as_ref();
            let probe = probe::HttpProbe {
                url: &c.query,
                expected_status: h.and_then(|h| h.expected_status).unwrap_or(200),
                path: &c.path,
                timeout: Duration::from_secs(
                    h.and_then(|h| h.timeout_seconds).unwrap_or(HTTP_TIMEOUT),
                )
                .min(left),
                headers: h.map_or(&[], |h| h.headers.as_slice()),
            };
            probe::http(&self.http, &probe, &c.conditions).await
        } else {
            let timeout = c
                .spec
                .prometheus()
                .and_then(|p| p.timeout)
                .unwrap_or(PROMETHEUS_TIMEOUT);
            probe::prometheus(
                &self.http,
                &c.address,
                &c.query,
                Duration::from_secs(timeout).min(left),
                &c.conditions,
            )
            .await
        }
    }

    /// A Prometheus or HTTP check: measure on its cadence until its limits decide, it is stopped,
    /// or `within` leaves no time for the next measurement.
    async fn metric(&self, i: usize) {
        let c = &self.checks[i];
        let mut state = MetricState::default();
        while let Some(wait) = state.next_after(&c.limits) {
            let due = Instant::now() + wait;
            if due >= self.deadline {
                let (phase, why) = state.assess_at_deadline(&c.limits, &self.plan.spec.within);
                return self.end(i, phase, Some(why));
            }
            if !self.wait(due).await {
                let (phase, why) = state.assess(&c.limits, true);
                return self.end(i, phase, why);
            }
            let m = self.measure(c).await;
            tracing::info!(check = %c.spec.name, phase = m.phase.as_str(), value = %m.value, "measured{}", m.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default());
            state.record(m.clone());
            let (phase, why) = state.assess(&c.limits, false);
            self.update(i, |r| {
                r.measurements.push(m);
                r.phase = phase;
            });
            if phase.completed() {
                return self.end(i, phase, why);
            }
        }
        let (phase, why) = state.assess(&c.limits, false);
        self.end(i, phase, why);
    }

    /// The workload check: every rendered workload rolled out, as `kubectl rollout status` judges,
    /// polled every `interval` until `within`.
    async fn workloads(&self, i: usize) {
        let c = &self.checks[i];
        let interval = c
            .spec
            .interval
            .as_deref()
            .and_then(|t| verify::duration(t).ok())
            .unwrap_or_else(|| {
                verify::duration(verify::DEFAULT_WORKLOAD_INTERVAL)
                    .unwrap_or(Duration::from_secs(5))
            });
        let started_at = probe::now();
        let finish = |phase: Phase, value: String, message: String| {
            let m = Measurement {
                value,
                phase,
                started_at: started_at.clone(),
                finished_at: probe::now(),
                message: Some(message.clone()),
            };
            self.update(i, |r| r.measurements.push(m));
            self.end(i, phase, Some(message));
        };
        if self.plan.workloads.is_empty() {
            return finish(
                Phase::Successful,
                "0 workloads".into(),
                "no Deployment, StatefulSet, DaemonSet or Rollout is rendered".into(),
            );
        }
        let client = match cluster::connect().await {
            Ok(c) => c,
            Err(e) => return finish(Phase::Error, String::new(), e),
        };
        loop {
            let mut states = Vec::new();
            for w in &self.plan.workloads {
                let state = match w.path() {
                    Some(path) => match cluster::get(&client, &path).await {
                        Ok(obj) => Ok((read::rollout_status(&w.kind, &obj), obj)),
                        Err(e) => Err(e),
                    },
                    None => Err(format!("{} is not a kind the check judges", w.kind)),
                };
                states.push((w, state));
            }
            let done = states
                .iter()
                .filter(|(_, s)| matches!(s, Ok((Rollout::Done(_), _))))
                .count();
            let value = format!("{done} of {} rolled out", states.len());
            if let Some((w, Ok((Rollout::Failed(why), _)))) = states
                .iter()
                .find(|(_, s)| matches!(s, Ok((Rollout::Failed(_), _))))
            {
                return finish(Phase::Failed, value, format!("{}: {why}", w.label()));
            }
            if done == states.len() {
                return finish(
                    Phase::Successful,
                    value,
                    "every workload rolled out and available".into(),
                );
            }
            let now = Instant::now();
            if now >= self.deadline {
                let only_errors = states
                    .iter()
                    .all(|(_, s)| s.is_err() || matches!(s, Ok((Rollout::Done(_), _))));
                let lines: Vec<String> = states
                    .iter()
                    .filter_map(|(w, s)| match s {
                        Ok((Rollout::Done(_), _)) => None,
                        Ok((Rollout::Waiting(why), obj)) => {
                            let conditions: Vec<String> =
                                ["Available", "Progressing", "ReplicaFailure"]
                                    .iter()
                                    .filter_map(|k| read::condition(obj, k))
                                    .collect();
                            Some(format!(
                                "{} not rolled out within {}: {why}{}",
                                w.label(),
                                self.plan.spec.within,
                                if conditions.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ({})", conditions.join("; "))
                                }
                            ))
                        }
                        Ok((Rollout::Failed(why), _)) => Some(format!("{}: {why}", w.label())),
                        Err(e) => Some(format!("{}: {e}", w.label())),
                    })
                    .collect();
                let phase = if only_errors {
                    Phase::Error
                } else {
                    Phase::Failed
                };
                return finish(phase, value, lines.join("; "));
            }
            if !self.wait((now + interval).min(self.deadline)).await {
                let m = format!("terminated: another check ended the verification ({value})");
                self.update(i, |r| {
                    r.measurements.push(Measurement {
                        value: value.clone(),
                        phase: Phase::Inconclusive,
                        started_at: started_at.clone(),
                        finished_at: probe::now(),
                        message: Some(m.clone()),
                    });
                });
                return self.end(i, Phase::Inconclusive, Some(m));
            }
        }
    }

    /// The `AnalysisRuns` of the app's Rollouts for the revision synced (the Rollout's current pod
    /// template), waited for until `within` (or read once when the verification was stopped), as
    /// more checks of kind `rollouts-analysis`.
    async fn collect_analysis_runs(&self) {
        let rollouts: Vec<&WorkloadRef> = self
            .plan
            .workloads
            .iter()
            .filter(|w| w.kind == "Rollout")
            .collect();
        if rollouts.is_empty() {
            return;
        }
        let client = match cluster::connect().await {
            Ok(c) => c,
            Err(e) => {
                return self.push(CheckResult {
                    name: "rollouts".into(),
                    kind: "rollouts-analysis",
                    query: rollouts
                        .iter()
                        .map(|r| r.label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    phase: Phase::Error,
                    message: Some(e),
                    measurements: Vec::new(),
                })
            }
        };
        loop {
            let mut found: Vec<CheckResult> = Vec::new();
            let mut running = false;
            for r in &rollouts {
                let runs = match self.runs_of(&client, r).await {
                    Ok(runs) => runs,
                    Err(e) => {
                        found.push(CheckResult {
                            name: format!("{}/analysis", r.name),
                            kind: "rollouts-analysis",
                            query: r.label(),
                            phase: Phase::Error,
                            message: Some(e),
                            measurements: Vec::new(),
                        });
                        continue;
                    }
                };
                for run in runs {
                    running |= !run.phase.completed();
                    for (metric, phase, measurements) in run.metrics {
                        found.push(CheckResult {
                            name: format!("{}/{metric}", run.name),
                            kind: "rollouts-analysis",
                            query: run.name.clone(),
                            phase,
                            message: Some(run.message.clone()).filter(|m| !m.is_empty()),
                            measurements,
                        });
                    }
                }
            }
            let stopped = *self.stop.borrow();
            let now = Instant::now();
            if !running || stopped || now >= self.deadline {
                for mut f in found {
                    if !f.phase.completed() {
                        f.message = Some(format!("the AnalysisRun was still {} at the end of the verification (within {})", f.phase.as_str(), self.plan.spec.within));
                        f.phase = Phase::Inconclusive;
                    }
                    self.push(f);
                }
                return;
            }
            // Stopped meanwhile: the next pass reads once more and ends.
            self.wait((now + ANALYSIS_POLL).min(self.deadline)).await;
        }
    }

    async fn runs_of(
        &self,
        client: &kube::Client,
        rollout: &WorkloadRef,
    ) -> Result<Vec<read::AnalysisRun>, String> {
        let path = rollout.path().unwrap_or_default();
        let obj = cluster::get(client, &path).await?;
        let Some(hash) = obj
            .pointer("/status/currentPodHash")
            .and_then(Value::as_str)
        else {
            return Ok(Vec::new());
        };
        let runs = cluster::analysis_runs(client, rollout, hash).await?;
        Ok(runs.iter().map(read::analysis_run).collect())
    }

    fn push(&self, result: CheckResult) {
        if let Ok(mut results) = self.results.lock() {
            results.push(result);
        }
        self.notify();
    }
}
