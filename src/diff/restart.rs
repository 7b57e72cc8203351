//! The workloads whose pod template changes between two renders (they restart), and each cause by
//! name: a `ConfigMap` or `Secret` key, an image, an env name, or the first changed paths.

use super::hooks::hook_phases;
use super::object::{generator_name, text, Obj};
use crate::transform::checksum;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A workload whose pod template changes: its pods are replaced on sync.
#[derive(Debug, Clone, Serialize)]
pub struct Restart {
    pub workload: String,
    /// Each cause by name: `ConfigMap app-config: data.LOG_LEVEL`, `image api: v2.4.3 → v2.5.0`,
    /// `env app: LOG_LEVEL`, `pod template: spec.containers[app].resources.limits.memory`.
    pub causes: Vec<String>,
    /// For a `CronJob`: nothing restarts now, the next runs use the new template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn at_path(value: &Map<String, Value>, path: &[&str]) -> Value {
    let mut v = Value::Object(value.clone());
    for key in path {
        v = v.get(*key).cloned().unwrap_or(Value::Null);
    }
    v
}

/// The containers of a pod template by name, init containers first.
fn containers(template: &Value) -> BTreeMap<String, Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| template.pointer(&format!("/spec/{k}")))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?.to_string(), c.clone())))
        .collect()
}

/// `api: v2.4.3 → v2.5.0` when only the tag or digest differs, else the whole images.
pub(super) fn image_change(name: &str, old: &str, new: &str) -> String {
    let split = |i: &str| -> (String, String) {
        if let Some((repo, digest)) = i.split_once('@') {
            return (repo.to_string(), format!("@{digest}"));
        }
        match i.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
            _ => (i.to_string(), "latest".to_string()),
        }
    };
    let ((old_repo, old_tag), (new_repo, new_tag)) = (split(old), split(new));
    if old_repo == new_repo {
        format!("image {name}: {old_tag} → {new_tag}")
    } else {
        format!("image {name}: {old} → {new}")
    }
}

/// The env var names of a container whose definition differs (values are never shown: they may be
/// secrets written inline).
fn env_changes(old: &Value, new: &Value) -> Vec<String> {
    let vars = |c: &Value| -> BTreeMap<String, Value> {
        c.get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.get("name")?.as_str()?.to_string(), e.clone())))
            .collect()
    };
    let (o, n) = (vars(old), vars(new));
    let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    names
        .into_iter()
        .filter(|k| o.get(*k) != n.get(*k))
        .map(|k| match (o.contains_key(k), n.contains_key(k)) {
            (false, _) => format!("{k} added"),
            (_, false) => format!("{k} removed"),
            _ => k.clone(),
        })
        .collect()
}

/// The paths where two values differ (list items with a `name` are matched by name).
pub(super) fn changed_paths(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                let null = Value::Null;
                changed_paths(
                    o.get(k).unwrap_or(&null),
                    n.get(k).unwrap_or(&null),
                    &join(k),
                    out,
                );
            }
        }
        (Value::Array(o), Value::Array(n))
            if o.iter()
                .chain(n)
                .all(|i| i.get("name").is_some_and(Value::is_string)) =>
        {
            let by_name = |a: &[Value]| -> BTreeMap<String, Value> {
                a.iter()
                    .filter_map(|i| Some((i.get("name")?.as_str()?.to_string(), i.clone())))
                    .collect()
            };
            let (o, n) = (by_name(o), by_name(n));
            let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in names {
                let null = Value::Null;
                changed_paths(
                    o.get(k).unwrap_or(&null),
                    n.get(k).unwrap_or(&null),
                    &format!("{at}[{k}]"),
                    out,
                );
            }
        }
        _ => out.push(at.to_string()),
    }
}

/// What changed in a config object that its checksum covers: keys of `data`/`binaryData` (a
/// `ConfigMap`), `data`/`stringData` and `type` (a Secret), keys of `spec.encryptedData` or the spec
/// (a generator). Labels and annotations are not among them: changing only those restarts nothing.
fn config_keys(old: &Obj, new: &Obj) -> Vec<String> {
    let fields: &[&[&str]] = match (new.group.as_str(), new.kind.as_str()) {
        ("", "ConfigMap") => &[&["data"], &["binaryData"]],
        ("", "Secret") => &[&["data"], &["stringData"], &["type"]],
        ("bitnami.com", "SealedSecret") => &[&["spec", "encryptedData"], &["spec", "template"]],
        _ => &[&["spec"]],
    };
    let mut out = Vec::new();
    for path in fields {
        let (o, n) = (at_path(&old.value, path), at_path(&new.value, path));
        let name = path.join(".");
        match (&o, &n) {
            (Value::Object(om), Value::Object(nm)) if path.last() != Some(&"spec") => {
                let keys: BTreeSet<&String> = om.keys().chain(nm.keys()).collect();
                out.extend(
                    keys.into_iter()
                        .filter(|k| om.get(*k) != nm.get(*k))
                        .map(|k| format!("{name}.{k}")),
                );
            }
            _ if o != n => out.push(name),
            _ => {}
        }
    }
    out
}

/// The template with the config-checksum annotations and each container's image and env taken out:
/// what is left to name as "pod template" causes.
fn template_rest(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(annotations) = t
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.retain(|k, _| !k.ends_with("config-checksum"));
    }
    for k in ["initContainers", "containers"] {
        if let Some(list) = t
            .pointer_mut(&format!("/spec/{k}"))
            .and_then(Value::as_array_mut)
        {
            for c in list.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("image");
                c.remove("env");
            }
        }
    }
    t
}

/// The causes of one workload's restart, by name.
fn causes(b: &Obj, h: &Obj, path: &[&str], base: &[Obj], head: &[Obj]) -> Vec<String> {
    let (bt, ht) = (at_path(&b.value, path), at_path(&h.value, path));
    let mut causes = Vec::new();
    let refs: BTreeSet<(&'static str, String)> = checksum::config_references(&h.value, path)
        .into_iter()
        .chain(checksum::config_references(&b.value, path))
        .collect();
    let head_refs = checksum::config_references(&h.value, path);
    let base_refs = checksum::config_references(&b.value, path);
    for (kind, name) in &refs {
        let in_head = head_refs.iter().any(|(k, n)| k == kind && n == name);
        let in_base = base_refs.iter().any(|(k, n)| k == kind && n == name);
        if in_base && !in_head {
            // The head names another object (a renamed generator is reported under its new name).
            continue;
        }
        let new = config_source(head, &h.namespace, kind, name);
        let old = config_source(base, &h.namespace, kind, name).or_else(|| {
            // A generator whose hash suffix changed: the base object of the same generator.
            let stem = generator_name(name)?;
            base_refs
                .iter()
                .filter(|(k, n)| k == kind && generator_name(n) == Some(stem))
                .find_map(|(k, n)| config_source(base, &h.namespace, k, n))
        });
        match (old, new) {
            (Some(o), Some(n)) => {
                let keys = config_keys(o, n);
                if keys.is_empty() {
                    continue;
                }
                let shown = if o.name == n.name {
                    format!("{kind} {name}")
                } else {
                    format!("{kind} {name} (was {})", o.name)
                };
                causes.push(format!("{shown}: {}", keys.join(", ")));
            }
            (None, Some(_)) => causes.push(format!("{kind} {name} added")),
            (Some(_), None) => causes.push(format!("{kind} {name} removed")),
            (None, None) => {}
        }
    }
    let (bc, hc) = (containers(&bt), containers(&ht));
    let names: BTreeSet<&String> = bc.keys().chain(hc.keys()).collect();
    for name in names {
        match (bc.get(name), hc.get(name)) {
            (Some(o), Some(n)) => {
                let image = |c: &Value| {
                    c.get("image")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                if image(o) != image(n) {
                    causes.push(image_change(name, &image(o), &image(n)));
                }
                let env = env_changes(o, n);
                if !env.is_empty() {
                    causes.push(format!("env {name}: {}", env.join(", ")));
                }
            }
            (None, Some(_)) => causes.push(format!("container {name} added")),
            (Some(_), None) => causes.push(format!("container {name} removed")),
            (None, None) => {}
        }
    }
    let (br, hr) = (template_rest(&bt), template_rest(&ht));
    let mut paths = Vec::new();
    changed_paths(&br, &hr, "", &mut paths);
    // Containers added or removed are named above.
    paths.retain(|p| {
        !bc.keys()
            .chain(hc.keys())
            .any(|c| (!bc.contains_key(c) || !hc.contains_key(c)) && p.ends_with(&format!("[{c}]")))
    });
    if !paths.is_empty() {
        let more = paths.len().saturating_sub(3);
        let mut line = format!("pod template: {}", paths[..paths.len().min(3)].join(", "));
        if more > 0 {
            let _ = write!(line, " and {more} more");
        }
        causes.push(line);
    }
    if causes.is_empty() {
        causes.push("config checksum changed".into());
    }
    causes
}

/// Workloads present at both revisions whose pod template's rendered bytes differ, each cause named.
pub(super) fn restarts(
    base: &[Obj],
    head: &[Obj],
    base_by_key: &BTreeMap<&str, &Obj>,
) -> Vec<Restart> {
    let mut out = Vec::new();
    for h in head {
        let (Some(path), Some(b)) = (h.template, base_by_key.get(h.key.as_str())) else {
            continue;
        };
        // Hook Jobs run anew on every sync: they are listed as hooks, not as restarts.
        if h.key.contains("|hook:") || hook_phases(h).is_some() {
            continue;
        }
        if at_path(&b.value, path) == at_path(&h.value, path) {
            continue;
        }
        out.push(Restart {
            workload: h.display.clone(),
            causes: causes(b, h, path, base, head),
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
