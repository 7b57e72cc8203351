//! Secret values kept out of what people read (`render`, `diff`): every value under a Secret's
//! `data` and `stringData`, and a Bitnami `SealedSecret`'s `spec.encryptedData` and
//! `spec.template.data`, is replaced by a marker. Keys stay, so a reviewer sees which keys exist.
//! The `kubectl.kubernetes.io/last-applied-configuration` annotation of such an object (what
//! `kubectl get -o yaml` exports, often committed) holds the same values again: its JSON is parsed,
//! masked the same way and written back; an annotation that does not parse is hidden whole (Argo CD's
//! own diff masks it too: `util/diff.HideSecretData`). Takes and changes a JSON object; no I/O.

use serde_json::{Map, Value};

/// What a hidden value is replaced with.
pub const HIDDEN: &str = "(hidden)";

/// The paths of the secret-valued maps of an object of this API group and kind (empty for others).
pub fn secret_paths(group: &str, kind: &str) -> &'static [&'static [&'static str]] {
    match (group, kind) {
        ("", "Secret") => &[&["data"], &["stringData"]],
        ("bitnami.com", "SealedSecret") => {
            &[&["spec", "encryptedData"], &["spec", "template", "data"]]
        }
        _ => &[],
    }
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the empty core group).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// The secret-valued maps of `object`, mutable, with their dotted paths.
pub fn secret_maps_mut(object: &mut Map<String, Value>) -> Vec<(String, &mut Map<String, Value>)> {
    let text = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    maps_at(object, secret_paths(group_of(&api_version), &kind))
}

/// The maps of `object` at `paths`, mutable, with their dotted paths.
fn maps_at<'a>(
    object: &'a mut Map<String, Value>,
    paths: &[&[&str]],
) -> Vec<(String, &'a mut Map<String, Value>)> {
    let mut out = Vec::new();
    // Paths that share their first key (`spec`) are walked together, so each map is borrowed once.
    let mut by_first: Vec<(&str, Vec<&[&str]>)> = Vec::new();
    for path in paths {
        match by_first.iter_mut().find(|(first, _)| *first == path[0]) {
            Some((_, rests)) => rests.push(&path[1..]),
            None => by_first.push((path[0], vec![&path[1..]])),
        }
    }
    for (key, value) in object.iter_mut() {
        let Some((_, rests)) = by_first.iter().find(|(first, _)| *first == key.as_str()) else {
            continue;
        };
        collect(value, key, rests, &mut out);
    }
    out
}

fn collect<'a>(
    value: &'a mut Value,
    at: &str,
    rests: &[&[&str]],
    out: &mut Vec<(String, &'a mut Map<String, Value>)>,
) {
    let Value::Object(map) = value else {
        return;
    };
    if rests.iter().any(|r| r.is_empty()) {
        out.push((at.to_string(), map));
        return;
    }
    for (key, inner) in map.iter_mut() {
        let next: Vec<&[&str]> = rests
            .iter()
            .filter(|r| r[0] == key.as_str())
            .map(|r| &r[1..])
            .collect();
        if !next.is_empty() {
            collect(inner, &format!("{at}.{key}"), &next, out);
        }
    }
}

/// The annotation `kubectl apply` leaves on an object: the whole object as last applied, as JSON.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether objects of this group and kind carry secret values (and so a masked last-applied annotation).
pub fn is_secret_kind(group: &str, kind: &str) -> bool {
    !secret_paths(group, kind).is_empty()
}

/// The last-applied annotation of `object`, mutable, when the object is of a secret kind.
pub fn last_applied_mut(object: &mut Map<String, Value>) -> Option<&mut Value> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    if !is_secret_kind(group_of(api_version), kind) {
        return None;
    }
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED))
}

/// The last-applied annotation's text of an object of `group`/`kind` with its secret values masked:
/// its JSON parsed, every value under that kind's secret paths (and under those of the kind the
/// JSON itself names) hidden, and written back compactly; text that is not a JSON object is hidden whole.
pub fn mask_last_applied(text: &str, group: &str, kind: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut inner)) => {
            for (_, map) in maps_at(&mut inner, secret_paths(group, kind)) {
                map.values_mut()
                    .for_each(|v| *v = Value::String(HIDDEN.into()));
            }
            hide_values(&mut inner);
            // A Map<String, Value> serialises without error.
            serde_json::to_string(&inner).unwrap_or_else(|_| HIDDEN.into())
        }
        _ => HIDDEN.into(),
    }
}

/// Hides the values under the secret paths only (not the annotation); whether there were any.
fn hide_values(object: &mut Map<String, Value>) -> bool {
    let mut any = false;
    for (_, map) in secret_maps_mut(object) {
        for value in map.values_mut() {
            *value = Value::String(HIDDEN.into());
            any = true;
        }
    }
    any
}

/// Replaces every secret value of `object` with [`HIDDEN`], in its secret maps and in its
/// last-applied annotation; returns whether it had any.
pub fn hide_secret_values(object: &mut Map<String, Value>) -> bool {
    let mut any = hide_values(object);
    let text = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if let Some(annotation) = last_applied_mut(object) {
        let masked = annotation.as_str().map_or_else(
            || HIDDEN.into(),
            |t| mask_last_applied(t, group_of(&api_version), &kind),
        );
        *annotation = Value::String(masked);
        any = true;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn secret_and_sealed_secret_values_are_hidden_keys_kept() {
        let mut s = map(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "c2VjcmV0"}, "stringData": {"b": "hunter2"}}),
        );
        assert!(hide_secret_values(&mut s));
        assert_eq!(s["data"], json!({"a": HIDDEN}));
        assert_eq!(s["stringData"], json!({"b": HIDDEN}));
        let mut sealed = map(
            json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "spec": {"encryptedData": {"x": "AgB..."}, "template": {"metadata": {"name": "t"}, "data": {"y": "{{ .x }}"}}}}),
        );
        assert!(hide_secret_values(&mut sealed));
        assert_eq!(sealed["spec"]["encryptedData"], json!({"x": HIDDEN}));
        assert_eq!(sealed["spec"]["template"]["data"], json!({"y": HIDDEN}));
        assert_eq!(sealed["spec"]["template"]["metadata"], json!({"name": "t"}));
        let mut cm = map(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
            "metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"a\":\"b\"}}"}}}),
        );
        assert!(!hide_secret_values(&mut cm));
        assert_eq!(cm["data"], json!({"a": "b"}));
        assert_eq!(
            cm["metadata"]["annotations"][LAST_APPLIED],
            "{\"data\":{\"a\":\"b\"}}"
        );
    }

    #[test]
    fn last_applied_annotation_is_masked_inside_or_hidden_whole() {
        let applied = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"c2VjcmV0"},"stringData":{"b":"hunter2"}}"#;
        let mut s = map(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED: applied, "other": "kept"}}}));
        assert!(hide_secret_values(&mut s));
        let masked: Value =
            serde_json::from_str(s["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap())
                .unwrap();
        assert_eq!(masked["data"], json!({"a": HIDDEN}));
        assert_eq!(masked["stringData"], json!({"b": HIDDEN}));
        assert_eq!(masked["metadata"], json!({"name": "s"}));
        assert_eq!(s["metadata"]["annotations"]["other"], "kept");
        // Without a kind of its own, the annotation is masked as the object that carries it.
        let bare = mask_last_applied(r#"{"data":{"a":"c2VjcmV0"}}"#, "", "Secret");
        assert_eq!(bare, format!(r#"{{"data":{{"a":"{HIDDEN}"}}}}"#));
        for broken in [
            json!("{\"data\": {\"a\": \"hunter2\""),
            json!(["hunter2"]),
            json!(7),
        ] {
            let mut s = map(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"annotations": {LAST_APPLIED: broken}}}));
            hide_secret_values(&mut s);
            assert_eq!(s["metadata"]["annotations"][LAST_APPLIED], HIDDEN);
        }
    }
}
