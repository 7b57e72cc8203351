//! `-o yaml`: JSON values as block YAML that reads the same in YAML 1.1 (Kubernetes, `PyYAML`) and 1.2. Every
//! string is double-quoted with JSON's escapes (valid YAML escapes), so `yes`, `0644`, `1.10` or `null` stay
//! strings; keys are quoted unless they are plain identifiers that no YAML version reads as anything else.

use serde_json::Value;
use std::fmt::Write as _;

/// `value` as a YAML document (ending in a newline).
pub(super) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Array(a) if !a.is_empty() => block_list(&mut out, a, 0),
        Value::Object(m) if !m.is_empty() => block_map(&mut out, m, 0),
        scalar_or_empty => {
            out.push_str(&inline(scalar_or_empty));
            out.push('\n');
        }
    }
    out
}

/// Scalars, and empty collections as `[]` / `{}`.
fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

fn key(k: &str) -> String {
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<", "=",
    ];
    let plain = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !WORDS.contains(&k.to_ascii_lowercase().as_str());
    if plain {
        k.to_owned()
    } else {
        quoted(k)
    }
}

/// A double-quoted YAML scalar. Escaped: `"` and `\`, C0 and C1 controls and DEL, and the characters YAML
/// reads as line breaks (U+0085, U+2028, U+2029) or drops (U+FEFF); everything else as it is.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn block_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (k, v)) in m.iter().enumerate() {
        // The first key of a list item follows its `- `.
        if i > 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        let _ = write!(out, "{}:", key(k));
        if is_block(v) {
            out.push('\n');
            match v {
                Value::Array(a) => block_list(out, a, indent),
                Value::Object(m) => block_map(out, m, indent + 2),
                _ => unreachable!("is_block"),
            }
        } else {
            let _ = writeln!(out, " {}", inline(v));
        }
    }
}

fn block_list(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => block_map(out, m, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.pop();
                out.push('\n');
                block_list(out, inner, indent + 2);
            }
            scalar => {
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_yaml_with_every_string_quoted() {
        let v = json!([{"seq": 1, "app": {"name": "yes", "namespace": null}, "approvedBy": ["a", "b"],
            "on": true, "tags": [], "meta": {}, "mode": "0644", "nested": [[1, 2], []]}, "x"]);
        assert_eq!(
            to_yaml(&v),
            "- seq: 1\n  app:\n    name: \"yes\"\n    namespace: null\n  approvedBy:\n  - \"a\"\n  - \"b\"\n  \"on\": true\n  tags: []\n  meta: {}\n  mode: \"0644\"\n  nested:\n  -\n    - 1\n    - 2\n  - []\n- \"x\"\n"
        );
        assert_eq!(to_yaml(&json!([])), "[]\n");
        assert_eq!(to_yaml(&json!("a\nb")), "\"a\\nb\"\n");
        assert_eq!(
            to_yaml(&json!("q\"\\ \u{1}\u{7f}\u{85}\u{2028}é😀")),
            "\"q\\\"\\\\ \\x01\\x7f\\x85\\u2028é😀\"\n"
        );
    }
}
