//! The generated corpus of the go-yaml v2 oracle (`oracle_tests`): manifest streams of every YAML 1.1
//! shape Kubernetes reads (typed and quoted scalars, tags, anchors and aliases, merge keys, flow and
//! block collections, block scalars, comments, several documents), from a seed, so that the same
//! corpus can be rebuilt anywhere. `benches/render-identical.rs` includes this file too, to render
//! the corpus with two builds of sluice. Takes a seed, gives text; nothing else.

use std::fmt::Write as _;

/// The seed of the oracle test and of the render-identical check, unless `SLUICE_ORACLE_SEED` says
/// otherwise.
pub const DEFAULT_SEED: u64 = 13;

/// `count` streams from `seed`, as the oracle test reads them.
pub fn streams(seed: u64, count: u64) -> Vec<String> {
    (0..count)
        .map(|i| generate(seed.wrapping_mul(1_000_003).wrapping_add(i)))
        .collect()
}

/// splitmix64: small, seedable, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Plain scalars of every YAML 1.1 type go-yaml v2 resolves, and strings that look like them.
const PLAIN: &[&str] = &[
    "0",
    "1",
    "-1",
    "+12",
    "0644",
    "0o644",
    "0x1F",
    "-0x1f",
    "0b101",
    "1_000",
    "08",
    "09.5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "1.5",
    "-1.5",
    ".5",
    "1.",
    "1e3",
    "1E-3",
    "1.10",
    "6.02e+23",
    "1_000.5",
    "+.5",
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "yEs",
    "~",
    "null",
    "Null",
    "NULL",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "12:30",
    "1:20:30",
    "v1.2",
    "1.2.3",
    "hello",
    "hello world",
    "a-b_c",
    "/path/to/x",
    "http://example.com/a?b=c",
    "-",
    "--x",
    "=",
    "<<x",
    "é",
    "日本",
    "x.y",
    "1e",
    "0x",
    "0b",
    "0o",
    "+",
    ".",
    "-.5",
    "1__0",
    "_1",
    "0.0",
    "-0",
    "1e400",
    "0xFFFFFFFFFFFFFFFF",
    "0x10000000000000000",
];

/// Strings in quoted styles, escapes included.
const QUOTED: &[&str] = &[
    "'0644'",
    "'yes'",
    "''",
    "'it''s'",
    "\"\"",
    "\"a\\tb\"",
    "\"\\u00e9\"",
    "\"\\x41\"",
    "\"\\U0001F600\"",
    "\"line\\nbreak\"",
    "\"quote \\\" here\"",
    "\"1.10\"",
    "'~'",
    "\"null\"",
    "\"#not comment\"",
    "'a: b'",
    "\"\\e\\0\\a\"",
    "\"tab\\\tx\"",
];

/// Tagged scalars.
const TAGGED: &[&str] = &[
    "!!str 0644",
    "!!str yes",
    "!!int 42",
    "!!int \"42\"",
    "!!float 1",
    "!!float 1.5",
    "!!bool yes",
    "!!bool true",
    "!!null ~",
    "!!null null",
    "!!binary aGVsbG8=",
    "!!binary AAEC",
    "!!binary /w==",
    "!!timestamp 2001-12-14",
    "!Ref name",
    "!custom 12",
    "!!str",
    "!!int 0x1F",
];

/// Keys; each class renders to JSON strings that cannot collide with the plain `kN` keys. Not `.nan`:
/// two `.nan` keys in one mapping are two keys to go-yaml v2 (NaN is not equal to itself), which
/// sigs.k8s.io/yaml then writes as one `.nan` in Go's random map order.
const TYPED_KEYS: &[&str] = &[
    "1",
    "0x10",
    "1.5",
    "123456789.0",
    "0.1",
    "1e10",
    "true",
    "no",
    "on",
    "'quoted key'",
    "\"double\"",
    "~",
    "18446744073709551615",
    "99999999999999999999",
    ".inf",
    "-.inf",
    "2001-12-14",
    "0644",
    "-7",
    "!!str 12",
    "? complex",
];

struct Gen<'r> {
    rng: &'r mut Rng,
    anchors: Vec<String>,
    maps: Vec<String>,
    next_anchor: usize,
}

impl Gen<'_> {
    fn scalar(&mut self) -> String {
        match self.rng.below(10) {
            0..=5 => self.rng.pick(PLAIN).to_string(),
            6..=7 => self.rng.pick(QUOTED).to_string(),
            _ => self.rng.pick(TAGGED).to_string(),
        }
    }

    fn key(&mut self, i: usize) -> String {
        if self.rng.chance(12) {
            let k = self.rng.pick(TYPED_KEYS);
            if k == "? complex" {
                return format!("? k{i}\n");
            }
            return k.to_string();
        }
        format!("k{i}")
    }

    fn anchor(&mut self) -> String {
        if self.rng.chance(10) {
            self.next_anchor += 1;
            format!("&a{} ", self.next_anchor)
        } else {
            String::new()
        }
    }

    /// A flow value (one line, or several with the closing bracket at `indent`).
    fn flow(&mut self, depth: usize, indent: usize) -> String {
        if depth > 2 || self.rng.chance(40) {
            return match self.rng.below(10) {
                // Not `:` nor a lone `-` in flow context (docs/yaml.md: go-yaml v2 refuses both).
                0..=6 => loop {
                    let s = self.rng.pick(PLAIN);
                    if !s.contains(':') && s != "-" {
                        break s.to_string();
                    }
                },
                _ => self.rng.pick(QUOTED).to_string(),
            };
        }
        let multiline = self.rng.chance(30);
        let n = self.rng.below(4);
        let is_map = self.rng.chance(40);
        let mut items = Vec::new();
        for i in 0..n {
            let v = self.flow(depth + 1, indent + 2);
            items.push(if is_map { format!("f{i}: {v}") } else { v });
        }
        let (open, close) = if is_map { ("{", "}") } else { ("[", "]") };
        if multiline && n > 0 {
            let pad = " ".repeat(indent + 4);
            let mut body = String::new();
            for item in &items {
                let _ = write!(body, "\n{pad}{item},");
            }
            // Items deeper than the key, the closing bracket at the key's indentation (istio's shape).
            let close_pad = " ".repeat(if self.rng.chance(50) {
                indent
            } else {
                indent + 2
            });
            format!("{open}{body}\n{close_pad}{close}")
        } else {
            format!("{open}{}{close}", items.join(", "))
        }
    }

    fn block_scalar(&mut self, indent: usize) -> String {
        let header = self.rng.pick(&["|", "|-", "|+", ">", ">-", ">+", "|2"]);
        let pad = " ".repeat(indent + 2);
        let mut s = header.to_string();
        let lines = 1 + self.rng.below(4);
        for i in 0..lines {
            s.push('\n');
            if self.rng.chance(15) {
                continue; // a blank line inside
            }
            let extra = if self.rng.chance(15) { "  " } else { "" };
            let _ = write!(
                s,
                "{pad}{extra}line {i} {}",
                self.rng
                    .pick(&["x", "# not a comment", "a: b", "- c", "'q'"])
            );
        }
        if self.rng.chance(20) {
            s.push('\n'); // trailing blank line
        }
        s
    }

    /// Text after `key:` or `- ` for a value at `indent`, ending with a line break.
    fn value(&mut self, depth: usize, indent: usize) -> String {
        let anchor = self.anchor();
        let choice = if depth > 3 {
            self.rng.below(5)
        } else {
            self.rng.below(10)
        };
        let mut out = match choice {
            0..=2 => format!(" {anchor}{}", self.scalar()),
            3 if !self.anchors.is_empty() => {
                let a = self.anchors[self.rng.below(self.anchors.len())].clone();
                return format!(" *{a}\n");
            }
            3 | 4 => format!(" {anchor}{}", self.flow(0, indent)),
            5 => format!(" {anchor}{}", self.block_scalar(indent)),
            6 | 7 => format!(" {anchor}\n{}", self.block_map(depth + 1, indent + 2))
                .trim_end_matches('\n')
                .to_string(),
            _ => {
                let seq_indent = if self.rng.chance(50) {
                    indent
                } else {
                    indent + 2
                };
                format!(" {anchor}\n{}", self.block_seq(depth + 1, seq_indent))
                    .trim_end_matches('\n')
                    .to_string()
            }
        };
        if out.trim() == anchor.trim() && !anchor.is_empty() {
            out.push_str(" x");
        }
        if !out.contains('\n') && self.rng.chance(10) {
            out.push_str(" # comment");
        }
        if let Some(name) = anchor.strip_prefix('&') {
            let name = name.trim().to_string();
            if choice == 6 || choice == 7 {
                self.maps.push(name.clone());
            }
            self.anchors.push(name);
        }
        out.push('\n');
        out
    }

    fn block_map(&mut self, depth: usize, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let mut s = String::new();
        let n = 1 + self.rng.below(4);
        let merge_at =
            (self.rng.chance(25) && !self.maps.is_empty()).then(|| self.rng.below(n + 1));
        for i in 0..=n {
            if merge_at == Some(i) {
                let m = self.maps[self.rng.below(self.maps.len())].clone();
                if self.rng.chance(70) || self.maps.len() < 2 {
                    let _ = writeln!(s, "{pad}<<: *{m}");
                } else {
                    let m2 = self.maps[self.rng.below(self.maps.len())].clone();
                    let _ = writeln!(s, "{pad}<<: [*{m}, *{m2}]");
                }
            }
            if i == n {
                break;
            }
            if self.rng.chance(8) {
                let _ = writeln!(s, "{pad}# a comment line");
            }
            let key = self.key(i);
            if let Some(k) = key.strip_prefix("? ") {
                let _ = write!(s, "{pad}? {}{pad}:{}", k, self.value(depth, indent));
            } else {
                let _ = write!(s, "{pad}{key}:{}", self.value(depth, indent));
            }
        }
        s
    }

    fn block_seq(&mut self, depth: usize, indent: usize) -> String {
        let pad = " ".repeat(indent);
        let mut s = String::new();
        for _ in 0..=self.rng.below(3) {
            if self.rng.chance(25) && depth < 4 {
                // A mapping as an item, its first key on the `- ` line.
                let inner = self.block_map(depth + 1, indent + 2);
                let _ = write!(s, "{pad}- {}", &inner[indent + 2..]);
            } else {
                let _ = write!(s, "{pad}-{}", self.value(depth, indent + 2));
            }
        }
        s
    }
}

/// One generated manifest stream: one or two documents, with or without a final newline.
fn generate(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut g = Gen {
        rng: &mut rng,
        anchors: Vec::new(),
        maps: Vec::new(),
        next_anchor: 0,
    };
    let mut s = String::new();
    let docs = 1 + usize::from(g.rng.chance(20));
    for d in 0..docs {
        if d > 0 || g.rng.chance(10) {
            s.push_str(g.rng.pick(&["---\n", "--- # next\n", "---   \n"]));
        }
        g.anchors.clear();
        g.maps.clear();
        if g.rng.chance(10) {
            s.push_str("# leading comment\n");
        }
        let _ = write!(
            s,
            "apiVersion: v1\nkind: Generated\nmetadata:\n  name: g{seed}\n"
        );
        s.push_str(&g.block_map(0, 0));
    }
    match g.rng.below(4) {
        0 => s.truncate(s.trim_end_matches('\n').len()),
        1 => s.push('\n'),
        _ => {}
    }
    s
}
