//! Which apps a repository holds and which of them a change touches (pure over a [`Tree`]'s file
//! list and the contents of the few files it reads). An app is a directory with a `.sluice.yaml`, or
//! the source path of an Argo CD `Application` (or of one an `ApplicationSet`'s list or git-directory
//! generator makes) that lies in the repository. Its inputs are the files it reads when rendered:
//! its directory, the Kustomize bases, components and files its kustomizations name (transitively),
//! the Helm value files it names, its migrations' `sqlDir`, local chart dependencies. A changed
//! file touches an app when it is one of its inputs, or when the app's own definition changed.

use super::git::Tree;
use crate::manifest::{yaml, Limits};
use crate::policy::{self, HelmParameter, Policy, RenderSpec, Tool};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One app of the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The Application's name, or the directory's path for a `.sluice.yaml` no Application names.
    pub name: String,
    /// The source path in the repository (`""` for the top level).
    pub path: String,
    /// Argo CD's environment for this app (`ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE`, plugin env
    /// `ARGOCD_ENV_*`, `ARGOCD_APP_PARAMETERS`, `ARGOCD_APP_SOURCE_PATH`).
    pub env: Vec<(String, String)>,
    /// Guesses that `--env` overrides (a `.sluice.yaml` no Application names: its directory's name
    /// as app name and namespace).
    pub defaults: Vec<(String, String)>,
    /// How Argo CD renders the source itself (its `spec.source.helm`/`directory`), for a path
    /// without `.sluice.yaml`.
    pub render: RenderSpec,
    /// Helm value files the Application names, repository-relative.
    pub value_files: Vec<String>,
    /// Where the Application is defined (`None` for a bare `.sluice.yaml` directory).
    pub defined_in: Option<String>,
    /// The Application as discovered (its `spec`), to tell a changed definition.
    pub definition: Value,
}

impl App {
    /// `apps/shop`, or `apps/shop (shop-prod)` when an Application of another name renders it.
    pub fn label(&self) -> String {
        let path = if self.path.is_empty() {
            "."
        } else {
            &self.path
        };
        if self.name == path || self.name.is_empty() {
            path.to_string()
        } else {
            format!("{path} ({})", self.name)
        }
    }
}

/// The files an app reads at one revision.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Directories read whole (all depths).
    pub dirs: BTreeSet<String>,
    /// Directories whose files are read, not their subdirectories.
    pub flat_dirs: BTreeSet<String>,
    pub files: BTreeSet<String>,
    /// Files under the app's directory that it does not read (value files of other apps on the
    /// same chart).
    pub excluded: BTreeSet<String>,
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

impl Inputs {
    /// Whether the app reads `file`.
    pub fn contains(&self, file: &str) -> bool {
        if self.excluded.contains(file) {
            return false;
        }
        self.files.contains(file)
            || self.flat_dirs.contains(parent(file))
            || self
                .dirs
                .iter()
                .any(|d| d.is_empty() || file.starts_with(&format!("{d}/")))
    }

    /// The files of `tree` the app reads.
    pub fn select<'a>(&self, tree: &'a Tree) -> Vec<&'a str> {
        let mut out: BTreeSet<&str> = BTreeSet::new();
        for d in &self.dirs {
            out.extend(tree.files_under(d, true));
        }
        for d in &self.flat_dirs {
            out.extend(tree.files_under(d, false));
        }
        out.extend(
            self.files
                .iter()
                .filter_map(|f| tree.files.get_key_value(f).map(|(k, _)| k.as_str())),
        );
        out.into_iter().collect()
    }
}

/// Joins `rel` to `dir` lexically (`..` pops, `/x` is from the top); `None` when it leaves the
/// repository or is a URL.
pub fn resolve(dir: &str, rel: &str) -> Option<String> {
    if rel.contains("://") || rel.starts_with("github.com/") || rel.starts_with("git@") {
        return None;
    }
    let (mut parts, rest): (Vec<&str>, &str) = match rel.strip_prefix('/') {
        Some(rest) => (Vec::new(), rest),
        None => (dir.split('/').filter(|p| !p.is_empty()).collect(), rel),
    };
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn parse_yaml(bytes: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(bytes);
    yaml::parse_stream(&text, &Limits::default())
        .map(|docs| docs.into_iter().map(|d| d.value).collect())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

/// The paths a kustomization names (resources, bases, components, patches, generator files, ...).
fn kustomization_refs(k: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    for key in [
        "resources",
        "bases",
        "components",
        "crds",
        "patchesStrategicMerge",
        "transformers",
        "generators",
        "validators",
        "configurations",
    ] {
        refs.extend(strings(k.get(key)));
    }
    for key in ["patches", "patchesJson6902", "replacements"] {
        refs.extend(
            k.get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("path").and_then(Value::as_str))
                .map(String::from),
        );
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        for g in k.get(key).and_then(Value::as_array).into_iter().flatten() {
            for file in strings(g.get("files"))
                .into_iter()
                .chain(strings(g.get("envs")))
            {
                // `key=path` names the key the file becomes.
                refs.push(
                    file.split_once('=')
                        .map_or(file.clone(), |(_, p)| p.to_string()),
                );
            }
            if let Some(env) = g.get("env").and_then(Value::as_str) {
                refs.push(env.to_string());
            }
        }
    }
    for chart in k
        .get("helmCharts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(v) = chart.get("valuesFile").and_then(Value::as_str) {
            refs.push(v.to_string());
        }
        refs.extend(strings(chart.get("additionalValuesFiles")));
    }
    if let Some(dir) = k.pointer("/helmGlobals/chartHome").and_then(Value::as_str) {
        refs.push(dir.to_string());
    }
    if let Some(p) = k.pointer("/openapi/path").and_then(Value::as_str) {
        refs.push(p.to_string());
    }
    refs
}

/// Reads files of a tree on demand (the caller batches nothing: kustomizations are few).
pub trait Reader {
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

impl Reader for Tree {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.read_all(&[path]).ok()?.remove(path)
    }
}

const KUSTOMIZATIONS: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The inputs of `app` in `tree`; `others` are the value files other apps on the same path name.
pub fn inputs(app: &App, tree: &Tree, reader: &dyn Reader, others: &BTreeSet<String>) -> Inputs {
    let mut inputs = Inputs::default();
    let path = app.path.as_str();
    let policy_file = join(path, policy::FILE_NAME);
    let policy: Option<Policy> = tree
        .is_file(&policy_file)
        .then(|| reader.read(&policy_file))
        .flatten()
        .and_then(|b| policy::parse(&String::from_utf8_lossy(&b), &policy_file).ok());
    let render = policy.as_ref().map_or(&app.render, |p| &p.render);
    inputs.files.insert(policy_file);
    let has = |dir: &str, names: &[&str]| names.iter().any(|n| tree.is_file(&join(dir, n)));
    let tool = match render.tool {
        Tool::Auto if has(path, KUSTOMIZATIONS) => Tool::Kustomize,
        Tool::Auto if has(path, &["Chart.yaml"]) => Tool::Helm,
        Tool::Auto => Tool::Directory,
        t => t,
    };
    match tool {
        Tool::Directory | Tool::Auto if !render.directory.recurse => {
            inputs.flat_dirs.insert(path.to_string());
        }
        _ => {
            inputs.dirs.insert(path.to_string());
        }
    }
    if tool == Tool::Kustomize {
        kustomize_inputs(path, tree, reader, &mut inputs);
    }
    if tool == Tool::Helm {
        // Local chart dependencies (`repository: file://../common`).
        if let Some(chart) = reader.read(&join(path, "Chart.yaml")) {
            for doc in parse_yaml(&chart) {
                for dep in doc
                    .get("dependencies")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(dir) = dep
                        .get("repository")
                        .and_then(Value::as_str)
                        .and_then(|r| r.strip_prefix("file://"))
                        .and_then(|r| resolve(path, r))
                    {
                        inputs.dirs.insert(dir);
                    }
                }
            }
        }
        let named: BTreeSet<String> = render
            .helm
            .value_files
            .iter()
            .filter_map(|f| resolve(path, f))
            .chain(app.value_files.iter().cloned())
            .collect();
        // A value file under the chart that only other apps name is not this app's input.
        inputs.excluded = others.difference(&named).cloned().collect();
        inputs.files.extend(named);
    }
    if let Some(p) = &policy {
        for m in &p.migrations {
            if let Some(dir) = m.sql_dir.as_deref().and_then(|d| resolve(path, d)) {
                inputs.dirs.insert(dir);
            }
        }
    }
    inputs
}

fn kustomize_inputs(path: &str, tree: &Tree, reader: &dyn Reader, inputs: &mut Inputs) {
    let mut queue = vec![path.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(dir) = queue.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        inputs.dirs.insert(dir.clone());
        let Some(text) = KUSTOMIZATIONS.iter().find_map(|n| {
            tree.is_file(&join(&dir, n))
                .then(|| reader.read(&join(&dir, n)))
                .flatten()
        }) else {
            continue;
        };
        for k in parse_yaml(&text) {
            for r in kustomization_refs(&k) {
                let Some(target) = resolve(&dir, &r) else {
                    continue;
                };
                if tree.is_dir(&target) {
                    queue.push(target);
                } else if tree.is_file(&target) {
                    inputs.files.insert(target);
                }
            }
        }
    }
}

/// An `ApplicationSet` whose generators sluice does not expand, and why.
pub type Note = String;

/// Every app of `tree`: `.sluice.yaml` directories, and the sources of the `Application`s (and
/// list/git-directory `ApplicationSet`s) found in `manifests` (path → content) that lie in the
/// repository. `defaults` is the `--env` given on the command line.
pub fn discover(tree: &Tree, manifests: &BTreeMap<String, Vec<u8>>) -> (Vec<App>, Vec<Note>) {
    let mut apps = Vec::new();
    let mut notes = Vec::new();
    for (file, bytes) in manifests {
        for doc in parse_yaml(bytes) {
            let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if !api.starts_with("argoproj.io/") {
                continue;
            }
            match doc.get("kind").and_then(Value::as_str) {
                Some("Application") => apps.extend(from_application(&doc, file, tree)),
                Some("ApplicationSet") => {
                    let (generated, note) = expand_application_set(&doc, tree);
                    for app in generated {
                        apps.extend(from_application(&app, file, tree));
                    }
                    notes.extend(note.map(|n| format!("{file}: {n}")));
                }
                _ => {}
            }
        }
    }
    let named: BTreeSet<String> = apps.iter().map(|a| a.path.clone()).collect();
    for file in tree.files.keys() {
        let Some(dir) = file
            .strip_suffix(policy::FILE_NAME)
            .filter(|d| d.is_empty() || d.ends_with('/'))
            .map(|d| d.trim_end_matches('/').to_string())
        else {
            continue;
        };
        if named.contains(&dir) {
            continue;
        }
        let name = if dir.is_empty() {
            ".".to_string()
        } else {
            dir.clone()
        };
        let basename = dir.rsplit('/').next().unwrap_or("").to_string();
        apps.push(App {
            name,
            env: vec![("ARGOCD_APP_SOURCE_PATH".into(), dir.clone())],
            defaults: vec![
                ("ARGOCD_APP_NAME".into(), basename.clone()),
                ("ARGOCD_APP_NAMESPACE".into(), basename),
            ],
            path: dir,
            render: RenderSpec::default(),
            value_files: Vec::new(),
            defined_in: None,
            definition: Value::Null,
        });
    }
    apps.sort_by(|a, b| (&a.path, &a.name).cmp(&(&b.path, &b.name)));
    apps.dedup_by(|a, b| a.path == b.path && a.name == b.name);
    (apps, notes)
}

/// The apps an `Application` renders from this repository: one per source with a `path` that is a
/// directory of the tree.
fn from_application(doc: &Value, file: &str, tree: &Tree) -> Vec<App> {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let namespace = doc
        .pointer("/spec/destination/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let sources: Vec<&Value> = match doc.pointer("/spec/sources").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => doc.pointer("/spec/source").into_iter().collect(),
    };
    // `$ref/path` value files of a multi-source Application point into the `ref` source.
    let refs: BTreeMap<String, String> = sources
        .iter()
        .filter_map(|s| {
            Some((
                s.get("ref")?.as_str()?.to_string(),
                s.get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    for source in sources {
        let Some(path) = source.get("path").and_then(Value::as_str) else {
            continue;
        };
        let Some(path) = resolve("", path) else {
            continue;
        };
        if !(tree.is_dir(&path)) {
            continue;
        }
        let mut env = vec![
            ("ARGOCD_APP_NAME".to_string(), name.clone()),
            ("ARGOCD_APP_NAMESPACE".to_string(), namespace.clone()),
            ("ARGOCD_APP_SOURCE_PATH".to_string(), path.clone()),
        ];
        let plugin = source.get("plugin");
        for e in plugin
            .and_then(|p| p.get("env"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(k), Some(v)) = (
                e.get("name").and_then(Value::as_str),
                e.get("value").and_then(Value::as_str),
            ) {
                env.push((format!("ARGOCD_ENV_{k}"), v.to_string()));
            }
        }
        if let Some(params) = plugin.and_then(|p| p.get("parameters")) {
            env.push(("ARGOCD_APP_PARAMETERS".into(), params.to_string()));
        }
        let helm = source.get("helm");
        let mut render = RenderSpec::default();
        let mut value_files = Vec::new();
        for f in strings(helm.and_then(|h| h.get("valueFiles"))) {
            let resolved = match f.split_once('/') {
                Some((r, rest)) if r.starts_with('$') => {
                    refs.get(&r[1..]).and_then(|base| resolve(base, rest))
                }
                _ => resolve(&path, &f),
            };
            if let Some(resolved) = resolved {
                value_files.push(resolved.clone());
                render.helm.value_files.push(format!("/{resolved}"));
            }
        }
        if let Some(h) = helm {
            render.helm.release_name = h
                .get("releaseName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            render.helm.ignore_missing_value_files = h
                .get("ignoreMissingValueFiles")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            render.helm.skip_crds = h.get("skipCrds").and_then(Value::as_bool).unwrap_or(false);
            for p in h
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(n), Some(v)) = (
                    p.get("name").and_then(Value::as_str),
                    p.get("value").and_then(Value::as_str),
                ) {
                    render.helm.parameters.push(HelmParameter {
                        name: n.into(),
                        value: v.into(),
                        force_string: p
                            .get("forceString")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                }
            }
            let values = match h.get("valuesObject") {
                Some(Value::Object(m)) => Some(m.clone()),
                _ => h
                    .get("values")
                    .and_then(Value::as_str)
                    .and_then(|t| yaml::parse_stream(t, &Limits::default()).ok())
                    .and_then(|d| d.into_iter().next())
                    .and_then(|d| d.value.as_object().cloned()),
            };
            render.helm.values = values.unwrap_or_default();
        }
        if let Some(d) = source.get("directory") {
            render.directory.recurse = d.get("recurse").and_then(Value::as_bool).unwrap_or(false);
            render.directory.include = d
                .get("include")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            render.directory.exclude = d
                .get("exclude")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
        }
        out.push(App {
            name: name.clone(),
            path,
            env,
            defaults: Vec::new(),
            render,
            value_files,
            defined_in: Some(file.to_string()),
            definition: json!({"metadata": {"name": name}, "spec": doc.get("spec")}),
        });
    }
    out
}

/// Argo CD's path matching for the git directory generator (`path.Match`: `*` and `?` within one
/// segment, `[...]` classes are taken literally here).
fn path_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == s.len()
        && p.iter()
            .zip(&s)
            .all(|(p, s)| segment_match(p.as_bytes(), s.as_bytes()))
}

fn segment_match(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            segment_match(&p[1..], s) || (!s.is_empty() && segment_match(p, &s[1..]))
        }
        (Some(b'?'), Some(_)) => segment_match(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => segment_match(&p[1..], &s[1..]),
        _ => false,
    }
}

/// The parameter sets of a list or git-directory generator; `Err` names a generator kind that is
/// not expanded.
fn generator_params(
    g: &Map<String, Value>,
    tree: &Tree,
) -> Result<Vec<Map<String, Value>>, String> {
    if let Some(list) = g.get("list") {
        return Ok(list
            .get("elements")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_object().cloned())
            .collect());
    }
    if let Some(git) = g.get("git") {
        let Some(dirs) = git.get("directories").and_then(Value::as_array) else {
            return Err("git (files)".into());
        };
        let mut all: BTreeSet<String> = BTreeSet::new();
        for file in tree.files.keys() {
            let mut d = parent(file);
            while !d.is_empty() {
                all.insert(d.to_string());
                d = parent(d);
            }
        }
        let (include, exclude): (Vec<&Value>, Vec<&Value>) = dirs
            .iter()
            .partition(|d| !d.get("exclude").and_then(Value::as_bool).unwrap_or(false));
        let pattern = |d: &Value| {
            d.get("path")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        return Ok(all
            .into_iter()
            .filter(|d| include.iter().any(|i| path_match(&pattern(i), d)))
            .filter(|d| !exclude.iter().any(|e| path_match(&pattern(e), d)))
            .map(|d| {
                let segments: Vec<&str> = d.split('/').collect();
                let basename = segments.last().copied().unwrap_or("").to_string();
                let mut p = Map::new();
                p.insert("path".into(), json!(d));
                p.insert("path.path".into(), json!(d));
                p.insert("path.basename".into(), json!(basename));
                p.insert(
                    "path.basenameNormalized".into(),
                    json!(basename
                        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
                        .to_lowercase()),
                );
                for (i, s) in segments.iter().enumerate() {
                    p.insert(format!("path[{i}]"), json!(s));
                }
                p.insert("path.segments".into(), json!(segments));
                p
            })
            .collect());
    }
    Err(g.keys().next().cloned().unwrap_or_else(|| "empty".into()))
}

/// `{{key}}` (fasttemplate) or `{{ .key.sub }}` (goTemplate) replaced by the parameter's value.
fn substitute(text: &str, params: &Map<String, Value>, go: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let tag = rest[start + 2..start + end].trim();
        let key = if go {
            tag.strip_prefix('.').unwrap_or(tag)
        } else {
            tag
        };
        let value = params.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        out.push_str(&rest[..start]);
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn substitute_all(v: &Value, params: &Map<String, Value>, go: bool) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(s, params, go)),
        Value::Array(a) => Value::Array(a.iter().map(|i| substitute_all(i, params, go)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, i)| (substitute(k, params, go), substitute_all(i, params, go)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The Applications an `ApplicationSet` makes with its list and git-directory generators, and a
/// note naming the generators it does not expand.
fn expand_application_set(doc: &Value, tree: &Tree) -> (Vec<Value>, Option<Note>) {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let go = doc
        .pointer("/spec/goTemplate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let template = doc
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let mut apps = Vec::new();
    let mut skipped = Vec::new();
    for g in doc
        .pointer("/spec/generators")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(g) = g.as_object() else { continue };
        match generator_params(g, tree) {
            Ok(sets) => {
                for params in sets {
                    let mut app = substitute_all(&template, &params, go);
                    if let Some(m) = app.as_object_mut() {
                        m.insert("apiVersion".into(), json!("argoproj.io/v1alpha1"));
                        m.insert("kind".into(), json!("Application"));
                    }
                    apps.push(app);
                }
            }
            Err(kind) => skipped.push(kind),
        }
    }
    let note = (!skipped.is_empty()).then(|| {
        format!(
            "ApplicationSet {name}: generator{} {} not expanded (sluice expands list and git directory generators); the apps it makes are not diffed",
            if skipped.len() == 1 { "" } else { "s" },
            skipped.join(", ")
        )
    });
    (apps, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_lexically_inside_the_repository() {
        assert_eq!(
            resolve("apps/shop", "../base").as_deref(),
            Some("apps/base")
        );
        assert_eq!(
            resolve("apps/shop", "/shared/v.yaml").as_deref(),
            Some("shared/v.yaml")
        );
        assert_eq!(resolve("apps", "../../x"), None);
        assert_eq!(resolve("apps", "https://github.com/x/y//base"), None);
    }

    #[test]
    fn git_directory_patterns_stay_within_a_segment() {
        assert!(path_match("apps/*", "apps/shop"));
        assert!(!path_match("apps/*", "apps/shop/base"));
        assert!(path_match("apps/s?op", "apps/shop"));
    }

    #[test]
    fn templates_substitute_both_dialects() {
        let mut p = Map::new();
        p.insert("path.basename".into(), json!("shop"));
        p.insert("env".into(), json!("prod"));
        assert_eq!(
            substitute("{{path.basename}}-{{ env }}", &p, false),
            "shop-prod"
        );
        assert_eq!(
            substitute("{{.path.basename}}-{{.env}}", &p, true),
            "shop-prod"
        );
        assert_eq!(substitute("{{missing}}", &p, false), "{{missing}}");
    }
}
