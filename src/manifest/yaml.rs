//! A bounded YAML reader that resolves scalars as Kubernetes does: sigs.k8s.io/yaml on go-yaml v2,
//! i.e. YAML 1.1 (`0644` is 420, `yes`/`on` are booleans, `1.10` is 1.1), with mapping keys turned
//! into JSON strings. It takes text and gives one JSON value per YAML document; it never touches the
//! filesystem. Limits on size, nesting depth and alias expansion make hostile input an error, not an
//! out-of-memory kill.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_depth: 100,
            max_alias_nodes: 100_000,
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
            YamlError::Unsupported { line, message } => YamlError::Unsupported {
                line: line + lines,
                message,
            },
            other @ YamlError::TooLarge { .. } => other,
        }
    }
}

/// Reads every document of a YAML stream (JSON is YAML too).
///
/// # Errors
///
/// A syntax error, a limit exceeded, or a value JSON cannot carry (`.nan`, `.inf`, complex keys).
pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<YamlDoc>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut builder = Builder {
        limits: *limits,
        anchors: HashMap::new(),
        alias_nodes: 0,
        stack: Vec::new(),
        docs: Vec::new(),
        doc_line: 1,
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError::Syntax {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        builder.event(event, span.start.line())?;
    }
    Ok(builder.docs)
}

/// A value under construction with its node count (for alias budgets).
struct Node {
    value: Value,
    nodes: usize,
}

enum Frame {
    Seq {
        anchor: usize,
        items: Vec<Value>,
        nodes: usize,
    },
    Map {
        anchor: usize,
        map: Map<String, Value>,
        merged: Map<String, Value>,
        key: Option<(String, bool)>,
        nodes: usize,
        line: usize,
    },
}

struct Builder {
    limits: Limits,
    anchors: HashMap<usize, (Value, usize)>,
    alias_nodes: usize,
    stack: Vec<Frame>,
    docs: Vec<YamlDoc>,
    doc_line: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.doc_line = line;
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref(), line)?;
                let is_merge_key = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                self.push(Node { value, nodes: 1 }, anchor, line, is_merge_key)?;
            }
            Event::Alias(id) => {
                let Some((value, nodes)) = self.anchors.get(&id) else {
                    return Err(YamlError::Syntax {
                        line,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.alias_nodes += nodes;
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(YamlError::AliasBomb {
                        line,
                        limit: self.limits.max_alias_nodes,
                    });
                }
                let node = Node {
                    value: value.clone(),
                    nodes: *nodes,
                };
                self.push(node, 0, line, false)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Seq {
                    anchor,
                    items: Vec::new(),
                    nodes: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Map {
                    anchor,
                    map: Map::new(),
                    merged: Map::new(),
                    key: None,
                    nodes: 1,
                    line,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    anchor,
                    items,
                    nodes,
                }) = self.stack.pop()
                {
                    self.push(
                        Node {
                            value: Value::Array(items),
                            nodes,
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
                    mut map,
                    merged,
                    nodes,
                    ..
                }) = self.stack.pop()
                {
                    // Merge keys (`<<`) give way to keys written explicitly, wherever they stand.
                    for (k, v) in merged {
                        map.entry(k).or_insert(v);
                    }
                    self.push(
                        Node {
                            value: Value::Object(map),
                            nodes,
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
                .insert(anchor, (node.value.clone(), node.nodes));
        }
        match self.stack.last_mut() {
            None => self.docs.push(YamlDoc {
                value: node.value,
                line: self.doc_line,
            }),
            Some(Frame::Seq { items, nodes, .. }) => {
                *nodes += node.nodes;
                items.push(node.value);
            }
            Some(Frame::Map {
                map,
                merged,
                key,
                nodes,
                line: map_line,
                ..
            }) => {
                *nodes += node.nodes;
                match key.take() {
                    None => *key = Some((key_string(node.value, line)?, is_merge_key)),
                    Some((_, true)) => merge_into(merged, node.value, line)?,
                    Some((k, false)) => {
                        let _ = map_line;
                        // Duplicate keys: the last one wins, as go-yaml v2 does when decoding into a map.
                        map.insert(k, node.value);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `<<: *a` or `<<: [*a, *b]`: earlier sources win over later ones, as YAML 1.1's merge key says.
fn merge_into(merged: &mut Map<String, Value>, value: Value, line: usize) -> Result<(), YamlError> {
    let sources = match value {
        Value::Object(m) => vec![m],
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(m),
                _ => Err(merge_error(line)),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(merge_error(line)),
    };
    for source in sources {
        for (k, v) in source {
            merged.entry(k).or_insert(v);
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

/// Mapping keys become JSON strings the way sigs.k8s.io/yaml converts them.
fn key_string(key: Value, line: usize) -> Result<String, YamlError> {
    match key {
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if n.is_f64() => format_go_float(f),
            _ => n.to_string(),
        }),
        Value::Null => Ok("null".into()),
        Value::Array(_) | Value::Object(_) => Err(YamlError::Unsupported {
            line,
            message: "a mapping key must be a scalar".into(),
        }),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for the values a key can hold.
fn format_go_float(f: f64) -> String {
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..21).contains(&exp) {
        let s = format!("{f}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    } else {
        let s = format!("{f:e}");
        // Rust writes `1e21`; Go writes `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    }
}

/// Resolves one scalar with go-yaml v2's rules (resolve.go): only plain scalars are typed; quoted
/// and block scalars are strings unless a tag says otherwise.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Value, YamlError> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return resolve_tagged(text, &tag.suffix, line);
        }
        // Non-standard local tags (`!Ref`) are ignored, as go-yaml does for untyped targets.
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    resolve_plain(text, line)
}

fn resolve_tagged(text: &str, suffix: &str, line: usize) -> Result<Value, YamlError> {
    let bad = |what: &str| YamlError::Unsupported {
        line,
        message: format!("{text:?} is not a valid !!{what}"),
    };
    match suffix {
        "str" | "binary" | "timestamp" => Ok(Value::String(text.to_string())),
        "null" => Ok(Value::Null),
        "bool" => match resolve_plain(text, line)? {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(bad("bool")),
        },
        "int" => match parse_int(text) {
            Some(v) => Ok(v),
            None => Err(bad("int")),
        },
        "float" => match resolve_plain(text, line)? {
            Value::Number(n) => Ok(Value::Number(
                Number::from_f64(n.as_f64().unwrap_or(0.0)).ok_or_else(|| bad("float"))?,
            )),
            _ => Err(bad("float")),
        },
        _ => resolve_plain(text, line),
    }
}

/// go-yaml v2 `resolve()` for an untagged plain scalar.
fn resolve_plain(text: &str, line: usize) -> Result<Value, YamlError> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false))
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
        if let Some(v) = parse_int(text) {
            return Ok(v);
        }
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if is_yaml_float(&plain) {
            if let Some(n) = plain.parse::<f64>().ok().and_then(Number::from_f64) {
                return Ok(Value::Number(n));
            }
        }
    }
    Ok(Value::String(text.to_string()))
}

/// `strconv.ParseInt(s, 0, 64)` then `ParseUint`, after go-yaml v2 strips `_`; plus its `0b` rule.
fn parse_int(text: &str) -> Option<Value> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
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
        Some(Value::Number(v.into()))
    } else if let Ok(v) = i64::try_from(magnitude) {
        Some(Value::Number(v.into()))
    } else {
        Some(Value::Number(magnitude.into()))
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
    fn merge_keys_give_way_to_explicit_keys() {
        let v = one("base: &b {p: 1, q: 2}\nd:\n  p: 9\n  <<: *b\n");
        assert_eq!(v["d"], json!({"p": 9, "q": 2}));
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
        assert_eq!(format_go_float(1.5), "1.5");
        assert_eq!(format_go_float(2.0), "2");
        assert_eq!(format_go_float(1e21), "1e+21");
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
