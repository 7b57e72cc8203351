//! Revert pull (merge) requests: the way back that keeps Git the source of truth (docs/hooks.md,
//! "onFailure"). Given the revision synced before a change (`base`) and the change's `revision`, the
//! revert is a commit on the target branch's head whose tree has every path the change touched as it
//! was at `base`, and no other difference: what `git diff REVISION BASE | git apply` makes. It is built
//! through the hosts' REST APIs, without a clone:
//!
//! - GitHub: `compare/{base}...{revision}` (the paths; `base` must be an ancestor), the branch head,
//!   `compare/{revision}...{head}` when the branch moved on (a later commit touching the same paths is
//!   a conflict: no pull request, the commands instead), the base tree, then `POST git/trees` (on the
//!   head's tree), `git/commits`, `git/refs` and `pulls`, and the change id as a label;
//! - GitLab: the same comparisons (`repository/compare`, `repository/merge_base`), each path's content
//!   at `base`, one `POST repository/commits` with the actions on a new branch, and `merge_requests`.
//!
//! Idempotent by name: the revert branch is `sluice/revert-<12 hex of the revision>`; a pull request
//! from it (open or closed) already there is the answer, and is never opened twice. Writes go through
//! [`Write`] (the sink's writer client, with write credentials that nothing else uses).

use super::{text, HostError, Kind, Req, Write};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most paths a change may touch to be reverted through the API (GitHub's compare lists 300 files).
pub const MAX_PATHS: usize = 300;

/// What to revert, and how the pull request reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// `owner/repo`, or the GitLab project path.
    pub repository: String,
    /// The branch Argo CD syncs; `None`: the repository's default branch.
    pub branch: Option<String>,
    pub base: String,
    pub revision: String,
    pub title: String,
    pub body: String,
    /// Labels (the change id).
    pub labels: Vec<String>,
}

impl Target {
    /// The revert branch: `sluice/revert-<12 hex of the revision>`.
    pub fn head_branch(&self) -> String {
        format!(
            "sluice/revert-{}",
            self.revision.get(..12).unwrap_or(&self.revision)
        )
    }
}

/// A pull request the revert is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    pub url: String,
    pub branch: String,
    pub title: String,
    /// Opened now (`false`: it was already there).
    pub opened: bool,
    /// The branch the revert goes to.
    pub base_branch: String,
}

/// Why no pull request was opened: the host refused or did not answer, or the revert cannot be made
/// safely through the API (the commands in the record then are the way back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevertError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{0}")]
    Unsafe(String),
}

/// Opens (or finds) the revert pull request of `t`.
///
/// # Errors
///
/// [`RevertError`].
pub async fn open<W: Write>(w: &W, t: &Target) -> Result<Pull, RevertError> {
    match t.kind {
        Kind::GitHub => github(w, t).await,
        Kind::GitLab => gitlab(w, t).await,
    }
}

/// A branch name that is a branch (not `HEAD`, not a commit id, not a tag pattern).
fn branch_of(t: &Target) -> Option<String> {
    t.branch
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != "HEAD")
        .filter(|b| !(b.len() >= 7 && b.bytes().all(|c| c.is_ascii_hexdigit())))
        .map(|b| b.strip_prefix("refs/heads/").unwrap_or(b).to_owned())
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The changed paths of a change: (path, how) with `how` the host's status.
type Changes = Vec<(String, Option<String>, String)>;

// ---- GitHub ---------------------------------------------------------------------------------------

async fn github<W: Write>(w: &W, t: &Target) -> Result<Pull, RevertError> {
    let r = &t.repository;
    let branch = match branch_of(t) {
        Some(b) => b,
        None => text(
            &w.fetch(&Req::one(format!("/repos/{r}"))).await?,
            &["default_branch"],
        )
        .unwrap_or("main")
        .to_owned(),
    };
    let head_branch = t.head_branch();
    let owner = r.split('/').next().unwrap_or("");
    let existing = w
        .fetch(&Req::one(format!(
            "/repos/{r}/pulls?head={}&state=all&per_page=10",
            enc(&format!("{owner}:{head_branch}"))
        )))
        .await?;
    if let Some(p) = existing.as_array().and_then(|a| a.first()) {
        return Ok(pull_of(p, &head_branch, &branch, false));
    }
    let change = w
        .fetch(&Req::one(format!(
            "/repos/{r}/compare/{}...{}",
            t.base, t.revision
        )))
        .await?;
    if text(&change, &["status"]) != Some("ahead") {
        return Err(RevertError::Unsafe(format!(
            "{} is not an ancestor of {} (compare says {}): the change is not a straight line from the revision synced before",
            short(&t.base),
            short(&t.revision),
            text(&change, &["status"]).unwrap_or("nothing")
        )));
    }
    let changes: Changes = change
        .get("files")
        .and_then(Value::as_array)
        .map(|files| {
            files
                .iter()
                .filter_map(|f| {
                    Some((
                        text(f, &["filename"])?.to_owned(),
                        text(f, &["previous_filename"]).map(str::to_owned),
                        text(f, &["status"]).unwrap_or("modified").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if changes.is_empty() {
        return Err(RevertError::Unsafe(
            "the change touches no file: nothing to revert".into(),
        ));
    }
    if changes.len() >= MAX_PATHS {
        return Err(RevertError::Unsafe(format!(
            "the change touches {MAX_PATHS} or more paths, more than a revert through the API can see; use the commands"
        )));
    }
    let head_ref = w
        .fetch(&Req::one(format!(
            "/repos/{r}/git/ref/heads/{}",
            enc_path(&branch)
        )))
        .await?;
    let head = text(&head_ref, &["object", "sha"])
        .ok_or_else(|| RevertError::Unsafe(format!("the branch {branch} has no head")))?
        .to_owned();
    let touched: Vec<&str> = changes
        .iter()
        .flat_map(|(p, old, _)| std::iter::once(p.as_str()).chain(old.as_deref()))
        .collect();
    if head != t.revision {
        let since = w
            .fetch(&Req::one(format!(
                "/repos/{r}/compare/{}...{head}",
                t.revision
            )))
            .await?;
        if text(&since, &["status"]) != Some("ahead") {
            return Err(RevertError::Unsafe(format!(
                "the branch {branch} does not contain {} any more (compare says {})",
                short(&t.revision),
                text(&since, &["status"]).unwrap_or("nothing")
            )));
        }
        let later: Vec<String> = since
            .get("files")
            .and_then(Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .flat_map(|f| [text(f, &["filename"]), text(f, &["previous_filename"])])
                    .flatten()
                    .filter(|p| touched.contains(p))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !later.is_empty() {
            return Err(RevertError::Unsafe(format!(
                "later commits on {branch} touch the same paths ({}): a revert would undo them too; resolve it with the commands",
                later.join(", ")
            )));
        }
    }
    let tree = w
        .fetch(&Req::one(format!(
            "/repos/{r}/git/trees/{}?recursive=1",
            t.base
        )))
        .await?;
    if tree.get("truncated").and_then(Value::as_bool) == Some(true) {
        return Err(RevertError::Unsafe(
            "the base tree is too large for the API (truncated); use the commands".into(),
        ));
    }
    let at_base: BTreeMap<&str, (&str, &str)> = tree
        .get("tree")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| text(e, &["type"]) == Some("blob"))
                .filter_map(|e| {
                    Some((
                        text(e, &["path"])?,
                        (text(e, &["mode"])?, text(e, &["sha"])?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let head_commit = w
        .fetch(&Req::one(format!("/repos/{r}/git/commits/{head}")))
        .await?;
    let head_tree = text(&head_commit, &["tree", "sha"])
        .ok_or_else(|| RevertError::Unsafe("the head commit has no tree".into()))?
        .to_owned();
    let entries: Vec<Value> = touched
        .iter()
        .map(|p| match at_base.get(p) {
            Some((mode, sha)) => json!({"path": p, "mode": mode, "type": "blob", "sha": sha}),
            None => json!({"path": p, "mode": "100644", "type": "blob", "sha": Value::Null}),
        })
        .collect();
    let new_tree = w
        .send(
            "POST",
            &format!("/repos/{r}/git/trees"),
            &json!({"base_tree": head_tree, "tree": entries}),
        )
        .await?;
    let new_tree = text(&new_tree, &["sha"]).unwrap_or("").to_owned();
    let message = format!("{}\n\n{}", t.title, t.body);
    let commit = w
        .send(
            "POST",
            &format!("/repos/{r}/git/commits"),
            &json!({"message": message, "tree": new_tree, "parents": [head]}),
        )
        .await?;
    let commit = text(&commit, &["sha"]).unwrap_or("").to_owned();
    let created = w
        .send(
            "POST",
            &format!("/repos/{r}/git/refs"),
            &json!({"ref": format!("refs/heads/{head_branch}"), "sha": commit}),
        )
        .await;
    match created {
        Ok(_) => {}
        // The branch is there from an attempt that stopped before its pull request: move it.
        Err(e) if e.status == Some(422) => {
            w.send(
                "PATCH",
                &format!("/repos/{r}/git/refs/heads/{}", enc_path(&head_branch)),
                &json!({"sha": commit, "force": true}),
            )
            .await?;
        }
        Err(e) => return Err(e.into()),
    }
    let pull = w
        .send(
            "POST",
            &format!("/repos/{r}/pulls"),
            &json!({"title": t.title, "head": head_branch, "base": branch, "body": t.body}),
        )
        .await?;
    let opened = pull_of(&pull, &head_branch, &branch, true);
    if !t.labels.is_empty() {
        // A label that cannot be set does not undo the pull request; the title names the change too.
        if let Err(e) = w
            .send(
                "POST",
                &format!("/repos/{r}/issues/{}/labels", opened.number),
                &json!({"labels": t.labels}),
            )
            .await
        {
            tracing::warn!(
                "the revert pull request #{} has no label: {e}",
                opened.number
            );
        }
    }
    Ok(opened)
}

fn pull_of(p: &Value, head_branch: &str, base_branch: &str, opened: bool) -> Pull {
    Pull {
        number: p
            .get("number")
            .or_else(|| p.get("iid"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        url: text(p, &["html_url"])
            .or_else(|| text(p, &["web_url"]))
            .unwrap_or("")
            .to_owned(),
        branch: head_branch.to_owned(),
        title: text(p, &["title"]).unwrap_or("").to_owned(),
        opened,
        base_branch: base_branch.to_owned(),
    }
}

/// A branch name in a URL path: slashes kept, the rest encoded.
fn enc_path(branch: &str) -> String {
    branch.split('/').map(enc).collect::<Vec<_>>().join("/")
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

// ---- GitLab ---------------------------------------------------------------------------------------

async fn gitlab<W: Write>(w: &W, t: &Target) -> Result<Pull, RevertError> {
    let p = format!("/projects/{}", enc(&t.repository));
    let branch = match branch_of(t) {
        Some(b) => b,
        None => text(&w.fetch(&Req::one(p.clone())).await?, &["default_branch"])
            .unwrap_or("main")
            .to_owned(),
    };
    let head_branch = t.head_branch();
    let existing = w
        .fetch(&Req::one(format!(
            "{p}/merge_requests?source_branch={}&state=all&per_page=10",
            enc(&head_branch)
        )))
        .await?;
    if let Some(mr) = existing.as_array().and_then(|a| a.first()) {
        return Ok(pull_of(mr, &head_branch, &branch, false));
    }
    let merge_base = |a: &str, b: &str| {
        Req::one(format!(
            "{p}/repository/merge_base?refs%5B%5D={a}&refs%5B%5D={b}"
        ))
    };
    let mb = w.fetch(&merge_base(&t.base, &t.revision)).await?;
    if text(&mb, &["id"]) != Some(t.base.as_str()) {
        return Err(RevertError::Unsafe(format!(
            "{} is not an ancestor of {}: the change is not a straight line from the revision synced before",
            short(&t.base),
            short(&t.revision)
        )));
    }
    let compare = |from: &str, to: &str| {
        Req::one(format!(
            "{p}/repository/compare?from={from}&to={to}&straight=true"
        ))
    };
    let diffs = w.fetch(&compare(&t.base, &t.revision)).await?;
    let diffs: Vec<Value> = diffs
        .get("diffs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if diffs.is_empty() {
        return Err(RevertError::Unsafe(
            "the change touches no file: nothing to revert".into(),
        ));
    }
    if diffs.len() >= MAX_PATHS {
        return Err(RevertError::Unsafe(format!(
            "the change touches {MAX_PATHS} or more paths; use the commands"
        )));
    }
    let head = w
        .fetch(&Req::one(format!(
            "{p}/repository/branches/{}",
            enc(&branch)
        )))
        .await?;
    let head = text(&head, &["commit", "id"])
        .ok_or_else(|| RevertError::Unsafe(format!("the branch {branch} has no head")))?
        .to_owned();
    let touched: Vec<String> = diffs
        .iter()
        .flat_map(|d| [text(d, &["old_path"]), text(d, &["new_path"])])
        .flatten()
        .map(str::to_owned)
        .collect();
    if head != t.revision {
        let mb = w.fetch(&merge_base(&t.revision, &head)).await?;
        if text(&mb, &["id"]) != Some(t.revision.as_str()) {
            return Err(RevertError::Unsafe(format!(
                "the branch {branch} does not contain {} any more",
                short(&t.revision)
            )));
        }
        let since = w.fetch(&compare(&t.revision, &head)).await?;
        let later: Vec<String> = since
            .get("diffs")
            .and_then(Value::as_array)
            .map(|ds| {
                ds.iter()
                    .flat_map(|d| [text(d, &["old_path"]), text(d, &["new_path"])])
                    .flatten()
                    .filter(|x| touched.iter().any(|t| t == x))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !later.is_empty() {
            return Err(RevertError::Unsafe(format!(
                "later commits on {branch} touch the same paths ({}): a revert would undo them too; resolve it with the commands",
                later.join(", ")
            )));
        }
    }
    let mut actions = Vec::new();
    let p = p.as_str();
    for d in &diffs {
        let (old, new) = (
            text(d, &["old_path"]).unwrap_or(""),
            text(d, &["new_path"]).unwrap_or(""),
        );
        let flag = |k: &str| d.get(k).and_then(Value::as_bool) == Some(true);
        let restore = |path: &str, action: &str| {
            let path = path.to_owned();
            let action = action.to_owned();
            async move {
                let file = w
                    .fetch(&Req::one(format!(
                        "{p}/repository/files/{}?ref={}",
                        enc(&path),
                        t.base
                    )))
                    .await?;
                Ok::<Value, HostError>(json!({
                    "action": action, "file_path": path, "encoding": "base64",
                    "content": text(&file, &["content"]).unwrap_or(""),
                    "execute_filemode": file.get("execute_filemode").and_then(Value::as_bool).unwrap_or(false),
                }))
            }
        };
        if flag("new_file") {
            actions.push(json!({"action": "delete", "file_path": new}));
        } else if flag("deleted_file") {
            actions.push(restore(old, "create").await?);
        } else if flag("renamed_file") {
            actions.push(json!({"action": "delete", "file_path": new}));
            actions.push(restore(old, "create").await?);
        } else {
            actions.push(restore(new, "update").await?);
        }
    }
    w.send(
        "POST",
        &format!("{p}/repository/commits"),
        &json!({"branch": head_branch, "start_sha": head, "commit_message": format!("{}\n\n{}", t.title, t.body), "actions": actions}),
    )
    .await?;
    let mr = w
        .send(
            "POST",
            &format!("{p}/merge_requests"),
            &json!({"source_branch": head_branch, "target_branch": branch, "title": t.title,
                "description": t.body, "labels": t.labels.join(","), "remove_source_branch": true}),
        )
        .await?;
    Ok(pull_of(&mr, &head_branch, &branch, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(branch: Option<&str>) -> Target {
        Target {
            kind: Kind::GitHub,
            repository: "acme/deploy".into(),
            branch: branch.map(str::to_owned),
            base: "a".repeat(40),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            title: "t".into(),
            body: String::new(),
            labels: Vec::new(),
        }
    }

    #[test]
    fn the_revert_branch_is_named_after_the_revision() {
        assert_eq!(target(None).head_branch(), "sluice/revert-0123456789ab");
        assert_eq!(branch_of(&target(Some("main"))).as_deref(), Some("main"));
        assert_eq!(
            branch_of(&target(Some("refs/heads/env/prod"))).as_deref(),
            Some("env/prod")
        );
        assert_eq!(branch_of(&target(Some("HEAD"))), None);
        assert_eq!(branch_of(&target(Some("0123456789abcdef"))), None);
        assert_eq!(enc_path("env/prod x"), "env/prod%20x");
    }
}
