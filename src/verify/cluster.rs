//! Reads from the Kubernetes API for the workload check and the Argo Rollouts `AnalysisRuns`: `get` of
//! each named workload and `list` of `AnalysisRuns` by label, as the hook's Role allows and nothing
//! more (docs/hooks.md, "RBAC"). kube-rs' client: the configuration from `KUBECONFIG`, else the
//! Job's service account (in-cluster), as kube-rs infers it.

use kube::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A rendered workload the check looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl WorkloadRef {
    /// The REST path of the object.
    pub fn path(&self) -> Option<String> {
        let plural = plural(&self.kind)?;
        let base = if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        };
        Some(format!(
            "{base}/namespaces/{}/{plural}/{}",
            self.namespace, self.name
        ))
    }

    /// `Kind/namespace/name`.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// The resource of a workload kind the check judges.
pub fn plural(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" => Some("deployments"),
        "StatefulSet" => Some("statefulsets"),
        "DaemonSet" => Some("daemonsets"),
        "Rollout" => Some("rollouts"),
        _ => None,
    }
}

/// A client as kube-rs infers the configuration.
///
/// # Errors
///
/// No configuration (not in a cluster and no kubeconfig), or a client that cannot be built.
pub async fn connect() -> Result<Client, String> {
    // kube's TLS needs a process provider when both of rustls' are built in (see src/watch).
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let config = kube::Config::infer().await.map_err(|e| {
        format!("no Kubernetes configuration (the Job's service account, or KUBECONFIG): {e}")
    })?;
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// `GET path` as JSON.
///
/// # Errors
///
/// What the API server or the connection says.
pub async fn get(client: &Client, path: &str) -> Result<Value, String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("{path}: {e}"))?;
    client.request::<Value>(request).await.map_err(|e| match e {
        kube::Error::Api(s) => format!("GET {path}: {} ({})", s.message, s.reason),
        other => format!("GET {path}: {other}"),
    })
}

/// The `AnalysisRuns` of a Rollout's current pod template (`rollouts-pod-template-hash`) that the
/// Rollout owns.
///
/// # Errors
///
/// What the API server or the connection says.
pub async fn analysis_runs(
    client: &Client,
    rollout: &WorkloadRef,
    pod_hash: &str,
) -> Result<Vec<Value>, String> {
    let selector: String = url::form_urlencoded::byte_serialize(
        format!("rollouts-pod-template-hash={pod_hash}").as_bytes(),
    )
    .collect();
    let path = format!(
        "/apis/argoproj.io/v1alpha1/namespaces/{}/analysisruns?labelSelector={selector}",
        rollout.namespace
    );
    let list = get(client, &path).await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|run| {
                    run.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|owners| {
                            owners.iter().any(|o| {
                                o.get("kind").and_then(Value::as_str) == Some("Rollout")
                                    && o.get("name").and_then(Value::as_str)
                                        == Some(rollout.name.as_str())
                            })
                        })
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_the_workloads() {
        let w = |api: &str, kind: &str| WorkloadRef {
            api_version: api.into(),
            kind: kind.into(),
            namespace: "prod".into(),
            name: "web".into(),
        };
        assert_eq!(
            w("apps/v1", "Deployment").path().as_deref(),
            Some("/apis/apps/v1/namespaces/prod/deployments/web")
        );
        assert_eq!(
            w("argoproj.io/v1alpha1", "Rollout").path().as_deref(),
            Some("/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/web")
        );
        assert_eq!(w("v1", "Pod").path(), None);
    }
}
