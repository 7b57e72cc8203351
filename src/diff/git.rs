//! Git, read-only: revisions resolved to commits, a revision's file list (`git ls-tree`, trees only,
//! no file content), the files that differ between two revisions, and the few files an app needs
//! written to a temporary directory (`git cat-file --batch` of exactly those blobs). Nothing in the
//! repository changes (no worktree, index, ref or object written), and a blob that an app does not
//! read is never read, so a missing unrelated blob (a partial clone) does not matter. The working
//! tree is a [`Tree`] too: tracked and untracked files as `git ls-files` lists them, read from disk.

use super::DiffError;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository around a directory: its top level and the directory's path inside it.
#[derive(Debug, Clone)]
pub struct Repo {
    pub top: PathBuf,
    /// The directory relative to `top` (`apps/shop`, or empty for the top level).
    pub prefix: PathBuf,
}

/// A revision resolved to a commit.
#[derive(Debug, Clone)]
pub struct Commit {
    pub rev: String,
    pub sha: String,
}

/// A file of a tree: its mode and blob id (`None` in the working tree, read from disk).
#[derive(Debug, Clone)]
pub struct Entry {
    pub mode: u32,
    pub oid: Option<String>,
}

/// The files of a revision, or of the working tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The commit, `None` for the working tree.
    pub commit: Option<String>,
    top: PathBuf,
    /// Repository-relative `/`-separated paths, sorted.
    pub files: BTreeMap<String, Entry>,
}

/// Some files of a revision written out, removed when dropped.
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

fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(["-c", "core.quotePath=false"])
        .args(args);
    cmd
}

fn run(mut cmd: Command, args: &[&str]) -> Result<Vec<u8>, DiffError> {
    let command = format!("git {}", args.join(" "));
    let output = cmd.output().map_err(|e| DiffError::Git {
        command: command.clone(),
        message: format!("{e}; is git installed?"),
    })?;
    if !output.status.success() {
        return Err(DiffError::Git {
            command,
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, DiffError> {
    run(git_command(dir, args), args)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, DiffError> {
    String::from_utf8(bytes).map_err(|_| DiffError::Git {
        command: what.to_string(),
        message: "output is not UTF-8".into(),
    })
}

/// `-z` output split at NUL.
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

impl Repo {
    /// The repository holding `dir`.
    ///
    /// # Errors
    ///
    /// [`DiffError::NotARepository`] when `dir` is not inside a Git work tree.
    pub fn find(dir: &Path) -> Result<Repo, DiffError> {
        let out = git(dir, &["rev-parse", "--show-toplevel", "--show-prefix"])
            .and_then(|o| utf8(o, "git rev-parse"))
            .map_err(|e| DiffError::NotARepository {
                dir: dir.to_path_buf(),
                message: e.to_string(),
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
        let spec = format!("{rev}^{{commit}}");
        let sha = git(&self.top, &["rev-parse", "--verify", "--quiet", &spec])
            .and_then(|o| utf8(o, "git rev-parse"))
            .map_err(|_| bad(self.missing_revision(rev)))?;
        Ok(Commit {
            rev: rev.to_string(),
            sha: sha.trim().to_string(),
        })
    }

    /// Why `rev` is not here and how to get it, for this revision: a remote branch is fetched from its
    /// remote, a commit id from the remote or with the whole history, a bare name may be a branch that
    /// exists only on the remote.
    fn missing_revision(&self, rev: &str) -> String {
        let remotes: Vec<String> = git(&self.top, &["remote"])
            .and_then(|o| utf8(o, "git remote"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default();
        let remote = remotes
            .iter()
            .find(|r| r.as_str() == "origin")
            .or_else(|| remotes.first());
        let whole_history =
            "or in CI check out the whole history (actions/checkout: fetch-depth: 0; GitLab: GIT_DEPTH: 0)";
        if let Some((name, branch)) = rev.split_once('/').filter(|(_, b)| !b.is_empty()) {
            if remotes.iter().any(|r| r == name) {
                return format!(
                    "not in this clone: fetch the branch first (git fetch {name} {branch}), {whole_history}"
                );
            }
            if remote.is_none() {
                return format!(
                    "this clone has no remote {name:?} (git remote -v lists them): add it, or give a local branch, tag or commit"
                );
            }
        }
        let hex = (7..=64).contains(&rev.len()) && rev.chars().all(|c| c.is_ascii_hexdigit());
        match (hex, remote) {
            (true, Some(remote)) => format!(
                "no such commit in this clone (a shallow clone lacks older commits): fetch it (git fetch {remote} {rev}), {whole_history}"
            ),
            (true, None) => "no such commit in this clone (git log lists the commits)".to_owned(),
            (false, Some(remote)) => format!(
                "no commit, branch or tag of that name here; a branch that exists only on the remote is {remote}/{rev} once fetched (git fetch {remote} {rev}); git branch -a lists the branches"
            ),
            (false, None) => {
                "no commit, branch or tag of that name here (git branch -a lists the branches, git tag the tags)"
                    .to_owned()
            }
        }
    }

    /// The file list of `commit` (`git ls-tree -r`: trees are read, blobs are not).
    ///
    /// # Errors
    ///
    /// A failing git command.
    pub fn tree(&self, commit: &Commit) -> Result<Tree, DiffError> {
        let out = git(
            &self.top,
            &["ls-tree", "-r", "-z", "--full-tree", &commit.sha],
        )?;
        let mut files = BTreeMap::new();
        for line in nul_separated(&out) {
            // `<mode> SP <type> SP <object> TAB <path>`
            let Some((meta, path)) = line.split_once('\t') else {
                continue;
            };
            let mut parts = meta.split(' ');
            let (Some(mode), Some(kind), Some(oid)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if kind != "blob" {
                continue; // submodules: Argo CD does not fetch them for a plugin either
            }
            files.insert(
                path.to_string(),
                Entry {
                    mode: u32::from_str_radix(mode, 8).unwrap_or(0o100_644),
                    oid: Some(oid.to_string()),
                },
            );
        }
        Ok(Tree {
            commit: Some(commit.sha.clone()),
            top: self.top.clone(),
            files,
        })
    }

    /// The working tree: tracked files that exist and untracked files that are not ignored.
    ///
    /// # Errors
    ///
    /// A failing git command.
    pub fn working_tree(&self) -> Result<Tree, DiffError> {
        let args = [
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ];
        let out = git(&self.top, &args)?;
        let files = nul_separated(&out)
            .filter(|p| self.top.join(p).symlink_metadata().is_ok())
            .map(|p| {
                (
                    p,
                    Entry {
                        mode: 0o100_644,
                        oid: None,
                    },
                )
            })
            .collect();
        Ok(Tree {
            commit: None,
            top: self.top.clone(),
            files,
        })
    }

    /// The paths that differ between `base` and `head` (the working tree when `None`, untracked
    /// files included), renames as a deletion and an addition.
    ///
    /// # Errors
    ///
    /// A failing git command.
    pub fn changed_files(
        &self,
        base: &Commit,
        head: Option<&Commit>,
    ) -> Result<Vec<String>, DiffError> {
        let mut args = vec!["diff", "--name-only", "--no-renames", "-z", &base.sha];
        if let Some(h) = head {
            args.push(&h.sha);
        }
        args.push("--");
        let mut changed: Vec<String> = nul_separated(&git(&self.top, &args)?).collect();
        if head.is_none() {
            let untracked = git(
                &self.top,
                &["ls-files", "-z", "--others", "--exclude-standard"],
            )?;
            changed.extend(nul_separated(&untracked));
        }
        changed.sort();
        changed.dedup();
        Ok(changed)
    }

    /// The paths of `tree` whose content contains `needle` among files matching the pathspecs
    /// (`git grep -l`), so that discovery reads only candidate files.
    ///
    /// # Errors
    ///
    /// A failing git command.
    pub fn grep(
        &self,
        tree: &Tree,
        needle: &str,
        pathspecs: &[&str],
    ) -> Result<Vec<String>, DiffError> {
        let mut args = vec!["grep", "-l", "-z", "-F", "-I", "--full-name", "-e", needle];
        match &tree.commit {
            Some(sha) => args.push(sha),
            None => args.extend(["--untracked"]),
        }
        args.push("--");
        args.extend(pathspecs);
        let output = git_command(&self.top, &args)
            .output()
            .map_err(|e| DiffError::Git {
                command: "git grep".into(),
                message: e.to_string(),
            })?;
        // Exit 1: no match. Any other failure (a blob missing from a partial clone): each file is
        // searched on its own, and the ones that cannot be read are left out.
        if !output.status.success() && output.status.code() != Some(1) {
            return Ok(grep_each(tree, needle, pathspecs));
        }
        let prefix = tree.commit.as_ref().map(|sha| format!("{sha}:"));
        Ok(nul_separated(&output.stdout)
            .map(|p| match &prefix {
                Some(prefix) => p.strip_prefix(prefix.as_str()).unwrap_or(&p).to_string(),
                None => p,
            })
            .collect())
    }
}

/// [`Repo::grep`] one blob at a time, skipping blobs that cannot be read.
fn grep_each(tree: &Tree, needle: &str, pathspecs: &[&str]) -> Vec<String> {
    let suffixes: Vec<&str> = pathspecs
        .iter()
        .map(|p| p.trim_start_matches('*'))
        .collect();
    tree.files
        .keys()
        .filter(|p| suffixes.iter().any(|s| p.ends_with(s)))
        .filter(|p| {
            tree.read_all(&[p.as_str()])
                .ok()
                .and_then(|mut m| m.remove(p.as_str()))
                .is_some_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .cloned()
        .collect()
}

impl Tree {
    /// Whether `path` is a directory of this tree (some file lies under it); `""` is the top.
    pub fn is_dir(&self, path: &str) -> bool {
        if path.is_empty() {
            return !self.files.is_empty();
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// Whether `path` is a file of this tree.
    pub fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// The files under `dir` (all depths), or directly in it.
    pub fn files_under<'a>(
        &'a self,
        dir: &str,
        recursive: bool,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let len = prefix.len();
        let within = prefix.clone();
        self.files
            .range(prefix..)
            .map(|(p, _)| p.as_str())
            .take_while(move |p| p.starts_with(&within))
            .filter(move |p| recursive || !p[len..].contains('/'))
    }

    /// The contents of `paths` (those that are files of the tree), in one `git cat-file --batch`.
    ///
    /// # Errors
    ///
    /// A failing git command, a blob missing from the repository, or an unreadable file.
    pub fn read_all(&self, paths: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, DiffError> {
        let wanted: Vec<(&str, &Entry)> = paths
            .iter()
            .filter_map(|p| self.files.get(*p).map(|e| (*p, e)))
            .collect();
        let mut out = BTreeMap::new();
        if self.commit.is_none() {
            for (path, _) in wanted {
                let full = self.top.join(path);
                let bytes = std::fs::read(&full).map_err(|e| DiffError::Io {
                    path: full.clone(),
                    message: e.to_string(),
                })?;
                out.insert(path.to_string(), bytes);
            }
            return Ok(out);
        }
        if wanted.is_empty() {
            return Ok(out);
        }
        let mut oids = String::new();
        for oid in wanted.iter().filter_map(|(_, e)| e.oid.as_deref()) {
            oids.push_str(oid);
            oids.push('\n');
        }
        let blobs = cat_file_batch(&self.top, &oids)?;
        for ((path, entry), blob) in wanted.into_iter().zip(blobs) {
            let blob = blob.ok_or_else(|| DiffError::Git {
                command: "git cat-file --batch".into(),
                message: format!(
                    "{path}: blob {} is missing from the repository (a partial or shallow clone? fetch it)",
                    entry.oid.as_deref().unwrap_or("?")
                ),
            })?;
            out.insert(path.to_string(), blob);
        }
        Ok(out)
    }

    /// Writes `paths` (files of this tree) under a temporary directory, symlinks as symlinks.
    ///
    /// # Errors
    ///
    /// As [`Tree::read_all`], or a file that cannot be written.
    pub fn checkout(&self, paths: &[&str]) -> Result<Checkout, DiffError> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-diff-")
            .tempdir()
            .map_err(|e| DiffError::Io {
                path: std::env::temp_dir(),
                message: e.to_string(),
            })?;
        let checkout = Checkout { dir };
        let root = checkout.root();
        let io = |path: &Path, e: std::io::Error| DiffError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        for (path, bytes) in self.read_all(paths)? {
            let target = root.join(&path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            let mode = self.files.get(&path).map_or(0o100_644, |e| e.mode);
            if mode == 0o120_000 {
                let link = String::from_utf8_lossy(&bytes).into_owned();
                std::os::unix::fs::symlink(link, &target).map_err(|e| io(&target, e))?;
            } else {
                std::fs::write(&target, bytes).map_err(|e| io(&target, e))?;
            }
        }
        Ok(checkout)
    }
}

/// `git cat-file --batch` over `oids` (one per line): each blob's bytes, `None` for a missing one.
fn cat_file_batch(top: &Path, oids: &str) -> Result<Vec<Option<Vec<u8>>>, DiffError> {
    let err = |message: String| DiffError::Git {
        command: "git cat-file --batch".into(),
        message,
    };
    // The object ids go through a temporary file, so that no thread has to feed stdin while stdout
    // is read.
    let mut input = tempfile::tempfile().map_err(|e| err(e.to_string()))?;
    input
        .write_all(oids.as_bytes())
        .and_then(|()| std::io::Seek::rewind(&mut input))
        .map_err(|e| err(e.to_string()))?;
    let mut cmd = git_command(top, &["cat-file", "--batch"]);
    cmd.stdin(Stdio::from(input));
    let out = run(cmd, &["cat-file", "--batch"])?;
    let mut blobs = Vec::new();
    let mut rest = out.as_slice();
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| err("truncated output".into()))?;
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        let mut parts = header.split(' ');
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        match (kind, size.and_then(|s| s.parse::<usize>().ok())) {
            (Some(_), Some(size)) if rest.len() > size => {
                blobs.push(Some(rest[..size].to_vec()));
                rest = &rest[size + 1..];
            }
            (Some("missing" | "ambiguous"), None) => blobs.push(None),
            _ => return Err(err(format!("unexpected output {header:?}"))),
        }
    }
    Ok(blobs)
}
