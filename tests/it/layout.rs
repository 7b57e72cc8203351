//! The layout of `src/` against its map: the layers drawn in `src/lib.rs` (a module imports only
//! modules of lower layers), no import circle between the files of any module, and no file over 800
//! lines but the YAML reader. Reads the source; runs nothing. Test code (`#[cfg(test)]` modules) is
//! left out: tests may use anything.
//!
//! A module's `mod.rs` is its face: declaring its files, re-exporting from them and dispatching to
//! them is the tree itself, so an import from a module into its own files does not count towards a
//! circle; a file that imports from the face (or from a sibling) does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The one file allowed to be longer: the YAML reader, one state machine over saphyr's events.
const LONG_FILES: [&str; 1] = ["manifest/yaml.rs"];
const MAX_LINES: usize = 800;

type ModPath = Vec<String>;

/// Every `.rs` file of the library by its module path (`src/a/b.rs` and `src/a/b/mod.rs` are
/// `["a", "b"]`), without `main.rs`.
fn modules(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<ModPath, PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut p = prefix.to_vec();
                match stem {
                    "mod" | "lib" => {}
                    "main" if prefix.is_empty() => continue,
                    _ => p.push(stem.to_owned()),
                }
                out.insert(p, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code of a file that counts: no comment lines, nothing from its `#[cfg(test)]` test module on.
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        if t.starts_with("#[cfg(test)]") && next.contains("mod tests") && next.ends_with('{') {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The names of the child modules a file declares under `#[cfg(test)]` (test-only files).
fn test_children(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| {
            let decl = w[1].trim_end_matches(';');
            let name = decl.rsplit(' ').next()?;
            (decl.contains("mod ") && w[1].ends_with(';')).then(|| name.to_owned())
        })
        .collect()
}

/// Expands a `use` tree (`a::{b, c::{d, self}}`) into paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.trim_end_matches("::*").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| {
            if p.trim() == "self" {
                vec![prefix.trim_end_matches("::").to_owned()]
            } else {
                expand(&format!("{prefix}{}", p.trim()))
            }
        })
        .collect()
}

/// The paths a file names that start with `crate`, `super` or `self`, or with the name of one of
/// `children` (its own child modules, which it names without `self::`).
fn paths(code: &str, children: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    // `use` statements, whole (they may span lines and hold groups).
    let mut rest = code;
    while let Some(at) = find_use(rest) {
        let stmt = &rest[at..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        let tree = stmt[..end].trim_start_matches("use ").trim();
        let is_tree = tree
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_:{},* \n".contains(c));
        if is_tree {
            out.extend(expand(tree));
        }
        rest = &stmt[end..];
    }
    // Paths written inline.
    let bytes = code.as_bytes();
    let starts: Vec<String> = ["crate", "super"]
        .iter()
        .map(|s| (*s).to_owned())
        .chain(children.iter().cloned())
        .map(|s| format!("{s}::"))
        .collect();
    for start in &starts {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            let before = at.checked_sub(1).map(|j| bytes[j]);
            let ident = before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            if !ident {
                let path = code[at..end].trim_end_matches(':');
                let is_child = !path.starts_with("crate") && !path.starts_with("super");
                out.push(if is_child {
                    format!("self::{path}")
                } else {
                    path.to_owned()
                });
            }
            from = end.max(at + 1);
        }
    }
    for p in &mut out {
        let first = p.split("::").next().unwrap_or("");
        if children.iter().any(|c| c == first) {
            *p = format!("self::{p}");
        }
    }
    out.retain(|p| p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"));
    out.sort();
    out.dedup();
    out
}

fn find_use(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("use ") {
        let at = from + i;
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        let lead = text[line_start..at].trim();
        if lead.is_empty() || lead == "pub" || lead.starts_with("pub(") {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// The module a path names, from the module `here` (the deepest module on the path that is a file).
fn resolve(path: &str, here: &[String], known: &BTreeMap<ModPath, PathBuf>) -> Option<ModPath> {
    let mut segs = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: ModPath = match *segs.peek()? {
        "crate" => {
            segs.next();
            Vec::new()
        }
        "self" => {
            segs.next();
            here.to_vec()
        }
        _ => here.to_vec(),
    };
    while segs.peek() == Some(&"super") {
        segs.next();
        base.pop()?;
    }
    for seg in segs {
        let mut next = base.clone();
        next.push(seg.to_owned());
        if known.contains_key(&next) {
            base = next;
        } else {
            break;
        }
    }
    Some(base)
}

struct Tree {
    known: BTreeMap<ModPath, PathBuf>,
    /// Module → the modules it imports (test code and test-only files left out).
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

fn tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for (m, file) in &known {
        let text = std::fs::read_to_string(file).expect("a source file");
        for child in test_children(&text) {
            let mut c = m.clone();
            c.push(child);
            test_only.insert(c);
        }
    }
    let mut edges = BTreeMap::new();
    for (m, file) in &known {
        // The crate root only declares the modules (and re-exports for the benchmarks).
        if m.is_empty() || test_only.iter().any(|t| m.starts_with(t)) {
            continue;
        }
        let text = code(&std::fs::read_to_string(file).expect("a source file"));
        let children: Vec<String> = known
            .keys()
            .filter(|k| k.len() == m.len() + 1 && k.starts_with(m))
            .map(|k| k[m.len()].clone())
            .collect();
        let targets: BTreeSet<ModPath> = paths(&text, &children)
            .iter()
            .filter_map(|p| resolve(p, m, &known))
            .filter(|t| !t.is_empty() && t != m && !test_only.contains(t))
            .collect();
        edges.insert(m.clone(), targets);
    }
    Tree { known, edges }
}

/// The layers drawn in `src/lib.rs`, top first: the block after "The layers, top to bottom".
fn layers() -> Vec<Vec<String>> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("src/lib.rs");
    let block: Vec<&str> = lib
        .lines()
        .skip_while(|l| !l.contains("The layers, top to bottom"))
        .skip_while(|l| !l.contains("```text"))
        .skip(1)
        .take_while(|l| !l.contains("```"))
        .collect();
    assert!(!block.is_empty(), "src/lib.rs draws no layers");
    block
        .iter()
        .map(|l| {
            l.trim_start_matches("//!")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .filter(|l: &Vec<String>| !l.is_empty())
        .collect()
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let layers = layers();
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let t = tree();
    let tops: BTreeSet<&str> = t
        .known
        .keys()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    let drawn: BTreeSet<&str> = rank.keys().copied().collect();
    assert_eq!(
        tops, drawn,
        "the modules of src/ and the layers drawn in src/lib.rs differ"
    );
    let mut wrong = Vec::new();
    for (from, tos) in &t.edges {
        for to in tos {
            let (a, b) = (from[0].as_str(), to[0].as_str());
            if a != b && rank[a] >= rank[b] {
                wrong.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point down the layers of src/lib.rs:\n{}",
        wrong.join("\n")
    );
}

/// The circles among the files of each top-level module (Tarjan's strongly connected components),
/// each as its files joined by ` <-> `. Imports from a module into its own files do not count.
fn circles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<String> {
    /// Tarjan's state: index, lowlink, on the stack, the stack, the next index.
    struct State {
        index: Vec<usize>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
    }
    fn strong(v: usize, succ: &[Vec<usize>], st: &mut State, out: &mut Vec<Vec<usize>>) {
        st.index[v] = st.next;
        st.low[v] = st.next;
        st.next += 1;
        st.stack.push(v);
        st.on[v] = true;
        for &w in &succ[v] {
            if st.index[w] == usize::MAX {
                strong(w, succ, st, out);
                st.low[v] = st.low[v].min(st.low[w]);
            } else if st.on[w] {
                st.low[v] = st.low[v].min(st.index[w]);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                out.push(comp);
            }
        }
    }
    let nodes: Vec<&ModPath> = edges.keys().collect();
    let index_of: BTreeMap<&ModPath, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let succ: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            edges[*n]
                .iter()
                .filter(|m| m[0] == n[0] && !m.starts_with(n))
                .filter_map(|m| index_of.get(m).copied())
                .collect()
        })
        .collect();
    let n = nodes.len();
    let mut st = State {
        index: vec![usize::MAX; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
    };
    let mut comps = Vec::new();
    for v in 0..n {
        if st.index[v] == usize::MAX {
            strong(v, &succ, &mut st, &mut comps);
        }
    }
    comps
        .into_iter()
        .map(|comp| {
            let mut names: Vec<String> = comp.iter().map(|&i| nodes[i].join("::")).collect();
            names.sort();
            names.join(" <-> ")
        })
        .collect()
}

#[test]
fn no_module_has_an_import_circle_between_its_files() {
    let found = circles(&tree().edges);
    assert!(
        found.is_empty(),
        "files that import each other in a circle (make them one file, or move what they share to a \
         third):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_file_is_longer_than_800_lines_but_the_yaml_reader() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    for file in modules(&src).values() {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let lines = std::fs::read_to_string(file).unwrap().lines().count();
        if lines > MAX_LINES && !LONG_FILES.contains(&rel.as_str()) {
            long.push(format!("src/{rel}: {lines} lines"));
        }
    }
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}

#[test]
fn the_checker_sees_circles_and_upward_imports() {
    // The control: a made-up pair of files that import each other is a circle, and paths resolve.
    let mut known = BTreeMap::new();
    for m in [vec!["a"], vec!["a", "x"], vec!["a", "y"], vec!["b"]] {
        known.insert(
            m.iter().map(|s| (*s).to_owned()).collect::<ModPath>(),
            PathBuf::new(),
        );
    }
    let here: ModPath = vec!["a".into(), "x".into()];
    assert_eq!(
        resolve("super::y::Thing", &here, &known),
        Some(vec!["a".into(), "y".into()])
    );
    assert_eq!(
        resolve("crate::b::f", &here, &known),
        Some(vec!["b".into()])
    );
    assert_eq!(
        expand("super::{y::{self, Z}, x as w}"),
        vec!["super::y", "super::y::Z", "super::x"]
    );
    let code = code("//! doc\nuse crate::b;\nfn f() { super::y::g(); x::h() }\n#[cfg(test)]\nmod tests {\n use crate::a;\n}\n");
    assert_eq!(
        paths(&code, &["x".to_owned()]),
        vec!["crate::b", "self::x::h", "super::y::g"]
    );
    // The old audit module's gate <-> record: a circle; a face importing its files is not one.
    let m = |p: &str| -> ModPath { p.split("::").map(str::to_owned).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("audit"), [m("audit::gate"), m("audit::record")].into());
    edges.insert(m("audit::gate"), [m("audit::record"), m("audit")].into());
    edges.insert(m("audit::record"), [m("audit::gate")].into());
    assert_eq!(circles(&edges), vec!["audit::gate <-> audit::record"]);
    edges.insert(m("audit::record"), BTreeSet::new());
    assert!(circles(&edges).is_empty());
}
