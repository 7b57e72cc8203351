//! Post-change verification end to end (docs/hooks.md, "Post-change verification"): the real
//! `sluice verify` (what the `PostSync` hook Job runs) against a real Prometheus (tests/it/prometheus.rs)
//! and real HTTP servers on 127.0.0.1, reporting to a real `sluice serve`; the Kubernetes API and the
//! Git host, which cannot run here, emulated (`tests/it/kube_api.rs`, tests/it/host/).

use crate::prometheus::{Exporter, Prometheus, Proxy, Step, METRIC};
use crate::support::{self, Sink};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const TOKEN: &str = "sink-write-token-9931";

/// Runs `sluice verify` as the hook Job does.
fn verify(sink: &Sink, app: &str, policy: &Value, commit: &str, extra: &[(&str, &str)]) -> Output {
    let sink_url = format!("http://{}", sink.addr);
    let policy = policy.to_string();
    let mut env = vec![
        ("SLUICE_VERIFY_POLICY", policy.as_str()),
        ("SLUICE_APP", app),
        ("SLUICE_NAMESPACE", "production"),
        ("SLUICE_CHANGE_ID", "CHG-7"),
        ("SLUICE_COMMIT", commit),
        ("SLUICE_SINK_URL", sink_url.as_str()),
        ("SLUICE_REPORT_TOKEN", TOKEN),
    ];
    env.extend_from_slice(extra);
    support::sluice_in(Path::new("."), &["verify"], &env)
}

/// The verification records of `app`, in log order.
fn verdicts(sink: &Sink, app: &str) -> Vec<Value> {
    sink.log_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event"] == "verification" && r["app"]["name"] == app)
        .collect()
}

fn phases(check: &Value) -> Vec<String> {
    check["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["phase"].as_str().unwrap().to_owned())
        .collect()
}

/// A closed port: nothing listens there (Prometheus down).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    format!("http://{addr}")
}

struct Case {
    name: &'static str,
    script: Option<Vec<Step>>,
    check: Value,
    on_failure: &'static str,
    within: &'static str,
    /// (verdict, exit code, queries Prometheus got, measurement phases)
    want: (&'static str, i32, Option<usize>, &'static [&'static str]),
}

fn prom_check(case: &str, extra: &Value) -> Value {
    let mut check =
        json!({"name": "errors", "prometheus": {"query": format!("{METRIC}{{case=\"{case}\"}}")}});
    for (k, v) in extra.as_object().unwrap() {
        check[k] = v.clone();
    }
    check
}

/// The acceptance cases against Prometheus's real HTTP API: a healthy series; an error rate above the
/// condition beyond `failureLimit` (Failed, and no further queries); a failure that recovers within
/// `failureLimit`; one 503 inside `count` (one extra query, not an Error); an empty result guarded
/// and unguarded; Prometheus down (Error, never Successful), by the error limit and by `within`.
#[test]
fn prometheus_checks_decide_as_argo_rollouts_analysis_does() {
    let exporter = Exporter::start();
    exporter.set("warmup", 0.0);
    let prometheus = Prometheus::start(&exporter);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sink = Sink::start(&data, Some(TOKEN));
    let v = |x: f64| Step::Value(x);
    let ok = "result[0] < 0.05";
    let cases = vec![
        Case {
            name: "healthy",
            script: Some(vec![v(0.01), v(0.02), v(0.01)]),
            check: prom_check(
                "healthy",
                &json!({"successCondition": ok, "interval": "300ms", "count": 3}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: (
                "Successful",
                0,
                Some(3),
                &["Successful", "Successful", "Successful"],
            ),
        },
        Case {
            name: "failing",
            script: Some(vec![v(0.5), v(0.4), v(0.01)]),
            check: prom_check(
                "failing",
                &json!({"successCondition": ok, "interval": "300ms", "count": 5, "failureLimit": 1}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Failed", 1, Some(2), &["Failed", "Failed"]),
        },
        Case {
            name: "failing-recorded",
            script: Some(vec![v(0.5)]),
            check: prom_check(
                "failing-recorded",
                &json!({"successCondition": ok, "interval": "300ms", "count": 2}),
            ),
            on_failure: "record",
            within: "1m",
            want: ("Failed", 0, Some(1), &["Failed"]),
        },
        Case {
            name: "recovers",
            script: Some(vec![v(0.5), v(0.01), v(0.01)]),
            check: prom_check(
                "recovers",
                &json!({"successCondition": ok, "interval": "300ms", "count": 3, "failureLimit": 1}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: (
                "Successful",
                0,
                Some(3),
                &["Failed", "Successful", "Successful"],
            ),
        },
        Case {
            name: "outage",
            script: Some(vec![v(0.01), Step::Outage, v(0.01), v(0.01)]),
            check: prom_check(
                "outage",
                &json!({"successCondition": ok, "interval": "300ms", "count": 3}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: (
                "Successful",
                0,
                Some(4),
                &["Successful", "Error", "Successful", "Successful"],
            ),
        },
        Case {
            name: "empty-guarded",
            script: Some(vec![Step::Forward]),
            check: prom_check(
                "absent",
                &json!({"successCondition": "len(result) == 0 || result[0] < 0.05"}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Successful", 0, Some(1), &["Successful"]),
        },
        Case {
            name: "empty-unguarded",
            script: Some(vec![Step::Forward]),
            check: prom_check(
                "absent",
                &json!({"successCondition": ok, "interval": "200ms", "consecutiveErrorLimit": 1}),
            ),
            on_failure: "record",
            within: "1m",
            want: ("Error", 0, Some(2), &["Error", "Error"]),
        },
        Case {
            name: "down",
            script: None,
            check: prom_check(
                "down",
                &json!({"successCondition": ok, "interval": "200ms", "count": 2}),
            ),
            on_failure: "fail-sync",
            within: "1m",
            want: (
                "Error",
                1,
                None,
                &["Error", "Error", "Error", "Error", "Error"],
            ),
        },
        Case {
            name: "down-within",
            script: None,
            check: prom_check(
                "down",
                &json!({"successCondition": ok, "interval": "500ms", "count": 3, "consecutiveErrorLimit": 100}),
            ),
            on_failure: "record",
            within: "2s",
            want: ("Error", 0, None, &[]),
        },
    ];
    std::thread::scope(|scope| {
        for case in &cases {
            let (prometheus, exporter, sink) = (&prometheus, &exporter, &sink);
            scope.spawn(move || {
                let proxy = case.script.clone().map(|s| {
                    Proxy::start(
                        prometheus,
                        exporter,
                        case.check["prometheus"]["query"]
                            .as_str()
                            .unwrap()
                            .split('"')
                            .nth(1)
                            .unwrap(),
                        s,
                    )
                });
                let address = proxy
                    .as_ref()
                    .map_or_else(closed_port, |p| format!("http://{}", p.addr));
                let policy = json!({"within": case.within, "onFailure": case.on_failure,
                    "prometheus": {"address": address}, "checks": [case.check]});
                let commit = format!("{:0<40}", "c0ffee");
                let out = verify(sink, case.name, &policy, &commit, &[]);
                let (verdict, code, queries, measured) = case.want;
                let stdout = support::stdout(&out);
                let printed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
                    panic!("{}: {e}: {stdout} {}", case.name, support::stderr(&out))
                });
                assert_eq!(
                    printed["verdict"],
                    verdict,
                    "{}: {stdout}\n{}",
                    case.name,
                    support::stderr(&out)
                );
                assert_eq!(
                    out.status.code(),
                    Some(code),
                    "{}: {}",
                    case.name,
                    support::stderr(&out)
                );
                if code == 1 {
                    assert!(
                        support::stderr(&out).contains(&format!("verification {verdict}")),
                        "{}",
                        support::stderr(&out)
                    );
                }
                if let (Some(q), Some(p)) = (queries, &proxy) {
                    assert_eq!(
                        p.queries().len(),
                        q,
                        "{}: queries {:?}",
                        case.name,
                        p.queries()
                    );
                }
                if !measured.is_empty() {
                    assert_eq!(
                        phases(&printed["checks"][0]),
                        measured,
                        "{}: {stdout}",
                        case.name
                    );
                }
                // Recorded with every measurement, as printed.
                let recorded = verdicts(sink, case.name);
                assert_eq!(recorded.len(), 1, "{}", case.name);
                assert_eq!(recorded[0]["verification"]["verdict"], verdict);
                assert_eq!(
                    recorded[0]["verification"]["checks"][0]["measurements"],
                    printed["checks"][0]["measurements"],
                    "{}",
                    case.name
                );
                assert_eq!(recorded[0]["verification"]["onFailure"], case.on_failure);
                assert_eq!(recorded[0]["revision"], commit);
                assert_eq!(recorded[0]["changeId"], "CHG-7");
                let check = &printed["checks"][0];
                match case.name {
                    "healthy" => assert_eq!(check["measurements"][1]["value"], "[0.02]"),
                    "failing" => assert_eq!(check["message"], "failed (2) > failureLimit (1)"),
                    "outage" => assert!(
                        check["measurements"][1]["message"]
                            .as_str()
                            .unwrap()
                            .contains("HTTP 503: emulated outage"),
                        "{check}"
                    ),
                    "empty-guarded" => assert_eq!(check["measurements"][0]["value"], "[]"),
                    "empty-unguarded" => {
                        assert!(
                            check["measurements"][0]["message"]
                                .as_str()
                                .unwrap()
                                .contains("metric result is nil or empty"),
                            "{check}"
                        );
                        assert_eq!(
                            check["message"],
                            "consecutiveErrors (2) > consecutiveErrorLimit (1)"
                        );
                    }
                    "down" => assert!(
                        check["measurements"][0]["message"]
                            .as_str()
                            .unwrap()
                            .contains("cannot query Prometheus"),
                        "{check}"
                    ),
                    "down-within" => {
                        assert!(
                            check["message"]
                                .as_str()
                                .unwrap()
                                .starts_with("no measurement succeeded within 2s"),
                            "{check}"
                        );
                        assert!(
                            phases(check).iter().all(|p| p == "Error") && !phases(check).is_empty(),
                            "{check}"
                        );
                    }
                    _ => {}
                }
            });
        }
    });
    // The chain holds every record.
    let out = support::sluice_in(
        Path::new("."),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    // The verdicts are counted on /metrics, which promtool reads without a complaint.
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains("sluice_verification_verdicts_total{verdict=\"Failed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_verification_verdicts_total{verdict=\"Error\"} 3"),
        "{metrics}"
    );
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package)");
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

// ---- The workload check and Argo Rollouts, against the emulated Kubernetes API ----------------------

/// Checks emulated objects against their published schemas: workloads against the Kubernetes schemas
/// (kubernetes-validate, strict), Argo Rollouts' against its CRDs (tests/fixtures/verify).
fn validate_objects(objects: &[Value]) {
    let script = r#"
import json, sys
import jsonschema, kubernetes_validate
schemas = json.load(open(sys.argv[1]))
for doc in json.loads(sys.argv[2]):
    if doc["apiVersion"] == "argoproj.io/v1alpha1":
        jsonschema.validate(doc, schemas[doc["kind"]])
    else:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
print("ok", len(json.loads(sys.argv[2])))
"#;
    let schemas = support::project_root().join("tests/fixtures/verify/argo-rollouts-schemas.json");
    let out = support::python(
        script,
        &[
            schemas.to_str().unwrap(),
            &Value::Array(objects.to_vec()).to_string(),
        ],
    );
    assert_eq!(out.trim(), format!("ok {}", objects.len()));
}

fn deployment(name: &str, status: &Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "production", "generation": 2, "uid": format!("uid-{name}")},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}, "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop:2.4.1"}]}}},
        "status": status})
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

fn workload_ref(kind: &str, api: &str, name: &str) -> Value {
    json!({"apiVersion": api, "kind": kind, "namespace": "production", "name": name})
}

fn run_with_cluster(
    sink: &Sink,
    kubeconfig: &Path,
    app: &str,
    policy: &Value,
    workloads: &Value,
) -> (Output, Value) {
    let workloads = workloads.to_string();
    let kubeconfig = kubeconfig.to_str().unwrap();
    let out = verify(
        sink,
        app,
        policy,
        &format!("{:0<40}", "d00d"),
        &[
            ("SLUICE_VERIFY_WORKLOADS", &workloads),
            ("KUBECONFIG", kubeconfig),
        ],
    );
    let printed = serde_json::from_str(support::stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {} {}", support::stdout(&out), support::stderr(&out)));
    (out, printed)
}

/// A Deployment whose new `ReplicaSet` never becomes available within `within` fails the check, naming
/// the Deployment and its condition; a progress deadline already exceeded fails it at once; rolled-out
/// workloads pass. The check reads exactly the named objects.
#[test]
fn the_workload_check_judges_as_kubectl_rollout_status() {
    let api = crate::kube_api::KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sink = Sink::start(&data, Some(TOKEN));
    let unavailable = deployment(
        "web",
        &json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1,
        "availableReplicas": 1, "unavailableReplicas": 2, "conditions": [
            condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
            condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet \"web-7d4b9c\" is progressing.")]}),
    );
    let stuck = deployment(
        "api",
        &json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "availableReplicas": 3, "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet \"api-5f6d\" has timed out progressing.")]}),
    );
    let done = deployment(
        "front",
        &json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3, "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", "True", "NewReplicaSetAvailable", "ReplicaSet \"front-9c\" has successfully progressed.")]}),
    );
    let cache = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "cache", "namespace": "production", "generation": 1},
        "spec": {"replicas": 2, "serviceName": "cache", "selector": {"matchLabels": {"app": "cache"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {"metadata": {"labels": {"app": "cache"}}, "spec": {"containers": [{"name": "redis", "image": "redis:7"}]}}},
        "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
            "currentRevision": "cache-6b", "updateRevision": "cache-6b", "availableReplicas": 2}});
    let objects = [unavailable, stuck, done, cache];
    validate_objects(&objects);
    for o in objects {
        api.put_object(o);
    }
    let policy = |within: &str| json!({"within": within, "onFailure": "fail-sync", "checks": [{"name": "rolled-out", "workloads": {}, "interval": "300ms"}]});
    // The new ReplicaSet never becomes available: Failed at the end of within, naming it.
    let (out, printed) = run_with_cluster(
        &sink,
        &kubeconfig,
        "shop",
        &policy("2s"),
        &json!([
            workload_ref("Deployment", "apps/v1", "web"),
            workload_ref("StatefulSet", "apps/v1", "cache")
        ]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", support::stderr(&out));
    assert_eq!(printed["verdict"], "Failed", "{printed}");
    let message = printed["checks"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("Deployment/production/web not rolled out within 2s"),
        "{message}"
    );
    assert!(
        message.contains("1 of 3 updated replicas are available"),
        "{message}"
    );
    assert!(message.contains("Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability."), "{message}");
    assert!(
        !message.contains("cache"),
        "the rolled-out StatefulSet is not named: {message}"
    );
    assert_eq!(
        printed["checks"][0]["measurements"][0]["value"],
        "1 of 2 rolled out"
    );
    // A progress deadline exceeded: Failed at once (well before within).
    let (out, printed) = run_with_cluster(
        &sink,
        &kubeconfig,
        "api",
        &policy("10m"),
        &json!([workload_ref("Deployment", "apps/v1", "api")]),
    );
    assert_eq!(out.status.code(), Some(1));
    let message = printed["checks"][0]["message"].as_str().unwrap();
    assert!(message.contains("deployment \"api\" exceeded its progress deadline (Progressing=False ProgressDeadlineExceeded: ReplicaSet \"api-5f6d\" has timed out progressing.)"), "{message}");
    // Rolled out: Successful.
    let (out, printed) = run_with_cluster(
        &sink,
        &kubeconfig,
        "front",
        &policy("10m"),
        &json!([
            workload_ref("Deployment", "apps/v1", "front"),
            workload_ref("StatefulSet", "apps/v1", "cache")
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    assert_eq!(printed["verdict"], "Successful");
    // Only the named objects were read, each with `get`.
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("get /apis/apps/v1/namespaces/production/")),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"get /apis/apps/v1/namespaces/production/deployments/web".to_owned()),
        "{requests:?}"
    );
    assert_eq!(
        verdicts(&sink, "shop")[0]["verification"]["verdict"],
        "Failed"
    );
}

/// With a Rollout among the app's workloads, the verdicts of its `AnalysisRuns` for the revision synced
/// (its current pod template hash) are collected into the same record; older runs are not.
#[test]
fn analysis_runs_of_the_apps_rollouts_join_the_verdict() {
    let api = crate::kube_api::KubeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sink = Sink::start(&data, Some(TOKEN));
    let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "api", "namespace": "production", "generation": 5, "uid": "uid-rollout-api"},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": "5", "phase": "Healthy", "currentPodHash": "7d4b9c", "stableRS": "7d4b9c",
            "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}});
    let run = |name: &str, hash: &str, phase: &str, value: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": "production", "labels": {"rollouts-pod-template-hash": hash, "rollout-type": "Step"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "api", "uid": "uid-rollout-api", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"metrics": [{"name": "errors", "provider": {"prometheus": {"query": "x"}}}]},
        "status": {"phase": phase, "message": if phase == "Failed" { "Metric \"errors\" assessed Failed due to failed (1) > failureLimit (0)" } else { "" },
            "startedAt": "2026-01-01T00:00:00Z",
            "metricResults": [{"name": "errors", "phase": phase, "count": 1, "failed": i64::from(phase == "Failed"), "successful": i64::from(phase == "Successful"),
                "measurements": [{"phase": phase, "value": value, "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:01Z"}]}]}})
    };
    let objects = [
        rollout,
        run("api-7d4b9c-2", "7d4b9c", "Failed", "[0.2]"),
        run("api-5f5f5f-1", "5f5f5f", "Successful", "[0.01]"),
    ];
    validate_objects(&objects);
    for o in objects {
        api.put_object(o);
    }
    let policy = json!({"within": "1m", "onFailure": "record", "checks": [{"name": "rolled-out", "workloads": {}}]});
    let (out, printed) = run_with_cluster(
        &sink,
        &kubeconfig,
        "api",
        &policy,
        &json!([workload_ref("Rollout", "argoproj.io/v1alpha1", "api")]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    assert_eq!(printed["verdict"], "Failed", "{printed}");
    let checks = printed["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{printed}");
    assert_eq!(checks[0]["phase"], "Successful");
    assert_eq!(checks[1]["name"], "api-7d4b9c-2/errors");
    assert_eq!(checks[1]["kind"], "rollouts-analysis");
    assert_eq!(checks[1]["phase"], "Failed");
    assert_eq!(checks[1]["measurements"][0]["value"], "[0.2]");
    let recorded = verdicts(&sink, "api");
    assert_eq!(
        recorded[0]["verification"]["checks"][1]["name"],
        "api-7d4b9c-2/errors"
    );
    assert!(api.requests().iter().any(|r| r == "list /apis/argoproj.io/v1alpha1/namespaces/production/analysisruns?labelSelector=rollouts-pod-template-hash=7d4b9c"), "{:?}", api.requests());
}

// ---- The record: the verdict on the sync record, findings, and what the exit code says -------------

/// An HTTP service on 127.0.0.1 answering every request with `status` and `body`.
fn service(status: u16, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for mut conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(conn, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    format!("http://{addr}/healthz")
}

/// The webhook body of a finished sync of `app` at `revision` (the verify hook among its resources
/// unless `selective`, which runs no hooks).
fn sync_body(
    event: &str,
    app: &str,
    revision: &str,
    previous: &str,
    started: &str,
    selective: bool,
) -> String {
    let phase = if event == "sync-failed" {
        "Failed"
    } else {
        "Succeeded"
    };
    let mut operation = json!({"initiatedBy": {"automated": true}, "sync": {"revision": revision}});
    let mut resources = vec![
        json!({"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "production", "name": "web", "status": "Synced", "syncPhase": "Sync"}),
    ];
    if selective {
        operation["sync"]["resources"] =
            json!([{"group": "apps", "kind": "Deployment", "name": "web"}]);
    } else {
        resources.push(json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "production", "name": format!("{app}-sluice-verify"),
            "hookType": "PostSync", "hookPhase": phase, "syncPhase": "PostSync", "message": "Job has reached the specified backoff limit"}));
        resources.push(json!({"group": "velero.io", "version": "v1", "kind": "Backup", "namespace": "velero", "name": "pre-change-chg-7-c0ffee0-presync-1767225600",
            "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}));
    }
    json!({
        "event": event,
        "app": {
            "metadata": {"name": app, "namespace": "argocd", "uid": format!("uid-{app}")},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                     "source": {"repoURL": "https://github.com/acme/deploy.git", "targetRevision": "main", "path": app, "plugin": {"name": "sluice"}}},
            "status": {"sync": {"status": "Synced", "revision": revision}, "health": {"status": "Healthy"},
                "history": [{"id": 4, "revision": previous, "deployedAt": "2026-01-01T00:00:00Z"}, {"id": 5, "revision": revision, "deployedAt": started}],
                "operationState": {"phase": phase, "message": "done", "startedAt": started, "finishedAt": started,
                    "operation": operation, "syncResult": {"revision": revision, "resources": resources}}}
        },
        "commit": {"Message": "CHG-7: raise the pool size", "Author": "Ann <ann@example.com>", "Date": started, "Tags": []}
    })
    .to_string()
}

fn post_event(sink: &Sink, body: &str) -> support::Resp {
    sink.http(
        "POST",
        "/v1/events",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// A minute before now (the operation started before its `PostSync` hook).
fn started_before() -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `fail-sync` exits non-zero and `record` exits zero, both recorded with every measurement; the sync
/// record of the operation carries the verdict (`report` naming the hook's record), `audit show`
/// prints it, and `audit exceptions` lists `verification-failed` and `unverified` (a sync of an app
/// with checks and no verdict).
#[test]
fn the_verdict_is_evidence_on_the_sync_record_and_its_absence_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let sink = Sink::start(&data, Some(TOKEN));
    let down = service(503, r#"{"status":"down"}"#);
    let up = service(200, r#"{"status":"ok","version":"2.4.1"}"#);
    let check = |url: &str| json!({"name": "health", "http": {"url": url, "jsonPath": "{$.status}"}, "successCondition": "result == 'ok'", "interval": "200ms", "count": 2});
    let (r1, r0) = (format!("{:a<40}", "1"), format!("{:b<40}", "0"));
    // fail-sync with a failing probe: exit 1, recorded.
    let started = started_before();
    let failing = json!({"within": "1m", "onFailure": "fail-sync", "checks": [check(&down)]});
    let out = verify(&sink, "shop", &failing, &r1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", support::stderr(&out));
    let stderr = support::stderr(&out);
    assert!(stderr.contains("verification Failed: check \"health\" assessed Failed: failed (1) > failureLimit (0) (onFailure: fail-sync)"), "{stderr}");
    let printed: Value = serde_json::from_str(support::stdout(&out).trim()).unwrap();
    assert_eq!(printed["checks"][0]["measurements"][0]["value"], "503");
    assert_eq!(
        printed["checks"][0]["measurements"][0]["message"],
        "HTTP 503, expected 200"
    );
    // record with the same probe: exit 0, recorded as Failed all the same.
    let recording = json!({"within": "1m", "onFailure": "record", "checks": [check(&down)]});
    let out = verify(&sink, "cart", &recording, &r1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    // A passing probe, with its JSON path.
    let passing = json!({"within": "1m", "onFailure": "fail-sync", "checks": [check(&up)]});
    let out = verify(&sink, "front", &passing, &r1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    let printed: Value = serde_json::from_str(support::stdout(&out).trim()).unwrap();
    assert_eq!(printed["checks"][0]["measurements"][1]["value"], "\"ok\"");
    for (app, verdict, on_failure) in [
        ("shop", "Failed", "fail-sync"),
        ("cart", "Failed", "record"),
        ("front", "Successful", "fail-sync"),
    ] {
        let v = verdicts(&sink, app);
        assert_eq!(v.len(), 1, "{app}");
        assert_eq!(v[0]["verification"]["verdict"], verdict, "{app}");
        assert_eq!(v[0]["verification"]["onFailure"], on_failure);
        assert_eq!(
            v[0]["verification"]["checks"][0]["measurements"]
                .as_array()
                .unwrap()
                .len(),
            if verdict == "Failed" { 1 } else { 2 },
            "{app}"
        );
        assert_eq!(
            v[0]["verification"]["finding"],
            Value::Null,
            "the sync record carries the finding"
        );
    }
    // The syncs of those operations carry the verdicts.
    let failed = post_event(
        &sink,
        &sync_body("sync-failed", "shop", &r1, &r0, &started, false),
    );
    assert_eq!(failed.status, 201, "{}", failed.body);
    let seq = failed.json()["seq"].as_u64().unwrap();
    let report_seq = verdicts(&sink, "shop")[0]["seq"].as_u64().unwrap();
    let record = |seq: u64| -> Value {
        sink.log_lines()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|r| r["seq"] == seq)
            .unwrap()
    };
    let v = &record(seq)["verification"];
    assert_eq!(v["verdict"], "Failed", "{v}");
    assert_eq!(v["finding"], "verification-failed");
    assert_eq!(v["report"], report_seq);
    assert_eq!(v["checks"][0]["measurements"][0]["value"], "503");
    // fail-sync does not revert: no rollback member.
    assert_eq!(v["rollback"], Value::Null);
    let ok = post_event(
        &sink,
        &sync_body("sync-succeeded", "front", &r1, &r0, &started, false),
    );
    let v = &record(ok.json()["seq"].as_u64().unwrap())["verification"];
    assert_eq!(
        (v["verdict"].as_str(), v["finding"].as_str()),
        (Some("Successful"), None)
    );
    // A redelivery is a duplicate, not a second record.
    let again = post_event(
        &sink,
        &sync_body("sync-failed", "shop", &r1, &r0, &started, false),
    );
    assert_eq!(
        (again.status, again.json()["duplicate"].as_bool()),
        (200, Some(true)),
        "{}",
        again.body
    );
    // A later selective sync of the app runs no hook: unverified.
    let r2 = format!("{:c<40}", "2");
    let selective = post_event(
        &sink,
        &sync_body("sync-succeeded", "shop", &r2, &r1, &started_before(), true),
    );
    let v = &record(selective.json()["seq"].as_u64().unwrap())["verification"];
    assert_eq!(
        (v["verdict"].as_str(), v["finding"].as_str()),
        (None, Some("unverified")),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("ran none"), "{v}");
    // A sync whose verify hook ran but whose verdict never came: unverified.
    let r3 = format!("{:d<40}", "3");
    let silent = post_event(
        &sink,
        &sync_body("sync-succeeded", "cart", &r3, &r1, &started_before(), false),
    );
    let v = &record(silent.json()["seq"].as_u64().unwrap())["verification"];
    assert_eq!(v["finding"], "unverified", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("the verify hook ran (phase Succeeded)"),
        "{v}"
    );
    // An app without checks gets no member at all.
    let plain = post_event(
        &sink,
        &sync_body("sync-succeeded", "other", &r3, &r1, &started_before(), true),
    );
    assert!(record(plain.json()["seq"].as_u64().unwrap())
        .get("verification")
        .is_none());
    // audit exceptions lists both findings; audit show prints the verification.
    let data_dir = data.to_str().unwrap();
    let out = support::sluice_in(
        Path::new("."),
        &["audit", "exceptions", "--data-dir", data_dir],
        &[],
    );
    let table = support::stdout(&out);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let lines: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("verification-failed") || l.contains("unverified"))
        .collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].contains("shop") && lines[0].contains("verification-failed"),
        "{table}"
    );
    let out = support::sluice_in(
        Path::new("."),
        &["audit", "show", "--data-dir", data_dir, "CHG-7"],
        &[],
    );
    let show = support::stdout(&out);
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(show.contains("Verification (PostSync checks):"), "{show}");
    assert!(
        show.contains(&format!(
            "shop  sync-failed of {} (seq {seq})  Failed [verification-failed]",
            &r1[..12]
        )),
        "{show}"
    );
    assert!(show.contains("health (http): Failed"), "{show}");
    assert!(
        show.contains("Failed       503  (HTTP 503, expected 200)"),
        "{show}"
    );
    assert!(show.contains("[unverified]"), "{show}");
}

// ---- Rollback: a revert pull request at the (emulated) Git host ------------------------------------

mod rollback {
    use super::*;
    use crate::host::github_git::{git, GitHubGit};
    use crate::host::Served;

    const WRITE: &str = "ghp_emulatedWriteToken00000000000000000001";
    const READ: &str = "ghp_emulatedReadToken000000000000000000001";

    fn commit_all(repo: &Path, message: &str) -> String {
        git(repo, &["add", "-A"]);
        git(
            repo,
            &[
                "-c",
                "user.name=Ann",
                "-c",
                "user.email=ann@example.com",
                "commit",
                "-q",
                "-m",
                message,
            ],
        );
        git(repo, &["rev-parse", "HEAD"])
    }

    fn write(repo: &Path, path: &str, text: &str) {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `rollback` against the emulated GitHub opens one revert pull request whose diff undoes the
    /// change (and nothing else: a later unrelated commit stays), titled and labelled with the change
    /// id, its body naming the backup and the exact `velero restore`; a second report of the same
    /// failure opens no second one (from the log, and from the host after a restart with another
    /// log); a later commit on the same paths gives the commands instead; without write access the
    /// record carries the commands. The write token is used for nothing else.
    #[test]
    fn a_failed_change_gets_one_revert_pull_request_that_undoes_it() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("deploy");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        write(
            &repo,
            "apps/shop/deploy.yaml",
            "image: shop:2.4.0\nreplicas: 3\n",
        );
        write(&repo, "apps/shop/config.yaml", "pool: 10\n");
        write(&repo, "apps/other/x.yaml", "a: 1\n");
        let c0 = commit_all(&repo, "base");
        write(
            &repo,
            "apps/shop/deploy.yaml",
            "image: shop:2.4.1\nreplicas: 3\n",
        );
        write(&repo, "apps/shop/new.yaml", "kind: ConfigMap\n");
        git(
            &repo,
            &["mv", "apps/shop/config.yaml", "apps/shop/settings.yaml"],
        );
        let c1 = commit_all(&repo, "CHG-7: shop 2.4.1");
        write(&repo, "apps/other/x.yaml", "a: 2\n");
        let c2 = commit_all(&repo, "CHG-8: other");
        let served = Served::default();
        let gh = GitHubGit::start(served.clone(), &repo, "acme/deploy", READ, WRITE);
        let write_token = dir.path().join("gh-write-token");
        std::fs::write(&write_token, format!("{WRITE}\n")).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let args = [
            "--github-api-url",
            gh.url.as_str(),
            "--github-write-token-file",
            write_token.to_str().unwrap(),
        ];
        let sink = Sink::start_with(&data, Some(TOKEN), &args, None);
        let down = service(503, r#"{"status":"down"}"#);
        let policy = json!({"within": "1m", "onFailure": "rollback", "checks": [
            {"name": "health", "http": {"url": down}, "interval": "200ms", "count": 2}]});
        let out = verify(&sink, "shop", &policy, &c1, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "rollback fails the sync: {}",
            support::stderr(&out)
        );
        let repo_url = gh.repo_url();
        let body = |started: &str| {
            sync_body("sync-failed", "shop", &c1, &c0, started, false)
                .replace("https://github.com/acme/deploy.git", &repo_url)
        };
        let started = started_before();
        let r = post_event(&sink, &body(&started));
        assert_eq!(r.status, 201, "{}", r.body);
        let rec = |sink: &Sink, seq: u64| -> Value {
            sink.log_lines()
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .find(|x| x["seq"] == seq)
                .unwrap()
        };
        let rb = rec(&sink, r.json()["seq"].as_u64().unwrap())["verification"]["rollback"].clone();
        assert_eq!(rb["action"], "pull-request-opened", "{rb}");
        assert_eq!(
            (
                rb["host"].as_str(),
                rb["repository"].as_str(),
                rb["branch"].as_str()
            ),
            (Some("github"), Some("acme/deploy"), Some("main"))
        );
        assert_eq!(
            (rb["base"].as_str(), rb["revision"].as_str()),
            (Some(c0.as_str()), Some(c1.as_str()))
        );
        assert_eq!(rb["backup"], "pre-change-chg-7-c0ffee0-presync-1767225600");
        assert_eq!(
            rb["restore"],
            "velero restore create --from-backup pre-change-chg-7-c0ffee0-presync-1767225600"
        );
        let pulls = gh.pulls();
        assert_eq!(pulls.len(), 1);
        let pr = &pulls[0];
        assert_eq!(rb["pullRequest"]["number"], pr.number);
        assert!(pr.title.contains("CHG-7"), "{}", pr.title);
        assert_eq!(pr.labels, vec!["CHG-7"]);
        assert_eq!(
            (pr.head.as_str(), pr.base.as_str()),
            (format!("sluice/revert-{}", &c1[..12]).as_str(), "main")
        );
        assert!(
            pr.body.contains(
                "velero restore create --from-backup pre-change-chg-7-c0ffee0-presync-1767225600"
            ),
            "{}",
            pr.body
        );
        // The pull request's diff undoes the change, exactly: main → revert is the change reversed...
        let head = format!("refs/heads/{}", pr.head);
        assert_eq!(
            git(&repo, &["diff", "--binary", "-M", &c2, &head]),
            git(&repo, &["diff", "--binary", "-M", &c1, &c0])
        );
        // ...the app is as it was before the change, and the later unrelated commit stays.
        assert_eq!(git(&repo, &["diff", &c0, &head, "--", "apps/shop"]), "");
        assert_eq!(
            git(&repo, &["show", &format!("{head}:apps/other/x.yaml")]),
            "a: 2"
        );
        assert_eq!(
            git(&repo, &["rev-parse", &format!("{head}^")]),
            c2,
            "the revert sits on the branch head"
        );
        // A second report of the same failure: the redelivery is a duplicate; a re-sync that failed
        // again is recorded, with the pull request already there.
        let again = post_event(&sink, &body(&started));
        assert_eq!(again.status, 200, "{}", again.body);
        let out = verify(&sink, "shop", &policy, &c1, &[]);
        assert_eq!(out.status.code(), Some(1));
        let resync = post_event(
            &sink,
            &body(
                &(chrono::Utc::now() - chrono::Duration::seconds(30))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        );
        assert_eq!(resync.status, 201, "{}", resync.body);
        let rb2 =
            rec(&sink, resync.json()["seq"].as_u64().unwrap())["verification"]["rollback"].clone();
        assert_eq!(rb2["action"], "pull-request-exists", "{rb2}");
        assert_eq!(rb2["pullRequest"]["number"], pr.number);
        assert_eq!(gh.pulls().len(), 1);
        // Another sink (another log, so nothing remembered) finds it at the host by its branch.
        let data2 = dir.path().join("data2");
        std::fs::create_dir_all(&data2).unwrap();
        let sink2 = Sink::start_with(&data2, Some(TOKEN), &args, None);
        let out = verify(&sink2, "shop", &policy, &c1, &[]);
        assert_eq!(out.status.code(), Some(1));
        let third = post_event(&sink2, &body(&started_before()));
        let rb3 =
            rec(&sink2, third.json()["seq"].as_u64().unwrap())["verification"]["rollback"].clone();
        assert_eq!(rb3["action"], "pull-request-exists", "{rb3}");
        assert_eq!(gh.pulls().len(), 1);
        // A later commit on the same paths: no pull request, the commands.
        write(&repo, "apps/other/x.yaml", "a: 3\n");
        let c3 = commit_all(&repo, "CHG-9: other again");
        write(&repo, "apps/other/x.yaml", "a: 4\n");
        commit_all(&repo, "CHG-10: other once more");
        let out = verify(&sink, "other", &policy, &c3, &[]);
        assert_eq!(out.status.code(), Some(1));
        let conflict = post_event(
            &sink,
            &sync_body("sync-failed", "other", &c3, &c2, &started_before(), false)
                .replace("https://github.com/acme/deploy.git", &repo_url),
        );
        let rb4 = rec(&sink, conflict.json()["seq"].as_u64().unwrap())["verification"]["rollback"]
            .clone();
        assert_eq!(rb4["action"], "commands-only", "{rb4}");
        assert!(
            rb4["reason"]
                .as_str()
                .unwrap()
                .contains("later commits on main touch the same paths (apps/other/x.yaml)"),
            "{rb4}"
        );
        assert_eq!(
            rb4["revert"][2],
            format!("git diff --binary {c3} {c2} | git apply --index --3way")
        );
        assert_eq!(gh.pulls().len(), 1);
        // The write token went with every request, and only the writer spoke to the host.
        let requests = gh.requests();
        assert!(
            requests.iter().all(|r| r.ends_with(" write")),
            "{requests:?}"
        );
        assert!(
            requests
                .iter()
                .any(|r| r.starts_with("POST /repos/acme/deploy/git/trees")),
            "{requests:?}"
        );
        served.validate();
        // Without write access: the commands, in the record and in `audit show`.
        let data3 = dir.path().join("data3");
        std::fs::create_dir_all(&data3).unwrap();
        let sink3 = Sink::start(&data3, Some(TOKEN));
        let out = verify(&sink3, "shop", &policy, &c1, &[]);
        assert_eq!(out.status.code(), Some(1));
        let plain = post_event(&sink3, &body(&started_before()));
        let rb5 =
            rec(&sink3, plain.json()["seq"].as_u64().unwrap())["verification"]["rollback"].clone();
        assert_eq!(rb5["action"], "commands-only", "{rb5}");
        assert!(
            rb5["reason"].as_str().unwrap().contains("no write access"),
            "{rb5}"
        );
        assert_eq!(
            rb5["revert"][2],
            format!("git diff --binary {c1} {c0} | git apply --index --3way")
        );
        let show = support::stdout(&support::sluice_in(
            Path::new("."),
            &[
                "audit",
                "show",
                "--data-dir",
                data3.to_str().unwrap(),
                "CHG-7",
            ],
            &[],
        ));
        assert!(
            show.contains(&format!(
                "git diff --binary {c1} {c0} | git apply --index --3way"
            )),
            "{show}"
        );
        assert!(
            show.contains(
                "velero restore create --from-backup pre-change-chg-7-c0ffee0-presync-1767225600"
            ),
            "{show}"
        );
        assert_eq!(gh.pulls().len(), 1);
    }

    /// The same against the emulated GitLab: one revert merge request, on the branch's head, that
    /// undoes the change (a modification, an added, a deleted and a renamed file) and nothing else,
    /// labelled with the change id; a second report opens no second one.
    #[test]
    fn on_gitlab_the_revert_is_one_merge_request() {
        use crate::host::gitlab_git::GitLabGit;
        const GL_WRITE: &str = "glpat-emulatedWriteToken000001";
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("deploy");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        write(&repo, "apps/shop/deploy.yaml", "image: shop:2.4.0\n");
        write(&repo, "apps/shop/old.yaml", "gone: soon\n");
        write(&repo, "apps/shop/config.yaml", "pool: 10\n");
        write(&repo, "apps/other/x.yaml", "a: 1\n");
        let c0 = commit_all(&repo, "base");
        write(&repo, "apps/shop/deploy.yaml", "image: shop:2.4.1\n");
        write(&repo, "apps/shop/new.yaml", "kind: ConfigMap\n");
        std::fs::remove_file(repo.join("apps/shop/old.yaml")).unwrap();
        git(
            &repo,
            &["mv", "apps/shop/config.yaml", "apps/shop/settings.yaml"],
        );
        let c1 = commit_all(&repo, "CHG-7: shop 2.4.1");
        write(&repo, "apps/other/x.yaml", "a: 2\n");
        let c2 = commit_all(&repo, "CHG-8: other");
        let served = Served::default();
        let gl = GitLabGit::start(served.clone(), &repo, "acme/deploy", "glpat-read", GL_WRITE);
        let token = dir.path().join("gl-write-token");
        std::fs::write(&token, GL_WRITE).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let args = [
            "--gitlab-url",
            gl.url.as_str(),
            "--gitlab-write-token-file",
            token.to_str().unwrap(),
        ];
        let sink = Sink::start_with(&data, Some(TOKEN), &args, None);
        let policy = json!({"within": "1m", "onFailure": "rollback", "checks": [
            {"name": "health", "http": {"url": service(503, "{}")}, "interval": "200ms", "count": 2}]});
        let repo_url = gl.repo_url();
        for attempt in 0..2 {
            let out = verify(&sink, "shop", &policy, &c1, &[]);
            assert_eq!(out.status.code(), Some(1));
            let started = (chrono::Utc::now() - chrono::Duration::seconds(60 - attempt))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let body = sync_body("sync-failed", "shop", &c1, &c0, &started, false)
                .replace("https://github.com/acme/deploy.git", &repo_url);
            let r = post_event(&sink, &body);
            assert_eq!(r.status, 201, "{}", r.body);
            let seq = r.json()["seq"].as_u64().unwrap();
            let rec = sink
                .log_lines()
                .iter()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .find(|x| x["seq"] == seq)
                .unwrap();
            let rb = &rec["verification"]["rollback"];
            let want = if attempt == 0 {
                "pull-request-opened"
            } else {
                "pull-request-exists"
            };
            assert_eq!(rb["action"], want, "{rb}");
            assert_eq!(rb["host"], "gitlab");
        }
        let mrs = gl.mrs();
        assert_eq!(mrs.len(), 1);
        assert_eq!(
            (mrs[0].target.as_str(), mrs[0].labels.as_str()),
            ("main", "CHG-7")
        );
        assert!(
            mrs[0].title.contains("CHG-7")
                && mrs[0]
                    .description
                    .contains("velero restore create --from-backup"),
            "{mrs:?}"
        );
        let head = format!("refs/heads/{}", mrs[0].source);
        assert_eq!(
            git(&repo, &["diff", "--binary", "-M", &c2, &head]),
            git(&repo, &["diff", "--binary", "-M", &c1, &c0])
        );
        assert_eq!(git(&repo, &["diff", &c0, &head, "--", "apps/shop"]), "");
        assert_eq!(git(&repo, &["rev-parse", &format!("{head}^")]), c2);
        assert!(
            gl.requests().iter().all(|r| r.ends_with(" write")),
            "{:?}",
            gl.requests()
        );
        served.validate();
    }
}
