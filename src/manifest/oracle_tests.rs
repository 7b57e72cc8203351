//! The go-yaml v2 oracle: tests/yaml-oracle (a Go program built against Debian's go-yaml v2.4.0 and
//! ghodss/yaml, reading streams as Kubernetes' `YAMLOrJSONDecoder` does) and sluice's reader are given
//! the same streams, every fixture of the repository and 10,000 generated documents, and must agree.
//! Where they may not, the difference is a decision documented in docs/yaml.md:
//!
//! - numbers are compared by value (`1.0` and `1` are the same JSON number to Kubernetes);
//! - a piece between `---` lines that holds a second YAML document (after `...`) is refused by
//!   sluice, where Kubernetes silently keeps the first;
//! - sluice flattens `kind: List`, as Argo CD does after reading (the oracle prints the List).
//!
//! The generator is a property test driven by a seeded generator (splitmix64), so that all cases
//! go to one Go process in one batch; `SLUICE_ORACLE_SEED` and `SLUICE_ORACLE_CASES` change the run.

use super::oracle_corpus::{streams, DEFAULT_SEED};
use super::{read_all, Limits};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a stream became: its objects, or an error (with whether a piece held several documents).
#[derive(Debug)]
enum Outcome {
    Docs(Vec<Value>),
    Error { message: String, multi: bool },
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds tests/yaml-oracle once (offline, GOPATH mode on Debian's /usr/share/gocode).
fn oracle_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let work = std::env::temp_dir().join(format!("sluice-yaml-oracle-{}", std::process::id()));
        let bin = work.join("yaml-oracle");
        let gopath = "/usr/share/gocode";
        assert!(
            Path::new(gopath).join("src/gopkg.in/yaml.v2").is_dir()
                && Path::new(gopath).join("src/github.com/ghodss/yaml").is_dir(),
            "go-yaml v2 and ghodss/yaml sources are missing: apt-get install golang-gopkg-yaml.v2-dev golang-github-ghodss-yaml-dev (tests/run does)"
        );
        let out = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(repo().join("tests/yaml-oracle"))
            .env("GOCACHE", std::env::temp_dir().join("sluice-yaml-oracle-gocache"))
            .env("GOPATH", gopath)
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .output()
            .expect("run go (apt-get install golang-go; tests/run does)");
        assert!(
            out.status.success(),
            "go build tests/yaml-oracle: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// Runs the oracle on every stream in one process.
fn oracle(streams: &[String]) -> Vec<Outcome> {
    let mut input = Vec::new();
    for s in streams {
        let _ = write!(input, "{}\n{s}", s.len());
    }
    let mut child = Command::new(oracle_binary())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write to the oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let outcomes: Vec<Outcome> = text
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("oracle prints JSON");
            match v.get("error").and_then(Value::as_str) {
                Some(e) => Outcome::Error {
                    message: e.to_string(),
                    multi: v["multi"] == true,
                },
                None => Outcome::Docs(
                    v["docs"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .flat_map(flatten_list)
                        .collect(),
                ),
            }
        })
        .collect();
    assert_eq!(outcomes.len(), streams.len(), "one answer per stream");
    outcomes
}

/// `kind: List` items, as sluice (and Argo CD after reading) flatten them.
fn flatten_list(v: Value) -> Vec<Value> {
    if v["kind"] == "List" && v["apiVersion"] == "v1" {
        return v["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .flat_map(flatten_list)
            .collect();
    }
    vec![v]
}

fn sluice(text: &str) -> Outcome {
    match read_all(&[("t.yaml", text)], &Limits::default()) {
        Ok(docs) => Outcome::Docs(docs.iter().map(|d| Value::Object(d.to_object())).collect()),
        Err(e) => Outcome::Error {
            message: e.to_string(),
            multi: false,
        },
    }
}

/// The same JSON value; numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), ..) => x == y,
                (.., Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Whether sluice and the oracle agree on `text`, allowing the documented decisions.
fn agree(ours: &Outcome, theirs: &Outcome) -> bool {
    match (ours, theirs) {
        (Outcome::Docs(a), Outcome::Docs(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Outcome::Error { .. }, Outcome::Error { .. }) => true,
        (Outcome::Error { message, .. }, Outcome::Docs(_)) => {
            message.contains("a second YAML document")
        }
        (Outcome::Docs(_), Outcome::Error { .. }) => false,
    }
}

fn compare(streams: &[String], theirs: &[Outcome]) -> Vec<String> {
    let mut failures = Vec::new();
    for (text, theirs) in streams.iter().zip(theirs) {
        let ours = sluice(text);
        let allowed_multi = matches!(
            theirs,
            Outcome::Error { multi: true, .. } | Outcome::Docs(_)
        ) && matches!(&ours, Outcome::Error { message, .. } if message.contains("a second YAML document"));
        if !agree(&ours, theirs) && !allowed_multi {
            failures.push(format!(
                "----- input -----\n{text}\n----- sluice -----\n{ours:?}\n----- go-yaml v2 -----\n{theirs:?}\n"
            ));
        }
    }
    failures
}

fn assert_agree(streams: &[String]) {
    let failures = compare(streams, &oracle(streams));
    assert!(
        failures.is_empty(),
        "{} of {} streams read differently from go-yaml v2; the first:\n{}",
        failures.len(),
        streams.len(),
        failures.iter().take(5).cloned().collect::<String>()
    );
}

// ---- the regression cases of issue 13 (real files' shapes) -----------------------------------------------

/// Item 1: istio samples/security/spire/spire-quickstart.yaml writes a multi-line flow sequence whose
/// closing `]` sits at its key's indentation; Kubernetes reads it.
#[test]
fn flow_sequence_closing_at_key_indentation_reads_as_kubernetes() {
    let spire = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: spire-bundle\n  namespace: spire\ndata:\n  ca_subject: [\n      \"spiffe://example.org\",\n      \"O=SPIFFE\",\n  ]\n  flat: {\n    a: 1,\n  b: [x,\ny]\n  }\n";
    let docs = match sluice(spire) {
        Outcome::Docs(d) => d,
        Outcome::Error { message, .. } => panic!("refused: {message}"),
    };
    assert_eq!(
        docs[0]["data"]["ca_subject"],
        serde_json::json!(["spiffe://example.org", "O=SPIFFE"])
    );
    assert_agree(&[spire.to_string()]);
}

/// Item 2: a block scalar on the last line of a file without a final newline. Kubernetes'
/// `LineReader` ends every line, the last one too, with `\n` before go-yaml v2 sees it, so the value
/// keeps its final `\n` in Kubernetes (and Argo CD); sluice gives exactly that (docs/yaml.md).
#[test]
fn block_scalar_at_end_of_file_without_newline_reads_as_kubernetes() {
    let base = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  script: ";
    let streams: Vec<String> = [
        "|\n    echo a\n    echo b",
        ">\n    a\n    b",
        "|+\n    a\n\n    b",
        "|-\n    a",
        "|\n    a\n  other: |\n    b",
    ]
    .iter()
    .map(|tail| format!("{base}{tail}"))
    .collect();
    match sluice(&streams[0]) {
        Outcome::Docs(d) => assert_eq!(d[0]["data"]["script"], "echo a\necho b\n"),
        Outcome::Error { message, .. } => panic!("{message}"),
    }
    assert_agree(&streams);
}

/// Item 3: the go-yaml v2 edge cases.
#[test]
fn go_yaml_v2_edge_cases_read_as_kubernetes() {
    let head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let streams = vec![
        // JSON with escaped surrogate pairs, as Python's json.dumps writes it.
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}, \"data\": {\"smile\": \"\\ud83d\\ude00\"}}\n".to_string(),
        format!("{head}data:\n  ~: a\n"),
        format!("{head}data:\n  18446744073709551615: a\n"),
        format!("{head}data:\n  123456789.0: a\n  1.5: b\n  .inf: c\n"),
        format!("{head}data:\n  bin: !!binary aGVsbG8gd29ybGQ=\n  raw: !!binary |\n    /w==\n"),
        format!("--- !!map\n{head}"),
        format!("{head}---\n--- !!map\n{head}"),
        format!("{head}...\n{head}"),
    ];
    let outcomes: Vec<Outcome> = streams.iter().map(|s| sluice(s)).collect();
    let docs = |i: usize| match &outcomes[i] {
        Outcome::Docs(d) => d.clone(),
        Outcome::Error { message, .. } => panic!("{i}: {message}"),
    };
    let refused = |i: usize, needle: &str| match &outcomes[i] {
        Outcome::Error { message, .. } => assert!(message.contains(needle), "{message}"),
        Outcome::Docs(d) => panic!("{i} accepted: {d:?}"),
    };
    assert_eq!(docs(0)[0]["data"]["smile"], "\u{1F600}");
    refused(1, "null");
    refused(2, "beyond int64");
    assert_eq!(
        docs(3)[0]["data"],
        serde_json::json!({"1.2345679e+08": "a", "1.5": "b", ".inf": "c"})
    );
    assert_eq!(
        docs(4)[0]["data"],
        serde_json::json!({"bin": "hello world", "raw": "\u{FFFD}"})
    );
    refused(5, "invalid document separator");
    refused(7, "a second YAML document");
    assert_agree(&streams);
}

// ---- every fixture ------------------------------------------------------------------------------------

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() && name != "target" && name != ".git" {
            yaml_files(&path, out);
        } else if [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

/// Every YAML and JSON file of the repository (examples, fixtures, install manifests) that is a
/// Kubernetes manifest reads the same; files that are not (policies, values) are left out.
#[test]
fn every_fixture_reads_as_go_yaml_v2() {
    let mut files = Vec::new();
    for dir in ["examples", "tests/fixtures", "argocd-cm-patch", "docs"] {
        yaml_files(&repo().join(dir), &mut files);
    }
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    assert!(texts.len() >= 20, "fixtures found: {}", texts.len());
    let theirs = oracle(&texts);
    let mut compared = 0;
    let mut failures = Vec::new();
    for ((file, text), theirs) in files.iter().zip(&texts).zip(&theirs) {
        let manifest = match theirs {
            Outcome::Docs(d) => d
                .iter()
                .all(|o| o["apiVersion"].is_string() && o["kind"].is_string()),
            Outcome::Error { .. } => true,
        };
        if !manifest {
            continue;
        }
        compared += 1;
        let ours = sluice(text);
        if !agree(&ours, theirs) {
            failures.push(format!(
                "{}: sluice {ours:?}\n go-yaml v2 {theirs:?}",
                file.display()
            ));
        }
    }
    assert!(compared >= 15, "manifests compared: {compared}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- generated documents ---------------------------------------------------------------------------------

/// At least 10,000 generated streams read the same as go-yaml v2 reads them in Kubernetes.
#[test]
fn generated_documents_read_as_go_yaml_v2() {
    let seed: u64 = std::env::var("SLUICE_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let cases: u64 = std::env::var("SLUICE_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let streams = streams(seed, cases);
    let theirs = oracle(&streams);
    // The generator must reach the interesting cases, not just errors.
    let accepted = theirs
        .iter()
        .filter(|o| matches!(o, Outcome::Docs(_)))
        .count();
    assert!(
        accepted * 2 > streams.len(),
        "only {accepted} of {} generated streams are valid for go-yaml v2",
        streams.len()
    );
    let failures = compare(&streams, &theirs);
    if let Ok(path) = std::env::var("SLUICE_ORACLE_DUMP") {
        let _ = std::fs::write(path, failures.concat());
    }
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} streams read differently from go-yaml v2; the first:\n{}",
        failures.len(),
        streams.len(),
        failures.iter().take(3).cloned().collect::<String>()
    );
}
