//! A YAML writer for people: block style, keys in their order, and every string that a YAML 1.1
//! reader (go-yaml v2 under Kubernetes, `PyYAML`) or a YAML 1.2 reader would take for something else
//! quoted, so that the YAML reads back as exactly the JSON value it was written from. Takes a JSON
//! value, gives text; no I/O.
//!
//! A string is written plain only when it is certainly a string to every reader: not empty, no
//! leading or trailing space, only printable characters, no indicator at its start, no `: ` or ` #`
//! inside, and nothing that resolves to another type: `y`/`n`/`yes`/`no`/`on`/`off`/`true`/`false`/
//! `null`/`~` in any case, anything number-like (`0644`, `0x1f`, `1_000`, `1.10`, `1e3`, `.inf`,
//! `190:20:30`), anything starting like a date (`2026-11-24`, timestamps), `<<` and `=`. Otherwise it
//! is single-quoted when that needs no escape, else double-quoted with escapes. A string of several
//! lines is a block literal (`|`, `|-`, `|+`) when that reads back exactly (no trailing spaces on a
//! line, no first line that starts with a space, printable characters only), else double-quoted.
//! Floats are written with a `.` and a signed exponent (`1.0e+20`), which YAML 1.1 readers need.

use serde_json::{Map, Value};

/// Longest key written as an implicit (`key: value`) key; YAML limits implicit keys to 1024
/// characters, so longer ones use the explicit `? key` form.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Appends one document of a stream: `---`, `# Source: <source>` (as `helm template` writes it),
/// then the object. Control characters in `source` become `?`, so a file name cannot end the comment.
pub fn push_document(out: &mut String, source: &str, object: &Value) {
    out.push_str("---\n# Source: ");
    out.extend(source.chars().map(|c| if c.is_control() { '?' } else { c }));
    out.push('\n');
    out.push_str(&to_yaml(object));
}

/// `value` as a YAML document body in block style, ending with a newline (no `---`).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(&mut out, items, 0, false),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

/// Writes `map` with its keys at column `indent`; `inline` when the first key follows a `- ` that is
/// already written.
fn write_mapping(out: &mut String, map: &Map<String, Value>, indent: usize, inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline {
            push_indent(out, indent);
        }
        let key_text = quote_string(key, indent, true);
        if key_text.len() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            out.push_str(&key_text);
            out.push('\n');
            push_indent(out, indent);
        } else {
            out.push_str(&key_text);
        }
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_mapping(out, inner, indent + 2, false);
            }
            // Sequences under a key sit at the key's column, as kubectl and go-yaml write them.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_sequence(out, items, indent, false);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// Writes `items` with their dashes at column `indent`.
fn write_sequence(out: &mut String, items: &[Value], indent: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                write_mapping(out, inner, indent + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                write_sequence(out, inner, indent + 2, true);
            }
            scalar => {
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or an empty collection) as YAML text; `indent` is the column of a block literal's lines.
fn scalar_text(value: &Value, indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => quote_string(s, indent, false),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A number as both YAML 1.1 and 1.2 read it: integers as they are; floats with a fraction and, when
/// there is an exponent, a sign (`1e20` is a string to `PyYAML`, `1.0e+20` a float to every reader).
fn number_text(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if n.is_i64() || n.is_u64() {
        return text;
    }
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_string(), Some(e.to_string())),
        None => (text, None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exponent {
        Some(e) if e.starts_with(['-', '+']) => format!("{mantissa}e{e}"),
        Some(e) => format!("{mantissa}e+{e}"),
        None => mantissa,
    }
}

/// A string as a scalar: plain, single-quoted, a block literal (values only, not keys) or
/// double-quoted, whichever is the first that reads back as exactly this string.
fn quote_string(s: &str, indent: usize, is_key: bool) -> String {
    if is_plain_safe(s) {
        return s.to_string();
    }
    if s.contains('\n') {
        if !is_key && indent > 0 && is_literal_safe(s) {
            return block_literal(s, indent);
        }
        return double_quoted(s);
    }
    if s.chars().all(is_printable) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double_quoted(s)
}

/// Characters YAML allows unescaped (YAML 1.1 `c-printable` minus the line breaks NEL, LS, PS and the
/// BOM, which readers treat specially); tab is left out too, to keep plain scalars simple.
fn is_printable(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether `s` can be written plain and is read back as this same string by YAML 1.1 and 1.2.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !s.chars().all(is_printable)
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || s.starts_with("---")
        || s.starts_with("...")
        || s.starts_with("<<")
        || s == "="
    {
        return false;
    }
    // Indicators may not start a plain scalar; `-` may when a non-space follows (`--dir`), but a
    // leading `-` might be a negative number, checked below.
    if first == '-' && matches!(s.chars().nth(1), None | Some(' ')) {
        return false;
    }
    if matches!(
        first,
        '?' | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        return false;
    }
    !resolves_to_non_string(s)
}

/// A superset of the plain scalars that some YAML 1.1 or 1.2 reader resolves to a non-string.
fn resolves_to_non_string(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "yes" | "n" | "no" | "true" | "false" | "on" | "off" | "null" | "~"
    ) {
        return true;
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if matches!(
        unsigned.to_ascii_lowercase().as_str(),
        ".inf" | ".nan" | "inf" | "nan" | "infinity"
    ) {
        return true;
    }
    if unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') && is_number_like(unsigned) {
        return true;
    }
    looks_like_date(unsigned)
}

/// Whether an unsigned plain scalar is an int or float to go-yaml v2 (`_` removed, then Go's
/// `ParseInt(s, 0)` or its float pattern), `PyYAML` (YAML 1.1 ints, floats, sexagesimals) or YAML 1.2.
/// Errs towards yes: `0x` with no digits, or a lone `.` once `_` is gone, count as numbers.
fn is_number_like(unsigned: &str) -> bool {
    let t: String = unsigned.chars().filter(|&c| c != '_').collect();
    let all = |s: &str, f: fn(char) -> bool| s.chars().all(f);
    let digits = |s: &str| all(s, |c| c.is_ascii_digit());
    if t.is_empty() || t == "." {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if let Some(rest) = ["0x", "0o", "0b"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
    {
        return all(rest, |c| c.is_ascii_hexdigit());
    }
    // Sexagesimal (`190:20:30`, `1:30.5`): digits and colons, then an optional fraction.
    if t.contains(':') {
        let whole = t.split_once('.').map_or(t.as_str(), |(w, _)| w);
        let fraction = t.split_once('.').map_or("", |(_, f)| f);
        return all(whole, |c| c.is_ascii_digit() || c == ':') && digits(fraction);
    }
    // `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, which covers plain integers too.
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (lower.as_str(), None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| !e.is_empty() && digits(e))
}

/// `YYYY-M(M)-D(D)` at the start: the prefix of every YAML 1.1 timestamp.
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| {
        b.get(from..to)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if !(digits(0, 4) && b.get(4) == Some(&b'-')) {
        return false;
    }
    let month = if digits(5, 7) {
        7
    } else if digits(5, 6) {
        6
    } else {
        return false;
    };
    b.get(month) == Some(&b'-') && digits(month + 1, month + 2)
}

/// Whether a multi-line string reads back exactly from a block literal without an indentation
/// indicator: printable characters (tabs allowed), no line ending in a space or tab, a first line
/// that is not empty and does not start with a space.
fn is_literal_safe(s: &str) -> bool {
    let first_ok = s
        .lines()
        .next()
        .is_some_and(|l| !l.is_empty() && !l.starts_with([' ', '\t']));
    first_ok
        && s.chars().all(|c| c == '\n' || c == '\t' || is_printable(c))
        && s.split('\n').all(|l| !l.ends_with([' ', '\t']))
}

/// A block literal: `|` keeps one final newline, `|-` none, `|+` all of them.
fn block_literal(s: &str, indent: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let mut out = String::from(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            push_indent(&mut out, indent);
            out.push_str(line);
        }
    }
    // `|+` keeps the extra final newlines as empty lines.
    for _ in 1..trailing {
        out.push('\n');
    }
    out
}

/// A double-quoted scalar with YAML escapes (read alike by go-yaml and `PyYAML`).
fn double_quoted(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_printable(c) => out.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scalar(s: &str) -> String {
        quote_string(s, 2, false)
    }

    #[test]
    fn yaml_1_1_traps_are_quoted() {
        for trap in [
            "on",
            "On",
            "ON",
            "off",
            "yes",
            "Yes",
            "no",
            "NO",
            "y",
            "Y",
            "n",
            "N",
            "true",
            "False",
            "null",
            "NULL",
            "~",
            "",
            "0644",
            "0o17",
            "0x1F",
            "0b101",
            "1_000",
            "1.10",
            "1e3",
            "1.5E-3",
            "1.",
            "0x",
            "._",
            "1:30.5",
            "-1",
            "+1",
            ".5",
            "-.inf",
            ".NaN",
            "190:20:30",
            "2026-11-24",
            "2001-12-14t21:59:43.10-05:00",
            "2026-1-2",
            "<<",
            "=",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "key:",
            "- x",
            "-",
            "#c",
            "*a",
            "&a",
            "!t",
            "|x",
            ">x",
            "%x",
            "@x",
            "`x",
            "[a]",
            "{a}",
            "'q",
            "\"q",
            "?x",
            ":x",
            "---",
            "...",
            "tab\there",
            "bell\u{7}",
            "nel\u{85}",
            "ls\u{2028}",
            "bom\u{FEFF}",
        ] {
            let text = scalar(trap);
            assert!(
                text.starts_with(['\'', '"']),
                "{trap:?} must be quoted, got {text}"
            );
        }
    }

    #[test]
    fn ordinary_strings_stay_plain() {
        for plain in [
            "shop",
            "10m",
            "32Mi",
            "1.31.4",
            "0 2 * * 2,4",
            "4h",
            "--dir",
            "/app/migrate",
            "ghcr.io/example/sluice:0.1.0",
            "argocd.argoproj.io/hook",
            "a,b",
            "Tue/Thu window",
            "704107569f13ff759a6d80ca646b9d67a8ebb0f9963a3b6127555e8d0857d2e1",
            "1e",
            "0x1g",
            "BeforeHookCreation,HookSucceeded",
            "-30",
            "x-1",
            "v1",
            "café",
        ] {
            let expected = if plain == "-30" { "'-30'" } else { plain };
            assert_eq!(scalar(plain), expected, "{plain:?}");
        }
    }

    #[test]
    fn multi_line_strings_are_block_literals_when_safe() {
        assert_eq!(scalar("a\nb\n"), "|\n  a\n  b");
        assert_eq!(scalar("a\n\nb"), "|-\n  a\n\n  b");
        assert_eq!(scalar("a\n\n"), "|+\n  a\n");
        assert_eq!(scalar(" a\nb"), "\" a\\nb\"");
        assert_eq!(scalar("a \nb"), "\"a \\nb\"");
        assert_eq!(scalar("\na"), "\"\\na\"");
        assert_eq!(quote_string("a\nb", 0, true), "\"a\\nb\"");
    }

    #[test]
    fn floats_have_a_fraction_and_a_signed_exponent() {
        assert_eq!(to_yaml(&json!(1e20)), "1.0e+20\n");
        assert_eq!(to_yaml(&json!(1.5e-7)), "1.5e-7\n");
        assert_eq!(to_yaml(&json!(100.0)), "100.0\n");
        assert_eq!(to_yaml(&json!(-3)), "-3\n");
    }

    #[test]
    fn documents_are_block_style_in_key_order() {
        let v = json!({
            "kind": "Deployment",
            "metadata": {"name": "api", "labels": {}},
            "spec": {"containers": [{"name": "app", "args": ["--port", "8080"], "env": []}],
                      "nested": [[1, 2], [{"a": "on"}]]},
            "script": "set -e\necho hi\n",
        });
        assert_eq!(
            to_yaml(&v),
            "kind: Deployment\nmetadata:\n  name: api\n  labels: {}\nspec:\n  containers:\n  - name: app\n    args:\n    - --port\n    - '8080'\n    env: []\n  nested:\n  - - 1\n    - 2\n  - - a: 'on'\nscript: |\n  set -e\n  echo hi\n"
        );
    }

    #[test]
    fn long_keys_use_the_explicit_form() {
        let key = "k".repeat(1200);
        let v = json!({ key.clone(): "v" });
        assert_eq!(to_yaml(&v), format!("? {key}\n: v\n"));
    }

    #[test]
    fn output_reads_back_with_our_own_yaml_1_1_reader() {
        let v =
            json!({"a": ["0644", "on", 1.5, null, true, "x\ny\n", {"": "", "~": "~"}], "b": {}});
        let docs = super::super::yaml::parse_stream(&to_yaml(&v), &super::super::Limits::default())
            .expect("reads back");
        assert_eq!(docs[0].value, v);
    }

    /// Strings that exercise the quoting rules: the YAML 1.1 traps, then anything.
    fn arb_string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let traps = prop::sample::select(vec![
            "on",
            "Off",
            "yEs",
            "n",
            "Y",
            "~",
            "null",
            "",
            "0644",
            "0o17",
            "0x1F",
            "0b11",
            "1_000",
            "1.10",
            "1e3",
            "1E+3",
            ".5",
            "-.inf",
            ".NaN",
            "190:20:30",
            "2001-12-14",
            "2001-12-14 21:59:43.10 -5",
            "<<",
            "=",
            "-",
            "- a",
            "? a",
            ": a",
            "a: b",
            "a #b",
            "#",
            "'",
            "\"",
            "\\",
            "---",
            "...",
            " a",
            "a ",
            "a\nb",
            "a\n",
            "a\n\n",
            "\n",
            " \n",
            "a \nb",
            "\ta",
            "\u{85}",
            "\u{2028}",
            "\u{FEFF}x",
            "\u{0}",
            "1.31.4",
        ])
        .prop_map(String::from);
        prop_oneof![
            3 => traps,
            2 => "[-+.:#'\" a-z0-9eExX_\n~<=]{0,8}",
            1 => any::<String>(),
            1 => "\\PC{0,12}",
        ]
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            arb_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((arb_string(), inner), 0..5)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    /// The property test: many generated values, written as YAML, read back by `PyYAML` (YAML 1.1,
    /// the reader the tests use as Kubernetes' stand-in) in one Python process, and by our own
    /// go-yaml v2 reader, must equal the JSON they were written from: same types, same key order.
    #[test]
    fn generated_yaml_reads_back_as_the_json_in_pyyaml_and_our_reader() {
        use proptest::strategy::{Strategy, ValueTree};
        const CASES: usize = 3000;
        let mut runner = proptest::test_runner::TestRunner::default();
        let strategy = arb_value();
        let mut pairs = Vec::with_capacity(CASES);
        for _ in 0..CASES {
            let value = strategy.new_tree(&mut runner).expect("value").current();
            let yaml = to_yaml(&value);
            let ours = super::super::yaml::parse_stream(&yaml, &super::super::Limits::default())
                .unwrap_or_else(|e| panic!("our reader fails on {yaml:?}: {e}"));
            assert_eq!(ours.len(), 1, "{yaml:?}");
            assert_eq!(ours[0].value, value, "our reader: {yaml:?}");
            pairs.push(json!([serde_json::to_string(&value).expect("json"), yaml]));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cases.json");
        std::fs::write(&path, serde_json::to_vec(&pairs).expect("json")).expect("write");
        let script = r"
import json, math, sys, yaml
def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b
bad = []
for i, (j, y) in enumerate(json.load(open(sys.argv[1]))):
    try:
        ok = same(yaml.safe_load(y), json.loads(j))
    except Exception as e:
        ok = False
    if not ok:
        bad.append({'json': j, 'yaml': y})
print(json.dumps({'checked': i + 1, 'bad': bad[:5], 'failures': len(bad)}))
";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
            .expect(
                "python3 with `PyYAML` is needed (tests/requirements.txt, tests/run installs it)",
            );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("report");
        assert_eq!(report["checked"], CASES, "{report}");
        assert_eq!(
            report["failures"], 0,
            "`PyYAML` reads these differently: {report:#}"
        );
    }
}
