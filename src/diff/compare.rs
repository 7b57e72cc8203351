//! The comparison of two renders (pure): objects paired by identity, per-object unified YAML diffs
//! with Secret values masked, the workloads whose pod template changes (they restart) and each
//! cause by name, and every hook the sync will run. Generated hooks are paired by what they are
//! (component and migration), not by name, since names carry content hashes; Kustomize generator
//! output (`name-<hash>`) is paired by generator name, so a new hash suffix is one object changed.

use super::hooks::{hooks, HookRun};
use super::object::{objects, pair_generated, text, Obj, Options};
use super::restart::{restarts, Restart};
use crate::manifest::{emit, redact, Document};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

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

/// The result of [`compare`].
#[derive(Debug, Clone, Default)]
pub struct Compared {
    pub objects: Vec<ObjectChange>,
    pub unchanged: usize,
    pub restarts: Vec<Restart>,
    pub hooks: Vec<HookRun>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::object::generator_name;
    use crate::diff::restart::{changed_paths, image_change};

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
