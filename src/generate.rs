//! The generate pipeline: policy → render → manifest → transform → write. `generate` takes Argo CD's
//! environment from the process and the app from the working directory; `render` takes both from its
//! arguments. stdout gets the manifests only when the whole run succeeded.

use crate::cli::RenderArgs;
use crate::manifest::{self, Document, Limits};
use crate::policy::{self, Policy};
use crate::render::{self, RenderContext};
use crate::transform::hooks::{self, SqlFiles};
use crate::transform::{self, AppContext, TransformError};
use crate::{Error, Exit, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Argo CD's build environment (ARGOCD.md §1), as a plain map so that `render --env` can supply it.
#[derive(Debug, Clone, Default)]
pub struct ArgoEnv {
    vars: BTreeMap<String, String>,
}

impl ArgoEnv {
    /// From `KEY=VALUE` pairs.
    ///
    /// # Errors
    ///
    /// A pair without `=`.
    pub fn from_pairs(pairs: &[String]) -> Result<Self> {
        let mut vars = BTreeMap::new();
        for pair in pairs {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--env {pair:?}: expected KEY=VALUE, e.g. --env ARGOCD_APP_NAME=shop"
                ))
            })?;
            vars.insert(k.to_string(), v.to_string());
        }
        Ok(ArgoEnv { vars })
    }

    /// From the process environment.
    pub fn from_process() -> Self {
        ArgoEnv {
            vars: std::env::vars().collect(),
        }
    }

    /// A variable, if set and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A setting an Application may give as plugin env (`ARGOCD_ENV_<name>`) or parameter (`PARAM_<NAME>`).
    pub fn app_setting(&self, name: &str) -> Option<&str> {
        self.get(&format!("ARGOCD_ENV_{name}"))
            .or_else(|| self.get(&format!("PARAM_{name}")))
    }

    fn set_default(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.vars.entry(key.to_string()).or_insert(value);
        }
    }
}

/// `sluice generate`: the app is the working directory.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub fn generate_from_process() -> Result<Exit> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let env = ArgoEnv::from_process();
    let root = repo_root(&cwd, env.get("ARGOCD_APP_SOURCE_PATH"));
    emit(&generate(&cwd, &root, &env)?)
}

/// `sluice render DIR [--env K=V]...`.
///
/// # Errors
///
/// Any failure of the pipeline; nothing is written to stdout then.
pub fn render_command(args: RenderArgs) -> Result<Exit> {
    let mut env = ArgoEnv::from_pairs(&args.env)?;
    // Tools are found on the caller's PATH, and the guard image may come from the caller's environment.
    env.set_default("PATH", std::env::var("PATH").ok());
    env.set_default("SLUICE_IMAGE", std::env::var("SLUICE_IMAGE").ok());
    let dir = args.dir;
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: not a directory", dir.display())));
    }
    let root = args.repo_root.unwrap_or_else(|| repo_root(&dir, None));
    emit(&generate(&dir, &root, &env)?)
}

fn emit(bytes: &[u8]) -> Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("stdout", e))?;
    Ok(Exit::Success)
}

/// The repository root: the working directory minus `ARGOCD_APP_SOURCE_PATH` when it ends with it
/// (argocd-cmp-server unpacks the whole repository and runs us in the app's path), else the nearest
/// ancestor holding `.git`, else the app directory itself.
pub fn repo_root(app_dir: &Path, source_path: Option<&str>) -> PathBuf {
    let app_dir = app_dir
        .canonicalize()
        .unwrap_or_else(|_| app_dir.to_path_buf());
    if let Some(source) = source_path
        .map(|s| s.trim_matches('/'))
        .filter(|s| !s.is_empty() && *s != ".")
    {
        let depth = Path::new(source).components().count();
        if app_dir.ends_with(source) {
            if let Some(root) = app_dir.ancestors().nth(depth) {
                return root.to_path_buf();
            }
        }
    }
    app_dir
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(&app_dir)
        .to_path_buf()
}

/// Runs the whole pipeline and returns the bytes to print.
///
/// # Errors
///
/// The first failure of any stage, naming the file, document or key and the fix.
pub fn generate(app_dir: &Path, repo_root: &Path, env: &ArgoEnv) -> Result<Vec<u8>> {
    let policy_path = app_dir.join(policy::FILE_NAME);
    if !policy_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: not found; sluice renders apps that have a {} (see examples/shop)",
            policy_path.display(),
            policy::FILE_NAME
        )));
    }
    let policy = policy::load(&policy_path)?;
    let app = app_context(&policy, env)?;
    let ctx = RenderContext {
        app_dir: app_dir.to_path_buf(),
        repo_root: repo_root.to_path_buf(),
        app_name: app.app_name.clone(),
        namespace: app.namespace.clone(),
        kube_version: env
            .get("KUBE_VERSION")
            .unwrap_or("")
            .trim_start_matches('v')
            .to_string(),
        api_versions: env
            .get("KUBE_API_VERSIONS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        path_var: env.get("PATH").map(String::from),
    };
    let mut docs = read_rendered(&policy, &ctx)?;
    if docs.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the app renders to no objects; refusing to print nothing, which Argo CD would take as \"delete everything\"",
            app_dir.display()
        )));
    }
    let sql = read_sql_dirs(&policy, &ctx)?;
    transform_documents(&policy, &app, &sql, &mut docs).map_err(|source| {
        TransformError::InPolicy {
            file: policy_path.display().to_string(),
            source: Box::new(source),
        }
    })?;
    let mut out = Vec::with_capacity(docs.len() * 512);
    manifest::write_documents(&docs, &mut out);
    Ok(out)
}

fn read_rendered(policy: &Policy, ctx: &RenderContext) -> Result<Vec<Document>> {
    let rendered = render::render(policy.render.tool, &policy.render.helm, ctx)?;
    let streams: Vec<(&str, &str)> = rendered
        .iter()
        .map(|r| (r.name.as_str(), r.text.as_str()))
        .collect();
    Ok(manifest::read_all(&streams, &Limits::default())?)
}

/// Who the app is and what this change is, from Argo CD's environment: the change id and the emergency
/// id are checked against the policy's pattern here, before anything is rendered.
fn app_context(policy: &Policy, env: &ArgoEnv) -> Result<AppContext> {
    let raw_name = env.get("ARGOCD_APP_NAME").unwrap_or("");
    let change = app_setting_var(env, "CHANGE_ID");
    let change = change.as_ref().map(|(var, value)| (var.as_str(), *value));
    let change_id = hooks::resolve_change_id(&policy.change, change)?;
    let emergency = app_setting_var(env, "SLUICE_EMERGENCY");
    let emergency = emergency
        .as_ref()
        .map(|(var, value)| (var.as_str(), *value));
    let emergency = hooks::resolve_emergency(&policy.change, emergency)?;
    Ok(AppContext {
        app_name: transform::sanitize_name(raw_name),
        namespace: env.get("ARGOCD_APP_NAMESPACE").unwrap_or("").to_string(),
        revision_short: env
            .get("ARGOCD_APP_REVISION_SHORT")
            .unwrap_or("")
            .to_string(),
        argocd_app_name: raw_name.to_string(),
        change_id,
        cluster: env.app_setting("SLUICE_CLUSTER").unwrap_or("").to_string(),
        emergency,
        sluice_image: env.get("SLUICE_IMAGE").map(String::from),
    })
}

/// [`ArgoEnv::app_setting`] together with the variable that held it, for error messages.
fn app_setting_var<'a>(env: &'a ArgoEnv, name: &str) -> Option<(String, &'a str)> {
    [format!("ARGOCD_ENV_{name}"), format!("PARAM_{name}")]
        .into_iter()
        .find_map(|var| env.get(&var).map(|value| (var, value)))
}

fn transform_documents(
    policy: &Policy,
    app: &AppContext,
    sql: &[Option<SqlFiles>],
    docs: &mut Vec<Document>,
) -> Result<(), TransformError> {
    if policy.checksums.enabled {
        transform::checksum::inject_checksums(docs, &policy.checksums.annotation, &app.namespace);
    }
    hooks::append_hooks(policy, app, sql, docs)
}

/// The files of every migration's `sqlDir`, in policy order (`None` without one). The directory is
/// confined to the repository; its entries are read in name order. Hidden entries (`.gitkeep`) are
/// skipped; a subdirectory is an error, not silently left out (ConfigMap keys are flat, and a
/// migration tool would miss its files); a symlink must resolve to a regular file inside the
/// repository; contents must be UTF-8 text; more than [`hooks::MAX_CONFIGMAP_BYTES`] in total is an
/// error, found before reading the rest.
fn read_sql_dirs(policy: &Policy, ctx: &RenderContext) -> Result<Vec<Option<SqlFiles>>> {
    policy
        .migrations
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.sql_dir
                .as_deref()
                .map(|rel| read_sql_dir(&format!("migrations[{i}].sqlDir"), rel, ctx))
                .transpose()
        })
        .collect()
}

fn read_sql_dir(key: &str, rel: &str, ctx: &RenderContext) -> Result<SqlFiles> {
    let dir = render::confine(ctx, key, rel)?;
    let root = ctx
        .repo_root
        .canonicalize()
        .map_err(|e| Error::io(&ctx.repo_root, e))?;
    let file_error = |path: &Path, message: String| TransformError::SqlFile {
        key: key.to_string(),
        path: path.to_path_buf(),
        message,
    };
    if !dir.is_dir() {
        return Err(file_error(&dir, "is not a directory".into()).into());
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        entries.push(entry.path());
    }
    entries.sort();
    let mut files = SqlFiles::new();
    let mut total = 0usize;
    for path in entries {
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(String::from) else {
            return Err(file_error(&path, "the file name is not UTF-8".into()).into());
        };
        if name.starts_with('.') {
            continue;
        }
        let real = path.canonicalize().map_err(|e| Error::io(&path, e))?;
        if !real.starts_with(&root) {
            return Err(render::RenderError::PathEscapes {
                key: key.to_string(),
                path: format!("{rel}/{name}"),
            }
            .into());
        }
        let meta = std::fs::metadata(&real).map_err(|e| Error::io(&path, e))?;
        if meta.is_dir() {
            return Err(file_error(&path, "is a directory; sqlDir must hold files only (ConfigMap keys are flat): move its files up, or point sqlDir at it".into()).into());
        }
        if !meta.is_file() {
            return Err(file_error(&path, "is not a regular file".into()).into());
        }
        // Read at most one byte more than the room left: enough to know that the limit is passed.
        let room = hooks::MAX_CONFIGMAP_BYTES.saturating_sub(total + name.len());
        let mut bytes = Vec::new();
        std::fs::File::open(&real)
            .and_then(|f| f.take(room as u64 + 1).read_to_end(&mut bytes))
            .map_err(|e| Error::io(&path, e))?;
        if bytes.len() > room {
            return Err(TransformError::ConfigMapTooLarge {
                key: key.to_string(),
                dir: rel.to_string(),
                size: total + name.len() + (meta.len() as usize).max(bytes.len()),
            }
            .into());
        }
        total += name.len() + bytes.len();
        let text = String::from_utf8(bytes).map_err(|_| {
            file_error(
                &path,
                "is not UTF-8 text; migration files travel in a ConfigMap as text".into(),
            )
        })?;
        files.insert(name, text);
    }
    Ok(files)
}
