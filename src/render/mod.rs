//! Render tools: `directory` | `kustomize` | `helm` → manifest text, one [`Rendered`] per source.
//! Every path a policy names is confined to the repository (no `..`, no absolute paths, no symlink
//! leading out). A missing tool or a failed run is an error that names the tool and shows its stderr.

use crate::policy::{HelmSpec, Tool};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Most bytes of manifests read from one app (files or a tool's stdout).
pub const MAX_RENDER_BYTES: usize = 256 << 20;

/// Manifest text and the name it goes by in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: String,
    pub text: String,
}

/// What a render needs besides the policy: where the app and the repository are, and Argo CD's values.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub app_dir: PathBuf,
    pub repo_root: PathBuf,
    pub app_name: String,
    pub namespace: String,
    pub kube_version: String,
    pub api_versions: Vec<String>,
    /// `PATH` used to find kustomize, kubectl and helm.
    pub path_var: Option<String>,
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
pub fn render(
    tool: Tool,
    helm: &HelmSpec,
    ctx: &RenderContext,
) -> Result<Vec<Rendered>, RenderError> {
    match detect(&ctx.app_dir, tool) {
        Tool::Kustomize => kustomize(ctx).map(|r| vec![r]),
        Tool::Helm => helm_template(helm, ctx).map(|r| vec![r]),
        Tool::Directory | Tool::Auto => directory(ctx),
    }
}

/// Resolves `rel` (from the policy key `key`) against the app directory, refusing anything that
/// leaves the repository: absolute paths, `..`, and symlinks that resolve outside.
///
/// # Errors
///
/// [`RenderError::PathEscapes`], or [`RenderError::Io`] when the path does not exist.
pub fn confine(ctx: &RenderContext, key: &str, rel: &str) -> Result<PathBuf, RenderError> {
    let escapes = || RenderError::PathEscapes {
        key: key.to_string(),
        path: rel.to_string(),
    };
    let p = Path::new(rel);
    if rel.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(escapes());
    }
    let full = ctx.app_dir.join(p);
    let real = full.canonicalize().map_err(|e| RenderError::Io {
        path: full.clone(),
        message: format!("{key}: {e}"),
    })?;
    let root = ctx.repo_root.canonicalize().map_err(|e| RenderError::Io {
        path: ctx.repo_root.clone(),
        message: e.to_string(),
    })?;
    if !real.starts_with(&root) {
        return Err(escapes());
    }
    Ok(real)
}

/// `directory`: `*.yaml`, `*.yml`, `*.json` below the app directory in lexical path order, skipping
/// `.sluice.yaml` and hidden files and directories (`.git`, `.github`).
fn directory(ctx: &RenderContext) -> Result<Vec<Rendered>, RenderError> {
    let root = ctx.repo_root.canonicalize().map_err(|e| RenderError::Io {
        path: ctx.repo_root.clone(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    collect(&ctx.app_dir, &root, &mut seen, &mut files)?;
    files.sort();
    let mut total = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| RenderError::Io {
            path: file.clone(),
            message: e.to_string(),
        })?;
        total += text.len();
        if total > MAX_RENDER_BYTES {
            return Err(RenderError::TooLarge {
                what: "the app's manifest files".into(),
                size: total,
            });
        }
        let name = file
            .strip_prefix(&ctx.app_dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        out.push(Rendered { name, text });
    }
    Ok(out)
}

/// Walks `dir` for manifest files; `seen` holds the real paths of directories already walked, so a
/// symlink loop inside the repository is walked once instead of forever.
fn collect(
    dir: &Path,
    root: &Path,
    seen: &mut std::collections::HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
) -> Result<(), RenderError> {
    let io = |path: &Path, e: std::io::Error| RenderError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if !seen.insert(dir.canonicalize().map_err(|e| io(dir, e))?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| io(&path, e))?;
        if file_type.is_symlink() {
            let real = path.canonicalize().map_err(|e| io(&path, e))?;
            if !real.starts_with(root) {
                return Err(RenderError::PathEscapes {
                    key: "render (directory)".into(),
                    path: path.display().to_string(),
                });
            }
        }
        if path.is_dir() {
            collect(&path, root, seen, files)?;
        } else if [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// `kustomize build .`, or `kubectl kustomize .` when only kubectl is installed.
fn kustomize(ctx: &RenderContext) -> Result<Rendered, RenderError> {
    let (program, args): (&str, Vec<String>) = if find_on_path("kustomize", ctx).is_some() {
        ("kustomize", vec!["build".into(), ".".into()])
    } else if find_on_path("kubectl", ctx).is_some() {
        ("kubectl", vec!["kustomize".into(), ".".into()])
    } else {
        return Err(RenderError::ToolMissing {
            tool: "kustomize".into(),
            hint: "install kustomize (or kubectl) in the plugin image".into(),
        });
    };
    run_tool(program, &args, ctx)
}

/// The argument list of `helm template` for this policy and context (tested without helm).
pub fn helm_args(
    helm: &HelmSpec,
    ctx: &RenderContext,
    values_file: Option<&Path>,
) -> Result<Vec<String>, RenderError> {
    let release = if helm.release_name.is_empty() {
        crate::manifest::sanitize_name(&ctx.app_name)
    } else {
        helm.release_name.clone()
    };
    let namespace = if helm.namespace.is_empty() {
        ctx.namespace.clone()
    } else {
        helm.namespace.clone()
    };
    let mut args = vec!["template".to_string(), release, ".".to_string()];
    if !namespace.is_empty() {
        args.extend(["--namespace".to_string(), namespace]);
    }
    for (i, file) in helm.value_files.iter().enumerate() {
        let path = confine(ctx, &format!("render.helm.valueFiles[{i}]"), file)?;
        args.extend(["--values".to_string(), path.display().to_string()]);
    }
    if let Some(values) = values_file {
        args.extend(["--values".to_string(), values.display().to_string()]);
    }
    if !ctx.kube_version.is_empty() {
        args.extend(["--kube-version".to_string(), ctx.kube_version.clone()]);
    }
    for api in &ctx.api_versions {
        args.extend(["--api-versions".to_string(), api.clone()]);
    }
    Ok(args)
}

/// `helm template RELEASE . --namespace NS --values … --kube-version … --api-versions …`.
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
    run_tool("helm", &args, ctx)
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
    let output = cmd.output().map_err(|e| RenderError::Io {
        path: PathBuf::from(program),
        message: e.to_string(),
    })?;
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
    Ok(Rendered {
        name: command,
        text,
    })
}
