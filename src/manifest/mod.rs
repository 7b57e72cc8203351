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
pub mod redact;
pub mod yaml;

#[cfg(test)]
mod oracle_corpus;
#[cfg(test)]
mod oracle_tests;

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::AtomicUsize;
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
    /// Reads several manifest streams, `(name, text)`, into one list in their order, as Kubernetes'
    /// `YAMLOrJSONDecoder` reads each (what Argo CD's `kube.SplitYAML` and its directory reader use): a
    /// stream whose first non-blank character is `{` is a stream of JSON values; any other is cut at
    /// `---` separator lines, as Kubernetes' own `YAMLReader` does, and the pieces are parsed on all
    /// cores, a batch at a time; each text is released once its pieces are read. The result (and the
    /// first error) is the same as reading them one after another. Aliases of all streams share one
    /// byte budget ([`Limits::alias_bytes_for`] the total input).
    ///
    /// # Errors
    ///
    /// YAML that does not parse or exceeds the limits, or a document that is not a Kubernetes
    /// object: the first failing document in stream order.
    pub fn read(streams: Vec<(String, String)>, limits: &Limits) -> Result<Self, ManifestError> {
        let total: usize = streams.iter().map(|(_, t)| t.len()).sum();
        if total > limits.max_bytes {
            let file = streams.first().map_or("input", |(f, _)| f.as_str());
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
        let (names, texts): (Vec<String>, Vec<String>) = streams.into_iter().unzip();
        let mut texts: Vec<Option<String>> = texts.into_iter().map(Some).collect();
        let mut reader = Reader {
            store: Manifests::default(),
            limits,
            budget: AtomicUsize::new(limits.max_alias_bytes),
        };
        // Streams are read in order; runs of YAML streams are parsed together, in parallel.
        let mut run = Vec::new();
        for i in 0..names.len() {
            if is_json_stream(texts[i].as_deref().unwrap_or("")) {
                reader.yaml_streams(&run, &names, &mut texts)?;
                run.clear();
                let text = texts[i].take().unwrap_or_default();
                for doc in read_json_stream(&names[i], &text)? {
                    reader.store.push_parsed(i, &doc);
                }
            } else {
                run.push(i);
            }
        }
        reader.yaml_streams(&run, &names, &mut texts)?;
        let mut store = reader.store;
        store.files = names;
        Ok(store)
    }

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

    /// Appends a document a reader gave, from stream `file`. Its JSON is copied into an allocation of
    /// this (the reading) thread: the memory of the texts already read and released is in this
    /// thread's heap, and is used again for the documents instead of adding to it.
    fn push_parsed(&mut self, file: usize, doc: &Parsed) {
        let ty = self.type_id(&doc.api_version, &doc.kind);
        self.docs.push(Stored {
            json: Box::from(&doc.json[..]),
            floats: doc.floats,
            ty,
            file: file as u32,
            index: doc.index as u32,
            line: doc.line as u32,
        });
    }
}

/// Reads streams into [`Manifests`]; the alias budget is shared by all.
struct Reader {
    store: Manifests,
    limits: Limits,
    budget: AtomicUsize,
}

/// Pieces are parsed in batches of at least this many bytes and [`BATCH_PIECES`] pieces (the last one
/// may be smaller): enough to keep every core busy, small enough that the texts of a batch are
/// released while the rest is read.
const BATCH_BYTES: usize = 1 << 20;
const BATCH_PIECES: usize = 512;

impl Reader {
    /// Reads a run of YAML streams (indices into `names` and `texts`): every stream is cut first (a bad
    /// separator is reported before any parse error, as when reading them one after another), then
    /// the pieces are parsed in batches, and each stream's text released after its last piece.
    fn yaml_streams(
        &mut self,
        run: &[usize],
        names: &[String],
        texts: &mut [Option<String>],
    ) -> Result<(), ManifestError> {
        let mut pieces = Vec::new();
        for &i in run {
            let text = texts[i].as_deref().unwrap_or("");
            pieces.extend(split_stream(&names[i], text)?.into_iter().map(|p| (i, p)));
        }
        // About one document a piece: the list grows once.
        self.store.docs.reserve(pieces.len());
        let mut index_in_file = 0;
        let mut current_file = None;
        let mut from = 0;
        while from < pieces.len() {
            let mut to = from;
            let mut bytes = 0;
            while to < pieces.len() && (bytes < BATCH_BYTES || to - from < BATCH_PIECES) {
                bytes += (pieces[to].1.end - pieces[to].1.start) as usize;
                to += 1;
            }
            let chunks: Vec<Chunk<'_>> = pieces[from..to]
                .iter()
                .map(|&(i, ref piece)| Chunk {
                    stream: i,
                    file: &names[i],
                    text: piece.text(texts[i].as_deref().unwrap_or("")),
                    line: piece.line as usize,
                })
                .collect();
            let (limits, budget) = (&self.limits, &self.budget);
            let parsed = crate::parallel::map(&chunks, |c| parse_chunk(c, limits, budget));
            for (chunk, parsed) in chunks.iter().zip(parsed) {
                let file = names[chunk.stream].as_str();
                if current_file != Some(file) {
                    current_file = Some(file);
                    index_in_file = 0;
                }
                let Pieces { yaml_docs, docs } =
                    parsed.map_err(|e| e.shift_index(index_in_file))?;
                for mut doc in docs {
                    doc.index += index_in_file;
                    self.store.push_parsed(chunk.stream, &doc);
                }
                index_in_file += yaml_docs;
            }
            drop(chunks);
            // The texts whose pieces are all read are no longer needed.
            let next = pieces.get(to).map(|(i, _)| *i);
            for (i, _) in &pieces[from..to] {
                if Some(*i) != next {
                    texts[*i] = None;
                }
            }
            from = to;
        }
        Ok(())
    }
}

/// Reads one manifest stream (YAML or JSON) from `file` as Kubernetes would.
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

/// [`Manifests::read`] of borrowed streams, one [`Document`] each.
///
/// # Errors
///
/// As [`Manifests::read`].
#[cfg(test)]
pub fn read_all(streams: &[(&str, &str)], limits: &Limits) -> Result<Vec<Document>, ManifestError> {
    let owned = streams
        .iter()
        .map(|(f, t)| ((*f).to_string(), (*t).to_string()))
        .collect();
    Ok(Manifests::read(owned, limits)?.into_documents())
}

/// One piece of a stream between `---` separator lines, ready to parse.
struct Chunk<'a> {
    /// Which stream (its index in the list read).
    stream: usize,
    file: &'a str,
    /// The piece, ending with a line break as Kubernetes' `LineReader` gives every line one.
    text: Cow<'a, str>,
    /// 1-based line of the chunk's first line in its file.
    line: usize,
}

/// Where a piece is in its stream: bytes `start..end`, from 1-based line `line`; `newline` when the
/// stream ends without a line break there and Kubernetes' `LineReader` would add one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    start: u32,
    end: u32,
    line: u32,
    newline: bool,
}

impl Piece {
    fn text<'a>(&self, stream: &'a str) -> Cow<'a, str> {
        let text = &stream[self.start as usize..self.end as usize];
        if self.newline {
            Cow::Owned(format!("{text}\n"))
        } else {
            Cow::Borrowed(text)
        }
    }
}

/// Whether Kubernetes reads the stream as JSON: its first non-blank character is `{`
/// (`GuessJSONStream` of k8s.io/apimachinery).
fn is_json_stream(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// One object a reader gave: its JSON, `apiVersion` and `kind`, 0-based index (in its piece, or in its stream for a JSON stream) and line.
struct Parsed {
    json: Box<[u8]>,
    floats: bool,
    api_version: String,
    kind: String,
    index: usize,
    line: usize,
}

/// A JSON stream: the values one after another, as `encoding/json`'s `Decoder` reads them.
fn read_json_stream(file: &str, text: &str) -> Result<Vec<Parsed>, ManifestError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut out = Vec::new();
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
            Value::Object(object) => push_object(object, at, &mut out)?,
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
    Ok(out)
}

thread_local! {
    /// Where a worker writes a document's JSON before it is copied into an allocation of its size.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What one chunk gave: how many YAML documents it held, and its Kubernetes objects.
struct Pieces {
    yaml_docs: usize,
    docs: Vec<Parsed>,
}

/// Parses one chunk into documents (indices local to the chunk), on a worker thread. The usual piece
/// (one mapping with string `apiVersion` and `kind`, nothing [`yaml::write_json`] leaves out) goes
/// straight from YAML events to JSON; any other is read into a tree, which knows every rule and
/// error, and written from there: the same bytes either way.
fn parse_chunk(
    chunk: &Chunk<'_>,
    limits: &Limits,
    budget: &AtomicUsize,
) -> Result<Pieces, ManifestError> {
    let fast = SCRATCH.with_borrow_mut(|json| {
        json.clear();
        let doc = yaml::write_json(&chunk.text, limits, json)?;
        let (api_version, kind) = (doc.api_version?, doc.kind?);
        let is_list = kind == "List" && api_version == "v1";
        (!api_version.is_empty() && !kind.is_empty() && !is_list).then(|| Parsed {
            json: json.as_slice().into(),
            floats: doc.floats,
            api_version: api_version.into_owned(),
            kind: kind.into_owned(),
            index: 0,
            line: chunk.line + doc.line - 1,
        })
    });
    if let Some(doc) = fast {
        return Ok(Pieces {
            yaml_docs: 1,
            docs: vec![doc],
        });
    }
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
    Ok(Pieces {
        yaml_docs: count,
        docs,
    })
}

/// Cuts a stream at lines that start with `---` as Kubernetes' `YAMLReader` does: a `---` followed by
/// nothing but spaces or a comment ends a piece; anything else after it (`--- !!map`, `--- |`,
/// `----`) is refused, as Kubernetes (since 1.22) and so Argo CD refuse it. The last piece gets a
/// final line break if the stream has none, as Kubernetes' `LineReader` gives every line one (a
/// block scalar on the last line of a file keeps its `\n` in Kubernetes, too).
fn split_stream(file: &str, text: &str) -> Result<Vec<Piece>, ManifestError> {
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
                chunks.push(Piece {
                    start: start as u32,
                    end: pos as u32,
                    line: start_line as u32,
                    newline: false,
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
        chunks.push(Piece {
            start: start as u32,
            end: text.len() as u32,
            line: start_line as u32,
            newline: !rest.is_empty() && !rest.ends_with('\n'),
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
    out: &mut Vec<Parsed>,
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
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        // Serialising a Map<String, Value> cannot fail (as Document::from_object).
        let json = serde_json::to_vec(&object).unwrap_or_default();
        out.push(Parsed {
            floats: json::has_float(&json),
            json: json.into_boxed_slice(),
            api_version: text("apiVersion"),
            kind: text("kind"),
            index: at.index,
            line: at.line,
        });
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
    fn separator_lines_cut_the_stream_like_kubernetes_yamlreader() {
        let text = "a: 1\n--- # first\nb: 2\n---\n---\nc: |\n  ---x\n";
        let chunks = split_stream("f", text).unwrap();
        let texts: Vec<_> = chunks
            .iter()
            .map(|c| (c.text(text).into_owned(), c.line))
            .collect();
        assert_eq!(
            texts,
            [
                ("a: 1\n".to_string(), 1),
                ("b: 2\n".to_string(), 3),
                ("c: |\n  ---x\n".to_string(), 6)
            ]
        );
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

    /// Every piece of the oracle's generated corpus that the event writer takes comes out as the
    /// bytes the tree reader gives written by `serde_json`; the pieces it leaves (anchors, merge keys,
    /// refused keys, errors) go to the tree reader.
    #[test]
    fn event_writer_gives_the_bytes_of_the_tree() {
        let (mut fast, mut pieces) = (0, 0);
        let limits = Limits::default();
        for stream in super::oracle_corpus::streams(super::oracle_corpus::DEFAULT_SEED, 10_000) {
            let Ok(cut) = split_stream("t", &stream) else {
                continue;
            };
            for piece in cut {
                let text = piece.text(&stream);
                pieces += 1;
                let mut json = Vec::new();
                let Some(doc) = yaml::write_json(&text, &limits, &mut json) else {
                    assert!(json.is_empty(), "left as it was: {text}");
                    continue;
                };
                fast += 1;
                let tree =
                    yaml::parse_stream(&text, &limits).expect("the tree reader reads it too");
                assert_eq!(tree.len(), 1, "{text}");
                assert_eq!(doc.line, tree[0].line, "{text}");
                assert_eq!(
                    String::from_utf8(json).unwrap(),
                    serde_json::to_string(&tree[0].value).unwrap(),
                    "{text}"
                );
                let top = |k: &str| {
                    tree[0]
                        .value
                        .get(k)
                        .and_then(Value::as_str)
                        .map(String::from)
                };
                assert_eq!(doc.api_version.map(Cow::into_owned), top("apiVersion"));
                assert_eq!(doc.kind.map(Cow::into_owned), top("kind"));
                assert_eq!(
                    doc.floats,
                    json::has_float(serde_json::to_string(&tree[0].value).unwrap().as_bytes())
                );
            }
        }
        assert!(
            fast * 4 > pieces,
            "the event writer took {fast} of {pieces} pieces"
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
