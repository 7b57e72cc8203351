//! Pure transforms over rendered documents: config checksums and the PreSync hooks (guard, backup,
//! migrations). No filesystem, environment or clock in here: everything arrives in [`AppContext`].

pub mod checksum;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Who the app is, from Argo CD's environment (ARGOCD.md §1), already read by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppContext {
    /// `ARGOCD_APP_NAME`, sanitised into a valid resource name.
    pub app_name: String,
    /// `ARGOCD_APP_NAMESPACE`: the destination namespace (may be empty).
    pub namespace: String,
    /// `ARGOCD_APP_REVISION_SHORT`.
    pub revision_short: String,
}

/// A transform that cannot be applied to these documents with this policy.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{0}")]
    Invalid(String),
}

/// Turns `ARGOCD_APP_NAME` into a DNS-1123 name: Argo CD writes `<app namespace>_<name>` for apps
/// outside its own namespace, and `_` is not allowed in resource names.
pub fn sanitize_name(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    while out.starts_with(['-', '.']) {
        out.remove(0);
    }
    while out.ends_with(['-', '.']) {
        out.pop();
    }
    out
}

/// Writes `value` as JSON with object keys sorted by their UTF-8 bytes and no insignificant white
/// space: the same value always gives the same bytes, whatever order its keys came in.
pub fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(&Value::String(key.clone()), out);
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        // Scalars serialise without error.
        scalar => {
            out.extend_from_slice(serde_json::to_string(scalar).unwrap_or_default().as_bytes())
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitize_name_replaces_argocd_namespace_separator() {
        assert_eq!(sanitize_name("team-a_Shop"), "team-a-shop");
        assert_eq!(sanitize_name("_x_"), "x");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = Vec::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [true, null], "c": "x"}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":"x","d":[true,null]},"b":1}"#
        );
    }
}
