//! A bounded YAML reader that resolves scalars as Kubernetes does: sigs.k8s.io/yaml on go-yaml v2,
//! i.e. YAML 1.1 (`0644` is 420, `yes`/`on` are booleans, `1.10` is 1.1), with mapping keys turned
//! into JSON strings. It takes text and gives one JSON value per YAML document; it never touches the
//! filesystem. Limits on size, nesting depth and alias expansion make hostile input an error, not an
//! out-of-memory kill.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bounds against hostile input.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_field_names)] // `max_` says what each bound is: `limits.max_depth`.
pub struct Limits {
    /// Largest input in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes that aliases may add by expansion, over the whole input.
    pub max_alias_nodes: usize,
    /// Most bytes (of the JSON they become) that aliases may add by expansion, over the whole input.
    pub max_alias_bytes: usize,
}

/// Most bytes aliases may add, whatever the input: 64 MiB.
pub const MAX_ALIAS_BYTES: usize = 64 << 20;

impl Limits {
    /// The alias byte budget for `input` bytes of YAML: 16 times the input, at least 1 MiB (so that
    /// small files may use anchors freely) and at most [`MAX_ALIAS_BYTES`].
    pub fn alias_bytes_for(input: usize) -> usize {
        input.saturating_mul(16).clamp(1 << 20, MAX_ALIAS_BYTES)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_depth: 100,
            max_alias_nodes: 100_000,
            max_alias_bytes: MAX_ALIAS_BYTES,
        }
    }
}

/// One YAML document: its value and the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlDoc {
    pub value: Value,
    pub line: usize,
}

/// Why a YAML stream could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("line {line}: nesting deeper than {limit} levels")]
    TooDeep { line: usize, limit: usize },
    #[error("line {line}: aliases expand to more than {limit} nodes (an alias bomb?)")]
    AliasBomb { line: usize, limit: usize },
    #[error("line {line}: alias *{anchor} expands the input past {limit} bytes (aliases may add at most 16 times the input, up to 64 MiB: an alias bomb?); write the value out instead of aliasing it so often")]
    AliasBytes {
        line: usize,
        anchor: String,
        limit: usize,
    },
    #[error("line {line}: {message}")]
    Unsupported { line: usize, message: String },
}

impl YamlError {
    /// The same error with its line moved down by `lines` (for a piece cut out of a larger stream).
    pub fn offset_lines(self, lines: usize) -> Self {
        match self {
            YamlError::Syntax { line, message } => YamlError::Syntax {
                line: line + lines,
                message,
            },
            YamlError::TooDeep { line, limit } => YamlError::TooDeep {
                line: line + lines,
                limit,
            },
            YamlError::AliasBomb { line, limit } => YamlError::AliasBomb {
                line: line + lines,
                limit,
            },
            YamlError::AliasBytes {
                line,
                anchor,
                limit,
            } => YamlError::AliasBytes {
                line: line + lines,
                anchor,
                limit,
            },
            YamlError::Unsupported { line, message } => YamlError::Unsupported {
                line: line + lines,
                message,
            },
            other @ YamlError::TooLarge { .. } => other,
        }
    }
}

/// Reads every document of a YAML stream (JSON is YAML too), with its own alias byte budget of
/// `limits.max_alias_bytes`.
///
/// # Errors
///
/// A syntax error, a limit exceeded, or a value JSON cannot carry (`.nan`, `.inf`, complex keys).
pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<YamlDoc>, YamlError> {
    parse_stream_with_budget(text, limits, &AtomicUsize::new(limits.max_alias_bytes))
}

/// [`parse_stream`] drawing alias bytes from `budget`, which several streams may share (the pieces of
/// one manifest stream, parsed in parallel).
///
/// A flow collection (or a multi-line quoted scalar) whose lines sit at or left of its key's
/// indentation (`a: [` … `]` with the `]` under the `a`) is refused by saphyr-parser as YAML 1.2 says,
/// but read by go-yaml v2 (libyaml does not check indentation inside flow context). When saphyr-parser
/// reports such a line, the lines of that flow construct are indented further (which does not change
/// a flow value: leading spaces of continuation lines are dropped by line folding) and the text is
/// read again, a few times at most.
///
/// # Errors
///
/// As [`parse_stream`].
pub fn parse_stream_with_budget(
    text: &str,
    limits: &Limits,
    budget: &AtomicUsize,
) -> Result<Vec<YamlDoc>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut repaired: Option<String> = None;
    let mut first_error = None;
    for _ in 0..8 {
        let current = repaired.as_deref().unwrap_or(text);
        match parse_once(current, limits, budget) {
            Ok(docs) => return Ok(docs),
            Err(Failure::Yaml(e)) => return Err(first_error.unwrap_or(e)),
            Err(Failure::Indentation { error, from }) => {
                let Some(fixed) = from.and_then(|(line, col)| reindent_flow(current, line, col))
                else {
                    return Err(first_error.unwrap_or(error));
                };
                first_error.get_or_insert(error);
                repaired = Some(fixed);
            }
        }
    }
    Err(first_error.unwrap_or(YamlError::Syntax {
        line: 1,
        message: "invalid indentation".into(),
    }))
}

/// How one reading failed: an error to report, or an indentation error inside a flow construct that
/// starts at `from` (line, column), which [`reindent_flow`] may repair.
enum Failure {
    Yaml(YamlError),
    Indentation {
        error: YamlError,
        from: Option<(usize, usize)>,
    },
}

fn parse_once(text: &str, limits: &Limits, budget: &AtomicUsize) -> Result<Vec<YamlDoc>, Failure> {
    let mut builder = Builder {
        text,
        limits: *limits,
        budget,
        anchors: HashMap::new(),
        alias_nodes: 0,
        stack: Vec::new(),
        docs: Vec::new(),
        doc_line: 1,
        invalid_keys: Vec::new(),
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(item) => item,
            Err(e) => {
                let error = YamlError::Syntax {
                    line: e.marker().line(),
                    message: e.info().to_string(),
                };
                return Err(match e.info() {
                    "invalid indentation"
                    | "invalid indentation in flow construct"
                    | "invalid indentation in quoted scalar" => {
                        let (line, col) = (e.marker().line(), e.marker().col());
                        let from = builder.outermost_flow((line, col)).or_else(|| {
                            if e.info() == "invalid indentation in quoted scalar" {
                                Some((line, col))
                            } else {
                                enclosing_flow(text, line, col)
                            }
                        });
                        Failure::Indentation { error, from }
                    }
                    _ => Failure::Yaml(error),
                });
            }
        };
        builder
            .event(event, span.start.line(), span.start.col())
            .map_err(Failure::Yaml)?;
    }
    Ok(builder.docs)
}

/// A document that [`write_json`] wrote: the line (1-based) where it starts, its top-level
/// `apiVersion` and `kind` when they are strings, and whether it holds a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonDoc<'t> {
    pub line: usize,
    pub api_version: Option<Cow<'t, str>>,
    pub kind: Option<Cow<'t, str>>,
    /// Whether a float was written (a number with a fraction or an exponent).
    pub floats: bool,
}

/// Reads a piece holding one YAML document whose root is a mapping straight into compact JSON,
/// appended to `out`: the bytes `serde_json::to_string` gives for the value [`parse_stream`] reads,
/// without building that value (no tree, no allocation per node). It takes only the usual shape:
/// no anchor, alias or merge key, no key written twice, no key that is a collection or that
/// Kubernetes refuses, nothing JSON cannot hold, no syntax error, nesting within `limits`. For
/// anything else it gives `None` and leaves `out` as it was: [`parse_stream`] reads that piece, with
/// its repairs and its errors.
pub fn write_json<'t>(text: &'t str, limits: &Limits, out: &mut Vec<u8>) -> Option<JsonDoc<'t>> {
    if may_have_anchor(text) {
        return None;
    }
    let start = out.len();
    let doc = JsonWriter {
        out,
        stack: Vec::new(),
        keys: Vec::new(),
        max_depth: limits.max_depth,
    }
    .run(text);
    if doc.is_none() {
        out.truncate(start);
    }
    doc
}

/// Whether `text` may hold an anchor or an alias: a `&` or `*` that starts a word and is followed by
/// a name. The event writer would only see one when its node is complete (after a megabyte of
/// anchored string, say), and the tree reader would read all of it again; a piece that may have one
/// goes to the tree reader at once. Quoted text that happens to match costs only that.
fn may_have_anchor(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        (b == b'&' || b == b'*')
            && (i == 0
                || matches!(
                    bytes[i - 1],
                    b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b','
                ))
            && bytes
                .get(i + 1)
                .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    })
}

/// Which top-level value the writer is reading, to keep `apiVersion` and `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Other,
    ApiVersion,
    Kind,
}

/// An open collection of [`JsonWriter`].
struct JsonFrame {
    map: bool,
    /// In a mapping: the next node is a key.
    want_key: bool,
    /// Entries written so far.
    count: usize,
    /// Where this mapping's keys start in [`JsonWriter::keys`].
    keys_from: usize,
}

/// Mappings with more keys than this look for a repeated key in a hash set, not by scanning.
const SCAN_KEYS: usize = 24;

struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    stack: Vec<JsonFrame>,
    /// The written keys (byte ranges of `out`, quotes included) of the open mappings.
    keys: Vec<(usize, usize)>,
    max_depth: usize,
}

impl JsonWriter<'_> {
    fn run<'t>(mut self, text: &'t str) -> Option<JsonDoc<'t>> {
        let mut doc: Option<JsonDoc<'t>> = None;
        let mut slot = Slot::Other;
        // Keys of a large mapping, by content, once a mapping has more than SCAN_KEYS.
        let mut large: Vec<(usize, std::collections::HashSet<Vec<u8>>)> = Vec::new();
        for item in Parser::new_from_str(text) {
            let (event, span) = item.ok()?;
            let line = span.start.line();
            match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    if doc.is_some() {
                        return None;
                    }
                    doc = Some(JsonDoc {
                        line,
                        api_version: None,
                        kind: None,
                        floats: false,
                    });
                }
                Event::Alias(_) => return None,
                Event::Scalar(value, style, anchor, tag) => {
                    if anchor != 0 {
                        return None;
                    }
                    let frame = self.stack.last()?;
                    if frame.map && frame.want_key {
                        if style == ScalarStyle::Plain && tag.is_none() && value == "<<" {
                            return None;
                        }
                        let key = resolve_key(&value, style, tag.as_deref(), line)
                            .ok()?
                            .into_key()?;
                        slot = match (self.stack.len(), key.as_ref()) {
                            (1, "apiVersion") => Slot::ApiVersion,
                            (1, "kind") => Slot::Kind,
                            _ => Slot::Other,
                        };
                        self.key(&key, &mut large)?;
                    } else {
                        let scalar = resolve_scalar(&value, style, tag.as_deref(), line).ok()?;
                        self.separate();
                        scalar.write_json(self.out);
                        if matches!(&scalar, Scalar::Number(n) if n.is_f64()) {
                            doc.as_mut()?.floats = true;
                        }
                        if slot != Slot::Other {
                            let kept = match scalar {
                                Scalar::Str(Cow::Borrowed(_)) => Some(value.clone()),
                                Scalar::Str(Cow::Owned(s)) => Some(Cow::Owned(s)),
                                _ => None,
                            };
                            let doc = doc.as_mut()?;
                            match slot {
                                Slot::ApiVersion => doc.api_version = kept,
                                Slot::Kind => doc.kind = kept,
                                Slot::Other => {}
                            }
                            slot = Slot::Other;
                        }
                        self.close_value();
                    }
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    let map = matches!(event, Event::MappingStart(..));
                    if anchor != 0 || self.stack.len() >= self.max_depth {
                        return None;
                    }
                    match self.stack.last() {
                        // The root must be a mapping; a collection as a key is for parse_stream.
                        None if !map => return None,
                        Some(f) if f.map && f.want_key => return None,
                        _ => {}
                    }
                    slot = Slot::Other;
                    self.separate();
                    self.out.push(if map { b'{' } else { b'[' });
                    self.stack.push(JsonFrame {
                        map,
                        want_key: true,
                        count: 0,
                        keys_from: self.keys.len(),
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self.stack.pop()?;
                    self.keys.truncate(frame.keys_from);
                    if large
                        .last()
                        .is_some_and(|(depth, _)| *depth > self.stack.len())
                    {
                        large.pop();
                    }
                    self.out.push(if frame.map { b'}' } else { b']' });
                    self.close_value();
                }
            }
        }
        // A second document, a root that is not a mapping or no document at all went back above.
        doc.filter(|_| self.stack.is_empty())
    }

    /// Before a value: a comma between items of a sequence (in a mapping, the key wrote its own).
    fn separate(&mut self) {
        if let Some(frame) = self.stack.last() {
            if !frame.map && frame.count > 0 {
                self.out.push(b',');
            }
        }
    }

    /// After a value: one more entry of its collection.
    fn close_value(&mut self) {
        if let Some(frame) = self.stack.last_mut() {
            frame.count += 1;
            frame.want_key = true;
        }
    }

    /// Writes `"key":`, or `None` when the mapping already has that key (go-yaml v2 keeps the last
    /// value, where it first stood: `parse_stream` does that).
    fn key(
        &mut self,
        key: &str,
        large: &mut Vec<(usize, std::collections::HashSet<Vec<u8>>)>,
    ) -> Option<()> {
        let depth = self.stack.len();
        let frame = self.stack.last_mut()?;
        if frame.count > 0 {
            self.out.push(b',');
        }
        let from = self.out.len();
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, key);
        let to = self.out.len();
        let written = &self.out[from..to];
        let keys_from = frame.keys_from;
        frame.want_key = false;
        match large.last_mut() {
            Some((d, set)) if *d == depth => {
                if !set.insert(written.to_vec()) {
                    return None;
                }
            }
            _ => {
                if self.keys[keys_from..]
                    .iter()
                    .any(|&(a, b)| self.out[a..b] == *written)
                {
                    return None;
                }
                self.keys.push((from, to));
                if self.keys.len() - keys_from > SCAN_KEYS {
                    let set = self.keys[keys_from..]
                        .iter()
                        .map(|&(a, b)| self.out[a..b].to_vec())
                        .collect();
                    large.push((depth, set));
                }
            }
        }
        self.out.push(b':');
        Some(())
    }
}

/// A value under construction with its node count and JSON size (for alias budgets).
struct Node {
    value: Value,
    nodes: usize,
    bytes: usize,
}

/// Where a collection starts (line, column), to tell flow collections from block ones.
type Start = (usize, usize);

enum Frame {
    Seq {
        anchor: usize,
        items: Vec<Value>,
        nodes: usize,
        bytes: usize,
        start: Start,
    },
    Map {
        anchor: usize,
        map: Map<String, Value>,
        key: Option<(String, bool)>,
        nodes: usize,
        bytes: usize,
        start: Start,
    },
}

impl Frame {
    fn start(&self) -> Start {
        match self {
            Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
        }
    }
}

struct Builder<'a> {
    text: &'a str,
    limits: Limits,
    budget: &'a AtomicUsize,
    anchors: HashMap<usize, (Value, usize, usize)>,
    alias_nodes: usize,
    stack: Vec<Frame>,
    docs: Vec<YamlDoc>,
    doc_line: usize,
    /// Keys Kubernetes refuses (null, beyond int64), held as [`INVALID_KEY`]`<index>` until the
    /// document is complete: go-yaml v2 decodes first and sigs.k8s.io/yaml converts keys afterwards, so
    /// such a key only matters if it is still there (not overwritten by a later duplicate or merge).
    invalid_keys: Vec<YamlError>,
}

/// The placeholder of a refused key (a NUL cannot start a key read from YAML without an escape).
const INVALID_KEY: &str = "\u{0}sluice-invalid-key-";

/// The first placeholder of a refused key left in `value`.
fn find_invalid_key(value: &Value) -> Option<usize> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            k.strip_prefix(INVALID_KEY)
                .and_then(|i| i.parse().ok())
                .or_else(|| find_invalid_key(v))
        }),
        Value::Array(items) => items.iter().find_map(find_invalid_key),
        _ => None,
    }
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, line: usize, col: usize) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.doc_line = line;
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
                let value = if is_key {
                    resolve_key(&text, style, tag.as_deref(), line)?
                } else {
                    resolve_scalar(&text, style, tag.as_deref(), line)?
                }
                .into_value();
                let is_merge_key = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                let bytes = scalar_bytes(&value);
                self.push(
                    Node {
                        value,
                        nodes: 1,
                        bytes,
                    },
                    anchor,
                    line,
                    is_merge_key,
                )?;
            }
            Event::Alias(id) => {
                let Some((value, nodes, bytes)) = self.anchors.get(&id) else {
                    return Err(YamlError::Syntax {
                        line,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                let (nodes, bytes) = (*nodes, *bytes);
                self.alias_nodes += nodes;
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(YamlError::AliasBomb {
                        line,
                        limit: self.limits.max_alias_nodes,
                    });
                }
                // Take the bytes from the budget before copying anything.
                if self
                    .budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(bytes)
                    })
                    .is_err()
                {
                    return Err(YamlError::AliasBytes {
                        line,
                        anchor: alias_name(self.text, line, col),
                        limit: self.limits.max_alias_bytes,
                    });
                }
                let node = Node {
                    value: value.clone(),
                    nodes,
                    bytes,
                };
                self.push(node, 0, line, false)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Seq {
                    anchor,
                    items: Vec::new(),
                    nodes: 1,
                    bytes: 2,
                    start: (line, col),
                });
            }
            Event::MappingStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Map {
                    anchor,
                    map: Map::new(),
                    key: None,
                    nodes: 1,
                    bytes: 2,
                    start: (line, col),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    anchor,
                    items,
                    nodes,
                    bytes,
                    ..
                }) = self.stack.pop()
                {
                    let value = Value::Array(items);
                    self.push(
                        Node {
                            value,
                            nodes,
                            bytes,
                        },
                        anchor,
                        line,
                        false,
                    )?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    anchor,
                    map,
                    nodes,
                    bytes,
                    ..
                }) = self.stack.pop()
                {
                    let value = Value::Object(map);
                    self.push(
                        Node {
                            value,
                            nodes,
                            bytes,
                        },
                        anchor,
                        line,
                        false,
                    )?;
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn enter(&self, line: usize) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(YamlError::TooDeep {
                line,
                limit: self.limits.max_depth,
            });
        }
        Ok(())
    }

    /// The start of the outermost open flow collection (`[` or `{`) around `at` (line, column), if
    /// the reader is inside one. A block collection's start is where its first entry is, which may
    /// be a `[` too: only a collection that is still open at `at` counts.
    fn outermost_flow(&self, at: Start) -> Option<Start> {
        let offset = offset_of(self.text, at.0, at.1)?;
        self.stack.iter().map(Frame::start).find(|&(line, col)| {
            construct_at(self.text, line, col).is_some_and(|(start, c)| {
                matches!(c, '[' | '{')
                    && construct_end(self.text, start, c).is_some_and(|end| end >= offset)
            })
        })
    }

    /// Places a finished node into its parent (or closes the document).
    fn push(
        &mut self,
        node: Node,
        anchor: usize,
        line: usize,
        is_merge_key: bool,
    ) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.value.clone(), node.nodes, node.bytes));
        }
        match self.stack.last_mut() {
            None => {
                if !self.invalid_keys.is_empty() {
                    if let Some(i) = find_invalid_key(&node.value) {
                        return Err(self.invalid_keys.swap_remove(i));
                    }
                    self.invalid_keys.clear();
                }
                self.docs.push(YamlDoc {
                    value: node.value,
                    line: self.doc_line,
                });
            }
            Some(Frame::Seq {
                items,
                nodes,
                bytes,
                ..
            }) => {
                *nodes += node.nodes;
                *bytes += node.bytes + 1;
                items.push(node.value);
            }
            Some(Frame::Map {
                map,
                key,
                nodes,
                bytes,
                ..
            }) => {
                *nodes += node.nodes;
                *bytes += node.bytes + 1;
                match key.take() {
                    None => {
                        // Null and beyond-int64 keys wait for the end of the document; a key that is
                        // a mapping or a list is refused at once, as go-yaml v2 refuses it.
                        let lazy = node.value.is_null()
                            || (node.value.is_u64() && node.value.as_i64().is_none());
                        let name = match key_string(node.value, line) {
                            Ok(name) => name,
                            Err(e) if lazy => {
                                self.invalid_keys.push(e);
                                format!("{INVALID_KEY}{}", self.invalid_keys.len() - 1)
                            }
                            Err(e) => return Err(e),
                        };
                        *key = Some((name, is_merge_key));
                    }
                    Some((_, true)) => merge_into(map, node.value, line)?,
                    Some((k, false)) => {
                        // Duplicate keys: the last one wins, as go-yaml v2 does when decoding into a map.
                        map.insert(k, node.value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// About the size of a scalar written as JSON.
fn scalar_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.len() + 2,
        Value::Number(_) => 8,
        Value::Bool(_) | Value::Null => 5,
        Value::Array(_) | Value::Object(_) => 2,
    }
}

/// The byte offset of (1-based `line`, 0-based character `col`) in `text`.
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let rest = &text[start..];
    let within = rest.char_indices().nth(col).map_or(rest.len(), |(i, _)| i);
    Some(start + within)
}

/// The name of the alias written at (line, col): `*name` → `name`.
fn alias_name(text: &str, line: usize, col: usize) -> String {
    offset_of(text, line, col)
        .map(|at| {
            text[at..]
                .trim_start_matches('*')
                .chars()
                .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
                .take(100)
                .collect()
        })
        .unwrap_or_default()
}

/// The first character of the node written at (line, col), after its anchor and tag, with its offset.
fn construct_at(text: &str, line: usize, col: usize) -> Option<(usize, char)> {
    let mut at = offset_of(text, line, col)?;
    loop {
        let c = text[at..].chars().next()?;
        if c == '&' || c == '!' {
            at += text[at..]
                .find(|c: char| c.is_whitespace())
                .unwrap_or(text.len() - at);
        } else if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
            at += 1;
        } else {
            return Some((at, c));
        }
    }
}

/// The start (line, column) of the flow collection around (line, col), found by looking back for a
/// `[` or `{` whose collection ends after that point (when the parser has not reported it yet).
fn enclosing_flow(text: &str, line: usize, col: usize) -> Option<Start> {
    let at = offset_of(text, line, col)?;
    let floor = at.saturating_sub(64 << 10);
    let mut i = at;
    while i > floor {
        i -= 1;
        let b = text.as_bytes()[i];
        if (b == b'[' || b == b'{')
            && text.is_char_boundary(i)
            && construct_end(text, i, char::from(b)).is_some_and(|end| end >= at)
        {
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            let line = text[..i].matches('\n').count() + 1;
            return Some((line, text[line_start..i].chars().count()));
        }
    }
    None
}

/// Indents the continuation lines of the flow collection or quoted scalar starting at (line, col)
/// past its first character, so that saphyr-parser accepts what go-yaml v2 accepts. `None` when the
/// construct does not end (the original error stands then).
fn reindent_flow(text: &str, line: usize, col: usize) -> Option<String> {
    let (start, first) = construct_at(text, line, col)?;
    let end = construct_end(text, start, first)?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let target = text[line_start..start].chars().count() + 1;
    let first_line_end = start + text[start..].find('\n')?;
    if end <= first_line_end {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&text[..=first_line_end]);
    let mut pos = first_line_end + 1;
    let mut changed = false;
    while pos < text.len() {
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let line = &text[pos..line_end];
        if pos <= end {
            let indent = line.len() - line.trim_start_matches(' ').len();
            if indent < target && !line.trim().is_empty() {
                out.extend(std::iter::repeat_n(' ', target - indent));
                changed = true;
            }
        }
        out.push_str(line);
        pos = line_end;
    }
    changed.then_some(out)
}

/// The byte offset of the last character of the flow collection or quoted scalar starting at `start`.
fn construct_end(text: &str, start: usize, first: char) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    let mut prev = b' ';
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\''
                if matches!(
                    prev,
                    b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':'
                ) =>
            {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if b == b'"' => i += 1,
                        b'\'' if b == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
                        c if c == b => break,
                        _ => {}
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return None;
                }
                if first == '"' || first == '\'' {
                    return Some(i);
                }
            }
            b'#' if matches!(prev, b' ' | b'\t' | b'\n' | b'\r') => {
                i += text[i..].find('\n').unwrap_or(text.len() - i);
                prev = b'\n';
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        prev = bytes[i];
        i += 1;
    }
    None
}

/// `<<: *a` or `<<: [*a, *b]`, as go-yaml v2 decodes it: the keys of the merged mappings are set as
/// if written where the `<<` stands (a key written before it is overwritten, one written after it
/// wins), and of several sources the earlier wins.
fn merge_into(map: &mut Map<String, Value>, value: Value, line: usize) -> Result<(), YamlError> {
    let sources = match value {
        Value::Object(m) => vec![m],
        Value::Array(items) => items
            .into_iter()
            .rev()
            .map(|v| match v {
                Value::Object(m) => Ok(m),
                _ => Err(merge_error(line)),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(merge_error(line)),
    };
    for source in sources {
        for (k, v) in source {
            map.insert(k, v);
        }
    }
    Ok(())
}

fn merge_error(line: usize) -> YamlError {
    YamlError::Unsupported {
        line,
        message: "a merge key (<<) takes a mapping or a list of mappings".into(),
    }
}

/// Mapping keys become JSON strings the way sigs.k8s.io/yaml (ghodss/yaml) converts go-yaml v2's keys:
/// integers in decimal, floats with Go's `strconv.FormatFloat(f, 'g', -1, 32)`, booleans as
/// `true`/`false`; a null key and an integer beyond int64 (go-yaml v2 gives a uint64) are refused, as
/// Kubernetes refuses them ("Unsupported map key of type").
fn key_string(key: Value, line: usize) -> Result<String, YamlError> {
    let unsupported = |what: &str| {
        YamlError::Unsupported {
        line,
        message: format!("{what} cannot be a mapping key in Kubernetes (sigs.k8s.io/yaml refuses it); quote the key if a string is meant"),
    }
    };
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => number_key(&n).ok_or_else(|| unsupported("an integer beyond int64")),
        Value::Null => Err(unsupported("null (`~`, `null` or an empty key)")),
        Value::Array(_) | Value::Object(_) => Err(YamlError::Unsupported {
            line,
            message: "a mapping key must be a scalar".into(),
        }),
    }
}

/// A number as sigs.k8s.io/yaml writes it as a key: integers in decimal, floats as Go's float32 `'g'`
/// format; `None` for an integer beyond int64, which Kubernetes refuses as a key.
fn number_key(n: &Number) -> Option<String> {
    if let Some(i) = n.as_i64() {
        Some(i.to_string())
    } else if n.is_u64() {
        None
    } else {
        Some(format_go_float32(n.as_f64().unwrap_or(0.0)))
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that read back as the same float32,
/// in `%e` form (`1.2345679e+08`) when the exponent is below -4 or at least 6, else in `%f` form.
fn format_go_float32(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345679e8`.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if f == 0.0 {
        return format!("{sign}0");
    }
    if !(-4..6).contains(&exp) {
        let rest = &digits[1..];
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{dot}{rest}e{esign}{:02}", &digits[..1], exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// A scalar in key position: as [`resolve_scalar`], except that `.inf` and `.nan` are fine (a key is a
/// string in JSON; sigs.k8s.io/yaml names them `.inf`, `-.inf`, `.nan`).
fn resolve_key<'t>(
    text: &'t str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Scalar<'t>, YamlError> {
    if style == ScalarStyle::Plain && tag.is_none() {
        if let Some(name) = non_finite(text) {
            return Ok(Scalar::Str(Cow::Borrowed(name)));
        }
    }
    resolve_scalar(text, style, tag, line)
}

/// go-yaml v2's names for the floats JSON cannot hold, as sigs.k8s.io/yaml writes them as keys.
fn non_finite(text: &str) -> Option<&'static str> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some(".inf"),
        "-.inf" | "-.Inf" | "-.INF" => Some("-.inf"),
        ".nan" | ".NaN" | ".NAN" => Some(".nan"),
        _ => None,
    }
}

/// `!!binary`: go-yaml v2 decodes the base64 text (line breaks ignored, as Go's `base64.StdEncoding`
/// does) into a string of those bytes; JSON then holds them as text, each byte that is not valid UTF-8
/// becoming U+FFFD as Go's `encoding/json` writes it.
fn decode_binary(text: &str, line: usize) -> Result<Scalar<'static>, YamlError> {
    let invalid = || YamlError::Unsupported {
        line,
        message: "!!binary value contains invalid base64 data".into(),
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let pad = clean.iter().rev().take_while(|&&b| b == b'=').count();
    if !clean.len().is_multiple_of(4) || pad > 2 {
        return Err(invalid());
    }
    let mut bytes = Vec::with_capacity(clean.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &clean[..clean.len() - pad] {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(invalid()),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                rest = &rest[good + 1..];
            }
        }
    }
    Ok(Scalar::Str(Cow::Owned(out)))
}

/// A resolved scalar. Strings borrow the text they were read from, so that the JSON writer copies
/// nothing it does not print.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'t> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'t, str>),
}

impl Scalar<'_> {
    fn into_value(self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Number(n) => Value::Number(n),
            Scalar::Str(s) => Value::String(s.into_owned()),
        }
    }

    /// The bytes `serde_json` writes for [`Scalar::into_value`], appended to `out`.
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Scalar::Null => out.extend_from_slice(b"null"),
            Scalar::Bool(true) => out.extend_from_slice(b"true"),
            Scalar::Bool(false) => out.extend_from_slice(b"false"),
            // Writing to a Vec cannot fail; `serde_json`'s own serialiser keeps the bytes those of
            // `serde_json::to_string` on the value (escapes, number formats).
            Scalar::Number(n) => {
                let _ = serde_json::to_writer(&mut *out, n);
            }
            Scalar::Str(s) => {
                let _ = serde_json::to_writer(&mut *out, s.as_ref());
            }
        }
    }
}

impl<'t> Scalar<'t> {
    /// The key sigs.k8s.io/yaml makes of this scalar, as [`key_string`] does; `None` where Kubernetes
    /// refuses it (null, an integer beyond int64).
    fn into_key(self) -> Option<Cow<'t, str>> {
        match self {
            Scalar::Null => None,
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Number(n) => number_key(&n).map(Cow::Owned),
            Scalar::Str(s) => Some(s),
        }
    }
}

/// Resolves one scalar with go-yaml v2's rules (resolve.go): only plain scalars are typed; quoted
/// and block scalars are strings unless a tag says otherwise.
fn resolve_scalar<'t>(
    text: &'t str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Scalar<'t>, YamlError> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return resolve_tagged(text, &tag.suffix, line);
        }
        // Any other tag (`!Ref`, `!!map` on a scalar): go-yaml v2 does not resolve the scalar, so it
        // stays a string whatever it looks like.
        return Ok(Scalar::Str(Cow::Borrowed(text)));
    }
    if style != ScalarStyle::Plain {
        return Ok(Scalar::Str(Cow::Borrowed(text)));
    }
    resolve_plain(text, line)
}

fn resolve_tagged<'t>(text: &'t str, suffix: &str, line: usize) -> Result<Scalar<'t>, YamlError> {
    let bad = |what: &str| YamlError::Unsupported {
        line,
        message: format!("{text:?} is not a valid !!{what}"),
    };
    match suffix {
        "binary" => decode_binary(text, line),
        "null" => Ok(Scalar::Null),
        "bool" => match resolve_plain(text, line)? {
            v @ Scalar::Bool(_) => Ok(v),
            _ => Err(bad("bool")),
        },
        "int" => match parse_int(text) {
            Some(n) => Ok(Scalar::Number(n)),
            None => Err(bad("int")),
        },
        "float" => match resolve_plain(text, line)? {
            Scalar::Number(n) => Ok(Scalar::Number(
                Number::from_f64(n.as_f64().unwrap_or(0.0)).ok_or_else(|| bad("float"))?,
            )),
            _ => Err(bad("float")),
        },
        // `!!str`, `!!timestamp` (go-yaml v2 gives timestamps to an untyped target as the text), and
        // any other tag on a scalar.
        _ => Ok(Scalar::Str(Cow::Borrowed(text))),
    }
}

/// go-yaml v2 `resolve()` for an untagged plain scalar.
fn resolve_plain(text: &str, line: usize) -> Result<Scalar<'_>, YamlError> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Scalar::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Scalar::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Scalar::Bool(false))
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(YamlError::Unsupported {
                line,
                message: format!("{text} cannot be represented in JSON (Kubernetes rejects it too); quote it if a string is meant"),
            })
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.' {
        if let Some(n) = parse_int(text) {
            return Ok(Scalar::Number(n));
        }
        let plain = without_underscores(text);
        if is_yaml_float(&plain) {
            if let Some(n) = plain.parse::<f64>().ok().and_then(Number::from_f64) {
                return Ok(Scalar::Number(n));
            }
        }
    }
    Ok(Scalar::Str(Cow::Borrowed(text)))
}

/// `text` without `_` (go-yaml v2 strips them from numbers), copied only when it has one.
fn without_underscores(text: &str) -> Cow<'_, str> {
    if text.contains('_') {
        Cow::Owned(text.chars().filter(|&c| c != '_').collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `strconv.ParseInt(s, 0, 64)` then `ParseUint`, after go-yaml v2 strips `_`; plus its `0b` rule.
fn parse_int(text: &str) -> Option<Number> {
    let plain = without_underscores(text);
    let (negative, digits) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    let (radix, body) = if let Some(rest) = digits.strip_prefix("0x").or(digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        (2, rest)
    } else if let Some(rest) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        (8, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if negative {
        let v = i64::try_from(magnitude)
            .map(|m| -m)
            .ok()
            .or((magnitude == 1u64 << 63).then_some(i64::MIN))?;
        Some(v.into())
    } else if let Ok(v) = i64::try_from(magnitude) {
        Some(v.into())
    } else {
        Some(magnitude.into())
    }
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fmt::Write as _;

    fn one(text: &str) -> Value {
        let docs = parse_stream(text, &Limits::default()).unwrap();
        assert_eq!(docs.len(), 1, "{text}");
        docs.into_iter().next().unwrap().value
    }

    #[test]
    fn octal_and_hex_integers_read_as_kubernetes_reads_them() {
        assert_eq!(one("a: 0644"), json!({"a": 420}));
        assert_eq!(one("a: 0o644"), json!({"a": 420}));
        assert_eq!(one("a: 0x1F"), json!({"a": 31}));
        assert_eq!(one("a: -0x1F"), json!({"a": -31}));
        assert_eq!(one("a: 0b101"), json!({"a": 5}));
        assert_eq!(one("a: 1_000"), json!({"a": 1000}));
        assert_eq!(one("a: +12"), json!({"a": 12}));
        assert_eq!(one("a: 0"), json!({"a": 0}));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        assert_eq!(one("a: '0644'"), json!({"a": "0644"}));
        assert_eq!(one("a: \"yes\""), json!({"a": "yes"}));
        assert_eq!(one("a: |\n  0644\n"), json!({"a": "0644\n"}));
        assert_eq!(one("a: !!str 0644"), json!({"a": "0644"}));
    }

    #[test]
    fn yaml_1_1_booleans_and_nulls() {
        for t in [
            "yes", "Yes", "YES", "on", "On", "ON", "y", "Y", "true", "True",
        ] {
            assert_eq!(one(&format!("a: {t}")), json!({"a": true}), "{t}");
        }
        for f in ["no", "No", "off", "OFF", "n", "N", "false", "FALSE"] {
            assert_eq!(one(&format!("a: {f}")), json!({"a": false}), "{f}");
        }
        for n in ["~", "null", "Null", "NULL", ""] {
            assert_eq!(one(&format!("a: {n}")), json!({"a": null}), "{n:?}");
        }
        assert_eq!(one("a: yEs"), json!({"a": "yEs"}));
    }

    #[test]
    fn floats_follow_go_yaml_v2() {
        assert_eq!(one("a: 1.10"), json!({"a": 1.1}));
        assert_eq!(one("a: 1e3"), json!({"a": 1000.0}));
        assert_eq!(one("a: .5"), json!({"a": 0.5}));
        // `08` is not octal; go-yaml v2 falls through to its float rule.
        assert_eq!(one("a: 08"), json!({"a": 8.0}));
        assert_eq!(one("a: 1.2.3"), json!({"a": "1.2.3"}));
        assert!(parse_stream("a: .nan", &Limits::default()).is_err());
    }

    #[test]
    fn timestamps_and_versions_stay_strings() {
        assert_eq!(one("a: 2024-01-01"), json!({"a": "2024-01-01"}));
        assert_eq!(one("a: v1.2"), json!({"a": "v1.2"}));
        assert_eq!(one("a: 12:30"), json!({"a": "12:30"}));
    }

    #[test]
    fn keys_become_strings_like_sigs_yaml() {
        assert_eq!(
            one("on: 1\n1: 2\n1.5: 3"),
            json!({"true": 1, "1": 2, "1.5": 3})
        );
    }

    #[test]
    fn merge_keys_apply_where_they_stand_as_in_go_yaml_v2() {
        // go-yaml v2 sets the merged keys where `<<` stands: a key written after it wins, one written
        // before it is overwritten (tests/yaml-oracle agrees).
        let v = one("base: &b {p: 1, q: 2}\nd:\n  p: 9\n  <<: *b\ne:\n  <<: *b\n  p: 9\n");
        assert_eq!(v["d"], json!({"p": 1, "q": 2}));
        assert_eq!(v["e"], json!({"p": 9, "q": 2}));
        let v = one("a: &a {p: 1}\nb: &b {p: 2, q: 2}\nc:\n  <<: [*a, *b]\n");
        assert_eq!(v["c"], json!({"p": 1, "q": 2}));
    }

    #[test]
    fn big_unsigned_integers_are_kept() {
        assert_eq!(one("a: 18446744073709551615"), json!({"a": u64::MAX}));
        assert_eq!(one("a: -9223372036854775808"), json!({"a": i64::MIN}));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            let _ = writeln!(
                text,
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
            );
        }
        let err = parse_stream(&text, &Limits::default()).unwrap_err();
        assert!(matches!(err, YamlError::AliasBomb { .. }), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(150) + &"]".repeat(150);
        let err = parse_stream(&text, &Limits::default()).unwrap_err();
        assert!(matches!(err, YamlError::TooDeep { .. }), "{err}");
        // Far deeper input is stopped by the parser's own recursion limit, also as an error.
        let text = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(parse_stream(&text, &Limits::default()).is_err());
    }

    #[test]
    fn size_limit_is_enforced() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse_stream("a: 12345678901", &limits),
            Err(YamlError::TooLarge { .. })
        ));
    }

    #[test]
    fn documents_carry_their_start_line() {
        let docs = parse_stream("a: 1\n---\n# c\nb: 2\n", &Limits::default()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 1);
        assert_eq!(docs[1].line, 2);
    }

    #[test]
    fn go_float_keys_format_like_strconv() {
        assert_eq!(format_go_float32(1.5), "1.5");
        assert_eq!(format_go_float32(2.0), "2");
        assert_eq!(format_go_float32(123_456_789.0), "1.2345679e+08");
        assert_eq!(format_go_float32(123_456.0), "123456");
        assert_eq!(format_go_float32(1e6), "1e+06");
        assert_eq!(format_go_float32(0.0001), "0.0001");
        assert_eq!(format_go_float32(0.00001), "1e-05");
        assert_eq!(format_go_float32(-2.5), "-2.5");
        assert_eq!(format_go_float32(0.1), "0.1");
    }

    #[test]
    fn event_writer_leaves_repeated_keys_to_the_tree_reader_small_and_large() {
        for keys in [3, 1000] {
            let mut text = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
            for i in 0..keys {
                let _ = writeln!(text, "  k{i}: v{i}");
            }
            let mut json = Vec::new();
            let doc = write_json(&text, &Limits::default(), &mut json).expect("no repeated key");
            assert_eq!(doc.kind.as_deref(), Some("ConfigMap"));
            let tree = parse_stream(&text, &Limits::default()).unwrap();
            assert_eq!(json, serde_json::to_vec(&tree[0].value).unwrap());
            // `on` is the key "true" to Kubernetes, as is `true`: the same key twice.
            for repeated in ["  k1: again\n", "  on: 1\n  true: 2\n"] {
                let text = format!("{text}{repeated}");
                let mut json = b"kept".to_vec();
                assert!(write_json(&text, &Limits::default(), &mut json).is_none());
                assert_eq!(json, b"kept", "the output is left as it was");
            }
        }
    }

    #[test]
    fn event_writer_leaves_anchors_merge_keys_and_deep_nesting_to_the_tree_reader() {
        let limits = Limits::default();
        for text in [
            "a: &x 1\nb: *x\n",
            "a: {p: 1}\nb:\n  <<: {q: 2}\n",
            "~: 1\n",
            "18446744073709551615: 1\n",
            "? [a]\n: 1\n",
            "- not a mapping\n",
            "a: .nan\n",
            "a: 1\n...\nb: 2\n",
            "a: [1\n",
        ] {
            assert!(
                write_json(text, &limits, &mut Vec::new()).is_none(),
                "{text}"
            );
        }
        let deep = "a: ".to_string() + &"[".repeat(150) + &"]".repeat(150) + "\n";
        assert!(write_json(&deep, &limits, &mut Vec::new()).is_none());
        assert!(matches!(
            parse_stream(&deep, &limits),
            Err(YamlError::TooDeep { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn reader_never_panics(text in "[ -~\\n\\t]{0,200}") {
            let _ = parse_stream(&text, &Limits::default());
        }

        #[test]
        fn reader_never_panics_on_yamlish(parts in proptest::collection::vec(
            proptest::sample::select(vec!["a:", " ", "\n", "- ", "&x ", "*x", "[", "]", "{", "}", ",", "'", "\"", "0644", "yes", "<<: ", "---\n", "!!int ", "|\n", "  ", "#"]), 0..60)) {
            let text: String = parts.concat();
            let _ = parse_stream(&text, &Limits::default());
        }
    }
}
