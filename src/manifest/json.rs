//! Looking into a document's compact JSON (as `serde_json` writes it: no insignificant white space,
//! each key once per object, strings escaped one way) without parsing it into a tree: the members
//! of an object, the items of an array, a string's value, where a value is. The checksum stage reads
//! the few fields it needs this way and writes its annotation into the bytes where `serde_json` would
//! put it. One pass over the bytes finds where every object and array ends ([`Doc`]), so that stepping
//! over a value costs the same however large it is. Takes bytes, gives positions and values; never
//! panics on malformed bytes (it gives `None` or nothing).

use std::borrow::Cow;

/// A document's JSON bytes, with the end of each of its objects and arrays.
#[derive(Debug)]
pub struct Doc<'a> {
    bytes: &'a [u8],
    /// `(start, end)` (end exclusive) of every object and array, by start; `end` is 0 for one that
    /// does not end.
    ends: Vec<(u32, u32)>,
}

impl<'a> Doc<'a> {
    /// Indexes `bytes` in one pass.
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut ends = Vec::new();
        let mut open = Vec::new();
        let mut i = 0;
        while let Some(n) = bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| STRUCTURE[usize::from(b)]))
        {
            i += n;
            match bytes[i] {
                b'"' => match skip_string(bytes, i) {
                    Some(end) => {
                        i = end;
                        continue;
                    }
                    None => break,
                },
                b'{' | b'[' => {
                    open.push(ends.len());
                    ends.push((i as u32, 0));
                }
                _ => {
                    if let Some(k) = open.pop() {
                        ends[k].1 = i as u32 + 1;
                    }
                }
            }
            i += 1;
        }
        Doc { bytes, ends }
    }

    /// The root value.
    pub fn root(&self) -> Json<'_> {
        Json {
            doc: self,
            start: 0,
            end: self.bytes.len(),
        }
    }

    /// The end (exclusive) of the value starting at `pos`; `None` if the bytes end first.
    fn skip(&self, pos: usize) -> Option<usize> {
        match *self.bytes.get(pos)? {
            b'"' => skip_string(self.bytes, pos),
            b'{' | b'[' => {
                let k = self
                    .ends
                    .binary_search_by_key(&(pos as u32), |&(start, _)| start)
                    .ok()?;
                let end = self.ends[k].1 as usize;
                (end > 0).then_some(end)
            }
            _ => Some(
                self.bytes[pos..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b':'))
                    .map_or(self.bytes.len(), |n| pos + n),
            ),
        }
    }
}

/// One JSON value: bytes `start..end` of its document.
#[derive(Debug, Clone, Copy)]
pub struct Json<'a> {
    doc: &'a Doc<'a>,
    start: usize,
    end: usize,
}

impl<'a> Json<'a> {
    /// The value's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        &self.doc.bytes[self.start..self.end]
    }

    /// Where the value starts and ends in the document.
    pub fn span(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// Whether it is an object.
    pub fn is_object(&self) -> bool {
        self.bytes().first() == Some(&b'{')
    }

    /// Whether it is an object or array without entries.
    pub fn is_empty_collection(&self) -> bool {
        self.end - self.start == 2
    }

    /// The members of an object, in order: (key as written, quotes included; value). Nothing for
    /// anything that is not an object.
    pub fn members(self) -> Members<'a> {
        Members {
            doc: self.doc,
            pos: if self.is_object() {
                self.start + 1
            } else {
                self.end
            },
            end: self.end.saturating_sub(1),
        }
    }

    /// The items of an array, in order; nothing for anything that is not an array.
    pub fn items(self) -> Items<'a> {
        let is_array = self.bytes().first() == Some(&b'[');
        Items {
            doc: self.doc,
            pos: if is_array { self.start + 1 } else { self.end },
            end: self.end.saturating_sub(1),
        }
    }

    /// The member `key` of an object.
    pub fn get(self, key: &str) -> Option<Json<'a>> {
        self.members()
            .find(|(k, _)| key_is(k.bytes(), key))
            .map(|(_, v)| v)
    }

    /// The value at `path` of keys.
    pub fn at(self, path: &[&str]) -> Option<Json<'a>> {
        path.iter().try_fold(self, |v, key| v.get(key))
    }

    /// The value of a string (`None` for any other value).
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let bytes = self.bytes();
        let inner = bytes.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if inner.contains(&b'\\') {
            serde_json::from_slice::<String>(bytes).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(inner).ok().map(Cow::Borrowed)
        }
    }

    /// The value as a string that is not empty.
    pub fn as_name(&self) -> Option<Cow<'a, str>> {
        self.as_str().filter(|s| !s.is_empty())
    }
}

/// Whether the key token `token` (quotes included) is `key`.
fn key_is(token: &[u8], key: &str) -> bool {
    match token
        .strip_prefix(b"\"")
        .and_then(|t| t.strip_suffix(b"\""))
    {
        Some(inner) if !inner.contains(&b'\\') => inner == key.as_bytes(),
        _ => serde_json::from_slice::<String>(token).is_ok_and(|k| k == key),
    }
}

/// The members of an object ([`Json::members`]).
pub struct Members<'a> {
    doc: &'a Doc<'a>,
    pos: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Json<'a>, Json<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let key_end = self.doc.skip(self.pos)?;
        if self.doc.bytes.get(key_end) != Some(&b':') {
            self.pos = self.end;
            return None;
        }
        let value_end = self.doc.skip(key_end + 1)?;
        let key = Json {
            doc: self.doc,
            start: self.pos,
            end: key_end,
        };
        let value = Json {
            doc: self.doc,
            start: key_end + 1,
            end: value_end,
        };
        self.pos = value_end + 1; // past the comma (or onto the closing brace)
        Some((key, value))
    }
}

/// The items of an array ([`Json::items`]).
pub struct Items<'a> {
    doc: &'a Doc<'a>,
    pos: usize,
    end: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.end {
            return None;
        }
        let end = self.doc.skip(self.pos)?;
        let item = Json {
            doc: self.doc,
            start: self.pos,
            end,
        };
        self.pos = end + 1;
        Some(item)
    }
}

/// The bytes that matter inside an object or array: strings and brackets.
const STRUCTURE: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'[' as usize] = true;
    table[b'}' as usize] = true;
    table[b']' as usize] = true;
    table
};

/// The end (exclusive) of the string starting at `pos` (its opening quote).
fn skip_string(doc: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        i += doc
            .get(i..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        if doc[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// Whether the document holds a number with a fraction or an exponent. Such a number may not read
/// back from its text into the same float (`serde_json` reads floats fast, not always exactly), so a
/// transform that must give what parsing and writing again gives takes the slow way for it.
pub fn has_float(doc: &[u8]) -> bool {
    let mut i = 0;
    while i < doc.len() {
        match doc[i] {
            b'"' => match skip_string(doc, i) {
                Some(end) => i = end,
                None => return true,
            },
            b'-' | b'0'..=b'9' => {
                let end = doc[i..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b':'))
                    .map_or(doc.len(), |n| i + n);
                if doc[i..end].iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                    return true;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    false
}

/// Writes `value` with object keys sorted by their bytes, as [`crate::transform::canonical_json`]
/// writes the parsed value: for a document without floats ([`has_float`]) the same bytes.
pub fn write_canonical(value: Json<'_>, out: &mut Vec<u8>) {
    match value.bytes().first() {
        Some(b'{') => {
            let mut members: Vec<(Cow<'_, str>, Json<'_>, Json<'_>)> = value
                .members()
                .map(|(k, v)| {
                    let name = k.as_str().unwrap_or_default();
                    (name, k, v)
                })
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'{');
            for (i, (_, key, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key.bytes());
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Some(b'[') => {
            out.push(b'[');
            for (i, item) in value.items().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        _ => out.extend_from_slice(value.bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_members_items_and_strings() {
        let text = serde_json::to_vec(&json!({
            "a": {"b": [1, "x\"y", {"c": null}], "d": "e"},
            "k\\ey": true,
        }))
        .unwrap();
        let doc = Doc::new(&text);
        let root = doc.root();
        assert_eq!(root.at(&["a", "d"]).unwrap().as_str().unwrap(), "e");
        let items: Vec<_> = root.at(&["a", "b"]).unwrap().items().collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_str().unwrap(), "x\"y");
        assert_eq!(items[2].get("c").unwrap().bytes(), b"null");
        assert_eq!(root.get("k\\ey").unwrap().bytes(), b"true");
        assert!(root.get("missing").is_none());
        assert!(
            root.at(&["a", "b", "c"]).is_none(),
            "an array has no members"
        );
    }

    #[test]
    fn malformed_bytes_give_nothing_and_never_panic() {
        for bad in [
            &b"{\"a\":"[..],
            b"{\"a",
            b"[1,",
            b"\"abc",
            b"{",
            b"}",
            b"",
            b"{\"a\"}",
        ] {
            let doc = Doc::new(bad);
            let root = doc.root();
            let _ = root.get("a");
            let _ = root.items().count();
            let mut out = Vec::new();
            write_canonical(root, &mut out);
            let _ = has_float(bad);
        }
    }

    #[test]
    fn floats_are_found_outside_strings_only() {
        assert!(!has_float(
            br#"{"a":"1.5e3","b":-12,"c":false,"d":[0,null]}"#
        ));
        assert!(has_float(br#"{"d":[0,1e5]}"#));
        assert!(has_float(br#"{"a":[1,2.5]}"#));
        assert!(has_float(br#"{"a":1e300}"#));
    }
}
