//! Helpers shared by the integration tests: the binary's path and running it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Path of the `sluice` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// Runs `sluice ARGS` in `dir` with a clean environment plus `env`.
pub fn sluice_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sluice")
}

/// Stdout as UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// Stderr as UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// The repository's own directory (where Cargo.toml is).
pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Argo CD's build environment for an app, as argocd-cmp-server sets it (ARGOCD.md §1).
pub fn argocd_env<'a>(
    app: &'a str,
    namespace: &'a str,
    source_path: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ARGOCD_APP_NAME", app),
        ("ARGOCD_APP_NAMESPACE", namespace),
        ("ARGOCD_APP_PROJECT_NAME", "default"),
        (
            "ARGOCD_APP_REVISION",
            "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
        ),
        ("ARGOCD_APP_REVISION_SHORT", "4f3c2b1"),
        ("ARGOCD_APP_REVISION_SHORT_8", "4f3c2b1a"),
        (
            "ARGOCD_APP_SOURCE_REPO_URL",
            "https://git.example.com/platform/gitops.git",
        ),
        ("ARGOCD_APP_SOURCE_PATH", source_path),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main"),
        ("KUBE_VERSION", "1.31.4"),
        (
            "KUBE_API_VERSIONS",
            "v1,apps/v1,batch/v1,velero.io/v1,velero.io/v1/Backup,argoproj.io/v1alpha1",
        ),
        ("ARGOCD_APP_PARAMETERS", "null"),
        ("SLUICE_IMAGE", "ghcr.io/example/sluice:0.1.0"),
    ]
}

/// Splits a manifest stream the way Argo CD's kube.SplitYAMLToString does: on lines that are `---`.
pub fn split_documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim_end() == "---" {
            if !cur.trim().is_empty() {
                docs.push(std::mem::take(&mut cur));
            }
            cur.clear();
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.trim().is_empty() {
        docs.push(cur);
    }
    docs
}

/// Runs a Python snippet with arguments; panics with its stderr on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is required by the tests (see tests/requirements.txt)");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}
