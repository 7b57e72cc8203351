//! Integration tests: `sluice render -o yaml` reads back (`PyYAML`, YAML 1.1 as Kubernetes reads it)
//! as exactly the documents of `render -o json`, for every fixture app; and README's first command
//! shows the real start of its output.

use crate::diff::check_doc_block;
use crate::support::{copy_dir, project_root, sluice_in, stderr, stdout};
use std::path::{Path, PathBuf};

/// Every fixture app: (name, app directory, repository root, `KEY=VALUE` environment).
fn fixture_apps() -> Vec<(String, PathBuf, PathBuf, Vec<String>)> {
    let root = project_root();
    let shop_env = [
        "ARGOCD_APP_NAME=shop",
        "ARGOCD_APP_NAMESPACE=shop",
        "SLUICE_IMAGE=ghcr.io/example/sluice:0.1.0",
    ];
    let mut apps = vec![
        (
            "examples/shop".to_string(),
            root.join("examples/shop"),
            root.to_path_buf(),
            shop_env.map(String::from).to_vec(),
        ),
        (
            "yaml11 traps".into(),
            root.join("tests/fixtures/generate/yaml11"),
            root.to_path_buf(),
            vec![
                "ARGOCD_APP_NAME=yaml11".into(),
                "ARGOCD_APP_NAMESPACE=web".into(),
            ],
        ),
        (
            "kustomize".into(),
            root.join("tests/fixtures/generate/kustomize"),
            root.to_path_buf(),
            vec![
                "ARGOCD_APP_NAME=k".into(),
                "ARGOCD_APP_NAMESPACE=shop".into(),
            ],
        ),
    ];
    let hooks = root.join("tests/fixtures/hooks");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&hooks)
        .expect("tests/fixtures/hooks")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("input").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "the hook fixtures are missing: {cases:?}");
    for case in cases {
        let env = std::fs::read_to_string(case.join("env"))
            .expect("env")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        let input = case.join("input");
        apps.push((
            format!("hooks/{}", case.file_name().unwrap().to_string_lossy()),
            input.clone(),
            input,
            env,
        ));
    }
    apps
}

fn render(app: &Path, root: &Path, env: &[String], format: &str) -> String {
    let mut args = vec![
        "render".to_string(),
        app.display().to_string(),
        "--repo-root".into(),
        root.display().to_string(),
        "-o".into(),
        format.into(),
        "--show-secrets".into(),
    ];
    for e in env {
        args.push("--env".into());
        args.push(e.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = sluice_in(app, &args, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        app.display(),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn yaml_output_reads_back_as_the_json_output_for_every_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pairs = Vec::new();
    for (i, (name, app, root, env)) in fixture_apps().into_iter().enumerate() {
        let yaml = render(&app, &root, &env, "yaml");
        let json = render(&app, &root, &env, "json");
        let docs = json.matches("---\n").count();
        assert!(docs > 0, "{name}: no documents");
        let sources = yaml.lines().filter(|l| l.starts_with("# Source: ")).count();
        assert_eq!(sources, docs, "{name}: one # Source: line per document");
        let (y, j) = (
            tmp.path().join(format!("{i}.yaml")),
            tmp.path().join(format!("{i}.json")),
        );
        std::fs::write(&y, yaml).unwrap();
        std::fs::write(&j, json).unwrap();
        pairs.push(format!("{name}\t{}\t{}", y.display(), j.display()));
    }
    // One Python process for every fixture: PyYAML reads the YAML stream (YAML 1.1), json the JSON
    // documents; same documents, same types, same key order.
    let script = r"
import json, sys, yaml
def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b
bad = []
for line in sys.stdin.read().splitlines():
    name, y, j = line.split('\t')
    from_yaml = [d for d in yaml.safe_load_all(open(y)) if d is not None]
    from_json = [json.loads(c) for c in open(j).read().split('---\n') if c.strip()]
    if len(from_yaml) != len(from_json) or not all(same(a, b) for a, b in zip(from_yaml, from_json)):
        bad.append(name)
print(json.dumps(bad))
";
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (tests/requirements.txt)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pairs.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "[]",
        "these fixtures read back differently"
    );
}

#[test]
fn yaml_quotes_the_yaml_1_1_traps_of_the_fixture() {
    let root = project_root();
    let yaml = render(
        &root.join("tests/fixtures/generate/yaml11"),
        root,
        &[
            "ARGOCD_APP_NAME=yaml11".into(),
            "ARGOCD_APP_NAMESPACE=web".into(),
        ],
        "yaml",
    );
    for line in [
        "  octal-quoted: '0644'\n",
        "  on-quoted: 'on'\n",
        "  version-quoted: '1.10'\n",
        "  mode: 420\n",
    ] {
        assert!(yaml.contains(line), "{line:?} not in:\n{yaml}");
    }
    assert!(yaml.starts_with("---\n# Source: "), "{yaml}");
}

/// How many lines of `render` output README shows.
const README_LINES: usize = 40;

#[test]
fn readme_first_command_shows_real_yaml_output() {
    let readme_path = project_root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo run --release -- render "))
        .expect("README's first command runs render");
    let args: Vec<&str> = command
        .trim_start_matches("cargo run --release -- ")
        .split_whitespace()
        .collect();
    // The command runs from the repository root, where `examples/shop` is; a copy keeps it apart.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(
        &project_root().join("examples"),
        &tmp.path().join("examples"),
    );
    let out = sluice_in(tmp.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut head = String::new();
    for line in text.lines().take(README_LINES) {
        head.push_str(line);
        head.push('\n');
    }
    check_doc_block(&readme_path, "render-output", "yaml", &head);
}
