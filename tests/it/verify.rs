//! Post-change verification end to end (docs/hooks.md, "Post-change verification"): the real
//! `sluice verify` (what the `PostSync` hook Job runs) against a real Prometheus (tests/it/prometheus.rs)
//! and real HTTP servers on 127.0.0.1, reporting to a real `sluice serve`; the Kubernetes API and the
//! Git host, which cannot run here, emulated (tests/it/kube_api.rs, tests/it/host/).

use crate::prometheus::{Exporter, Prometheus, Proxy, Step, METRIC};
use crate::support::{self, Sink};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

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

fn prom_check(case: &str, extra: Value) -> Value {
    let mut check = json!({"name": "errors", "prometheus": {"query": format!("{METRIC}{{case=\"{case}\"}}")}});
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
    let prometheus = Arc::new(Prometheus::start(&exporter));
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
            check: prom_check("healthy", json!({"successCondition": ok, "interval": "300ms", "count": 3})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Successful", 0, Some(3), &["Successful", "Successful", "Successful"]),
        },
        Case {
            name: "failing",
            script: Some(vec![v(0.5), v(0.4), v(0.01)]),
            check: prom_check("failing", json!({"successCondition": ok, "interval": "300ms", "count": 5, "failureLimit": 1})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Failed", 1, Some(2), &["Failed", "Failed"]),
        },
        Case {
            name: "failing-recorded",
            script: Some(vec![v(0.5)]),
            check: prom_check("failing-recorded", json!({"successCondition": ok, "interval": "300ms", "count": 2})),
            on_failure: "record",
            within: "1m",
            want: ("Failed", 0, Some(1), &["Failed"]),
        },
        Case {
            name: "recovers",
            script: Some(vec![v(0.5), v(0.01), v(0.01)]),
            check: prom_check("recovers", json!({"successCondition": ok, "interval": "300ms", "count": 3, "failureLimit": 1})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Successful", 0, Some(3), &["Failed", "Successful", "Successful"]),
        },
        Case {
            name: "outage",
            script: Some(vec![v(0.01), Step::Outage, v(0.01), v(0.01)]),
            check: prom_check("outage", json!({"successCondition": ok, "interval": "300ms", "count": 3})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Successful", 0, Some(4), &["Successful", "Error", "Successful", "Successful"]),
        },
        Case {
            name: "empty-guarded",
            script: Some(vec![Step::Forward]),
            check: prom_check("absent", json!({"successCondition": "len(result) == 0 || result[0] < 0.05"})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Successful", 0, Some(1), &["Successful"]),
        },
        Case {
            name: "empty-unguarded",
            script: Some(vec![Step::Forward]),
            check: prom_check("absent", json!({"successCondition": ok, "interval": "200ms", "consecutiveErrorLimit": 1})),
            on_failure: "record",
            within: "1m",
            want: ("Error", 0, Some(2), &["Error", "Error"]),
        },
        Case {
            name: "down",
            script: None,
            check: prom_check("down", json!({"successCondition": ok, "interval": "200ms", "count": 2})),
            on_failure: "fail-sync",
            within: "1m",
            want: ("Error", 1, None, &["Error", "Error", "Error", "Error", "Error"]),
        },
        Case {
            name: "down-within",
            script: None,
            check: prom_check("down", json!({"successCondition": ok, "interval": "500ms", "count": 3, "consecutiveErrorLimit": 100})),
            on_failure: "record",
            within: "2s",
            want: ("Error", 0, None, &[]),
        },
    ];
    std::thread::scope(|scope| {
        for case in &cases {
            let (prometheus, exporter, sink) = (&prometheus, &exporter, &sink);
            scope.spawn(move || {
                let proxy = case.script.clone().map(|s| Proxy::start(prometheus, exporter, case.check["prometheus"]["query"].as_str().unwrap().split('"').nth(1).unwrap(), s));
                let address = proxy.as_ref().map_or_else(closed_port, |p| format!("http://{}", p.addr));
                let policy = json!({"within": case.within, "onFailure": case.on_failure,
                    "prometheus": {"address": address}, "checks": [case.check]});
                let commit = format!("{:0<40}", "c0ffee");
                let out = verify(sink, case.name, &policy, &commit, &[]);
                let (verdict, code, queries, measured) = case.want;
                let stdout = support::stdout(&out);
                let printed: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{}: {e}: {stdout} {}", case.name, support::stderr(&out)));
                assert_eq!(printed["verdict"], verdict, "{}: {stdout}\n{}", case.name, support::stderr(&out));
                assert_eq!(out.status.code(), Some(code), "{}: {}", case.name, support::stderr(&out));
                if code == 1 {
                    assert!(support::stderr(&out).contains(&format!("verification {verdict}")), "{}", support::stderr(&out));
                }
                if let (Some(q), Some(p)) = (queries, &proxy) {
                    assert_eq!(p.queries().len(), q, "{}: queries {:?}", case.name, p.queries());
                }
                if !measured.is_empty() {
                    assert_eq!(phases(&printed["checks"][0]), measured, "{}: {stdout}", case.name);
                }
                // Recorded with every measurement, as printed.
                let recorded = verdicts(sink, case.name);
                assert_eq!(recorded.len(), 1, "{}", case.name);
                assert_eq!(recorded[0]["verification"]["verdict"], verdict);
                assert_eq!(recorded[0]["verification"]["checks"][0]["measurements"], printed["checks"][0]["measurements"], "{}", case.name);
                assert_eq!(recorded[0]["verification"]["onFailure"], case.on_failure);
                assert_eq!(recorded[0]["revision"], commit);
                assert_eq!(recorded[0]["changeId"], "CHG-7");
                let check = &printed["checks"][0];
                match case.name {
                    "healthy" => assert_eq!(check["measurements"][1]["value"], "[0.02]"),
                    "failing" => assert_eq!(check["message"], "failed (2) > failureLimit (1)"),
                    "outage" => assert!(check["measurements"][1]["message"].as_str().unwrap().contains("HTTP 503: emulated outage"), "{check}"),
                    "empty-guarded" => assert_eq!(check["measurements"][0]["value"], "[]"),
                    "empty-unguarded" => {
                        assert!(check["measurements"][0]["message"].as_str().unwrap().contains("metric result is nil or empty"), "{check}");
                        assert_eq!(check["message"], "consecutiveErrors (2) > consecutiveErrorLimit (1)");
                    }
                    "down" => assert!(check["measurements"][0]["message"].as_str().unwrap().contains("cannot query Prometheus"), "{check}"),
                    "down-within" => {
                        assert!(check["message"].as_str().unwrap().starts_with("no measurement succeeded within 2s"), "{check}");
                        assert!(phases(check).iter().all(|p| p == "Error") && !phases(check).is_empty(), "{check}");
                    }
                    _ => {}
                }
            });
        }
    });
    // The chain holds every record.
    let out = support::sluice_in(Path::new("."), &["audit", "verify", "--data-dir", data.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", support::stderr(&out));
}
