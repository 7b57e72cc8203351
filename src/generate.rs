//! The generate pipeline: policy → render → manifest → transform → bytes. Takes the app directory,
//! the repository root and Argo CD's environment as values (the commands layer reads them from the
//! process or from `render --env`); gives the bytes to print, which the caller writes only when the
//! whole run succeeded. Reads the app's files and runs the render tools; never reads the process
//! environment or writes stdout.

use crate::manifest::{self, Document, Limits, Manifests};
use crate::policy::{self, Policy, PolicyError};
use crate::render::{self, AppHelm, RenderContext, RenderError};
use crate::transform::hooks::{self, SqlFiles};
use crate::transform::{AppContext, TransformError};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why the pipeline stopped; nothing is printed then.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The app has no `.sluice.yaml` (plugin discovery should not have picked it).
    #[error("{}: not found; sluice renders apps that have a {} (see examples/shop)", path.display(), policy::FILE_NAME)]
    NoPolicy { path: PathBuf },
    /// The app renders to no object: printing nothing would make Argo CD prune the whole app.
    #[error("{}: the app renders to no objects; refusing to print nothing, which Argo CD would take as \"delete everything\"", dir.display())]
    Empty { dir: PathBuf },
    /// A file or directory of the app could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Transform(#[from] TransformError),
}

impl GenerateError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        GenerateError::Io {
            path: path.into(),
            source,
        }
    }
}

type Result<T, E = GenerateError> = std::result::Result<T, E>;

/// Argo CD's build environment (its docs/user-guide/build-environment.md, plus the plugin's
/// `ARGOCD_ENV_*` and `PARAM_*`), as a plain map so that `render --env` can supply it.
#[derive(Debug, Clone, Default)]
pub struct ArgoEnv {
    vars: BTreeMap<String, String>,
    /// When a render tool still running is stopped (`sluice diff` bounds each app's render).
    deadline: Option<std::time::Instant>,
}

impl ArgoEnv {
    /// From variables, as the process environment or `render --env` gives them.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        ArgoEnv {
            vars: vars.into_iter().collect(),
            deadline: None,
        }
    }

    /// The same environment, with render tools stopped at `deadline`.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<std::time::Instant>) -> Self {
        self.deadline = deadline;
        self
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

    /// The Application's Helm settings from its plugin parameters: `helm-value-files` (array),
    /// `helm-parameters` and `helm-string-parameters` (maps). Read from `ARGOCD_APP_PARAMETERS` (the
    /// JSON Argo CD gives every plugin, which keeps map keys as written), else from the `PARAM_*`
    /// variables (`PARAM_HELM_VALUE_FILES_0`, ...; map keys arrive upper-cased there, so maps are read
    /// from the JSON only), else from env entries `HELM_VALUE_FILES` (comma-separated).
    pub fn app_helm(&self) -> AppHelm {
        let mut helm = AppHelm::default();
        let params: Vec<serde_json::Value> = self
            .get("ARGOCD_APP_PARAMETERS")
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let param = |name: &str| params.iter().find(|p| p["name"] == name);
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let pairs = |v: &serde_json::Value| -> Vec<(String, String)> {
            let mut pairs: Vec<(String, String)> = v
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            pairs.sort();
            pairs
        };
        if let Some(p) = param("helm-value-files") {
            helm.value_files = strings(&p["array"]);
        } else if self.get("PARAM_HELM_VALUE_FILES_0").is_some() {
            helm.value_files = (0..)
                .map_while(|i| self.get(&format!("PARAM_HELM_VALUE_FILES_{i}")))
                .map(String::from)
                .collect();
        } else if let Some(files) = self.get("ARGOCD_ENV_HELM_VALUE_FILES") {
            helm.value_files = files
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(p) = param("helm-parameters") {
            helm.parameters = pairs(&p["map"]);
        }
        if let Some(p) = param("helm-string-parameters") {
            helm.string_parameters = pairs(&p["map"]);
        }
        helm
    }

    /// Argo CD's build environment (`ARGOCD_APP_*`, `KUBE_VERSION`, `KUBE_API_VERSIONS`), which value
    /// file names and parameter values may name as `$VAR`.
    pub fn build_env(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|(k, _)| {
                (k.starts_with("ARGOCD_APP_") && k.as_str() != "ARGOCD_APP_PARAMETERS")
                    || k.as_str() == "KUBE_VERSION"
                    || k.as_str() == "KUBE_API_VERSIONS"
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Sets `key` unless it is already set (`render` fills in the caller's `PATH` and `SLUICE_IMAGE`).
    pub fn set_default(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.vars.entry(key.to_string()).or_insert(value);
        }
    }
}

/// Argo CD's `parseKubeVersion`: `v1.31.4+k3s1` → `1.31.4` (what helm accepts).
fn kube_version(raw: &str) -> String {
    let raw = raw.trim().trim_start_matches('v');
    let end = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    raw[..end].trim_end_matches('.').to_string()
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

/// Runs the whole pipeline and returns the documents to print ([`Manifests::write_to`]).
///
/// # Errors
///
/// The first failure of any stage, naming the file, document or key and the fix.
pub fn generate(app_dir: &Path, repo_root: &Path, env: &ArgoEnv) -> Result<Manifests> {
    manifests(app_dir, repo_root, env, None).map(|(docs, _)| docs)
}

/// [`generate`] on manifests given as text (`sluice generate --stdin`: the output of an earlier
/// plugin, such as argocd-vault-plugin) instead of rendering the app; `.sluice.yaml` still comes from
/// the app directory.
///
/// # Errors
///
/// As [`generate`].
pub fn generate_from(
    app_dir: &Path,
    repo_root: &Path,
    env: &ArgoEnv,
    manifests_text: String,
) -> Result<Manifests> {
    manifests(app_dir, repo_root, env, Some(manifests_text)).map(|(docs, _)| docs)
}

/// Runs the whole pipeline and returns the documents, for a caller that writes them its own way
/// (`render -o yaml`, `diff`), taking the manifests from `manifests_text` instead of rendering when
/// given; with the warnings the render tools printed while succeeding (for `render` and `diff` to
/// show on stderr).
///
/// # Errors
///
/// As [`generate`].
pub fn documents_and_warnings(
    app_dir: &Path,
    repo_root: &Path,
    env: &ArgoEnv,
    manifests_text: Option<String>,
) -> Result<(Vec<Document>, Vec<String>)> {
    let (docs, warnings) = manifests(app_dir, repo_root, env, manifests_text)?;
    Ok((docs.into_documents(), warnings))
}

/// The pipeline: the policy, the rendered (or given) manifests read into [`Manifests`] (each text
/// released once read), checksums, hooks; with the warnings the render tools printed.
fn manifests(
    app_dir: &Path,
    repo_root: &Path,
    env: &ArgoEnv,
    manifests_text: Option<String>,
) -> Result<(Manifests, Vec<String>)> {
    let policy_path = app_dir.join(policy::FILE_NAME);
    if !policy_path.is_file() {
        return Err(GenerateError::NoPolicy { path: policy_path });
    }
    let policy = policy::load(&policy_path)?;
    let mut app = app_context(&policy, env)?;
    app.source = source_context(app_dir, repo_root, env);
    let ctx = RenderContext {
        app_dir: app_dir.to_path_buf(),
        repo_root: repo_root.to_path_buf(),
        namespace: app.namespace.clone(),
        kube_version: kube_version(env.get("KUBE_VERSION").unwrap_or("")),
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
        argocd_app_name: app.argocd_app_name.clone(),
        app_helm: env.app_helm(),
        build_env: env.build_env(),
        deadline: env.deadline,
    };
    let (streams, warnings) = match manifests_text {
        Some(text) => (vec![("stdin".to_string(), text)], Vec::new()),
        None => rendered_streams(&policy.render, &ctx)?,
    };
    let mut docs = Manifests::read(streams, &Limits::default())?;
    if docs.is_empty() {
        return Err(GenerateError::Empty {
            dir: app_dir.to_path_buf(),
        });
    }
    let sql = read_sql_dirs(&policy, &ctx)?;
    transform_documents(&policy, &app, &sql, &mut docs).map_err(|source| {
        TransformError::InPolicy {
            file: policy_path.display().to_string(),
            source: Box::new(source),
        }
    })?;
    Ok((docs, warnings))
}

/// The documents of a source that has no `.sluice.yaml`, rendered as Argo CD's repo-server renders
/// it without a plugin (`render` from the Application's `spec.source`), with no transform: what
/// `sluice diff` shows for the other apps of a repository.
///
/// # Errors
///
/// A failed render or a stream that is not Kubernetes objects.
pub fn plain_documents(
    app_dir: &Path,
    repo_root: &Path,
    env: &ArgoEnv,
    spec: &crate::policy::RenderSpec,
) -> Result<(Vec<Document>, Vec<String>)> {
    let namespace = env.get("ARGOCD_APP_NAMESPACE").unwrap_or("").to_string();
    let ctx = RenderContext {
        app_dir: app_dir.to_path_buf(),
        repo_root: repo_root.to_path_buf(),
        namespace,
        kube_version: kube_version(env.get("KUBE_VERSION").unwrap_or("")),
        api_versions: Vec::new(),
        path_var: env.get("PATH").map(String::from),
        argocd_app_name: env.get("ARGOCD_APP_NAME").unwrap_or("").to_string(),
        app_helm: AppHelm::default(),
        build_env: env.build_env(),
        deadline: env.deadline,
    };
    read_rendered(spec, &ctx)
}

/// Named manifest texts, as [`Manifests::read`] takes them.
type Streams = Vec<(String, String)>;

/// The streams a render gave (name, text) and the warnings its tools printed.
fn rendered_streams(
    spec: &crate::policy::RenderSpec,
    ctx: &RenderContext,
) -> Result<(Streams, Vec<String>)> {
    let rendered = render::render(spec, ctx)?;
    let mut warnings = Vec::new();
    let streams = rendered
        .into_iter()
        .map(|r| {
            warnings.extend(r.warnings);
            (r.name, r.text)
        })
        .collect();
    Ok((streams, warnings))
}

fn read_rendered(
    spec: &crate::policy::RenderSpec,
    ctx: &RenderContext,
) -> Result<(Vec<Document>, Vec<String>)> {
    let (streams, warnings) = rendered_streams(spec, ctx)?;
    Ok((
        Manifests::read(streams, &Limits::default())?.into_documents(),
        warnings,
    ))
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
        app_name: manifest::sanitize_name(raw_name),
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
        source: crate::transform::SourceContext::default(),
        prometheus_url: env.get("SLUICE_PROMETHEUS_URL").unwrap_or("").to_string(),
    })
}

/// Largest `hydrator.metadata` read.
const MAX_HYDRATOR_METADATA: u64 = 1 << 20;

/// What the guard tells the sink about the revision (docs/approvals.md). With Argo CD's Source
/// Hydrator the revision synced is a commit Argo CD wrote; the reviewed one is the `drySha` of its
/// `hydrator.metadata` (in the app's path, or at the root of the hydrated branch), in the dry
/// repository it names (argo-cd commitserver's `hydratorMetadataFile`: `repoURL`, `drySha`).
fn source_context(
    app_dir: &Path,
    repo_root: &Path,
    env: &ArgoEnv,
) -> crate::transform::SourceContext {
    let var = |name: &str| env.get(name).unwrap_or("").to_owned();
    let mut source = crate::transform::SourceContext {
        revision: var("ARGOCD_APP_REVISION"),
        repo_url: var("ARGOCD_APP_SOURCE_REPO_URL"),
        target_revision: var("ARGOCD_APP_SOURCE_TARGET_REVISION"),
        project: var("ARGOCD_APP_PROJECT_NAME"),
        dry_sha: String::new(),
        sink_url: var("SLUICE_SINK_URL"),
    };
    let metadata = [app_dir, repo_root]
        .iter()
        .map(|d| d.join("hydrator.metadata"))
        .find(|p| p.is_file() && p.metadata().is_ok_and(|m| m.len() <= MAX_HYDRATOR_METADATA))
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let member = |m: &serde_json::Value, key: &str| {
        m.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(dry) = metadata.as_ref().and_then(|m| member(m, "drySha")) {
        source.dry_sha = dry;
        if let Some(repo) = metadata.as_ref().and_then(|m| member(m, "repoURL")) {
            source.repo_url = repo;
        }
        source.target_revision = String::new();
    }
    source
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
    docs: &mut Manifests,
) -> Result<(), TransformError> {
    if policy.checksums.enabled {
        crate::transform::checksum::inject_checksums(
            docs,
            &policy.checksums.annotation,
            &app.namespace,
        );
    }
    hooks::append_hooks(policy, app, sql, docs)
}

/// The files of every migration's `sqlDir`, in policy order (`None` without one). The directory is
/// confined to the repository; its entries are read in name order. Hidden entries (`.gitkeep`) are
/// skipped; a subdirectory is an error, not silently left out (`ConfigMap` keys are flat, and a
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
        .map_err(|e| GenerateError::io(&ctx.repo_root, e))?;
    let file_error = |path: &Path, message: String| TransformError::SqlFile {
        key: key.to_string(),
        path: path.to_path_buf(),
        message,
    };
    if !dir.is_dir() {
        return Err(file_error(&dir, "is not a directory".into()).into());
    }
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| GenerateError::io(&dir, e))? {
        let entry = entry.map_err(|e| GenerateError::io(&dir, e))?;
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
        let real = path
            .canonicalize()
            .map_err(|e| GenerateError::io(&path, e))?;
        if !real.starts_with(&root) {
            return Err(render::RenderError::PathEscapes {
                key: key.to_string(),
                path: format!("{rel}/{name}"),
            }
            .into());
        }
        let meta = std::fs::metadata(&real).map_err(|e| GenerateError::io(&path, e))?;
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
            .map_err(|e| GenerateError::io(&path, e))?;
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
