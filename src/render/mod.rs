//! Render tools: `directory` | `kustomize` | `helm` → manifest text, one [`Rendered`] per source,
//! each run as Argo CD's repo-server runs it without a plugin (reposerver/repository/repository.go:
//! `findManifests`, `helmTemplate`; util/helm, util/kustomize), so that moving an app to sluice does
//! not change what gets applied. Every path a policy or an Application names is confined to the
//! repository (no symlink leading out, no `..` climbing above the root). A missing tool or a failed
//! run is an error that names the tool and shows its stderr.

use crate::policy::{DirectorySpec, HelmSpec, RenderSpec, Tool};
use crate::window::glob::Glob;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Most bytes of manifests read from one app (files or a tool's stdout).
pub const MAX_RENDER_BYTES: usize = 256 << 20;

/// Manifest text and the name it goes by in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: String,
    pub text: String,
    /// What the tool printed on stderr while succeeding (kustomize's deprecation warnings, helm's
    /// notes), line by line, for the caller to pass on to its own stderr.
    pub warnings: Vec<String>,
}

/// What a render needs besides the policy: where the app and the repository are, and Argo CD's values.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub app_dir: PathBuf,
    pub repo_root: PathBuf,
    pub namespace: String,
    pub kube_version: String,
    pub api_versions: Vec<String>,
    /// `PATH` used to find kustomize, kubectl and helm.
    pub path_var: Option<String>,
    /// `ARGOCD_APP_NAME` as Argo CD sets it (`<namespace>_<name>` for apps outside its namespace).
    pub argocd_app_name: String,
    /// Helm settings the Application gives through plugin parameters.
    pub app_helm: AppHelm,
    /// Argo CD's build environment (`ARGOCD_APP_*`, `KUBE_*`), for `$VAR` in value file names and
    /// parameter values, as Argo CD substitutes them.
    pub build_env: Vec<(String, String)>,
    /// A tool still running at this instant is stopped and the render fails (`sluice diff` bounds
    /// each app; Argo CD bounds `generate` itself).
    pub deadline: Option<std::time::Instant>,
}

/// Helm settings of one Application, from its plugin parameters (see [`crate::generate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppHelm {
    /// Value files after the policy's (`helm-value-files`).
    pub value_files: Vec<String>,
    /// `--set` parameters (`helm-parameters`), after the policy's.
    pub parameters: Vec<(String, String)>,
    /// `--set-string` parameters (`helm-string-parameters`), after the policy's.
    pub string_parameters: Vec<(String, String)>,
}

/// A render that failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{key}: {path:?} leaves the repository; use a path inside the repository, relative to the app directory, without `..`")]
    PathEscapes { key: String, path: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{tool} is not installed or not on PATH; {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    ToolFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{what} is {size} bytes, over the limit of {MAX_RENDER_BYTES} bytes")]
    TooLarge { what: String, size: usize },
    #[error("{}: Jsonnet is not evaluated by sluice (Argo CD would evaluate it); render it to YAML or JSON in CI, or leave it out with render.directory.exclude", path.display())]
    Jsonnet { path: PathBuf },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("`{command}` was stopped: it ran past the time allowed for one app ({seconds} s); raise it with --timeout")]
    TimedOut { command: String, seconds: u64 },
}

/// Chooses the tool for `auto`: kustomization.y(a)ml → kustomize, Chart.yaml → helm, else directory.
pub fn detect(app_dir: &Path, tool: Tool) -> Tool {
    match tool {
        Tool::Auto
            if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
                .iter()
                .any(|f| app_dir.join(f).is_file()) =>
        {
            Tool::Kustomize
        }
        Tool::Auto if app_dir.join("Chart.yaml").is_file() => Tool::Helm,
        Tool::Auto => Tool::Directory,
        other => other,
    }
}

/// Renders the app with `tool` (after [`detect`]).
///
/// # Errors
///
/// See [`RenderError`].
pub fn render(spec: &RenderSpec, ctx: &RenderContext) -> Result<Vec<Rendered>, RenderError> {
    match detect(&ctx.app_dir, spec.tool) {
        Tool::Kustomize => kustomize(&spec.kustomize.build_options, ctx).map(|r| vec![r]),
        Tool::Helm => helm_template(&spec.helm, ctx).map(|r| vec![r]),
        Tool::Directory | Tool::Auto => directory(&spec.directory, ctx),
    }
}

/// Resolves `rel` (from the policy key `key`) against the app directory, refusing anything that
/// leaves it for elsewhere: absolute paths, `..`, and symlinks that resolve outside the repository.
///
/// # Errors
///
/// [`RenderError::PathEscapes`], or [`RenderError::Io`] when the path does not exist.
pub fn confine(ctx: &RenderContext, key: &str, rel: &str) -> Result<PathBuf, RenderError> {
    let p = Path::new(rel);
    if rel.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(RenderError::PathEscapes {
            key: key.to_string(),
            path: rel.to_string(),
        });
    }
    resolve_in_repo(ctx, key, rel)
}

/// A Helm value file as Argo CD resolves it (`ResolveValueFilePathOrUrl` in util/app/path): relative to
/// the app directory, or to the repository root when it starts with `/`; `..` is fine as long as the
/// path stays inside the repository; symlinks must resolve inside it too.
///
/// # Errors
///
/// [`RenderError::PathEscapes`], or [`RenderError::Io`] when the file does not exist.
pub fn resolve_in_repo(ctx: &RenderContext, key: &str, rel: &str) -> Result<PathBuf, RenderError> {
    let escapes = || RenderError::PathEscapes {
        key: key.to_string(),
        path: rel.to_string(),
    };
    let root = ctx.repo_root.canonicalize().map_err(|e| RenderError::Io {
        path: ctx.repo_root.clone(),
        message: e.to_string(),
    })?;
    let app = ctx.app_dir.canonicalize().map_err(|e| RenderError::Io {
        path: ctx.app_dir.clone(),
        message: e.to_string(),
    })?;
    if rel.is_empty() {
        return Err(escapes());
    }
    // Clean the path lexically first (as Go's filepath.Join does), so that `..` cannot pass the root.
    let (mut full, rest) = match rel.strip_prefix('/') {
        Some(rest) => (root.clone(), rest),
        None => (app, rel),
    };
    for c in Path::new(rest).components() {
        match c {
            Component::Normal(part) => full.push(part),
            Component::ParentDir => {
                if !full.pop() || !full.starts_with(&root) {
                    return Err(escapes());
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    if !full.starts_with(&root) {
        return Err(escapes());
    }
    let real = full.canonicalize().map_err(|e| RenderError::Io {
        path: full.clone(),
        message: format!("{key}: {e}"),
    })?;
    if !real.starts_with(&root) {
        return Err(escapes());
    }
    Ok(real)
}

/// The marker that makes Argo CD skip a file of a directory app.
const SKIP_MARKER: &str = "+argocd:skip-file-rendering";

/// `directory`, as Argo CD's `findManifests`: files named `*.yaml`, `*.yml`, `*.json` (and `*.jsonnet`,
/// refused) in the app directory, and in its subdirectories only with `recurse`, in lexical path
/// order (Go's `filepath.Walk`); `exclude` and `include` are globs on the path relative to the app
/// directory (Argo CD's `util/glob`: `*` crosses `/`); files holding `+argocd:skip-file-rendering`
/// are left out. Symlinked files are read when they resolve inside the repository (an error when
/// they lead out, left out when they dangle or point at a directory); symlinked directories are not
/// walked, as `filepath.Walk` does not follow them. Hidden files are read as Argo CD reads them; the
/// policy `.sluice.yaml` and `.git` are not.
fn directory(spec: &DirectorySpec, ctx: &RenderContext) -> Result<Vec<Rendered>, RenderError> {
    let root = ctx.repo_root.canonicalize().map_err(|e| RenderError::Io {
        path: ctx.repo_root.clone(),
        message: e.to_string(),
    })?;
    let glob = |key: &str, pattern: &str| {
        (!pattern.is_empty())
            .then(|| Glob::new(pattern))
            .transpose()
            .map_err(|e| RenderError::Invalid {
                key: key.to_string(),
                message: format!("{pattern:?} is not a valid glob: {e}"),
            })
    };
    let include = glob("render.directory.include", &spec.include)?;
    let exclude = glob("render.directory.exclude", &spec.exclude)?;
    let mut files = Vec::new();
    collect(&ctx.app_dir, &ctx.app_dir, &root, spec.recurse, &mut files)?;
    let mut total = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for (file, rel) in files {
        if exclude.as_ref().is_some_and(|g| g.matches(&rel))
            || include.as_ref().is_some_and(|g| !g.matches(&rel))
        {
            continue;
        }
        if rel.ends_with(".jsonnet") {
            return Err(RenderError::Jsonnet { path: file });
        }
        let text = std::fs::read_to_string(&file).map_err(|e| RenderError::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        if text.contains(SKIP_MARKER) {
            continue;
        }
        total += text.len();
        if total > MAX_RENDER_BYTES {
            return Err(RenderError::TooLarge {
                what: "the app's manifest files".into(),
                size: total,
            });
        }
        out.push(Rendered {
            name: rel,
            text,
            warnings: Vec::new(),
        });
    }
    Ok(out)
}

/// Walks `dir` in lexical order as Go's `filepath.Walk` does, collecting manifest files with their
/// path relative to `app` (`/`-separated).
fn collect(
    dir: &Path,
    app: &Path,
    root: &Path,
    recurse: bool,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), RenderError> {
    let io = |path: &Path, e: std::io::Error| RenderError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        entries.push(entry);
    }
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| io(&path, e))?;
        if file_type.is_dir() {
            if recurse && name != ".git" {
                collect(&path, app, root, recurse, files)?;
            }
            continue;
        }
        let is_manifest = [".yaml", ".yml", ".json", ".jsonnet"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if !is_manifest || (dir == app && name == crate::policy::FILE_NAME) {
            continue;
        }
        if file_type.is_symlink() {
            let Ok(real) = path.canonicalize() else {
                continue; // dangling: Argo CD skips it with a warning
            };
            if !real.starts_with(root) {
                return Err(RenderError::PathEscapes {
                    key: "render (directory)".into(),
                    path: path.display().to_string(),
                });
            }
            if !real.is_file() {
                continue;
            }
        } else if !file_type.is_file() {
            continue;
        }
        let rel = path
            .strip_prefix(app)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        files.push((path, rel));
    }
    Ok(())
}

/// `kustomize build . <buildOptions>` (Argo CD's util/kustomize appends its `kustomize.buildOptions`
/// split at spaces), or `kubectl kustomize . <buildOptions>` when only kubectl is installed.
fn kustomize(build_options: &str, ctx: &RenderContext) -> Result<Rendered, RenderError> {
    let options = crate::policy::kustomize_build_options(build_options).map_err(|message| {
        RenderError::Invalid {
            key: "render.kustomize.buildOptions".into(),
            message,
        }
    })?;
    let (program, mut args): (&str, Vec<String>) = if find_on_path("kustomize", ctx).is_some() {
        ("kustomize", vec!["build".into(), ".".into()])
    } else if find_on_path("kubectl", ctx).is_some() {
        ("kubectl", vec!["kustomize".into(), ".".into()])
    } else {
        return Err(RenderError::ToolMissing {
            tool: "kustomize".into(),
            hint: "install kustomize (or kubectl) in the plugin image".into(),
        });
    };
    args.extend(options);
    run_tool(program, &args, ctx)
}

/// Argo CD's `Envsubst`: `$VAR` and `${VAR}` replaced by the build environment's value, "" when unset.
fn envsubst(text: &str, env: &[(String, String)]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(braced) = after.strip_prefix('{') {
            if let Some(end) = braced.find('}') {
                out.push_str(lookup(&braced[..end]));
                rest = &braced[end + 1..];
                continue;
            }
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if len == 0 {
            out.push('$');
        } else {
            out.push_str(lookup(&after[..len]));
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Argo CD's `cleanSetParameters`: commas are escaped (helm would split at them) unless the value is a
/// `{a,b}` list or the comma is escaped already.
fn clean_set_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = '\0';
    for c in value.chars() {
        if c == ',' && prev != '\\' {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// The argument list of `helm template` as Argo CD's util/helm builds it (`Cmd.template` called by
/// reposerver's `helmTemplate`):
/// `template . --name-template NAME [--namespace NS] [--kube-version V] [--set K=V]... [--set-string
/// K=V]... [--values FILE]... [--values INLINE] [--api-versions A]... [--include-crds]
/// [--skip-schema-validation] [--skip-tests]`. Argo CD passes `--set` in Go's map order (random);
/// here in the order written, the policy's first, then the Application's (a later one wins in helm,
/// as a later key wins in Argo CD's map).
///
/// # Errors
///
/// A value file that leaves the repository or does not exist (unless `ignoreMissingValueFiles`).
pub fn helm_args(
    helm: &HelmSpec,
    ctx: &RenderContext,
    values_file: Option<&Path>,
) -> Result<Vec<String>, RenderError> {
    let app_name = ctx
        .argocd_app_name
        .split_once('_')
        .map_or(ctx.argocd_app_name.as_str(), |(_, name)| name);
    let release = if helm.release_name.is_empty() {
        app_name.to_string()
    } else {
        helm.release_name.clone()
    };
    let namespace = if helm.namespace.is_empty() {
        ctx.namespace.clone()
    } else {
        helm.namespace.clone()
    };
    let mut args = vec![
        "template".to_string(),
        ".".to_string(),
        "--name-template".to_string(),
        release,
    ];
    if !namespace.is_empty() {
        args.extend(["--namespace".to_string(), namespace]);
    }
    if !ctx.kube_version.is_empty() {
        args.extend(["--kube-version".to_string(), ctx.kube_version.clone()]);
    }
    let mut set = Vec::new();
    let mut set_string = Vec::new();
    for p in &helm.parameters {
        let value = envsubst(&p.value, &ctx.build_env);
        if p.force_string {
            set_string.push((p.name.clone(), value));
        } else {
            set.push((p.name.clone(), value));
        }
    }
    for (k, v) in &ctx.app_helm.parameters {
        set.push((k.clone(), envsubst(v, &ctx.build_env)));
    }
    for (k, v) in &ctx.app_helm.string_parameters {
        set_string.push((k.clone(), envsubst(v, &ctx.build_env)));
    }
    for (flag, params) in [("--set", &set), ("--set-string", &set_string)] {
        for (k, v) in params {
            args.extend([flag.to_string(), format!("{k}={}", clean_set_value(v))]);
        }
    }
    let files = helm
        .value_files
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("render.helm.valueFiles[{i}]"), f))
        .chain(
            ctx.app_helm
                .value_files
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("plugin parameter helm-value-files[{i}]"), f)),
        );
    for (key, file) in files {
        let file = envsubst(file, &ctx.build_env);
        match resolve_in_repo(ctx, &key, &file) {
            Ok(path) => args.extend(["--values".to_string(), path.display().to_string()]),
            Err(RenderError::Io { .. }) if helm.ignore_missing_value_files => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(values) = values_file {
        args.extend(["--values".to_string(), values.display().to_string()]);
    }
    for api in &ctx.api_versions {
        args.extend(["--api-versions".to_string(), api.clone()]);
    }
    if !helm.skip_crds {
        args.push("--include-crds".to_string());
    }
    if helm.skip_schema_validation {
        args.push("--skip-schema-validation".to_string());
    }
    if helm.skip_tests {
        args.push("--skip-tests".to_string());
    }
    Ok(args)
}

/// What helm says when `charts/` lacks a dependency (Argo CD's `IsMissingDependencyErr`).
fn is_missing_dependency(stderr: &str) -> bool {
    stderr.contains("found in requirements.yaml, but missing in charts")
        || stderr.contains("found in Chart.yaml, but missing in charts/ directory")
}

/// The `helm repo add NAME URL` commands Argo CD runs before `helm dependency build`: one per
/// dependency of Chart.yaml whose repository is an `https://` URL, named as Argo CD names it (the URL
/// with `/` replaced by `-`). `@name` and `alias:name` repositories must already be known to helm;
/// OCI dependencies need no `repo add`.
pub fn helm_repo_adds(chart_yaml: &str) -> Vec<Vec<String>> {
    let Ok(docs) =
        crate::manifest::yaml::parse_stream(chart_yaml, &crate::manifest::Limits::default())
    else {
        return Vec::new();
    };
    let Some(deps) = docs
        .first()
        .and_then(|d| d.value.get("dependencies"))
        .and_then(serde_json::Value::as_array)
    else {
        return Vec::new();
    };
    deps.iter()
        .filter_map(|d| d.get("repository").and_then(serde_json::Value::as_str))
        .filter(|r| r.starts_with("https://"))
        .map(|r| {
            vec![
                "repo".into(),
                "add".into(),
                r.replace('/', "-"),
                r.to_string(),
            ]
        })
        .collect()
}

/// `helm template` as Argo CD's `helmTemplate` runs it: when helm reports a dependency missing from
/// `charts/`, the dependency repositories are added, `helm dependency build` runs, and the template
/// is rendered again.
fn helm_template(helm: &HelmSpec, ctx: &RenderContext) -> Result<Rendered, RenderError> {
    if find_on_path("helm", ctx).is_none() {
        return Err(RenderError::ToolMissing {
            tool: "helm".into(),
            hint: "install helm in the plugin image".into(),
        });
    }
    let values = if helm.values.is_empty() {
        None
    } else {
        Some(ValuesFile::write(&helm.values)?)
    };
    let args = helm_args(helm, ctx, values.as_ref().map(|v| v.0.as_path()))?;
    match run_tool("helm", &args, ctx) {
        Err(RenderError::ToolFailed { stderr, .. }) if is_missing_dependency(&stderr) => {
            let chart = std::fs::read_to_string(ctx.app_dir.join("Chart.yaml")).unwrap_or_default();
            for add in helm_repo_adds(&chart) {
                run_tool("helm", &add, ctx)?;
            }
            run_tool("helm", &["dependency".into(), "build".into()], ctx)?;
            run_tool("helm", &args, ctx)
        }
        other => other,
    }
}

/// Inline values written to a private temporary file for `--values`, removed when dropped.
struct ValuesFile(PathBuf);

impl ValuesFile {
    fn write(values: &serde_json::Map<String, serde_json::Value>) -> Result<Self, RenderError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sluice-values-{}-{n}.json", std::process::id()));
        let text = serde_json::to_vec(values).map_err(|e| RenderError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| RenderError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(ValuesFile(path))
    }
}

impl Drop for ValuesFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

enum Stopped {
    Io(std::io::Error),
    /// How long it was allowed to run, in seconds.
    Late(u64),
}

/// `cmd.output()`, the child killed when it is still running at `deadline`. Its stdout and stderr
/// are drained on two scoped threads while this one waits, so that a full pipe cannot stall it.
fn output_until(
    mut cmd: Command,
    deadline: std::time::Instant,
) -> Result<std::process::Output, Stopped> {
    use std::io::Read as _;
    use std::process::Stdio;
    let allowed = deadline.saturating_duration_since(std::time::Instant::now());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Stopped::Io)?;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|scope| {
        let stdout = scope.spawn(move || {
            let mut buf = Vec::new();
            if let Some(o) = out.as_mut() {
                let _ = o.read_to_end(&mut buf);
            }
            buf
        });
        let stderr = scope.spawn(move || {
            let mut buf = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut buf);
            }
            buf
        });
        let status = loop {
            if let Some(status) = child.try_wait().map_err(Stopped::Io)? {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Stopped::Late(allowed.as_secs().max(1)));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let join = |h: std::thread::ScopedJoinHandle<'_, Vec<u8>>| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        };
        Ok(std::process::Output {
            status,
            stdout: join(stdout),
            stderr: join(stderr),
        })
    })
}

fn find_on_path(program: &str, ctx: &RenderContext) -> Option<PathBuf> {
    let path_var = ctx.path_var.as_deref()?;
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn run_tool(program: &str, args: &[String], ctx: &RenderContext) -> Result<Rendered, RenderError> {
    let command = format!("{program} {}", args.join(" "));
    let exe = find_on_path(program, ctx).ok_or_else(|| RenderError::ToolMissing {
        tool: program.into(),
        hint: format!("install {program} in the plugin image"),
    })?;
    let mut cmd = Command::new(exe);
    cmd.args(args).current_dir(&ctx.app_dir);
    if let Some(path) = &ctx.path_var {
        cmd.env("PATH", path);
    }
    let io = |e: std::io::Error| RenderError::Io {
        path: PathBuf::from(program),
        message: e.to_string(),
    };
    let output = match ctx.deadline {
        None => cmd.output().map_err(io)?,
        Some(deadline) => output_until(cmd, deadline).map_err(|e| match e {
            Stopped::Io(e) => io(e),
            Stopped::Late(seconds) => RenderError::TimedOut {
                command: command.clone(),
                seconds,
            },
        })?,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(RenderError::ToolFailed {
            command,
            status: output.status.to_string(),
            stderr: stderr
                .trim()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    if output.stdout.len() > MAX_RENDER_BYTES {
        return Err(RenderError::TooLarge {
            what: format!("the output of {program}"),
            size: output.stdout.len(),
        });
    }
    let text = String::from_utf8(output.stdout).map_err(|_| RenderError::ToolFailed {
        command: command.clone(),
        status: "invalid output".into(),
        stderr: "stdout is not UTF-8".into(),
    })?;
    let warnings = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(50)
        .map(|l| format!("{program}: {l}"))
        .collect();
    Ok(Rendered {
        name: command,
        text,
        warnings,
    })
}
