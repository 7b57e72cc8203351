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

/// Asserts a failed run: exit 1, nothing on stdout, and stderr naming `needle`.
fn assert_fails(dir: &Path, env: &[(&str, &str)], needle: &str) {
    let out = sluice_in(dir, &["generate"], env);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
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

/// Helm cannot be installed here: a stand-in `helm` on PATH records its arguments and prints what
/// `helm template` would, so the test checks exactly the command line sluice builds.
#[test]
fn helm_is_invoked_with_the_policy_and_argocd_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let args_file = tmp.path().join("helm-args");
    let helm = bin_dir.join("helm");
    std::fs::write(
        &helm,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\nfor a in \"$@\"; do case \"$a\" in *sluice-values-*) cp \"$a\" {}.values;; esac; done\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: from-helm\\n'\n",
            args_file.display(),
            args_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = tmp.path().join("repo/charts/api");
    std::fs::create_dir_all(tmp.path().join("repo/.git")).unwrap();
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("Chart.yaml"),
        "apiVersion: v2\nname: api\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(app.join("values-prod.yaml"), "replicaCount: 2\n").unwrap();
    std::fs::write(
        app.join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nrender:\n  helm:\n    releaseName: api\n    valueFiles: [values-prod.yaml]\n    values: {replicaCount: 3, image: {tag: '1.10'}}\n",
    )
    .unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let mut env = argocd_env("api", "production", "charts/api");
    env.push(("PATH", &path));
    env.retain(|(k, _)| *k != "KUBE_API_VERSIONS");
    env.push((
        "KUBE_API_VERSIONS",
        "v1,apps/v1,monitoring.coreos.com/v1/ServiceMonitor",
    ));
    let out = sluice_in(&app, &["generate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("from-helm"));
    let args: Vec<String> = std::fs::read_to_string(&args_file)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let values_prod = app.canonicalize().unwrap().join("values-prod.yaml");
    assert_eq!(
        &args[..5],
        ["template", "api", ".", "--namespace", "production"]
    );
    assert_eq!(
        args[5..7],
        ["--values".to_string(), values_prod.display().to_string()]
    );
    assert_eq!(args[7], "--values");
    assert!(
        args[8].contains("sluice-values-"),
        "inline values go in a temporary file: {args:?}"
    );
    assert_eq!(
        args[9..],
        [
            "--kube-version",
            "1.31.4",
            "--api-versions",
            "v1",
            "--api-versions",
            "apps/v1",
            "--api-versions",
            "monitoring.coreos.com/v1/ServiceMonitor"
        ]
    );
    let values: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.values", args_file.display())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        values,
        serde_json::json!({"replicaCount": 3, "image": {"tag": "1.10"}})
    );
    assert!(
        !Path::new(&args[8]).exists(),
        "the values file is removed after the run"
    );
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
    assert_eq!(out.status.code(), Some(1));
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
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nrender:\n  helm:\n    valueFiles: [../secret-values.yaml]\n",
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
        "render.helm.valueFiles[0]: \"../secret-values.yaml\" leaves the repository",
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
