//! Kubernetes documents: read as Kubernetes reads YAML (YAML 1.1 scalars, bounded), drop empty
//! documents, flatten `kind: List`, refuse anything that is not an object with `apiVersion` and
//! `kind`, and write the result deterministically. No filesystem access: text in, values out.

pub mod emit;
pub mod redact;
pub mod yaml;

#[cfg(test)]
mod oracle_tests;

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::atomic::AtomicUsize;
pub use yaml::{Limits, YamlError};

/// One Kubernetes object and where it came from. The object is kept as compact JSON (about the size
/// of the input, where a parsed tree is ten to twenty times larger); transforms parse the few they
/// change with [`Document::to_object`] and store them back with [`Document::set_object`].
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    json: String,
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
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

impl ManifestError {
    /// The same error with its document index moved up by `by` (for a chunk of a larger stream).
    fn shift_index(self, by: usize) -> Self {
        match self {
            ManifestError::NotAnObject { mut at, message } => {
                at.index += by;
                ManifestError::NotAnObject { at, message }
            }
            other @ ManifestError::Yaml { .. } => other,
        }
    }
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
    /// A document holding `object`.
    pub fn from_object(object: &Map<String, Value>, source: Source) -> Self {
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let metadata = object.get("metadata").and_then(Value::as_object);
        let meta = |key: &str| {
            metadata
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        Document {
            // Serialising a Map<String, Value> cannot fail: keys are strings, numbers are finite.
            json: serde_json::to_string(object).unwrap_or_default(),
            api_version: text("apiVersion"),
            kind: text("kind"),
            name: meta("name").unwrap_or_default(),
            namespace: meta("namespace"),
            source,
        }
    }

    /// The object, parsed.
    pub fn to_object(&self) -> Map<String, Value> {
        // The text was written by `from_object`, so it parses.
        serde_json::from_str(&self.json).unwrap_or_default()
    }

    /// Replaces the object.
    pub fn set_object(&mut self, object: &Map<String, Value>) {
        let source = std::mem::replace(
            &mut self.source,
            Source {
                file: String::new(),
                index: 0,
                line: 0,
            },
        );
        *self = Document::from_object(object, source);
    }

    /// The object as compact JSON, as `generate` prints it.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The API group: the part of `apiVersion` before `/`, empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// `metadata.name`, or "".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.namespace`, if set and not empty.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

/// Reads a manifest stream (YAML or JSON) from `file` as Kubernetes would.
///
/// # Errors
///
/// YAML that does not parse or exceeds the limits, or a document that is not a Kubernetes object.
#[cfg(test)]
pub fn read_documents(
    text: &str,
    file: &str,
    limits: &Limits,
) -> Result<Vec<Document>, ManifestError> {
    read_all(&[(file, text)], limits)
}

/// One piece of a stream between `---` separator lines.
struct Chunk<'a> {
    file: &'a str,
    /// The piece, ending with a line break as Kubernetes' `LineReader` gives every line one.
    text: Cow<'a, str>,
    /// 1-based line of the chunk's first line in its file.
    line: usize,
}

/// Reads several manifest streams, `(name, text)`, into one list in their order, as Kubernetes'
/// `YAMLOrJSONDecoder` reads each (what Argo CD's `kube.SplitYAML` and its directory reader use): a
/// stream whose first non-blank character is `{` is a stream of JSON values; any other is cut at `---`
/// separator lines, as Kubernetes' own `YAMLReader` does, and the pieces are parsed on all cores; the
/// result (and the first error) is the same as reading them one after another. Aliases of all
/// streams share one byte budget ([`Limits::alias_bytes_for`] the total input).
///
/// # Errors
///
/// As [`read_documents`]: the first failing document in stream order.
pub fn read_all(streams: &[(&str, &str)], limits: &Limits) -> Result<Vec<Document>, ManifestError> {
    let total: usize = streams.iter().map(|(_, t)| t.len()).sum();
    if total > limits.max_bytes {
        let (file, _) = streams.first().copied().unwrap_or(("input", ""));
        return Err(ManifestError::Yaml {
            file: file.to_string(),
            source: YamlError::TooLarge {
                size: total,
                limit: limits.max_bytes,
            },
        });
    }
    let limits = Limits {
        max_alias_bytes: limits.max_alias_bytes.min(Limits::alias_bytes_for(total)),
        ..*limits
    };
    let budget = AtomicUsize::new(limits.max_alias_bytes);
    let mut out = Vec::new();
    let mut yaml_streams = Vec::new();
    // Streams are read in order; runs of YAML streams are parsed together, in parallel.
    for (i, (file, text)) in streams.iter().enumerate() {
        if is_json_stream(text) {
            read_yaml_streams(&yaml_streams, &limits, &budget, &mut out)?;
            yaml_streams.clear();
            read_json_stream(file, text, &mut out)?;
        } else {
            yaml_streams.push(streams[i]);
        }
    }
    read_yaml_streams(&yaml_streams, &limits, &budget, &mut out)?;
    Ok(out)
}

/// Whether Kubernetes reads the stream as JSON: its first non-blank character is `{`
/// (`GuessJSONStream` of k8s.io/apimachinery).
fn is_json_stream(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn read_yaml_streams(
    streams: &[(&str, &str)],
    limits: &Limits,
    budget: &AtomicUsize,
    out: &mut Vec<Document>,
) -> Result<(), ManifestError> {
    let mut chunks = Vec::new();
    for (file, text) in streams {
        chunks.extend(split_stream(file, text)?);
    }
    let parsed = crate::parallel::map(&chunks, |c| parse_chunk(c, limits, budget));
    let mut index_in_file = 0;
    let mut current_file = None;
    for (chunk, parsed) in chunks.iter().zip(parsed) {
        if current_file != Some(chunk.file) {
            current_file = Some(chunk.file);
            index_in_file = 0;
        }
        let Parsed {
            yaml_docs,
            mut docs,
        } = parsed.map_err(|e| e.shift_index(index_in_file))?;
        for doc in &mut docs {
            doc.source.index += index_in_file;
        }
        index_in_file += yaml_docs;
        out.append(&mut docs);
    }
    Ok(())
}

/// A JSON stream: the values one after another, as `encoding/json`'s `Decoder` reads them.
fn read_json_stream(file: &str, text: &str, out: &mut Vec<Document>) -> Result<(), ManifestError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut index = 0;
    loop {
        let start = values.byte_offset();
        let Some(value) = values.next() else { break };
        let value = value.map_err(|e| ManifestError::Yaml {
            file: file.to_string(),
            source: YamlError::Syntax {
                line: e.line(),
                message: format!(
                    "JSON (the stream starts with `{{`, so Kubernetes reads it as JSON): {e}"
                ),
            },
        })?;
        let skipped = text[start..].len() - text[start..].trim_start().len();
        let at = Source {
            file: file.to_string(),
            index,
            line: line_of(start + skipped),
        };
        match value {
            Value::Null => {}
            Value::Object(object) => push_object(object, at, out)?,
            other => {
                return Err(ManifestError::NotAnObject {
                    at,
                    message: format!(
                        "expected a Kubernetes object (a JSON object with apiVersion and kind), found {}",
                        type_name(&other)
                    ),
                })
            }
        }
        index += 1;
    }
    Ok(())
}

/// What one chunk gave: how many YAML documents it held, and its Kubernetes objects.
struct Parsed {
    yaml_docs: usize,
    docs: Vec<Document>,
}

/// Parses one chunk into documents (indices local to the chunk), on a worker thread.
fn parse_chunk(
    chunk: &Chunk<'_>,
    limits: &Limits,
    budget: &AtomicUsize,
) -> Result<Parsed, ManifestError> {
    let yaml_error = |source: YamlError| ManifestError::Yaml {
        file: chunk.file.to_string(),
        source: source.offset_lines(chunk.line - 1),
    };
    let yaml_docs =
        yaml::parse_stream_with_budget(&chunk.text, limits, budget).map_err(yaml_error)?;
    // Kubernetes hands each piece to go-yaml v2's Unmarshal, which reads its first document only: a
    // second one (after a `...` line) would be dropped without a word. Refused instead.
    if let Some(second) = yaml_docs.get(1) {
        return Err(yaml_error(YamlError::Unsupported {
            line: second.line,
            message: "a second YAML document without a `---` line before it; Kubernetes splits documents only at lines that are `---` alone, and would silently keep only the first: put `---` on a line of its own between them".into(),
        }));
    }
    let mut docs = Vec::new();
    // A piece with only comments still counts as a document for the indices in error messages.
    let count = yaml_docs.len().max(1);
    for (index, doc) in yaml_docs.into_iter().enumerate() {
        let at = Source {
            file: chunk.file.to_string(),
            index,
            line: chunk.line + doc.line - 1,
        };
        match doc.value {
            Value::Null => {}
            Value::Object(object) => push_object(object, at, &mut docs)?,
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
    Ok(Parsed {
        yaml_docs: count,
        docs,
    })
}

/// Cuts a stream at lines that start with `---` as Kubernetes' `YAMLReader` does: a `---` followed by
/// nothing but spaces or a comment ends a piece; anything else after it (`--- !!map`, `--- |`,
/// `----`) is refused, as Kubernetes (since 1.22) and so Argo CD refuse it. The last piece gets a
/// final line break if the stream has none, as Kubernetes' `LineReader` gives every line one (a
/// block scalar on the last line of a file keeps its `\n` in Kubernetes, too).
fn split_stream<'a>(file: &'a str, text: &'a str) -> Result<Vec<Chunk<'a>>, ManifestError> {
    let mut chunks = Vec::new();
    let (mut start, mut start_line, mut line_no, mut pos) = (0, 1, 1, 0);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = body.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(ManifestError::Yaml {
                    file: file.to_string(),
                    source: YamlError::Syntax {
                        line: line_no,
                        message: format!("invalid document separator `---{}`: Kubernetes' YAMLReader (and so Argo CD) allows only spaces or a comment after `---` at the start of a line; move {:?} to the next line", truncate(&body[3..], 40), truncate(rest, 40)),
                    },
                });
            }
            if pos > start {
                chunks.push(Chunk {
                    file,
                    text: Cow::Borrowed(&text[start..pos]),
                    line: start_line,
                });
            }
            start = pos + line.len();
            start_line = line_no + 1;
        }
        pos += line.len();
        line_no += 1;
    }
    if start < text.len() || chunks.is_empty() {
        let rest = &text[start..];
        let text = if rest.is_empty() || rest.ends_with('\n') {
            Cow::Borrowed(rest)
        } else {
            Cow::Owned(format!("{rest}\n"))
        };
        chunks.push(Chunk {
            file,
            text,
            line: start_line,
        });
    }
    Ok(chunks)
}

/// At most `max` characters of `s`, for error messages.
fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
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
        out.push(Document::from_object(&object, at));
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
        out.extend_from_slice(doc.json.as_bytes());
        out.push(b'\n');
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

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
        assert!(err.contains("t.yaml: document 1 (line 4)"), "{err}");
        let err = read("metadata: {name: x}\n").unwrap_err().to_string();
        assert!(err.contains("`apiVersion` is missing"), "{err}");
    }

    #[test]
    fn separator_lines_cut_the_stream_like_kubernetes_yamlreader() {
        let chunks =
            split_stream("f", "a: 1\n--- # first\nb: 2\n---\n---\nc: |\n  ---x\n").unwrap();
        let texts: Vec<_> = chunks.iter().map(|c| (&*c.text, c.line)).collect();
        assert_eq!(texts, [("a: 1\n", 1), ("b: 2\n", 3), ("c: |\n  ---x\n", 6)]);
    }

    #[test]
    fn parallel_reading_gives_the_same_documents_and_indices() {
        let mut text = String::new();
        for i in 0..3000 {
            let _ = write!(text, "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{k: '{i}'}}\n---\n# comment only\n---\n");
        }
        assert!(
            text.len() > 256 << 10,
            "large enough to be read in parallel"
        );
        let docs = read(&text).unwrap();
        assert_eq!(docs.len(), 3000);
        for (i, d) in docs.iter().enumerate() {
            assert_eq!(d.name(), format!("c{i}"));
            assert_eq!(d.source.index, 2 * i);
            assert_eq!(d.source.line, 7 * i + 1);
        }
        let broken = text.replacen("name: c2999}", "name: c2999", 1);
        let err = read(&broken).unwrap_err().to_string();
        assert!(
            err.contains(&format!("line {}", 7 * 2999 + 3))
                || err.contains(&format!("line {}", 7 * 2999 + 4)),
            "{err}"
        );
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

    #[test]
    fn sanitize_name_replaces_argocd_namespace_separator() {
        assert_eq!(sanitize_name("team-a_Shop"), "team-a-shop");
        assert_eq!(sanitize_name("_x_"), "x");
    }
}
