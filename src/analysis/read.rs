//! What the providers answer, read into values and phases. Pure: bytes and JSON in, no I/O.
//!
//! - Prometheus's HTTP API (`/api/v1/query`, docs "HTTP API", "Expression query result formats"): a
//!   vector is a list of its samples' values, a matrix the list of all its points, a scalar a
//!   number (argo-rollouts `metricproviders/prometheus/prometheus.go`, `processResponse`); the value
//!   printed as Argo prints it (`[0.01,0.02]`, Go's `FormatFloat(v, 'f', -1)`, `NaN`, `+Inf`);
//!   a string result, `status: error`, or a body that is not the API's is an Error.
//! - An HTTP probe's body: JSON when it parses (then `jsonPath` picks the value), else the text, as
//!   Argo's web provider reads it.
//! - A workload as `kubectl rollout status` judges it (kubectl `pkg/polymorphichelpers/
//!   rollout_status.go`: Deployment, `DaemonSet`, `StatefulSet`), and an Argo Rollouts `Rollout` by its
//!   `status.phase` as `kubectl argo rollouts status` does.
//! - An Argo Rollouts `AnalysisRun`: its phase, metrics and measurements.

use super::{Measurement, Phase};
use crate::expr::Value;
use crate::policy::verify::Step;
use serde_json::Value as Json;

/// A Prometheus float as Go's `model.SampleValue.String()` prints it.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{f}")
    }
}

/// A sample value as Prometheus sends it (a string: `"0.01"`, `"NaN"`, `"+Inf"`).
fn sample(v: &Json) -> Option<f64> {
    let text = v.as_str()?;
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// The `result` and the printed value of an instant-query response.
///
/// # Errors
///
/// An error answer (`status: error`, with Prometheus's `errorType` and `error`), a string result, or
/// a body that is not Prometheus's.
pub fn prometheus(body: &Json) -> Result<(Value, String), String> {
    if body.get("status").and_then(Json::as_str) == Some("error") {
        let kind = body
            .get("errorType")
            .and_then(Json::as_str)
            .unwrap_or("error");
        let why = body
            .get("error")
            .and_then(Json::as_str)
            .unwrap_or("no message");
        return Err(format!("Prometheus answered {kind}: {why}"));
    }
    let data = body
        .get("data")
        .ok_or("the answer has no data (is the address a Prometheus server?)")?;
    let result = data.get("result").ok_or("the answer has no data.result")?;
    let malformed = || "a sample of the answer is malformed".to_owned();
    let pair_value = |pair: &Json| pair.as_array().and_then(|p| p.get(1)).and_then(sample);
    let values: Vec<f64> = match data.get("resultType").and_then(Json::as_str) {
        Some("scalar") => {
            let v = pair_value(result).ok_or_else(malformed)?;
            return Ok((Value::Float(v), go_float(v)));
        }
        Some("vector") => result
            .as_array()
            .ok_or_else(malformed)?
            .iter()
            .map(|s| s.get("value").and_then(pair_value).ok_or_else(malformed))
            .collect::<Result<_, _>>()?,
        Some("matrix") => {
            let mut all = Vec::new();
            for series in result.as_array().ok_or_else(malformed)? {
                for point in series
                    .get("values")
                    .and_then(Json::as_array)
                    .ok_or_else(malformed)?
                {
                    all.push(pair_value(point).ok_or_else(malformed)?);
                }
            }
            all
        }
        other => {
            return Err(format!(
                "Prometheus metric type not supported ({})",
                other.unwrap_or("no resultType")
            ))
        }
    };
    let printed = format!(
        "[{}]",
        values
            .iter()
            .map(|v| go_float(*v))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok((
        Value::List(values.into_iter().map(Value::Float).collect()),
        printed,
    ))
}

/// The value an HTTP probe's conditions see, and how it is printed: the JSON at `path` (the whole
/// body without one), or the body's text when it is not JSON.
///
/// # Errors
///
/// The path leads nowhere.
pub fn http_value(body: &[u8], path: &[Step]) -> Result<(Value, String), String> {
    let Ok(json) = serde_json::from_slice::<Json>(body) else {
        let text = String::from_utf8_lossy(body).into_owned();
        return Ok((Value::Str(text.clone()), text));
    };
    let mut at = &json;
    for step in path {
        let next = match (step, at) {
            (Step::Member(name), Json::Object(map)) => map.get(name),
            (Step::Index(i), Json::Array(items)) => {
                let i = if *i < 0 { items.len() as i64 + i } else { *i };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        at = next.ok_or_else(|| "Could not find JSONPath in body".to_owned())?;
    }
    Ok((Value::from_json(at), at.to_string()))
}

/// Where a workload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Fully rolled out and available.
    Done(String),
    /// Still rolling out.
    Waiting(String),
    /// Cannot get there (a progress deadline exceeded, a Degraded Rollout).
    Failed(String),
}

fn int(v: &Json, path: &str) -> i64 {
    v.pointer(path).and_then(Json::as_i64).unwrap_or(0)
}

fn opt_int(v: &Json, path: &str) -> Option<i64> {
    v.pointer(path).and_then(Json::as_i64)
}

/// The condition of `kind` in `status.conditions`, as `type=status reason: message`.
pub fn condition(obj: &Json, kind: &str) -> Option<String> {
    let c = obj
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Json::as_str) == Some(kind))?;
    let s = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
    Some(format!(
        "{kind}={} {}: {}",
        s("status"),
        s("reason"),
        s("message")
    ))
}

/// A workload as `kubectl rollout status` (or `kubectl argo rollouts status`) judges it.
pub fn rollout_status(kind: &str, obj: &Json) -> Rollout {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Json::as_str)
        .unwrap_or("");
    let generation = int(obj, "/metadata/generation");
    match kind {
        "Deployment" => deployment(name, generation, obj),
        "DaemonSet" => daemon_set(name, generation, obj),
        "StatefulSet" => stateful_set(name, generation, obj),
        "Rollout" => argo_rollout(name, generation, obj),
        other => Rollout::Failed(format!("{other} has no rollout status")),
    }
}

fn deployment(name: &str, generation: i64, d: &Json) -> Rollout {
    if generation > int(d, "/status/observedGeneration") {
        return Rollout::Waiting("Waiting for deployment spec update to be observed...".into());
    }
    let progressing = d
        .pointer("/status/conditions")
        .and_then(Json::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Json::as_str) == Some("Progressing"))
        });
    if progressing
        .and_then(|c| c.get("reason"))
        .and_then(Json::as_str)
        == Some("ProgressDeadlineExceeded")
    {
        let detail = condition(d, "Progressing").unwrap_or_default();
        return Rollout::Failed(format!(
            "deployment {name:?} exceeded its progress deadline ({detail})"
        ));
    }
    let (updated, replicas, available) = (
        int(d, "/status/updatedReplicas"),
        int(d, "/status/replicas"),
        int(d, "/status/availableReplicas"),
    );
    if let Some(want) = opt_int(d, "/spec/replicas") {
        if updated < want {
            return Rollout::Waiting(format!("Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."));
        }
    }
    if replicas > updated {
        return Rollout::Waiting(format!("Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...", replicas - updated));
    }
    if available < updated {
        return Rollout::Waiting(format!("Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."));
    }
    Rollout::Done(format!("deployment {name:?} successfully rolled out"))
}

/// The update strategy's type; the API server defaults it to `RollingUpdate`.
fn strategy(obj: &Json) -> &str {
    obj.pointer("/spec/updateStrategy/type")
        .and_then(Json::as_str)
        .unwrap_or("RollingUpdate")
}

fn daemon_set(name: &str, generation: i64, d: &Json) -> Rollout {
    if strategy(d) != "RollingUpdate" {
        return Rollout::Done(format!("daemon set {name:?}: rollout status is only available for RollingUpdate strategy type (not judged)"));
    }
    if generation > int(d, "/status/observedGeneration") {
        return Rollout::Waiting("Waiting for daemon set spec update to be observed...".into());
    }
    let (updated, desired, available) = (
        int(d, "/status/updatedNumberScheduled"),
        int(d, "/status/desiredNumberScheduled"),
        int(d, "/status/numberAvailable"),
    );
    if updated < desired {
        return Rollout::Waiting(format!("Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."));
    }
    if available < desired {
        return Rollout::Waiting(format!("Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."));
    }
    Rollout::Done(format!("daemon set {name:?} successfully rolled out"))
}

fn stateful_set(name: &str, generation: i64, s: &Json) -> Rollout {
    if strategy(s) != "RollingUpdate" {
        return Rollout::Done(format!("statefulset {name:?}: rollout status is only available for RollingUpdate strategy type (not judged)"));
    }
    let observed = int(s, "/status/observedGeneration");
    if observed == 0 || generation > observed {
        return Rollout::Waiting("Waiting for statefulset spec update to be observed...".into());
    }
    let want = opt_int(s, "/spec/replicas");
    let ready = int(s, "/status/readyReplicas");
    if let Some(want) = want {
        if ready < want {
            return Rollout::Waiting(format!("Waiting for {} pods to be ready...", want - ready));
        }
    }
    let updated = int(s, "/status/updatedReplicas");
    if s.pointer("/spec/updateStrategy/rollingUpdate")
        .is_some_and(Json::is_object)
    {
        if let (Some(want), Some(partition)) = (
            want,
            opt_int(s, "/spec/updateStrategy/rollingUpdate/partition"),
        ) {
            if updated < want - partition {
                return Rollout::Waiting(format!("Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...", want - partition));
            }
        }
        return Rollout::Done(format!(
            "partitioned roll out complete: {updated} new pods have been updated..."
        ));
    }
    let text = |k: &str| s.pointer(k).and_then(Json::as_str).unwrap_or("").to_owned();
    let (update, current) = (
        text("/status/updateRevision"),
        text("/status/currentRevision"),
    );
    if update != current {
        return Rollout::Waiting(format!("waiting for statefulset rolling update to complete {updated} pods at revision {update}..."));
    }
    Rollout::Done(format!(
        "statefulset rolling update complete {} pods at revision {current}...",
        int(s, "/status/currentReplicas")
    ))
}

fn argo_rollout(name: &str, generation: i64, r: &Json) -> Rollout {
    // Argo Rollouts writes observedGeneration as a string.
    let observed = r.pointer("/status/observedGeneration").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    if observed.is_none_or(|o| o < generation) {
        return Rollout::Waiting(format!(
            "rollout {name:?}: waiting for the spec update to be observed"
        ));
    }
    let phase = r
        .pointer("/status/phase")
        .and_then(Json::as_str)
        .unwrap_or("Progressing");
    let message = r
        .pointer("/status/message")
        .and_then(Json::as_str)
        .unwrap_or("");
    match phase {
        "Healthy" => Rollout::Done(format!("rollout {name:?} is Healthy")),
        "Degraded" => Rollout::Failed(format!("rollout {name:?} is Degraded: {message}")),
        other => Rollout::Waiting(format!("rollout {name:?} is {other}: {message}")),
    }
}

/// An `AnalysisRun` read for the record: its phase, and its metrics with their measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisRun {
    pub name: String,
    pub phase: Phase,
    pub message: String,
    /// (metric name, phase, measurements).
    pub metrics: Vec<(String, Phase, Vec<Measurement>)>,
}

/// Reads an `argoproj.io/v1alpha1` `AnalysisRun`; a phase that is not final (Pending, Running) reads as
/// such, an unknown one as Error.
pub fn analysis_run(obj: &Json) -> AnalysisRun {
    let s = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
    let phase_of = |v: &Json| {
        Phase::parse(&s(v, "phase")).unwrap_or(if s(v, "phase").is_empty() {
            Phase::Pending
        } else {
            Phase::Error
        })
    };
    let status = obj.get("status").unwrap_or(&Json::Null);
    let metrics = status
        .get("metricResults")
        .and_then(Json::as_array)
        .map(|results| {
            results
                .iter()
                .map(|r| {
                    let measurements = r
                        .get("measurements")
                        .and_then(Json::as_array)
                        .map(|ms| {
                            ms.iter()
                                .map(|m| Measurement {
                                    value: s(m, "value"),
                                    phase: phase_of(m),
                                    started_at: s(m, "startedAt"),
                                    finished_at: s(m, "finishedAt"),
                                    message: Some(s(m, "message")).filter(|t| !t.is_empty()),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (s(r, "name"), phase_of(r), measurements)
                })
                .collect()
        })
        .unwrap_or_default();
    AnalysisRun {
        name: obj
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned(),
        phase: phase_of(status),
        message: s(status, "message"),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prometheus_results_read_as_argo_reads_them() {
        let vector = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "a"}, "value": [1.7e9, "0.01"]}, {"metric": {}, "value": [1.7e9, "NaN"]}]}});
        let (v, printed) = prometheus(&vector).unwrap();
        assert_eq!(printed, "[0.01,NaN]");
        let Value::List(items) = v else { panic!() };
        assert!(matches!(items[1], Value::Float(f) if f.is_nan()));
        let empty = json!({"status": "success", "data": {"resultType": "vector", "result": []}});
        assert_eq!(
            prometheus(&empty).unwrap(),
            (Value::List(vec![]), "[]".into())
        );
        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "+Inf"]}});
        assert_eq!(prometheus(&scalar).unwrap().1, "+Inf");
        let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {}, "values": [[1, "1"], [2, "2.5"]]}]}});
        assert_eq!(prometheus(&matrix).unwrap().1, "[1,2.5]");
        let string =
            json!({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}});
        assert!(prometheus(&string).unwrap_err().contains("not supported"));
        let error = json!({"status": "error", "errorType": "bad_data", "error": "parse error"});
        assert_eq!(
            prometheus(&error).unwrap_err(),
            "Prometheus answered bad_data: parse error"
        );
        assert!(prometheus(&json!({"x": 1})).is_err());
        assert_eq!(go_float(1e21), "1000000000000000000000");
        assert_eq!(go_float(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn http_bodies_read_as_argo_web_metrics() {
        let path = crate::policy::verify::json_path("{$.data.ok}").unwrap();
        assert_eq!(
            http_value(br#"{"data":{"ok":true}}"#, &path).unwrap(),
            (Value::Bool(true), "true".into())
        );
        assert!(http_value(br#"{"data":{}}"#, &path).is_err());
        assert_eq!(
            http_value(b"pong", &path).unwrap(),
            (Value::Str("pong".into()), "pong".into())
        );
        assert_eq!(http_value(br#"{"n": 2}"#, &[]).unwrap().1, r#"{"n":2}"#);
    }

    #[allow(clippy::needless_pass_by_value)] // `deploy(3, json!(…))` reads best in the cases below
    fn deploy(spec_replicas: i64, status: serde_json::Value) -> Json {
        json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": spec_replicas}, "status": status})
    }

    #[test]
    fn workloads_are_judged_as_kubectl_rollout_status() {
        let done = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert_eq!(
            rollout_status("Deployment", &done),
            Rollout::Done("deployment \"web\" successfully rolled out".into())
        );
        let old = deploy(3, json!({"observedGeneration": 1}));
        assert!(
            matches!(rollout_status("Deployment", &old), Rollout::Waiting(m) if m.contains("spec update"))
        );
        let unavailable = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}),
        );
        assert!(
            matches!(rollout_status("Deployment", &unavailable), Rollout::Waiting(m) if m.contains("1 of 3 updated replicas are available"))
        );
        let pending = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
        );
        assert!(
            matches!(rollout_status("Deployment", &pending), Rollout::Waiting(m) if m.contains("1 old replicas are pending termination"))
        );
        let stuck = deploy(
            3,
            json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-7d\" has timed out progressing."}]}),
        );
        assert_eq!(
            rollout_status("Deployment", &stuck),
            Rollout::Failed("deployment \"web\" exceeded its progress deadline (Progressing=False ProgressDeadlineExceeded: ReplicaSet \"web-7d\" has timed out progressing.)".into())
        );
        let ds = json!({"metadata": {"name": "agent", "generation": 1}, "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert!(
            matches!(rollout_status("DaemonSet", &ds), Rollout::Waiting(m) if m.contains("2 of 3 updated pods"))
        );
        let sts = json!({"metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
            "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 2}});
        assert_eq!(
            rollout_status("StatefulSet", &sts),
            Rollout::Done("partitioned roll out complete: 2 new pods have been updated...".into())
        );
        let sts_rev = json!({"metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1, "updateRevision": "db-2", "currentRevision": "db-1"}});
        assert!(
            matches!(rollout_status("StatefulSet", &sts_rev), Rollout::Waiting(m) if m.contains("revision db-2"))
        );
        let ro = json!({"metadata": {"name": "api", "generation": 4}, "status": {"observedGeneration": "4", "phase": "Degraded", "message": "RolloutAborted: metric \"errors\" assessed Failed"}});
        assert!(
            matches!(rollout_status("Rollout", &ro), Rollout::Failed(m) if m.contains("RolloutAborted"))
        );
    }

    #[test]
    fn analysis_runs_keep_their_measurements() {
        let run = analysis_run(
            &json!({"metadata": {"name": "api-7d-2"}, "status": {"phase": "Failed", "message": "Metric \"errors\" assessed Failed due to failed (1) > failureLimit (0)",
            "metricResults": [{"name": "errors", "phase": "Failed", "measurements": [
                {"value": "[0.2]", "phase": "Failed", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}]}]}}),
        );
        assert_eq!(run.phase, Phase::Failed);
        assert_eq!(run.metrics[0].0, "errors");
        assert_eq!(run.metrics[0].2[0].value, "[0.2]");
        assert_eq!(analysis_run(&json!({"status": {}})).phase, Phase::Pending);
    }
}
