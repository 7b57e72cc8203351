//! The post-change verification hook (docs/hooks.md, "Post-change verification"): a `PostSync` Job
//! running `sluice verify` after Argo CD has applied the sync's resources and found them healthy
//! (Argo CD runs `PostSync` hooks only then), with the policy's `verify` section and the app's
//! rendered workloads in its environment and a deadline of `within` plus a margin. When a check needs
//! the Kubernetes API (the workload check, or Argo Rollouts to collect `AnalysisRuns` from), a
//! `ServiceAccount`, a Role and a `RoleBinding` come with it, `PostSync` hooks a wave earlier: `get` on
//! exactly the rendered Deployments, `StatefulSets`, `DaemonSets` and Rollouts by name, and `list` on
//! `AnalysisRuns` when there are Rollouts; nothing else. Without them the Job mounts no API token. It
//! reports to the sink with a projected `ServiceAccount` token for the audience `sluice` (as the
//! guard does), which the sink checks with the `TokenReview` API and binds to the app's namespace.

use super::guard::{add_report_token, image, into_map, report_token_env};
use super::{labels, metadata, object_name, Hook, DELETE_JOB, HOOK};
use crate::manifest::Document;
use crate::policy::verify::{Kind, MAX_WITHIN};
use crate::policy::Policy;
use crate::transform::{AppContext, TransformError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Time the Job gets on top of `within` (image pull, scheduling, reporting the verdict).
const DEADLINE_MARGIN_SECONDS: u64 = 300;
/// Waves within the `PostSync` phase: RBAC first, then the Job.
const WAVE_RBAC: i64 = 0;
const WAVE_BINDING: i64 = 1;
const WAVE_JOB: i64 = 2;
/// The user of the sluice image.
const IMAGE_USER: u64 = 999;

/// A rendered workload the workload check judges: (apiVersion, kind, namespace, name).
fn workloads(docs: &[Document], namespace: &str) -> Vec<(String, String, String, String)> {
    let mut out: Vec<(String, String, String, String)> = docs
        .iter()
        .filter(|d| {
            matches!(
                (d.group(), d.kind()),
                ("apps", "Deployment" | "StatefulSet" | "DaemonSet") | ("argoproj.io", "Rollout")
            )
        })
        .filter_map(|d| {
            let ns = d.namespace().unwrap_or(namespace);
            if ns.is_empty() || d.name().is_empty() {
                return None;
            }
            let api = d
                .to_object()
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((api, d.kind().to_owned(), ns.to_owned(), d.name().to_owned()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The sink's base URL: the sidecar's `SLUICE_SINK_URL`, else the origin of `guard.report`.
fn sink_base(policy: &Policy, app: &AppContext) -> Option<String> {
    if !app.source.sink_url.trim().is_empty() {
        return Some(app.source.sink_url.trim().trim_end_matches('/').to_owned());
    }
    crate::window::ask::decide_url("", &policy.guard.report)
        .and_then(|u| u.strip_suffix("/v1/decide").map(str::to_owned))
}

fn invalid(key: &str, message: impl Into<String>) -> TransformError {
    TransformError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The hooks of the `verify` section: RBAC when needed, then the Job.
pub(super) fn hooks(
    policy: &Policy,
    app: &AppContext,
    docs: &[Document],
) -> Result<Vec<Map<String, Value>>, TransformError> {
    let Some(spec) = &policy.verify else {
        return Ok(Vec::new());
    };
    let within =
        crate::policy::verify::duration(&spec.within).map_err(|m| invalid("verify.within", m))?;
    if within > MAX_WITHIN {
        return Err(invalid(
            "verify.within",
            "is longer than 2h; see docs/hooks.md",
        ));
    }
    for (i, check) in spec.checks.iter().enumerate() {
        if let Some(p) = check.prometheus() {
            if p.address.is_empty()
                && spec.prometheus.address.is_empty()
                && app.prometheus_url.trim().is_empty()
            {
                return Err(invalid(
                    &format!("verify.checks[{i}].prometheus.address"),
                    "no Prometheus to ask: set verify.prometheus.address (or the check's prometheus.address), or SLUICE_PROMETHEUS_URL on the plugin sidecar",
                ));
            }
        }
    }
    let sink = sink_base(policy, app).ok_or_else(|| {
        invalid("verify", "the verify hook reports to the sink and knows none: set SLUICE_SINK_URL on the plugin sidecar (the install kit does) or guard.report")
    })?;
    let found = workloads(docs, &app.namespace);
    let rollouts = found.iter().any(|w| w.1 == "Rollout");
    let wants_api =
        (spec.checks.iter().any(|c| c.kind() == Kind::Workloads) && !found.is_empty()) || rollouts;
    let name = object_name(&app.app_name, "sluice-verify");
    let mut out = Vec::new();
    if wants_api {
        out.extend(rbac(app, &name, &found)?);
    }
    out.push(job(
        policy,
        app,
        &name,
        &sink,
        &found,
        wants_api,
        within.as_secs(),
    )?);
    Ok(out)
}

fn hook_metadata(app: &AppContext, wave: i64, name: &str, namespace: &str) -> Value {
    let hook = Hook {
        component: "verify",
        wave,
        delete_policy: DELETE_JOB,
        sync_options: None,
    };
    let labels = labels(app, hook.component, &[]);
    let mut meta = metadata(&hook, "name", name, namespace, &labels);
    meta["annotations"][HOOK] = json!("PostSync");
    meta
}

/// A `ServiceAccount` in the destination namespace; per namespace holding workloads, a Role with `get`
/// on them by name (and `list` on `AnalysisRuns` beside Rollouts) and a `RoleBinding` to the account.
fn rbac(
    app: &AppContext,
    name: &str,
    found: &[(String, String, String, String)],
) -> Result<Vec<Map<String, Value>>, TransformError> {
    if app.namespace.is_empty() {
        return Err(invalid("verify", "the workload check needs a namespace for its ServiceAccount, and Argo CD gave none (ARGOCD_APP_NAMESPACE)"));
    }
    let mut out = vec![into_map(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": hook_metadata(app, WAVE_RBAC, name, &app.namespace),
        "automountServiceAccountToken": false,
    }))];
    let mut by_namespace: BTreeMap<&str, BTreeMap<(&str, &str), Vec<&str>>> = BTreeMap::new();
    for (api, kind, ns, n) in found {
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let resource = match kind.as_str() {
            "Deployment" => "deployments",
            "StatefulSet" => "statefulsets",
            "DaemonSet" => "daemonsets",
            _ => "rollouts",
        };
        by_namespace
            .entry(ns)
            .or_default()
            .entry((group, resource))
            .or_default()
            .push(n);
    }
    for (ns, resources) in by_namespace {
        let mut rules: Vec<Value> = resources
            .iter()
            .map(|((group, resource), names)| json!({"apiGroups": [group], "resources": [resource], "resourceNames": names, "verbs": ["get"]}))
            .collect();
        if resources.keys().any(|(_, r)| *r == "rollouts") {
            rules.push(json!({"apiGroups": ["argoproj.io"], "resources": ["analysisruns"], "verbs": ["list"]}));
        }
        out.push(into_map(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": hook_metadata(app, WAVE_RBAC, name, ns),
            "rules": rules,
        })));
        out.push(into_map(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": hook_metadata(app, WAVE_BINDING, name, ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": app.namespace}],
        })));
    }
    Ok(out)
}

fn job(
    policy: &Policy,
    app: &AppContext,
    name: &str,
    sink: &str,
    found: &[(String, String, String, String)],
    api: bool,
    within: u64,
) -> Result<Map<String, Value>, TransformError> {
    let spec = policy
        .verify
        .as_ref()
        .ok_or_else(|| invalid("verify", "missing"))?;
    // A struct of strings, numbers and lists serialises without error.
    let policy_json =
        serde_json::to_string_pretty(spec).map_err(|e| invalid("verify", e.to_string()))?;
    let workloads: Vec<Value> = found
        .iter()
        .map(|(api, kind, ns, n)| json!({"apiVersion": api, "kind": kind, "namespace": ns, "name": n}))
        .collect();
    let app_name = app
        .argocd_app_name
        .split_once('_')
        .map_or(app.argocd_app_name.as_str(), |(_, n)| n);
    let env = vec![
        json!({"name": "SLUICE_VERIFY_POLICY", "value": policy_json}),
        json!({"name": "SLUICE_VERIFY_WORKLOADS", "value": Value::Array(workloads).to_string()}),
        json!({"name": "SLUICE_APP", "value": app_name}),
        json!({"name": "SLUICE_NAMESPACE", "value": app.namespace}),
        json!({"name": "SLUICE_CHANGE_ID", "value": app.change_id.as_deref().unwrap_or("")}),
        json!({"name": "SLUICE_COMMIT", "value": app.source.revision}),
        json!({"name": "SLUICE_SINK_URL", "value": sink}),
        json!({"name": "SLUICE_PROMETHEUS_URL", "value": app.prometheus_url}),
        // The verdict goes to the sink with the pod's projected ServiceAccount token, as the guard's.
        report_token_env(),
    ];
    let hook = Hook {
        component: "verify",
        wave: WAVE_JOB,
        delete_policy: DELETE_JOB,
        sync_options: None,
    };
    let labels = labels(app, hook.component, &[]);
    let mut pod = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": api,
        "enableServiceLinks": false,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": IMAGE_USER, "runAsGroup": IMAGE_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [{
            "name": "verify",
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "image": image(policy, app)?,
            "command": ["sluice"],
            "args": ["verify"],
            "env": env,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
            "securityContext": {
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]},
            },
        }],
    });
    if api {
        pod["serviceAccountName"] = json!(name);
    }
    let mut meta = metadata(&hook, "name", name, &app.namespace, &labels);
    meta["annotations"][HOOK] = json!("PostSync");
    let mut job = into_map(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": within + DEADLINE_MARGIN_SECONDS,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }));
    add_report_token(&mut job);
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Source;
    use crate::policy;

    fn policy(text: &str) -> Policy {
        policy::parse(
            &format!("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n{text}"),
            "p",
        )
        .unwrap()
    }

    fn app() -> AppContext {
        AppContext {
            app_name: "shop".into(),
            argocd_app_name: "shop".into(),
            namespace: "production".into(),
            sluice_image: Some("sluice:1".into()),
            source: crate::transform::SourceContext {
                sink_url: "http://sluice-sink.argocd.svc:8080".into(),
                revision: "0123456789abcdef0123456789abcdef01234567".into(),
                ..Default::default()
            },
            ..AppContext::default()
        }
    }

    fn doc(v: Value) -> Document {
        Document::from_object(
            &into_map(v),
            Source {
                file: "t".into(),
                index: 0,
                line: 0,
            },
        )
    }

    #[test]
    fn rbac_names_the_workloads_and_nothing_else() {
        let p = policy("verify:\n  checks:\n  - {name: ready, workloads: {}}\n");
        let docs = vec![
            doc(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            ),
            doc(
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "api", "namespace": "edge"}}),
            ),
            doc(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}})),
        ];
        let hooks = hooks(&p, &app(), &docs).unwrap();
        let kinds: Vec<&str> = hooks.iter().map(|h| h["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "Role",
                "RoleBinding",
                "Job"
            ]
        );
        assert_eq!(hooks[1]["metadata"]["namespace"], "edge");
        assert_eq!(
            hooks[1]["rules"][0],
            json!({"apiGroups": ["argoproj.io"], "resources": ["rollouts"], "resourceNames": ["api"], "verbs": ["get"]})
        );
        assert_eq!(hooks[1]["rules"][1]["resources"], json!(["analysisruns"]));
        assert_eq!(
            hooks[3]["rules"],
            json!([{"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get"]}])
        );
        let job = &hooks[5];
        assert_eq!(
            job["metadata"]["annotations"]["argocd.argoproj.io/hook"],
            "PostSync"
        );
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 30 * 60 + 300);
        assert_eq!(
            job["spec"]["template"]["spec"]["serviceAccountName"],
            "shop-sluice-verify"
        );
        // It reports with its projected ServiceAccount token for the sink's audience, as the guard
        // does: no Secret holding the write token is read in the app's namespace.
        let pod = &job["spec"]["template"]["spec"];
        let env = pod["containers"][0]["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "SLUICE_REPORT_TOKEN_FILE"
            && e["value"] == "/var/run/secrets/sluice/token"));
        assert!(!env.iter().any(|e| e["name"] == "SLUICE_REPORT_TOKEN"));
        assert!(!Value::Object(job.clone())
            .to_string()
            .contains("secretKeyRef"));
        let projected = &pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
        assert_eq!(projected["audience"], "sluice");
        assert_eq!(projected["expirationSeconds"], 600);
        assert_eq!(
            pod["containers"][0]["volumeMounts"][0]["mountPath"],
            "/var/run/secrets/sluice"
        );
    }

    #[test]
    fn a_prometheus_check_needs_a_server_and_every_hook_a_sink() {
        let p = policy("verify:\n  checks:\n  - {name: e, prometheus: {query: up}}\n");
        let e = hooks(&p, &app(), &[]).unwrap_err().to_string();
        assert!(
            e.contains("verify.checks[0].prometheus.address")
                && e.contains("SLUICE_PROMETHEUS_URL"),
            "{e}"
        );
        let with = AppContext {
            prometheus_url: "http://prom:9090".into(),
            ..app()
        };
        let hooks = hooks(&p, &with, &[]).unwrap();
        assert_eq!(
            hooks.len(),
            1,
            "no API access without a workload check or Rollouts"
        );
        assert_eq!(
            hooks[0]["spec"]["template"]["spec"]["automountServiceAccountToken"],
            false
        );
        let mut no_sink = with.clone();
        no_sink.source.sink_url.clear();
        let e = super::hooks(&p, &no_sink, &[]).unwrap_err().to_string();
        assert!(e.contains("SLUICE_SINK_URL"), "{e}");
    }
}
