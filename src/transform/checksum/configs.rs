//! What config there is and what a workload names, for the checksums: the index of every
//! `ConfigMap` and Secret (and Secret generator) by (namespace, kind, name) with its canonical bytes,
//! and the `ConfigMaps` and Secrets a pod spec references; each read from the JSON bytes, or from the
//! parsed object for a document with floats.

use crate::manifest::json::{self, Doc, Json};
use crate::manifest::{metadata_str, DocRef, Manifests};
use crate::transform::canonical_json;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// Which kind of config object a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum ConfigKind {
    ConfigMap,
    Secret,
}

pub(super) type ConfigKey = (String, ConfigKind, String);

/// Canonical bytes of every `ConfigMap` and Secret (and Secret generators) by (namespace, kind, name).
pub(super) fn index_configs(
    docs: &Manifests,
    default_namespace: &str,
    parsed: bool,
) -> HashMap<ConfigKey, Box<[u8]>> {
    let configs: Vec<(usize, ConfigShape)> = docs
        .iter()
        .enumerate()
        .filter_map(|(i, doc)| config_kind(doc.group(), doc.kind()).map(|shape| (i, shape)))
        .collect();
    let entries = crate::parallel::map(&configs, |(i, shape)| {
        let doc = docs.get(*i);
        if parsed || doc.has_float() {
            parsed_config_entry(doc, shape, default_namespace)
        } else {
            config_entry(doc, shape, default_namespace)
        }
    });
    let mut real = HashMap::with_capacity(entries.len());
    let mut generated = HashMap::new();
    for (key, bytes, generator) in entries {
        let table = if generator { &mut generated } else { &mut real };
        table.insert(key, bytes.into_boxed_slice());
    }
    // A real Secret wins over a generator that claims the same name.
    for (key, bytes) in generated {
        real.entry(key).or_insert(bytes);
    }
    real
}

/// What makes a document config: its kind, where its name is (empty: `metadata.name`), the keys
/// that hold its content, and whether it generates a Secret rather than being one.
struct ConfigShape {
    kind: ConfigKind,
    name_path: &'static [&'static str],
    keys: &'static [&'static str],
    generator: bool,
}

fn config_kind(group: &str, kind: &str) -> Option<ConfigShape> {
    let (kind, name_path, keys, generator): (_, &[&str], &[&str], _) = match (group, kind) {
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
    Some(ConfigShape {
        kind,
        name_path,
        keys,
        generator,
    })
}

/// The index entry of one config object: key, canonical bytes (of `{kind, name, <content keys>}`
/// with keys sorted), whether it is a generator.
fn config_entry(
    doc: DocRef<'_>,
    shape: &ConfigShape,
    default_namespace: &str,
) -> (ConfigKey, Vec<u8>, bool) {
    let indexed = Doc::new(doc.json());
    let root = indexed.root();
    let name = (!shape.name_path.is_empty())
        .then(|| root.at(shape.name_path).and_then(|v| v.as_name()))
        .flatten()
        .or_else(|| root.at(&["metadata", "name"]).and_then(|v| v.as_name()))
        .map(Cow::into_owned)
        .unwrap_or_default();
    let kind = serde_json::to_vec(doc.kind()).unwrap_or_default();
    let name_json = serde_json::to_vec(&name).unwrap_or_default();
    let mut record: Vec<(&str, Option<Json<'_>>, &[u8])> =
        vec![("kind", None, &kind), ("name", None, &name_json)];
    record.extend(
        shape
            .keys
            .iter()
            .filter_map(|k| root.get(k).map(|v| (*k, Some(v), &b""[..]))),
    );
    record.sort_by_key(|(k, ..)| *k);
    let mut bytes = vec![b'{'];
    for (i, (key, value, text)) in record.into_iter().enumerate() {
        if i > 0 {
            bytes.push(b',');
        }
        let _ = serde_json::to_writer(&mut bytes, key);
        bytes.push(b':');
        match value {
            Some(value) => json::write_canonical(value, &mut bytes),
            None => bytes.extend_from_slice(text),
        }
    }
    bytes.push(b'}');
    let namespace = root
        .at(&["metadata", "namespace"])
        .and_then(|v| v.as_name())
        .map_or(default_namespace.to_string(), Cow::into_owned);
    ((namespace, shape.kind, name), bytes, shape.generator)
}

/// [`config_entry`] on the parsed object (for a document with floats).
fn parsed_config_entry(
    doc: DocRef<'_>,
    shape: &ConfigShape,
    default_namespace: &str,
) -> (ConfigKey, Vec<u8>, bool) {
    let object = doc.to_object();
    let name = str_at(&object, shape.name_path)
        .or(metadata_str(&object, "name"))
        .unwrap_or("")
        .to_string();
    let mut record = Map::new();
    record.insert("kind".into(), Value::String(doc.kind().to_string()));
    record.insert("name".into(), Value::String(name.clone()));
    record.extend(
        shape
            .keys
            .iter()
            .filter_map(|k| object.get(*k).map(|v| ((*k).to_string(), v.clone()))),
    );
    let mut bytes = Vec::new();
    canonical_json(&Value::Object(record), &mut bytes);
    let namespace = metadata_str(&object, "namespace")
        .unwrap_or(default_namespace)
        .to_string();
    ((namespace, shape.kind, name), bytes, shape.generator)
}

fn str_at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut cur = object;
    for key in parents {
        cur = cur.get(*key)?.as_object()?;
    }
    cur.get(*last)?.as_str().filter(|s| !s.is_empty())
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
pub(super) fn references(spec: Option<&Value>) -> BTreeSet<(ConfigKind, String)> {
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

/// The items of an array, if `v` is one.
fn json_list(v: Option<Json<'_>>) -> impl Iterator<Item = Json<'_>> {
    v.into_iter().flat_map(Json::items)
}

/// [`references`] read from the JSON bytes, each object's members in one pass.
pub(super) fn json_references(spec: Option<Json<'_>>) -> BTreeSet<(ConfigKind, String)> {
    let mut refs = BTreeSet::new();
    let mut add = |kind, at: Json<'_>, path: &[&str]| {
        if let Some(name) = at.at(path).and_then(|v| v.as_name()) {
            refs.insert((kind, name.into_owned()));
        }
    };
    for (key, value) in spec.into_iter().flat_map(Json::members) {
        if key.bytes() == b"\"volumes\"" {
            for volume in value.items() {
                add(ConfigKind::ConfigMap, volume, &["configMap", "name"]);
                add(ConfigKind::Secret, volume, &["secret", "secretName"]);
                for source in json_list(volume.at(&["projected", "sources"])) {
                    add(ConfigKind::ConfigMap, source, &["configMap", "name"]);
                    add(ConfigKind::Secret, source, &["secret", "name"]);
                }
            }
        } else if [
            &b"\"containers\""[..],
            b"\"initContainers\"",
            b"\"ephemeralContainers\"",
        ]
        .contains(&key.bytes())
        {
            for (key, value) in value.items().flat_map(Json::members) {
                if key.bytes() == b"\"env\"" {
                    for env in value.items() {
                        let Some(from) = env.get("valueFrom") else {
                            continue;
                        };
                        add(ConfigKind::ConfigMap, from, &["configMapKeyRef", "name"]);
                        add(ConfigKind::Secret, from, &["secretKeyRef", "name"]);
                    }
                } else if key.bytes() == b"\"envFrom\"" {
                    for from in value.items() {
                        add(ConfigKind::ConfigMap, from, &["configMapRef", "name"]);
                        add(ConfigKind::Secret, from, &["secretRef", "name"]);
                    }
                }
            }
        }
    }
    refs
}

fn list(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}
