//! The optional monitoring component (`argocd-cm-patch/monitoring`, docs/monitoring.md): it builds with the
//! install kit on the stand-in Argo CD install, its Kubernetes objects validate, its alert rules pass
//! `promtool check rules` and the cases of `tests/fixtures/monitoring/rules.test.yaml` under `promtool test
//! rules`, and its dashboard is valid JSON whose every query is valid `PromQL` over metrics that exist.

use crate::install::{fixtures, kustomize, name_of, object, run, success, validate, yaml_docs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The install overlay with both components (tests/fixtures/install/monitoring).
fn built() -> &'static [Value] {
    static BUILT: OnceLock<Vec<Value>> = OnceLock::new();
    BUILT.get_or_init(|| yaml_docs(&kustomize(&fixtures().join("monitoring"))))
}

fn promtool(args: &[&str], dir: &Path) -> std::process::Output {
    run(
        Command::new("promtool").args(args).current_dir(dir),
        None,
        "promtool comes with Debian's prometheus package (tests/run installs it)",
    )
}

/// Writes the `PrometheusRule`'s rule groups as a plain Prometheus rule file, `dir/rules.yaml`.
fn write_rule_file(rule: &Value, dir: &Path) {
    assert!(rule["spec"]["groups"].is_array(), "{rule}");
    // JSON is YAML: promtool reads it as a rule file.
    std::fs::write(
        dir.join("rules.yaml"),
        serde_json::to_string_pretty(&rule["spec"]).expect("json"),
    )
    .expect("write rules.yaml");
}

#[test]
fn monitoring_component_builds_on_the_stock_install_and_validates() {
    let objs = built();
    for (kind, name) in [
        ("ServiceMonitor", "sluice-sink"),
        ("PrometheusRule", "sluice"),
        ("NetworkPolicy", "sluice-sink-metrics"),
        ("ConfigMap", "sluice-dashboard"),
        // The install kit itself is all there, unchanged.
        ("NetworkPolicy", "sluice-sink"),
        ("StatefulSet", "sluice-sink"),
    ] {
        assert_eq!(
            object(objs, kind, name)["metadata"]["namespace"],
            "argocd",
            "{kind}/{name}"
        );
    }
    let (report, ok) = validate(objs);
    assert!(ok, "{report:#}");
    // The two Prometheus Operator resources have no Kubernetes schema; they are checked below instead.
    assert_eq!(
        report["skipped"],
        json!([
            "PrometheusRule/sluice (custom resource, group monitoring.coreos.com)",
            "ServiceMonitor/sluice-sink (custom resource, group monitoring.coreos.com)"
        ]),
        "{report:#}"
    );
    assert_eq!(
        report["validated"].as_array().map(Vec::len),
        Some(objs.len() - 2)
    );
}

#[test]
fn service_monitor_scrapes_the_sink_service_port() {
    let objs = built();
    let sm = object(objs, "ServiceMonitor", "sluice-sink");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    let service = object(objs, "Service", "sluice-sink");
    for (k, v) in sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(&service["metadata"]["labels"][k], v, "Service label {k}");
    }
    let endpoint = &sm["spec"]["endpoints"][0];
    let port = endpoint["port"].as_str().expect("a named port");
    assert!(
        service["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .any(|p| p["name"] == port),
        "the Service has no port named {port}"
    );
    assert_eq!(endpoint["path"], "/metrics");
    // The job label the rules select (up{job="sluice-sink"}) is the value of the Service's jobLabel.
    let job_label = sm["spec"]["jobLabel"].as_str().expect("jobLabel");
    assert_eq!(service["metadata"]["labels"][job_label], "sluice-sink");
}

#[test]
fn metrics_network_policy_admits_only_labelled_namespaces_to_the_sink() {
    let objs = built();
    let np = object(objs, "NetworkPolicy", "sluice-sink-metrics");
    let sink = object(objs, "StatefulSet", "sluice-sink");
    for (k, v) in np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("podSelector")
    {
        assert_eq!(&sink["spec"]["template"]["metadata"]["labels"][k], v);
    }
    assert_eq!(
        np["spec"]["ingress"],
        json!([{"from": [{"namespaceSelector": {"matchLabels": {"sluice.io/metrics-scraper": "true"}}}],
                "ports": [{"protocol": "TCP", "port": 8080}]}])
    );
    // The sink's own policy is unchanged: monitoring adds a policy, it does not widen the first one.
    let own = object(objs, "NetworkPolicy", "sluice-sink");
    assert!(!own.to_string().contains("metrics-scraper"));
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_rule_file(object(built(), "PrometheusRule", "sluice"), dir.path());
    let checked = success(
        "promtool check rules",
        promtool(&["check", "rules", "rules.yaml"], dir.path()),
    );
    assert!(checked.contains("SUCCESS: 18 rules found"), "{checked}");
    std::fs::copy(
        repo().join("tests/fixtures/monitoring/rules.test.yaml"),
        dir.path().join("rules.test.yaml"),
    )
    .expect("copy rules.test.yaml");
    let tested = success(
        "promtool test rules",
        promtool(&["test", "rules", "rules.test.yaml"], dir.path()),
    );
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_alert_has_a_firing_case_and_a_broken_rule_fails_the_unit_tests() {
    let rule = object(built(), "PrometheusRule", "sluice");
    let cases = std::fs::read_to_string(repo().join("tests/fixtures/monitoring/rules.test.yaml"))
        .expect("rules.test.yaml");
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["alert"].as_str().expect("alerting rules only"))
        .collect();
    assert_eq!(alerts.len(), 18);
    for alert in &alerts {
        assert!(
            cases.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - exp_labels"
            )),
            "no firing case for {alert}"
        );
    }
    // The control: the unit tests must catch a rule whose threshold moved.
    let mut broken = rule.clone();
    let expr = &mut broken["spec"]["groups"][0]["rules"][4]["expr"];
    assert_eq!(
        expr.as_str(),
        Some("sum(rate(sluice_events_total{outcome=\"unavailable\"}[5m])) > 0")
    );
    *expr = json!("sum(rate(sluice_events_total{outcome=\"unavailable\"}[5m])) > 5");
    let dir = tempfile::tempdir().expect("tempdir");
    write_rule_file(&broken, dir.path());
    std::fs::copy(
        repo().join("tests/fixtures/monitoring/rules.test.yaml"),
        dir.path().join("rules.test.yaml"),
    )
    .expect("copy");
    let out = promtool(&["test", "rules", "rules.test.yaml"], dir.path());
    assert!(!out.status.success(), "the unit tests passed a broken rule");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SluiceSinkAnswering503"), "{said}");
}

/// Metrics the rules and the dashboard may use: the sink's own (src/sink/metrics.rs, the archive's in
/// src/archive/uploader.rs, the ticket gate's in src/sink/tickets/mod.rs, the evidence's (checkpoints
/// included) in src/sink/evidence.rs and src/sink/witnesses.rs, the watch's in
/// `src/sink/watch_health.rs`), and those of Argo CD's notifications controller and the kubelet.
const KNOWN_METRICS: [&str; 23] = [
    "sluice_checkpoint_refused",
    "sluice_witness_refusals_total",
    "sluice_witness_failures_total",
    "sluice_watch_healthy",
    "up",
    "sluice_events_total",
    "sluice_append_latency_seconds_bucket",
    "sluice_audit_log_size_bytes",
    "sluice_audit_last_seq",
    "sluice_audit_torn_tails_recovered",
    "sluice_audit_torn_bytes_recovered",
    "sluice_audit_write_failures_total",
    "sluice_audit_batches_total",
    "sluice_audit_batched_records_total",
    "sluice_ungated_syncs_total",
    "sluice_archive_lag_segments",
    "sluice_archive_upload_failures_total",
    "sluice_checkpoint_failures_total",
    "argocd_notifications_deliveries_total",
    "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "sluice_append_latency_seconds",
    "sluice_emergency_reviews",
];

/// The metric names a `PromQL` expression reads (identifiers followed by `{` or `[`, or standing alone).
fn metric_names(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\b([a-z_][a-z0-9_]*)\s*[{\[]").expect("regex");
    re.captures_iter(expr)
        .map(|c| c[1].to_string())
        .filter(|n| !["by", "without", "on", "ignoring"].contains(&n.as_str()))
        .collect()
}

#[test]
fn sink_metrics_named_in_rules_exist_in_the_sink() {
    // The sink's own metrics, the archive's (rendered into the sink's /metrics when --archive is set),
    // the ticket gate's, the evidence's and the watch's.
    let source = [
        "src/sink/metrics.rs",
        "src/archive/uploader.rs",
        "src/sink/tickets/mod.rs",
        "src/sink/evidence.rs",
        "src/sink/witnesses.rs",
        "src/sink/watch_health.rs",
    ]
    .map(|f| std::fs::read_to_string(repo().join(f)).expect(f))
    .concat();
    let rule = object(built(), "PrometheusRule", "sluice");
    for r in rule["spec"]["groups"][0]["rules"]
        .as_array()
        .expect("rules")
    {
        for name in metric_names(r["expr"].as_str().expect("expr")) {
            assert!(
                KNOWN_METRICS.contains(&name.as_str()),
                "{}: {name}",
                r["alert"]
            );
            if name.starts_with("sluice_") {
                let base = name.trim_end_matches("_bucket");
                assert!(
                    source.contains(&format!("\"{base}"))
                        || source.contains(&format!("{base}_bucket"))
                        || source.contains(&format!("# HELP {base}")),
                    "{name} is not a metric the sink renders (src/sink/, src/archive/uploader.rs)"
                );
            }
        }
    }
}

#[test]
fn dashboard_is_json_whose_queries_are_valid_promql_over_known_metrics() {
    let cm = object(built(), "ConfigMap", "sluice-dashboard");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = cm["data"]["sluice.json"].as_str().expect("sluice.json");
    assert_eq!(
        text,
        std::fs::read_to_string(repo().join("argocd-cm-patch/monitoring/dashboard.json")).unwrap()
    );
    let dashboard: Value = serde_json::from_str(text).expect("dashboard JSON");
    assert_eq!(dashboard["uid"], "sluice-sink");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids: Vec<i64> = panels
        .iter()
        .map(|p| p["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    // Every query, as a recording rule, through promtool's PromQL parser ($__rate_interval is Grafana's).
    let mut rules = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().expect("targets") {
            let expr = t["expr"]
                .as_str()
                .expect("expr")
                .replace("$__rate_interval", "5m");
            for name in metric_names(&expr) {
                assert!(
                    KNOWN_METRICS.contains(&name.as_str()),
                    "{}: {name}",
                    p["title"]
                );
            }
            rules.push(json!({"record": format!("dashboard:panel_{i}:{}", t["refId"].as_str().unwrap_or("A")), "expr": expr}));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("rules.yaml"),
        json!({"groups": [{"name": "dashboard", "rules": rules}]}).to_string(),
    )
    .unwrap();
    let out = success(
        "promtool check rules (dashboard queries)",
        promtool(&["check", "rules", "rules.yaml"], dir.path()),
    );
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "{out}"
    );
    assert!(name_of(cm) == "sluice-dashboard");
}
