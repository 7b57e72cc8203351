//! Integration tests: the `PreSync` hooks (guard, backup, migrations) as `sluice render -o json` prints them.
//!
//! Golden cases live in `tests/fixtures/hooks/<case>/`: `input/` is the app (and the repository root),
//! `env` holds the `KEY=VALUE` environment Argo CD would set, `expected.yaml` the exact output. Run with
//! `BLESS=1` to rewrite `expected.yaml` after a deliberate change (then review the diff). A missing case
//! directory or an empty expected file fails. Every golden output is also validated against the
//! Kubernetes JSON schemas (python kubernetes-validate) and Velero's Backup CRD schema (python jsonschema).
//! Error cases build their app in a temporary directory.

use crate::support::{sluice_in, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CASES: &[&str] = &[
    "backup-only",
    "migrations-only",
    "backup-and-migrations",
    "guard",
    "long-app-name",
    "backup-options",
    "verify",
];

/// Kubernetes versions every golden case is validated against (besides its own `KUBE_VERSION`).
const KUBE_VERSIONS: &[&str] = &["1.31", "1.33"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hooks")
}

fn read_env(case_dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(case_dir.join("env"))
        .unwrap_or_else(|e| panic!("{}: {e}", case_dir.join("env").display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `sluice render APP --repo-root ROOT --env K=V...` with nothing else in the environment.
fn render(app: &Path, root: &Path, env: &[(String, String)]) -> Output {
    let mut args = vec![
        "render".to_string(),
        app.display().to_string(),
        "-o".to_string(),
        "json".to_string(),
        "--repo-root".to_string(),
        root.display().to_string(),
    ];
    for (k, v) in env {
        args.push("--env".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sluice_in(app, &args, &[])
}

fn run_case(case: &str) -> String {
    let dir = fixtures().join(case);
    assert!(
        dir.join("input").is_dir(),
        "fixture {} is missing",
        dir.display()
    );
    let input = dir.join("input");
    let env = read_env(&dir);
    let out = render(&input, &input, &env);
    assert!(
        out.status.success(),
        "{case}: exit {:?}: {}",
        out.status.code(),
        stderr(&out)
    );
    stdout(&out)
}

fn documents(stream: &str) -> Vec<Value> {
    stream
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d).expect("JSON document"))
        .collect()
}

fn hooks(stream: &str) -> Vec<Value> {
    documents(stream)
        .into_iter()
        .filter(|d| d["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_string())
        .collect()
}

/// The documents pretty-printed, for a diff a person can read.
fn pretty(stream: &str) -> Vec<String> {
    documents(stream)
        .iter()
        .flat_map(|d| {
            let mut lines = vec!["---".to_string()];
            lines.extend(
                serde_json::to_string_pretty(d)
                    .unwrap()
                    .lines()
                    .map(String::from),
            );
            lines
        })
        .collect()
}

/// A line diff (longest common subsequence) of the pretty-printed documents: the changed lines only,
/// each with its line number in the pretty-printed expected (`-`) or actual (`+`) output.
fn diff(expected: &str, actual: &str) -> String {
    let (a, b) = (pretty(expected), pretty(actual));
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("{:>5} - {}\n", i + 1, a[i]));
            i += 1;
        } else {
            out.push_str(&format!("{:>5} + {}\n", j + 1, b[j]));
            j += 1;
        }
    }
    if out.is_empty() {
        out.push_str("(same documents, different bytes: key order or formatting)\n");
    }
    out
}

fn check_golden(case: &str) {
    let actual = run_case(case);
    let expected_path = fixtures().join(case).join("expected.yaml");
    if crate::support::bless() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with BLESS=1 to create it",
            expected_path.display()
        )
    });
    assert!(
        !expected.trim().is_empty(),
        "{} is empty",
        expected_path.display()
    );
    assert!(
        expected == actual,
        "{case}: output differs from {} (- expected, + actual; BLESS=1 to accept):\n{}",
        expected_path.display(),
        diff(&expected, &actual)
    );
}

/// Runs `tests/validate_hooks.py` over the output of a case.
fn validate_schemas(case: &str) {
    let output = run_case(case);
    let env = read_env(&fixtures().join(case));
    let mut versions: Vec<String> = KUBE_VERSIONS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    if let Some((_, v)) = env.iter().find(|(k, _)| k == "KUBE_VERSION") {
        versions.push(v.clone());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_hooks.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(fixtures().join("velero-backup-schema.json"))
        .args(&versions)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (pip install -r tests/requirements.txt)");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(output.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{case}: schema validation failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn golden_backup_only() {
    check_golden("backup-only");
}

#[test]
fn golden_migrations_only() {
    check_golden("migrations-only");
}

#[test]
fn golden_backup_and_migrations_with_change_id() {
    check_golden("backup-and-migrations");
}

#[test]
fn golden_guard_with_windows() {
    check_golden("guard");
}

#[test]
fn golden_long_app_name() {
    check_golden("long-app-name");
}

#[test]
fn golden_backup_with_velero_options() {
    check_golden("backup-options");
}

#[test]
fn golden_verification_hook_with_rbac() {
    check_golden("verify");
}

/// The verification Job runs after the sync's resources (`PostSync`, which Argo CD runs once they are
/// applied and healthy), after its RBAC (a lower wave), with a deadline of `within` plus 5 minutes;
/// its Role reads exactly the rendered workloads.
#[test]
fn the_verification_hook_runs_after_the_sync_with_a_deadline() {
    let hooks = hooks(&run_case("verify"));
    let summary: Vec<(String, String, String)> = hooks
        .iter()
        .map(|h| {
            let a = &h["metadata"]["annotations"];
            (
                h["kind"].as_str().unwrap().to_owned(),
                a["argocd.argoproj.io/hook"].as_str().unwrap().to_owned(),
                a["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let expect = [
        ("ServiceAccount", "PostSync", "0"),
        ("Role", "PostSync", "0"),
        ("RoleBinding", "PostSync", "1"),
        ("Job", "PostSync", "2"),
    ];
    let expect: Vec<(String, String, String)> = expect
        .iter()
        .map(|(k, h, w)| ((*k).to_owned(), (*h).to_owned(), (*w).to_owned()))
        .collect();
    assert_eq!(summary, expect);
    let job = &hooks[3];
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 15 * 60 + 300);
    assert_eq!(job["spec"]["backoffLimit"], 0);
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "shop-sluice-verify");
    assert_eq!(pod["containers"][0]["args"], serde_json::json!(["verify"]));
    let env = |name: &str| {
        pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap()
    };
    assert_eq!(
        env("SLUICE_COMMIT"),
        "4f2c9e81b7a04d5e9c3f6a1b2d8e7f9012345678"
    );
    let workloads: Value =
        serde_json::from_str(env("SLUICE_VERIFY_WORKLOADS").as_str().unwrap()).unwrap();
    assert_eq!(workloads.as_array().unwrap().len(), 2, "{workloads}");
    let role = &hooks[1];
    assert_eq!(
        role["rules"],
        serde_json::json!([
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get"]},
            {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["cache"], "verbs": ["get"]}
        ])
    );
    let binding = &hooks[2];
    assert_eq!(binding["subjects"][0]["name"], "shop-sluice-verify");
    assert_eq!(binding["roleRef"]["name"], "shop-sluice-verify");
}

#[test]
fn every_case_validates_against_kubernetes_and_velero_schemas() {
    for case in CASES {
        validate_schemas(case);
    }
}

#[test]
fn output_is_byte_identical_across_runs() {
    for case in CASES {
        assert_eq!(run_case(case), run_case(case), "{case}");
    }
}

#[test]
fn hooks_follow_the_rendered_documents_in_a_fixed_order() {
    let out = run_case("backup-and-migrations");
    let docs = documents(&out);
    let first_hook = docs
        .iter()
        .position(|d| d["metadata"]["annotations"]["argocd.argoproj.io/hook"].is_string())
        .unwrap();
    assert!(docs[first_hook..]
        .iter()
        .all(|d| d["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"));
    let order: Vec<(String, i64)> = docs[first_hook..]
        .iter()
        .map(|d| {
            let wave = d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (d["kind"].as_str().unwrap().to_string(), wave)
        })
        .collect();
    assert_eq!(
        order,
        [
            ("Backup".to_string(), -20),
            ("ConfigMap".to_string(), -11),
            ("Job".to_string(), -10)
        ]
    );
    let guard = hooks(&run_case("guard"));
    assert_eq!(
        guard[0]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"],
        "-30"
    );
}

#[test]
fn migration_waves_are_ordered_and_distinct_in_policy_order() {
    let hooks = hooks(&run_case("migrations-only"));
    let waves: Vec<(String, String, i64)> = hooks
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["metadata"]["labels"]["sluice.io/migration"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            )
        })
        .collect();
    let expect = [
        ("ConfigMap", "schema", -11),
        ("Job", "schema", -10),
        ("Job", "data", -8),
        ("ConfigMap", "seed", -7),
        ("Job", "seed", -6),
    ];
    let expect: Vec<(String, String, i64)> = expect
        .iter()
        .map(|(k, m, w)| (k.to_string(), m.to_string(), *w))
        .collect();
    assert_eq!(waves, expect);
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

#[test]
fn every_hook_has_the_common_labels_valid_names_and_no_needless_token() {
    for case in CASES {
        let env = read_env(&fixtures().join(case));
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        for hook in hooks(&run_case(case)) {
            let meta = &hook["metadata"];
            let what = format!("{case}: {} {}", hook["kind"], meta);
            let labels = meta["labels"].as_object().unwrap();
            assert_eq!(labels["app.kubernetes.io/managed-by"], "sluice", "{what}");
            assert!(labels.contains_key("app.kubernetes.io/instance"), "{what}");
            assert_eq!(
                labels.get("sluice.io/revision").and_then(Value::as_str),
                get("ARGOCD_APP_REVISION_SHORT").as_deref(),
                "{what}"
            );
            for value in labels.values() {
                assert!(is_label_value(value.as_str().unwrap()), "{what}: {value}");
            }
            match hook["kind"].as_str().unwrap() {
                "Backup" => {
                    let generate = meta["generateName"].as_str().unwrap();
                    assert!(generate.starts_with("pre-change-") && generate.ends_with('-'));
                    // Argo CD appends 26 characters; Velero copies the name into a label.
                    assert!(generate.len() + 26 <= 63, "{what}");
                    assert_eq!(meta["namespace"], "velero");
                    assert!(
                        !meta["annotations"]["argocd.argoproj.io/hook-delete-policy"]
                            .as_str()
                            .unwrap_or("")
                            .contains("HookSucceeded"),
                        "{what}: a backup must outlive the sync"
                    );
                    assert_eq!(hook["spec"]["metadata"]["labels"], meta["labels"]);
                }
                kind => {
                    let name = meta["name"].as_str().unwrap();
                    assert!(is_dns_label(name), "{what}");
                    assert_eq!(
                        meta["namespace"].as_str(),
                        get("ARGOCD_APP_NAMESPACE").as_deref(),
                        "{what}"
                    );
                    let app = get("ARGOCD_APP_NAME").unwrap().replace('_', "-");
                    assert!(name.starts_with(&app[..app.len().min(4)]), "{what}");
                    if kind == "Job" {
                        let pod = &hook["spec"]["template"]["spec"];
                        assert_eq!(pod["restartPolicy"], "Never", "{what}");
                        let needs_api = pod["serviceAccountName"].is_string();
                        let mount = pod["automountServiceAccountToken"].as_bool();
                        // With an account: its token (by default, or said outright where the account
                        // itself mounts none, as the verification hook's); without: none.
                        if needs_api {
                            assert_ne!(mount, Some(false), "{what}");
                        } else {
                            assert_eq!(mount, Some(false), "{what}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn guard_job_carries_the_policy_and_the_environment() {
    let hooks = hooks(&run_case("guard"));
    let job = &hooks[0];
    assert_eq!(job["spec"]["backoffLimit"], 0);
    // onClosed: wait with maxWait 1h30m: 5400 s of waiting and a margin.
    let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap();
    assert!(deadline > 5400 && deadline <= 5400 + 600, "{deadline}");
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/platform/sluice:0.1.0"
    );
    let env: std::collections::BTreeMap<&str, &Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    let value = |k: &str| env[k]["value"].as_str().unwrap().to_string();
    // Windows match the Application name; Argo CD prefixes it with the app namespace for the plugin.
    assert_eq!(value("SLUICE_APP"), "checkout");
    assert_eq!(value("SLUICE_NAMESPACE"), "production-eu");
    assert_eq!(value("SLUICE_CLUSTER"), "prod-eu,https://10.0.0.1:6443");
    assert_eq!(value("SLUICE_EMERGENCY"), "CHG-911");
    assert_eq!(value("SLUICE_CHANGE_ID"), "CHG-77");
    assert_eq!(value("SLUICE_REVISION"), "0badc0d");
    let policy: Value = serde_json::from_str(&value("SLUICE_GUARD_POLICY")).unwrap();
    assert_eq!(policy["windows"][0]["schedule"], "0 2 * * 2,4");
    assert_eq!(policy["freezes"][0]["name"], "year-end");
    assert_eq!(policy["guard"]["onClosed"], "wait");
    // The report goes with the Job's projected ServiceAccount token for the sink's audience (no shared
    // Secret in the app's namespace), which the Kubernetes schemas of the golden cases accept.
    assert_eq!(
        value("SLUICE_REPORT_TOKEN_FILE"),
        "/var/run/secrets/sluice/token"
    );
    assert!(!env.contains_key("SLUICE_REPORT_TOKEN"));
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"],
        "sluice"
    );
    assert_eq!(
        container["volumeMounts"][0]["mountPath"],
        "/var/run/secrets/sluice"
    );
}

#[test]
fn new_migration_files_make_a_new_job_name() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path();
    copy_dir(&fixtures().join("migrations-only/input"), app);
    let env = read_env(&fixtures().join("migrations-only"));
    let names = |out: &Output| -> Vec<String> {
        hooks(&stdout(out))
            .iter()
            .map(|h| h["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let before = names(&render(app, app, &env));
    std::fs::write(app.join("db/schema/V3__more.sql"), "SELECT 1;\n").unwrap();
    let after = names(&render(app, app, &env));
    assert_ne!(before[0], after[0], "schema ConfigMap");
    assert_ne!(before[1], after[1], "schema Job");
    assert_eq!(before[2..], after[2..], "other migrations keep their names");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// ---- errors: exit 1, nothing on stdout, one message naming the problem -------------------------

const HEAD: &str = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: 'api:1'}]\n";

/// An app in `<tmp>/repo/app` with `policy` (after the header) and one Deployment.
fn app_with(policy: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let app = root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join(".sluice.yaml"), format!("{HEAD}{policy}")).unwrap();
    std::fs::write(app.join("api.yaml"), DEPLOYMENT).unwrap();
    (tmp, root, app)
}

fn base_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [
        ("ARGOCD_APP_NAME", "shop"),
        ("ARGOCD_APP_NAMESPACE", "shop"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Asserts the failure contract and returns stderr.
fn fails(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {}",
        stdout(out)
    );
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
    err
}

fn assert_mentions(err: &str, needles: &[&str]) {
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

#[test]
fn rejects_image_from_a_workload_that_is_not_rendered() {
    let (_t, root, app) = app_with(
        "migrations:\n- name: schema\n  imageFrom: {kind: Deployment, name: web, container: app}\n",
    );
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(
        &err,
        &["migrations[0].imageFrom", "\"web\"", "Deployment/api"],
    );
}

#[test]
fn rejects_image_from_a_container_that_does_not_exist() {
    let (_t, root, app) = app_with(
        "migrations:\n- name: schema\n  imageFrom: {kind: Deployment, name: api, container: main}\n",
    );
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["migrations[0].imageFrom", "\"main\"", "app"]);
}

#[test]
fn rejects_sql_dir_with_dot_dot() {
    let (_t, root, app) =
        app_with("migrations:\n- name: schema\n  image: flyway\n  sqlDir: ../x\n");
    std::fs::create_dir_all(root.join("x")).unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(
        &err,
        &["migrations[0].sqlDir", "../x", "leaves the repository"],
    );
}

/// A hidden `sqlDir` (`.sql`): the directory render skips hidden entries, so the refusal tested is
/// the one of the migration files reader (a visible one is refused by the render already).
#[cfg(unix)]
#[test]
fn rejects_sql_dir_symlinked_out_of_the_repository() {
    let (t, root, app) = app_with("migrations:\n- name: schema\n  image: flyway\n  sqlDir: .sql\n");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("1.sql"), "SELECT 1;").unwrap();
    std::os::unix::fs::symlink(&outside, app.join(".sql")).unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(
        &err,
        &["migrations[0].sqlDir", ".sql", "leaves the repository"],
    );
    // A visible one is refused too, by the render.
    std::fs::rename(app.join(".sql"), app.join("db")).unwrap();
    std::fs::write(
        app.join(".sluice.yaml"),
        format!("{HEAD}migrations:\n- name: schema\n  image: flyway\n  sqlDir: db\n"),
    )
    .unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["db", "leaves the repository"]);
}

#[cfg(unix)]
#[test]
fn rejects_a_migration_file_symlinked_out_of_the_repository() {
    let (t, root, app) = app_with("migrations:\n- name: schema\n  image: flyway\n  sqlDir: .sql\n");
    std::fs::create_dir_all(app.join(".sql")).unwrap();
    std::fs::write(t.path().join("secret.txt"), "not for a ConfigMap").unwrap();
    std::os::unix::fs::symlink(t.path().join("secret.txt"), app.join(".sql/1.sql")).unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(
        &err,
        &[
            "migrations[0].sqlDir",
            ".sql/1.sql",
            "leaves the repository",
        ],
    );
}

#[test]
fn rejects_sql_dir_over_one_mebibyte() {
    let (_t, root, app) = app_with("migrations:\n- name: schema\n  image: flyway\n  sqlDir: db\n");
    std::fs::create_dir_all(app.join("db")).unwrap();
    let chunk = "-- padding\n".repeat(40_000); // 440 000 bytes
    for i in 0..3 {
        std::fs::write(app.join(format!("db/{i}.sql")), &chunk).unwrap();
    }
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["migrations[0].sqlDir", "\"db\"", "1048576"]);
}

#[test]
fn rejects_sql_dir_with_a_non_utf8_file_or_a_subdirectory() {
    let (_t, root, app) = app_with("migrations:\n- name: schema\n  image: flyway\n  sqlDir: db\n");
    std::fs::create_dir_all(app.join("db/nested")).unwrap();
    std::fs::write(app.join("db/0.sql"), [0xff, 0xfe, 0x00]).unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["migrations[0].sqlDir", "0.sql", "UTF-8"]);
    std::fs::remove_file(app.join("db/0.sql")).unwrap();
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["nested", "is a directory"]);
}

#[test]
fn rejects_missing_change_id_when_required_and_says_how_to_set_it() {
    let (_t, root, app) = app_with("change:\n  required: true\n");
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(
        &err,
        &[
            "change.required",
            "spec.source.plugin.env",
            "CHANGE_ID",
            "change.id",
        ],
    );
}

#[test]
fn rejects_malformed_change_id_naming_the_variable() {
    let (_t, root, app) = app_with("backup: {enabled: true}\n");
    let err = fails(&render(
        &app,
        &root,
        &base_env(&[("ARGOCD_ENV_CHANGE_ID", "JIRA-12")]),
    ));
    assert_mentions(&err, &["ARGOCD_ENV_CHANGE_ID", "JIRA-12", "^CHG-[0-9]+$"]);
    let err = fails(&render(
        &app,
        &root,
        &base_env(&[("PARAM_CHANGE_ID", "CHG-x")]),
    ));
    assert_mentions(&err, &["PARAM_CHANGE_ID"]);
}

#[test]
fn rejects_malformed_emergency_id() {
    let (_t, root, app) = app_with("guard: {enabled: true, image: 'sluice:1'}\n");
    let err = fails(&render(
        &app,
        &root,
        &base_env(&[("ARGOCD_ENV_SLUICE_EMERGENCY", "yes")]),
    ));
    assert_mentions(&err, &["ARGOCD_ENV_SLUICE_EMERGENCY", "idPattern"]);
}

#[test]
fn rejects_ttl_in_days_with_a_hint() {
    let (_t, root, app) = app_with("backup: {enabled: true, ttl: 30d}\n");
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["backup.ttl", "30d", "720h"]);
}

#[test]
fn rejects_backup_options_velero_would_refuse() {
    for (policy, needles) in [
        (
            "backup: {enabled: true, itemOperationTimeout: 1d}\n",
            &["backup.itemOperationTimeout", "1d"][..],
        ),
        (
            "backup: {enabled: true, labelSelector: {matchExpressions: [{key: tier, operator: In}]}}\n",
            &["backup.labelSelector.matchExpressions[0]", "In needs at least one value"],
        ),
        (
            "backup: {enabled: true, labelSelector: {matchExpressions: [{key: t, operator: Exists, values: [a]}]}}\n",
            &["backup.labelSelector.matchExpressions[0]", "takes no values"],
        ),
        (
            "backup: {enabled: true, labelSelector: {matchExpressions: [{key: t, operator: in, values: [a]}]}}\n",
            &["operator \"in\" is not In, NotIn, Exists or DoesNotExist"],
        ),
        (
            "backup: {enabled: true, labelSelector: {matchLabel: {a: b}}}\n",
            &["backup.labelSelector", "matchLabel"],
        ),
        (
            "backup: {enabled: true, includedResources: [secrets], excludedResources: [secrets]}\n",
            &["backup.excludedResources", "\"secrets\" is also in includedResources"],
        ),
        (
            "backup: {enabled: true, excludedResources: ['*']}\n",
            &["backup.excludedResources", "exclude everything"],
        ),
        (
            "backup: {enabled: true, includedResources: ['']}\n",
            &["backup.includedResources[0]", "is empty"],
        ),
        (
            "backup: {enabled: true, statusTimeout: 0s}\n",
            &["backup.statusTimeout", "fail every backup"],
        ),
        (
            "backup: {enabled: true, defaultVolumesToFsBackup: sometimes}\n",
            &["backup.defaultVolumesToFsBackup"],
        ),
    ] {
        let (_t, root, app) = app_with(policy);
        let out = render(&app, &root, &base_env(&[]));
        assert!(out.stdout.is_empty(), "{policy}: nothing on stdout");
        assert_mentions(&fails(&out), needles);
    }
}

#[test]
fn rejects_guard_without_an_image_saying_how_to_set_one() {
    let (_t, root, app) = app_with(
        "windows:\n- {kind: allow, schedule: '0 2 * * *', duration: 1h, applications: ['*']}\n",
    );
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["guard.image", "SLUICE_IMAGE"]);
    let out = render(
        &app,
        &root,
        &base_env(&[("SLUICE_IMAGE", "registry.example.com/sluice:1")]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rejects_backup_without_any_namespace() {
    let (_t, root, app) = app_with("backup: {enabled: true}\n");
    let env = vec![("ARGOCD_APP_NAME".to_string(), "shop".to_string())];
    let err = fails(&render(&app, &root, &env));
    assert_mentions(&err, &["backup.namespaces", "ARGOCD_APP_NAMESPACE"]);
}

#[test]
fn no_hooks_without_backup_migrations_or_windows() {
    let (_t, root, app) = app_with("guard: {enabled: auto}\n");
    let out = render(&app, &root, &base_env(&[]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(hooks(&stdout(&out)).is_empty());
}

#[test]
fn rejects_hooks_without_an_app_name() {
    let (_t, root, app) = app_with("backup: {enabled: true}\n");
    let env = vec![("ARGOCD_APP_NAMESPACE".to_string(), "shop".to_string())];
    let err = fails(&render(&app, &root, &env));
    assert_mentions(&err, &["ARGOCD_APP_NAME", "--env ARGOCD_APP_NAME="]);
}

#[test]
fn errors_from_policy_settings_name_the_policy_file() {
    let (_t, root, app) = app_with("backup: {enabled: true, ttl: 1w}\n");
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &[".sluice.yaml: backup.ttl", "\"1w\""]);
}

#[test]
fn rejects_a_migration_deadline_of_zero() {
    let (_t, root, app) =
        app_with("migrations:\n- name: schema\n  image: flyway\n  activeDeadlineSeconds: 0\n");
    let err = fails(&render(&app, &root, &base_env(&[])));
    assert_mentions(&err, &["migrations[0].activeDeadlineSeconds"]);
}
