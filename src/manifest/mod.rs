//! Kubernetes documents: read as Kubernetes reads YAML (YAML 1.1 scalars, bounded), drop empty
//! documents, flatten `kind: List`, refuse anything that is not an object with `apiVersion` and
//! `kind`, and write the result deterministically. No filesystem access: text in, values out.

pub mod yaml;

use serde_json::{Map, Value};
pub use yaml::{Limits, YamlError};

/// One Kubernetes object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The object, as JSON.
    pub object: Map<String, Value>,
    /// Where it came from, for error messages: file name (or tool) and 0-based document index.
    pub source: Source,
}

/// The origin of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub index: usize,
    pub line: usize,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.file, self.index, self.line
        )
    }
}

/// A manifest stream that is not a list of Kubernetes objects.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {source}")]
    Yaml {
        file: String,
        #[source]
        source: YamlError,
    },
    #[error("{at}: {message}")]
    NotAnObject { at: Source, message: String },
}

impl Document {
    /// `kind`, or "".
    pub fn kind(&self) -> &str {
        self.str_at("kind")
    }

    /// `apiVersion`, or "".
    pub fn api_version(&self) -> &str {
        self.str_at("apiVersion")
    }

    /// The API group: the part of `apiVersion` before `/`, empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// `metadata.name`, or "".
    pub fn name(&self) -> &str {
        self.metadata()
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `metadata.namespace`, if set and not empty.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata()
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
    }

    /// `metadata`, if it is an object.
    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.object.get("metadata").and_then(Value::as_object)
    }

    fn str_at(&self, key: &str) -> &str {
        self.object.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// Reads a manifest stream (YAML or JSON) from `file` as Kubernetes would.
///
/// # Errors
///
/// YAML that does not parse or exceeds the limits, or a document that is not a Kubernetes object.
pub fn read_documents(
    text: &str,
    file: &str,
    limits: &Limits,
) -> Result<Vec<Document>, ManifestError> {
    let docs = yaml::parse_stream(text, limits).map_err(|source| ManifestError::Yaml {
        file: file.to_string(),
        source,
    })?;
    let mut out = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        let at = Source {
            file: file.to_string(),
            index,
            line: doc.line,
        };
        match doc.value {
            Value::Null => {}
            Value::Object(object) => push_object(object, at, &mut out)?,
            other => {
                return Err(ManifestError::NotAnObject {
                    at,
                    message: format!(
                    "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                    type_name(&other)
                ),
                })
            }
        }
    }
    Ok(out)
}

fn push_object(
    mut object: Map<String, Value>,
    at: Source,
    out: &mut Vec<Document>,
) -> Result<(), ManifestError> {
    for key in ["apiVersion", "kind"] {
        match object.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return Err(ManifestError::NotAnObject {
                    at,
                    message: format!("not a Kubernetes object: `{key}` is missing or not a string"),
                })
            }
        }
    }
    let is_list = object.get("kind").and_then(Value::as_str) == Some("List")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_list {
        out.push(Document { object, source: at });
        return Ok(());
    }
    // `kind: List` (what `kubectl get -o yaml` prints) is flattened into its items.
    let items = match object.remove("items") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(ManifestError::NotAnObject {
                at,
                message: "kind: List must have `items` as a list".into(),
            })
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(item) => push_object(item, at.clone(), out)?,
            other => {
                return Err(ManifestError::NotAnObject {
                    at,
                    message: format!(
                        "items[{i}] of kind: List is {}, not an object",
                        type_name(&other)
                    ),
                })
            }
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Writes documents as a stream of JSON documents separated by `---` lines: valid YAML that every
/// reader (YAML 1.1 or 1.2) reads the same way, split by Argo CD's `kube.SplitYAMLToString`.
pub fn write_documents(docs: &[Document], out: &mut Vec<u8>) {
    for doc in docs {
        out.extend_from_slice(b"---\n");
        // Serialising a Map<String, Value> cannot fail: keys are strings and numbers are finite.
        serde_json::to_writer(&mut *out, &doc.object).expect("JSON object serialises");
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Document>, ManifestError> {
        read_documents(text, "t.yaml", &Limits::default())
    }

    #[test]
    fn drops_empty_and_comment_only_documents() {
        let docs =
            read("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n---\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].kind(), "ConfigMap");
    }

    #[test]
    fn flattens_kind_list() {
        let docs = read("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A}\n- {apiVersion: v1, kind: B}\n").unwrap();
        let kinds: Vec<_> = docs.iter().map(Document::kind).collect();
        assert_eq!(kinds, ["A", "B"]);
    }

    #[test]
    fn names_file_document_and_line_of_a_non_object() {
        let err = read("apiVersion: v1\nkind: A\n---\n- 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.yaml: document 1 (line 3)"), "{err}");
        let err = read("metadata: {name: x}\n").unwrap_err().to_string();
        assert!(err.contains("`apiVersion` is missing"), "{err}");
    }

    #[test]
    fn writes_json_documents() {
        let docs = read("apiVersion: v1\nkind: ConfigMap\ndata: {a: '0644'}\n").unwrap();
        let mut out = Vec::new();
        write_documents(&docs, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "---\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"a\":\"0644\"}}\n"
        );
    }
}
