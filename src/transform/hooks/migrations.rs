//! Database migrations: one `PreSync` `batch/v1` Job per `migrations[]` entry, in policy order after the
//! backup, and for an entry with `sqlDir` a `PreSync` `ConfigMap` of its files one wave earlier, mounted
//! read-only at `mountPath`. Job and `ConfigMap` share the name `<app>-<migration>-<hash>`, where the
//! hash covers the files and everything the Job runs (image, command, args, env, …): a new migration
//! set, or a new image through `imageFrom`, is a new Job that Argo CD shows as such.
//!
//! The `ConfigMap` holds at most 1 MiB of files (what Kubernetes allows) and is applied server-side,
//! since a client-side apply would fail from 256 KiB on (the last-applied annotation).
//!
//! `imageFrom` reuses the image of a container of a rendered workload (no version skew between the
//! schema and the code), together with that workload's `imagePullSecrets`.

use super::guard::into_map;
use super::{labels, metadata, object_name, short_hash, Hook, DELETE_JOB, WAVE_MIGRATIONS};
use crate::manifest::Document;
use crate::policy::{ImageFrom, MigrationSpec};
use crate::transform::checksum::{object_at_mut, pod_template_path};
use crate::transform::{canonical_json, AppContext, TransformError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The files of one `sqlDir`: file name → UTF-8 content, sorted by name.
pub type SqlFiles = BTreeMap<String, String>;

/// Largest `ConfigMap`: Kubernetes refuses one whose keys and values exceed 1 MiB in total
/// (`ValidateConfigMap`); refusing here says which directory is at fault, instead of a failed sync.
pub const MAX_CONFIGMAP_BYTES: usize = 1 << 20;

/// The volume (and `ConfigMap`) holding a migration's files.
const VOLUME: &str = "migrations";

/// The `ConfigMap` and Job hooks of every migration, in policy order.
pub(super) fn hooks(
    migrations: &[MigrationSpec],
    app: &AppContext,
    sql: &[Option<super::SqlFiles>],
    docs: &[Document],
) -> Result<Vec<Map<String, Value>>, TransformError> {
    let mut out = Vec::new();
    for (i, m) in migrations.iter().enumerate() {
        if m.active_deadline_seconds == 0 {
            // The API server accepts 0, and the Job controller then fails the Job at once.
            return Err(TransformError::Invalid {
                key: format!("migrations[{i}].activeDeadlineSeconds"),
                message: "must be at least 1 (seconds the Job may run)".into(),
            });
        }
        let files = match (&m.sql_dir, sql.get(i).and_then(Option::as_ref)) {
            (Some(dir), Some(files)) => Some(checked_files(i, dir, files)?),
            (Some(dir), None) => {
                return Err(TransformError::Invalid {
                    key: format!("migrations[{i}].sqlDir"),
                    message: format!("the files of {dir:?} were not read"),
                })
            }
            (None, _) => None,
        };
        let (image, pull_secrets) = match (&m.image, &m.image_from) {
            (Some(image), _) => (image.trim().to_string(), None),
            (None, Some(from)) => resolve_image(i, from, docs, &app.namespace)?,
            // The policy validation refuses a migration without either.
            (None, None) => {
                return Err(TransformError::Invalid {
                    key: format!("migrations[{i}].image"),
                    message: "set image or imageFrom".into(),
                })
            }
        };
        let hash = content_hash(m, &image, files);
        let name = object_name(&app.app_name, &format!("{}-{hash}", m.name));
        // Two waves per migration: the ConfigMap at −11 + 2i, the Job at −10 + 2i (see the parent module).
        let job_wave = WAVE_MIGRATIONS + 2 * i as i64;
        if let Some(files) = files {
            out.push(config_map(m, app, &name, job_wave - 1, files));
        }
        out.push(job(
            m,
            app,
            &name,
            job_wave,
            &image,
            pull_secrets,
            files.is_some(),
        ));
    }
    Ok(out)
}

/// The files, after checking what Kubernetes would refuse: keys and total size.
fn checked_files<'a>(
    i: usize,
    dir: &str,
    files: &'a SqlFiles,
) -> Result<&'a SqlFiles, TransformError> {
    let key = format!("migrations[{i}].sqlDir");
    if files.is_empty() {
        return Err(TransformError::Invalid {
            key,
            message: format!("{dir:?} holds no files; add the migration files or remove sqlDir"),
        });
    }
    if let Some(bad) = files.keys().find(|name| !is_config_map_key(name)) {
        return Err(TransformError::Invalid {
            key,
            message: format!(
                "{dir}/{bad}: a ConfigMap key allows only letters, digits, '-', '_' and '.'; rename the file"
            ),
        });
    }
    let size: usize = files.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_CONFIGMAP_BYTES {
        return Err(TransformError::ConfigMapTooLarge {
            key,
            dir: dir.to_string(),
            size,
        });
    }
    Ok(files)
}

/// `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..` (Kubernetes' `IsConfigMapKey`).
fn is_config_map_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Hash of everything that makes one migration run differ from another.
fn content_hash(m: &MigrationSpec, image: &str, files: Option<&SqlFiles>) -> String {
    let identity = json!({
        "name": m.name,
        "image": image,
        "command": m.command,
        "args": m.args,
        "env": m.env,
        "envFrom": m.env_from,
        "serviceAccountName": m.service_account_name,
        "mountPath": m.mount_path,
        "backoffLimit": m.backoff_limit,
        "activeDeadlineSeconds": m.active_deadline_seconds,
        "files": files,
    });
    let mut bytes = Vec::new();
    canonical_json(&identity, &mut bytes);
    short_hash(&bytes)
}

fn config_map(
    m: &MigrationSpec,
    app: &AppContext,
    name: &str,
    wave: i64,
    files: &SqlFiles,
) -> Map<String, Value> {
    let hook = Hook {
        component: "migration",
        wave,
        delete_policy: DELETE_JOB,
        // Argo CD applies hooks like any resource: a client-side apply copies the whole object into
        // the last-applied-configuration annotation, and annotations may hold 256 KiB only, so a larger
        // ConfigMap would fail at sync time. Server-side apply has no such copy (gitops-engine's
        // applyObject honours the option per resource, hooks included).
        sync_options: Some("ServerSideApply=true"),
    };
    let labels = labels(app, hook.component, &[("sluice.io/migration", &m.name)]);
    into_map(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(&hook, "name", name, &app.namespace, &labels),
        // The name carries the content hash, so the content never changes under a name.
        "immutable": true,
        "data": files,
    }))
}

fn job(
    m: &MigrationSpec,
    app: &AppContext,
    name: &str,
    wave: i64,
    image: &str,
    pull_secrets: Option<Value>,
    with_files: bool,
) -> Map<String, Value> {
    let hook = Hook {
        component: "migration",
        wave,
        delete_policy: DELETE_JOB,
        sync_options: None,
    };
    let labels = labels(app, hook.component, &[("sluice.io/migration", &m.name)]);
    let mut container = Map::new();
    container.insert("name".into(), json!("migrate"));
    container.insert("image".into(), json!(image));
    for (key, list) in [("command", json!(m.command)), ("args", json!(m.args))] {
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            container.insert(key.into(), list);
        }
    }
    if !m.env.is_empty() {
        container.insert("env".into(), json!(m.env));
    }
    if !m.env_from.is_empty() {
        container.insert("envFrom".into(), json!(m.env_from));
    }
    let mut pod = Map::new();
    pod.insert("restartPolicy".into(), json!("Never"));
    if m.service_account_name.is_empty() {
        // No service account named: the migration talks to its database, not to the Kubernetes API.
        pod.insert("automountServiceAccountToken".into(), json!(false));
    } else {
        pod.insert("serviceAccountName".into(), json!(m.service_account_name));
    }
    if let Some(secrets) = pull_secrets {
        pod.insert("imagePullSecrets".into(), secrets);
    }
    if with_files {
        container.insert(
            "volumeMounts".into(),
            json!([{"name": VOLUME, "mountPath": m.mount_path, "readOnly": true}]),
        );
    }
    pod.insert("containers".into(), json!([container]));
    if with_files {
        pod.insert(
            "volumes".into(),
            json!([{"name": VOLUME, "configMap": {"name": name}}]),
        );
    }
    into_map(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&hook, "name", name, &app.namespace, &labels),
        "spec": {
            "backoffLimit": m.backoff_limit,
            "activeDeadlineSeconds": m.active_deadline_seconds,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod,
            },
        },
    }))
}

/// The pod template of a workload document, if it is one.
fn pod_template(doc: &Document) -> Option<Map<String, Value>> {
    let path = pod_template_path(doc)?;
    let mut object = doc.to_object();
    object_at_mut(&mut object, path).map(std::mem::take)
}

/// The image of `from.container` in the workload `from.kind`/`from.name` (in the destination namespace
/// when several namespaces hold one), and that workload's `imagePullSecrets`.
fn resolve_image(
    i: usize,
    from: &ImageFrom,
    docs: &[Document],
    namespace: &str,
) -> Result<(String, Option<Value>), TransformError> {
    let err = |message: String| TransformError::ImageFrom {
        key: format!("migrations[{i}].imageFrom"),
        message,
    };
    // Only the chosen workload is parsed; the others are listed by kind and name.
    let workloads: Vec<&Document> = docs
        .iter()
        .filter(|d| pod_template_path(d).is_some())
        .collect();
    let candidates: Vec<&Document> = workloads
        .iter()
        .copied()
        .filter(|d| d.kind() == from.kind && d.name() == from.name)
        .collect();
    let chosen = candidates
        .iter()
        .find(|d| d.namespace().unwrap_or(namespace) == namespace)
        .or(candidates.first());
    let Some((doc, template)) = chosen.and_then(|d| pod_template(d).map(|t| (*d, t))) else {
        let present: Vec<String> = workloads
            .iter()
            .map(|d| format!("{}/{}", d.kind(), d.name()))
            .collect();
        return Err(err(format!(
            "no {} named {:?} with a pod template in the rendered manifests; workloads present: {}",
            from.kind,
            from.name,
            if present.is_empty() {
                "none".to_string()
            } else {
                present.join(", ")
            }
        )));
    };
    let spec = template.get("spec");
    let containers = |key: &str| -> Vec<&Value> {
        spec.and_then(|s| s.get(key))
            .and_then(Value::as_array)
            .map(|l| l.iter().collect())
            .unwrap_or_default()
    };
    let all: Vec<&Value> = containers("containers")
        .into_iter()
        .chain(containers("initContainers"))
        .collect();
    let name_of = |c: &Value| {
        c.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let Some(container) = all.iter().find(|c| name_of(c) == from.container) else {
        let names: Vec<String> = all.iter().map(|c| name_of(c)).collect();
        return Err(err(format!(
            "{}/{} has no container {:?}; its containers and initContainers: {}",
            doc.kind(),
            doc.name(),
            from.container,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    };
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            err(format!(
                "container {:?} of {}/{} has no image",
                from.container,
                doc.kind(),
                doc.name()
            ))
        })?;
    let pull_secrets = spec
        .and_then(|s| s.get("imagePullSecrets"))
        .filter(|v| v.as_array().is_some_and(|l| !l.is_empty()))
        .cloned();
    Ok((image.to_string(), pull_secrets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{read_documents, Limits};

    fn docs(text: &str) -> Vec<Document> {
        read_documents(text, "t.yaml", &Limits::default()).unwrap()
    }

    const WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      imagePullSecrets: [{name: regcred}]\n      initContainers: [{name: setup, image: 'busybox:1'}]\n      containers: [{name: app, image: 'api:1.2'}]\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: run, image: 'tool:3'}]\n";

    fn from(kind: &str, name: &str, container: &str) -> ImageFrom {
        ImageFrom {
            kind: kind.into(),
            name: name.into(),
            container: container.into(),
        }
    }

    #[test]
    fn image_from_finds_containers_init_containers_and_cronjobs() {
        let d = docs(WORKLOADS);
        let (image, secrets) =
            resolve_image(0, &from("Deployment", "api", "app"), &d, "shop").unwrap();
        assert_eq!(image, "api:1.2");
        assert_eq!(secrets, Some(json!([{"name": "regcred"}])));
        assert_eq!(
            resolve_image(0, &from("Deployment", "api", "setup"), &d, "")
                .unwrap()
                .0,
            "busybox:1"
        );
        assert_eq!(
            resolve_image(0, &from("CronJob", "nightly", "run"), &d, "")
                .unwrap()
                .0,
            "tool:3"
        );
    }

    #[test]
    fn image_from_names_what_is_missing_and_what_exists() {
        let d = docs(WORKLOADS);
        let e = resolve_image(1, &from("Deployment", "web", "app"), &d, "")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("migrations[1].imageFrom")
                && e.contains("\"web\"")
                && e.contains("Deployment/api, CronJob/nightly"),
            "{e}"
        );
        let e = resolve_image(0, &from("Deployment", "api", "main"), &d, "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"main\"") && e.contains("app, setup"), "{e}");
    }

    #[test]
    fn configmap_over_one_mebibyte_is_refused() {
        let mut files = SqlFiles::new();
        files.insert("big.sql".into(), "x".repeat(MAX_CONFIGMAP_BYTES));
        let e = checked_files(0, "db", &files).unwrap_err().to_string();
        assert!(
            e.contains("migrations[0].sqlDir") && e.contains("1048576"),
            "{e}"
        );
    }

    #[test]
    fn content_hash_changes_with_files_and_image() {
        let m: MigrationSpec =
            serde_json::from_value(json!({"name": "schema", "image": "a"})).unwrap();
        let mut files = SqlFiles::new();
        files.insert("1.sql".into(), "create table a();".into());
        let base = content_hash(&m, "a", Some(&files));
        assert_eq!(base.len(), 10);
        assert_eq!(base, content_hash(&m, "a", Some(&files)));
        assert_ne!(base, content_hash(&m, "b", Some(&files)));
        files.insert("2.sql".into(), "drop table a;".into());
        assert_ne!(base, content_hash(&m, "a", Some(&files)));
    }
}
