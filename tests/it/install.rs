//! Integration tests: the install kit (`plugin.yaml`, `argocd-cm-patch/`, `Dockerfile`), checked with the real
//! tools Argo CD runs or stands on: `kubectl kustomize` over a stand-in of the upstream install, the Kubernetes
//! JSON schemas (kubernetes-validate), `lua5.1` for the Velero health check, Go's own `text/template` for the
//! webhook templates, a running `sluice serve` that must record what they render, and an emulation of
//! argocd-cmp-server running `sluice generate` as plugin.yaml says.
//!
//! A missing tool is a failure with the command that installs it, never a skip (`.ci/run` installs them).

use crate::support;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The events the sink records, one webhook template and one trigger each.
const EVENTS: [&str; 8] = [
    "created",
    "deleted",
    "deployed",
    "health-degraded",
    "sync-failed",
    "sync-running",
    "sync-status-unknown",
    "sync-succeeded",
];

/// Events about a sync operation: their trigger fires once per operation, their commit is the synced one.
const OPERATION_EVENTS: [&str; 4] = ["deployed", "sync-failed", "sync-running", "sync-succeeded"];

/// The Kubernetes version whose schemas every built object must satisfy.
const KUBE_VERSION: &str = "1.34";

/// The Argo CD release docs/install.md pins (the latest patch release of v3.5 when this was written).
const ARGOCD_RELEASE: &str = "v3.5.1";

/// The image name the kit ships and users override with one `images:` entry.
const IMAGE_NAME: &str = "ghcr.io/sluice-cd/sluice";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn fixtures() -> PathBuf {
    let dir = repo().join("tests/fixtures/install");
    assert!(
        dir.is_dir(),
        "fixture directory {} is missing",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---- running tools ---------------------------------------------------------------------------------------

/// Runs a tool with optional stdin; a tool that cannot start is a failure naming how to install it.
pub(crate) fn run(cmd: &mut Command, stdin: Option<&[u8]>, install_hint: &str) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {install_hint}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        let input = input.to_vec();
        // A tool that exits without reading all of stdin fails on its own; its status tells.
        std::thread::spawn(move || pipe.write_all(&input).ok());
    }
    child.wait_with_output().expect("wait for tool")
}

pub(crate) fn success(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstderr:\n{}\nstdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub(crate) fn kustomize(dir: &Path) -> String {
    let out = run(
        Command::new("kubectl").arg("kustomize").arg(dir),
        None,
        "kubectl (with kustomize) ships with the CI image",
    );
    success(&format!("kubectl kustomize {}", dir.display()), out)
}

/// `python3 tests/py/kube.py ARGS < input`.
fn kube_py(args: &[&str], input: &str) -> Output {
    run(
        Command::new("python3")
            .arg(repo().join("tests/py/kube.py"))
            .args(args),
        Some(input.as_bytes()),
        "python3 with `pip install -r tests/requirements.txt` is required",
    )
}

/// Multi-document YAML read as Kubernetes reads it (YAML 1.1 scalars), as JSON values.
pub(crate) fn yaml_docs(text: &str) -> Vec<Value> {
    let out = success("kube.py load", kube_py(&["load"], text));
    serde_json::from_str(&out).expect("kube.py load prints JSON")
}

fn yaml_doc(text: &str) -> Value {
    let mut docs = yaml_docs(text);
    assert_eq!(docs.len(), 1, "expected one YAML document in:\n{text}");
    docs.remove(0)
}

/// Checks objects against the Kubernetes JSON schemas; returns the report.
pub(crate) fn validate(objects: &[Value]) -> (Value, bool) {
    let out = kube_py(
        &["validate", KUBE_VERSION],
        &serde_json::to_string(objects).expect("json"),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kube.py validate: {e}; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.success())
}

// ---- the built install -----------------------------------------------------------------------------------

/// The stand-in upstream install with the component and the sink token, as docs/install.md has users write.
fn built() -> &'static [Value] {
    static BUILT: OnceLock<Vec<Value>> = OnceLock::new();
    BUILT.get_or_init(|| yaml_docs(&kustomize(&fixtures().join("overlay"))))
}

pub(crate) fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

fn listing(objs: &[Value]) -> String {
    objs.iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or("?"), name_of(o)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn object<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && name_of(o) == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the build: {}", listing(objs)))
}

/// A generated object: `<prefix>-<hash>`, exactly one.
fn generated<'a>(objs: &'a [Value], kind: &str, prefix: &str) -> &'a Value {
    let found: Vec<&Value> = objs
        .iter()
        .filter(|o| {
            o["kind"] == kind
                && name_of(o)
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|hash| !hash.is_empty() && !hash.contains('-'))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one generated {kind}/{prefix}-<hash>: {}",
        listing(objs)
    );
    found[0]
}

fn named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name))
        .unwrap_or_else(|| panic!("no entry named {name} in {list}"))
}

fn str_list(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}

fn data<'a>(cm: &'a Value, key: &str) -> &'a str {
    cm["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no data key {key}", name_of(cm)))
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not base64: {text}")) as u32;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    out
}

fn sink_token() -> String {
    read(&fixtures().join("overlay/sink-token.txt"))
}

// ---- kustomize build: objects and schemas ----------------------------------------------------------------

#[test]
fn component_builds_on_the_stock_install_and_every_object_is_valid() {
    let objs = built();
    for (kind, name) in [
        ("Deployment", "argocd-repo-server"),
        ("ConfigMap", "argocd-cm"),
        ("ConfigMap", "argocd-notifications-cm"),
        ("Secret", "argocd-notifications-secret"),
        ("StatefulSet", "sluice-sink"),
        ("Service", "sluice-sink"),
        ("NetworkPolicy", "sluice-sink"),
        ("ServiceAccount", "sluice-sink"),
        ("Role", "sluice-sink-applications"),
        ("RoleBinding", "sluice-sink-applications"),
    ] {
        let obj = object(objs, kind, name);
        assert_eq!(obj["metadata"]["namespace"], "argocd", "{kind}/{name}");
    }
    generated(objs, "ConfigMap", "sluice-plugin");
    generated(objs, "Secret", "sluice-sink-token");
    // Merged, not duplicated: one argocd-cm, one argocd-notifications-cm, one argocd-notifications-secret.
    for name in [
        "argocd-cm",
        "argocd-notifications-cm",
        "argocd-notifications-secret",
    ] {
        assert_eq!(
            objs.iter().filter(|o| name_of(o) == name).count(),
            1,
            "{name}"
        );
    }
    // No custom resource in the kit: nothing may be skipped, every object is checked.
    let (report, ok) = validate(objs);
    assert!(
        ok,
        "objects invalid against Kubernetes {KUBE_VERSION}: {report:#}"
    );
    assert_eq!(report["skipped"], json!([]), "{report:#}");
    assert_eq!(
        report["validated"].as_array().map(Vec::len),
        Some(objs.len()),
        "{report:#}"
    );
}

#[test]
fn the_offline_preview_builds_and_every_object_is_valid() {
    // docs/install.md, "Preview the kit offline": what a user runs, with no cluster and no network.
    let objs = yaml_docs(&kustomize(&repo().join("examples/install-preview")));
    let sink = object(&objs, "StatefulSet", "sluice-sink");
    assert_eq!(
        sink["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/platform/sluice:0.1.0"
    );
    let binding = object(&objs, "ClusterRoleBinding", "sluice-sink-tokenreview");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sluice-sink", "namespace": "argocd"}]),
        "the binding names the sink's ServiceAccount in the install's namespace"
    );
    let role = object(&objs, "ClusterRole", "sluice-sink-tokenreview");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}]),
        "one verb, on tokenreviews only"
    );
    let (report, ok) = validate(&objs);
    assert!(
        ok,
        "objects invalid against Kubernetes {KUBE_VERSION}: {report:#}"
    );
    assert_eq!(
        report["validated"].as_array().map(Vec::len),
        Some(objs.len()),
        "{report:#}"
    );
}

#[test]
fn no_one_is_told_to_copy_the_write_token() {
    // Guard Jobs report with their own ServiceAccount token: the write token stays in Argo CD's namespace.
    let mut texts = vec![repo().join("README.md")];
    for dir in ["docs", "argocd-cm-patch", "examples/install-preview"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                texts.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for path in texts {
        let text = read(&path).replace('\n', " ").to_lowercase();
        // Sentence by sentence (and table cell by cell): "copy" with the write token or its Secret.
        for sentence in text.split(['.', '|', ';']) {
            let copies = sentence.contains("copy") || sentence.contains("replicat");
            let token = sentence.contains("sluice-sink-token") || sentence.contains("write token");
            if copies && token {
                found.push(format!("{}: {}", path.display(), sentence.trim()));
            }
        }
    }
    // The generated guard Job takes no Secret at all: tests/it/hooks.rs checks its projected token.
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn schema_validation_catches_a_broken_object_and_skips_custom_resources_explicitly() {
    // The control for the test above: a validator that passes everything would prove nothing.
    let mut broken = object(built(), "StatefulSet", "sluice-sink").clone();
    broken["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] = json!(7);
    broken["spec"]["replicas"] = json!("one");
    let backup = json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"generateName": "pre-change-"}, "spec": {}});
    let (report, ok) = validate(&[broken, backup]);
    assert!(!ok, "{report:#}");
    let errors = report["errors"].to_string();
    assert!(errors.contains("replicas"), "{report:#}");
    assert_eq!(
        report["skipped"],
        json!(["Backup/pre-change- (custom resource, group velero.io)"])
    );
}

// ---- repo-server sidecar and plugin.yaml ------------------------------------------------------------------

fn repo_server_pod() -> &'static Value {
    &object(built(), "Deployment", "argocd-repo-server")["spec"]["template"]["spec"]
}

#[test]
fn sidecar_runs_cmp_server_as_999_with_the_four_mounts() {
    let pod = repo_server_pod();
    let sidecar = named(&pod["containers"], "sluice");
    assert_eq!(
        sidecar["command"],
        json!(["/var/run/argocd/argocd-cmp-server"])
    );
    assert!(sidecar.get("args").is_none(), "cmp-server takes no args");
    assert_eq!(sidecar["securityContext"]["runAsNonRoot"], true);
    assert_eq!(sidecar["securityContext"]["runAsUser"], 999);
    assert!(sidecar["resources"]["requests"]["cpu"].is_string());
    assert!(sidecar["resources"]["limits"]["memory"].is_string());
    // Argo CD's per-command limit of the CMP sidecar, written out (docs/install.md, "Timeouts").
    assert_eq!(
        named(&sidecar["env"], "ARGOCD_EXEC_TIMEOUT")["value"],
        "90s"
    );

    let mount = |path: &str| -> &Value {
        sidecar["volumeMounts"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["mountPath"] == path))
            .unwrap_or_else(|| panic!("sidecar does not mount {path}"))
    };
    assert_eq!(mount("/var/run/argocd")["name"], "var-files");
    assert_eq!(mount("/home/argocd/cmp-server/plugins")["name"], "plugins");
    let config = mount("/home/argocd/cmp-server/config/plugin.yaml");
    assert_eq!(config["subPath"], "plugin.yaml");
    let plugin_cm = generated(built(), "ConfigMap", "sluice-plugin");
    assert_eq!(
        named(&pod["volumes"], config["name"].as_str().unwrap())["configMap"]["name"],
        name_of(plugin_cm),
        "the plugin.yaml mount must use the generated ConfigMap (hash suffix included)"
    );
    let tmp = mount("/tmp")["name"].as_str().unwrap();
    assert_ne!(
        tmp, "tmp",
        "the sidecar must not share the repo-server's /tmp volume"
    );
    assert_eq!(named(&pod["volumes"], tmp)["emptyDir"], json!({}));
    // The stock volumes the mounts rely on, and the stock container, are untouched.
    for volume in ["var-files", "plugins", "tmp"] {
        assert_eq!(named(&pod["volumes"], volume)["emptyDir"], json!({}));
    }
    let main = named(&pod["containers"], "argocd-repo-server");
    assert_eq!(
        main["image"],
        format!("quay.io/argoproj/argocd:{ARGOCD_RELEASE}")
    );
    assert_eq!(named(&main["volumeMounts"], "tmp")["mountPath"], "/tmp");
}

#[test]
fn sidecar_gives_guard_jobs_its_own_image() {
    let sidecar = named(&repo_server_pod()["containers"], "sluice");
    let image = sidecar["image"].as_str().unwrap();
    assert!(image.starts_with(&format!("{IMAGE_NAME}:")), "{image}");
    assert_eq!(named(&sidecar["env"], "SLUICE_IMAGE")["value"], image);
    let sink = &object(built(), "StatefulSet", "sluice-sink")["spec"]["template"]["spec"];
    assert_eq!(named(&sink["containers"], "sink")["image"], image);
}

#[test]
fn one_images_entry_moves_sidecar_guard_image_and_sink_together() {
    let objs = yaml_docs(&kustomize(&fixtures().join("override")));
    let new = "registry.example.com/platform/sluice:9.9.9";
    let pod = &object(&objs, "Deployment", "argocd-repo-server")["spec"]["template"]["spec"];
    let sidecar = named(&pod["containers"], "sluice");
    assert_eq!(sidecar["image"], new);
    assert_eq!(named(&sidecar["env"], "SLUICE_IMAGE")["value"], new);
    let sink = &object(&objs, "StatefulSet", "sluice-sink")["spec"]["template"]["spec"];
    assert_eq!(named(&sink["containers"], "sink")["image"], new);
    // Other images and other env values are left alone.
    assert_eq!(
        named(&pod["containers"], "argocd-repo-server")["image"],
        "quay.io/argoproj/argocd:v3.5.1"
    );
    assert_eq!(
        named(&sidecar["env"], "HELM_CACHE_HOME")["value"],
        "/tmp/helm/cache"
    );
}

#[test]
fn plugin_configmap_is_the_top_level_plugin_yaml_byte_for_byte() {
    let top = read(&repo().join("plugin.yaml"));
    let copy = read(&repo().join("argocd-cm-patch/plugin.yaml"));
    assert!(
        copy == top,
        "argocd-cm-patch/plugin.yaml differs from plugin.yaml: run `cp plugin.yaml argocd-cm-patch/plugin.yaml`"
    );
    let cm = generated(built(), "ConfigMap", "sluice-plugin");
    assert_eq!(
        cm["data"].as_object().map(serde_json::Map::len),
        Some(1),
        "{}",
        cm["data"]
    );
    assert!(
        data(cm, "plugin.yaml") == top,
        "the plugin ConfigMap does not hold plugin.yaml byte for byte"
    );
}

fn plugin() -> Value {
    yaml_doc(&read(&repo().join("plugin.yaml")))
}

#[test]
fn plugin_yaml_runs_sluice_generate_on_apps_with_a_policy() {
    let plugin = plugin();
    assert_eq!(plugin["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    assert_eq!(plugin["metadata"]["name"], "sluice");
    let spec = &plugin["spec"];
    assert_eq!(spec["version"], "v1");
    // argv, no shell: nothing of the app reaches a shell.
    assert_eq!(spec["generate"]["command"], json!(["sluice", "generate"]));
    assert!(spec["generate"].get("args").is_none());
    assert!(spec.get("init").is_none(), "sluice needs no init step");
    assert_eq!(spec["discover"], json!({"fileName": ".sluice.yaml"}));
    assert_eq!(spec["preserveFileMode"], false);
    assert_eq!(spec["provideGitCreds"], false);
    // Only keys Argo CD reads: it ignores unknown ones silently.
    let known = [
        "version",
        "init",
        "generate",
        "discover",
        "parameters",
        "preserveFileMode",
        "provideGitCreds",
    ];
    for key in spec.as_object().unwrap().keys() {
        assert!(
            known.contains(&key.as_str()),
            "plugin.yaml spec.{key} is not read by Argo CD"
        );
    }
}

/// Argo CD's parameter environment name: `PARAM_` + upper-cased name, anything outside A-Z0-9_ as `_`.
fn param_env(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("PARAM_{mapped}")
}

#[test]
fn plugin_yaml_announces_the_parameters_generate_reads() {
    let params = &plugin()["spec"]["parameters"];
    assert!(params.get("dynamic").is_none(), "static announcements only");
    let announced: Vec<(String, String)> = params["static"]
        .as_array()
        .expect("parameters.static")
        .iter()
        .map(|p| {
            assert_eq!(p["required"], false, "{p}");
            assert_eq!(p["collectionType"], "string", "{p}");
            assert!(p["title"].is_string() && p["tooltip"].is_string(), "{p}");
            let name = p["name"].as_str().unwrap().to_string();
            (param_env(&name), name)
        })
        .collect();
    // Each parameter's PARAM_ name has the same suffix as the ARGOCD_ENV_ name of the env entry.
    let expected = ["CHANGE_ID", "SLUICE_EMERGENCY", "SLUICE_CLUSTER"];
    assert_eq!(
        announced
            .iter()
            .map(|(env, _)| env.clone())
            .collect::<Vec<_>>(),
        expected.map(|e| format!("PARAM_{e}")).to_vec(),
        "{announced:?}"
    );
    for ((_, name), env) in announced.iter().zip(expected) {
        let tooltip = named(&params["static"], name)["tooltip"].as_str().unwrap();
        assert!(
            tooltip.contains(&format!("ARGOCD_ENV_{env}")),
            "{name}: {tooltip}"
        );
    }
}

// ---- argocd-cm: the Velero health check -------------------------------------------------------------------

#[test]
fn argocd_cm_carries_the_velero_backup_health_check() {
    let cm = object(built(), "ConfigMap", "argocd-cm");
    let script = read(&repo().join("argocd-cm-patch/health-velero-backup.lua"));
    assert!(
        data(cm, "resource.customizations.health.velero.io_Backup") == script,
        "the health check in argocd-cm differs from argocd-cm-patch/health-velero-backup.lua"
    );
    // Merged into the stock ConfigMap: its keys and labels stay; standard libraries stay off.
    assert_eq!(data(cm, "timeout.reconciliation"), "180s");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "argocd"
    );
    assert!(cm["data"]
        .get("resource.customizations.useOpenLibs.velero.io_Backup")
        .is_none());
}

/// A Lua table constructor for a JSON value (as Argo CD hands `obj` to gopher-lua: arrays 1-based).
fn lua_literal(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("[{}] = {}", lua_literal(&json!(k)), lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The clock of the Lua sandbox in a test: `os.time()` returns `now` (Unix seconds); `os.date` writes UTC for
/// a `!` format without a time, and the controller's local time (UTC + `offset` seconds) otherwise, as Argo
/// CD's safe os library does (`util/lua/oslib_safe.go` ignores `!` when a time is given). `None`: no `os` module.
#[derive(Debug, Clone, Copy)]
struct FakeClock {
    now: i64,
    offset: i64,
}

/// Unix seconds of an RFC 3339 instant.
fn unix(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("test instant")
        .timestamp()
}

/// The default clock of the health tests: one minute after the fixtures' creationTimestamp, in UTC.
const CREATED: &str = "2026-11-19T02:05:00Z";

fn one_minute_later() -> FakeClock {
    FakeClock {
        now: unix(CREATED) + 60,
        offset: 0,
    }
}

/// Runs `script` once per object in lua5.1, each time in an environment that holds what Argo CD's sandbox
/// holds for a health override in argocd-cm (`util/lua/lua.go`: `SkipOpenLibs`, then base, table, and the safe os
/// reachable through `require("os")` only): `obj`, the base functions, `table`, and `require`, which gives
/// the fake `os` of `clock` (time and date only) and nothing else. No `string`, `io` or global `os`. One line
/// per object: `status<TAB>message`, or `ERROR<TAB>reason`.
fn run_health(script: &Path, objects: &[Value], clock: Option<FakeClock>) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = dir.path().join("harness.lua");
    let cases = objects
        .iter()
        .map(lua_literal)
        .collect::<Vec<_>>()
        .join(",\n");
    let clock = clock.map_or_else(
        || "nil".to_string(),
        |c| format!("{{ now = {}, offset = {} }}", c.now, c.offset),
    );
    std::fs::write(
        &harness,
        format!(
            r#"local f = assert(io.open(arg[1], "rb"))
local src = f:read("*a")
f:close()
local cases = {{
{cases}
}}
local clock = {clock}
-- Argo CD's safe os (util/lua/oslib_safe.go) over a fake clock.
local function fake_os()
  local real_date = os.date
  return {{
    time = function(t)
      if t ~= nil then error("os.time(table) is not used by the health check") end
      return clock.now
    end,
    date = function(fmt, t)
      local utc = string.sub(fmt, 1, 1) == "!"
      if utc then fmt = string.sub(fmt, 2) end
      if t == nil then
        if utc then return real_date("!" .. fmt, clock.now) end
        return real_date("!" .. fmt, clock.now + clock.offset)
      end
      return real_date("!" .. fmt, t + clock.offset)
    end,
  }}
end
local function sandbox(o)
  return {{
    obj = o,
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
    print = print, select = select, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
    table = {{ concat = table.concat, insert = table.insert, remove = table.remove, sort = table.sort }},
    require = function(name)
      if name == "os" and clock ~= nil then return fake_os() end
      error("module '" .. tostring(name) .. "' not found")
    end,
  }}
end
for i = 1, #cases do
  local chunk = assert(loadstring(src, "=health"))
  setfenv(chunk, sandbox(cases[i]))
  local ok, r = pcall(chunk)
  if not ok then
    io.write("ERROR\t", tostring(r), "\n")
  elseif type(r) ~= "table" then
    io.write("ERROR\treturned ", type(r), "\n")
  else
    for k, _ in pairs(r) do
      if k ~= "status" and k ~= "message" then io.write("ERROR\tunexpected key ", tostring(k), "\n") end
    end
    io.write(tostring(r.status), "\t", tostring(r.message), "\n")
  end
end
"#
        ),
    )
    .expect("write harness");
    let out = run(
        Command::new("lua5.1").arg(&harness).arg(script),
        None,
        "install it with `apt-get install lua5.1` (.ci/run does)",
    );
    success("lua5.1 health harness", out)
        .lines()
        .map(str::to_string)
        .collect()
}

fn backup(status: Value) -> Value {
    let mut b = json!({
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {"name": "pre-change-chg-1234-3f1c2b7-presync-1763517911", "namespace": "velero",
            "creationTimestamp": CREATED, "labels": {"app.kubernetes.io/managed-by": "sluice"}},
        "spec": {"includedNamespaces": ["shop"], "snapshotVolumes": true, "ttl": "720h0m0s",
            "storageLocation": "default"}
    });
    if !status.is_null() {
        b["status"] = status;
    }
    b
}

#[test]
fn velero_backup_health_is_healthy_only_when_completed() {
    let see =
        "see: velero backup describe pre-change-chg-1234-3f1c2b7-presync-1763517911 --details";
    let cases: Vec<(Value, &str, String)> = vec![
        (backup(Value::Null), "Progressing", "waiting for Velero to start the backup".into()),
        (backup(json!({})), "Progressing", "waiting for Velero to start the backup".into()),
        (backup(json!({"phase": "New"})), "Progressing", "backup New".into()),
        (backup(json!({"phase": "Queued"})), "Progressing", "backup Queued".into()),
        (backup(json!({"phase": "ReadyToStart"})), "Progressing", "backup ReadyToStart".into()),
        (
            backup(json!({"phase": "InProgress", "startTimestamp": "2026-11-19T02:05:14Z",
                "progress": {"totalItems": 120, "itemsBackedUp": 45}})),
            "Progressing",
            "backup InProgress: 45/120 items".into(),
        ),
        (backup(json!({"phase": "InProgress"})), "Progressing", "backup InProgress".into()),
        (
            backup(json!({"phase": "WaitingForPluginOperations"})),
            "Progressing",
            "backup WaitingForPluginOperations".into(),
        ),
        (backup(json!({"phase": "Finalizing"})), "Progressing", "backup Finalizing".into()),
        (
            backup(json!({"phase": "Completed", "progress": {"totalItems": 120, "itemsBackedUp": 120},
                "completionTimestamp": "2026-11-19T02:06:01Z"})),
            "Healthy",
            "backup completed: 120 items backed up".into(),
        ),
        (
            backup(json!({"phase": "Failed",
                "failureReason": "error getting backup storage location: BackupStorageLocation.velero.io \"default\" not found"})),
            "Degraded",
            format!("backup Failed: error getting backup storage location: BackupStorageLocation.velero.io \"default\" not found; {see}"),
        ),
        (
            backup(json!({"phase": "FailedValidation", "validationErrors": [
                "Invalid included/excluded namespace lists: excludes list cannot contain an item in the includes list: shop",
                "an existing backup storage location was not specified"]})),
            "Degraded",
            format!("backup FailedValidation (validation errors: Invalid included/excluded namespace lists: excludes list cannot contain an item in the includes list: shop; an existing backup storage location was not specified); {see}"),
        ),
        (
            backup(json!({"phase": "PartiallyFailed", "errors": 3, "warnings": 1})),
            "Degraded",
            format!("backup PartiallyFailed; 3 error(s); 1 warning(s); {see}"),
        ),
        (
            backup(json!({"phase": "WaitingForPluginOperationsPartiallyFailed", "errors": 1, "warnings": 0})),
            "Degraded",
            format!("backup WaitingForPluginOperationsPartiallyFailed; 1 error(s); {see}"),
        ),
        // Counts as json.Number strings (Argo CD's decodeValue path for json.Number).
        (
            backup(json!({"phase": "PartiallyFailed", "errors": "2", "warnings": "0"})),
            "Degraded",
            format!("backup PartiallyFailed; 2 error(s); {see}"),
        ),
        (
            backup(json!({"phase": "FinalizingPartiallyFailed", "failureReason": "volume snapshot timed out"})),
            "Degraded",
            format!("backup FinalizingPartiallyFailed: volume snapshot timed out; {see}"),
        ),
        (
            backup(json!({"phase": "Deleting"})),
            "Degraded",
            "backup is being deleted and cannot serve as a restore point".into(),
        ),
        // A phase a later Velero may add: still working, never Healthy.
        (backup(json!({"phase": "Paused"})), "Progressing", "backup Paused".into()),
    ];
    // Every phase Velero documents for a Backup is covered.
    for phase in [
        "New",
        "Queued",
        "ReadyToStart",
        "FailedValidation",
        "InProgress",
        "WaitingForPluginOperations",
        "WaitingForPluginOperationsPartiallyFailed",
        "Finalizing",
        "FinalizingPartiallyFailed",
        "Completed",
        "PartiallyFailed",
        "Failed",
        "Deleting",
    ] {
        assert!(
            cases.iter().any(|(b, _, _)| b["status"]["phase"] == phase),
            "no case for phase {phase}"
        );
    }
    let objects: Vec<Value> = cases.iter().map(|(b, _, _)| b.clone()).collect();
    let got = run_health(
        &repo().join("argocd-cm-patch/health-velero-backup.lua"),
        &objects,
        Some(one_minute_later()),
    );
    assert_eq!(got.len(), cases.len(), "{got:#?}");
    for ((obj, status, message), line) in cases.iter().zip(&got) {
        assert_eq!(
            line,
            &format!("{status}\t{message}"),
            "phase {}",
            obj["status"]["phase"]
        );
    }
}

#[test]
fn lua_sandbox_has_no_string_library_and_no_global_os() {
    // The control for the tests above: the sandbox refuses what Argo CD's refuses.
    let dir = tempfile::tempdir().expect("tempdir");
    let uses_string = dir.path().join("uses-string.lua");
    std::fs::write(
        &uses_string,
        "return { status = string.upper(\"healthy\"), message = tostring(obj) }\n",
    )
    .unwrap();
    let global_os = dir.path().join("global-os.lua");
    std::fs::write(
        &global_os,
        "return { status = \"Healthy\", message = tostring(os.time()) }\n",
    )
    .unwrap();
    let required_os = dir.path().join("required-os.lua");
    std::fs::write(
        &required_os,
        "local os = require(\"os\")\nreturn { status = \"Healthy\", message = tostring(os.time()) }\n",
    )
    .unwrap();
    let obj = [backup(json!({"phase": "Completed"}))];
    for script in [&uses_string, &global_os] {
        let got = run_health(script, &obj, Some(one_minute_later()));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("ERROR\t"),
            "{}: {got:?}",
            script.display()
        );
    }
    let got = run_health(&required_os, &obj, Some(one_minute_later()));
    assert_eq!(got, [format!("Healthy\t{}", unix(CREATED) + 60)]);
}

/// What the health check says of a Backup without status created at CREATED (`annotations` on it), at
/// `now` in a controller whose local zone is UTC + `offset` seconds.
fn no_status_health(annotations: &Value, now: &str, offset: i64) -> String {
    let mut b = backup(Value::Null);
    if !annotations.is_null() {
        b["metadata"]["annotations"] = annotations.clone();
    }
    let got = run_health(
        &repo().join("argocd-cm-patch/health-velero-backup.lua"),
        &[b],
        Some(FakeClock {
            now: unix(now),
            offset,
        }),
    );
    assert_eq!(got.len(), 1, "{got:?}");
    got[0].clone()
}

#[test]
fn a_backup_without_status_turns_degraded_naming_velero_after_the_bound() {
    let waiting = "Progressing\twaiting for Velero to start the backup";
    let degraded = |after: &str| {
        format!(
            "Degraded\tVelero has not picked up this backup {after} after its creation ({CREATED}): is Velero \
             installed and running, watching namespace velero? Check: kubectl -n velero get deploy/velero; fix \
             Velero and sync again, or set backup.enabled: false in .sluice.yaml to sync without a backup"
        )
    };
    // The controller's local zone must not matter: UTC, India (+5:30), California in summer (-7), Chatham
    // Islands (+12:45), Baker Island (-12).
    for offset in [0, 19_800, -25_200, 45_900, -43_200] {
        let none = Value::Null;
        assert_eq!(
            no_status_health(&none, "2026-11-19T02:05:00Z", offset),
            waiting,
            "offset {offset}"
        );
        assert_eq!(
            no_status_health(&none, "2026-11-19T02:14:59Z", offset),
            waiting,
            "offset {offset}"
        );
        assert_eq!(
            no_status_health(&none, "2026-11-19T02:15:00Z", offset),
            waiting,
            "offset {offset}"
        );
        assert_eq!(
            no_status_health(&none, "2026-11-19T02:15:01Z", offset),
            degraded("10 minutes"),
            "offset {offset}"
        );
        assert_eq!(
            no_status_health(&none, "2026-11-20T08:00:00Z", offset),
            degraded("10 minutes"),
            "offset {offset}"
        );
        // The bound of backup.statusTimeout, through the annotation sluice writes on the Backup.
        let half_hour = json!({"sluice.io/status-timeout-seconds": "1800"});
        assert_eq!(
            no_status_health(&half_hour, "2026-11-19T02:34:00Z", offset),
            waiting
        );
        assert_eq!(
            no_status_health(&half_hour, "2026-11-19T02:36:00Z", offset),
            degraded("30 minutes")
        );
        let odd = json!({"sluice.io/status-timeout-seconds": "90"});
        assert_eq!(
            no_status_health(&odd, "2026-11-19T02:07:00Z", offset),
            degraded("90 seconds")
        );
    }
    // A bound that is not a positive number is ignored (the default holds).
    let bad = json!({"sluice.io/status-timeout-seconds": "soon"});
    assert_eq!(no_status_health(&bad, "2026-11-19T02:10:00Z", 0), waiting);
    assert_eq!(
        no_status_health(&bad, "2026-11-19T02:16:00Z", 0),
        degraded("10 minutes")
    );
    // A status, even a slow phase, is Velero at work: the bound is for no status at all.
    let got = run_health(
        &repo().join("argocd-cm-patch/health-velero-backup.lua"),
        &[backup(json!({"phase": "New"}))],
        Some(FakeClock {
            now: unix("2026-11-20T08:00:00Z"),
            offset: 0,
        }),
    );
    assert_eq!(got, ["Progressing\tbackup New"]);
    // Without an os module (or without a creationTimestamp) the check cannot tell the time: it waits.
    let got = run_health(
        &repo().join("argocd-cm-patch/health-velero-backup.lua"),
        &[backup(Value::Null)],
        None,
    );
    assert_eq!(got, [waiting]);
    let mut anonymous = backup(Value::Null);
    anonymous["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("creationTimestamp");
    let got = run_health(
        &repo().join("argocd-cm-patch/health-velero-backup.lua"),
        &[anonymous],
        Some(FakeClock {
            now: unix("2026-11-20T08:00:00Z"),
            offset: 0,
        }),
    );
    assert_eq!(got, [waiting]);
}

// ---- argocd-notifications-cm: webhook, templates, triggers -------------------------------------------------

fn notifications_cm() -> &'static Value {
    object(built(), "ConfigMap", "argocd-notifications-cm")
}

/// The webhook body of template `sluice-<event>`.
fn template_body(event: &str) -> String {
    let template = yaml_doc(data(
        notifications_cm(),
        &format!("template.sluice-{event}"),
    ));
    let webhook = &template["webhook"]["sluice"];
    assert_eq!(webhook["method"], "POST", "{event}");
    assert_eq!(webhook["path"], "/v1/events", "{event}");
    webhook["body"]
        .as_str()
        .unwrap_or_else(|| panic!("template.sluice-{event} has no body"))
        .to_string()
}

#[test]
fn webhook_service_posts_json_to_the_sink_with_the_secret_token() {
    let service = yaml_doc(data(notifications_cm(), "service.webhook.sluice"));
    assert_eq!(service["url"], "http://sluice-sink:8080");
    assert_eq!(
        named(&service["headers"], "Authorization")["value"],
        "Bearer $sluice-token"
    );
    assert_eq!(
        named(&service["headers"], "Content-Type")["value"],
        "application/json"
    );
    // The Service it names exists and listens there.
    let svc = object(built(), "Service", "sluice-sink");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
}

#[test]
fn one_template_and_one_trigger_per_event_keyed_on_the_operation() {
    let cm = notifications_cm();
    let keys: Vec<&String> = cm["data"].as_object().unwrap().keys().collect();
    let mut expected: Vec<String> = vec!["service.webhook.sluice".into(), "subscriptions".into()];
    for event in EVENTS {
        let body = template_body(event);
        assert!(
            body.starts_with(&format!(
                "{{\"event\": \"{event}\", \"app\": {{{{toJson .app}}}}, \"commit\": "
            )),
            "{event}: {body}"
        );
        assert!(body.contains("call .repo.GetCommitMetadata"), "{event}");

        let trigger = yaml_doc(data(cm, &format!("trigger.sluice-on-{event}")));
        let conditions = trigger
            .as_array()
            .expect("a trigger is a list of conditions");
        assert_eq!(conditions.len(), 1, "{event}");
        let condition = &conditions[0];
        // Strings, as notifications-engine's Condition needs (an unquoted `true` would not load).
        assert!(condition["when"].is_string(), "{event}: {condition}");
        assert_eq!(condition["send"], json!([format!("sluice-{event}")]));
        let once_per = condition["oncePer"].as_str().unwrap_or("");
        if event == "created" || event == "deleted" {
            assert_eq!(once_per, "app.metadata.uid", "{event}");
        } else {
            assert_eq!(once_per, "app.status.operationState?.startedAt", "{event}");
            assert!(!once_per.contains("revision"), "{event}");
        }
        if OPERATION_EVENTS.contains(&event) {
            assert!(
                condition["when"]
                    .as_str()
                    .unwrap()
                    .contains("operationState.phase"),
                "{event}"
            );
        }
        expected.push(format!("template.sluice-{event}"));
        expected.push(format!("trigger.sluice-on-{event}"));
    }
    let mut keys: Vec<String> = keys.into_iter().cloned().collect();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected, "argocd-notifications-cm keys");

    // The default subscription sends every sluice trigger to the sink, for every Application.
    let subscriptions = yaml_doc(data(cm, "subscriptions"));
    assert_eq!(subscriptions.as_array().map(Vec::len), Some(1));
    let sub = &subscriptions[0];
    assert_eq!(sub["recipients"], json!(["sluice"]));
    assert!(sub.get("selector").is_none());
    let triggers = str_list(&sub["triggers"]);
    assert_eq!(
        triggers,
        EVENTS.map(|e| format!("sluice-on-{e}")).to_vec(),
        "subscribed triggers"
    );
}

/// The `when` of the catalog's on-deployed in Argo CD v3.5.1 (notifications_catalog/triggers/on-deployed.yaml).
const CATALOG_ON_DEPLOYED: &str = "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))";

#[test]
fn sluice_on_deployed_fires_as_the_catalogs_on_deployed() {
    // The same condition as the catalog's, with one guard in front of the health clause (an Application
    // without health.lastTransitionTime, where time.Parse(nil) would fail the catalog's condition); so it also
    // fires after a sync during which health stayed Healthy (lastTransitionTime before startedAt). Only
    // oncePer differs: the operation instead of the revision (docs/audit-log.md).
    let trigger = yaml_doc(data(notifications_cm(), "trigger.sluice-on-deployed"));
    let when = trigger[0]["when"].as_str().expect("when");
    let guard = "app.status.health.lastTransitionTime == nil or ";
    let (head, clause) = CATALOG_ON_DEPLOYED
        .split_once(" and (!time.Parse")
        .expect("the catalog's condition has a parenthesised health clause");
    let clause = format!("!time.Parse{clause}");
    assert_eq!(when, format!("{head} and ({guard}{clause}"));
    assert_eq!(
        trigger[0]["oncePer"],
        "app.status.operationState?.startedAt"
    );
}

#[test]
fn notifications_secret_and_sink_share_one_token_file() {
    let token = sink_token();
    let secret = object(built(), "Secret", "argocd-notifications-secret");
    assert_eq!(
        base64_decode(
            secret["data"]["sluice-token"]
                .as_str()
                .expect("sluice-token")
        ),
        token.as_bytes()
    );
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "argocd"
    );
    let sink_secret = generated(built(), "Secret", "sluice-sink-token");
    assert_eq!(
        base64_decode(sink_secret["data"]["token"].as_str().expect("token")),
        token.as_bytes()
    );
    let pod = &object(built(), "StatefulSet", "sluice-sink")["spec"]["template"]["spec"];
    assert_eq!(
        named(&pod["volumes"], "token")["secret"]["secretName"],
        name_of(sink_secret)
    );
    // The component ships no token of its own.
    for entry in std::fs::read_dir(repo().join("argocd-cm-patch")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(&token));
    }
}

#[test]
fn the_sinks_service_account_may_only_read_applications_and_review_tokens() {
    let objs = built();
    let role = object(objs, "Role", "sluice-sink-applications");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["get", "list", "watch"]}])
    );
    let binding = object(objs, "RoleBinding", "sluice-sink-applications");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sluice-sink-applications"})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sluice-sink", "namespace": "argocd"}])
    );
    // TokenReview is cluster-scoped: one ClusterRole with the one verb, bound to the sink only.
    let review = object(objs, "ClusterRole", "sluice-sink-tokenreview");
    assert_eq!(
        review["rules"],
        json!([{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}])
    );
    let binding = object(objs, "ClusterRoleBinding", "sluice-sink-tokenreview");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sluice-sink", "namespace": "argocd"}])
    );
    // Nothing else in the component grants anything.
    let grants: Vec<String> = objs
        .iter()
        .filter(|o| {
            o["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("rbac.authorization.k8s.io/"))
        })
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), name_of(o)))
        .collect();
    assert_eq!(
        grants,
        [
            "Role/sluice-sink-applications",
            "ClusterRole/sluice-sink-tokenreview",
            "RoleBinding/sluice-sink-applications",
            "ClusterRoleBinding/sluice-sink-tokenreview"
        ]
    );
}

#[test]
fn sink_runs_serve_on_a_volume_behind_a_network_policy() {
    let sts = object(built(), "StatefulSet", "sluice-sink");
    assert_eq!(sts["spec"]["replicas"], 1, "one writer per audit log");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "sluice-sink");
    assert_eq!(
        pod["automountServiceAccountToken"], true,
        "the Application watch's credentials"
    );
    assert_eq!(pod["securityContext"]["runAsUser"], 999);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let sink = named(&pod["containers"], "sink");
    let argv: Vec<&str> = str_list(&sink["command"])
        .into_iter()
        .chain(str_list(&sink["args"]))
        .collect();
    assert_eq!(
        argv,
        [
            "sluice",
            "serve",
            "--listen",
            "0.0.0.0:8080",
            "--data-dir",
            "/var/lib/sluice",
            "--token-file",
            "/etc/sluice/token",
            "--read-token-file",
            "/etc/sluice/read-token",
            "--guard-token-review",
            "--watch-applications",
            "--watch-namespaces",
            "$(POD_NAMESPACE)"
        ]
    );
    assert_eq!(
        named(&sink["env"], "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        named(&sink["volumeMounts"], "data")["mountPath"],
        "/var/lib/sluice"
    );
    assert_eq!(
        named(&sink["volumeMounts"], "token")["mountPath"],
        "/etc/sluice"
    );
    assert_eq!(
        named(&pod["volumes"], "token")["secret"]["defaultMode"],
        288
    );
    let claims = sts["spec"]["volumeClaimTemplates"].as_array().unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["metadata"]["name"], "data");
    assert_eq!(claims[0]["spec"]["accessModes"], json!(["ReadWriteOnce"]));

    let labels = &sts["spec"]["template"]["metadata"]["labels"];
    let svc = object(built(), "Service", "sluice-sink");
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v, "Service selector {k}");
    }
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(named(&sink["ports"], "http")["containerPort"], 8080);

    let np = object(built(), "NetworkPolicy", "sluice-sink");
    for (k, v) in np["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&labels[k], v, "NetworkPolicy podSelector {k}");
    }
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    let ingress = np["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        ingress[0]["ports"],
        json!([{"protocol": "TCP", "port": 8080}])
    );
    assert_eq!(
        ingress[0]["from"],
        json!([
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "argocd-notifications-controller"}}},
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {
                "app.kubernetes.io/managed-by": "sluice", "app.kubernetes.io/component": "guard"}}},
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {
                "app.kubernetes.io/managed-by": "sluice", "app.kubernetes.io/component": "verify"}}}
        ])
    );
    // The notifications controller of the stock install carries the label admitted.
    let controller = object(built(), "Deployment", "argocd-notifications-controller");
    assert_eq!(
        controller["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        "argocd-notifications-controller"
    );
}

// ---- webhook templates through Go text/template, into a running sink ---------------------------------------

/// Builds tests/go (standard library only, offline) once; returns the binary.
fn go_renderer() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Under target/tmp: kept between runs (a warm GOCACHE), removed by `cargo clean`.
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("install-go");
        let cache = work.join("gocache");
        let bin = work.join("render-templates");
        let out = run(
            Command::new("go")
                .args(["build", "-o"])
                .arg(&bin)
                .arg(".")
                .current_dir(repo().join("tests/go"))
                .env("GOCACHE", &cache)
                .env("GOPATH", work.join("gopath"))
                .env("GOFLAGS", "")
                .env("GOPROXY", "off")
                .env("GOTOOLCHAIN", "local")
                .env("GO111MODULE", "on")
                .env("CGO_ENABLED", "0"),
            None,
            "install Go with `apt-get install golang-go` (.ci/run does)",
        );
        success("go build tests/go", out);
        bin
    })
}

fn render_templates(templates: &Value, app: &Value) -> Value {
    let input = json!({
        "templates": templates,
        "app": app,
        "commits": serde_json::from_str::<Value>(&read(&fixtures().join("commits.json"))).unwrap(),
    });
    let out = run(
        &mut Command::new(go_renderer()),
        Some(input.to_string().as_bytes()),
        "go build failed",
    );
    serde_json::from_str(&success("render templates", out)).expect("renderer prints JSON")
}

fn shipped_templates() -> Value {
    Value::Object(
        EVENTS
            .iter()
            .map(|e| (e.to_string(), Value::String(template_body(e))))
            .collect(),
    )
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&read(&fixtures().join(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn webhook_templates_render_to_the_event_json_with_go_text_template() {
    let commits = fixture_json("commits.json");
    for (fixture, commit) in [
        (
            "application.json",
            commits["3f1c2b7d9e8a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"].clone(),
        ),
        // No status yet: no revision, `commit` must be null and nothing may fail.
        ("fresh-application.json", Value::Null),
    ] {
        let app = fixture_json(fixture);
        let result = render_templates(&shipped_templates(), &app);
        assert_eq!(result["errors"], json!({}), "{fixture}");
        for event in EVENTS {
            let text = result["rendered"][event].as_str().expect("rendered");
            let body: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{fixture} {event}: not JSON ({e}):\n{text}"));
            assert_eq!(body["event"], event);
            assert_eq!(
                body["app"], app,
                "{fixture} {event}: app must be the whole Application"
            );
            assert_eq!(body["commit"], commit, "{fixture} {event}");
            assert_eq!(body.as_object().unwrap().len(), 3);
        }
    }
}

#[test]
fn unguarded_commit_lookup_fails_without_a_revision() {
    // The control: Go's text/template errors on a field of a missing map entry, so the `if and` guard of the
    // shipped templates is what keeps a status-less Application's notification alive.
    let naive = json!({"naive": "{\"commit\": {{toJson (call .repo.GetCommitMetadata .app.status.operationState.syncResult.revision)}}}"});
    let result = render_templates(&naive, &fixture_json("fresh-application.json"));
    assert!(result["errors"]["naive"].is_string(), "{result}");
}

#[test]
fn sink_records_every_rendered_template() {
    let app = fixture_json("application.json");
    let fresh = fixture_json("fresh-application.json");
    let templates = shipped_templates();
    let mut bodies = Vec::new();
    for app in [&app, &fresh] {
        let result = render_templates(&templates, app);
        assert_eq!(result["errors"], json!({}));
        for event in EVENTS {
            bodies.push((
                name_of(app).to_string(),
                event,
                result["rendered"][event].as_str().unwrap().to_string(),
            ));
        }
    }

    // The token the kustomization puts in both Secrets; the headers the webhook service sends.
    let token = sink_token();
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let read_token = data_dir.with_extension("read-token");
    std::fs::write(&read_token, "auditor-token").unwrap();
    let sink = support::Sink::start_with(
        &data_dir,
        Some(&token),
        &["--read-token-file", read_token.to_str().unwrap()],
        None,
    );
    let refused = sink.http("POST", "/v1/events", &headers[1..], bodies[0].2.as_bytes());
    assert_eq!(
        refused.status, 401,
        "a request without the token must be refused"
    );

    for (i, (app, event, body)) in bodies.iter().enumerate() {
        let answer = sink.http("POST", "/v1/events", &headers, body.as_bytes());
        assert_eq!(answer.status, 201, "{app} {event}: {}", answer.body);
        let answer = answer.json();
        assert_eq!(answer["seq"], i as u64 + 1, "{app} {event}: {answer}");
        assert!(
            answer["hash"].as_str().is_some_and(|h| h.len() == 64),
            "{answer}"
        );
    }
    // Argo CD delivers again after a lost response: recorded once.
    let again = sink.http("POST", "/v1/events", &headers, bodies[7].2.as_bytes());
    assert_eq!(again.status, 200, "{}", again.body);
    let again = again.json();
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["seq"], 8, "{again}");

    let records = sink.http(
        "GET",
        "/v1/records?app=shop",
        &[("Authorization", "Bearer auditor-token")],
        b"",
    );
    assert_eq!(records.status, 200, "{}", records.body);
    let records = records.json();
    let records = records
        .as_array()
        .or_else(|| records["records"].as_array())
        .unwrap_or_else(|| panic!("no record list in {records}"));
    assert_eq!(records.len(), EVENTS.len(), "{records:#?}");
    for (record, event) in records.iter().zip(EVENTS) {
        let text = record.to_string();
        assert!(text.contains(&format!("\"{event}\"")), "{event}: {record}");
        assert!(text.contains("CHG-1234"), "{record}");
    }
    assert_eq!(sink.log_lines().len(), bodies.len());

    let out = support::sluice_in(
        &repo(),
        &["audit", "verify", "--data-dir", data_dir.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(support::stdout(&out).contains(&bodies.len().to_string()));
}

// ---- argocd-cmp-server emulation ---------------------------------------------------------------------------

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            // preserveFileMode: false: cmp-server writes every file 0644.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
    }
}

/// What argocd-cmp-server does for one manifest request: unpack the repository, check discovery, run
/// `generate` (argv from plugin.yaml) in the app path with the sidecar's environment plus Argo CD's build
/// environment, and split stdout with kube.SplitYAMLToString.
fn cmp_generate(app_src: &Path, app_env: &[(&str, &str)]) -> (Output, Vec<Value>) {
    let plugin = plugin();
    let spec = &plugin["spec"];
    let repo_dir = tempfile::tempdir().expect("tempdir");
    let app_dir = repo_dir.path().join("apps/shop");
    copy_tree(app_src, &app_dir);

    // discover.fileName is a filepath.Glob pattern in the app directory; ours has no metacharacters.
    let pattern = spec["discover"]["fileName"].as_str().expect("fileName");
    assert!(!pattern.contains(['*', '?', '[']), "{pattern}");
    assert!(
        app_dir.join(pattern).is_file(),
        "{} must be discovered",
        app_src.display()
    );
    assert!(
        !repo_dir.path().join("apps").join(pattern).exists(),
        "a directory without {pattern} must not be"
    );

    let mut argv: Vec<String> = str_list(&spec["generate"]["command"])
        .into_iter()
        .chain(
            spec["generate"]["args"]
                .as_array()
                .map_or(vec![], |_| str_list(&spec["generate"]["args"])),
        )
        .map(str::to_string)
        .collect();
    assert_eq!(argv[0], "sluice");
    argv[0] = support::bin().to_string();

    let sidecar = named(&repo_server_pod()["containers"], "sluice");
    let revision = "3f1c2b7d9e8a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";
    // cmp-server kills generate at the repo-server deadline (60 s by default) minus 100 ms: so does
    // `timeout` here, and a killed generate fails the test by its exit status.
    let mut cmd = Command::new("timeout");
    cmd.args(["--signal=KILL", "59"])
        .arg(&argv[0])
        .args(&argv[1..])
        .current_dir(&app_dir)
        .env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for var in sidecar["env"].as_array().unwrap() {
        cmd.env(
            var["name"].as_str().unwrap(),
            var["value"].as_str().unwrap(),
        );
    }
    cmd.env("ARGOCD_APP_NAME", "shop")
        .env("ARGOCD_APP_NAMESPACE", "shop")
        .env("ARGOCD_APP_PROJECT_NAME", "shop")
        .env("ARGOCD_APP_REVISION", revision)
        .env("ARGOCD_APP_REVISION_SHORT", &revision[..7])
        .env("ARGOCD_APP_REVISION_SHORT_8", &revision[..8])
        .env("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example.com/platform/deploy.git")
        .env("ARGOCD_APP_SOURCE_PATH", "apps/shop")
        .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "main")
        .env("KUBE_VERSION", "1.34.1")
        .env(
            "KUBE_API_VERSIONS",
            "v1,apps/v1,batch/v1,networking.k8s.io/v1,policy/v1,velero.io/v1,velero.io/v1/Backup,apps/v1/Deployment,batch/v1/Job",
        );
    for (k, v) in app_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd, None, "the sluice binary is built by cargo");
    assert!(
        !matches!(out.status.code(), None | Some(124 | 137)),
        "generate was killed at the deadline"
    );
    let docs = if out.status.success() {
        let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8 manifests");
        serde_json::from_str(&success("kube.py split", kube_py(&["split"], &stdout)))
            .expect("split prints JSON")
    } else {
        Vec::new()
    };
    (out, docs)
}

#[test]
fn cmp_server_emulation_generates_the_example_app() {
    let params = r#"[{"name":"change-id","string":"CHG-1234"}]"#;
    let env = [
        ("ARGOCD_ENV_CHANGE_ID", "CHG-1234"),
        ("ARGOCD_APP_PARAMETERS", params),
        ("PARAM_CHANGE_ID", "CHG-1234"),
    ];
    let shop = repo().join("examples/shop");
    let (out, docs) = cmp_generate(&shop, &env);
    assert!(
        out.status.success(),
        "sluice generate failed ({}): {}",
        out.status,
        support::stderr(&out)
    );
    assert!(!docs.is_empty(), "an app must never render to nothing");
    for (i, doc) in docs.iter().enumerate() {
        assert!(
            doc["apiVersion"].is_string() && doc["kind"].is_string(),
            "document {i} is not a Kubernetes object: {doc}"
        );
        assert!(
            doc["metadata"]["name"].is_string() || doc["metadata"]["generateName"].is_string(),
            "document {i} has no name: {doc}"
        );
    }
    let (report, ok) = validate(&docs);
    assert!(ok, "generated objects invalid: {report:#}");
    // The guard Job runs the sidecar's own image, and the sink's NetworkPolicy admits its pods.
    let sidecar = named(&repo_server_pod()["containers"], "sluice");
    let np = object(built(), "NetworkPolicy", "sluice-sink");
    let admitted = &np["spec"]["ingress"][0]["from"][1]["podSelector"]["matchLabels"];
    let admits = |job: &Value| {
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        admitted
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    let jobs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    let guards: Vec<&&Value> = jobs
        .iter()
        .filter(|j| j["metadata"]["labels"]["app.kubernetes.io/component"] == "guard")
        .collect();
    assert_eq!(guards.len(), 1, "examples/shop has windows: one guard Job");
    assert_eq!(
        guards[0]["spec"]["template"]["spec"]["containers"][0]["image"],
        named(&sidecar["env"], "SLUICE_IMAGE")["value"]
    );
    assert!(
        admits(guards[0]),
        "the NetworkPolicy must admit the guard's pods"
    );
    for job in jobs.iter().filter(|j| !guards.contains(j)) {
        assert!(!admits(job), "{} must not reach the sink", name_of(job));
    }
    // Argo CD caches generated manifests per revision: the same request gives the same bytes.
    let (again, _) = cmp_generate(&shop, &env);
    assert!(again.stdout == out.stdout, "generate is not deterministic");
}

#[test]
fn generate_reads_the_change_id_under_both_names_plugin_yaml_announces() {
    let app = fixtures().join("required-change-id");
    let (out, _) = cmp_generate(&app, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "change.required without a change id must fail: {}",
        support::stderr(&out)
    );
    assert!(out.stdout.is_empty(), "no manifests on failure");
    for env in [
        [
            ("ARGOCD_ENV_CHANGE_ID", "CHG-77"),
            ("ARGOCD_APP_PARAMETERS", "null"),
        ],
        [
            ("PARAM_CHANGE_ID", "CHG-77"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"change-id","string":"CHG-77"}]"#,
            ),
        ],
    ] {
        let (out, docs) = cmp_generate(&app, &env);
        assert!(out.status.success(), "{env:?}: {}", support::stderr(&out));
        assert!(docs.iter().any(|d| name_of(d) == "settings"), "{env:?}");
    }
}

/// The kustomization YAML blocks of a document: fenced `yaml` blocks, or heredocs, holding `kind: Kustomization`.
fn documented_kustomizations(doc: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in read(&repo().join(doc)).lines() {
        match &mut current {
            None if line.trim_start() == "```yaml" || line.contains("<<'EOF'") => {
                current = Some(String::new());
            }
            Some(text) if line.trim_start() == "```" || line == "EOF" => {
                if text.contains("kind: Kustomization") {
                    blocks.push(yaml_doc(text));
                }
                current = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn documented_kustomizations_match_the_tested_overlay() {
    let overlay = yaml_doc(&read(&fixtures().join("overlay/kustomization.yaml")));
    for doc in ["docs/install.md", "README.md", "docs/walkthrough.md"] {
        let blocks = documented_kustomizations(doc);
        assert_eq!(blocks.len(), 1, "{doc}: expected one kustomization");
        let k = &blocks[0];
        assert_eq!(k["namespace"], overlay["namespace"], "{doc}");
        assert_eq!(
            k["secretGenerator"], overlay["secretGenerator"],
            "{doc}: the token recipe must be the tested one"
        );
        assert_eq!(k["components"].as_array().map(Vec::len), Some(1), "{doc}");
        assert_eq!(k["images"][0]["name"], IMAGE_NAME, "{doc}");
        // The Argo CD release the docs pin is the one the stand-in install (and so every test here) follows.
        assert_eq!(
            k["resources"],
            json!([format!(
                "https://raw.githubusercontent.com/argoproj/argo-cd/{ARGOCD_RELEASE}/manifests/install.yaml"
            )]),
            "{doc}"
        );
    }
    let upstream = read(&fixtures().join("upstream/install.yaml"));
    assert!(upstream.contains(&format!("argo-cd {ARGOCD_RELEASE} manifests/install.yaml")));
    for line in upstream
        .lines()
        .filter(|l| l.contains("image: quay.io/argoproj/argocd:"))
    {
        assert!(line.ends_with(&format!(":{ARGOCD_RELEASE}")), "{line}");
    }
}

fn guard_env(docs: &[Value]) -> Vec<(String, String)> {
    let guard = docs
        .iter()
        .find(|d| {
            d["kind"] == "Job" && d["metadata"]["labels"]["app.kubernetes.io/component"] == "guard"
        })
        .expect("a guard Job");
    guard["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .map_or(vec![], |env| {
            env.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap_or("").to_string(),
                        e["value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
}

#[test]
fn announced_parameters_reach_the_guard_job_and_env_entries_win() {
    let shop = repo().join("examples/shop");
    let params = r#"[{"name":"change-id","string":"CHG-10"},{"name":"sluice-emergency","string":"CHG-11"},{"name":"sluice-cluster","string":"prod-eu"}]"#;
    let (out, docs) = cmp_generate(
        &shop,
        &[
            ("ARGOCD_APP_PARAMETERS", params),
            ("PARAM_CHANGE_ID", "CHG-10"),
            ("PARAM_SLUICE_EMERGENCY", "CHG-11"),
            ("PARAM_SLUICE_CLUSTER", "prod-eu"),
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let env = guard_env(&docs);
    for (name, value) in [
        ("SLUICE_CHANGE_ID", "CHG-10"),
        ("SLUICE_EMERGENCY", "CHG-11"),
        ("SLUICE_CLUSTER", "prod-eu"),
    ] {
        assert!(
            env.contains(&(name.to_string(), value.to_string())),
            "{name}={value} not in the guard's env {env:?}"
        );
    }
    let (out, docs) = cmp_generate(
        &shop,
        &[
            ("PARAM_CHANGE_ID", "CHG-10"),
            ("ARGOCD_ENV_CHANGE_ID", "CHG-20"),
        ],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(guard_env(&docs).contains(&("SLUICE_CHANGE_ID".into(), "CHG-20".into())));
}

// ---- Dockerfile ----------------------------------------------------------------------------------------------

#[test]
fn dockerfile_builds_one_static_non_root_image_with_pinned_tools() {
    // No container engine here: the structure is what can be checked.
    let dockerfile = read(&repo().join("Dockerfile"));
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let final_stage = {
        let last_from = lines
            .iter()
            .rposition(|l| l.starts_with("FROM "))
            .expect("FROM");
        &lines[last_from..]
    };
    assert!(lines
        .iter()
        .any(|l| l.starts_with("FROM rust:") && l.ends_with(" AS build")));
    assert!(dockerfile.contains("cargo build --release --locked --bin sluice"));
    for (stage, target) in [
        ("build", "/usr/local/bin/sluice"),
        ("kustomize", "/usr/local/bin/kustomize"),
        ("helm", "/usr/local/bin/helm"),
    ] {
        assert!(
            final_stage
                .iter()
                .any(|l| l.starts_with(&format!("COPY --from={stage} ")) && l.ends_with(target)),
            "the final stage must COPY {target} from stage {stage}"
        );
    }
    assert!(
        final_stage.contains(&"USER 999:999"),
        "the image runs as 999"
    );
    assert!(final_stage.contains(&r#"ENTRYPOINT ["/usr/local/bin/sluice"]"#));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("ARG KUSTOMIZE_VERSION=v")));
    assert!(lines.iter().any(|l| l.starts_with("ARG HELM_VERSION=v")));
    assert!(dockerfile
        .contains("FROM registry.k8s.io/kustomize/kustomize:${KUSTOMIZE_VERSION} AS kustomize"));
    assert!(
        dockerfile.contains("sha256sum -c"),
        "helm's tarball is checked"
    );
    assert!(!dockerfile.contains(":latest"));
    let ignore = read(&repo().join(".dockerignore"));
    let ignored: Vec<&str> = ignore.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(ignored.contains(&"target") && ignored.contains(&".git"));
    for needed in ["src", "tests", "benches", "Cargo.toml", "Cargo.lock"] {
        assert!(
            !ignored.contains(&needed),
            ".dockerignore must keep {needed}"
        );
    }
}
