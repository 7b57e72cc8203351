//! Reading manifest streams into [`Manifests`] as Kubernetes reads them: JSON streams value by
//! value, YAML streams cut at `---` lines (as Kubernetes' `YAMLReader` does) and the pieces parsed
//! on all cores in batches, each piece straight from YAML events to JSON when it has the usual
//! shape and through the tree reader otherwise; `kind: List` flattened, anything that is not an
//! object with `apiVersion` and `kind` refused, and each text released once its pieces are read.

use super::yaml::{self, Limits, YamlError};
#[cfg(test)]
use super::Document;
use super::{json, ManifestError, Manifests, Source, Stored};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::atomic::AtomicUsize;

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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Every piece of the oracle's generated corpus that the event writer takes comes out as the
    /// bytes the tree reader gives written by `serde_json`; the pieces it leaves (anchors, merge keys,
    /// refused keys, errors) go to the tree reader.
    #[test]
    fn event_writer_gives_the_bytes_of_the_tree() {
        let (mut fast, mut pieces) = (0, 0);
        let limits = Limits::default();
        for stream in crate::manifest::oracle_corpus::streams(
            crate::manifest::oracle_corpus::DEFAULT_SEED,
            10_000,
        ) {
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
}
