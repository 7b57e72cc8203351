//! `sluice diff`: what a pull request changes in what Argo CD will apply (docs/pr-check.md). Renders
//! the app at two revisions of its Git repository (read-only checkouts, [`git`]) with the same
//! environment, then compares: objects added, removed and changed with a unified YAML diff each,
//! the workloads that restart and the `ConfigMap` or Secret that makes them, the hooks that will run,
//! the window decision now, the change id, and the policy changes that weaken a control
//! ([`policy`]). Secret values never reach the report: only which keys changed.
//!
//! ```text
//! revision → git checkout (temp dir) → generate::documents → compare → Report → format (text | markdown | json)
//! ```

mod compare;
pub mod format;
mod git;
mod policy;

use crate::generate::{self, ArgoEnv, GenerateError};
use crate::policy::{self as app_policy, Policy};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{}: not inside a Git work tree ({message}); sluice diff renders revisions of the app's repository", dir.display())]
    NotARepository { dir: PathBuf, message: String },
    #[error("revision {rev:?}: {message}")]
    BadRevision { rev: String, message: String },
    #[error("`{command}` failed: {message}")]
    Git { command: String, message: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// The app does not render at one revision; paths in the message are relative to the checkout.
    #[error("{side} ({label}): {message}")]
    Render {
        side: &'static str,
        label: String,
        message: String,
    },
}

impl DiffError {
    /// Whether the command was called wrongly (exit 2) rather than the app failing to render.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DiffError::NotARepository { .. } | DiffError::BadRevision { .. }
        )
    }
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct Request {
    /// The app directory in the working tree (where `.sluice.yaml` is, or was).
    pub app_dir: PathBuf,
    pub base: String,
    /// `None`: the working tree as it is.
    pub head: Option<String>,
    pub env: ArgoEnv,
    /// The instant the window decision is made for (now, unless `--at`).
    pub at: DateTime<Utc>,
}

/// One side of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// `HEAD`, `origin/main`, or `working tree`.
    pub rev: String,
    /// The commit, `None` for the working tree.
    pub commit: Option<String>,
    /// Whether the app exists with a `.sluice.yaml` at this revision.
    pub present: bool,
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

/// Everything `sluice diff` prints, in every format.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The app's path in the repository.
    pub app: String,
    pub base: Side,
    pub head: Side,
    pub objects: Vec<compare::ObjectChange>,
    pub unchanged: usize,
    pub restarts: Vec<compare::Restart>,
    pub hooks: Vec<compare::HookRun>,
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

/// A rendered revision: its documents and policy (both empty when the app is absent there).
struct Rendered {
    side: Side,
    docs: Vec<crate::manifest::Document>,
    policy: Option<Policy>,
}

/// Renders both revisions and compares them.
///
/// # Errors
///
/// See [`DiffError`]; a revision that fails to render names the side.
pub fn diff(request: &Request) -> Result<Report, DiffError> {
    let repo = git::Repo::find(&request.app_dir)?;
    let base_commit = repo.resolve(&request.base)?;
    let head_commit = request
        .head
        .as_deref()
        .map(|rev| repo.resolve(rev))
        .transpose()?;
    let base_checkout = repo.checkout(&base_commit)?;
    let base = render_side(
        "base",
        Side {
            rev: base_commit.rev.clone(),
            commit: Some(base_commit.sha.clone()),
            present: false,
        },
        &base_checkout.root(),
        &repo.prefix,
        &request.env,
    )?;
    let head_checkout = head_commit.as_ref().map(|c| repo.checkout(c)).transpose()?;
    let head_side = Side {
        rev: head_commit
            .as_ref()
            .map_or_else(|| "working tree".to_string(), |c| c.rev.clone()),
        commit: head_commit.as_ref().map(|c| c.sha.clone()),
        present: false,
    };
    let head_root = head_checkout
        .as_ref()
        .map_or_else(|| repo.top.clone(), git::Checkout::root);
    let head = render_side("head", head_side, &head_root, &repo.prefix, &request.env)?;
    let env = &request.env;
    let compared = compare::compare(
        &base.docs,
        &head.docs,
        env.get("ARGOCD_APP_NAMESPACE").unwrap_or(""),
    );
    Ok(Report {
        app: if repo.prefix.as_os_str().is_empty() {
            ".".into()
        } else {
            repo.prefix.display().to_string()
        },
        objects: compared.objects,
        unchanged: compared.unchanged,
        restarts: compared.restarts,
        hooks: compared.hooks,
        windows: policy::windows_now(head.policy.as_ref(), &head.docs, env, request.at),
        change: policy::change_info(head.policy.as_ref(), env),
        weakened: policy::weakened(base.policy.as_ref(), head.policy.as_ref()),
        base: base.side,
        head: head.side,
    })
}

/// Renders the app at `root/prefix`; an app without `.sluice.yaml` there is absent (no documents).
fn render_side(
    name: &'static str,
    mut side: Side,
    root: &Path,
    prefix: &Path,
    env: &ArgoEnv,
) -> Result<Rendered, DiffError> {
    let app = root.join(prefix);
    let policy_path = app.join(app_policy::FILE_NAME);
    if !policy_path.is_file() {
        return Ok(Rendered {
            side,
            docs: Vec::new(),
            policy: None,
        });
    }
    let root_prefix = format!("{}/", root.display());
    let failed = |label: String, e: GenerateError| DiffError::Render {
        side: name,
        label,
        message: e.to_string().replace(&root_prefix, ""),
    };
    let policy = app_policy::load(&policy_path).map_err(|e| failed(side.label(), e.into()))?;
    let docs = generate::documents(&app, root, env).map_err(|e| failed(side.label(), e))?;
    side.present = true;
    Ok(Rendered {
        side,
        docs,
        policy: Some(policy),
    })
}
