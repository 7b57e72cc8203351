//! Integration tests: `sluice diff` over whole repositories (real Git repositories in temporary
//! directories, real `kubectl kustomize`; Helm cannot run here, so Helm apps render with a recording
//! stand-in `helm` that prints a `ConfigMap` holding the value files it was given), the size bound of
//! the Markdown report, the named causes of restarts, and the shapes of real history: a base that
//! does not render (argocd-example-apps' "Fix broken pre-post-sync example", rebuilt here from its
//! shape), an app deleted by the checked-out commit, an app with its own `PreSync` Job.

use crate::support::{sluice_in, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AT: &str = "2026-11-24T03:00:00Z";

/// A Git repository in a temporary directory, committed with a fixed identity and date.
struct Git {
    tmp: tempfile::TempDir,
    /// A directory on PATH before the system's (the stand-in helm).
    bin: PathBuf,
}

impl Git {
    fn new() -> Git {
        let tmp = tempfile::tempdir().expect("tmp");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let g = Git { tmp, bin };
        std::fs::create_dir_all(g.path()).expect("repo");
        g.git(&["init", "-q", "-b", "main"]);
        g
    }

    fn path(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ann Author")
            .env("GIT_AUTHOR_EMAIL", "ann@example.com")
            .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
            .env("GIT_COMMITTER_NAME", "Ann Author")
            .env("GIT_COMMITTER_EMAIL", "ann@example.com")
            .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(&self, path: &str, text: &str) {
        let p = self.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    fn edit(&self, path: &str, from: &str, to: &str) {
        let p = self.path().join(path);
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.contains(from), "{path} lacks {from:?}");
        std::fs::write(p, text.replacen(from, to, 1)).expect("write");
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// `sluice ARGS --at AT` in `dir` (relative to the repository), the stand-in helm on PATH.
    fn sluice_at(&self, dir: &str, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--at", AT]);
        sluice_in(&self.path().join(dir), &all, &[("PATH", &path)])
    }

    fn sluice(&self, args: &[&str]) -> Output {
        self.sluice_at("", args)
    }

    /// `diff -o json ARGS` as JSON, asserting exit 0.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["diff", "-o", "json"];
        all.extend_from_slice(args);
        let out = self.sluice(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).expect("json report")
    }
}

/// The names of the apps of a JSON report.
fn app_names(report: &Value) -> Vec<String> {
    report["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_string())
        .collect()
}

const POLICY: &str = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";

fn deployment(name: &str, image: &str, config: Option<&str>) -> String {
    let env = config.map_or(String::new(), |c| {
        format!("        envFrom:\n        - configMapRef:\n            name: {c}\n")
    });
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: {name}\n        image: {image}\n{env}"
    )
}

fn config_map(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{data}")
}

/// A stand-in `helm` (helm cannot be installed here): for `template`, a `ConfigMap` named after the
/// release whose `values` key holds every `--values` file it was given, so a value change shows.
fn fake_helm(bin: &Path) {
    let script = r#"#!/bin/sh
release=""; files=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name-template) release="$2"; shift;;
    --values) files="$files $2"; shift;;
  esac
  shift
done
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-web\ndata:\n  values: |\n' "$release"
for f in $files; do sed 's/^/    /' "$f"; done
"#;
    let path = bin.join("helm");
    std::fs::write(&path, script).expect("helm");
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&path).expect("meta").permissions(),
        0o755,
    );
    let mut perms = std::fs::metadata(&path).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("chmod");
}

fn application(name: &str, path: &str, extra_source: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.com/platform/gitops.git\n    targetRevision: main\n    path: {path}\n{extra_source}  destination:\n    server: https://kubernetes.default.svc\n    namespace: {name}\n---\n"
    )
}

/// 30 apps: 10 plain directory apps with `.sluice.yaml`; 10 Kustomize overlays (8 on a shared base,
/// 2 on another; half with `.sluice.yaml`, half through Applications); a Helm chart with values per
/// environment and one Application each (3); an app-of-apps (1) holding those Applications; and a
/// list `ApplicationSet` of 6 directory apps.
fn thirty_apps() -> Git {
    let g = Git::new();
    fake_helm(&g.bin);
    for i in 1..=10 {
        let dir = format!("plain/p{i:02}");
        g.write(&format!("{dir}/.sluice.yaml"), POLICY);
        g.write(
            &format!("{dir}/app.yaml"),
            &format!(
                "{}---\n{}",
                config_map(&format!("p{i:02}"), "  A: '1'\n"),
                deployment(&format!("p{i:02}"), "nginx:1.27", Some(&format!("p{i:02}")))
            ),
        );
    }
    g.write(
        "kustomize/base/kustomization.yaml",
        "resources:\n- deployment.yaml\n",
    );
    g.write(
        "kustomize/base/deployment.yaml",
        &deployment("api", "registry.example.com/api:v2.4.3", None),
    );
    g.write(
        "kustomize/other-base/kustomization.yaml",
        "resources:\n- deployment.yaml\n",
    );
    g.write(
        "kustomize/other-base/deployment.yaml",
        &deployment("worker", "registry.example.com/worker:1.0", None),
    );
    let mut apps = String::new();
    for i in 1..=10 {
        let dir = format!("kustomize/overlays/k{i:02}");
        let base = if i <= 8 {
            "../../base"
        } else {
            "../../other-base"
        };
        g.write(
            &format!("{dir}/kustomization.yaml"),
            &format!("namePrefix: k{i:02}-\nresources:\n- {base}\n"),
        );
        if i % 2 == 0 {
            g.write(&format!("{dir}/.sluice.yaml"), POLICY);
        } else {
            apps.push_str(&application(&format!("k{i:02}"), &dir, ""));
        }
    }
    g.write(
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    );
    g.write("charts/web/values.yaml", "replicas: 1\n");
    for env in ["dev", "staging", "prod"] {
        g.write(
            &format!("charts/web/values-{env}.yaml"),
            &format!("env: {env}\n"),
        );
        apps.push_str(&application(
            &format!("web-{env}"),
            "charts/web",
            &format!("    helm:\n      valueFiles:\n      - values-{env}.yaml\n"),
        ));
    }
    g.write("argocd/apps/children.yaml", &apps);
    g.write("argocd/root.yaml", &application("root", "argocd/apps", ""));
    let mut elements = String::new();
    for i in 1..=6 {
        g.write(
            &format!("list/l{i:02}/cm.yaml"),
            &config_map(&format!("l{i:02}"), "  B: '2'\n"),
        );
        elements.push_str(&format!("      - name: l{i:02}\n"));
    }
    g.write(
        "argocd/appsets/list.yaml",
        &format!("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: lists\n  namespace: argocd\nspec:\n  generators:\n  - list:\n      elements:\n{elements}  - clusters: {{}}\n  template:\n    metadata:\n      name: '{{{{name}}}}'\n    spec:\n      project: default\n      source:\n        repoURL: https://git.example.com/platform/gitops.git\n        targetRevision: main\n        path: 'list/{{{{name}}}}'\n      destination:\n        server: https://kubernetes.default.svc\n        namespace: '{{{{name}}}}'\n"),
    );
    g.write("README.md", "# gitops\n");
    g.commit("CHG-1: thirty apps");
    g
}

/// The repository of 30 apps: a shared base change reports exactly the apps built on it; one value
/// file reports its one app; a README change reports none (exit 0 with `--exit-code`).
#[test]
fn repository_mode_reports_exactly_the_touched_apps() {
    let g = thirty_apps();
    let all = g.json(&["--repo", "--base", "HEAD~0", "--head", "HEAD"]);
    assert_eq!(all["mode"], "repository");
    assert_eq!(all["appsFound"], 30, "{all}");
    assert!(
        all["notes"][0]
            .as_str()
            .unwrap_or("")
            .contains("ApplicationSet lists: generator clusters not expanded"),
        "{}",
        all["notes"]
    );

    g.edit("kustomize/base/deployment.yaml", "api:v2.4.3", "api:v2.5.0");
    g.commit("CHG-2: api 2.5.0");
    let report = g.json(&["--base", "HEAD~1", "--head", "HEAD"]);
    let mut names = app_names(&report);
    names.sort();
    let expected: Vec<String> = (1..=8)
        .map(|i| {
            if i % 2 == 0 {
                format!("kustomize/overlays/k{i:02}")
            } else {
                format!("k{i:02}")
            }
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(
        names, expected,
        "the apps on the shared base, and only those"
    );
    for app in report["apps"].as_array().expect("apps") {
        assert_eq!(app["objects"][0]["status"], "changed", "{app}");
        let causes = &app["restarts"][0]["causes"];
        assert_eq!(causes[0], "image api: v2.4.3 → v2.5.0", "{app}");
    }
    let md = g.sluice(&[
        "diff", "--base", "HEAD~1", "--head", "HEAD", "-o", "markdown",
    ]);
    let md = stdout(&md);
    assert!(md.contains("### sluice diff: 8 of 30 apps changed"), "{md}");
    assert!(
        md.contains("| app | objects | restarts | hooks | window now | weakened controls |"),
        "{md}"
    );

    g.edit(
        "charts/web/values-prod.yaml",
        "env: prod",
        "env: production",
    );
    g.commit("CHG-3: prod values");
    let report = g.json(&["--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(app_names(&report), ["web-prod"], "{report}");
    let diff = report["apps"][0]["objects"][0]["diff"]
        .as_str()
        .expect("diff");
    assert!(
        diff.contains("-    env: prod\n+    env: production"),
        "{diff}"
    );

    g.edit("README.md", "# gitops", "# gitops, the platform's apps");
    g.commit("CHG-4: readme");
    let out = g.sluice(&["diff", "--base", "HEAD~1", "--head", "HEAD", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("sluice diff: 0 of 30 apps changed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("1 changed file; 0 apps touched"),
        "{}",
        stdout(&out)
    );

    // A change to an Application of the app-of-apps touches the parent and that child.
    g.edit(
        "argocd/apps/children.yaml",
        "      - values-dev.yaml",
        "      - values-staging.yaml",
    );
    g.commit("CHG-5: dev takes staging's values");
    let mut names = app_names(&g.json(&["--base", "HEAD~1", "--head", "HEAD"]));
    names.sort();
    assert_eq!(names, ["root", "web-dev"]);
    // --ignore of a path glob: the change is not looked at.
    let report = g.json(&[
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--ignore",
        "argocd/**",
    ]);
    assert!(app_names(&report).is_empty(), "{report}");
}

/// 1,600 objects added in one change, with a weakened control: the Markdown stays under GitHub's
/// 65,536 characters, keeps the summary and the warning, says what it left out and where the whole
/// report is; `--output-file` holds every diff.
#[test]
fn markdown_of_1600_new_objects_fits_a_comment() {
    let g = Git::new();
    g.write(
        "apps/big/.sluice.yaml",
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nbackup:\n  enabled: true\n",
    );
    g.write(
        "apps/big/api.yaml",
        &deployment("api", "nginx:1.27", Some("api-config")),
    );
    g.write(
        "apps/big/config.yaml",
        &config_map("api-config", "  LOG_LEVEL: info\n"),
    );
    g.commit("CHG-1: big");
    let mut many = String::new();
    for i in 0..1600 {
        many.push_str(&config_map(
            &format!("generated-{i:04}"),
            &format!("  KEY: value-{i}\n  OTHER: another value for {i}\n"),
        ));
        many.push_str("---\n");
    }
    g.write("apps/big/many.yaml", &many);
    g.edit(
        "apps/big/config.yaml",
        "LOG_LEVEL: info",
        "LOG_LEVEL: debug",
    );
    g.edit("apps/big/.sluice.yaml", "enabled: true", "enabled: false");
    g.commit("CHG-2: 1600 objects");
    let full = g.tmp.path().join("full.md");
    let out = g.sluice(&[
        "diff",
        "apps/big",
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "-o",
        "markdown",
        "--env",
        "ARGOCD_APP_NAME=big",
        "--env",
        "ARGOCD_APP_NAMESPACE=big",
        "--output-file",
        full.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(
        md.chars().count() < 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(md.len() <= 65_000, "{} bytes", md.len());
    assert!(
        md.contains("1600 added, 1 removed, 2 changed"),
        "the summary is kept: {}",
        &md[..1500]
    );
    assert!(
        md.contains("> [!WARNING]") && md.contains("backup turned off"),
        "the weakened control is kept"
    );
    assert!(
        md.contains("Deployment api: ConfigMap api-config: data.LOG\\_LEVEL"),
        "restarts are kept"
    );
    assert!(
        md.contains("<details><summary>changed Deployment api</summary>"),
        "the restarting workload's diff is kept first"
    );
    let note = md
        .lines()
        .find(|l| l.starts_with("> Left out to fit 65000 characters: "))
        .unwrap_or_else(|| panic!("no left-out line:\n{}", &md[md.len() - 2000..]));
    assert!(
        note.contains(" object diffs (") && note.contains(" more)"),
        "{note}"
    );
    assert!(note.contains("full.md"), "names the full report: {note}");
    assert!(
        md.contains("more objects not listed here"),
        "the object list is cut with a count: {}",
        &md[md.len() - 3000..]
    );
    let whole = std::fs::read_to_string(&full).expect("--output-file");
    assert_eq!(
        whole.matches("<details>").count(),
        1603,
        "every diff is in the full report"
    );
    assert!(!whole.contains("Left out"), "{}", &whole[..500]);
    // Text is not cut unless asked, and --max-size cuts it too.
    let text = stdout(&g.sluice(&[
        "diff",
        "apps/big",
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--env",
        "ARGOCD_APP_NAMESPACE=big",
    ]));
    assert!(text.len() > 200_000, "{}", text.len());
    let cut = stdout(&g.sluice(&[
        "diff",
        "apps/big",
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--max-size",
        "20000",
        "--env",
        "ARGOCD_APP_NAMESPACE=big",
    ]));
    assert!(
        cut.len() <= 20_000 && cut.contains("Left out to fit 20000 characters"),
        "{}",
        cut.len()
    );
}

/// A label-only `ConfigMap` change restarts nothing; an image bump names the image; a Kustomize
/// secretGenerator whose hash suffix changes is one Secret changed, with the key.
#[test]
fn restarts_and_generator_renames_are_precise() {
    let g = Git::new();
    g.write("apps/api/.sluice.yaml", POLICY);
    g.write("apps/api/kustomization.yaml", "resources:\n- api.yaml\n- config.yaml\nsecretGenerator:\n- name: api-db\n  literals:\n  - password=first-password\n  - user=api\n");
    let api = deployment("api", "registry.example.com/api:v2.4.3", Some("app-config")).replace(
        "        envFrom:\n",
        "        envFrom:\n        - secretRef:\n            name: api-db\n",
    );
    g.write("apps/api/api.yaml", &api);
    g.write("apps/api/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  labels:\n    team: a\ndata:\n  LOG_LEVEL: info\n");
    g.commit("CHG-1: api");
    let diff =
        |g: &Git| g.json(&["apps/api", "--base", "HEAD~1", "--head", "HEAD"])["apps"][0].clone();

    g.edit("apps/api/config.yaml", "team: a", "team: b");
    g.commit("CHG-2: label only");
    let app = diff(&g);
    assert_eq!(app["objects"].as_array().map(Vec::len), Some(1), "{app}");
    assert_eq!(app["objects"][0]["object"], "ConfigMap app-config");
    assert_eq!(
        app["restarts"],
        Value::Array(Vec::new()),
        "a label-only change restarts nothing: {app}"
    );

    g.edit("apps/api/api.yaml", "api:v2.4.3", "api:v2.5.0");
    g.commit("CHG-3: image");
    assert_eq!(
        diff(&g)["restarts"][0]["causes"],
        serde_json::json!(["image api: v2.4.3 → v2.5.0"])
    );

    g.edit(
        "apps/api/config.yaml",
        "LOG_LEVEL: info",
        "LOG_LEVEL: debug",
    );
    g.commit("CHG-4: log level");
    assert_eq!(
        diff(&g)["restarts"][0]["causes"],
        serde_json::json!(["ConfigMap app-config: data.LOG_LEVEL"])
    );

    g.edit(
        "apps/api/kustomization.yaml",
        "password=first-password",
        "password=second-password",
    );
    g.commit("CHG-5: rotate");
    let app = diff(&g);
    let objects = app["objects"].as_array().expect("objects");
    let secrets: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Secret").collect();
    assert_eq!(
        secrets.len(),
        1,
        "one Secret changed, not one removed and one added: {app}"
    );
    let secret = secrets[0];
    assert_eq!(secret["status"], "changed");
    assert!(
        secret["name"].as_str().unwrap_or("").starts_with("api-db-"),
        "{secret}"
    );
    assert!(
        secret["renamedFrom"]
            .as_str()
            .unwrap_or("")
            .starts_with("api-db-"),
        "{secret}"
    );
    assert_eq!(
        secret["secretKeys"],
        serde_json::json!([{"key": "data.password", "status": "changed"}, {"key": "data.user", "status": "unchanged"}])
    );
    let cause = app["restarts"][0]["causes"][0].as_str().expect("cause");
    assert!(
        cause.starts_with("Secret api-db-")
            && cause.contains("(was api-db-")
            && cause.ends_with("): data.password"),
        "{cause}"
    );
    let text = stdout(&g.sluice(&[
        "diff",
        "apps/api",
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--context",
        "0",
    ]));
    assert!(!text.contains("second-password"), "{text}");
    assert!(text.contains("0 added, 0 removed, 2 changed"), "{text}");
    assert!(text.contains("@@ -"), "{text}");
    // --context 0: no unchanged line around a change.
    let hunk: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("--- base/Deployment api"))
        .skip(3)
        .take(3)
        .collect();
    assert!(
        hunk.iter().take(2).all(|l| l.starts_with(['-', '+'])),
        "{hunk:?}"
    );
    // --ignore Secret: the Secret is left out of the comparison.
    let app = g.json(&[
        "apps/api", "--base", "HEAD~1", "--head", "HEAD", "--ignore", "Secret",
    ])["apps"][0]
        .clone();
    assert!(
        app["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .all(|o| o["kind"] != "Secret"),
        "{app}"
    );
}

/// The shape of argocd-example-apps 382b85852f→b4ebe0049d ("Fix broken pre-post-sync example"): the
/// base's kustomization names files outside its directory, which kustomize refuses; the fix uses a
/// base directory through the deprecated `bases:` field. The report says the base does not render,
/// shows the head all added, lists the app's own `PreSync` and `PostSync` Jobs, and passes kustomize's
/// deprecation warning on to stderr.
#[test]
fn a_base_that_does_not_render_still_gives_a_report() {
    let g = Git::new();
    g.write(
        "guestbook/ui-deployment.yaml",
        &deployment(
            "guestbook-ui",
            "gcr.io/heptio-images/ks-guestbook-demo:0.2",
            None,
        ),
    );
    g.write("guestbook/ui-svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook-ui\nspec:\n  ports:\n  - port: 80\n  selector:\n    app: guestbook-ui\n");
    g.write(
        "kustomize-guestbook/kustomization.yaml",
        "resources:\n- ui-deployment.yaml\n- ui-svc.yaml\n",
    );
    g.write(
        "kustomize-guestbook/ui-deployment.yaml",
        &deployment(
            "guestbook-ui",
            "gcr.io/heptio-images/ks-guestbook-demo:0.2",
            None,
        ),
    );
    g.write("kustomize-guestbook/ui-svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: guestbook-ui\nspec:\n  ports:\n  - port: 80\n");
    let job = |name: &str, phase: &str| {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: {phase}\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\nspec:\n  template:\n    spec:\n      containers:\n      - name: sleep\n        image: alpine:3.21\n        command: [sleep, '5']\n      restartPolicy: Never\n  backoffLimit: 0\n")
    };
    g.write("pre-post-sync/.sluice.yaml", POLICY);
    g.write("pre-post-sync/pre-sync-job.yaml", &job("before", "PreSync"));
    g.write(
        "pre-post-sync/post-sync-job.yaml",
        &job("after", "PostSync"),
    );
    g.write("pre-post-sync/kustomization.yaml", "namePrefix: pre-post-sync-\n\nresources:\n- ../guestbook/ui-deployment.yaml\n- ../guestbook/ui-svc.yaml\n- pre-sync-job.yaml\n- post-sync-job.yaml\n");
    g.commit("Add pre-post-sync example");
    g.write("pre-post-sync/kustomization.yaml", "namePrefix: pre-post-sync-\n\nbases:\n- ../kustomize-guestbook\n\nresources:\n- pre-sync-job.yaml\n- post-sync-job.yaml\n");
    g.commit("Fix broken pre-post-sync example");
    for args in [vec!["diff", "pre-post-sync"], vec!["diff", "--repo"]] {
        let mut args = args;
        args.extend_from_slice(&["--base", "HEAD~1", "--head", "HEAD"]);
        let out = g.sluice(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "a broken base is reported, not a failure: {}",
            stderr(&out)
        );
        let text = stdout(&out);
        assert!(text.contains("base (HEAD~1 ("), "{text}");
        assert!(
            text.contains("does not render; every object of the head is shown as added:"),
            "{text}"
        );
        assert!(
            text.contains("is not in or below"),
            "kustomize's error is shown: {text}"
        );
        assert!(!text.contains("sluice-diff-"), "no temporary path: {text}");
        assert!(text.contains("4 added, 0 removed, 0 changed"), "{text}");
        assert!(text.contains("PreSync  wave   0  app       Job pre-post-sync-before: the app's own hook (delete policy HookSucceeded)"), "{text}");
        assert!(
            text.contains("PostSync wave   0  app       Job pre-post-sync-after:"),
            "{text}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("warning: pre-post-sync (HEAD (") && err.contains("'bases' is deprecated"),
            "kustomize's warning is kept: {err}"
        );
        assert!(
            err.contains("base (HEAD~1 (") && err.contains("does not render"),
            "{err}"
        );
    }
    let report = g.json(&["pre-post-sync", "--base", "HEAD~1", "--head", "HEAD"]);
    let app = &report["apps"][0];
    assert!(
        app["base"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("kustomize"),
        "{app}"
    );
    assert_eq!(app["head"]["error"], Value::Null);
    assert_eq!(app["hooks"][0]["phase"], "PreSync");
    assert_eq!(app["hooks"][1]["phase"], "PostSync");
    // `render` passes the tool's warnings on to stderr too, and keeps stdout for manifests.
    let out = sluice_in(&g.path(), &["render", "pre-post-sync"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sluice: warning: kubectl: # Warning: 'bases' is deprecated"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("deprecated"));
    // The other way round (a change that breaks the app) still exits 1, with the report printed.
    let out = g.sluice(&[
        "diff",
        "pre-post-sync",
        "--base",
        "HEAD",
        "--head",
        "HEAD~1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("every object of the base is shown as removed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("pre-post-sync: head (HEAD~1 ("),
        "{}",
        stderr(&out)
    );
}

/// An app deleted by the commit that is checked out diffs from that checkout: both sides come from
/// Git, and the working tree (where the app is gone) is not needed.
#[test]
fn a_deleted_app_diffs_from_a_checkout_of_the_deleting_commit() {
    let g = Git::new();
    g.write("apps/cart/.sluice.yaml", POLICY);
    g.write(
        "apps/cart/app.yaml",
        &format!(
            "{}---\n{}",
            config_map("cart", "  A: '1'\n"),
            deployment("cart", "nginx:1.27", Some("cart"))
        ),
    );
    g.write("apps/shop/.sluice.yaml", POLICY);
    g.write("apps/shop/app.yaml", &config_map("shop", "  A: '1'\n"));
    g.commit("CHG-1: cart and shop");
    std::fs::remove_dir_all(g.path().join("apps/cart")).expect("rm");
    g.commit("CHG-2: retire cart");
    assert!(!g.path().join("apps/cart").exists());
    let out = g.sluice(&["diff", "apps/cart", "--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("0 added, 2 removed, 0 changed"), "{text}");
    assert!(text.contains(".sluice.yaml removed"), "{text}");
    // From inside another app's directory, with a path relative to it.
    let out = g.sluice_at(
        "apps/shop",
        &["diff", "../cart", "--base", "HEAD~1", "--head", "HEAD"],
    );
    assert!(
        stdout(&out).contains("0 added, 2 removed, 0 changed"),
        "{}",
        stderr(&out)
    );
    let report = g.json(&["--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(app_names(&report), ["apps/cart"]);
    assert_eq!(report["apps"][0]["head"]["present"], false);
    let out = g.sluice(&["diff", "../elsewhere", "--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Only the apps' files are read from a revision: a blob no compared app reads may be missing
/// (a partial clone), and the diff still works; the error names the side when a needed one is.
#[test]
fn only_the_apps_files_are_read_from_each_revision() {
    let g = Git::new();
    g.write("apps/shop/.sluice.yaml", POLICY);
    g.write("apps/shop/app.yaml", &config_map("shop", "  A: '1'\n"));
    g.write("docs/big-unrelated.yaml", "kind: Nothing\nsize: huge\n");
    g.commit("CHG-1");
    g.edit("apps/shop/app.yaml", "A: '1'", "A: '2'");
    g.commit("CHG-2");
    let blob = g.git(&["rev-parse", "HEAD:docs/big-unrelated.yaml"]);
    let object = g
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&object).expect("remove the unrelated blob");
    let out = g.sluice(&["diff", "apps/shop", "--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("-  A: '1'\n+  A: '2'"),
        "{}",
        stdout(&out)
    );
    let out = g.sluice(&["diff", "--repo", "--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A blob the app reads is missing: the error says which side, which file, and what to do.
    let blob = g.git(&["rev-parse", "HEAD:apps/shop/app.yaml"]);
    std::fs::remove_file(
        g.path()
            .join(".git/objects")
            .join(&blob[..2])
            .join(&blob[2..]),
    )
    .expect("rm");
    let out = g.sluice(&["diff", "apps/shop", "--base", "HEAD~1", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("head (HEAD (")
            && err.contains("apps/shop/app.yaml: blob")
            && err.contains("fetch it"),
        "{err}"
    );
}

/// Each app's render is bounded in time: a render tool that hangs is stopped after `--timeout`, and
/// the app is reported as not rendering while the others are compared.
#[test]
fn a_render_that_hangs_is_stopped_and_reported() {
    let g = Git::new();
    g.write("apps/chart/.sluice.yaml", POLICY);
    g.write(
        "apps/chart/Chart.yaml",
        "apiVersion: v2\nname: chart\nversion: 1.0.0\n",
    );
    g.write("apps/plain/.sluice.yaml", POLICY);
    g.write("apps/plain/cm.yaml", &config_map("plain", "  A: '1'\n"));
    g.commit("CHG-1");
    g.write("apps/chart/values.yaml", "a: 2\n");
    g.edit("apps/plain/cm.yaml", "A: '1'", "A: '2'");
    g.commit("CHG-2");
    let helm = g.bin.join("helm");
    std::fs::write(&helm, "#!/bin/sh\nexec sleep 120\n").expect("helm");
    let mut perms = std::fs::metadata(&helm).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&helm, perms).expect("chmod");
    let out = g.sluice(&[
        "diff",
        "--repo",
        "--base",
        "HEAD~1",
        "--head",
        "HEAD",
        "--timeout",
        "1",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let chart = &report["apps"][0];
    assert_eq!(chart["app"], "apps/chart");
    assert!(
        chart["head"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("was stopped: it ran past the time allowed for one app (1 s)"),
        "{chart}"
    );
    assert_eq!(
        report["apps"][1]["objects"][0]["status"], "changed",
        "the other app is compared"
    );
}
