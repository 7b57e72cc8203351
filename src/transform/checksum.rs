//! Config checksums (README, "How generate reads and writes manifests"): for each workload with a pod template, hash the `ConfigMaps` and
//! Secrets it references (in its namespace, present in the output) into a pod-template annotation, so
//! that pods roll when their configuration changes. A `SealedSecret` or `ExternalSecret` that produces a
//! Secret of the referenced name stands for it. Secret values never leave this module: only the hash.

use super::{canonical_json, sha256_hex};
use crate::manifest::Document;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// Which kind of config object a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum ConfigKind {
    ConfigMap,
    Secret,
}

type ConfigKey = (String, ConfigKind, String);

/// A workload whose own `metadata.annotations` carry this annotation with the value `"true"` gets no
/// checksum (its pods do not roll when its config changes: the app reloads config itself, or a rollout
/// must be started by hand). Like Stakater Reloader's `reloader.stakater.com/ignore`.
pub const OPT_OUT_ANNOTATION: &str = "sluice.io/config-checksum-skip";

/// Sets `annotation` on the pod template of every workload that references config present in `docs`.
/// `default_namespace` is where objects without `metadata.namespace` live. Only config objects and
/// workloads are parsed; every other document is passed over untouched.
pub fn inject_checksums(docs: &mut [Document], annotation: &str, default_namespace: &str) {
    let configs = index_configs(docs, default_namespace);
    if configs.is_empty() {
        return;
    }
    crate::parallel::for_each_mut(docs, |doc| {
        annotate(doc, &configs, annotation, default_namespace);
    });
}

/// Sets the checksum on one workload, if it is one and references config in `configs`.
fn annotate(
    doc: &mut Document,
    configs: &HashMap<ConfigKey, Vec<u8>>,
    annotation: &str,
    default_namespace: &str,
) {
    let Some(path) = pod_template_path(doc) else {
        return;
    };
    let namespace = doc.namespace().unwrap_or(default_namespace).to_string();
    let mut object = doc.to_object();
    if opted_out(&object) {
        return;
    }
    let Some(template) = object_at_mut(&mut object, path) else {
        return;
    };
    let mut bytes = Vec::new();
    for (kind, name) in references(template.get("spec")) {
        if let Some(canonical) = configs.get(&(namespace.clone(), kind, name)) {
            bytes.extend_from_slice(canonical);
            bytes.push(b'\n');
        }
    }
    if bytes.is_empty() {
        return;
    }
    let metadata = object_entry(template, "metadata");
    let annotations = object_entry(metadata, "annotations");
    annotations.insert(annotation.to_string(), Value::String(sha256_hex(&bytes)));
    doc.set_object(&object);
}

/// Whether the workload opts out with [`OPT_OUT_ANNOTATION`]` = "true"`.
fn opted_out(workload: &Map<String, Value>) -> bool {
    workload
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(OPT_OUT_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true")
}

/// Canonical bytes of every `ConfigMap` and Secret (and Secret generators) by (namespace, kind, name).
fn index_configs(docs: &[Document], default_namespace: &str) -> HashMap<ConfigKey, Vec<u8>> {
    let entries = crate::parallel::map(docs, |doc| config_entry(doc, default_namespace));
    let mut real = HashMap::new();
    let mut generated = HashMap::new();
    for (key, bytes, generator) in entries.into_iter().flatten() {
        let table = if generator { &mut generated } else { &mut real };
        table.insert(key, bytes);
    }
    // A real Secret wins over a generator that claims the same name.
    for (key, bytes) in generated {
        real.entry(key).or_insert(bytes);
    }
    real
}

/// The index entry of one config object (key, canonical bytes, whether it is a generator), if it is one.
fn config_entry(doc: &Document, default_namespace: &str) -> Option<(ConfigKey, Vec<u8>, bool)> {
    let (kind, name_path, keys, generator): (_, &[&str], &[&str], _) =
        match (doc.group(), doc.kind()) {
            ("", "ConfigMap") => (ConfigKind::ConfigMap, &[], &["data", "binaryData"], false),
            ("", "Secret") => (
                ConfigKind::Secret,
                &[],
                &["data", "stringData", "type"],
                false,
            ),
            ("bitnami.com", "SealedSecret") => (
                ConfigKind::Secret,
                &["spec", "template", "metadata", "name"],
                &["spec"],
                true,
            ),
            ("external-secrets.io", "ExternalSecret") => (
                ConfigKind::Secret,
                &["spec", "target", "name"],
                &["spec"],
                true,
            ),
            _ => return None,
        };
    let object = doc.to_object();
    let name = str_at(&object, name_path).unwrap_or(doc.name()).to_string();
    let mut record = Map::new();
    record.insert("kind".into(), Value::String(doc.kind().to_string()));
    record.insert("name".into(), Value::String(name.clone()));
    record.extend(
        keys.iter()
            .filter_map(|k| object.get(*k).map(|v| ((*k).to_string(), v.clone()))),
    );
    let mut bytes = Vec::new();
    canonical_json(&Value::Object(record), &mut bytes);
    let namespace = doc.namespace().unwrap_or(default_namespace).to_string();
    Some(((namespace, kind, name), bytes, generator))
}

fn str_at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut cur = object;
    for key in parents {
        cur = cur.get(*key)?.as_object()?;
    }
    cur.get(*last)?.as_str().filter(|s| !s.is_empty())
}

/// Where the pod template of a workload is, if the document is one (bare Pods are left alone).
pub fn pod_template_path(doc: &Document) -> Option<&'static [&'static str]> {
    match (doc.group(), doc.kind()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job")
        | ("argoproj.io", "Rollout") => Some(&["spec", "template"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// The object at `path`, if every step is an object.
pub fn object_at_mut<'a>(
    object: &'a mut Map<String, Value>,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let mut cur = object;
    for key in path {
        cur = cur.get_mut(*key)?.as_object_mut()?;
    }
    Some(cur)
}

/// The `ConfigMaps` and Secrets a workload's pod template names, as `("ConfigMap" | "Secret", name)`,
/// sorted (for `sluice diff`, which says which of them makes a workload restart).
pub fn config_references(
    object: &Map<String, Value>,
    template_path: &[&str],
) -> Vec<(&'static str, String)> {
    let mut template = Some(object);
    for key in template_path {
        template = template
            .and_then(|t| t.get(*key))
            .and_then(Value::as_object);
    }
    references(template.and_then(|t| t.get("spec")))
        .into_iter()
        .map(|(kind, name)| match kind {
            ConfigKind::ConfigMap => ("ConfigMap", name),
            ConfigKind::Secret => ("Secret", name),
        })
        .collect()
}

/// Every `ConfigMap` and Secret a pod spec names, sorted and deduplicated.
fn references(spec: Option<&Value>) -> BTreeSet<(ConfigKind, String)> {
    let mut refs = BTreeSet::new();
    let Some(spec) = spec else { return refs };
    let mut add = |kind, name: Option<&Value>| {
        if let Some(name) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) {
            refs.insert((kind, name.to_string()));
        }
    };
    for volume in list(spec.get("volumes")) {
        add(ConfigKind::ConfigMap, volume.pointer("/configMap/name"));
        add(ConfigKind::Secret, volume.pointer("/secret/secretName"));
        for source in list(volume.pointer("/projected/sources")) {
            add(ConfigKind::ConfigMap, source.pointer("/configMap/name"));
            add(ConfigKind::Secret, source.pointer("/secret/name"));
        }
    }
    for containers in ["containers", "initContainers", "ephemeralContainers"] {
        for container in list(spec.get(containers)) {
            for env in list(container.get("env")) {
                add(
                    ConfigKind::ConfigMap,
                    env.pointer("/valueFrom/configMapKeyRef/name"),
                );
                add(
                    ConfigKind::Secret,
                    env.pointer("/valueFrom/secretKeyRef/name"),
                );
            }
            for from in list(container.get("envFrom")) {
                add(ConfigKind::ConfigMap, from.pointer("/configMapRef/name"));
                add(ConfigKind::Secret, from.pointer("/secretRef/name"));
            }
        }
    }
    refs
}

fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// `map[key]` as an object, created (or replaced, if it was not an object) when needed.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{read_documents, Limits};

    const ANN: &str = "sluice.io/config-checksum";

    fn docs(text: &str) -> Vec<Document> {
        read_documents(text, "t", &Limits::default()).unwrap()
    }

    fn checksum(doc: &Document) -> Option<String> {
        let mut object = doc.to_object();
        object_at_mut(&mut object, pod_template_path(doc)?)?
            .get("metadata")?
            .get("annotations")?
            .get(ANN)?
            .as_str()
            .map(str::to_string)
    }

    const APP: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
data: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: uses-a}
spec:
  template:
    spec:
      containers:
      - name: c
        envFrom: [{configMapRef: {name: a}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: uses-b}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - name: i
            env: [{name: X, valueFrom: {configMapKeyRef: {name: b, key: k}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: uses-missing}
spec:
  template:
    spec:
      volumes: [{name: v, configMap: {name: nowhere}}]
";

    #[test]
    fn editing_one_configmap_changes_only_its_users() {
        let mut before = docs(APP);
        inject_checksums(&mut before, ANN, "prod");
        let mut after = docs(&APP.replacen("data: {k: v}", "data: {k: w}", 1));
        inject_checksums(&mut after, ANN, "prod");
        assert_ne!(checksum(&before[2]), checksum(&after[2]));
        assert_eq!(checksum(&before[3]), checksum(&after[3]));
        assert!(checksum(&before[3]).is_some());
        assert_eq!(
            checksum(&before[4]),
            None,
            "missing config adds no annotation"
        );
    }

    #[test]
    fn other_namespaces_do_not_count() {
        let text = APP.replacen(
            "metadata: {name: a}",
            "metadata: {name: a, namespace: other}",
            1,
        );
        let mut d = docs(&text);
        inject_checksums(&mut d, ANN, "prod");
        assert_eq!(checksum(&d[2]), None);
    }

    #[test]
    fn sealed_secret_stands_for_its_secret() {
        let text = "
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: db}
spec: {encryptedData: {password: AgB1}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  template:
    spec:
      volumes: [{name: p, projected: {sources: [{secret: {name: db}}]}}]
      containers: [{name: c}]
";
        let mut d = docs(text);
        inject_checksums(&mut d, ANN, "prod");
        let first = checksum(&d[1]).expect("annotated");
        let mut d2 = docs(&text.replace("AgB1", "AgB2"));
        inject_checksums(&mut d2, ANN, "prod");
        assert_ne!(Some(first), checksum(&d2[1]));
    }

    #[test]
    fn bare_pods_are_left_alone() {
        let mut d = docs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, envFrom: [{configMapRef: {name: a}}]}]\n");
        let before = d.clone();
        inject_checksums(&mut d, ANN, "prod");
        assert_eq!(d, before);
    }

    #[test]
    fn a_workload_opts_out_with_its_own_annotation() {
        let opt_out = |value: &str| {
            APP.replacen(
                "metadata: {name: uses-a}",
                &format!(
                    "metadata: {{name: uses-a, annotations: {{{OPT_OUT_ANNOTATION}: {value}}}}}"
                ),
                1,
            )
        };
        let mut d = docs(&opt_out("'true'"));
        inject_checksums(&mut d, ANN, "prod");
        assert_eq!(checksum(&d[2]), None, "opted out");
        assert!(checksum(&d[3]).is_some(), "the others still get theirs");
        // Only "true" opts out; an annotation on the pod template instead of the workload does not.
        let mut d = docs(&opt_out("'false'"));
        inject_checksums(&mut d, ANN, "prod");
        assert!(checksum(&d[2]).is_some());
        let on_template = APP.replacen(
            "  template:\n    spec:\n      containers:",
            &format!("  template:\n    metadata: {{annotations: {{{OPT_OUT_ANNOTATION}: 'true'}}}}\n    spec:\n      containers:"),
            1,
        );
        assert_ne!(on_template, APP);
        let mut d = docs(&on_template);
        inject_checksums(&mut d, ANN, "prod");
        assert!(checksum(&d[2]).is_some());
    }
}
