//! The canonical-form check on a line's bytes as they are (issue 28): whether a record's line is its
//! canonical bytes (canonical.rs states the rule), decided in one pass over the bytes without parsing
//! the record into a map and writing it again, and the record's chain hash computed from those same
//! bytes. Takes bytes, gives the members the chain needs; no I/O.
//!
//! [`canonical_fields`] accepts exactly the lines that `object_to_canonical(parse(line)) == line`
//! accepts (a test holds the two to each other on golden records and on mutated lines). Anything it
//! does not accept goes to the slow check in line.rs, which names the reason as it always did.

use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::ops::Range;

/// Deepest nesting accepted here (`serde_json` refuses beyond 128; deeper lines go to the slow check).
const MAX_DEPTH: usize = 100;

/// The members of a canonical record line that the chain needs, as byte ranges of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// `seq`, when it is a non-negative integer.
    pub seq: Option<u64>,
    /// The contents (between the quotes) of `prev`, when it is a string.
    pub prev: Option<Range<usize>>,
    /// The contents of `hash`, when it is a string.
    pub hash: Option<Range<usize>>,
    /// The bytes to leave out to get the record without its `hash` member (the member and one comma).
    pub hash_member: Option<Range<usize>>,
}

/// Where a member of a line's object is: its name (the bytes between its quotes, as written, escapes
/// and all) and its value's JSON text.
pub type Span = (Range<usize>, Range<usize>);

/// When `line` (without its newline) is the canonical bytes of a JSON object, the members the chain
/// needs; `None` when it is not (not JSON, not an object, not canonical, or nested deeper than 100).
pub fn canonical_fields(line: &[u8]) -> Option<Fields> {
    canonical_fields_with(line, None)
}

/// [`canonical_fields`], also noting in `spans` (when given; cleared first) where each member of the
/// object is, in order, as the scan passes it: what the owner of the log reads the record from without
/// scanning the line again. Holds what it noted only when the line is canonical.
pub fn canonical_fields_with(line: &[u8], mut spans: Option<&mut Vec<Span>>) -> Option<Fields> {
    if let Some(spans) = spans.as_deref_mut() {
        spans.clear();
    }
    // One UTF-8 check of the whole line; the scanner then only looks at ASCII bytes.
    std::str::from_utf8(line).ok()?;
    let mut s = Scanner { b: line, i: 0 };
    let mut fields = Fields {
        seq: None,
        prev: None,
        hash: None,
        hash_member: None,
    };
    s.object(0, Some(&mut fields), spans)?;
    (s.i == line.len()).then_some(fields)
}

/// Where each member of a canonical line is (what the check notes as it goes).
#[cfg(test)]
pub fn spans(line: &[u8]) -> Option<Vec<Span>> {
    let mut spans = Vec::new();
    canonical_fields_with(line, Some(&mut spans))?;
    Some(spans)
}

/// The chain hash of a canonical line whose members are `fields`: SHA-256 over `prev` and the line
/// without its `hash` member, as 32 bytes.
pub fn chain_hash_of(line: &[u8], fields: &Fields) -> Option<[u8; 32]> {
    let prev = &line[fields.prev.clone()?];
    let mut hasher = Sha256::new();
    hasher.update(prev);
    match &fields.hash_member {
        Some(cut) => {
            hasher.update(&line[..cut.start]);
            hasher.update(&line[cut.end..]);
        }
        None => hasher.update(line),
    }
    Some(hasher.finalize().into())
}

/// Whether `hex` is the lower-case hex of `digest`.
pub fn is_hex_of(hex: &[u8], digest: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.len() == 64
        && digest.iter().enumerate().all(|(i, b)| {
            hex[2 * i] == DIGITS[usize::from(b >> 4)]
                && hex[2 * i + 1] == DIGITS[usize::from(b & 15)]
        })
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, None, None),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(w).then(|| self.i += w.len())
    }

    /// A canonical integer: `0`, or an optional `-` and digits without a leading zero, |n| ≤ 2^53 − 1
    /// (and not `-0`). Gives its magnitude and whether it is negative.
    fn number(&mut self) -> Option<(u64, bool)> {
        let negative = self.eat(b'-').is_some();
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = &self.b[start..self.i];
        if digits.is_empty() || digits.len() > 16 || (digits[0] == b'0' && digits.len() > 1) {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if n > super::canonical::MAX_SAFE_INTEGER || (negative && n == 0) {
            return None;
        }
        Some((n, negative))
    }

    /// A canonical string; gives the range of its contents (between the quotes) and whether it holds
    /// an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            // Bytes that need no look: everything but `"`, `\`, controls and DEL (UTF-8 was checked).
            self.i += special(&self.b[self.i..])?;
            match self.b[self.i] {
                b'"' => {
                    let range = start..self.i;
                    self.i += 1;
                    return Some((range, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// One escape as canonical.rs writes it: `\" \\ \b \t \n \f \r`, or `\u00xx` (lower-case hex) for
    /// the other controls and DEL.
    fn escape(&mut self) -> Option<()> {
        let next = *self.b.get(self.i + 1)?;
        if matches!(next, b'"' | b'\\' | b'b' | b't' | b'n' | b'f' | b'r') {
            self.i += 2;
            return Some(());
        }
        let u = self.b.get(self.i + 1..self.i + 6)?;
        if u[0] != b'u' || u[1] != b'0' || u[2] != b'0' {
            return None;
        }
        let hex = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let code = hex(u[3])? << 4 | hex(u[4])?;
        let written_as_two = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
        if (code < 0x20 && !written_as_two) || code == 0x7f {
            self.i += 6;
            Some(())
        } else {
            None
        }
    }

    /// A canonical object: members with keys in strictly increasing order of their UTF-8 bytes. At the
    /// top (`fields` given), notes `seq`, `prev` and `hash`.
    fn object(
        &mut self,
        depth: usize,
        mut fields: Option<&mut Fields>,
        mut spans: Option<&mut Vec<Span>>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut last: Option<Cow<'a, [u8]>> = None;
        loop {
            let member_start = self.i;
            let (name, escaped) = self.string()?;
            let key: Cow<'a, [u8]> = if escaped {
                Cow::Owned(unescape(&self.b[name.clone()])?)
            } else {
                Cow::Borrowed(&self.b[name.clone()])
            };
            if last.as_deref().is_some_and(|l| l >= &*key) {
                return None;
            }
            self.eat(b':')?;
            let value_start = self.i;
            match fields.as_deref_mut() {
                Some(f)
                    if &*key == b"seq"
                        && self.peek().is_some_and(|c| c == b'-' || c.is_ascii_digit()) =>
                {
                    let (n, negative) = self.number()?;
                    f.seq = (!negative).then_some(n);
                }
                Some(f) if (&*key == b"prev" || &*key == b"hash") && self.peek() == Some(b'"') => {
                    let (range, _) = self.string()?;
                    if &*key == b"prev" {
                        f.prev = Some(range);
                    } else {
                        f.hash = Some(range);
                        // The member and the comma before it, or after it when it comes first.
                        let cut = if member_start > 1 {
                            member_start - 1..self.i
                        } else if self.peek() == Some(b',') {
                            member_start..self.i + 1
                        } else {
                            member_start..self.i
                        };
                        f.hash_member = Some(cut);
                    }
                }
                _ => self.value(depth)?,
            }
            if let Some(spans) = spans.as_deref_mut() {
                spans.push((name, value_start..self.i));
            }
            last = Some(key);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The UTF-8 bytes of string contents whose escapes were checked canonical.
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = match *raw.get(i + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'b' => 0x08,
            b't' => b'\t',
            b'n' => b'\n',
            b'f' => 0x0c,
            b'r' => b'\r',
            b'u' => {
                let hex = std::str::from_utf8(raw.get(i + 2..i + 6)?).ok()?;
                let code = u8::from_str_radix(hex, 16).ok()?;
                out.push(code);
                i += 6;
                continue;
            }
            _ => return None,
        };
        out.push(c);
        i += 2;
    }
    Some(out)
}

/// Where the first byte of `b` is that a string cannot hold as it is: `"`, `\`, a control or DEL.
/// Eight bytes at a time (the scan's most frequent question: most of a line is inside strings).
fn special(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    /// The high bit of each byte of `w` that is below `n` (for bytes under 0x80; a byte at or above
    /// 0x80 is left out by `!w`). A borrow only ever comes from a byte below it that is itself below
    /// `n`, so the lowest bit set is always a true one.
    fn below(w: u64, n: u8) -> u64 {
        w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH
    }
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        // `chunks_exact(8)` gives 8 bytes.
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w ^ (ONES * 0x7f), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20 || c == 0x7f)
        .map(|p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::{chain_hash, object_to_canonical};
    use serde_json::{Map, Value};

    /// The check as it was: parse, write again, compare.
    fn slow(line: &[u8]) -> bool {
        serde_json::from_slice::<Map<String, Value>>(line)
            .ok()
            .is_some_and(|m| object_to_canonical(&m).ok().as_deref() == Some(line))
    }

    /// The fast check and the slow one agree on `line`, and so do their chain hashes.
    fn agree(line: &[u8]) {
        let fast = canonical_fields(line);
        assert_eq!(
            fast.is_some(),
            slow(line),
            "they disagree on {:?}",
            String::from_utf8_lossy(line)
        );
        if let Some(fields) = fast {
            let map: Map<String, Value> = serde_json::from_slice(line).unwrap();
            // Where the check found each member: the map's members, in order.
            let found: Vec<(String, Value)> = spans(line)
                .expect("canonical")
                .into_iter()
                .map(|(name, value)| {
                    let quoted = &line[(name.start - 1)..=name.end];
                    (
                        serde_json::from_slice(quoted).unwrap(),
                        serde_json::from_slice(&line[value]).unwrap(),
                    )
                })
                .collect();
            let want: Vec<(String, Value)> =
                map.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            assert_eq!(found, want, "{:?}", String::from_utf8_lossy(line));
            let prev = map.get("prev").and_then(Value::as_str);
            assert_eq!(
                fields.seq,
                map.get("seq").and_then(Value::as_u64),
                "{:?}",
                String::from_utf8_lossy(line)
            );
            let raw = fields.prev.clone().map(|r| &line[r]);
            if raw.is_some_and(|r| !r.contains(&b'\\')) {
                assert_eq!(raw, prev.map(str::as_bytes));
            }
            if let Some(prev) = prev.filter(|p| raw == Some(p.as_bytes())) {
                let digest = chain_hash_of(line, &fields).unwrap();
                let want = chain_hash(prev, &map).unwrap();
                assert!(is_hex_of(want.as_bytes(), &digest));
            }
        }
    }

    fn golden() -> Vec<Vec<u8>> {
        let text = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/audit/golden/audit.jsonl"),
        )
        .unwrap();
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn the_fast_check_agrees_with_parse_and_write_again_on_golden_and_mutated_lines() {
        let lines = golden();
        assert!(lines.len() > 20);
        let mut tried = 0;
        for line in &lines {
            assert!(
                canonical_fields(line).is_some(),
                "a golden line is canonical"
            );
            agree(line);
            for i in 0..line.len() {
                // Each byte left out; every 11th replaced by, or following, bytes that matter.
                let mut cut = line.clone();
                cut.remove(i);
                agree(&cut);
                if i % 11 != 0 {
                    continue;
                }
                for b in [
                    b'"', b'\\', b',', b':', b'}', b' ', b'0', b'-', b'u', 0x7f, 0x1f, 0xc3,
                ] {
                    let mut changed = line.clone();
                    changed[i] = b;
                    agree(&changed);
                    let mut inserted = line.clone();
                    inserted.insert(i, b);
                    agree(&inserted);
                    tried += 3;
                }
            }
        }
        assert!(tried > 50_000);
    }

    #[test]
    fn the_fast_check_agrees_on_the_edges_of_the_canonical_form() {
        let cases: &[&str] = &[
            r"{}",
            r#"{"a":1,"b":2}"#,
            r#"{"b":2,"a":1}"#,
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"a":2}"#,
            r#"{ "a":1}"#,
            r#"{"a":1} "#,
            r#"{"a":1}{}"#,
            r"[1]",
            r#""a""#,
            r#"{"a":-0}"#,
            r#"{"a":0}"#,
            r#"{"a":-1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e2}"#,
            r#"{"a":9007199254740991}"#,
            r#"{"a":9007199254740992}"#,
            r#"{"a":-9007199254740991}"#,
            r#"{"a":-9007199254740992}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"a":"é"}"#,
            r#"{"a":"\/"}"#,
            r#"{"a":"/"}"#,
            r#"{"a":"\u001f"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\u0008"}"#,
            r#"{"a":"\b\t\n\f\r\"\\"}"#,
            r#"{"a":"\u007f"}"#,
            "{\"a\":\"\u{7f}\"}",
            r#"{"a":"\ud83d\ude00"}"#,
            "{\"a\":\"\u{1F600}\"}",
            r#"{"a":"\u0000"}"#,
            r#"{"a":[]}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":{"c":null,"b":true}}"#,
            r#"{"a":{"b":true,"c":false}}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            // Keys compare by their decoded bytes: `"` (0x22) sorts before `#`, though `\` does not.
            r##"{"\"":1,"#":2}"##,
            r##"{"#":2,"\"":1}"##,
            r#"{"\u001f":1,"\n":2}"#,
            r#"{"\n":2,"\u001f":1}"#,
            r#"{"hash":"x","prev":"y","seq":3}"#,
            r#"{"hash":"x"}"#,
            r#"{"a":1,"hash":"x"}"#,
            r#"{"seq":-3}"#,
            r#"{"seq":"3"}"#,
        ];
        for case in cases {
            agree(case.as_bytes());
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(150), "]".repeat(150));
        agree(deep.as_bytes());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(90), "]".repeat(90));
        agree(deep.as_bytes());
        assert!(canonical_fields(deep.as_bytes()).is_some());
        agree(b"{\"a\":\"\xff\"}");
    }

    /// The byte-at-a-time answer.
    fn special_slow(b: &[u8]) -> Option<usize> {
        b.iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20 || c == 0x7f)
    }

    #[test]
    fn special_finds_the_first_byte_a_string_cannot_hold() {
        // Every byte value at every place of a 17-byte run of 'a' (two words and a remainder), and
        // after a UTF-8 byte, whose high bit must not hide the byte above it.
        for c in 0..=255u8 {
            for at in 0..17 {
                let mut b = vec![b'a'; 17];
                b[at] = c;
                assert_eq!(special(&b), special_slow(&b), "{c:#x} at {at}");
                if at > 0 {
                    b[at - 1] = 0xc3;
                    assert_eq!(special(&b), special_slow(&b), "{c:#x} after 0xc3 at {at}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn special_is_the_first_such_byte(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            proptest::prop_assert_eq!(special(&b), special_slow(&b));
        }

        #[test]
        fn the_fast_check_agrees_on_any_object_of_strings(
            members in proptest::collection::btree_map("\\PC{0,6}|[\\x00-\\x7f]{0,6}", "\\PC{0,8}|[\\x00-\\x7f]{0,8}", 0..6),
            cut in 0usize..64,
        ) {
            let map: Map<String, Value> = members.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            let line = object_to_canonical(&map).unwrap();
            proptest::prop_assert!(canonical_fields(&line).is_some());
            let mut cut_line = line.clone();
            cut_line.remove(cut % line.len());
            agree(&cut_line);
        }
    }
}
