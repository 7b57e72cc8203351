//! Integration tests: the generate pipeline run as argocd-cmp-server runs it (a copy of the app in a
//! temporary repository as working directory, Argo CD's environment), and `sluice render`.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const ANN: &str = "sluice.io/config-checksum";

/// A temporary repository holding a copy of `app` at `apps/<name>`; returns (tempdir, app dir).
fn repo_with_app(app: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tmp.path().join(".git")).expect("mkdir .git");
    let dir = tmp.path().join("apps").join(name);
    copy_dir(app, &dir);
    (tmp, dir)
}

fn shop() -> (tempfile::TempDir, PathBuf) {
    repo_with_app(&project_root().join("examples/shop"), "shop")
}

/// Runs `sluice generate` in `dir` as argocd-cmp-server would; asserts success; returns the objects.
fn generate(dir: &Path) -> (String, Vec<Value>) {
    let out = sluice_in(dir, &["generate"], &argocd_env("shop", "shop", "apps/shop"));
    assert!(out.status.success(), "generate failed: {}", stderr(&out));
    let text = stdout(&out);
    let objects = split_documents(&text)
        .iter()
        .map(|d| serde_json::from_str(d).expect("each document is JSON"))
        .collect();
    (text, objects)
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in output"))
}

fn checksum_of(objects: &[Value], kind: &str, name: &str) -> Option<String> {
    let o = find(objects, kind, name);
    let template = if kind == "CronJob" {
        &o["spec"]["jobTemplate"]["spec"]["template"]
    } else {
        &o["spec"]["template"]
    };
    template["metadata"]["annotations"][ANN]
        .as_str()
        .map(String::from)
}

/// Asserts a failed run: exit 2 (an input error), nothing on stdout, and stderr naming `needle`.
fn assert_fails(dir: &Path, env: &[(&str, &str)], needle: &str) {
    let out = sluice_in(dir, &["generate"], env);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    assert!(out.stdout.is_empty(), "stdout must be empty on failure");
    let err = stderr(&out);
    assert!(
        err.contains(needle),
        "stderr {err:?} should name {needle:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn generate_runs_as_argocd_cmp_server() {
    let (_tmp, dir) = shop();
    let (_, objects) = generate(&dir);
    for (kind, name) in [
        ("Deployment", "api"),
        ("StatefulSet", "worker"),
        ("CronJob", "nightly-report"),
        ("ConfigMap", "api-config"),
        ("Secret", "shop-db"),
        ("Service", "api"),
    ] {
        find(&objects, kind, name);
    }
    let api = find(&objects, "Deployment", "api");
    assert_eq!(
        api["spec"]["template"]["spec"]["volumes"][0]["secret"]["defaultMode"],
        420
    );
    assert_eq!(
        api["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
        true
    );
    assert!(checksum_of(&objects, "Deployment", "api").is_some());
}

#[test]
fn two_runs_are_byte_identical() {
    let (_tmp, dir) = shop();
    let (first, _) = generate(&dir);
    let (second, _) = generate(&dir);
    assert!(!first.is_empty());
    assert_eq!(first, second);
}

#[test]
fn editing_one_configmap_changes_exactly_its_users() {
    let (_tmp, dir) = shop();
    let (_, before) = generate(&dir);
    let path = dir.join("api.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")).unwrap();
    let (_, after) = generate(&dir);
    // api-config is used by the api Deployment and the nightly-report CronJob, not by the worker.
    assert_ne!(
        checksum_of(&before, "Deployment", "api"),
        checksum_of(&after, "Deployment", "api")
    );
    assert_ne!(
        checksum_of(&before, "CronJob", "nightly-report"),
        checksum_of(&after, "CronJob", "nightly-report")
    );
    assert_eq!(
        checksum_of(&before, "StatefulSet", "worker"),
        checksum_of(&after, "StatefulSet", "worker")
    );
    assert!(checksum_of(&before, "StatefulSet", "worker").is_some());
}

#[test]
fn secret_rotation_changes_its_users_only() {
    let (_tmp, dir) = shop();
    let (_, before) = generate(&dir);
    let path = dir.join("api.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("postgres://shop@", "postgres://shop2@")).unwrap();
    let (after_text, after) = generate(&dir);
    // shop-db is used by api (env) and worker (initContainer env), not by the CronJob.
    assert_ne!(
        checksum_of(&before, "Deployment", "api"),
        checksum_of(&after, "Deployment", "api")
    );
    assert_ne!(
        checksum_of(&before, "StatefulSet", "worker"),
        checksum_of(&after, "StatefulSet", "worker")
    );
    assert_eq!(
        checksum_of(&before, "CronJob", "nightly-report"),
        checksum_of(&after, "CronJob", "nightly-report")
    );
    // The secret value appears only inside its own Secret, never in an annotation.
    assert_eq!(after_text.matches("postgres://shop2@").count(), 1);
}

#[test]
fn unreferenced_or_missing_config_changes_nothing() {
    let (_tmp, dir) = shop();
    let (before_text, _) = generate(&dir);
    // api-tls is referenced but not rendered; adding an unrelated ConfigMap touches no checksum.
    std::fs::write(
        dir.join("zz-extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated}\ndata: {a: b}\n",
    )
    .unwrap();
    let (after_text, _) = generate(&dir);
    assert_eq!(
        after_text.replace(
            "---\n{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"unrelated\"},\"data\":{\"a\":\"b\"}}\n",
            ""
        ),
        before_text
    );
}

/// The YAML 1.1 oracle: `PyYAML` reads the input and our output; every object must mean the same,
/// apart from the checksum annotation we add.
#[test]
fn untouched_objects_keep_their_yaml_1_1_meaning() {
    let (_tmp, dir) = repo_with_app(
        &project_root().join("tests/fixtures/generate/yaml11"),
        "yaml11",
    );
    let out = sluice_in(
        &dir,
        &["generate"],
        &argocd_env("yaml11", "web", "apps/yaml11"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let output = dir.join("out.yaml");
    std::fs::write(&output, &out.stdout).unwrap();
    let script = r"
import sys, os, yaml, json
src, out = sys.argv[1], sys.argv[2]
inputs = []
for name in sorted(os.listdir(src)):
    if name.startswith('.') or not name.endswith(('.yaml', '.json')) or name == 'out.yaml':
        continue
    for doc in yaml.safe_load_all(open(os.path.join(src, name))):
        if doc is None:
            continue
        if doc.get('kind') == 'List':
            inputs.extend(doc['items'])
        else:
            inputs.append(doc)
outputs = [d for d in yaml.safe_load_all(open(out)) if d is not None]
assert len(inputs) == len(outputs), (len(inputs), len(outputs))
touched = 0
for i, o in zip(inputs, outputs):
    tmpl = o.get('spec', {}).get('template') if isinstance(o.get('spec'), dict) else None
    if tmpl and 'sluice.io/config-checksum' in tmpl.get('metadata', {}).get('annotations', {}):
        del tmpl['metadata']['annotations']['sluice.io/config-checksum']
        if not tmpl['metadata']['annotations']:
            del tmpl['metadata']['annotations']
        touched += 1
    assert i == o, json.dumps([i, o], default=str)
typed = next(o for o in outputs if o['kind'] == 'Widget')['spec']
assert typed['mode'] == 420 and typed['hex'] == 31 and typed['big'] == 1000
assert typed['enabled'] is True and typed['feature'] is True and typed['legacy'] is False
assert typed['version'] == 1.1 and typed['nothing'] is None and typed['emptyValue'] is None
assert typed['list'] == [True, False, 493, '0755', 1.5]
assert typed['merged'] == {'cpu': '200m', 'replicas': 2}
traps = next(o for o in outputs if o['kind'] == 'ConfigMap')['data']
assert traps['octal-quoted'] == '0644' and traps['on-quoted'] == 'on' and traps['version-quoted'] == '1.10'
print(touched)
";
    let touched = python(script, &[dir.to_str().unwrap(), output.to_str().unwrap()]);
    assert_eq!(
        touched.trim(),
        "1",
        "exactly the Deployment gets a checksum"
    );
}

#[test]
fn kustomize_app_is_rendered_with_kubectl_kustomize() {
    let (_tmp, dir) = repo_with_app(
        &project_root().join("tests/fixtures/generate/kustomize"),
        "k",
    );
    let out = sluice_in(&dir, &["generate"], &argocd_env("k", "shop", "apps/k"));
    assert!(out.status.success(), "{}", stderr(&out));
    let objects: Vec<Value> = split_documents(&stdout(&out))
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let cm = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("generated ConfigMap");
    let cm_name = cm["metadata"]["name"].as_str().unwrap();
    assert!(
        cm_name.starts_with("app-settings-"),
        "kustomize adds its hash suffix: {cm_name}"
    );
    let deploy = find(&objects, "Deployment", "app");
    assert_eq!(deploy["metadata"]["namespace"], "shop");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["volumes"][0]["configMap"]["defaultMode"],
        420
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"],
        cm_name
    );
    assert!(deploy["spec"]["template"]["metadata"]["annotations"][ANN].is_string());
}

#[test]
fn missing_helm_is_a_clear_error() {
    let (_tmp, dir) = repo_with_app(&project_root().join("tests/fixtures/generate/yaml11"), "c");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    let mut env = argocd_env("c", "web", "apps/c");
    env.push(("PATH", "/nonexistent"));
    assert_fails(&dir, &env, "helm is not installed");
}

#[test]
fn broken_yaml_names_file_and_line() {
    let (_tmp, dir) = shop();
    std::fs::write(
        dir.join("broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [unclosed\n  password: hunter2-secret\n",
    )
    .unwrap();
    let out = sluice_in(
        &dir,
        &["generate"],
        &argocd_env("shop", "shop", "apps/shop"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("broken.yaml") && err.contains("line"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "no value from the file is printed: {err}"
    );
}

#[test]
fn non_kubernetes_document_names_file_and_document() {
    let (_tmp, dir) = shop();
    std::fs::write(dir.join("values.yaml"), "replicaCount: 3\n").unwrap();
    assert_fails(
        &dir,
        &argocd_env("shop", "shop", "apps/shop"),
        "values.yaml: document 0 (line 1): not a Kubernetes object",
    );
}

#[test]
fn unknown_policy_key_is_refused() {
    let (_tmp, dir) = shop();
    let path = dir.join(".sluice.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("checksums:\n  enabled: true", "checksums:\n  enabeld: true"),
    )
    .unwrap();
    assert_fails(
        &dir,
        &argocd_env("shop", "shop", "apps/shop"),
        "checksums.enabeld: unknown field",
    );
}

#[test]
fn policy_path_escaping_the_repository_is_refused() {
    let (tmp, dir) = repo_with_app(&project_root().join("tests/fixtures/generate/yaml11"), "c");
    std::fs::write(tmp.path().join("apps/secret-values.yaml"), "a: 1\n").unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: c\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nrender:\n  helm:\n    valueFiles: [../../../secret-values.yaml]\n",
    )
    .unwrap();
    // A stand-in helm, so that the run gets as far as building helm's arguments.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("helm"),
        "#!/bin/sh\necho 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let mut env = argocd_env("c", "web", "apps/c");
    env.push(("PATH", &path));
    assert_fails(
        &dir,
        &env,
        "render.helm.valueFiles[0]: \"../../../secret-values.yaml\" leaves the repository",
    );
}

#[test]
fn symlink_leading_out_of_the_repository_is_refused() {
    let (tmp, dir) = shop();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("x.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path().join("x.yaml"), dir.join("x.yaml")).unwrap();
    assert_fails(
        &dir,
        &argocd_env("shop", "shop", "apps/shop"),
        "leaves the repository",
    );
    drop(tmp);
}

#[test]
fn symlink_loop_inside_the_repository_is_walked_once() {
    let (_tmp, dir) = shop();
    let (before, _) = generate(&dir);
    std::os::unix::fs::symlink(".", dir.join("loop")).unwrap();
    let (after, _) = generate(&dir);
    assert_eq!(before, after);
}

#[test]
fn alias_bomb_is_refused() {
    let (_tmp, dir) = shop();
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "x{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    std::fs::write(dir.join("bomb.yaml"), bomb).unwrap();
    assert_fails(
        &dir,
        &argocd_env("shop", "shop", "apps/shop"),
        "bomb.yaml: line",
    );
}

#[test]
fn deep_nesting_is_refused() {
    let (_tmp, dir) = shop();
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep}}\ndata: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    std::fs::write(dir.join("deep.yaml"), deep).unwrap();
    assert_fails(&dir, &argocd_env("shop", "shop", "apps/shop"), "deep.yaml");
}

#[test]
fn app_that_renders_nothing_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("empty.yaml"), "# nothing here\n").unwrap();
    let out = sluice_in(tmp.path(), &["generate"], &argocd_env("e", "e", ""));
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("renders to no objects"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn render_command_matches_generate() {
    let (_tmp, dir) = shop();
    let (generated, _) = generate(&dir);
    let mut args = vec![
        "render".to_string(),
        dir.display().to_string(),
        "-o".into(),
        "json".into(),
        "--show-secrets".into(),
    ];
    for (k, v) in argocd_env("shop", "shop", "apps/shop") {
        args.push("--env".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = sluice_in(Path::new("/"), &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), generated);
}

#[test]
fn render_rejects_a_malformed_env_pair() {
    let out = sluice_in(
        Path::new("/"),
        &[
            "render",
            project_root().join("examples/shop").to_str().unwrap(),
            "--env",
            "NOEQUALS",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("KEY=VALUE"));
}

// ---- parity with Argo CD's own directory, Helm and Kustomize rendering (issue 13) -----------------------

/// Writes an executable script.
fn script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

fn names(out: &std::process::Output) -> Vec<String> {
    assert!(out.status.success(), "{}", stderr(out));
    split_documents(&stdout(out))
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// A directory app with a subdirectory: Argo CD reads the top level only unless `recurse: true`;
/// `include` and `exclude` are globs (gobwas, no separator: `*` crosses `/`) on the path relative to
/// the app; files with `+argocd:skip-file-rendering` are left out (reposerver's findManifests).
#[test]
fn directory_app_reads_the_top_level_unless_recurse_with_argocd_include_exclude() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".git")).unwrap();
    let app = tmp.path().join("apps/d");
    std::fs::create_dir_all(app.join("sub/deeper")).unwrap();
    std::fs::write(app.join("top.yaml"), cm("top")).unwrap();
    std::fs::write(app.join(".hidden.yaml"), cm("hidden")).unwrap();
    std::fs::write(
        app.join("skipped.yaml"),
        format!("# +argocd:skip-file-rendering\n{}", cm("skipped")),
    )
    .unwrap();
    std::fs::write(app.join("sub/a.yaml"), cm("sub-a")).unwrap();
    std::fs::write(app.join("sub/b.yml"), cm("sub-b")).unwrap();
    std::fs::write(
        app.join("sub/deeper/c.json"),
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep-c"}}"#,
    )
    .unwrap();
    std::fs::write(app.join("sub/notes.txt"), "not a manifest").unwrap();
    let env = argocd_env("d", "web", "apps/d");
    let run = |policy: &str| {
        std::fs::write(
            app.join(".sluice.yaml"),
            format!("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n{policy}"),
        )
        .unwrap();
        sluice_in(&app, &["generate"], &env)
    };
    // Hidden files are read, as Argo CD reads them; the skip marker is honoured.
    assert_eq!(names(&run("")), ["hidden", "top"]);
    assert_eq!(
        names(&run("render: {directory: {recurse: true}}\n")),
        ["hidden", "sub-a", "sub-b", "deep-c", "top"]
    );
    assert_eq!(
        names(&run(
            "render: {directory: {recurse: true, exclude: 'sub/deeper/*'}}\n"
        )),
        ["hidden", "sub-a", "sub-b", "top"]
    );
    assert_eq!(
        names(&run(
            "render: {directory: {recurse: true, include: '*.yaml'}}\n"
        )),
        ["hidden", "sub-a", "top"],
        "`*` crosses `/` as in Argo CD's util/glob"
    );
    assert_eq!(
        names(&run("render: {directory: {recurse: true, include: '{top.yaml,sub/*.yml}', exclude: top.yaml}}\n")),
        ["sub-b"],
        "exclude is applied before include"
    );
    // Without recurse, include cannot reach into subdirectories: nothing is left, which is an error.
    let out = run("render: {directory: {include: 'sub/*'}}\n");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("renders to no objects"));
    // A bad glob is named with its key when the policy is read.
    let out = run("render: {directory: {include: '[a'}}\n");
    assert!(
        stderr(&out).contains("render.directory.include"),
        "{}",
        stderr(&out)
    );
    // Jsonnet is refused with the file named, never skipped silently; excluding it is the way out.
    std::fs::write(app.join("gen.jsonnet"), "{}").unwrap();
    let out = run("");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("gen.jsonnet") && stderr(&out).contains("Jsonnet is not evaluated"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        names(&run("render: {directory: {exclude: '*.jsonnet'}}\n")),
        ["hidden", "top"]
    );
}

/// A stand-in `helm` (helm cannot be installed here): it records every call, one line each with the
/// arguments separated by tabs, and prints a `ConfigMap` for `template`. With `missing_dep` it fails
/// `template` the way helm 3 does while `charts/` lacks a dependency, until `dependency build` ran.
fn fake_helm(bin: &Path, log: &Path, missing_dep: bool) {
    std::fs::create_dir_all(bin).unwrap();
    let text = r#"#!/bin/sh
log=LOG
line=""
for a in "$@"; do line="$line$a	"; done
printf '%s\n' "$line" >> "$log"
case "$1" in
  template)
    if [ MISSING = 1 ] && [ ! -e "$log.built" ]; then
      echo 'Error: found in Chart.yaml, but missing in charts/ directory: redis' >&2
      exit 1
    fi
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-helm\n';;
  dependency) touch "$log.built";;
esac
"#
    .replace("LOG", &log.display().to_string())
    .replace("MISSING", if missing_dep { "1" } else { "0" });
    script(&bin.join("helm"), &text);
}

fn helm_calls(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.trim_end_matches('\t')
                .split('\t')
                .map(String::from)
                .collect()
        })
        .collect()
}

/// A chart repository for the Helm tests: `charts/api` with value files, and `shared/common.yaml`.
fn chart_repo(tmp: &Path, policy: &str) -> (PathBuf, PathBuf) {
    let root = tmp.join("repo");
    let app = root.join("charts/api");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::create_dir_all(root.join("shared")).unwrap();
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Chart.yaml"),
        "apiVersion: v2\nname: api\nversion: 1.0.0\n",
    )
    .unwrap();
    for f in ["values-prod.yaml", "values-extra.yaml", "values-api.yaml"] {
        std::fs::write(app.join(f), "a: 1\n").unwrap();
    }
    std::fs::write(root.join("shared/common.yaml"), "a: 1\n").unwrap();
    std::fs::write(
        app.join(".sluice.yaml"),
        format!("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n{policy}"),
    )
    .unwrap();
    (root, app)
}

/// The fake helm records the same argv that Argo CD's util/helm builds (`Cmd.template`, called by
/// reposerver's `helmTemplate`) for the same chart and Application: one row per case, the expected
/// argv written out as util/helm builds it (`<app>` is the app directory, `<root>` the repository,
/// `<values>` the temporary file holding the inline values). Argo CD orders `--set` by Go's map
/// iteration (random); sluice in the order written (docs/moving-to-sluice.md).
#[test]
fn helm_template_argv_matches_argocd_util_helm() {
    let common = "--api-versions v1 --api-versions apps/v1";
    // (what the case shows, .sluice.yaml after the header, extra environment, expected argv)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (
            "defaults: release = app name, destination namespace, CRDs included",
            "",
            vec![],
            format!("template . --name-template api --namespace production --kube-version 1.31.4 {common} --include-crds"),
        ),
        (
            "app in another namespace: the name part of <namespace>_<name>; KUBE_VERSION as parseKubeVersion",
            "",
            vec![("ARGOCD_APP_NAME", "team-a_api"), ("KUBE_VERSION", "v1.30.2+k3s1")],
            format!("template . --name-template api --namespace production --kube-version 1.30.2 {common} --include-crds"),
        ),
        (
            "everything the policy can say",
            "render:\n  helm:\n    releaseName: rel\n    namespace: other\n    valueFiles: [values-prod.yaml, /shared/common.yaml, '../api/values-$ARGOCD_APP_NAME.yaml']\n    values: {replicaCount: 3}\n    parameters:\n    - {name: image.tag, value: '1.10'}\n    - {name: hosts, value: 'a,b'}\n    - {name: list, value: '{a,b}'}\n    - {name: port, value: '8080', forceString: true}\n    skipCrds: true\n    skipTests: true\n    skipSchemaValidation: true\n",
            vec![],
            format!("template . --name-template rel --namespace other --kube-version 1.31.4 --set image.tag=1.10 --set hosts=a\\,b --set list={{a,b}} --set-string port=8080 --values <app>/values-prod.yaml --values <root>/shared/common.yaml --values <app>/values-api.yaml --values <values> {common} --skip-schema-validation --skip-tests"),
        ),
        (
            "the Application's plugin parameters come after the policy's",
            "render:\n  helm:\n    valueFiles: [values-prod.yaml]\n    parameters: [{name: a, value: '1'}]\n",
            vec![(
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"helm-value-files","array":["values-extra.yaml"]},{"name":"helm-parameters","map":{"image.tag":"v2","b":"$ARGOCD_APP_REVISION_SHORT"}},{"name":"helm-string-parameters","map":{"zone":"01"}}]"#,
            )],
            format!("template . --name-template api --namespace production --kube-version 1.31.4 --set a=1 --set b=4f3c2b1 --set image.tag=v2 --set-string zone=01 --values <app>/values-prod.yaml --values <app>/values-extra.yaml {common} --include-crds"),
        ),
        (
            "value files as PARAM_* variables; a missing one left out with ignoreMissingValueFiles",
            "render:\n  helm:\n    ignoreMissingValueFiles: true\n",
            vec![("PARAM_HELM_VALUE_FILES_0", "values-prod.yaml"), ("PARAM_HELM_VALUE_FILES_1", "missing.yaml")],
            format!("template . --name-template api --namespace production --kube-version 1.31.4 --values <app>/values-prod.yaml {common} --include-crds"),
        ),
    ];
    for (name, policy, extra_env, argv) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (root, app) = chart_repo(tmp.path(), policy);
        let log = tmp.path().join("helm.log");
        fake_helm(&tmp.path().join("bin"), &log, false);
        let path = format!(
            "{}:{}",
            tmp.path().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let mut env = argocd_env("api", "production", "charts/api");
        env.retain(|(k, _)| *k != "KUBE_API_VERSIONS" && !extra_env.iter().any(|(c, _)| c == k));
        env.push(("KUBE_API_VERSIONS", "v1,apps/v1"));
        env.push(("PATH", &path));
        env.extend(extra_env.iter().copied());
        let out = sluice_in(&app, &["generate"], &env);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let calls = helm_calls(&log);
        assert_eq!(calls.len(), 1, "{name}: {calls:?}");
        let real_app = app.canonicalize().unwrap().display().to_string();
        let real_root = root.canonicalize().unwrap().display().to_string();
        let got: Vec<String> = calls[0]
            .iter()
            .map(|a| {
                if a.contains("sluice-values-") {
                    "<values>".to_string()
                } else {
                    a.replace(&real_app, "<app>").replace(&real_root, "<root>")
                }
            })
            .collect();
        assert_eq!(got.join(" "), argv, "{name}");
    }
}

/// A value file named by an Application may not leave the repository either.
#[test]
fn helm_value_file_from_a_plugin_parameter_is_confined() {
    let tmp = tempfile::tempdir().unwrap();
    let (_root, app) = chart_repo(tmp.path(), "");
    fake_helm(&tmp.path().join("bin"), &tmp.path().join("helm.log"), false);
    let path = format!(
        "{}:{}",
        tmp.path().join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let mut env = argocd_env("api", "production", "charts/api");
    env.retain(|(k, _)| *k != "ARGOCD_APP_PARAMETERS");
    env.push(("PATH", &path));
    env.push((
        "ARGOCD_APP_PARAMETERS",
        r#"[{"name":"helm-value-files","array":["../../../etc/passwd"]}]"#,
    ));
    assert_fails(&app, &env, "plugin parameter helm-value-files[0]");
}

/// A chart whose `charts/` lacks a dependency: as Argo CD's helmTemplate, helm template fails, the
/// https repositories of Chart.yaml are added (named as Argo CD names them), `helm dependency build`
/// runs, and the template is rendered again.
#[test]
fn helm_dependency_build_runs_when_charts_is_incomplete() {
    let tmp = tempfile::tempdir().unwrap();
    let (_root, app) = chart_repo(tmp.path(), "");
    std::fs::write(
        app.join("Chart.yaml"),
        "apiVersion: v2\nname: api\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 18.0.0\n  repository: https://charts.bitnami.com/bitnami\n- name: local\n  version: 1.0.0\n  repository: file://../local\n",
    )
    .unwrap();
    let log = tmp.path().join("helm.log");
    fake_helm(&tmp.path().join("bin"), &log, true);
    let path = format!(
        "{}:{}",
        tmp.path().join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let mut env = argocd_env("api", "production", "charts/api");
    env.push(("PATH", &path));
    let out = sluice_in(&app, &["generate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("from-helm"));
    let calls: Vec<String> = helm_calls(&log)
        .iter()
        .map(|c| c[..c.len().min(4)].join(" "))
        .collect();
    assert_eq!(
        calls,
        [
            "template . --name-template api",
            "repo add https:--charts.bitnami.com-bitnami https://charts.bitnami.com/bitnami",
            "dependency build",
            "template . --name-template api",
        ]
    );
}

/// `render.kustomize.buildOptions` is appended to `kustomize build .` as Argo CD appends its
/// `kustomize.buildOptions`; options that would let the repository run programs are refused.
#[test]
fn kustomize_build_options_are_passed_as_argocd_passes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (_repo, dir) = repo_with_app(
        &project_root().join("tests/fixtures/generate/kustomize"),
        "k",
    );
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = tmp.path().join("kustomize.log");
    // A recording stand-in for kustomize (the real one runs through kubectl in the test above).
    script(
        &bin.join("kustomize"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" > {}\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: k\\n'\n",
            log.display()
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut env = argocd_env("k", "shop", "apps/k");
    env.push(("PATH", &path));
    let policy = dir.join(".sluice.yaml");
    let head = "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n";
    std::fs::write(
        &policy,
        format!("{head}render:\n  kustomize:\n    buildOptions: --enable-helm --load-restrictor LoadRestrictionsNone\n"),
    )
    .unwrap();
    let out = sluice_in(&dir, &["generate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        "build . --enable-helm --load-restrictor LoadRestrictionsNone"
    );
    std::fs::write(
        &policy,
        format!("{head}render:\n  kustomize:\n    buildOptions: --enable-helm --enable-exec\n"),
    )
    .unwrap();
    assert_fails(&dir, &env, "render.kustomize.buildOptions");
}

fn run_with_stdin(cmd: &mut std::process::Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// `sluice generate --stdin`: the manifests of an earlier step (`kustomize build . |
/// argocd-vault-plugin generate - | sluice generate --stdin`) go through the same pipeline.
#[test]
fn generate_stdin_takes_manifests_from_an_earlier_plugin() {
    let (_tmp, dir) = shop();
    let (rendered, _) = generate(&dir);
    // What an earlier plugin printed: here, the app's own files as one stream.
    let mut input = String::new();
    for f in ["api.yaml", "cronjob.yaml", "worker.yaml"] {
        input.push_str("---\n");
        input.push_str(&std::fs::read_to_string(dir.join(f)).unwrap());
    }
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(&dir)
        .args(["generate", "--stdin"])
        .env_clear();
    for (k, v) in argocd_env("shop", "shop", "apps/shop") {
        cmd.env(k, v);
    }
    let out = run_with_stdin(&mut cmd, input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        rendered,
        "the same objects, checksums and hooks as rendering the directory"
    );
    let out = run_with_stdin(
        &mut cmd,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: [\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("stdin: line"), "{}", stderr(&out));
}

/// Issue 13's alias bomb: a 1 MiB file with one anchored 1 MiB string aliased 1,500 times (1.5 GB
/// expanded). Refused, naming the file and the anchor, after little work and in under 100 MB of peak
/// memory (measured with GNU time around the real binary). The work is bounded without a clock: the
/// reader takes an alias's bytes from a budget before copying them, and the refusal names that
/// budget, which must be at most 16 times the app's files (not the 1.5 GB the aliases ask for).
#[test]
fn alias_bomb_of_a_large_string_is_refused_in_bounded_work_and_little_memory() {
    let (_tmp, dir) = shop();
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  big: &big \"",
    );
    bomb.push_str(&"x".repeat(1 << 20));
    bomb.push_str("\"\n  copies: [");
    for i in 0..1500 {
        bomb.push_str(if i == 0 { "*big" } else { ", *big" });
    }
    bomb.push_str("]\n");
    std::fs::write(dir.join("bomb.yaml"), &bomb).unwrap();
    let rss = dir.join("../rss");
    let mut cmd = std::process::Command::new("/usr/bin/time");
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(bin())
        .arg("generate")
        .current_dir(&dir)
        .env_clear();
    for (k, v) in argocd_env("shop", "shop", "apps/shop") {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("GNU time (apt-get install time; tests/run does)");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("bomb.yaml") && err.contains("alias *big"),
        "{err}"
    );
    // The budget the refusal names bounds the bytes copied before it.
    let limit: u64 = err
        .split_once(" expands the input past ")
        .and_then(|(_, rest)| rest.split_once(" bytes"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("the refusal names the alias budget: {err}"));
    let mut files = 0u64;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += meta.len();
            }
        }
    }
    assert!(
        limit <= 16 * files && limit < 1500 << 20,
        "alias budget {limit} bytes for {files} bytes of files"
    );
    let measured = std::fs::read_to_string(&rss).unwrap();
    let kb: u64 = measured.trim().lines().last().unwrap().parse().unwrap();
    assert!(kb < 100 * 1024, "peak RSS {kb} KB");
}
