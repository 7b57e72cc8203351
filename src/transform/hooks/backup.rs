//! The pre-change backup: a Velero `Backup` (`velero.io/v1`) as a `PreSync` hook at wave −20, after the
//! guard and before the migrations. It lives in Velero's namespace and uses `generateName`, so that every
//! sync takes a fresh backup and no sync deletes an earlier one; Velero's `ttl` expires them. Argo CD
//! waits for it only through the `velero.io/Backup` health check that `argocd-cm-patch` installs.

use super::guard::into_map;
use super::{
    go_duration_seconds, label_value, labels, metadata, short_hash, Hook, DELETE_BACKUP,
    WAVE_BACKUP,
};
use crate::manifest::sanitize_name;
use crate::policy::BackupSpec;
use crate::transform::{AppContext, TransformError};
use serde_json::{json, Map, Value};

/// Longest `generateName`. Argo CD appends `<7 of the revision>-presync-<unix time>` (26 characters,
/// gitops-engine's sync context) and Velero copies the name into the `velero.io/backup-name` label, so
/// the prefix is kept short enough for the whole name to stay a valid label value (63).
const MAX_GENERATE_NAME: usize = 63 - 26;

/// The Backup object.
pub(super) fn backup(
    spec: &BackupSpec,
    app: &AppContext,
) -> Result<Map<String, Value>, TransformError> {
    go_duration_seconds("backup.ttl", &spec.ttl)?;
    let namespaces = if !spec.namespaces.is_empty() {
        spec.namespaces.clone()
    } else if !app.namespace.is_empty() {
        vec![app.namespace.clone()]
    } else {
        return Err(TransformError::BackupNamespaces);
    };
    let hook = Hook {
        component: "backup",
        wave: WAVE_BACKUP,
        delete_policy: DELETE_BACKUP,
        sync_options: None,
    };
    let labels = labels(app, hook.component, &[]);
    let mut backup_spec = Map::new();
    backup_spec.insert("includedNamespaces".into(), json!(namespaces));
    backup_spec.insert("snapshotVolumes".into(), json!(spec.snapshot_volumes));
    backup_spec.insert("ttl".into(), json!(spec.ttl));
    if !spec.storage_location.is_empty() {
        backup_spec.insert("storageLocation".into(), json!(spec.storage_location));
    }
    options(spec, &mut backup_spec)?;
    backup_spec.insert("metadata".into(), json!({ "labels": labels }));
    let mut backup = json!({
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": metadata(&hook, "generateName", &generate_name(app), &spec.velero_namespace, &labels),
        "spec": backup_spec,
    });
    if let Some(seconds) = status_timeout(spec)? {
        backup["metadata"]["annotations"][STATUS_TIMEOUT_ANNOTATION] = json!(seconds.to_string());
    }
    Ok(into_map(backup))
}

/// Read by the Backup health check of `argocd-cm-patch` (seconds): how long a Backup may stay without a
/// status before the check turns Degraded, naming Velero.
pub const STATUS_TIMEOUT_ANNOTATION: &str = "sluice.io/status-timeout-seconds";

/// The health check's own bound when no annotation says otherwise (`health-velero-backup.lua`).
const DEFAULT_STATUS_TIMEOUT_SECONDS: u64 = 600;

/// `backup.statusTimeout` in whole seconds, when it is set and differs from the health check's default.
fn status_timeout(spec: &BackupSpec) -> Result<Option<u64>, TransformError> {
    if spec.status_timeout.is_empty() {
        return Ok(None);
    }
    let seconds = go_duration_seconds("backup.statusTimeout", &spec.status_timeout)?.ceil() as u64;
    if seconds == 0 {
        return Err(TransformError::Invalid {
            key: "backup.statusTimeout".into(),
            message: format!(
                "{:?} would fail every backup at once; give the time Velero may take to start one, e.g. 10m",
                spec.status_timeout
            ),
        });
    }
    Ok((seconds != DEFAULT_STATUS_TIMEOUT_SECONDS).then_some(seconds))
}

/// The optional Velero settings of `backup`, checked as Velero checks them before it starts a backup
/// (a Backup Velero refuses would end `FailedValidation` only once the sync is under way).
fn options(spec: &BackupSpec, out: &mut Map<String, Value>) -> Result<(), TransformError> {
    let invalid = |key: &str, message: String| TransformError::Invalid {
        key: format!("backup.{key}"),
        message,
    };
    if let Some(fs) = spec.default_volumes_to_fs_backup {
        out.insert("defaultVolumesToFsBackup".into(), json!(fs));
    }
    if let Some(selector) = &spec.label_selector {
        for (i, e) in selector.match_expressions.iter().enumerate() {
            let key = format!("labelSelector.matchExpressions[{i}]");
            if e.key.is_empty() {
                return Err(invalid(&key, "key is empty; name the label".into()));
            }
            match (e.operator.as_str(), e.values.is_empty()) {
                ("In" | "NotIn", false) | ("Exists" | "DoesNotExist", true) => {}
                ("In" | "NotIn", true) => {
                    return Err(invalid(
                        &key,
                        format!("operator {} needs at least one value", e.operator),
                    ))
                }
                ("Exists" | "DoesNotExist", false) => {
                    return Err(invalid(
                        &key,
                        format!("operator {} takes no values; remove `values`", e.operator),
                    ))
                }
                (other, _) => {
                    return Err(invalid(
                        &key,
                        format!("operator {other:?} is not In, NotIn, Exists or DoesNotExist"),
                    ))
                }
            }
        }
        out.insert("labelSelector".into(), json!(selector));
    }
    for (key, list) in [
        ("includedResources", &spec.included_resources),
        ("excludedResources", &spec.excluded_resources),
    ] {
        if let Some(i) = list.iter().position(|r| r.trim().is_empty()) {
            return Err(invalid(
                &format!("{key}[{i}]"),
                "is empty; name a resource such as deployments or persistentvolumeclaims".into(),
            ));
        }
        if !list.is_empty() {
            out.insert(key.into(), json!(list));
        }
    }
    if spec.excluded_resources.iter().any(|r| r == "*") {
        return Err(invalid(
            "excludedResources",
            "\"*\" would exclude everything (Velero refuses it); list the resources to leave out"
                .into(),
        ));
    }
    if let Some(both) = spec
        .included_resources
        .iter()
        .find(|r| spec.excluded_resources.contains(r))
    {
        return Err(invalid(
            "excludedResources",
            format!(
                "{both:?} is also in includedResources (Velero refuses a resource in both lists)"
            ),
        ));
    }
    if !spec.item_operation_timeout.is_empty() {
        go_duration_seconds("backup.itemOperationTimeout", &spec.item_operation_timeout)?;
        out.insert(
            "itemOperationTimeout".into(),
            json!(spec.item_operation_timeout),
        );
    }
    Ok(())
}

/// `pre-change-<change id, else app>-`, lower-case and DNS-safe, cut (with a hash) to fit.
fn generate_name(app: &AppContext) -> String {
    let subject = app
        .change_id
        .as_deref()
        .map(sanitize_name)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| app.app_name.clone())
        .replace('.', "-");
    let prefix = "pre-change-";
    let room = MAX_GENERATE_NAME - prefix.len() - 1;
    let subject = if subject.len() <= room {
        subject
    } else {
        let hash = short_hash(subject.as_bytes());
        let head = subject[..room - hash.len() - 1].trim_end_matches('-');
        label_value(&format!("{head}-{hash}"))
    };
    format!("{prefix}{subject}-")
}
