//! The sentinel scan (a property test): random secret values are planted in every place a Secret's
//! value can hide (a Secret's `data` and `stringData`, its `kubectl.kubernetes.io/last-applied-
//! configuration` annotation as JSON and as text that does not parse, a `SealedSecret`'s
//! `spec.encryptedData` and `spec.template.data`, a Kustomize secretGenerator's literal and file),
//! rotated by a commit, and then every output of `render` (`-o yaml`, `-o json`) and of `diff` (text,
//! Markdown, JSON, `--output-file`, app and repository mode, a head that fails to render), stdout and
//! stderr, is scanned for each value, its base64 at any of the three alignments, any 16 characters of
//! its hex (lower or upper case), and the first 16 hex digits of its SHA-256: one more than
//! Kustomize's 10-character name hash, and far fewer than the 64 of the config checksum, which hashes
//! a whole Secret.

use crate::support::{sluice_in, stderr, stdout};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use proptest::prelude::*;
use sha2::Digest as _;
use std::path::Path;
use std::process::{Command, Output};

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// What must never be printed for a secret value `s`.
fn forbidden(s: &str) -> Vec<String> {
    let mut out = vec![s.to_string()];
    for align in 0..3 {
        let mut bytes = vec![b'x'; align];
        bytes.extend_from_slice(s.as_bytes());
        let encoded = B64.encode(&bytes);
        // The first 4 characters hold the alignment bytes, the last 4 the padding.
        out.push(encoded[4..encoded.len() - 4].to_string());
    }
    let hex = hex_of(s.as_bytes());
    for i in 0..=hex.len() - 16 {
        out.push(hex[i..i + 16].to_string());
        out.push(hex[i..i + 16].to_uppercase());
    }
    let digest = hex_of(&sha2::Sha256::digest(s.as_bytes()));
    out.push(digest[..16].to_string());
    out
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ann Author")
        .env("GIT_AUTHOR_EMAIL", "ann@example.com")
        .env("GIT_COMMITTER_NAME", "Ann Author")
        .env("GIT_COMMITTER_EMAIL", "ann@example.com")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// The app's files holding the values `v[0..6]`.
fn plant(dir: &Path, v: &[String]) {
    let b64 = |s: &str| B64.encode(s.as_bytes());
    let applied = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "exported"},
        "data": {"token": b64(&v[0])}, "stringData": {"password": v[1]}
    })
    .to_string();
    write(
        dir,
        "apps/vault/.sluice.yaml",
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
    );
    write(dir, "apps/vault/kustomization.yaml", &format!(
        "resources:\n- secrets.yaml\n- api.yaml\nsecretGenerator:\n- name: generated\n  literals:\n  - literal={}\n  files:\n  - from-file.txt\n",
        v[4]
    ));
    write(dir, "apps/vault/from-file.txt", &v[5]);
    write(dir, "apps/vault/secrets.yaml", &format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: exported\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{applied}'\ndata:\n  token: {}\nstringData:\n  password: {}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: broken-annotation\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"stringData\": {{\"password\": \"{}\"'\nstringData:\n  password: {}\n---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: sealed\nspec:\n  encryptedData:\n    key: {}\n  template:\n    metadata:\n      name: sealed\n    data:\n      rendered: '{}'\n",
        b64(&v[0]), v[1], v[2], v[2], v[3], v[3]
    ));
    write(dir, "apps/vault/api.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: api\n        image: nginx:1.27\n        envFrom:\n        - secretRef: {name: exported}\n        - secretRef: {name: generated}\n        - secretRef: {name: sealed}\n");
}

/// Every output of render and diff over a repository whose last commit rotates every value.
fn outputs(dir: &Path) -> Vec<(String, Output)> {
    let full = dir.join("../full.out");
    let full_arg = full.display().to_string();
    let env = [
        "--env",
        "ARGOCD_APP_NAME=vault",
        "--env",
        "ARGOCD_APP_NAMESPACE=vault",
    ];
    let mut runs: Vec<(String, Vec<&str>)> = vec![
        (
            "render yaml".into(),
            vec!["render", "apps/vault", "-o", "yaml"],
        ),
        (
            "render json".into(),
            vec!["render", "apps/vault", "-o", "json"],
        ),
    ];
    for format in ["text", "markdown", "json"] {
        runs.push((
            format!("diff {format}"),
            vec![
                "diff",
                "apps/vault",
                "--base",
                "HEAD~1",
                "--head",
                "HEAD",
                "-o",
                format,
                "--output-file",
                &full_arg,
            ],
        ));
        runs.push((
            format!("diff --repo {format}"),
            vec![
                "diff",
                "--repo",
                "--base",
                "HEAD~1",
                "--head",
                "HEAD",
                "-o",
                format,
                "--max-size",
                "3000",
            ],
        ));
    }
    let mut out = Vec::new();
    for (name, mut args) in runs {
        args.extend_from_slice(&env);
        let o = sluice_in(dir, &args, &[]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        out.push((name.clone(), o));
        if let Ok(text) = std::fs::read(&full) {
            out.push((
                format!("{name} --output-file"),
                Output {
                    status: out[0].1.status,
                    stdout: text,
                    stderr: Vec::new(),
                },
            ));
            let _ = std::fs::remove_file(&full);
        }
    }
    out
}

fn scan(what: &str, out: &Output, values: &[String]) {
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(out));
    for v in values {
        for f in forbidden(v) {
            assert!(
                !text.contains(&f),
                "{what}: shows {f:?} (from {v:?}):\n{text}"
            );
        }
    }
}

#[test]
fn no_secret_value_appears_in_any_output() {
    let strategy = proptest::collection::vec("[A-Za-z0-9+/=_-]{24,40}", 12);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 4,
        source_file: Some(file!()),
        ..Default::default()
    });
    let outcome = runner.run(&strategy, |values| {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("repo");
        std::fs::create_dir_all(&dir).expect("repo");
        git(&dir, &["init", "-q", "-b", "main"]);
        plant(&dir, &values[..6]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "one"]);
        plant(&dir, &values[6..]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "rotate"]);
        for (what, out) in outputs(&dir) {
            scan(&what, &out, &values);
        }
        let text = stdout(&sluice_in(
            &dir,
            &["diff", "apps/vault", "--base", "HEAD~1", "--head", "HEAD"],
            &[],
        ));
        prop_assert!(
            text.contains("Secret exported data.token: changed"),
            "{}",
            text
        );
        prop_assert!(
            text.contains(
                "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration: changed"
            ),
            "{}",
            text
        );
        prop_assert!(
            text.contains("SealedSecret sealed spec.encryptedData.key: changed"),
            "{}",
            text
        );
        // A head that fails to render: the error names the file, never the values.
        write(
            &dir,
            "apps/vault/secrets.yaml",
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: x}}\nstringData:\n  token: [{}\n",
                values[7]
            ),
        );
        let out = sluice_in(&dir, &["diff", "apps/vault"], &[]);
        prop_assert_eq!(out.status.code(), Some(1));
        scan("a head that does not render", &out, &values);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
