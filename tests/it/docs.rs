//! Docs that cannot go stale: every command quoted in README.md and docs/*.md as a `console` block of
//! `$ sluice …` lines runs against the real binary, and its output must be the text that follows it in the
//! block, byte for byte. `BLESS=1 cargo test --test it docs::` rewrites the quoted outputs (review the diff).
//!
//! The convention (README.md says it too, under "Commands"):
//! - a fenced block opened with three backticks and `console` is checked when every command line in it
//!   (`$ …`) is a `sluice` command; blocks that show `argocd`, `kubectl` or `git` sessions are illustrations
//!   and are left alone;
//! - a command line ending in `\` continues on the next line;
//! - the output is what the command prints on stdout, then stderr (an error line is part of the example);
//! - the commands run in the repository's root with a clean environment: `PATH`, `SLUICE_NOW` fixed at
//!   2026-11-30T12:00:00Z (the clock of `--since 24h`) and `SLUICE_DATA_DIR` a copy of
//!   `tests/fixtures/docs/audit.jsonl` (the log of the walkthrough's changes), so `sluice audit …` needs no
//!   `--data-dir`.

use crate::support::bin;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The clock of the examples.
const NOW: &str = "2026-11-30T12:00:00Z";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// One quoted command: where it is, its words, and the lines quoted as its output.
#[derive(Debug, Clone)]
struct Example {
    /// 1-based line of the `$` line.
    line: usize,
    command: String,
    /// Index (0-based) of the first output line and how many lines the quoted output has.
    output_at: usize,
    output_len: usize,
    expected: String,
}

/// The checked examples of a Markdown text.
fn examples(text: &str) -> Vec<Example> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```console" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && lines[end].trim_end() != "```" {
            end += 1;
        }
        let block = &lines[start..end];
        let commands: Vec<usize> = (0..block.len())
            .filter(|&k| block[k].starts_with("$ "))
            .collect();
        if !commands.is_empty() && commands.iter().all(|&k| block[k].starts_with("$ sluice ")) {
            let mut k = 0;
            while k < block.len() {
                if !block[k].starts_with("$ ") {
                    k += 1;
                    continue;
                }
                let line = start + k + 1;
                let mut command = block[k][2..].to_string();
                while command.ends_with('\\') && k + 1 < block.len() {
                    command.pop();
                    k += 1;
                    command.push_str(block[k].trim_start());
                }
                let first = k + 1;
                let mut last = first;
                while last < block.len() && !block[last].starts_with("$ ") {
                    last += 1;
                }
                let expected: String =
                    block[first..last].iter().fold(String::new(), |mut acc, l| {
                        acc.push_str(l);
                        acc.push('\n');
                        acc
                    });
                out.push(Example {
                    line,
                    command,
                    output_at: start + first,
                    output_len: last - first,
                    expected,
                });
                k = last;
            }
        }
        i = end + 1;
    }
    out
}

/// Shell-like words: spaces separate, '…' and "…" quote, `\` escapes the next character outside '…'.
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = command.chars();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                any = true;
            }
            '"' if !single => {
                double = !double;
                any = true;
            }
            '\\' if !single => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !single && !double => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// What `command` prints (stdout, then stderr) in the examples' environment.
fn run(command: &str, data_dir: &Path) -> String {
    let w = words(command);
    assert_eq!(w[0], "sluice", "{command}");
    let mut cmd = Command::new(bin());
    cmd.args(&w[1..])
        .current_dir(repo())
        .env_clear()
        .env("SLUICE_NOW", NOW)
        .env("SLUICE_DATA_DIR", data_dir);
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    let out = cmd.output().expect("run sluice");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// The data directory of the examples: a copy of the walkthrough's log.
fn data_dir(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/docs/audit.jsonl"),
        data.join("audit.jsonl"),
    )
    .expect("tests/fixtures/docs/audit.jsonl");
    data
}

/// The differences between what `text` quotes and what the binary prints: `file:line: $ command`, the
/// quoted and the actual output. With `bless`, the text with the actual outputs instead.
fn check(file: &str, text: &str, data: &Path, bless: bool) -> (Vec<String>, usize, String) {
    let found = examples(text);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut problems = Vec::new();
    for ex in found.iter().rev() {
        let actual = run(&ex.command, data);
        if actual != ex.expected {
            problems.push(format!(
                "{file}:{}: $ {}\n--- quoted\n{}--- printed\n{}",
                ex.line, ex.command, ex.expected, actual
            ));
            if bless {
                lines.splice(
                    ex.output_at..ex.output_at + ex.output_len,
                    actual.lines().map(str::to_owned),
                );
            }
        }
    }
    let mut blessed = lines.join("\n");
    if text.ends_with('\n') {
        blessed.push('\n');
    }
    problems.reverse();
    (problems, found.len(), blessed)
}

#[test]
fn every_quoted_sluice_command_prints_what_the_docs_say() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let bless = crate::support::bless();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(repo()).unwrap().display().to_string();
        let (p, n, blessed) = check(&name, &text, &data, bless);
        checked += n;
        if bless && !p.is_empty() {
            std::fs::write(&path, blessed).unwrap();
        } else {
            problems.extend(p);
        }
    }
    // A test that finds nothing to check would pass for ever.
    assert!(checked >= 8, "only {checked} quoted commands found");
    assert!(
        problems.is_empty(),
        "{} quoted outputs differ from what sluice prints (BLESS=1 rewrites them; review the diff):\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn a_changed_output_or_a_missing_line_is_caught() {
    // The control for the test above, on a document written here.
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path());
    let good = run("sluice audit verify", &data);
    assert!(
        good.starts_with("ok: 6 records, head seq 6 hash "),
        "{good}"
    );
    let doc = format!(
        "Text.\n\n```console\n$ sluice audit verify\n{good}```\n\n```console\n$ kubectl get pods\nanything\n```\n"
    );
    let (problems, n, _) = check("t.md", &doc, &data, false);
    assert_eq!((problems.len(), n), (0, 1), "{problems:?}");
    for wrong in [
        doc.replace("6 records", "7 records"),
        doc.replace(&good, ""),
        doc.replace(&good, &format!("{good}extra\n")),
    ] {
        let (problems, _, blessed) = check("t.md", &wrong, &data, true);
        assert_eq!(problems.len(), 1, "{wrong}");
        assert!(
            problems[0].starts_with("t.md:4: $ sluice audit verify\n"),
            "{}",
            problems[0]
        );
        assert_eq!(blessed, doc, "BLESS=1 restores the printed output");
    }
}

#[test]
fn console_blocks_are_read_as_documented() {
    let text = "```console\n$ sluice window check --policy 'a b.yaml' \\\n  --app shop\n{\"x\":1}\n$ sluice audit verify\nok\n```\n```console\n$ argocd app get shop\nPhase: Failed\n```\n";
    let ex = examples(text);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].line, 2);
    assert_eq!(ex[0].expected, "{\"x\":1}\n");
    assert_eq!(
        words(&ex[0].command),
        ["sluice", "window", "check", "--policy", "a b.yaml", "--app", "shop"]
    );
    assert_eq!((ex[1].output_at, ex[1].output_len), (5, 1));
    assert_eq!(
        words("sluice x \"a \\\"b\\\"\" ''"),
        ["sluice", "x", "a \"b\"", ""]
    );
}

/// Every file under `dir` (no `target`, `.git` or `benches/out`).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !["target", ".git", "out"].contains(&name) {
                files_under(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_cites_a_file_outside_the_repository() {
    // The project's contract documents are not shipped; users have README.md and docs/ (and upstream docs).
    let names: Vec<String> = ["SPEC", "ARGOCD", "STYLE"]
        .iter()
        .map(|n| format!("{n}.md"))
        .collect();
    let mut files = Vec::new();
    files_under(&repo(), &mut files);
    assert!(files.len() > 50, "{}", files.len());
    let mut found = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for name in &names {
            if text.contains(name.as_str()) {
                found.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert_eq!(found, Vec::<String>::new());
}

/// GitHub's anchor of a heading: lower case, everything but letters, digits, spaces, `-` and `_`
/// dropped, spaces as `-`; a repeated heading gets `-1`, `-2`, ... (as github.com renders Markdown).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// `text` with fenced blocks and inline code spans blanked out (newlines kept, so lines keep their
/// numbers). A code span is a run of n backticks up to the next run of exactly n, within a paragraph and
/// possibly across its lines (`CommonMark`); a run without a closer is literal text.
fn without_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fenced = false;
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut String| {
        let joined = paragraph.join("\n");
        let chars: Vec<char> = joined.chars().collect();
        let mut blank = vec![false; chars.len()];
        let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '`' {
                i += 1;
                continue;
            }
            let n = run_at(i);
            let mut j = i + n;
            let mut closer = None;
            while j < chars.len() {
                if chars[j] == '`' {
                    let m = run_at(j);
                    if m == n {
                        closer = Some(j);
                        break;
                    }
                    j += m;
                } else {
                    j += 1;
                }
            }
            match closer {
                Some(j) => {
                    for b in &mut blank[i..j + n] {
                        *b = true;
                    }
                    i = j + n;
                }
                None => i += n,
            }
        }
        for (c, b) in chars.iter().zip(&blank) {
            out.push(if *b && *c != '\n' { ' ' } else { *c });
        }
        if !paragraph.is_empty() {
            out.push('\n');
        }
        paragraph.clear();
    };
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            flush(&mut paragraph, &mut out);
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if fenced {
            out.push('\n');
        } else if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
            out.push('\n');
        } else {
            paragraph.push(line);
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

/// The targets of the Markdown links in `text` outside code (`[text](target)`), with their lines.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in without_code(text).lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((i + 1, after[..end].trim().to_owned()));
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link and `#anchor` of `file` that does not resolve: `file:line: target (why)`.
fn broken_links(file: &Path, text: &str) -> Vec<String> {
    let dir = file.parent().expect("a file in a directory");
    let mut problems = Vec::new();
    for (line, target) in link_targets(text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let name = format!("{}:{line}: {target}", file.display());
        if path.is_empty() {
            let anchor = anchor.unwrap_or("");
            if !anchors(text).iter().any(|a| a == anchor) {
                problems.push(format!("{name} (no heading with that anchor)"));
            }
            continue;
        }
        let resolved = dir.join(path);
        if !resolved.exists() {
            problems.push(format!("{name} (no such file)"));
            continue;
        }
        if let Some(anchor) = anchor {
            let Ok(target_text) = std::fs::read_to_string(&resolved) else {
                problems.push(format!(
                    "{name} (an anchor into something that is not a text file)"
                ));
                continue;
            };
            if !anchors(&target_text).iter().any(|a| a == anchor) {
                problems.push(format!("{name} (no heading with that anchor)"));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_and_anchor_in_readme_and_docs_resolves() {
    let mut problems = Vec::new();
    let mut links = 0;
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        links += link_targets(&text).len();
        problems.extend(broken_links(&path, &text));
    }
    assert!(links > 40, "only {links} links found");
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_broken_link_or_anchor_is_caught() {
    // The control for the test above, on documents written here.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("other.md"),
        "# Other page\n\n## 1. The sink tokens\n\n## `sluice serve`\n\n## Notes\n\n## Notes\n",
    )
    .unwrap();
    let good = "See [a](other.md), [b](other.md#1-the-sink-tokens), [c](other.md#sluice-serve), [d](other.md#notes-1), [e](#top), [f](https://example.com/x#y), `[g](nowhere.md)`, ``a ` [h](x.md)``, `code\nacross lines [i](y.md)`.\n\n```\n[j](z.md)\n```\n\n# Top\n";
    let file = tmp.path().join("page.md");
    assert_eq!(broken_links(&file, good), Vec::<String>::new());
    for (bad, why) in [
        ("[x](missing.md)", "no such file"),
        ("[x](other.md#the-sink-tokens)", "no heading"),
        ("[x](#nowhere)", "no heading"),
        ("[x](other.md#notes-2)", "no heading"),
        ("a ` b [x](missing.md)", "no such file"),
    ] {
        let found = broken_links(&file, &format!("{good}\n{bad}\n"));
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert!(found[0].contains(why), "{bad}: {found:?}");
    }
}

/// The example body of docs/audit-log.md ("An example event") is what Argo CD posts: a real sink records
/// it with the members the page says.
#[test]
fn the_example_event_body_is_recorded_as_documented() {
    let text = std::fs::read_to_string(repo().join("docs/audit-log.md")).unwrap();
    let section = text
        .split("### An example event")
        .nth(1)
        .expect("the section");
    let body = section
        .split("```json\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("the example's json block");
    let tmp = tempfile::tempdir().unwrap();
    let sink = crate::support::Sink::start(&tmp.path().join("data"), Some("t0ken"));
    let r = sink.http(
        "POST",
        "/v1/events",
        &[
            ("Authorization", "Bearer t0ken"),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let record: serde_json::Value = serde_json::from_str(&sink.log_lines()[0]).unwrap();
    assert_eq!(record["changeId"], "CHG-1234");
    assert_eq!(record["changeIdSource"], "application");
    assert_eq!(
        record["approvedBy"],
        serde_json::json!(["Bob Example <bob@example.com>"])
    );
    assert_eq!(record["risk"], "low");
    assert_eq!(record["rollback"], "revert this commit");
    assert_eq!(record["phase"], "Succeeded");
    assert_eq!(
        record["revision"],
        "4f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
    );
}

/// No file the repository tracks holds a merge's conflict markers (a line that begins with seven
/// `<`, or seven `>`, and a space): a merge resolved by hand can leave them where no compiler looks
/// (docs, YAML, scripts).
#[test]
fn no_tracked_file_holds_conflict_markers() {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo())
        .output()
        .expect("git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    let (open, close) = ("<".repeat(7) + " ", ">".repeat(7) + " ");
    let mut found = Vec::new();
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let Ok(text) = std::fs::read_to_string(repo().join(&name)) else {
            continue; // binary files, and files the work tree has deleted
        };
        for (n, line) in text.lines().enumerate() {
            if line.starts_with(&open) || line.starts_with(&close) {
                found.push(format!("{name}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "conflict markers left by a merge:\n{}",
        found.join("\n")
    );
}
