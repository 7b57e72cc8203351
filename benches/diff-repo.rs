//! Benchmark: `sluice diff --repo` on a repository of 30 apps against rendering those apps once (the
//! goal: the diff takes under 3× the time of one render of every app). The repository: 10 plain
//! directory apps, 10 Kustomize overlays on two shared bases (real `kubectl kustomize`), 10 apps of a
//! list `ApplicationSet`, each with a `ConfigMap` and a Deployment; one commit then changes a file every
//! app reads, so all 30 are touched and rendered at both revisions.
//!
//! Baseline, measured in the same run: `sluice render` of each of the 30 apps, one after the other
//! (30 processes, each rendering once). Measured: `sluice diff --repo --base HEAD~1 --head HEAD -o
//! markdown` (one process: Git reads, discovery, 60 renders on all cores, comparison, report). Each
//! is run 5 times; medians are printed with the ratio.
//!
//! Run: `cargo bench --bench diff-repo` (needs git and kubectl on PATH).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn sluice() -> PathBuf {
    // cargo bench builds the binary beside the bench's own directory.
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("sluice");
    assert!(
        bin.is_file(),
        "{} not built: cargo build --release first",
        bin.display()
    );
    bin
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
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

fn objects(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  LOG_LEVEL: info\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: {name}\n        image: {image}\n        envFrom:\n        - configMapRef: {{name: {name}}}\n"
    )
}

/// The 30 apps' directories, in a repository with two commits (the second touches every app).
fn repository(dir: &Path) -> Vec<String> {
    let policy = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";
    git(dir, &["init", "-q", "-b", "main"]);
    let mut apps = Vec::new();
    for i in 0..10 {
        let app = format!("plain/p{i:02}");
        write(dir, &format!("{app}/.sluice.yaml"), policy);
        write(
            dir,
            &format!("{app}/app.yaml"),
            &objects(&format!("p{i:02}"), "nginx:1.27"),
        );
        apps.push(app);
    }
    for base in ["base-a", "base-b"] {
        write(
            dir,
            &format!("kustomize/{base}/kustomization.yaml"),
            "resources:\n- app.yaml\n",
        );
        write(
            dir,
            &format!("kustomize/{base}/app.yaml"),
            &objects("api", "registry.example.com/api:v1"),
        );
    }
    for i in 0..10 {
        let app = format!("kustomize/overlays/k{i:02}");
        let base = if i < 5 { "base-a" } else { "base-b" };
        write(dir, &format!("{app}/.sluice.yaml"), policy);
        write(
            dir,
            &format!("{app}/kustomization.yaml"),
            &format!("namePrefix: k{i:02}-\nresources:\n- ../../{base}\n"),
        );
        apps.push(app);
    }
    let mut elements = String::new();
    for i in 0..10 {
        let app = format!("list/l{i:02}");
        write(dir, &format!("{app}/.sluice.yaml"), policy);
        write(
            dir,
            &format!("{app}/app.yaml"),
            &objects(&format!("l{i:02}"), "nginx:1.27"),
        );
        let _ = writeln!(elements, "      - name: l{i:02}");
        apps.push(app);
    }
    write(dir, "argocd/list.yaml", &format!("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: lists\nspec:\n  generators:\n  - list:\n      elements:\n{elements}  template:\n    metadata:\n      name: '{{{{name}}}}'\n    spec:\n      source:\n        path: 'list/{{{{name}}}}'\n      destination:\n        namespace: '{{{{name}}}}'\n"));
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "thirty apps"]);
    for app in apps.iter().filter(|a| !a.starts_with("kustomize")) {
        let path = dir.join(app).join("app.yaml");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")).expect("write");
    }
    for base in ["base-a", "base-b"] {
        let path = dir.join(format!("kustomize/{base}/app.yaml"));
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace("api:v1", "api:v2")).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "touch every app"]);
    apps
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn run(dir: &Path, args: &[&str]) {
    let out = Command::new(sluice())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("sluice");
    assert!(
        out.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).expect("repo");
    let apps = repository(&dir);
    assert_eq!(apps.len(), 30);
    let env = ["--env", "ARGOCD_APP_NAMESPACE=bench"];
    let mut renders = Vec::new();
    let mut diffs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for app in &apps {
            let mut args = vec!["render", app.as_str()];
            args.extend_from_slice(&env);
            run(&dir, &args);
        }
        renders.push(start.elapsed());
        let start = Instant::now();
        run(
            &dir,
            &[
                "diff", "--repo", "--base", "HEAD~1", "--head", "HEAD", "-o", "markdown",
            ],
        );
        diffs.push(start.elapsed());
    }
    let out = Command::new(sluice())
        .current_dir(&dir)
        .args([
            "diff", "--repo", "--base", "HEAD~1", "--head", "HEAD", "-o", "json",
        ])
        .output()
        .expect("sluice");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let touched = report["apps"].as_array().map_or(0, Vec::len);
    assert_eq!(touched, 30, "every app is touched");
    let (render, diff) = (median(renders), median(diffs));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("diff-repo: 30 apps, {cores} cores");
    println!("  render each app once (30 × sluice render, sequential): median {render:?}");
    println!("  sluice diff --repo (all 30 touched, 60 renders):       median {diff:?}");
    println!(
        "  ratio diff / render-once: {:.2}",
        diff.as_secs_f64() / render.as_secs_f64()
    );
}
