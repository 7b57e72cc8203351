//! Read-only checkouts of a revision: `git read-tree` into a temporary index file and
//! `git checkout-index --prefix` into a temporary directory. Nothing in the repository changes (no
//! worktree registered, no index, ref or object written); the files are what a clone at that
//! revision holds, as Argo CD's repo-server sees them (unlike `git archive`, `export-ignore` does
//! not drop files).

use super::DiffError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository around a directory: its top level and the directory's path inside it.
#[derive(Debug, Clone)]
pub struct Repo {
    pub top: PathBuf,
    /// The app directory relative to `top` (`apps/shop`, or empty for the top level).
    pub prefix: PathBuf,
}

/// A revision resolved to a commit.
#[derive(Debug, Clone)]
pub struct Commit {
    pub rev: String,
    pub sha: String,
}

/// A revision's files, removed when dropped.
#[derive(Debug)]
pub struct Checkout {
    dir: tempfile::TempDir,
}

impl Checkout {
    /// Where the revision's top level is.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("tree")
    }
}

fn git(dir: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<String, DiffError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = cmd.output().map_err(|e| DiffError::Git {
        command: format!("git {}", args.join(" ")),
        message: format!("{e}; is git installed?"),
    })?;
    if !output.status.success() {
        return Err(DiffError::Git {
            command: format!("git {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| DiffError::Git {
        command: format!("git {}", args.join(" ")),
        message: "output is not UTF-8".into(),
    })
}

impl Repo {
    /// The repository holding `dir`.
    ///
    /// # Errors
    ///
    /// [`DiffError::NotARepository`] when `dir` is not inside a Git work tree.
    pub fn find(dir: &Path) -> Result<Repo, DiffError> {
        let out =
            git(dir, &["rev-parse", "--show-toplevel", "--show-prefix"], &[]).map_err(|e| {
                DiffError::NotARepository {
                    dir: dir.to_path_buf(),
                    message: e.to_string(),
                }
            })?;
        let mut lines = out.lines();
        let top = PathBuf::from(lines.next().unwrap_or_default());
        let prefix = PathBuf::from(lines.next().unwrap_or_default().trim_end_matches('/'));
        Ok(Repo { top, prefix })
    }

    /// Resolves `rev` to a commit. A revision starting with `-` is refused (it would be an option).
    ///
    /// # Errors
    ///
    /// [`DiffError::BadRevision`].
    pub fn resolve(&self, rev: &str) -> Result<Commit, DiffError> {
        let bad = |message: String| DiffError::BadRevision {
            rev: rev.to_string(),
            message,
        };
        if rev.is_empty() || rev.starts_with('-') {
            return Err(bad(
                "a revision is a commit, branch or tag name, not an option".into(),
            ));
        }
        let sha = git(
            &self.top,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
            &[],
        )
        .map_err(|_| {
            bad(
                "not a commit in this repository (fetch it first, e.g. git fetch origin main)"
                    .into(),
            )
        })?;
        Ok(Commit {
            rev: rev.to_string(),
            sha: sha.trim().to_string(),
        })
    }

    /// The files of `commit` in a temporary directory.
    ///
    /// # Errors
    ///
    /// A failing git command, or a temporary directory that cannot be made.
    pub fn checkout(&self, commit: &Commit) -> Result<Checkout, DiffError> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-diff-")
            .tempdir()
            .map_err(|e| DiffError::Io {
                path: std::env::temp_dir(),
                message: e.to_string(),
            })?;
        let index = dir.path().join("index");
        let env = [("GIT_INDEX_FILE", index.as_path())];
        git(&self.top, &["read-tree", &commit.sha], &env)?;
        let prefix = format!("{}/", dir.path().join("tree").display());
        git(
            &self.top,
            &[
                "checkout-index",
                "--all",
                "--force",
                &format!("--prefix={prefix}"),
            ],
            &env,
        )?;
        Ok(Checkout { dir })
    }
}
