//! The generate pipeline: policy → render → manifest → transform → write. `generate` takes Argo CD's
//! environment from the process and the app from the working directory; `render` takes both from its
//! arguments. stdout gets the manifests only when the whole run succeeded.

use crate::cli::RenderArgs;
use crate::manifest::{self, Document, Limits};
use crate::policy::{self, Policy};
use crate::render::{self, RenderContext};
use crate::transform::{self, AppContext};
use crate::{Error, Exit, Result};
use std::collections::BTreeMap;
use std::io::Write;
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
    let app = AppContext {
        app_name: transform::sanitize_name(env.get("ARGOCD_APP_NAME").unwrap_or("")),
        namespace: env.get("ARGOCD_APP_NAMESPACE").unwrap_or("").to_string(),
        revision_short: env
            .get("ARGOCD_APP_REVISION_SHORT")
            .unwrap_or("")
            .to_string(),
    };
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
    transform_documents(&policy, &app, &mut docs);
    let mut out = Vec::with_capacity(docs.len() * 512);
    manifest::write_documents(&docs, &mut out);
    Ok(out)
}

fn read_rendered(policy: &Policy, ctx: &RenderContext) -> Result<Vec<Document>> {
    let rendered = render::render(policy.render.tool, &policy.render.helm, ctx)?;
    let limits = Limits::default();
    let mut docs = Vec::new();
    for source in rendered {
        docs.extend(manifest::read_documents(
            &source.text,
            &source.name,
            &limits,
        )?);
    }
    Ok(docs)
}

fn transform_documents(policy: &Policy, app: &AppContext, docs: &mut [Document]) {
    if policy.checksums.enabled {
        transform::checksum::inject_checksums(docs, &policy.checksums.annotation, &app.namespace);
    }
}
