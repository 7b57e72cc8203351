//! Integration tests: `sluice diff` on real Git repositories in temporary directories (commits with
//! fixed authors and dates, so commit ids are stable), and the pull-request check of
//! docs/pr-check.md run with the same commands its CI jobs run.
//!
//! Golden cases live in `tests/fixtures/diff/<case>.txt`: the text output of one change to the example
//! app (examples/shop). `BLESS=1` rewrites them after a deliberate change (review the diff). A
//! missing or empty golden file fails.

use crate::support::{copy_dir, project_root, sluice_in, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The instant every window decision is made for: Tuesday 24 Nov 2026 03:00 UTC (04:00 in Berlin,
/// inside the example's Tue/Thu 02:00-06:00 window).
const AT: &str = "2026-11-24T03:00:00Z";

/// Argo CD's environment for the example app, as `--env` arguments.
const ENV: &[&str] = &[
    "--env",
    "ARGOCD_APP_NAME=shop",
    "--env",
    "ARGOCD_APP_NAMESPACE=shop",
    "--env",
    "SLUICE_IMAGE=ghcr.io/example/sluice:0.1.0",
];

/// A Git repository with the example app at `apps/shop`, committed once.
pub struct Repo {
    pub tmp: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let repo = Repo {
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        copy_dir(&project_root().join("examples/shop"), &repo.app());
        repo.commit("CHG-1000: shop as it runs");
        repo
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn app(&self) -> PathBuf {
        self.path().join("apps/shop")
    }

    /// Runs git with a fixed identity and date, no user or system configuration.
    pub fn git(&self, args: &[&str]) -> String {
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
            .expect("git is needed by the tests");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--no-verify", "-m", message]);
    }

    /// Replaces `from` with `to` in the app's `file` (which must contain it).
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.app().join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.app().join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    /// `sluice diff ARGS --at AT ENV...` in the repository.
    pub fn diff(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = vec!["diff"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--at", AT]);
        all.extend_from_slice(ENV);
        sluice_in(self.path(), &all, &[])
    }

    /// The text output of `diff --base HEAD~1 --head HEAD apps/shop`, asserting success.
    pub fn last_commit_diff(&self, extra: &[&str]) -> String {
        let mut args = vec!["--base", "HEAD~1", "--head", "HEAD", "apps/shop"];
        args.extend_from_slice(extra);
        let out = self.diff(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    }
}

const POLICY: &str = ".sluice.yaml";

/// One golden case: a change to the example app, committed on top of it.
fn case(name: &str) -> Repo {
    let r = Repo::new();
    match name {
        "configmap-value" => r.edit("api.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug"),
        "secret-rotated" => r.edit("api.yaml", "postgres://shop@", "postgres://shop2@"),
        "image-bump" => r.edit("worker.yaml", "worker:1.10.2", "worker:1.11.0"),
        "object-added-and-removed" => {
            std::fs::remove_file(r.app().join("cronjob.yaml")).expect("rm");
            r.write("pdb.yaml", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: api\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: api\n");
        }
        "new-migration" => r.write(
            "db/migrations/0003_order_index.sql",
            "CREATE INDEX orders_status ON orders (status);\n",
        ),
        "window-widened" => r.edit(POLICY, "duration: 4h", "duration: 8h"),
        "allow-window-added" => r.edit(
            POLICY,
            "    description: Tue/Thu maintenance window\n",
            "    description: Tue/Thu maintenance window\n  - kind: allow\n    schedule: \"0 12 * * *\"\n    duration: 2h\n    applications: [\"*\"]\n    description: lunch deploys\n",
        ),
        "deny-window-removed" => r.edit(
            POLICY,
            "  - kind: deny\n    schedule: \"0 9 * * 1-5\"\n    duration: 9h\n    timeZone: Europe/Berlin\n    applications: [\"*\"]\n    description: business hours\n",
            "",
        ),
        "freeze-shortened" => r.edit(POLICY, "until: 2027-01-04T00:00:00Z", "until: 2026-12-27T00:00:00Z"),
        "freeze-removed" => r.edit(
            POLICY,
            "freezes:\n  - name: year-end\n    from: 2026-12-20T00:00:00Z\n    until: 2027-01-04T00:00:00Z\n    exempt: [\"security-*\"]\n",
            "",
        ),
        "backup-off" => r.edit(POLICY, "backup:\n  enabled: true", "backup:\n  enabled: false"),
        "guard-off" => r.edit(POLICY, "guard:\n  onClosed: fail", "guard:\n  enabled: false\n  onClosed: fail"),
        "change-required-off" => {
            r.edit(POLICY, "required: false ", "required: true  ");
            r.edit(POLICY, "change:\n", "change:\n  id: CHG-1001\n");
            r.commit("CHG-1001: require change ids");
            r.edit(POLICY, "required: true  ", "required: false ");
        }
        other => panic!("unknown case {other}"),
    }
    r.commit(&format!("CHG-1234: {name}"));
    r
}

const CASES: &[&str] = &[
    "configmap-value",
    "secret-rotated",
    "image-bump",
    "object-added-and-removed",
    "new-migration",
    "window-widened",
    "allow-window-added",
    "deny-window-removed",
    "freeze-shortened",
    "freeze-removed",
    "backup-off",
    "guard-off",
    "change-required-off",
];

fn golden_path(name: &str) -> PathBuf {
    project_root()
        .join("tests/fixtures/diff")
        .join(format!("{name}.txt"))
}

fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 writes it)", path.display()));
    assert!(!expected.trim().is_empty(), "{} is empty", path.display());
    assert!(
        expected == actual,
        "{name}: output differs from {}:\n{}",
        path.display(),
        similar_diff(&expected, actual)
    );
}

fn similar_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for (i, (x, y)) in e.iter().zip(a.iter()).enumerate() {
        if x != y {
            out.push_str(&format!("line {}:\n- {x}\n+ {y}\n", i + 1));
        }
    }
    if e.len() != a.len() {
        out.push_str(&format!("{} lines expected, {} actual\n", e.len(), a.len()));
    }
    out
}

#[test]
fn golden_summary_lines_for_each_kind_of_change() {
    for name in CASES {
        let actual = case(name).last_commit_diff(&[]);
        check_golden(name, &actual);
    }
}

/// The lines of one object's diff in the text output (from its `---` header to the next).
fn object_diff<'a>(text: &'a str, object: &str) -> Vec<&'a str> {
    let header = format!("--- base/{object}");
    let start = text
        .lines()
        .position(|l| l == header)
        .unwrap_or_else(|| panic!("no diff of {object}:\n{text}"));
    text.lines()
        .skip(start + 2)
        .take_while(|l| !l.starts_with("--- "))
        .collect()
}

#[test]
fn one_value_configmap_change_is_a_one_line_hunk_and_names_the_restarts() {
    let text = case("configmap-value").last_commit_diff(&[]);
    let hunk = object_diff(&text, "ConfigMap api-config");
    let changed: Vec<&&str> = hunk.iter().filter(|l| l.starts_with(['-', '+'])).collect();
    assert_eq!(
        changed,
        [&"-  LOG_LEVEL: info", &"+  LOG_LEVEL: debug"],
        "{text}"
    );
    assert_eq!(hunk.iter().filter(|l| l.starts_with("@@")).count(), 1);
    assert!(
        text.contains("  Deployment api: ConfigMap api-config: data.LOG_LEVEL\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  CronJob nightly-report: ConfigMap api-config: data.LOG_LEVEL (nothing restarts now"
        ),
        "{text}"
    );
    assert!(
        !text.contains("StatefulSet worker:"),
        "the worker does not use api-config: {text}"
    );
}

#[test]
fn image_change_restarts_with_the_image_named() {
    let text = case("image-bump").last_commit_diff(&[]);
    assert!(
        text.contains("  StatefulSet worker: image worker: 1.10.2 → 1.11.0\n"),
        "{text}"
    );
}

#[test]
fn new_sql_files_are_named_in_the_migration_hook() {
    let text = case("new-migration").last_commit_diff(&[]);
    assert!(
        text.contains("migration schema; new SQL files: 0003_order_index.sql"),
        "{text}"
    );
    // The Job's name carries a hash of the files: paired all the same, shown as a rename.
    assert!(text.contains("changed  Job shop/shop-schema-"), "{text}");
    assert!(text.contains("(was shop-schema-"), "{text}");
}

#[test]
fn every_weakened_control_is_flagged_and_tightening_is_not() {
    for (name, needle) in [
        (
            "window-widened",
            "allow window 'Tue/Thu maintenance window' widened: duration 4h → 8h",
        ),
        ("allow-window-added", "allow window 'lunch deploys' added"),
        (
            "deny-window-removed",
            "deny window 'business hours' removed",
        ),
        ("freeze-shortened", "freeze 'year-end' shortened"),
        ("freeze-removed", "freeze 'year-end' removed"),
        ("backup-off", "backup turned off"),
        ("guard-off", "guard turned off"),
        ("change-required-off", "change.required turned off"),
    ] {
        let text = case(name).last_commit_diff(&[]);
        assert!(
            text.contains("Weakened controls (a second reviewer should approve):\n"),
            "{name}: {text}"
        );
        assert!(text.contains(needle), "{name}: {text}");
        let md = case(name).last_commit_diff(&["--format", "markdown"]);
        assert!(
            md.contains("> [!WARNING]") && md.contains(needle),
            "{name}: {md}"
        );
    }
    for name in ["configmap-value", "new-migration", "image-bump"] {
        let text = case(name).last_commit_diff(&[]);
        assert!(!text.contains("Weakened controls"), "{name}: {text}");
    }
}

#[test]
fn blocked_now_says_why_and_when_the_next_window_opens() {
    let r = case("configmap-value");
    let out = sluice_in(
        r.path(),
        &[
            "diff",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "apps/shop",
            "--at",
            "2026-11-25T10:00:00Z",
            "--env",
            "ARGOCD_APP_NAME=shop",
            "--env",
            "ARGOCD_APP_NAMESPACE=shop",
            "--env",
            "SLUICE_IMAGE=x:1",
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(
        text.contains("at 2026-11-25T10:00:00Z: blocked: ")
            && text.contains("the next opening is 2026-11-26T01:00:00Z"),
        "{text}"
    );
}

#[test]
fn change_id_and_whether_one_is_required() {
    let r = case("change-required-off");
    let text = r.last_commit_diff(&[]);
    assert!(
        text.contains("CHG-1001 (from .sluice.yaml change.id); the policy does not require one"),
        "{text}"
    );
    let out = r.diff(&[
        "--base",
        "HEAD~2",
        "--head",
        "HEAD~1",
        "apps/shop",
        "--env",
        "ARGOCD_ENV_CHANGE_ID=CHG-42",
    ]);
    assert!(
        stdout(&out).contains("CHG-42 (from ARGOCD_ENV_CHANGE_ID); the policy requires one"),
        "{}",
        stderr(&out)
    );
}

const SENTINELS: &[&str] = &[
    "SENTINEL-hunter2-7f3a",
    "SENTINEL-rotated-9b1c",
    "U0VOVElORUwtYjY0",
    "AgSENTINELsealed",
];

/// A repository whose app holds Secrets with sentinel values, rotated by the last commit.
fn secrets_repo() -> Repo {
    let r = Repo::new();
    r.write(
        "secrets.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-keys\nstringData:\n  token: SENTINEL-hunter2-7f3a\n  stable: SENTINEL-hunter2-7f3a\ndata:\n  blob: U0VOVElORUwtYjY0\n---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: sealed\nspec:\n  encryptedData:\n    password: AgSENTINELsealed\n  template:\n    metadata:\n      name: sealed\n",
    );
    r.commit("CHG-1: secrets");
    r.edit(
        "secrets.yaml",
        "token: SENTINEL-hunter2-7f3a",
        "token: SENTINEL-rotated-9b1c",
    );
    r.edit(
        "secrets.yaml",
        "password: AgSENTINELsealed",
        "password: AgSENTINELsealed2",
    );
    r.commit("CHG-2: rotate");
    r
}

fn assert_no_sentinel(what: &str, out: &std::process::Output) {
    for s in SENTINELS {
        assert!(
            !stdout(out).contains(s),
            "{what}: stdout shows {s}:\n{}",
            stdout(out)
        );
        assert!(
            !stderr(out).contains(s),
            "{what}: stderr shows {s}:\n{}",
            stderr(out)
        );
    }
}

#[test]
fn secret_values_appear_in_no_output() {
    let r = secrets_repo();
    for format in ["text", "markdown", "json"] {
        let out = r.diff(&[
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "apps/shop",
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_sentinel(format, &out);
    }
    let text = r.last_commit_diff(&[]);
    assert!(
        text.contains("Secret api-keys stringData.token: changed"),
        "{text}"
    );
    assert!(
        text.contains("Secret api-keys stringData.stable: unchanged"),
        "{text}"
    );
    assert!(
        text.contains("Secret api-keys data.blob: unchanged"),
        "{text}"
    );
    assert!(
        text.contains("SealedSecret sealed spec.encryptedData.password: changed"),
        "{text}"
    );
    assert!(text.contains("+  token: (hidden) (changed)"), "{text}");
    for format in ["yaml", "json"] {
        let app = r.app();
        let mut args = vec!["render", app.to_str().unwrap(), "-o", format];
        args.extend_from_slice(ENV);
        let out = sluice_in(r.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_no_sentinel(&format!("render -o {format}"), &out);
        assert!(
            stdout(&out).contains("token: (hidden)")
                || stdout(&out).contains("\"token\":\"(hidden)\"")
        );
    }
    // A revision that fails to render names the file, not the values in it.
    r.write("secrets.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n  token: [SENTINEL-hunter2-7f3a\n");
    let out = r.diff(&["apps/shop"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("head (working tree)") && stderr(&out).contains("secrets.yaml"),
        "{}",
        stderr(&out)
    );
    assert_no_sentinel("failed diff", &out);
}

#[test]
fn diff_leaves_the_repository_untouched() {
    let r = case("configmap-value");
    r.edit("api.yaml", "LOG_LEVEL: debug", "LOG_LEVEL: warn");
    let index = std::fs::read(r.path().join(".git/index")).unwrap();
    let status = r.git(&["status", "--porcelain"]);
    let refs = r.git(&["for-each-ref"]);
    let out = r.diff(&["--base", "HEAD~1", "apps/shop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("+  LOG_LEVEL: warn"),
        "the working tree is the head"
    );
    let out = r.diff(&["--base", "HEAD~1", "--head", "HEAD", "apps/shop"]);
    assert!(
        stdout(&out).contains("+  LOG_LEVEL: debug"),
        "--head renders the commit"
    );
    assert_eq!(std::fs::read(r.path().join(".git/index")).unwrap(), index);
    assert_eq!(r.git(&["status", "--porcelain"]), status);
    assert_eq!(r.git(&["for-each-ref"]), refs);
    assert_eq!(r.git(&["worktree", "list"]).lines().count(), 1);
}

#[test]
fn exit_codes_follow_git_diff_with_exit_code() {
    let r = case("configmap-value");
    let code = |args: &[&str]| r.diff(args).status.code();
    assert_eq!(
        code(&["--base", "HEAD~1", "--head", "HEAD", "apps/shop"]),
        Some(0)
    );
    assert_eq!(
        code(&[
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "apps/shop",
            "--exit-code"
        ]),
        Some(1)
    );
    assert_eq!(
        code(&["--base", "HEAD", "apps/shop", "--exit-code"]),
        Some(0),
        "clean tree: no change"
    );
    let out = r.diff(&["--base", "HEAD", "apps/shop", "--exit-code"]);
    assert!(
        stdout(&out).contains("0 added, 0 removed, 0 changed"),
        "{}",
        stdout(&out)
    );
    assert_eq!(code(&["--base", "no-such-rev", "apps/shop"]), Some(2));
    assert_eq!(code(&["--base", "--output=/tmp/x", "apps/shop"]), Some(2));
    r.write("broken.yaml", "a: [\n");
    assert_eq!(code(&["--base", "HEAD", "apps/shop"]), Some(1));
    assert_eq!(
        code(&["--base", "HEAD", "apps/shop", "--exit-code"]),
        Some(2)
    );
    let outside = tempfile::tempdir().unwrap();
    let out = sluice_in(outside.path(), &["diff", "."], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not inside a Git work tree"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn formats_and_colour() {
    let r = case("configmap-value");
    let json: Value = serde_json::from_str(&r.last_commit_diff(&["-o", "json"])).expect("json");
    assert_eq!(json["kind"], "DiffReport");
    assert_eq!(json["mode"], "app");
    let app = &json["apps"][0];
    assert_eq!(app["objects"][0]["object"], "ConfigMap api-config");
    assert_eq!(app["objects"][0]["apiVersion"], "v1");
    assert_eq!(app["objects"][0]["kind"], "ConfigMap");
    assert_eq!(app["objects"][0]["name"], "api-config");
    assert_eq!(app["objects"][0]["namespace"], Value::Null);
    assert_eq!(app["objects"][0]["status"], "changed");
    assert_eq!(app["restarts"][0]["workload"], "Deployment api");
    assert_eq!(app["windows"]["allowed"], true);
    assert_eq!(app["base"]["rev"], "HEAD~1");
    assert_eq!(json["base"]["rev"], "HEAD~1");
    // --format is kept as a hidden alias of -o/--output.
    assert_eq!(
        r.last_commit_diff(&["--format", "json"]),
        r.last_commit_diff(&["--output", "json"])
    );
    let md = r.last_commit_diff(&["--format", "markdown"]);
    assert!(
        md.contains("<details><summary>changed ConfigMap api-config</summary>")
            && md.contains("```diff\n"),
        "{md}"
    );
    let plain = r.last_commit_diff(&[]);
    assert!(
        !plain.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    let colour = r.last_commit_diff(&["--color", "always"]);
    assert!(
        colour.contains("\x1b[31m-  LOG_LEVEL: info\x1b[0m"),
        "{colour}"
    );
}

#[test]
fn a_new_app_shows_every_object_as_added() {
    let r = Repo::new();
    copy_dir(
        &project_root().join("examples/shop"),
        &r.path().join("apps/cart"),
    );
    r.commit("CHG-2: cart");
    let out = r.diff(&["--base", "HEAD~1", "--head", "HEAD", "apps/cart"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("11 added, 0 removed, 0 changed, 0 unchanged"),
        "{}",
        stdout(&out)
    );
}

/// The fenced block between `<!-- begin: NAME -->` and `<!-- end: NAME -->` of a doc must be
/// `content`; `BLESS=1` writes it. A doc without the markers fails.
pub fn check_doc_block(doc: &Path, name: &str, lang: &str, content: &str) {
    let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let (begin, end) = (
        format!("<!-- begin: {name} -->\n"),
        format!("<!-- end: {name} -->"),
    );
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{}: no {begin:?}", doc.display()))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{}: no {end:?}", doc.display()));
    let longest = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let block = format!("{fence}{lang}\n{content}{fence}\n");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(doc, format!("{}{block}{}", &text[..start], &text[stop..]))
            .expect("bless doc");
        return;
    }
    let shown = &text[start..stop];
    assert!(
        shown == block,
        "{} shows other output than the command prints ({name}; BLESS=1 rewrites it):\n{}",
        doc.display(),
        similar_diff(shown, &block)
    );
}
