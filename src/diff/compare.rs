//! The comparison of two renders (pure): objects paired by identity, per-object unified YAML diffs
//! with Secret values masked, the workloads whose pod template changes (they restart) and why, and
//! the hooks that will run. Generated hooks are paired by what they are (component and migration),
//! not by name, since names carry content hashes.

use crate::manifest::{emit, redact, Document};
use crate::transform::checksum;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Label every generated hook carries, and the ones that say which hook it is.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const COMPONENT: &str = "app.kubernetes.io/component";
const MIGRATION: &str = "sluice.io/migration";

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

/// One secret key's fate, never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretKey {
    /// `data.PASSWORD`, `spec.encryptedData.token`.
    pub key: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub status: &'static str,
}

/// An object that differs between base and head.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectChange {
    pub status: Status,
    /// `Deployment shop/api` (`Kind namespace/name`, or `Kind name` without a namespace).
    pub object: String,
    /// The name at base when the head name differs (generated hooks whose names carry a hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Per key of a Secret or `SealedSecret`; empty for other kinds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_keys: Vec<SecretKey>,
    /// The unified diff of the two YAML renderings (secret values masked).
    pub diff: String,
}

/// A workload whose pod template changes: its pods are replaced on sync.
#[derive(Debug, Clone, Serialize)]
pub struct Restart {
    pub workload: String,
    /// `ConfigMap api-config changed`, `Secret shop-db changed`, `pod template changed`.
    pub causes: Vec<String>,
    /// For a `CronJob`: nothing restarts now, the next runs use the new template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A `PreSync` hook of the head render: it runs on the next sync.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    /// `guard`, `backup` or `migration`.
    pub hook: String,
    pub object: String,
    pub detail: String,
    /// Migrations: files of the `sqlDir` not at base, and files whose content changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<String>,
}

/// The result of [`compare`].
#[derive(Debug, Clone)]
pub struct Compared {
    pub objects: Vec<ObjectChange>,
    pub unchanged: usize,
    pub restarts: Vec<Restart>,
    pub hooks: Vec<HookRun>,
}

/// One object of a render, with the identity it is paired by.
struct Obj {
    key: String,
    display: String,
    group: String,
    kind: String,
    namespace: String,
    name: String,
    value: Map<String, Value>,
    template: Option<&'static [&'static str]>,
}

fn text<'a>(v: &'a Map<String, Value>, path: &[&str]) -> &'a str {
    let mut cur = Some(v);
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    for key in parents {
        cur = cur.and_then(|m| m.get(*key)).and_then(Value::as_object);
    }
    cur.and_then(|m| m.get(*last))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn objects(docs: &[Document], default_namespace: &str) -> Vec<Obj> {
    docs.iter()
        .map(|doc| {
            let value = doc.to_object();
            let namespace = doc.namespace().unwrap_or(default_namespace).to_string();
            let name = if doc.name().is_empty() {
                text(&value, &["metadata", "generateName"]).to_string()
            } else {
                doc.name().to_string()
            };
            let labels = |k: &str| text(&value, &["metadata", "labels", k]).to_string();
            let identity = if labels(MANAGED_BY) == "sluice" && !labels(COMPONENT).is_empty() {
                format!("hook:{}:{}", labels(COMPONENT), labels(MIGRATION))
            } else {
                name.clone()
            };
            let display = if doc.namespace().is_some() {
                format!("{} {namespace}/{name}", doc.kind())
            } else {
                format!("{} {name}", doc.kind())
            };
            Obj {
                key: format!("{}|{}|{namespace}|{identity}", doc.group(), doc.kind()),
                display,
                group: doc.group().to_string(),
                kind: doc.kind().to_string(),
                namespace,
                name,
                template: checksum::pod_template_path(doc),
                value,
            }
        })
        .collect()
}

/// Compares the base and head renders; `default_namespace` is where objects without one live.
pub fn compare(base: &[Document], head: &[Document], default_namespace: &str) -> Compared {
    let base = objects(base, default_namespace);
    let head = objects(head, default_namespace);
    let base_by_key: BTreeMap<&str, &Obj> = base.iter().map(|o| (o.key.as_str(), o)).collect();
    let head_by_key: BTreeMap<&str, &Obj> = head.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for h in &head {
        match base_by_key.get(h.key.as_str()) {
            Some(b) if b.value == h.value => unchanged += 1,
            Some(b) => changes.push(object_change(Status::Changed, Some(b), Some(h))),
            None => changes.push(object_change(Status::Added, None, Some(h))),
        }
    }
    for b in &base {
        if !head_by_key.contains_key(b.key.as_str()) {
            changes.push(object_change(Status::Removed, Some(b), None));
        }
    }
    Compared {
        restarts: restarts(&base, &head, &base_by_key),
        hooks: hooks(&base, &head),
        objects: changes,
        unchanged,
    }
}

fn object_change(status: Status, base: Option<&Obj>, head: Option<&Obj>) -> ObjectChange {
    let mut base_value = base.map(|o| o.value.clone());
    let mut head_value = head.map(|o| o.value.clone());
    let secret_keys = mask_secrets(base_value.as_mut(), head_value.as_mut());
    let yaml = |v: Option<Map<String, Value>>| {
        v.map(|m| emit::to_yaml(&Value::Object(m)))
            .unwrap_or_default()
    };
    let (old, new) = (yaml(base_value), yaml(head_value));
    let shown = head.or(base).map(|o| o.display.clone()).unwrap_or_default();
    let renamed_from = match (base, head) {
        (Some(b), Some(h)) if b.name != h.name => Some(b.name.clone()),
        _ => None,
    };
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(
            &base.map_or_else(|| "/dev/null".into(), |o| format!("base/{}", o.display)),
            &head.map_or_else(|| "/dev/null".into(), |o| format!("head/{}", o.display)),
        )
        .to_string();
    ObjectChange {
        status,
        object: shown,
        renamed_from,
        secret_keys,
        diff,
    }
}

/// Replaces secret values on both sides with markers that differ only where the value changed, and
/// says per key what happened. The values themselves go no further than this function.
fn mask_secrets(
    base: Option<&mut Map<String, Value>>,
    head: Option<&mut Map<String, Value>>,
) -> Vec<SecretKey> {
    let mut base_maps: BTreeMap<String, &mut Map<String, Value>> = base
        .map(|b| redact::secret_maps_mut(b).into_iter().collect())
        .unwrap_or_default();
    let mut head_maps: BTreeMap<String, &mut Map<String, Value>> = head
        .map(|h| redact::secret_maps_mut(h).into_iter().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let paths: Vec<String> = head_maps.keys().chain(base_maps.keys()).cloned().collect();
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        if !seen.insert(path.clone()) {
            continue;
        }
        let mut b = base_maps.remove(&path);
        let mut h = head_maps.remove(&path);
        let keys: Vec<String> = h
            .iter()
            .flat_map(|m| m.keys())
            .chain(b.iter().flat_map(|m| m.keys()))
            .cloned()
            .collect();
        let mut done = std::collections::BTreeSet::new();
        for key in keys {
            if !done.insert(key.clone()) {
                continue;
            }
            let old = b.as_deref_mut().and_then(|m| m.get_mut(&key));
            let old_value = old.as_ref().map(|v| (*v).clone());
            let new = h.as_deref_mut().and_then(|m| m.get_mut(&key));
            let status = match (&old_value, &new) {
                (None, _) => "added",
                (_, None) => "removed",
                (Some(o), Some(n)) if o == &**n => "unchanged",
                _ => "changed",
            };
            if let Some(v) = b.as_deref_mut().and_then(|m| m.get_mut(&key)) {
                *v = Value::String(redact::HIDDEN.into());
            }
            if let Some(v) = h.as_deref_mut().and_then(|m| m.get_mut(&key)) {
                *v = Value::String(if status == "changed" {
                    format!("{} (changed)", redact::HIDDEN)
                } else {
                    redact::HIDDEN.into()
                });
            }
            out.push(SecretKey {
                key: format!("{path}.{key}"),
                status,
            });
        }
    }
    out
}

/// The object at `path` of a pod-template workload, without the config-checksum annotations.
fn template_without_checksums(value: &Map<String, Value>, path: &[&str]) -> Value {
    let mut template = Value::Object(value.clone());
    for key in path {
        template = template.get(*key).cloned().unwrap_or(Value::Null);
    }
    if let Some(annotations) = template
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|k, _| !k.ends_with("config-checksum"));
    }
    template
}

/// Workloads present at both revisions whose pod template differs, with the configs that changed.
fn restarts(base: &[Obj], head: &[Obj], base_by_key: &BTreeMap<&str, &Obj>) -> Vec<Restart> {
    let mut out = Vec::new();
    for h in head {
        let (Some(path), Some(b)) = (h.template, base_by_key.get(h.key.as_str())) else {
            continue;
        };
        // Hook Jobs run anew on every sync: they are listed as hooks, not as restarts.
        if h.key.contains("|hook:") {
            continue;
        }
        let template = |o: &Obj| {
            let mut v = Value::Object(o.value.clone());
            for key in path {
                v = v.get(*key).cloned().unwrap_or(Value::Null);
            }
            v
        };
        if template(b) == template(h) {
            continue;
        }
        let mut causes = Vec::new();
        for (kind, name) in checksum::config_references(&h.value, path) {
            let find = |side: &[Obj]| {
                config_source(side, &h.namespace, kind, &name).map(|o| o.value.clone())
            };
            match (find(base), find(head)) {
                (Some(old), Some(new)) if old != new => {
                    causes.push(format!("{kind} {name} changed"));
                }
                (None, Some(_)) => causes.push(format!("{kind} {name} added")),
                (Some(_), None) => causes.push(format!("{kind} {name} removed")),
                _ => {}
            }
        }
        if template_without_checksums(&b.value, path) != template_without_checksums(&h.value, path)
        {
            causes.push("pod template changed".into());
        }
        out.push(Restart {
            workload: h.display.clone(),
            causes,
            note: (h.kind == "CronJob")
                .then(|| "nothing restarts now; the next runs use the new template".into()),
        });
    }
    out
}

/// The object that provides the `ConfigMap` or Secret `name` in `namespace`: itself, or a
/// `SealedSecret` or `ExternalSecret` that produces a Secret of that name (as config checksums count them).
fn config_source<'a>(side: &'a [Obj], namespace: &str, kind: &str, name: &str) -> Option<&'a Obj> {
    let direct = side.iter().find(|o| {
        o.group.is_empty() && o.kind == kind && o.namespace == namespace && o.name == name
    });
    if direct.is_some() || kind != "Secret" {
        return direct;
    }
    side.iter().find(|o| {
        o.namespace == namespace
            && match (o.group.as_str(), o.kind.as_str()) {
                ("bitnami.com", "SealedSecret") => {
                    let t = text(&o.value, &["spec", "template", "metadata", "name"]);
                    (if t.is_empty() { &o.name } else { t }) == name
                }
                ("external-secrets.io", "ExternalSecret") => {
                    let t = text(&o.value, &["spec", "target", "name"]);
                    (if t.is_empty() { &o.name } else { t }) == name
                }
                _ => false,
            }
    })
}

/// The hooks of the head render, in their order, with what is new in each migration's files.
fn hooks(base: &[Obj], head: &[Obj]) -> Vec<HookRun> {
    let label = |o: &Obj, k: &str| text(&o.value, &["metadata", "labels", k]).to_string();
    let is_hook = |o: &Obj| label(o, MANAGED_BY) == "sluice" && !label(o, COMPONENT).is_empty();
    let files = |side: &[Obj], migration: &str| -> Option<Map<String, Value>> {
        side.iter()
            .find(|o| is_hook(o) && o.kind == "ConfigMap" && label(o, MIGRATION) == migration)
            .and_then(|o| o.value.get("data").and_then(Value::as_object).cloned())
    };
    let mut out = Vec::new();
    for h in head.iter().filter(|o| is_hook(o) && o.kind != "ConfigMap") {
        let component = label(h, COMPONENT);
        let mut run = HookRun {
            hook: component.clone(),
            object: h.display.clone(),
            detail: String::new(),
            new_files: Vec::new(),
            changed_files: Vec::new(),
        };
        match component.as_str() {
            "guard" => {
                run.detail =
                    "checks the maintenance windows and freezes before anything is applied".into();
            }
            "backup" => {
                let namespaces: Vec<&str> = h
                    .value
                    .get("spec")
                    .and_then(|s| s.get("includedNamespaces"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                run.detail = format!(
                    "Velero backup of namespace{} {} (ttl {})",
                    if namespaces.len() == 1 { "" } else { "s" },
                    namespaces.join(", "),
                    text(&h.value, &["spec", "ttl"])
                );
            }
            "migration" => {
                let name = label(h, MIGRATION);
                let new_files = files(head, &name).unwrap_or_default();
                let old_files = files(base, &name).unwrap_or_default();
                for (file, content) in &new_files {
                    match old_files.get(file) {
                        None => run.new_files.push(file.clone()),
                        Some(old) if old != content => run.changed_files.push(file.clone()),
                        Some(_) => {}
                    }
                }
                let nothing_new = run.new_files.is_empty() && run.changed_files.is_empty();
                run.detail = if !new_files.is_empty() && nothing_new {
                    format!("migration {name}: no new SQL files")
                } else {
                    format!("migration {name}")
                };
            }
            _ => {}
        }
        out.push(run);
    }
    out
}
