//! Config checksums (README, "How generate reads and writes manifests"): for each workload with a pod template, hash the `ConfigMaps` and
//! Secrets it references (in its namespace, present in the output) into a pod-template annotation, so
//! that pods roll when their configuration changes. A `SealedSecret` or `ExternalSecret` that produces a
//! Secret of the referenced name stands for it. Secret values never leave this module: only the hash.
//! [`configs`] indexes the config objects and reads a pod spec's references; this file writes the
//! annotations.

mod configs;

pub use configs::config_references;

use super::sha256_hex;
use crate::manifest::json::{Doc, Json};
use crate::manifest::{metadata_str, DocRef, Document, Manifests};
use configs::{index_configs, json_references, references, ConfigKey, ConfigKind};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// A workload whose own `metadata.annotations` carry this annotation with the value `"true"` gets no
/// checksum (its pods do not roll when its config changes: the app reloads config itself, or a rollout
/// must be started by hand). Like Stakater Reloader's `reloader.stakater.com/ignore`.
pub const OPT_OUT_ANNOTATION: &str = "sluice.io/config-checksum-skip";

/// Sets `annotation` on the pod template of every workload that references config present in `docs`.
/// `default_namespace` is where objects without `metadata.namespace` live. Only config objects and
/// workloads are looked into; every other document is passed over untouched.
///
/// Documents are read where they are held, as JSON bytes ([`Json`]): the few fields the checksum
/// needs are found without a tree, and the annotation is written into the bytes where `serde_json`
/// would write it. A document with a float in it takes the slow way, parsed and written again,
/// because `serde_json` does not always read a float back exactly and the output must stay what it
/// was (`parsed_*` below; a test holds both ways to the same bytes).
pub fn inject_checksums(docs: &mut Manifests, annotation: &str, default_namespace: &str) {
    inject(docs, annotation, default_namespace, false);
}

/// [`inject_checksums`], every document the slow way when `parsed` (for the test that holds both ways
/// to the same bytes).
fn inject(docs: &mut Manifests, annotation: &str, default_namespace: &str, parsed: bool) {
    let configs = index_configs(docs, default_namespace, parsed);
    if configs.is_empty() {
        return;
    }
    docs.update(|doc| {
        let path = template_path(doc.group(), doc.kind())?;
        if parsed || doc.has_float() {
            parsed_annotate(doc, path, &configs, annotation, default_namespace)
        } else {
            annotate(doc, path, &configs, annotation, default_namespace)
        }
    });
}

/// The workload's JSON with the checksum set, if it references config in `configs`.
fn annotate(
    doc: DocRef<'_>,
    path: &[&str],
    configs: &HashMap<ConfigKey, Box<[u8]>>,
    annotation: &str,
    default_namespace: &str,
) -> Option<Vec<u8>> {
    let indexed = Doc::new(doc.json());
    let root = indexed.root();
    if root
        .at(&["metadata", "annotations", OPT_OUT_ANNOTATION])
        .and_then(|v| v.as_str())
        .as_deref()
        == Some("true")
    {
        return None;
    }
    let namespace = root
        .at(&["metadata", "namespace"])
        .and_then(|v| v.as_name())
        .map_or(default_namespace.to_string(), Cow::into_owned);
    let template = root.at(path).filter(Json::is_object)?;
    let refs = json_references(template.get("spec"));
    let hash = checksum(refs, &namespace, configs)?;
    Some(set_annotation(doc.json(), template, annotation, &hash))
}

/// [`annotate`] on the parsed object (for a document with floats).
fn parsed_annotate(
    doc: DocRef<'_>,
    path: &[&str],
    configs: &HashMap<ConfigKey, Box<[u8]>>,
    annotation: &str,
    default_namespace: &str,
) -> Option<Vec<u8>> {
    let mut object = doc.to_object();
    if opted_out(&object) {
        return None;
    }
    let namespace = metadata_str(&object, "namespace")
        .unwrap_or(default_namespace)
        .to_string();
    let template = object_at_mut(&mut object, path)?;
    let hash = checksum(references(template.get("spec")), &namespace, configs)?;
    let metadata = object_entry(template, "metadata");
    let annotations = object_entry(metadata, "annotations");
    annotations.insert(annotation.to_string(), Value::String(hash));
    // Serialising a Map<String, Value> cannot fail: keys are strings, numbers are finite.
    serde_json::to_vec(&object).ok()
}

/// The SHA-256 of the canonical bytes of the referenced config present in `configs`, each followed by
/// a line break; `None` when none is present.
fn checksum(
    refs: BTreeSet<(ConfigKind, String)>,
    namespace: &str,
    configs: &HashMap<ConfigKey, Box<[u8]>>,
) -> Option<String> {
    let mut bytes = Vec::new();
    for (kind, name) in refs {
        if let Some(canonical) = configs.get(&(namespace.to_string(), kind, name)) {
            bytes.extend_from_slice(canonical);
            bytes.push(b'\n');
        }
    }
    (!bytes.is_empty()).then(|| sha256_hex(&bytes))
}

/// `doc` with `template.metadata.annotations[annotation] = hash`, written as `serde_json` writes the
/// object changed the way [`parsed_annotate`] changes it: an existing key keeps its place and takes
/// the new value; a missing key (or `metadata`, `annotations`) is added last in its object; one that
/// is not an object is replaced by one.
fn set_annotation(doc: &[u8], template: Json<'_>, annotation: &str, hash: &str) -> Vec<u8> {
    let member = |key: &str, value: &[u8]| {
        let mut out = Vec::with_capacity(key.len() + value.len() + 3);
        // Writing a str to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, key);
        out.push(b':');
        out.extend_from_slice(value);
        out
    };
    let object = |member: Vec<u8>| [&b"{"[..], &member, b"}"].concat();
    let appended = |to: Json<'_>, member: Vec<u8>| {
        let (_, end) = to.span();
        let comma: &[u8] = if to.is_empty_collection() { b"" } else { b"," };
        (end - 1, end - 1, [comma, &member].concat())
    };
    let hash = format!("\"{hash}\"").into_bytes();
    let annotations = || object(member(annotation, &hash));
    let (from, to, insert) = match template.get("metadata") {
        Some(metadata) if metadata.is_object() => match metadata.get("annotations") {
            Some(existing) if existing.is_object() => match existing.get(annotation) {
                Some(value) => {
                    let (from, to) = value.span();
                    (from, to, hash.clone())
                }
                None => appended(existing, member(annotation, &hash)),
            },
            Some(other) => {
                let (from, to) = other.span();
                (from, to, annotations())
            }
            None => appended(metadata, member("annotations", &annotations())),
        },
        Some(other) => {
            let (from, to) = other.span();
            (from, to, object(member("annotations", &annotations())))
        }
        None => appended(
            template,
            member("metadata", &object(member("annotations", &annotations()))),
        ),
    };
    [&doc[..from], &insert, &doc[to..]].concat()
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

/// Where the pod template of a workload is, if the document is one (bare Pods are left alone).
pub fn pod_template_path(doc: &Document) -> Option<&'static [&'static str]> {
    template_path(doc.group(), doc.kind())
}

/// Where the pod template of a workload of this API group and kind is, if it is one.
pub fn template_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
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
    use crate::manifest::Limits;
    use serde_json::json;

    const ANN: &str = "sluice.io/config-checksum";

    fn docs(text: &str) -> Manifests {
        Manifests::read(vec![("t".into(), text.into())], &Limits::default()).unwrap()
    }

    /// Reads `text`, sets the checksums, gives the documents.
    fn injected(text: &str) -> Vec<Document> {
        let mut d = docs(text);
        inject_checksums(&mut d, ANN, "prod");
        d.into_documents()
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
        let before = injected(APP);
        let after = injected(&APP.replacen("data: {k: v}", "data: {k: w}", 1));
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
        let d = injected(&text);
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
        let d = injected(text);
        let first = checksum(&d[1]).expect("annotated");
        let d2 = injected(&text.replace("AgB1", "AgB2"));
        assert_ne!(Some(first), checksum(&d2[1]));
    }

    #[test]
    fn bare_pods_are_left_alone() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, envFrom: [{configMapRef: {name: a}}]}]\n";
        assert_eq!(injected(text), docs(text).into_documents());
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
        let d = injected(&opt_out("'true'"));
        assert_eq!(checksum(&d[2]), None, "opted out");
        assert!(checksum(&d[3]).is_some(), "the others still get theirs");
        // Only "true" opts out; an annotation on the pod template instead of the workload does not.
        let d = injected(&opt_out("'false'"));
        assert!(checksum(&d[2]).is_some());
        let on_template = APP.replacen(
            "  template:\n    spec:\n      containers:",
            &format!("  template:\n    metadata: {{annotations: {{{OPT_OUT_ANNOTATION}: 'true'}}}}\n    spec:\n      containers:"),
            1,
        );
        assert_ne!(on_template, APP);
        let d = injected(&on_template);
        assert!(checksum(&d[2]).is_some());
    }

    /// splitmix64, for the shapes of the generated apps.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        fn pick<T: Clone>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())].clone()
        }
    }

    const NAMES: &[&str] = &["a", "b", "c", "we\"ird\\", "ünï", ""];

    /// A scalar or small collection; floats, escapes and unicode included.
    fn value(rng: &mut Rng, depth: usize) -> Value {
        match rng.below(if depth > 2 { 6 } else { 9 }) {
            0 => json!("plain"),
            1 => json!("quote \" backslash \\ tab \t newline \n bell \u{7} é 😀"),
            2 => json!(rng.below(100_000)),
            3 => json!(-1_i64 - rng.below(10) as i64),
            4 => json!(rng.pick(&[1.5, 0.1, 1e300, 0.300_000_000_000_000_04, 123_456_789.0])),
            5 => json!(rng.pick(&[true, false])),
            6 => {
                let mut m = Map::new();
                for i in 0..rng.below(4) {
                    let key = rng.pick(&["k", "K", "a\"b", "a#b", "ä", "_", "Z\\z"]);
                    m.insert(format!("{key}{i}"), value(rng, depth + 1));
                }
                Value::Object(m)
            }
            7 => Value::Array((0..rng.below(3)).map(|_| value(rng, depth + 1)).collect()),
            _ => Value::Null,
        }
    }

    /// Floats only where `floats` says (so that both ways are exercised).
    fn no_floats(v: &mut Value) {
        match v {
            Value::Number(n) if n.is_f64() => *v = json!(7),
            Value::Array(items) => items.iter_mut().for_each(no_floats),
            Value::Object(m) => m.values_mut().for_each(no_floats),
            _ => {}
        }
    }

    fn metadata(rng: &mut Rng, annotations: bool) -> Value {
        let mut m = Map::new();
        if rng.chance(80) {
            m.insert("name".into(), json!(rng.pick(NAMES)));
        }
        if rng.chance(30) {
            m.insert("namespace".into(), json!(rng.pick(&["prod", "other", ""])));
        }
        if rng.chance(30) {
            m.insert("labels".into(), json!({"app": "x"}));
        }
        if annotations {
            match rng.below(6) {
                0 => {}
                1 => {
                    m.insert("annotations".into(), json!("not a map"));
                }
                2 => {
                    m.insert("annotations".into(), json!({}));
                }
                3 => {
                    m.insert("annotations".into(), json!({ANN: "old", "z": "1"}));
                }
                4 => {
                    m.insert(
                        "annotations".into(),
                        json!({OPT_OUT_ANNOTATION: rng.pick(&["true", "false"])}),
                    );
                }
                _ => {
                    m.insert("annotations".into(), json!({"other": "x"}));
                }
            }
        }
        Value::Object(m)
    }

    fn config(rng: &mut Rng) -> Value {
        let (api, kind) = rng.pick(&[
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("bitnami.com/v1alpha1", "SealedSecret"),
            ("external-secrets.io/v1beta1", "ExternalSecret"),
        ]);
        let mut o = Map::new();
        o.insert("apiVersion".into(), json!(api));
        o.insert("kind".into(), json!(kind));
        if rng.chance(90) {
            o.insert("metadata".into(), metadata(rng, false));
        }
        for key in ["data", "binaryData", "stringData", "type"] {
            if rng.chance(50) {
                o.insert(key.into(), value(rng, 0));
            }
        }
        if rng.chance(70) {
            let name = rng.pick(NAMES);
            o.insert(
                "spec".into(),
                json!({"template": {"metadata": {"name": name}}, "target": {"name": name},
                       "encryptedData": value(rng, 1)}),
            );
        }
        Value::Object(o)
    }

    fn pod_spec(rng: &mut Rng) -> Value {
        let refs = |rng: &mut Rng| {
            let name = rng.pick(NAMES);
            rng.pick(&[
                json!({"configMap": {"name": name}}),
                json!({"secret": {"secretName": name}}),
                json!({"projected": {"sources": [{"configMap": {"name": name}}, {"secret": {"name": name}}, 3]}}),
                json!({"configMapRef": {"name": name}}),
                json!({"secretRef": {"name": name}}),
                json!({"valueFrom": {"configMapKeyRef": {"name": name}}}),
                json!({"valueFrom": {"secretKeyRef": {"name": name}}}),
                json!("not an object"),
                json!({"configMap": {"name": 5}}),
            ])
        };
        let mut spec = Map::new();
        if rng.chance(70) {
            spec.insert(
                "volumes".into(),
                Value::Array((0..rng.below(3)).map(|_| refs(rng)).collect()),
            );
        }
        for key in ["containers", "initContainers", "ephemeralContainers"] {
            if rng.chance(50) {
                let containers = (0..rng.below(3))
                    .map(|_| {
                        json!({"name": "c", "image": "i:1.10",
                               "env": (0..rng.below(3)).map(|_| refs(rng)).collect::<Vec<_>>(),
                               "envFrom": (0..rng.below(3)).map(|_| refs(rng)).collect::<Vec<_>>(),
                               "x": value(rng, 1)})
                    })
                    .collect();
                spec.insert(key.into(), Value::Array(containers));
            }
        }
        if rng.chance(20) {
            spec.insert("volumes".into(), json!({"not": "a list"}));
        }
        Value::Object(spec)
    }

    fn workload(rng: &mut Rng) -> Value {
        let (api, kind, path): (_, _, &[&str]) = rng.pick(&[
            ("apps/v1", "Deployment", &["spec", "template"][..]),
            ("apps/v1", "StatefulSet", &["spec", "template"]),
            (
                "batch/v1",
                "CronJob",
                &["spec", "jobTemplate", "spec", "template"],
            ),
            ("argoproj.io/v1alpha1", "Rollout", &["spec", "template"]),
        ]);
        let template = match rng.below(10) {
            0 => json!("not a map"),
            1 => json!({}),
            2 => json!({"spec": pod_spec(rng)}),
            3 => json!({"metadata": "not a map", "spec": pod_spec(rng)}),
            _ => {
                json!({"metadata": metadata(rng, true), "spec": pod_spec(rng), "z": value(rng, 1)})
            }
        };
        let mut inner = template;
        for key in path[1..].iter().rev() {
            inner = json!({ *key: inner, "replicas": 2 });
        }
        let mut o = Map::new();
        o.insert("apiVersion".into(), json!(api));
        o.insert("kind".into(), json!(kind));
        if rng.chance(90) {
            o.insert("metadata".into(), metadata(rng, true));
        }
        o.insert("spec".into(), inner);
        Value::Object(o)
    }

    /// The two ways of setting checksums (reading the JSON bytes, and parsing and writing the object
    /// again) give the same bytes on generated apps: configs and workloads of every shape the checksum
    /// looks at (missing or odd `metadata` and `annotations`, an annotation already set, opt-outs,
    /// references of every kind, names with escapes), with and without floats.
    #[test]
    fn reading_the_bytes_gives_what_parsing_gives() {
        let mut annotated = 0;
        for seed in 0..400 {
            let mut rng = Rng(seed);
            let floats = rng.chance(30);
            let mut text = String::from("# generated\n");
            for _ in 0..=rng.below(8) {
                let mut doc = if rng.chance(50) {
                    config(&mut rng)
                } else {
                    workload(&mut rng)
                };
                if !floats {
                    no_floats(&mut doc);
                }
                text.push_str("---\n");
                text.push_str(&serde_json::to_string_pretty(&doc).unwrap());
                text.push('\n');
            }
            let d = docs(&text);
            assert_eq!(
                index_configs(&d, "prod", false),
                index_configs(&d, "prod", true),
                "seed {seed}:\n{text}"
            );
            let fast = {
                let mut d = docs(&text);
                inject(&mut d, ANN, "prod", false);
                d.into_documents()
            };
            let parsed = {
                let mut d = docs(&text);
                inject(&mut d, ANN, "prod", true);
                d.into_documents()
            };
            assert_eq!(fast, parsed, "seed {seed}:\n{text}");
            annotated += fast.iter().filter(|d| checksum(d).is_some()).count();
        }
        assert!(annotated > 100, "only {annotated} workloads annotated");
    }
}
