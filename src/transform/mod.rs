//! Pure transforms over rendered documents: config checksums and the `PreSync` hooks (guard, backup,
//! migrations). No filesystem, environment or clock in here: everything arrives in [`AppContext`].

pub mod checksum;
pub mod hooks;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Who the app is, from Argo CD's build environment, already read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppContext {
    /// `ARGOCD_APP_NAME`, sanitised into a valid resource name.
    pub app_name: String,
    /// `ARGOCD_APP_NAMESPACE`: the destination namespace (may be empty).
    pub namespace: String,
    /// `ARGOCD_APP_REVISION_SHORT`.
    pub revision_short: String,
    /// `ARGOCD_APP_NAME` as Argo CD gives it (`<app namespace>_<name>` outside Argo CD's namespace): what
    /// sync windows match, and the value of Argo CD's `app.kubernetes.io/instance` label.
    pub argocd_app_name: String,
    /// The change id: the Application's `CHANGE_ID` setting, else `change.id`; already validated.
    pub change_id: Option<String>,
    /// The Application's `SLUICE_CLUSTER` setting: destination cluster names or URLs for the guard.
    pub cluster: String,
    /// The Application's `SLUICE_EMERGENCY` setting: an emergency change id; already validated.
    pub emergency: Option<String>,
    /// `SLUICE_IMAGE` of the plugin sidecar: the default image of the guard Job.
    pub sluice_image: Option<String>,
    /// What the guard tells the sink about the revision when the policy asks for approvals.
    pub source: SourceContext,
    /// `SLUICE_PROMETHEUS_URL` of the plugin sidecar: the installation's Prometheus, for verification
    /// checks whose policy names none.
    pub prometheus_url: String,
}

/// The revision and where it comes from, for the sink's approvals decision (docs/approvals.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceContext {
    /// `ARGOCD_APP_REVISION`: the commit synced.
    pub revision: String,
    /// `ARGOCD_APP_SOURCE_REPO_URL`, or the dry repository named by a Source Hydrator's
    /// `hydrator.metadata`.
    pub repo_url: String,
    /// `ARGOCD_APP_SOURCE_TARGET_REVISION` (empty for a hydrated app: its dry branch is not passed).
    pub target_revision: String,
    /// `ARGOCD_APP_PROJECT_NAME`.
    pub project: String,
    /// The `drySha` of `hydrator.metadata`: the reviewed commit of a hydrated app.
    pub dry_sha: String,
    /// `SLUICE_SINK_URL` of the plugin sidecar: where the guard asks for decisions.
    pub sink_url: String,
}

/// A transform that cannot be applied to these documents with this policy.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A policy value that cannot be turned into a hook.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A Go duration that does not parse.
    #[error("{key}: {value:?} is not a Go duration: {message}")]
    Duration {
        key: String,
        value: String,
        message: String,
    },
    /// The change id from the environment does not match the policy's pattern.
    #[error("{var}: {id:?} does not match change.idPattern {pattern:?}; correct the value the Application sets (spec.source.plugin.env or parameters)")]
    ChangeIdInvalid {
        var: String,
        id: String,
        pattern: String,
    },
    /// `change.required` without a change id.
    #[error("change.required is true but no change id is set; add `spec.source.plugin.env: [{{name: CHANGE_ID, value: CHG-1234}}]` to the Application (ARGOCD_ENV_CHANGE_ID), or set change.id in .sluice.yaml")]
    ChangeIdRequired,
    /// Hook names are prefixed with the app name, which Argo CD always sets.
    #[error("ARGOCD_APP_NAME is empty, and hook names start with the app name; with `sluice render` add --env ARGOCD_APP_NAME=<app>")]
    AppNameMissing,
    /// No image for the guard Job.
    #[error("guard: no image for the guard Job; set guard.image in .sluice.yaml, or SLUICE_IMAGE in the plugin sidecar's environment (the install kit sets it to the sidecar's image)")]
    GuardImageMissing,
    /// The backup has no namespace to include.
    #[error("backup.namespaces: empty and Argo CD gave no destination namespace (ARGOCD_APP_NAMESPACE); list the namespaces to back up")]
    BackupNamespaces,
    /// `imageFrom` names no rendered workload or container.
    #[error("{key}: {message}")]
    ImageFrom { key: String, message: String },
    /// A migration's files exceed what a `ConfigMap` may hold.
    #[error("{key}: the files of {dir:?} take {size} bytes, over the {limit} bytes a ConfigMap may hold; split the migrations or bake them into the image", limit = hooks::MAX_CONFIGMAP_BYTES)]
    ConfigMapTooLarge {
        key: String,
        dir: String,
        size: usize,
    },
    /// Any of the above, raised by a setting of the policy file `file`.
    #[error("{file}: {source}")]
    InPolicy {
        file: String,
        #[source]
        source: Box<TransformError>,
    },
    /// A migration's file that cannot go into a `ConfigMap`.
    #[error("{key}: {}: {message}", path.display())]
    SqlFile {
        key: String,
        path: std::path::PathBuf,
        message: String,
    },
}

/// Writes `value` as JSON with object keys sorted by their UTF-8 bytes and no insignificant white
/// space: the same value always gives the same bytes, whatever order its keys came in.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(&Value::String(key.clone()), out);
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        // Scalars serialise without error.
        scalar => {
            out.extend_from_slice(serde_json::to_string(scalar).unwrap_or_default().as_bytes());
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = Vec::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [true, null], "c": "x"}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
    }
}
