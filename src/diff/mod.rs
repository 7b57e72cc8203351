//! `sluice diff`: what a pull request changes in what Argo CD will apply (docs/pr-check.md). For one
//! app, or for every app of the repository that the change touches ([`repo`]), renders the app at
//! two revisions with the same environment and compares: objects added, removed and changed with a
//! unified YAML diff each, the workloads that restart and each cause by name, every hook the sync
//! will run, the window decision now, the change id, and the policy changes that weaken a control
//! ([`policy`]). Secret values never reach the report: only which keys changed.
//!
//! ```text
//! revisions → git (file lists; only the apps' files written out) → repo (apps, inputs, touched)
//!           → generate::documents_and_warnings per app and side, on all cores → compare → DiffReport → format
//! ```
//!
//! A side that does not render is reported with its error, and the other side is still compared
//! (all added or all removed). Git revisions are read from Git only; the working tree is read only
//! when it is the head (no `--head`).

mod compare;
pub mod format;
mod git;
mod hooks;
mod object;
mod policy;
mod repo;
mod restart;

pub use object::Options;

use crate::generate::{self, ArgoEnv};
use crate::manifest::Document;
use crate::policy::{self as app_policy, Policy};
use crate::window::glob::Glob;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{}: not inside a Git work tree ({message}); sluice diff renders revisions of the app's repository", dir.display())]
    NotARepository { dir: PathBuf, message: String },
    #[error("revision {rev:?}: {message}")]
    BadRevision { rev: String, message: String },
    #[error("{path}: the app path leaves the repository; give a directory inside it")]
    OutsideRepository { path: String },
    #[error("{path}: no app there at either revision (no {} at {base} nor at {head}); give the directory of an app", app_policy::FILE_NAME)]
    NoApp {
        path: String,
        base: String,
        head: String,
    },
    /// A revision's files could not be read.
    #[error("{side} ({label}): {source}")]
    Side {
        side: &'static str,
        label: String,
        source: Box<DiffError>,
    },
    #[error("`{command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

impl DiffError {
    /// Whether the command was called wrongly (exit 2) rather than the comparison failing.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DiffError::NotARepository { .. }
                | DiffError::BadRevision { .. }
                | DiffError::OutsideRepository { .. }
                | DiffError::NoApp { .. }
        )
    }
}

/// Which apps to compare.
#[derive(Debug, Clone)]
pub enum Target {
    /// One app: its directory, relative to the working directory (it need not exist there: a
    /// deleted app is read from Git).
    App(PathBuf),
    /// Every app of the repository that the change touches.
    Repository,
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where the command runs (inside the repository).
    pub cwd: PathBuf,
    pub target: Target,
    pub base: String,
    /// `None`: the working tree as it is.
    pub head: Option<String>,
    /// Argo CD's environment from `--env` (plus `PATH`, `SLUICE_IMAGE`); an app found through its
    /// `Application` gets that Application's name, namespace and plugin settings on top.
    pub env: Vec<(String, String)>,
    /// The instant the window decision is made for (now, unless `--at`).
    pub at: DateTime<Utc>,
    pub options: Options,
    /// Changed files matching one of these (repository-relative) are not looked at.
    pub ignore_paths: Vec<Glob>,
    /// How long the render tools may run for one app at one revision.
    pub timeout: Option<std::time::Duration>,
}

/// One side of an app's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// `HEAD`, `origin/main`, or `working tree`.
    pub rev: String,
    /// The commit, `None` for the working tree.
    pub commit: Option<String>,
    /// Whether the app exists at this revision.
    pub present: bool,
    /// Why the app does not render at this revision (its objects are then left out of this side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Side {
    /// `origin/main (1a2b3c4)`, or `working tree`.
    pub fn label(&self) -> String {
        match &self.commit {
            // A commit id given as the revision (CI passes one) is shown short, once.
            Some(sha) if sha.starts_with(&self.rev.to_ascii_lowercase()) && self.rev.len() >= 7 => {
                sha[..sha.len().min(7)].to_string()
            }
            Some(sha) => format!("{} ({})", self.rev, &sha[..sha.len().min(7)]),
            None => self.rev.clone(),
        }
    }
}

/// The comparison of one app.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The app's path in the repository (`.` for the top level).
    pub app: String,
    /// The Application's name (the path for a `.sluice.yaml` no Application names).
    pub name: String,
    /// Whether sluice renders it (a `.sluice.yaml` at either side), or Argo CD by itself.
    pub sluice: bool,
    pub base: Side,
    pub head: Side,
    pub objects: Vec<compare::ObjectChange>,
    pub unchanged: usize,
    pub restarts: Vec<restart::Restart>,
    pub hooks: Vec<hooks::HookRun>,
    pub windows: policy::WindowsNow,
    pub change: policy::ChangeInfo,
    pub weakened: Vec<policy::Weakening>,
}

impl Report {
    /// Whether the rendered output differs between the two revisions.
    pub fn has_changes(&self) -> bool {
        !self.objects.is_empty()
    }
}

/// A revision as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct Revision {
    pub rev: String,
    pub commit: Option<String>,
}

/// Everything `sluice diff` prints, in every format (docs/pr-check.md, "The JSON report").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    /// `sluice.io/v1alpha1`.
    pub api_version: &'static str,
    /// `DiffReport`.
    pub kind: &'static str,
    /// `app` (one app named on the command line) or `repository` (every app the change touches).
    pub mode: &'static str,
    pub base: Revision,
    pub head: Revision,
    /// Repository mode: the files that differ (after `--ignore`).
    pub changed_files: Vec<String>,
    /// Repository mode: how many apps the repository holds (at base or head).
    pub apps_found: usize,
    pub apps: Vec<Report>,
    /// What could not be looked at (`ApplicationSet` generators not expanded).
    pub notes: Vec<String>,
}

impl DiffReport {
    /// Whether any app's rendered output differs.
    pub fn has_changes(&self) -> bool {
        self.apps.iter().any(Report::has_changes)
    }

    /// The apps whose head does not render (the change breaks them).
    pub fn head_failures(&self) -> impl Iterator<Item = &Report> {
        self.apps.iter().filter(|a| a.head.error.is_some())
    }
}

/// What a run gives: the report, and the render tools' warnings (for stderr).
#[derive(Debug)]
pub struct Outcome {
    pub report: DiffReport,
    pub warnings: Vec<String>,
}

/// The app path relative to the repository's top, cleaned lexically.
fn app_path(repo: &git::Repo, dir: &Path) -> Result<String, DiffError> {
    let mut parts: Vec<String> = repo
        .prefix
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let outside = || DiffError::OutsideRepository {
        path: dir.display().to_string(),
    };
    let dir = if dir.is_absolute() {
        dir.strip_prefix(&repo.top).map_err(|_| outside())?
    } else {
        dir
    };
    if dir.is_absolute() {
        parts.clear();
    }
    for c in dir.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop().ok_or_else(outside)?;
            }
            _ => {}
        }
    }
    Ok(parts.join("/"))
}

/// Renders and compares.
///
/// # Errors
///
/// See [`DiffError`]; a revision that fails to render is not an error but part of the report.
pub fn diff(request: &Request) -> Result<Outcome, DiffError> {
    let repo = git::Repo::find(&request.cwd)?;
    let base_commit = repo.resolve(&request.base)?;
    let head_commit = request
        .head
        .as_deref()
        .map(|rev| repo.resolve(rev))
        .transpose()?;
    let base_tree = repo.tree(&base_commit)?;
    let head_tree = match &head_commit {
        Some(c) => repo.tree(c)?,
        None => repo.working_tree()?,
    };
    let revision = |c: Option<&git::Commit>| Revision {
        rev: c.map_or_else(|| "working tree".into(), |c| c.rev.clone()),
        commit: c.map(|c| c.sha.clone()),
    };
    let mut report = DiffReport {
        api_version: "sluice.io/v1alpha1",
        kind: "DiffReport",
        mode: "app",
        base: revision(Some(&base_commit)),
        head: revision(head_commit.as_ref()),
        changed_files: Vec::new(),
        apps_found: 0,
        apps: Vec::new(),
        notes: Vec::new(),
    };
    let pairs = match &request.target {
        Target::App(dir) => {
            let path = app_path(&repo, dir)?;
            let policy_file = if path.is_empty() {
                app_policy::FILE_NAME.to_string()
            } else {
                format!("{path}/{}", app_policy::FILE_NAME)
            };
            if !base_tree.is_file(&policy_file) && !head_tree.is_file(&policy_file) {
                return Err(DiffError::NoApp {
                    path: if path.is_empty() { ".".into() } else { path },
                    base: report.base.rev.clone(),
                    head: report.head.rev.clone(),
                });
            }
            let name = request
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == "ARGOCD_APP_NAME")
                .map_or_else(|| path.clone(), |(_, v)| v.clone());
            let app = repo::App {
                name,
                path,
                env: Vec::new(),
                defaults: Vec::new(),
                render: crate::policy::RenderSpec::default(),
                value_files: Vec::new(),
                defined_in: None,
                definition: serde_json::Value::Null,
            };
            report.apps_found = 1;
            vec![Pair {
                base: Some(app.clone()),
                head: Some(app),
                sluice_only: true,
            }]
        }
        Target::Repository => {
            report.mode = "repository";
            let changed: Vec<String> = repo
                .changed_files(&base_commit, head_commit.as_ref())?
                .into_iter()
                .filter(|f| !request.ignore_paths.iter().any(|g| g.matches(f)))
                .collect();
            let (pairs, found, notes) = touched(&repo, &base_tree, &head_tree, &changed)?;
            report.changed_files = changed;
            report.apps_found = found;
            report.notes = notes;
            pairs
        }
    };
    let label = |r: &Revision| {
        Side {
            rev: r.rev.clone(),
            commit: r.commit.clone(),
            present: true,
            error: None,
        }
        .label()
    };
    let base_side = SideTree::new(&repo, &base_tree, &pairs, |p| p.base.as_ref()).map_err(|e| {
        DiffError::Side {
            side: "base",
            label: label(&report.base),
            source: Box::new(e),
        }
    })?;
    let head_side = SideTree::new(&repo, &head_tree, &pairs, |p| p.head.as_ref()).map_err(|e| {
        DiffError::Side {
            side: "head",
            label: label(&report.head),
            source: Box::new(e),
        }
    })?;
    let results = crate::parallel::map_each(&pairs, |pair| {
        compare_app(pair, &base_side, &head_side, &report, request)
    });
    let mut warnings = Vec::new();
    for (app, w) in results {
        warnings.extend(w);
        report.apps.push(app);
    }
    Ok(Outcome { report, warnings })
}

/// An app as found at base and at head.
#[derive(Debug, Clone)]
struct Pair {
    base: Option<repo::App>,
    head: Option<repo::App>,
    /// One app named on the command line: rendered by sluice or absent.
    sluice_only: bool,
}

impl Pair {
    fn any(&self) -> &repo::App {
        // A pair is made from at least one side.
        self.head
            .as_ref()
            .or(self.base.as_ref())
            .unwrap_or_else(|| unreachable!())
    }
}

/// The apps of both revisions that the changed files touch, how many apps there are, and notes.
fn touched(
    repo: &git::Repo,
    base: &git::Tree,
    head: &git::Tree,
    changed: &[String],
) -> Result<(Vec<Pair>, usize, Vec<String>), DiffError> {
    let discover = |tree: &git::Tree| -> Result<(Vec<repo::App>, Vec<String>), DiffError> {
        let files = repo.grep(tree, "argoproj.io", &["*.yaml", "*.yml", "*.json"])?;
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let manifests = tree.read_all(&refs)?;
        Ok(repo::discover(tree, &manifests))
    };
    let (base_apps, mut notes) = discover(base)?;
    let (head_apps, head_notes) = discover(head)?;
    notes.extend(head_notes);
    notes.sort();
    notes.dedup();
    let mut pairs: BTreeMap<(String, String), Pair> = BTreeMap::new();
    for (app, is_head) in base_apps
        .into_iter()
        .map(|a| (a, false))
        .chain(head_apps.into_iter().map(|a| (a, true)))
    {
        let pair = pairs
            .entry((app.path.clone(), app.name.clone()))
            .or_insert(Pair {
                base: None,
                head: None,
                sluice_only: false,
            });
        if is_head {
            pair.head = Some(app);
        } else {
            pair.base = Some(app);
        }
    }
    let found = pairs.len();
    let value_files =
        |apps: &mut dyn Iterator<Item = &repo::App>| -> BTreeMap<String, BTreeSet<String>> {
            let mut by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for a in apps {
                by_path
                    .entry(a.path.clone())
                    .or_default()
                    .extend(a.value_files.iter().cloned());
            }
            by_path
        };
    let base_values = value_files(&mut pairs.values().filter_map(|p| p.base.as_ref()));
    let head_values = value_files(&mut pairs.values().filter_map(|p| p.head.as_ref()));
    let empty = BTreeSet::new();
    let reads =
        |app: Option<&repo::App>, tree: &git::Tree, values: &BTreeMap<String, BTreeSet<String>>| {
            app.map(|a| {
                let others = values.get(&a.path).unwrap_or(&empty);
                repo::inputs(a, tree, tree, others)
            })
        };
    let mut out = Vec::new();
    for pair in pairs.into_values() {
        let definition_changed = match (&pair.base, &pair.head) {
            (Some(b), Some(h)) => b.definition != h.definition || b.env != h.env,
            _ => true,
        };
        let inputs = [
            reads(pair.base.as_ref(), base, &base_values),
            reads(pair.head.as_ref(), head, &head_values),
        ];
        let reads_changed = changed
            .iter()
            .any(|f| inputs.iter().flatten().any(|i| i.contains(f)));
        // An app that exists on neither side's tree as a directory cannot have been touched by a file.
        if reads_changed || (definition_changed && !changed.is_empty()) {
            out.push(pair);
        }
    }
    Ok((out, found, notes))
}

/// One side's files: the working tree as it is, or the files the compared apps read written out.
struct SideTree<'a> {
    tree: &'a git::Tree,
    /// Kept for its lifetime: the written-out files are removed when it is dropped.
    _checkout: Option<git::Checkout>,
    root: PathBuf,
}

impl<'a> SideTree<'a> {
    fn new(
        repo: &git::Repo,
        tree: &'a git::Tree,
        pairs: &[Pair],
        side: impl Fn(&Pair) -> Option<&repo::App>,
    ) -> Result<SideTree<'a>, DiffError> {
        if tree.commit.is_none() {
            return Ok(SideTree {
                tree,
                _checkout: None,
                root: repo.top.clone(),
            });
        }
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        for a in pairs.iter().filter_map(&side) {
            let inputs = repo::inputs(a, tree, tree, &BTreeSet::new());
            wanted.extend(inputs.select(tree));
        }
        let wanted: Vec<&str> = wanted.into_iter().collect();
        let checkout = tree.checkout(&wanted)?;
        let root = checkout.root();
        Ok(SideTree {
            tree,
            _checkout: Some(checkout),
            root,
        })
    }
}

/// A rendered side: its documents and policy (none when the app is absent or fails to render).
struct Rendered {
    side: Side,
    docs: Vec<Document>,
    policy: Option<Policy>,
    warnings: Vec<String>,
}

fn render_side(
    side_tree: &SideTree,
    app: Option<&repo::App>,
    sluice_only: bool,
    mut side: Side,
    request: &Request,
) -> Rendered {
    let mut out = Rendered {
        side: side.clone(),
        docs: Vec::new(),
        policy: None,
        warnings: Vec::new(),
    };
    let Some(app) = app else {
        return out;
    };
    let root = &side_tree.root;
    let dir = root.join(&app.path);
    let policy_file = if app.path.is_empty() {
        app_policy::FILE_NAME.to_string()
    } else {
        format!("{}/{}", app.path, app_policy::FILE_NAME)
    };
    let is_sluice = side_tree.tree.is_file(&policy_file);
    if !is_sluice && (sluice_only || !side_tree.tree.is_dir(&app.path)) {
        return out;
    }
    side.present = true;
    let env = app_env(request, Some(app))
        .with_deadline(request.timeout.map(|t| std::time::Instant::now() + t));
    let root_prefix = format!("{}/", root.display());
    let clean = |e: &dyn std::fmt::Display| e.to_string().replace(&root_prefix, "");
    let result = if is_sluice {
        match app_policy::load(&dir.join(app_policy::FILE_NAME)) {
            Ok(policy) => {
                // The policy is kept when the manifests fail: the weakened controls still show.
                out.policy = Some(policy);
                generate::documents_and_warnings(&dir, root, &env, None).map_err(|e| clean(&e))
            }
            Err(e) => Err(clean(&e)),
        }
    } else {
        generate::plain_documents(&dir, root, &env, &app.render).map_err(|e| clean(&e))
    };
    match result {
        Ok((docs, warnings)) => {
            out.docs = docs;
            out.warnings = warnings
                .into_iter()
                .map(|w| format!("{} ({}): {}", app.label(), side.label(), clean(&w)))
                .collect();
        }
        Err(message) => side.error = Some(message),
    }
    out.side = side;
    out
}

/// An app's environment: its guesses, then `--env`, then what its Application says (later wins).
fn app_env(request: &Request, app: Option<&repo::App>) -> ArgoEnv {
    let (defaults, own) = app.map_or((&[][..], &[][..]), |a| (&a.defaults[..], &a.env[..]));
    ArgoEnv::from_vars(defaults.iter().chain(&request.env).chain(own).cloned())
}

fn compare_app(
    pair: &Pair,
    base_side: &SideTree,
    head_side: &SideTree,
    report: &DiffReport,
    request: &Request,
) -> (Report, Vec<String>) {
    let app = pair.any();
    let side = |r: &Revision| Side {
        rev: r.rev.clone(),
        commit: r.commit.clone(),
        present: false,
        error: None,
    };
    let base = render_side(
        base_side,
        pair.base.as_ref(),
        pair.sluice_only,
        side(&report.base),
        request,
    );
    let head = render_side(
        head_side,
        pair.head.as_ref(),
        pair.sluice_only,
        side(&report.head),
        request,
    );
    let env = app_env(request, pair.head.as_ref().or(pair.base.as_ref()));
    let compared = compare::compare(
        &base.docs,
        &head.docs,
        env.get("ARGOCD_APP_NAMESPACE").unwrap_or(""),
        &request.options,
    );
    let sluice = base.policy.is_some() || head.policy.is_some() || pair.sluice_only;
    // A side whose policy does not load cannot be compared with the other's: its error shows.
    let unknown = |r: &Rendered| r.side.error.is_some() && r.policy.is_none();
    let weakened = if sluice && !unknown(&base) && !unknown(&head) {
        policy::weakened(base.policy.as_ref(), head.policy.as_ref())
    } else {
        Vec::new()
    };
    let mut warnings = base.warnings;
    warnings.extend(head.warnings);
    (
        Report {
            app: if app.path.is_empty() {
                ".".into()
            } else {
                app.path.clone()
            },
            name: app.name.clone(),
            sluice,
            objects: compared.objects,
            unchanged: compared.unchanged,
            restarts: compared.restarts,
            hooks: compared.hooks,
            windows: policy::windows_now(head.policy.as_ref(), &head.docs, &env, request.at),
            change: policy::change_info(head.policy.as_ref(), &env),
            weakened,
            base: base.side,
            head: head.side,
        },
        warnings,
    )
}
