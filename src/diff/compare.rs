//! The comparison of two renders (pure): objects paired by identity, per-object unified YAML diffs
//! with Secret values masked, the workloads whose pod template changes (they restart) and each
//! cause by name, and every hook the sync will run. Generated hooks are paired by what they are
//! (component and migration), not by name, since names carry content hashes; Kustomize generator
//! output (`name-<hash>`) is paired by generator name, so a new hash suffix is one object changed.

use crate::manifest::{emit, redact, Document};
use crate::transform::checksum;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Label every generated hook carries, and the ones that say which hook it is.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const COMPONENT: &str = "app.kubernetes.io/component";
const MIGRATION: &str = "sluice.io/migration";
/// Argo CD's hook annotations (docs/user-guide/resource_hooks.md), and Helm's, which Argo CD maps
/// (docs/user-guide/helm.md, "Helm Hooks").
const HOOK: &str = "argocd.argoproj.io/hook";
const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
const HELM_HOOK: &str = "helm.sh/hook";
const HELM_WEIGHT: &str = "helm.sh/hook-weight";
/// The phases of a sync, in the order they run.
const PHASES: &[&str] = &["PreSync", "Sync", "PostSync", "SyncFail", "PostDelete"];

/// How to compare.
#[derive(Debug, Clone)]
pub struct Options {
    /// Objects of these kinds (`Secret`, or `group/Kind`) are left out of the comparison.
    pub ignore_kinds: Vec<String>,
    /// Lines of context around each change of an object diff.
    pub context: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ignore_kinds: Vec::new(),
            context: 3,
        }
    }
}

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
    /// `data.PASSWORD`, `spec.encryptedData.token`, or the last-applied annotation.
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
    pub api_version: String,
    pub kind: String,
    /// As written in the manifest; `null` when it has none (the destination namespace applies).
    pub namespace: Option<String>,
    /// The head's name (the base's for a removed object); `generateName` when there is no name.
    pub name: String,
    /// The name at base when the head name differs (generated hooks and Kustomize generator output
    /// whose names carry a hash).
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
    /// Each cause by name: `ConfigMap app-config: data.LOG_LEVEL`, `image api: v2.4.3 → v2.5.0`,
    /// `env app: LOG_LEVEL`, `pod template: spec.containers[app].resources.limits.memory`.
    pub causes: Vec<String>,
    /// For a `CronJob`: nothing restarts now, the next runs use the new template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A hook of the head render: it runs on the next sync, in its phase and wave.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    /// `guard`, `backup`, `migration` (sluice's), or `app` (the app's own hook objects).
    pub hook: String,
    /// `PreSync`, `Sync`, `PostSync`, `SyncFail`, `PostDelete`.
    pub phase: String,
    pub wave: i64,
    pub object: String,
    pub detail: String,
    /// Migrations: files of the `sqlDir` not at base, and files whose content changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_files: Vec<String>,
}

/// The result of [`compare`].
#[derive(Debug, Clone, Default)]
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
    api_version: String,
    group: String,
    kind: String,
    namespace: String,
    explicit_namespace: Option<String>,
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

fn ignored(doc: &Document, ignore: &[String]) -> bool {
    ignore.iter().any(|k| match k.rsplit_once('/') {
        Some((group, kind)) => doc.group() == group && doc.kind() == kind,
        None => doc.kind() == k,
    })
}

fn objects(docs: &[Document], default_namespace: &str, options: &Options) -> Vec<Obj> {
    docs.iter()
        .filter(|doc| !ignored(doc, &options.ignore_kinds))
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
            } else if name.is_empty() {
                format!("unnamed:{}:{}", doc.source.file, doc.source.index)
            } else {
                name.clone()
            };
            // An object without a name is named by where it comes from, never shown as "Kind ".
            let shown = if name.is_empty() {
                format!(
                    "(no name: {} document {})",
                    doc.source.file, doc.source.index
                )
            } else {
                name.clone()
            };
            let display = if doc.namespace().is_some() {
                format!("{} {namespace}/{shown}", doc.kind())
            } else {
                format!("{} {shown}", doc.kind())
            };
            Obj {
                key: format!("{}|{}|{namespace}|{identity}", doc.group(), doc.kind()),
                display,
                api_version: text(&value, &["apiVersion"]).to_string(),
                group: doc.group().to_string(),
                kind: doc.kind().to_string(),
                explicit_namespace: doc.namespace().map(String::from),
                namespace,
                name,
                template: checksum::pod_template_path(doc),
                value,
            }
        })
        .collect()
}

/// The generator name of a Kustomize `configMapGenerator`/`secretGenerator` output: `name` of
/// `name-<hash>`, where the hash is ten characters of Kustomize's alphabet (api/hasher: hex digits
/// with 0, 1, 3, a, e replaced by g, h, k, m, t).
fn generator_name(name: &str) -> Option<&str> {
    let (stem, hash) = name.rsplit_once('-')?;
    let alphabet = |c: char| "2456789bcdfghkmt".contains(c);
    (hash.len() == 10 && hash.chars().all(alphabet) && !stem.is_empty()).then_some(stem)
}

/// Pairs Kustomize generator output renamed by a new hash suffix: an object only at base and one
/// only at head, of the same kind and namespace and generator name, each the only one of its kind
/// there, get the same key.
fn pair_generated(base: &mut [Obj], head: &[Obj]) {
    let head_keys: BTreeSet<&str> = head.iter().map(|o| o.key.as_str()).collect();
    let base_keys: BTreeSet<String> = base.iter().map(|o| o.key.clone()).collect();
    let stem_key = |o: &Obj| {
        matches!(o.kind.as_str(), "ConfigMap" | "Secret")
            .then(|| generator_name(&o.name))
            .flatten()
            .map(|stem| format!("{}|{}|{}|{stem}", o.group, o.kind, o.namespace))
    };
    let mut head_only: BTreeMap<String, Vec<&Obj>> = BTreeMap::new();
    for h in head.iter().filter(|o| !base_keys.contains(&o.key)) {
        if let Some(k) = stem_key(h) {
            head_only.entry(k).or_default().push(h);
        }
    }
    let mut base_only: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, b) in base.iter().enumerate() {
        if !head_keys.contains(b.key.as_str()) {
            if let Some(k) = stem_key(b) {
                base_only.entry(k).or_default().push(i);
            }
        }
    }
    for (stem, heads) in head_only {
        if let (Some(bases), [h]) = (base_only.get(&stem), heads.as_slice()) {
            if let [i] = bases.as_slice() {
                base[*i].key.clone_from(&h.key);
            }
        }
    }
}

/// Compares the base and head renders; `default_namespace` is where objects without one live.
pub fn compare(
    base: &[Document],
    head: &[Document],
    default_namespace: &str,
    options: &Options,
) -> Compared {
    let mut base = objects(base, default_namespace, options);
    let head = objects(head, default_namespace, options);
    pair_generated(&mut base, &head);
    let base_by_key: BTreeMap<&str, &Obj> = base.iter().map(|o| (o.key.as_str(), o)).collect();
    let head_by_key: BTreeMap<&str, &Obj> = head.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut changes = Vec::new();
    let mut unchanged = 0;
    for h in &head {
        match base_by_key.get(h.key.as_str()) {
            Some(b) if b.value == h.value => unchanged += 1,
            Some(b) => changes.push(object_change(Status::Changed, Some(b), Some(h), options)),
            None => changes.push(object_change(Status::Added, None, Some(h), options)),
        }
    }
    for b in &base {
        if !head_by_key.contains_key(b.key.as_str()) {
            changes.push(object_change(Status::Removed, Some(b), None, options));
        }
    }
    Compared {
        restarts: restarts(&base, &head, &base_by_key),
        hooks: hooks(&base, &head),
        objects: changes,
        unchanged,
    }
}

fn object_change(
    status: Status,
    base: Option<&Obj>,
    head: Option<&Obj>,
    options: &Options,
) -> ObjectChange {
    let mut base_value = base.map(|o| o.value.clone());
    let mut head_value = head.map(|o| o.value.clone());
    let secret_keys = mask_secrets(base_value.as_mut(), head_value.as_mut());
    let yaml = |v: Option<Map<String, Value>>| {
        v.map(|m| emit::to_yaml(&Value::Object(m)))
            .unwrap_or_default()
    };
    let (old, new) = (yaml(base_value), yaml(head_value));
    let shown = head.or(base);
    let renamed_from = match (base, head) {
        (Some(b), Some(h)) if b.name != h.name => Some(b.name.clone()),
        _ => None,
    };
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(options.context)
        .header(
            &base.map_or_else(|| "/dev/null".into(), |o| format!("base/{}", o.display)),
            &head.map_or_else(|| "/dev/null".into(), |o| format!("head/{}", o.display)),
        )
        .to_string();
    ObjectChange {
        status,
        object: shown.map(|o| o.display.clone()).unwrap_or_default(),
        api_version: shown.map(|o| o.api_version.clone()).unwrap_or_default(),
        kind: shown.map(|o| o.kind.clone()).unwrap_or_default(),
        namespace: shown.and_then(|o| o.explicit_namespace.clone()),
        name: shown.map(|o| o.name.clone()).unwrap_or_default(),
        renamed_from,
        secret_keys,
        diff,
    }
}

fn key_status<T: PartialEq>(old: Option<&T>, new: Option<&T>) -> &'static str {
    match (old, new) {
        (None, _) => "added",
        (_, None) => "removed",
        (Some(o), Some(n)) if o == n => "unchanged",
        _ => "changed",
    }
}

/// Replaces secret values on both sides with markers that differ only where the value changed, and
/// says per key what happened; the last-applied annotation is masked inside (or hidden whole). The
/// values themselves go no further than this function.
fn mask_secrets(
    mut base: Option<&mut Map<String, Value>>,
    mut head: Option<&mut Map<String, Value>>,
) -> Vec<SecretKey> {
    let mut out = Vec::new();
    let old_text = base.as_deref_mut().and_then(mask_annotation);
    let new_text = head.as_deref_mut().and_then(mask_annotation);
    if old_text.is_some() || new_text.is_some() {
        out.push(SecretKey {
            key: format!("metadata.annotations.{}", redact::LAST_APPLIED),
            status: key_status(old_text.as_ref(), new_text.as_ref()),
        });
    }
    let mut base_maps: BTreeMap<String, &mut Map<String, Value>> = base
        .map(|b| redact::secret_maps_mut(b).into_iter().collect())
        .unwrap_or_default();
    let mut head_maps: BTreeMap<String, &mut Map<String, Value>> = head
        .map(|h| redact::secret_maps_mut(h).into_iter().collect())
        .unwrap_or_default();
    let paths: Vec<String> = head_maps.keys().chain(base_maps.keys()).cloned().collect();
    let mut seen = BTreeSet::new();
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
        let mut done = BTreeSet::new();
        for key in keys {
            if !done.insert(key.clone()) {
                continue;
            }
            let old_value = b.as_deref().and_then(|m| m.get(&key)).cloned();
            let new_value = h.as_deref().and_then(|m| m.get(&key)).cloned();
            let status = key_status(old_value.as_ref(), new_value.as_ref());
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

/// Masks the last-applied annotation of a secret-kind object; gives its value before masking.
fn mask_annotation(object: &mut Map<String, Value>) -> Option<Value> {
    let group = redact::group_of(text(object, &["apiVersion"])).to_string();
    let kind = text(object, &["kind"]).to_string();
    let v = redact::last_applied_mut(object)?;
    let original = v.clone();
    *v = Value::String(v.as_str().map_or_else(
        || redact::HIDDEN.into(),
        |t| redact::mask_last_applied(t, &group, &kind),
    ));
    Some(original)
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
fn image_change(name: &str, old: &str, new: &str) -> String {
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
fn changed_paths(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
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
fn restarts(base: &[Obj], head: &[Obj], base_by_key: &BTreeMap<&str, &Obj>) -> Vec<Restart> {
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

/// The phases and wave of an object that is a hook (Argo CD's annotation, else Helm's as Argo CD maps
/// it); `None` for an ordinary object. A `Skip` hook is not applied at all: no phase.
fn hook_phases(o: &Obj) -> Option<(Vec<String>, i64)> {
    let annotation = |k: &str| {
        text(&o.value, &["metadata", "annotations", k])
            .trim()
            .to_string()
    };
    let wave = |k: &str| annotation(k).parse::<i64>().unwrap_or(0);
    let argo = annotation(HOOK);
    if !argo.is_empty() {
        let phases: Vec<String> = argo
            .split(',')
            .map(str::trim)
            .filter(|p| PHASES.contains(p))
            .map(String::from)
            .collect();
        return (!phases.is_empty()).then(|| (phases, wave(SYNC_WAVE)));
    }
    let helm = annotation(HELM_HOOK);
    if helm.is_empty() {
        return None;
    }
    let mut phases = Vec::new();
    for h in helm.split(',').map(str::trim) {
        let phase = match h {
            "pre-install" | "pre-upgrade" => "PreSync",
            "post-install" | "post-upgrade" => "PostSync",
            _ => continue,
        };
        if !phases.iter().any(|p| p == phase) {
            phases.push(phase.to_string());
        }
    }
    (!phases.is_empty()).then(|| (phases, wave(HELM_WEIGHT)))
}

/// Every hook of the head render, in the order Argo CD runs them (phase, then wave): sluice's, with
/// what is new in each migration's files, and the app's own.
fn hooks(base: &[Obj], head: &[Obj]) -> Vec<HookRun> {
    let label = |o: &Obj, k: &str| text(&o.value, &["metadata", "labels", k]).to_string();
    let is_sluice = |o: &Obj| label(o, MANAGED_BY) == "sluice" && !label(o, COMPONENT).is_empty();
    let files = |side: &[Obj], migration: &str| -> Option<Map<String, Value>> {
        side.iter()
            .find(|o| is_sluice(o) && o.kind == "ConfigMap" && label(o, MIGRATION) == migration)
            .and_then(|o| o.value.get("data").and_then(Value::as_object).cloned())
    };
    let mut out = Vec::new();
    for h in head {
        let Some((phases, wave)) = hook_phases(h) else {
            continue;
        };
        if is_sluice(h) && h.kind == "ConfigMap" {
            continue;
        }
        let component = if is_sluice(h) {
            label(h, COMPONENT)
        } else {
            "app".to_string()
        };
        let mut run = HookRun {
            hook: component.clone(),
            phase: phases.join(","),
            wave,
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
            _ => {
                let policy = text(
                    &h.value,
                    &[
                        "metadata",
                        "annotations",
                        "argocd.argoproj.io/hook-delete-policy",
                    ],
                );
                run.detail = format!(
                    "the app's own hook{}",
                    if policy.is_empty() {
                        String::new()
                    } else {
                        format!(" (delete policy {policy})")
                    }
                );
            }
        }
        out.push(run);
    }
    let order = |r: &HookRun| {
        let first = r.phase.split(',').next().unwrap_or("");
        (
            PHASES
                .iter()
                .position(|p| *p == first)
                .unwrap_or(PHASES.len()),
            r.wave,
        )
    };
    out.sort_by_key(order);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_names_are_kustomize_hash_suffixes_only() {
        assert_eq!(generator_name("app-config-5tkm2d4c8b"), Some("app-config"));
        assert_eq!(generator_name("app-config-2"), None);
        assert_eq!(
            generator_name("shop-schema-968fb27ad5"),
            None,
            "0, a are not in the alphabet"
        );
        assert_eq!(generator_name("-5tkm2d4c8b"), None);
    }

    #[test]
    fn an_object_without_a_name_is_named_by_its_source() {
        let doc = |file: &str| {
            Document::from_object(
                serde_json::json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["a.yaml"]})
                    .as_object()
                    .expect("object"),
                crate::manifest::Source {
                    file: file.into(),
                    index: 0,
                    line: 1,
                },
            )
        };
        let c = compare(
            &[],
            &[doc("kustomization.yaml")],
            "shop",
            &Options::default(),
        );
        assert_eq!(
            c.objects[0].object,
            "Kustomization (no name: kustomization.yaml document 0)"
        );
        assert_eq!(c.objects[0].name, "");
        assert_eq!(c.objects[0].kind, "Kustomization");
    }

    #[test]
    fn images_are_named_by_tag_when_the_repository_stays() {
        assert_eq!(
            image_change("api", "ghcr.io/x/api:v2.4.3", "ghcr.io/x/api:v2.5.0"),
            "image api: v2.4.3 → v2.5.0"
        );
        assert_eq!(
            image_change("api", "localhost:5000/api", "localhost:5000/api:1"),
            "image api: latest → 1"
        );
        assert_eq!(
            image_change("api", "a/api:1", "b/api:1"),
            "image api: a/api:1 → b/api:1"
        );
    }

    #[test]
    fn changed_paths_match_list_items_by_name() {
        let old = serde_json::json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "1Gi"}}}]}});
        let new = serde_json::json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "2Gi"}}}]}});
        let mut out = Vec::new();
        changed_paths(&old, &new, "", &mut out);
        assert_eq!(out, ["spec.containers[a].resources.limits.memory"]);
    }
}
