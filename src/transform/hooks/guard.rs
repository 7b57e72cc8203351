//! The window guard: a `PreSync` Job (wave −30, before everything else) that runs `sluice guard` with the
//! policy's windows, freezes and guard settings in env `SLUICE_GUARD_POLICY` (JSON of
//! [`GuardPolicy`], indented one field per line: `render -o yaml` shows it as a block literal, so a
//! reviewer reads the policy and a widened window is a one-line change in `sluice diff`; any JSON
//! reader, including the guard of an older image, reads it as before). The decision is made there, at sync time: generated manifests are cached, so the
//! plugin must not look at the clock. Argo CD does not tell a hook whether the sync is
//! manual, so the guard evaluates every sync as automated (`manualSync` never lets one through).

use super::{go_duration_seconds, labels, metadata, object_name, Hook, DELETE_JOB, WAVE_GUARD};
use crate::policy::Policy;
use crate::transform::{AppContext, TransformError};
use crate::window::{GuardEnabled, GuardPolicy, OnClosed};
use serde_json::{json, Map, Value};

/// Time the guard gets on top of `maxWait` (image pull, scheduling, the decision and the report).
const DEADLINE_MARGIN_SECONDS: u64 = 300;

/// The audience of the guard's projected `ServiceAccount` token: the sink checks its reports with the
/// `TokenReview` API for this audience (`sluice serve --guard-token-review`, `--guard-audience`), so
/// no shared token has to be copied into the app's namespace, and the token is useless to the
/// Kubernetes API itself.
const REPORT_AUDIENCE: &str = "sluice";
/// Where the token is mounted, and how long each one lives (the kubelet renews it at 80%; 600 s is
/// the least the API allows).
const REPORT_TOKEN_DIR: &str = "/var/run/secrets/sluice";
const REPORT_TOKEN_SECONDS: u64 = 600;

/// The user of the sluice image (Dockerfile: `USER 999:999`, the user Argo CD requires of the sidecar).
const IMAGE_USER: u64 = 999;

/// Whether the policy asks for a guard: `true`, or `auto` with windows or freezes.
pub fn wanted(policy: &Policy) -> bool {
    match policy.guard.enabled {
        GuardEnabled::On => true,
        GuardEnabled::Off => false,
        GuardEnabled::Auto => {
            !policy.windows.is_empty()
                || !policy.freezes.is_empty()
                || policy.approvals.is_some()
                || policy.ticket.is_some()
        }
    }
}

/// The guard Job.
pub(super) fn job(policy: &Policy, app: &AppContext) -> Result<Map<String, Value>, TransformError> {
    let image = image(policy, app)?;
    let max_wait = go_duration_seconds("guard.maxWait", &policy.guard.max_wait)?;
    let deadline = match policy.guard.on_closed {
        // Whole seconds, rounded up: the Job must not be killed before the guard stops waiting.
        OnClosed::Wait => (max_wait.ceil() as u64).saturating_add(DEADLINE_MARGIN_SECONDS),
        OnClosed::Fail => DEADLINE_MARGIN_SECONDS,
    };
    let approvals = policy
        .approvals
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| TransformError::Invalid {
            key: "approvals".into(),
            message: e.to_string(),
        })?;
    let invalid = |key: &str, e: serde_json::Error| TransformError::Invalid {
        key: key.into(),
        message: e.to_string(),
    };
    let ticket = policy
        .ticket
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| invalid("ticket", e))?;
    let asks = policy.approvals.is_some() || policy.ticket.is_some();
    if asks && app.source.sink_url.is_empty() && policy.guard.report.is_empty() {
        let key = if policy.ticket.is_some() {
            "ticket"
        } else {
            "approvals"
        };
        return Err(TransformError::Invalid {
            key: key.into(),
            message: format!("the guard asks the sink for the {key} decision, and knows no sink: set SLUICE_SINK_URL on the plugin sidecar (the install kit does) or guard.report"),
        });
    }
    let emergency = (!policy.emergency.is_default())
        .then(|| serde_json::to_value(&policy.emergency))
        .transpose()
        .map_err(|e| invalid("emergency", e))?;
    let guard_policy = GuardPolicy {
        windows: policy.windows.clone(),
        freezes: policy.freezes.clone(),
        guard: policy.guard.clone(),
        approvals,
        change_id_pattern: ticket.as_ref().map(|_| policy.change.id_pattern.clone()),
        ticket,
        emergency,
    };
    // A struct of strings, booleans and lists serialises without error, in field order.
    let guard_json =
        serde_json::to_string_pretty(&guard_policy).map_err(|e| TransformError::Invalid {
            key: "guard".into(),
            message: e.to_string(),
        })?;
    let mut env = vec![
        json!({"name": "SLUICE_GUARD_POLICY", "value": guard_json}),
        json!({"name": "SLUICE_APP", "value": window_app_name(&app.argocd_app_name)}),
        json!({"name": "SLUICE_NAMESPACE", "value": app.namespace}),
        json!({"name": "SLUICE_CLUSTER", "value": app.cluster}),
        json!({"name": "SLUICE_EMERGENCY", "value": app.emergency.as_deref().unwrap_or("")}),
        json!({"name": "SLUICE_CHANGE_ID", "value": app.change_id.as_deref().unwrap_or("")}),
        json!({"name": "SLUICE_REVISION", "value": app.revision_short}),
    ];
    if asks {
        let s = &app.source;
        for (name, value) in [
            ("SLUICE_COMMIT", &s.revision),
            ("SLUICE_REPO_URL", &s.repo_url),
            ("SLUICE_TARGET_REVISION", &s.target_revision),
            ("SLUICE_PROJECT", &s.project),
            ("SLUICE_DRY_SHA", &s.dry_sha),
            ("SLUICE_SINK_URL", &s.sink_url),
        ] {
            env.push(json!({"name": name, "value": value}));
        }
    }
    // The guard reports its decision, or asks the sink for one, with its projected token.
    let reports = !policy.guard.report.is_empty() || asks;
    if reports {
        env.push(report_token_env());
    }
    let hook = Hook {
        component: "guard",
        wave: WAVE_GUARD,
        delete_policy: DELETE_JOB,
        sync_options: None,
    };
    let labels = labels(app, hook.component, &[]);
    let name = object_name(&app.app_name, "sluice-guard");
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&hook, "name", &name, &app.namespace, &labels),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    // The guard decides from its environment and the clock: no API access (its
                    // report token, when it reports, is for the sink's audience only).
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": IMAGE_USER,
                        "runAsGroup": IMAGE_USER,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": "guard",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                        "image": image,
                        "command": ["sluice"],
                        "args": ["guard"],
                        "env": env,
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "32Mi"},
                            "limits": {"memory": "128Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }],
                },
            },
        },
    });
    let mut job = into_map(job);
    if reports {
        add_report_token(&mut job);
    }
    Ok(job)
}

/// `SLUICE_REPORT_TOKEN_FILE`: where [`add_report_token`] mounts the token.
pub(super) fn report_token_env() -> Value {
    json!({"name": "SLUICE_REPORT_TOKEN_FILE", "value": format!("{REPORT_TOKEN_DIR}/token")})
}

/// Mounts the pod's `ServiceAccount` token for the sink's audience (a `serviceAccountToken`
/// projection): the guard's (and the verify hook's) credential at the sink, bound there to this
/// namespace. The token is projected whether or not the pod automounts its API token.
pub(super) fn add_report_token(job: &mut Map<String, Value>) {
    let Some(spec) = job
        .get_mut("spec")
        .and_then(|s| s.pointer_mut("/template/spec"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    spec.insert(
        "volumes".into(),
        json!([{
            "name": "sluice-report-token",
            "projected": {"sources": [{"serviceAccountToken": {
                "audience": REPORT_AUDIENCE,
                "expirationSeconds": REPORT_TOKEN_SECONDS,
                "path": "token",
            }}]},
        }]),
    );
    if let Some(container) = spec
        .get_mut("containers")
        .and_then(|c| c.get_mut(0))
        .and_then(Value::as_object_mut)
    {
        container.insert(
            "volumeMounts".into(),
            json!([{"name": "sluice-report-token", "mountPath": REPORT_TOKEN_DIR, "readOnly": true}]),
        );
    }
}

/// `guard.image`, else the sidecar's `SLUICE_IMAGE` (the verify hook's image too).
pub(super) fn image(policy: &Policy, app: &AppContext) -> Result<String, TransformError> {
    let configured = policy.guard.image.trim();
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    app.sluice_image
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .ok_or(TransformError::GuardImageMissing)
}

/// The object of a `json!` object literal.
pub(super) fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The name sync windows match: Argo CD's `SyncWindow.Matches` compares `applications` with the
/// Application's `metadata.name`, while `ARGOCD_APP_NAME` is `<app namespace>_<name>` for apps outside
/// Argo CD's namespace (`_` cannot occur in either part).
fn window_app_name(argocd_app_name: &str) -> &str {
    argocd_app_name
        .split_once('_')
        .map_or(argocd_app_name, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
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
            sluice_image: Some("sluice:1".into()),
            ..AppContext::default()
        }
    }

    fn env_value<'a>(job: &'a Map<String, Value>, name: &str) -> &'a str {
        job["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .unwrap()
    }

    #[test]
    fn guard_policy_json_reads_back_as_the_policy_sections() {
        for enabled in ["true", "auto", "false"] {
            let p = policy(&format!(
                "windows:\n- {{kind: deny, schedule: '0 9 * * 1-5', duration: 9h, applications: ['*']}}\nguard: {{enabled: {enabled}, onClosed: wait, maxWait: 2h}}\n"
            ));
            let job = job(&p, &app()).unwrap();
            let back: GuardPolicy =
                serde_json::from_str(env_value(&job, "SLUICE_GUARD_POLICY")).unwrap();
            assert_eq!(back.windows, p.windows);
            assert_eq!(back.guard, p.guard);
        }
    }

    /// Readable in review: one field per line, so that `render -o yaml` prints a block literal.
    #[test]
    fn guard_policy_is_one_field_per_line_and_a_block_literal_in_yaml() {
        let p = policy(
            "windows:\n- {kind: allow, schedule: '0 2 * * 2,4', duration: 4h, applications: ['*']}\n",
        );
        let job = job(&p, &app()).unwrap();
        let text = env_value(&job, "SLUICE_GUARD_POLICY");
        assert!(
            text.lines().any(|l| l.trim() == "\"duration\": \"4h\","),
            "{text}"
        );
        let yaml = crate::manifest::emit::to_yaml(&Value::Object(job));
        assert!(
            yaml.contains("  value: |-\n            {\n              \"windows\": ["),
            "{yaml}"
        );
    }

    #[test]
    fn guard_is_wanted_when_on_or_auto_with_windows_or_freezes() {
        assert!(!wanted(&policy("")));
        assert!(wanted(&policy("guard: {enabled: true}\n")));
        assert!(wanted(&policy(
            "freezes:\n- {name: x, from: '2026-12-20T00:00:00Z', until: '2027-01-04T00:00:00Z'}\n"
        )));
        assert!(!wanted(&policy(
            "guard: {enabled: false}\nwindows:\n- {kind: deny, schedule: '* * * * *', duration: 1h, applications: ['*']}\n"
        )));
    }

    #[test]
    fn waiting_guard_outlives_max_wait() {
        let p = policy("guard: {enabled: true, onClosed: wait, maxWait: 90m}\n");
        let job = job(&p, &app()).unwrap();
        assert_eq!(
            job["spec"]["activeDeadlineSeconds"],
            5400 + DEADLINE_MARGIN_SECONDS
        );
        // window::validate may refuse it at load already; the Job builder must not rely on that.
        let mut p = policy("guard: {enabled: true, onClosed: wait}\n");
        p.guard.max_wait = "2d".into();
        let e = super::job(&p, &app()).unwrap_err().to_string();
        assert!(e.contains("guard.maxWait") && e.contains("48h"), "{e}");
    }

    #[test]
    fn a_reporting_guard_carries_a_token_for_the_sinks_audience_and_no_shared_secret() {
        let p = policy(
            "guard: {enabled: true, report: 'http://sluice-sink.argocd.svc:8080/v1/guard'}\n",
        );
        let job = Value::Object(job(&p, &app()).unwrap());
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"],
            json!({"audience": "sluice", "expirationSeconds": 600, "path": "token"})
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][0]["mountPath"],
            REPORT_TOKEN_DIR
        );
        assert_eq!(pod["automountServiceAccountToken"], false);
        let text = job.to_string();
        assert!(text.contains("SLUICE_REPORT_TOKEN_FILE"), "{text}");
        assert!(
            !text.contains("secretKeyRef") && !text.contains("sluice-sink-token"),
            "{text}"
        );
        // Without a report: no token at all.
        let quiet = Value::Object(super::job(&policy("guard: {enabled: true}\n"), &app()).unwrap());
        assert!(quiet["spec"]["template"]["spec"].get("volumes").is_none());
    }

    #[test]
    fn guard_image_comes_from_the_policy_then_the_sidecar() {
        let p = policy("guard: {enabled: true, image: 'own:2'}\n");
        let j = job(&p, &app()).unwrap();
        assert_eq!(
            j["spec"]["template"]["spec"]["containers"][0]["image"],
            "own:2"
        );
        let p = policy("guard: {enabled: true}\n");
        let none = AppContext {
            sluice_image: None,
            ..app()
        };
        assert!(matches!(
            job(&p, &none),
            Err(TransformError::GuardImageMissing)
        ));
    }
}
