//! Secret values kept out of what people read (`render`, `diff`): every value under a Secret's
//! `data` and `stringData`, and a Bitnami `SealedSecret`'s `spec.encryptedData` and
//! `spec.template.data`, is replaced by a marker. Keys stay, so a reviewer sees which keys exist.
//! Takes and changes a JSON object; no I/O.

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
    let paths = secret_paths(group_of(&api_version), &kind);
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

/// Replaces every secret value of `object` with [`HIDDEN`]; returns whether it had any.
pub fn hide_secret_values(object: &mut Map<String, Value>) -> bool {
    let mut any = false;
    for (_, map) in secret_maps_mut(object) {
        for value in map.values_mut() {
            *value = Value::String(HIDDEN.into());
            any = true;
        }
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
        let mut cm = map(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}));
        assert!(!hide_secret_values(&mut cm));
        assert_eq!(cm["data"], json!({"a": "b"}));
    }
}
