//! A record's members read from its line as they are, without building the record: each member kept
//! as the JSON text it is, and read as a string, number, flag or object only when asked, the way
//! `serde_json::Value`'s `as_str`, `as_u64`, `as_bool` and `as_object` read it (a member of another
//! type reads as absent). The sink's fold reads every line of the log this way at a first start
//! (issue 28): building each record as a map cost more than checking and hashing its line.
//! [`Members`] reads a record the same way whether it is a line's [`Facts`] or a map, so that what is
//! derived from both (the record's filing) is written once.
//! [`entry`] is how a fold keeps what it learns under a name without copying the name each time.
//!
//! The log's lines are compact JSON (canonical.rs writes them, and they are checked before they are
//! read), so an object is split into its members by finding where each member's text ends: strings
//! skipped with `memchr`, brackets counted. JSON with whitespace between tokens, which no line of the
//! log has, is read by `serde_json` instead. Neither checks what it skips beyond that: what is read here
//! is a line the chain verified, or one this process wrote.

use crate::ledger::Span;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// A JSON object's members, each as the JSON it is, borrowed from the text it was read from.
#[derive(Debug, Clone)]
pub struct Facts<'a>(Inner<'a>);

#[derive(Debug, Clone)]
enum Inner<'a> {
    /// A canonical line (valid UTF-8: its check said so, and each member is cut at ASCII bytes), where
    /// its check found each member (names as written, escapes and all), and where to look for each
    /// name first.
    Spans(&'a [u8], &'a [Span], Table),
    /// The members, names unescaped.
    Members(Vec<(Cow<'a, str>, Member<'a>)>),
}

/// One member's JSON text, and whether it is part of a canonical line (whose objects never name a
/// member twice: a search for a name can stop at the first).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a>(&'a str, bool);

impl<'a> Facts<'a> {
    /// The members of a line of the log (with or without its newline), taken from where its check found
    /// each of them (`spans`, in order, as `ledger::Span` says: a canonical line's names are in
    /// strictly increasing order); found in the line when `spans` is empty. `None` when the line is
    /// not a JSON object.
    pub fn of_line(line: &'a [u8], spans: &'a [Span]) -> Option<Self> {
        if spans.is_empty() {
            let text = std::str::from_utf8(line).ok()?;
            return Self::of_text(text.trim_end_matches(['\n', '\r', ' ', '\t']));
        }
        // The line is not checked as UTF-8 again (its check did): each member read is, as a member.
        Some(Facts(Inner::Spans(line, spans, Table::of(line, spans))))
    }

    fn of(members: Vec<(Cow<'a, str>, Member<'a>)>) -> Self {
        Facts(Inner::Members(members))
    }

    /// Whether the object has no member.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Inner::Spans(_, spans, _) => spans.is_empty(),
            Inner::Members(members) => members.is_empty(),
        }
    }

    fn of_text(text: &'a str) -> Option<Self> {
        // A record has about 30 members.
        let mut members = Vec::with_capacity(32);
        for member in Split::of(text)? {
            match member {
                Ok((name, value)) => members.push((name, Member(value, false))),
                Err(NotCompact) => return serde_json::from_str::<Parsed>(text).ok().map(|p| p.0),
            }
        }
        Some(Facts::of(members))
    }

    /// The member `name` (the last, were there two, as a map keeps it).
    pub fn get(&self, name: &str) -> Option<Member<'a>> {
        match &self.0 {
            // A canonical line writes a name as it is unless it holds a quote, a backslash, a control
            // or DEL (the check takes no other escape), and never twice: the name written as `name`
            // is the one.
            Inner::Spans(text, spans, table) if !needs_escape(name) => table
                .find(name.as_bytes(), spans.len(), |at| {
                    text.get(spans[at].0.clone()) == Some(name.as_bytes())
                })
                .and_then(|at| member_of(text, &spans[at].1)),
            Inner::Spans(text, spans, _) => spans.iter().find_map(|(n, value)| {
                let raw = text.get(n.clone())?;
                let named = raw.contains(&b'\\')
                    && text
                        .get(n.start.checked_sub(1)?..=n.end)
                        .and_then(|quoted| serde_json::from_slice::<String>(quoted).ok())
                        .is_some_and(|n| n == name);
                named.then(|| member_of(text, value))?
            }),
            Inner::Members(members) => members
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v),
        }
    }

    /// The member at `path`: `["app", "name"]` is member `name` of the object in member `app`.
    pub fn at(&self, path: &[&str]) -> Option<Member<'a>> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(self.get(first)?, |member, name| member.member(name))
    }

    /// The string at `path`, when it is a non-empty one, as an owned name (what a fold keeps).
    pub fn named(&self, path: &[&str]) -> Option<String> {
        self.at(path)?
            .text()
            .filter(|s| !s.is_empty())
            .map(Cow::into_owned)
    }

    /// The object at `path`, when it is a non-empty one (how the fold reads an evidence member).
    pub fn filled(&self, path: &[&str]) -> Option<Facts<'a>> {
        self.at(path)?.object().filter(|o| !o.is_empty())
    }
}

impl<'a> Member<'a> {
    /// The string, as `Value::as_str` reads it.
    pub fn text(self) -> Option<Cow<'a, str>> {
        let inner = self.0.strip_prefix('"')?.strip_suffix('"')?;
        if inner.contains('\\') {
            serde_json::from_str::<String>(self.0).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(inner))
        }
    }

    /// The number, as `Value::as_u64` reads it: an integer from 0 to `u64::MAX`.
    pub fn u64(self) -> Option<u64> {
        // JSON's integers are Rust's, but for `-0`, which serde_json reads as a float.
        self.0.parse().ok()
    }

    /// The flag, as `Value::as_bool` reads it.
    pub fn boolean(self) -> Option<bool> {
        match self.0 {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Whether the member is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// The object's members, as `Value::as_object` reads it.
    pub fn object(self) -> Option<Facts<'a>> {
        if !self.0.starts_with('{') {
            return None;
        }
        let mut facts = Facts::of_text(self.0)?;
        if let Inner::Members(members) = &mut facts.0 {
            for (_, member) in members {
                member.1 = self.1;
            }
        }
        Some(facts)
    }

    /// The object's member `name` (the last, were there two), found without gathering the others (nor
    /// looking past it, in a canonical line).
    pub fn member(self, name: &str) -> Option<Member<'a>> {
        let mut found = None;
        for member in Split::of(self.0)? {
            match member {
                Ok((n, value)) if n == name => {
                    found = Some(Member(value, self.1));
                    if self.1 {
                        break;
                    }
                }
                Ok(_) => {}
                Err(NotCompact) => return self.object()?.get(name),
            }
        }
        found
    }

    /// The member read whole, as a value.
    pub fn value(self) -> Option<Value> {
        serde_json::from_str(self.0).ok()
    }
}

/// The member of a canonical `line` at `value`.
fn member_of<'a>(line: &'a [u8], value: &Range<usize>) -> Option<Member<'a>> {
    let text = std::str::from_utf8(line.get(value.clone())?).ok()?;
    Some(Member(text, true))
}

/// Where a line's members are by their names: an open-addressing hash table of the spans' indexes
/// (plus one; 0 is an empty slot), keyed by a name's length and first and last bytes as written. A
/// record reads about 15 members of about 30: each found in a probe or two, not by comparing names
/// along the line. Lines with more members than [`Table::MAX`] have none (`None`): they are searched in
/// order.
#[derive(Debug, Clone)]
struct Table(Option<[u8; Table::SLOTS]>);

impl Table {
    const SLOTS: usize = 64;
    const MAX: usize = 48;

    fn of(line: &[u8], spans: &[Span]) -> Table {
        if spans.len() > Table::MAX {
            return Table(None);
        }
        let mut slots = [0u8; Table::SLOTS];
        for (at, (name, _)) in spans.iter().enumerate() {
            let mut slot = Table::slot(line.get(name.clone()).unwrap_or_default());
            while slots[slot] != 0 {
                slot = (slot + 1) % Table::SLOTS;
            }
            // At most 48 spans: the index fits.
            slots[slot] = u8::try_from(at + 1).unwrap_or(u8::MAX);
        }
        Table(Some(slots))
    }

    fn slot(name: &[u8]) -> usize {
        let (first, last) = (name.first().copied(), name.last().copied());
        let h = (name.len() as u32)
            ^ u32::from(first.unwrap_or(0)) << 8
            ^ u32::from(last.unwrap_or(0)) << 16;
        (h.wrapping_mul(0x9E37_79B1) >> 26) as usize
    }

    /// The index of the span (of `count`) whose name is `name` (`is` compares a span's name with it):
    /// probed from the name's slot, or every span in order when the line had too many for the table.
    fn find(&self, name: &[u8], count: usize, is: impl Fn(usize) -> bool) -> Option<usize> {
        let Some(slots) = &self.0 else {
            return (0..count).find(|&at| is(at));
        };
        let mut slot = Table::slot(name);
        loop {
            let at = usize::from(slots[slot]).checked_sub(1)?;
            if is(at) {
                return Some(at);
            }
            slot = (slot + 1) % Table::SLOTS;
        }
    }
}

/// Whether a canonical line writes `name` with an escape: it holds a quote, a backslash, a control or
/// DEL.
fn needs_escape(name: &str) -> bool {
    name.bytes()
        .any(|c| c == b'"' || c == b'\\' || c < 0x20 || c == 0x7f)
}

/// Text that is not compact JSON: read by `serde_json` instead.
struct NotCompact;

/// The members of a compact JSON object, in order: each name (unescaped) and its value's text.
struct Split<'a> {
    text: &'a str,
    at: usize,
    done: bool,
}

impl<'a> Split<'a> {
    /// The members of `text`, which is an object (`None`: it is not).
    fn of(text: &'a str) -> Option<Self> {
        if !text.starts_with('{') {
            return None;
        }
        Some(Split {
            text,
            at: 1,
            done: text == "{}",
        })
    }

    fn member(&mut self) -> Result<(Cow<'a, str>, &'a str), NotCompact> {
        let b = self.text.as_bytes();
        let name_end = string_end(b, self.at)?;
        let quoted = &self.text[self.at..name_end];
        let name = if quoted.contains('\\') {
            Cow::Owned(serde_json::from_str(quoted).map_err(|_| NotCompact)?)
        } else {
            Cow::Borrowed(&quoted[1..quoted.len() - 1])
        };
        if b.get(name_end) != Some(&b':') {
            return Err(NotCompact);
        }
        let start = name_end + 1;
        let end = value_end(b, start)?;
        match b.get(end) {
            Some(b',') if end + 1 < b.len() => self.at = end + 1,
            Some(b'}') if end + 1 == b.len() => self.done = true,
            _ => return Err(NotCompact),
        }
        Ok((name, &self.text[start..end]))
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = Result<(Cow<'a, str>, &'a str), NotCompact>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let member = self.member();
        self.done |= member.is_err();
        Some(member)
    }
}

/// The end (past its closing quote) of the string that starts at `at`.
fn string_end(b: &[u8], at: usize) -> Result<usize, NotCompact> {
    if b.get(at) != Some(&b'"') {
        return Err(NotCompact);
    }
    let mut i = at + 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..).ok_or(NotCompact)?).ok_or(NotCompact)?;
        if b[i] == b'"' {
            return Ok(i + 1);
        }
        // An escape: the byte after the backslash never ends the string.
        i += 2;
    }
}

/// The end of the value that starts at `at`: a string, an object or array (brackets counted, strings
/// skipped), or a number, `true`, `false` or `null`.
fn value_end(b: &[u8], at: usize) -> Result<usize, NotCompact> {
    match b.get(at).ok_or(NotCompact)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    b' ' | b'\t' | b'\n' | b'\r' => return Err(NotCompact),
                    _ => {}
                }
                i += 1;
            }
            Err(NotCompact)
        }
        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            let len = b[at..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .ok_or(NotCompact)?;
            Ok(at + len)
        }
        _ => Err(NotCompact),
    }
}

/// An object's members as `serde_json` reads them: JSON with whitespace between tokens.
struct Parsed<'a>(Facts<'a>);

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Parsed<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Name(name)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            members.push((name, Member(value.get(), false)));
        }
        Ok(Parsed(Facts::of(members)))
    }
}

/// A member's name, borrowed when it has no escape.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }
}

/// What `map` holds under `name`, made when it holds nothing: the name is copied only then (a fold
/// learns from every record in a row, mostly of names it knows).
pub fn entry<'m, V: Default>(map: &'m mut HashMap<String, V>, name: &str) -> &'m mut V {
    if !map.contains_key(name) {
        map.insert(name.to_owned(), V::default());
    }
    // Present: inserted just above when it was not.
    map.get_mut(name).expect("present")
}

/// `map` as the log's line of it, and that line's facts, given to `f` (what the registries' tests
/// learn from).
#[cfg(test)]
pub fn of_map<R>(map: &Map<String, Value>, f: impl FnOnce(&Facts<'_>, &[u8]) -> R) -> R {
    let line = serde_json::to_vec(map).expect("a map serialises");
    f(&Facts::of_line(&line, &[]).expect("an object"), &line)
}

/// A record's members read the same way from a line's [`Facts`] and from a map.
pub trait Members<'a> {
    /// The string at `path` (members of nested objects), as `Value::as_str` reads it.
    fn text(&self, path: &[&str]) -> Option<Cow<'a, str>>;
    /// The flag at `path`, as `Value::as_bool` reads it.
    fn flag(&self, path: &[&str]) -> Option<bool>;
}

impl<'a> Members<'a> for Facts<'a> {
    fn text(&self, path: &[&str]) -> Option<Cow<'a, str>> {
        self.at(path)?.text()
    }

    fn flag(&self, path: &[&str]) -> Option<bool> {
        self.at(path)?.boolean()
    }
}

impl<'a> Members<'a> for &'a Map<String, Value> {
    fn text(&self, path: &[&str]) -> Option<Cow<'a, str>> {
        map_at(self, path)?.as_str().map(Cow::Borrowed)
    }

    fn flag(&self, path: &[&str]) -> Option<bool> {
        map_at(self, path)?.as_bool()
    }
}

fn map_at<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(map.get(*first)?, |value, name| {
        value.as_object()?.get(*name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every way a member can be read, from a line's facts and from the map of the same line, on
    /// members of every JSON type (and escapes, nesting, duplicates, numbers at the edges).
    #[test]
    fn facts_read_every_member_as_the_map_does() {
        let line = br#"{"a":"x\"y\u00e9","b":"plain","c":12,"d":-0,"e":1.5,"f":18446744073709551615,"g":18446744073709551616,"h":true,"i":false,"j":null,"k":{"n":"in","m":{"deep":"er"},"e":{}},"l":[1,"2"],"m":-3,"n":"1","dup":1,"dup":"last","\u00e9":"named"}"#;
        let facts = Facts::of_line(line, &[]).expect("an object");
        let map: Map<String, Value> = serde_json::from_slice(line).expect("a map");
        let names = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "dup", "é",
            "none",
        ];
        for name in names {
            let (fact, value) = (facts.get(name), map.get(name));
            assert_eq!(fact.is_some(), value.is_some(), "{name}");
            let Some(fact) = fact else { continue };
            let value = value.expect("present");
            assert_eq!(fact.text().as_deref(), value.as_str(), "{name} as text");
            assert_eq!(fact.u64(), value.as_u64(), "{name} as u64");
            assert_eq!(fact.boolean(), value.as_bool(), "{name} as bool");
            assert_eq!(fact.is_null(), value.is_null(), "{name} null");
            assert_eq!(fact.object().is_some(), value.is_object(), "{name} object");
            assert_eq!(fact.value().as_ref(), Some(value), "{name} whole");
        }
        let map = &map;
        for path in [
            &["k", "n"][..],
            &["k", "m", "deep"],
            &["k", "e"],
            &["k", "missing"],
            &["b", "x"],
            &["a"],
            &["é"],
        ] {
            assert_eq!(Members::text(&facts, path), map.text(path), "{path:?}");
            assert_eq!(Members::flag(&facts, path), map.flag(path), "{path:?}");
        }
        assert!(facts.filled(&["k"]).is_some());
        assert!(facts.filled(&["k", "e"]).is_none(), "an empty object");
        assert!(facts.filled(&["b"]).is_none(), "not an object");
        assert!(
            matches!(
                facts.get("b").and_then(Member::text),
                Some(Cow::Borrowed("plain"))
            ),
            "borrowed from the line"
        );
        let sorted = Facts::of_line(br#"{"b":1,"d":2,"f":{"a":3}}"#, &[]).expect("an object");
        for (name, want) in [
            ("a", None),
            ("b", Some(1)),
            ("c", None),
            ("d", Some(2)),
            ("g", None),
        ] {
            assert_eq!(sorted.get(name).and_then(Member::u64), want, "{name}");
        }
        assert_eq!(sorted.at(&["f", "a"]).and_then(Member::u64), Some(3));
        for not_an_object in [&b"[1]"[..], b"\"x\"", b"{", b"", b"{\"a\":}"] {
            assert!(Facts::of_line(not_an_object, &[]).is_none());
        }
        assert_eq!(
            Facts::of_line(b"{\"a\":1}\n", &[]).and_then(|f| f.get("a")?.u64()),
            Some(1),
            "a line with its newline"
        );
    }

    /// Members whose names share their length and first and last bytes (one slot of the table), as
    /// many as the table takes and more (then searched in order): each found from the spans, and a
    /// name of the same slot that is not there found absent.
    #[test]
    fn a_line_of_many_members_is_read_through_its_table_or_in_order() {
        for count in [1, 10, 47, 48, 49, 100] {
            let map: Map<String, Value> = (0..count)
                .map(|i| {
                    let name = if i % 2 == 0 {
                        format!("a{i:03}z")
                    } else {
                        format!("m{i}")
                    };
                    (name, Value::from(i))
                })
                .collect();
            let line = crate::ledger::canonical::object_to_canonical(&map).expect("canonical");
            let spans = crate::ledger::spans(&line).expect("canonical");
            let facts = Facts::of_line(&line, &spans).expect("an object");
            for (name, value) in &map {
                assert_eq!(
                    facts.get(name).and_then(Member::value).as_ref(),
                    Some(value),
                    "{count}: {name}"
                );
            }
            for absent in ["a999z", "a00z", "m", "zzz", ""] {
                assert!(facts.get(absent).is_none(), "{count}: {absent}");
            }
        }
    }

    /// Any JSON value: strings with escapes and non-ASCII, numbers, nesting.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-z\"\\\\/\u{0}-\u{1f}é€😀{}\\[\\],:]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                prop::collection::vec(("[a-z\"é{}:,]{0,6}", inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Split compact or read by serde_json with whitespace, an object's facts are its members,
        /// each as it is, and a member found without gathering the others is the one gathered.
        #[test]
        fn facts_are_the_members_serde_json_reads(
            members in prop::collection::vec(("[a-z\"é{}:,]{0,6}", json()), 0..8),
        ) {
            let map: Map<String, Value> = members.into_iter().collect();
            for text in [
                serde_json::to_string(&map).unwrap(),
                serde_json::to_string_pretty(&map).unwrap(),
            ] {
                let facts = Facts::of_line(text.as_bytes(), &[]).expect("an object");
                let Inner::Members(members) = &facts.0 else {
                    panic!("found in the text")
                };
                let read: Vec<(String, Value)> = members
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.value().expect("JSON")))
                    .collect();
                // As serde_json reads the text (which reads some floats a bit off).
                let map: Map<String, Value> = serde_json::from_str(&text).unwrap();
                let want: Vec<(String, Value)> =
                    map.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
                prop_assert_eq!(&read, &want);
                for (name, value) in &map {
                    let Some(inner) = value.as_object() else { continue };
                    let raw = facts.get(name).expect("present");
                    for inner_name in inner.keys() {
                        let found = raw.member(inner_name).and_then(Member::value);
                        prop_assert_eq!(found.as_ref(), inner.get(inner_name));
                    }
                    prop_assert!(raw.member("not a member name").is_none());
                }
            }
            // Read from where the ledger's check found each member of the canonical line, every
            // member (escaped names too) is found as it is.
            if let Ok(canonical) = crate::ledger::canonical::object_to_canonical(&map) {
                let spans = crate::ledger::spans(&canonical).expect("canonical");
                let facts = Facts::of_line(&canonical, &spans).expect("an object");
                prop_assert_eq!(matches!(facts.0, Inner::Spans(..)), !map.is_empty());
                for (name, value) in &map {
                    let found = facts.get(name).and_then(Member::value);
                    prop_assert_eq!(found.as_ref(), Some(value));
                }
                prop_assert!(facts.get("not a member name").is_none());
                prop_assert_eq!(facts.is_empty(), map.is_empty());
            }
        }
    }
}
