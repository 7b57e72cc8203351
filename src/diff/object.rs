//! One object of a render, paired by identity: the kinds left out, the identity of generated hooks
//! (component and migration) and of Kustomize generator output (`name-<hash>`), and the labels and
//! annotations that name hooks. Shared by the comparison, the restarts and the hooks.

use crate::manifest::Document;
use crate::transform::checksum;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Label every generated hook carries, and the ones that say which hook it is.
pub(super) const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub(super) const COMPONENT: &str = "app.kubernetes.io/component";
pub(super) const MIGRATION: &str = "sluice.io/migration";
/// Argo CD's hook annotations (docs/user-guide/resource_hooks.md), and Helm's, which Argo CD maps
/// (docs/user-guide/helm.md, "Helm Hooks").
pub(super) const HOOK: &str = "argocd.argoproj.io/hook";
pub(super) const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
pub(super) const HELM_HOOK: &str = "helm.sh/hook";
pub(super) const HELM_WEIGHT: &str = "helm.sh/hook-weight";
/// The phases of a sync, in the order they run.
pub(super) const PHASES: &[&str] = &["PreSync", "Sync", "PostSync", "SyncFail", "PostDelete"];

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

/// One object of a render, with the identity it is paired by.
pub(super) struct Obj {
    pub(super) key: String,
    pub(super) display: String,
    pub(super) api_version: String,
    pub(super) group: String,
    pub(super) kind: String,
    pub(super) namespace: String,
    pub(super) explicit_namespace: Option<String>,
    pub(super) name: String,
    pub(super) value: Map<String, Value>,
    pub(super) template: Option<&'static [&'static str]>,
}

pub(super) fn text<'a>(v: &'a Map<String, Value>, path: &[&str]) -> &'a str {
    let mut cur = Some(v);
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    for key in parents {
        cur = cur.and_then(|m| m.get(*key)).and_then(Value::as_object);
    }
    cur.and_then(|m| m.get(*last))
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub(super) fn ignored(doc: &Document, ignore: &[String]) -> bool {
    ignore.iter().any(|k| match k.rsplit_once('/') {
        Some((group, kind)) => doc.group() == group && doc.kind() == kind,
        None => doc.kind() == k,
    })
}

pub(super) fn objects(docs: &[Document], default_namespace: &str, options: &Options) -> Vec<Obj> {
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
pub(super) fn generator_name(name: &str) -> Option<&str> {
    let (stem, hash) = name.rsplit_once('-')?;
    let alphabet = |c: char| "2456789bcdfghkmt".contains(c);
    (hash.len() == 10 && hash.chars().all(alphabet) && !stem.is_empty()).then_some(stem)
}

/// Pairs Kustomize generator output renamed by a new hash suffix: an object only at base and one
/// only at head, of the same kind and namespace and generator name, each the only one of its kind
/// there, get the same key.
pub(super) fn pair_generated(base: &mut [Obj], head: &[Obj]) {
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
