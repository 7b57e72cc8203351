//! Canonical bytes of a record and the SHA-256 chain over them. Takes JSON values, gives bytes and
//! hex digests; no I/O, no clock.
//!
//! The byte rule (docs/audit-log.md states it for people, and a test checks it against `jq -cS`):
//! - objects: keys sorted by their UTF-8 bytes, `{"k":v,...}` with no whitespace;
//! - arrays: `[v,...]` in order;
//! - strings: `"` and `\` escaped with a backslash; `\b \t \n \f \r` as those two-character escapes;
//!   every other code point below U+0020, and U+007F, as `\u00xx` (lower-case hex); everything else as
//!   raw UTF-8;
//! - numbers: integers with |n| ≤ 2^53 − 1 in plain decimal (no fraction, no exponent); any other
//!   number is not canonical (records never hold one; `jq` versions disagree on them);
//! - `true`, `false`, `null`.
//!
//! A record's line in `audit.jsonl` is exactly its canonical bytes; its `hash` is
//! `sha256(prev_hex ++ canonical(record without "hash"))` in lower-case hex.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The largest integer magnitude that the canonical form admits (2^53 − 1): every JSON tool reads it exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A value that has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("the number {0} is not an integer within ±(2^53 − 1), so it has no canonical form")]
    Number(String),
}

/// The canonical bytes of `value` (see the module doc).
///
/// # Errors
///
/// A number that is not a safe integer.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::with_capacity(512);
    write_value(&mut out, value)?;
    Ok(out.into_bytes())
}

/// The canonical bytes of an object (a record), without building a `Value` around it.
///
/// # Errors
///
/// A number that is not a safe integer.
pub fn object_to_canonical(map: &Map<String, Value>) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::with_capacity(512);
    write_object(&mut out, map, None)?;
    Ok(out.into_bytes())
}

/// The canonical bytes of `map` with `extra` members added (they replace members of the same key),
/// without copying the map: how the log writer seals a record with its `seq`, `prev` and `hash`.
///
/// # Errors
///
/// A number that is not a safe integer.
pub fn object_with_to_canonical(
    map: &Map<String, Value>,
    extra: &[(&str, &Value)],
) -> Result<Vec<u8>, CanonicalError> {
    let mut members: Vec<(&str, &Value)> = map
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .map(|(k, v)| (k.as_str(), v))
        .chain(extra.iter().copied())
        .collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(1024);
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(&mut out, key);
        out.push(':');
        write_value(&mut out, value)?;
    }
    out.push('}');
    Ok(out.into_bytes())
}

/// SHA-256 hex of `prev` followed by `body`.
pub fn hash_after(prev: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(body);
    to_hex(&hasher.finalize())
}

/// The chain hash of a record: SHA-256 hex over `prev` and the canonical bytes of `record` with its
/// `hash` key (if any) left out.
///
/// # Errors
///
/// A number that is not a safe integer.
pub fn chain_hash(prev: &str, record: &Map<String, Value>) -> Result<String, CanonicalError> {
    let mut body = String::with_capacity(512);
    write_object(&mut body, record, Some("hash"))?;
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(body.as_bytes());
    Ok(to_hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn write_value(out: &mut String, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, None)?,
    }
    Ok(())
}

fn write_object(
    out: &mut String,
    map: &Map<String, Value>,
    skip: Option<&str>,
) -> Result<(), CanonicalError> {
    let mut keys: Vec<&String> = map.keys().filter(|k| Some(k.as_str()) != skip).collect();
    // `str` orders by UTF-8 bytes, which is the rule (and jq's).
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, &map[key.as_str()])?;
    }
    out.push('}');
    Ok(())
}

fn write_number(out: &mut String, n: &serde_json::Number) -> Result<(), CanonicalError> {
    let safe = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u <= MAX_SAFE_INTEGER,
        (None, Some(i)) => i.unsigned_abs() <= MAX_SAFE_INTEGER,
        _ => false,
    };
    if !safe {
        return Err(CanonicalError::Number(n.to_string()));
    }
    let _ = write!(out, "{n}");
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Copy runs of characters that need no escape in one go.
    let mut run_start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            c if (c as u32) < 0x20 || c == '\u{7f}' => "",
            _ => continue,
        };
        out.push_str(&s[run_start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(escape);
        }
        run_start = i + c.len_utf8();
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_by_bytes_at_every_depth() {
        let v = json!({"b": {"z": 1, "a": [true, null]}, "a": "x", "B": false});
        let got = String::from_utf8(to_canonical(&v).unwrap()).unwrap();
        assert_eq!(got, r#"{"B":false,"a":"x","b":{"a":[true,null],"z":1}}"#);
    }

    #[test]
    fn escapes_strings_as_jq_does() {
        let v = json!("q\"b\\s\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é/\u{2028}");
        let got = String::from_utf8(to_canonical(&v).unwrap()).unwrap();
        assert_eq!(
            got,
            "\"q\\\"b\\\\s\\b\\t\\n\\f\\r\\u0001\\u001f\\u007fé/\u{2028}\""
        );
    }

    #[test]
    fn rejects_floats_and_unsafe_integers() {
        assert!(to_canonical(&json!(1.5)).is_err());
        assert!(to_canonical(&json!(9_007_199_254_740_992_u64)).is_err());
        assert!(to_canonical(&json!(-9_007_199_254_740_992_i64)).is_err());
        assert_eq!(
            to_canonical(&json!([-9_007_199_254_740_991_i64, 0])).unwrap(),
            b"[-9007199254740991,0]"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_string_round_trips_through_canonical_bytes(text in "\\PC*|[\\x00-\\x7f]*") {
            let bytes = to_canonical(&json!(text)).unwrap();
            let back: String = serde_json::from_slice(&bytes).unwrap();
            proptest::prop_assert_eq!(back, text);
            // Canonical bytes are a fixed point.
            let again = to_canonical(&serde_json::from_slice(&bytes).unwrap()).unwrap();
            proptest::prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn extra_members_seal_like_inserted_ones() {
        let mut map = Map::new();
        map.insert("z".into(), json!("é\n"));
        map.insert("seq".into(), json!(99));
        map.insert("a".into(), json!({"y": 1, "b": [null]}));
        let (seq, prev) = (json!(3), json!("p"));
        let sealed = object_with_to_canonical(&map, &[("seq", &seq), ("prev", &prev)]).unwrap();
        let mut inserted = map.clone();
        inserted.insert("seq".into(), seq);
        inserted.insert("prev".into(), prev);
        assert_eq!(sealed, object_to_canonical(&inserted).unwrap());
        assert_eq!(
            hash_after("p", &sealed),
            chain_hash("p", &inserted).unwrap()
        );
    }

    #[test]
    fn chain_hash_leaves_out_the_hash_key() {
        let mut with = Map::new();
        with.insert("seq".into(), json!(1));
        with.insert("hash".into(), json!("whatever"));
        let mut without = Map::new();
        without.insert("seq".into(), json!(1));
        assert_eq!(
            chain_hash(GENESIS, &with).unwrap(),
            chain_hash(GENESIS, &without).unwrap()
        );
        // sha256("000…0" ++ "{\"seq\":1}"), computed independently with sha256sum.
        assert_eq!(
            chain_hash(GENESIS, &without).unwrap(),
            "0a00898550374c41186879d92f30325cd0a550ce8c5da4d9aeef34a95c0b85ea"
        );
    }
}
