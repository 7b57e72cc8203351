//! Kubernetes documents: read as Kubernetes reads YAML (YAML 1.1 scalars, bounded), drop empty
//! documents, flatten `kind: List`, refuse anything that is not an object with `apiVersion` and
//! `kind`, and write the result deterministically. No filesystem access: text in, values out.
//!
//! `generate` holds an app's documents as [`Manifests`]: the compact JSON it prints, one allocation per
//! document, read piece by piece (each piece between `---` lines straight from YAML events into
//! JSON, without a tree) and the input texts released as they are read, so that memory stays close
//! to the size of the output. [`Document`] is one object with its names, for those who want the
//! documents one by one (`render`, `diff`, the hooks).

pub mod emit;
pub mod json;
mod read;
pub mod redact;
pub mod yaml;

#[cfg(test)]
pub use read::{read_all, read_documents};

#[cfg(test)]
mod oracle_corpus;
#[cfg(test)]
mod oracle_tests;

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
pub use yaml::{Limits, YamlError};

/// One Kubernetes object and where it came from. The object is kept as compact JSON (about the size
/// of the input, where a parsed tree is ten to twenty times larger); transforms parse the few they
/// change with [`Document::to_object`].
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

/// The API group of an `apiVersion`: the part before `/`, empty for the core group.
fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// `metadata.<key>` of an object when it is a string that is not empty (a document's name and
/// namespace).
pub fn metadata_str<'o>(object: &'o Map<String, Value>, key: &str) -> Option<&'o str> {
    object
        .get("metadata")
        .and_then(Value::as_object)
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Document {
    /// A document holding `object`.
    pub fn from_object(object: &Map<String, Value>, source: Source) -> Self {
        // Serialising a Map<String, Value> cannot fail: keys are strings, numbers are finite.
        let json = serde_json::to_string(object).unwrap_or_default();
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Document {
            json,
            api_version: text("apiVersion"),
            kind: text("kind"),
            name: metadata_str(object, "name").unwrap_or("").to_string(),
            namespace: metadata_str(object, "namespace").map(String::from),
            source,
        }
    }

    /// The object, parsed.
    pub fn to_object(&self) -> Map<String, Value> {
        // The text was written by `from_object`, so it parses.
        serde_json::from_str(&self.json).unwrap_or_default()
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
        api_group(&self.api_version)
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

/// The documents of an app as `generate` prints them: each one's compact JSON in one allocation of
/// its own, its `apiVersion` and `kind` (kept once for all documents of that type) and where it came
/// from. About the size of the output: no tree, no names, no copy of the input.
#[derive(Debug, Default)]
pub struct Manifests {
    docs: Vec<Stored>,
    /// `(apiVersion, kind)` of the documents, each pair once.
    types: Vec<(String, String)>,
    /// Where each pair of `types` is, by kind.
    type_ids: HashMap<String, Vec<u32>>,
    /// The names of the streams the documents came from (and of the generated hooks).
    files: Vec<String>,
}

/// One document of [`Manifests`].
#[derive(Debug)]
struct Stored {
    json: Box<[u8]>,
    /// Whether the JSON holds a float ([`json::has_float`]).
    floats: bool,
    ty: u32,
    file: u32,
    index: u32,
    line: u32,
}

/// A document of [`Manifests`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct DocRef<'a> {
    api_version: &'a str,
    kind: &'a str,
    json: &'a [u8],
    floats: bool,
    file: &'a str,
    index: usize,
    line: usize,
}

impl<'a> DocRef<'a> {
    /// `kind`.
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// The API group: the part of `apiVersion` before `/`, empty for the core group.
    pub fn group(&self) -> &'a str {
        api_group(self.api_version)
    }

    /// The object as compact JSON, as `generate` prints it.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// Whether the JSON holds a float ([`json::has_float`]), which may not read back exactly.
    pub fn has_float(&self) -> bool {
        self.floats
    }

    /// The object, parsed.
    pub fn to_object(self) -> Map<String, Value> {
        // The bytes were written by `serde_json` from a Map, so they parse.
        serde_json::from_slice(self.json).unwrap_or_default()
    }

    /// Where it came from.
    pub fn source(&self) -> Source {
        Source {
            file: self.file.to_string(),
            index: self.index,
            line: self.line,
        }
    }

    /// The same document as a [`Document`] (its names read from the JSON bytes, not parsed).
    pub fn to_document(self) -> Document {
        let indexed = json::Doc::new(self.json);
        let meta = |key: &str| {
            indexed
                .root()
                .at(&["metadata", key])
                .and_then(|v| v.as_name())
                .map(Cow::into_owned)
        };
        Document {
            // `serde_json` writes UTF-8; the lossy conversion never replaces anything here.
            json: String::from_utf8_lossy(self.json).into_owned(),
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: meta("name").unwrap_or_default(),
            namespace: meta("namespace"),
            source: self.source(),
        }
    }
}

impl Manifests {
    /// How many documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    fn doc_ref<'a>(
        types: &'a [(String, String)],
        files: &'a [String],
        stored: &'a Stored,
    ) -> DocRef<'a> {
        let (api_version, kind) = &types[stored.ty as usize];
        DocRef {
            api_version,
            kind,
            json: &stored.json,
            floats: stored.floats,
            file: files.get(stored.file as usize).map_or("", String::as_str),
            index: stored.index as usize,
            line: stored.line as usize,
        }
    }

    /// Document `i` (`i < len()`).
    pub fn get(&self, i: usize) -> DocRef<'_> {
        Manifests::doc_ref(&self.types, &self.files, &self.docs[i])
    }

    /// The documents in order.
    pub fn iter(&self) -> impl Iterator<Item = DocRef<'_>> {
        self.docs
            .iter()
            .map(|d| Manifests::doc_ref(&self.types, &self.files, d))
    }

    /// `f` of every document, in order, computed on all cores.
    pub fn map<R: Send>(&self, f: impl Fn(DocRef<'_>) -> R + Sync) -> Vec<R> {
        crate::parallel::map(&self.docs, |d| {
            f(Manifests::doc_ref(&self.types, &self.files, d))
        })
    }

    /// Replaces the JSON of each document for which `f` gives new JSON; `f` runs on all cores, a
    /// batch of documents at a time. `f` keeps `apiVersion` and `kind` as they are (the document stays
    /// of its type) and writes compact JSON as `serde_json` does. The new JSON is copied into an
    /// allocation of this thread after the old one is released, so that it takes the old one's
    /// place in this thread's heap instead of growing a worker's.
    pub fn update(&mut self, f: impl Fn(DocRef<'_>) -> Option<Vec<u8>> + Sync) {
        const BATCH: usize = 4096;
        let Manifests {
            docs, types, files, ..
        } = self;
        let (types, files) = (&*types, &*files);
        for batch in docs.chunks_mut(BATCH) {
            let new = crate::parallel::map(batch, |d| f(Manifests::doc_ref(types, files, d)));
            for (d, json) in batch.iter_mut().zip(new) {
                if let Some(json) = json {
                    d.floats = json::has_float(&json);
                    d.json = Box::default();
                    d.json = Box::from(&json[..]);
                }
            }
        }
    }

    /// Appends a document.
    pub fn push(&mut self, doc: &Document) {
        let known = self.files.iter().position(|f| *f == doc.source.file);
        let file = known.unwrap_or_else(|| {
            self.files.push(doc.source.file.clone());
            self.files.len() - 1
        });
        let ty = self.type_id(&doc.api_version, &doc.kind);
        self.docs.push(Stored {
            json: doc.json.as_bytes().into(),
            floats: json::has_float(doc.json.as_bytes()),
            ty,
            file: file as u32,
            index: doc.source.index as u32,
            line: doc.source.line as u32,
        });
    }

    /// Writes the documents as a stream of JSON documents separated by `---` lines: valid YAML that
    /// every reader (YAML 1.1 or 1.2) reads the same way, split by Argo CD's `kube.SplitYAMLToString`.
    ///
    /// # Errors
    ///
    /// What `out` gives.
    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for doc in &self.docs {
            out.write_all(b"---\n")?;
            out.write_all(&doc.json)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The documents one by one.
    pub fn into_documents(self) -> Vec<Document> {
        self.map(|d: DocRef<'_>| d.to_document())
    }

    /// The id of `(api_version, kind)` in `types`, added if new.
    fn type_id(&mut self, api_version: &str, kind: &str) -> u32 {
        if let Some(ids) = self.type_ids.get(kind) {
            if let Some(&id) = ids
                .iter()
                .find(|&&id| self.types[id as usize].0 == api_version)
            {
                return id;
            }
        }
        let id = self.types.len() as u32;
        self.types.push((api_version.to_string(), kind.to_string()));
        self.type_ids.entry(kind.to_string()).or_default().push(id);
        id
    }
}

/// Writes documents as a stream of JSON documents separated by `---` lines: valid YAML that every
/// reader (YAML 1.1 or 1.2) reads the same way, split by Argo CD's `kube.SplitYAMLToString`.
#[cfg(test)]
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
