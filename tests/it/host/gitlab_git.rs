//! An emulated GitLab REST API v4 over a real Git repository, for the revert merge requests of
//! `onFailure: rollback`, computing with git itself. Routes, as GitLab's REST docs describe them
//! (repositories, branches, commits, repository_files, merge_requests):
//!
//! - `GET /projects/:id` (the path `%2F`-encoded), `GET repository/merge_base?refs[]=a&refs[]=b`,
//!   `GET repository/compare?from&to&straight=true` (diffs with `new_file`, `renamed_file`,
//!   `deleted_file` from `git diff --name-status -M`), `GET repository/branches/:branch`,
//!   `GET repository/files/:file_path?ref=` (base64 content, `execute_filemode`);
//! - `POST repository/commits` with `branch`, `start_sha` and `actions` (create, update, delete),
//!   applied in a temporary index (400 when the branch exists, as GitLab refuses a new branch of an
//!   existing name);
//! - `GET merge_requests?source_branch=&state=all`, `POST merge_requests` (409 for a second open one
//!   from the same branch).
//!
//! Writes need the write token in `PRIVATE-TOKEN` (403 otherwise); reads take either. Every response
//! is checked against tests/fixtures/host/gitlab-rest.json (`Served::validate`).

use super::github_git::git;
use super::{serve, Req, Resp, Served};
use base64::Engine as _;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const T0: &str = "2026-01-01T00:00:00.000Z";
const P: &str = "/api/v4/projects/:id";

/// A merge request opened through the API.
#[derive(Clone, Debug)]
pub struct Opened {
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub source: String,
    pub target: String,
    pub labels: String,
}

#[derive(Default)]
pub struct State {
    pub mrs: Vec<Opened>,
    /// `METHOD path token-kind`.
    pub requests: Vec<String>,
}

#[derive(Clone)]
pub struct GitLabGit {
    pub url: String,
    pub served: Served,
    pub state: Arc<Mutex<State>>,
    pub path: String,
}

struct Ctx<'a> {
    base: &'a str,
    repo: &'a Path,
    path: &'a str,
    read: &'a str,
    write: &'a str,
}

fn try_git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("HOME", repo)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

fn git_in(repo: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> String {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .envs(env.iter().copied())
        .env("HOME", repo)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("git runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or_default())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}

impl GitLabGit {
    pub fn start(
        served: Served,
        repo: &Path,
        path: &str,
        read_token: &str,
        write_token: &str,
    ) -> GitLabGit {
        let state: Arc<Mutex<State>> = Arc::default();
        let base = Arc::new(Mutex::new(String::new()));
        let (handler_state, handler_base) = (Arc::clone(&state), Arc::clone(&base));
        let (repo_path, name): (PathBuf, String) = (repo.to_path_buf(), path.to_owned());
        let (read, write) = (read_token.to_owned(), write_token.to_owned());
        let url = serve(
            "gitlab",
            served.clone(),
            Arc::new(move |req| {
                let base = handler_base.lock().unwrap().clone();
                let ctx = Ctx {
                    base: &base,
                    repo: &repo_path,
                    path: &name,
                    read: &read,
                    write: &write,
                };
                Some(route(&ctx, &mut handler_state.lock().unwrap(), req))
            }),
        );
        *base.lock().unwrap() = url.clone();
        GitLabGit {
            url,
            served,
            state,
            path: path.to_owned(),
        }
    }

    pub fn repo_url(&self) -> String {
        format!("{}/{}.git", self.url, self.path)
    }

    pub fn mrs(&self) -> Vec<Opened> {
        self.state.lock().unwrap().mrs.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn error(route: &str, status: u16, message: &str) -> Resp {
    Resp::json(status, route, json!({"message": message}))
}

fn commit(c: &Ctx, sha: &str) -> Value {
    let line = git(
        c.repo,
        &[
            "log",
            "-1",
            "--format=%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%s%x00%B",
            sha,
        ],
    );
    let f: Vec<&str> = line.splitn(8, '\0').collect();
    json!({"id": f[0], "short_id": &f[0][..8], "created_at": T0, "parent_ids": f[1].split_whitespace().collect::<Vec<_>>(),
        "title": f[6], "message": f[7], "author_name": f[2], "author_email": f[3], "authored_date": T0,
        "committer_name": f[4], "committer_email": f[5], "committed_date": T0, "trailers": {}, "extended_trailers": {},
        "web_url": format!("{}/{}/-/commit/{}", c.base, c.path, f[0])})
}

fn user(c: &Ctx, username: &str) -> Value {
    json!({"id": 7, "username": username, "name": username, "state": "active", "locked": false, "avatar_url": null,
        "web_url": format!("{}/{username}", c.base)})
}

fn mr(c: &Ctx, m: &Opened) -> Value {
    let sha =
        try_git(c.repo, &["rev-parse", &format!("refs/heads/{}", m.source)]).unwrap_or_default();
    json!({"id": m.iid * 100, "iid": m.iid, "project_id": 42, "title": m.title, "description": m.description,
        "state": "opened", "created_at": T0, "updated_at": T0, "merged_at": null, "closed_at": null,
        "target_branch": m.target, "source_branch": m.source, "author": user(c, "sluice-bot"),
        "source_project_id": 42, "target_project_id": 42, "sha": sha, "merge_commit_sha": null, "squash_commit_sha": null,
        "references": {"short": format!("!{}", m.iid), "relative": format!("!{}", m.iid), "full": format!("{}!{}", c.path, m.iid)},
        "web_url": format!("{}/{}/-/merge_requests/{}", c.base, c.path, m.iid), "detailed_merge_status": "mergeable",
        "draft": false, "labels": m.labels.split(',').filter(|l| !l.is_empty()).collect::<Vec<_>>(), "assignees": [], "reviewers": [],
        "squash": false})
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn route(c: &Ctx, s: &mut State, req: &Req) -> Resp {
    let token = req.header("private-token");
    let who = match token {
        Some(t) if t == c.write => "write",
        Some(t) if t == c.read => "read",
        Some(_) => "bad",
        None => "none",
    };
    s.requests
        .push(format!("{} {} {who}", req.method, req.path));
    let seg = req.segments();
    let ["api", "v4", "projects", id, rest @ ..] = seg.as_slice() else {
        return error("/api/v4", 404, "404 Not Found");
    };
    if decode(id) != c.path || matches!(who, "none" | "bad") {
        return error(P, 404, "404 Project Not Found");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    if req.method != "GET" && who != "write" {
        return error(&format!("{P}/{}", rest.join("/")), 403, "403 Forbidden");
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => Resp::json(
            200,
            P,
            json!({"id": 42, "name": "deploy", "path": "deploy", "path_with_namespace": c.path,
            "default_branch": "main", "web_url": format!("{}/{}", c.base, c.path), "visibility": "private",
            "merge_method": "merge", "squash_option": "default_off"}),
        ),
        ("GET", ["repository", "merge_base"]) => {
            let tmpl = format!("{P}/repository/merge_base");
            let refs: Vec<&str> = req
                .query
                .iter()
                .filter(|(k, _)| k == "refs[]")
                .map(|(_, v)| v.as_str())
                .collect();
            match refs.as_slice() {
                [a, b] => match try_git(c.repo, &["merge-base", a, b]) {
                    Some(sha) => Resp::json(200, &tmpl, commit(c, &sha)),
                    None => error(&tmpl, 404, "404 Merge Base Not Found"),
                },
                _ => error(&tmpl, 400, "Provide at least 2 refs"),
            }
        }
        ("GET", ["repository", "compare"]) => {
            let tmpl = format!("{P}/repository/compare");
            let (Some(from), Some(to)) = (req.q("from"), req.q("to")) else {
                return error(&tmpl, 400, "400 Bad request - from, to are missing");
            };
            let diffs: Vec<Value> = git(c.repo, &["diff", "--name-status", "-M", from, to])
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    let kind = f[0].chars().next().unwrap();
                    let (old, new) = if kind == 'R' { (f[1], f[2]) } else { (f[1], f[1]) };
                    json!({"old_path": old, "new_path": new, "a_mode": "100644", "b_mode": "100644", "diff": "",
                        "new_file": kind == 'A', "renamed_file": kind == 'R', "deleted_file": kind == 'D', "generated_file": false})
                })
                .collect();
            let commits: Vec<Value> =
                git(c.repo, &["rev-list", "--reverse", &format!("{from}..{to}")])
                    .lines()
                    .map(|sha| commit(c, sha))
                    .collect();
            Resp::json(
                200,
                &tmpl,
                json!({"commit": commits.last().cloned().unwrap_or(Value::Null), "commits": commits, "diffs": diffs,
                "compare_timeout": false, "compare_same_ref": from == to,
                "web_url": format!("{}/{}/-/compare/{from}...{to}", c.base, c.path)}),
            )
        }
        ("GET", ["repository", "branches", branch]) => {
            let tmpl = format!("{P}/repository/branches/:branch");
            let branch = decode(branch);
            match try_git(
                c.repo,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/heads/{branch}"),
                ],
            ) {
                Some(sha) => Resp::json(
                    200,
                    &tmpl,
                    json!({"name": branch, "commit": commit(c, &sha), "merged": false, "protected": true,
                    "developers_can_push": false, "developers_can_merge": true, "can_push": true, "default": branch == "main",
                    "web_url": format!("{}/{}/-/tree/{branch}", c.base, c.path)}),
                ),
                None => error(&tmpl, 404, "404 Branch Not Found"),
            }
        }
        ("GET", ["repository", "files", file]) => {
            let tmpl = format!("{P}/repository/files/:file_path");
            let (file, reff) = (decode(file), req.q("ref").unwrap_or("main").to_owned());
            let Some(entry) =
                try_git(c.repo, &["ls-tree", &reff, "--", &file]).filter(|e| !e.is_empty())
            else {
                return error(&tmpl, 404, "404 File Not Found");
            };
            let (meta, _) = entry.split_once('\t').unwrap();
            let f: Vec<&str> = meta.split_whitespace().collect();
            let content = Command::new("git")
                .arg("-C")
                .arg(c.repo)
                .args(["cat-file", "blob", f[2]])
                .output()
                .unwrap()
                .stdout;
            let commit_id = git(c.repo, &["rev-parse", &reff]);
            Resp::json(
                200,
                &tmpl,
                json!({"file_name": file.rsplit('/').next(), "file_path": file, "size": content.len(),
                "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(&content),
                "content_sha256": "", "ref": reff, "blob_id": f[2], "commit_id": commit_id, "last_commit_id": commit_id,
                "execute_filemode": f[0] == "100755"}),
            )
        }
        ("POST", ["repository", "commits"]) => new_commit(c, &body),
        ("GET", ["merge_requests"]) => {
            let want = req.q("source_branch").unwrap_or("");
            let items: Vec<Value> = s
                .mrs
                .iter()
                .filter(|m| m.source == want)
                .map(|m| mr(c, m))
                .collect();
            Resp::json(200, &format!("{P}/merge_requests"), Value::Array(items))
        }
        ("POST", ["merge_requests"]) => {
            let tmpl = format!("{P}/merge_requests");
            let source = body["source_branch"].as_str().unwrap_or("").to_owned();
            if s.mrs.iter().any(|m| m.source == source) {
                return error(
                    &tmpl,
                    409,
                    "Another open merge request already exists for this source branch",
                );
            }
            let opened = Opened {
                iid: s.mrs.len() as u64 + 1,
                title: body["title"].as_str().unwrap_or("").to_owned(),
                description: body["description"].as_str().unwrap_or("").to_owned(),
                source,
                target: body["target_branch"].as_str().unwrap_or("").to_owned(),
                labels: body["labels"].as_str().unwrap_or("").to_owned(),
            };
            s.mrs.push(opened.clone());
            let mut v = mr(c, &opened);
            v["subscribed"] = json!(true);
            v["changes_count"] = json!("1");
            v["diff_refs"] = Value::Null;
            Resp::json(201, &tmpl, v)
        }
        _ => error(&format!("{P}/{}", rest.join("/")), 404, "404 Not Found"),
    }
}

/// `POST repository/commits`: the actions on `start_sha` in a temporary index, committed to a new
/// `branch`.
fn new_commit(c: &Ctx, body: &Value) -> Resp {
    let tmpl = format!("{P}/repository/commits");
    let branch = body["branch"].as_str().unwrap_or("");
    if try_git(
        c.repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .is_some()
    {
        return error(
            &tmpl,
            400,
            &format!("A branch called '{branch}' already exists"),
        );
    }
    let Some(start) = body["start_sha"].as_str() else {
        return error(
            &tmpl,
            400,
            "You can only create or edit files when you are on a branch",
        );
    };
    let index = tempfile::NamedTempFile::new().unwrap();
    let index_path = index.path().to_str().unwrap().to_owned();
    let env = [("GIT_INDEX_FILE", index_path.as_str())];
    git_in(c.repo, &["read-tree", start], &env, None);
    for a in body["actions"].as_array().into_iter().flatten() {
        let path = a["file_path"].as_str().unwrap_or("");
        let exists =
            try_git(c.repo, &["ls-tree", start, "--", path]).is_some_and(|e| !e.is_empty());
        match a["action"].as_str().unwrap_or("") {
            "delete" if exists => {
                git_in(
                    c.repo,
                    &["update-index", "--force-remove", path],
                    &env,
                    None,
                );
            }
            action @ ("create" | "update") if (action == "create") != exists => {
                let content = base64::engine::general_purpose::STANDARD
                    .decode(a["content"].as_str().unwrap_or(""))
                    .unwrap();
                let blob = git_in(
                    c.repo,
                    &["hash-object", "-w", "--stdin"],
                    &[],
                    Some(&content),
                );
                let mode = if a["execute_filemode"].as_bool() == Some(true) {
                    "100755"
                } else {
                    "100644"
                };
                git_in(
                    c.repo,
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("{mode},{blob},{path}"),
                    ],
                    &env,
                    None,
                );
            }
            other => {
                return error(
                    &tmpl,
                    400,
                    &format!(
                        "A file with this name {} ({other})",
                        if exists {
                            "already exists"
                        } else {
                            "doesn't exist"
                        }
                    ),
                )
            }
        }
    }
    let tree = git_in(c.repo, &["write-tree"], &env, None);
    let message = body["commit_message"].as_str().unwrap_or("");
    let who = [
        ("GIT_AUTHOR_NAME", "sluice"),
        ("GIT_AUTHOR_EMAIL", "sluice@example.com"),
        ("GIT_COMMITTER_NAME", "sluice"),
        ("GIT_COMMITTER_EMAIL", "sluice@example.com"),
        ("GIT_AUTHOR_DATE", T0),
        ("GIT_COMMITTER_DATE", T0),
    ];
    let sha = git_in(
        c.repo,
        &["commit-tree", &tree, "-p", start, "-m", message],
        &who,
        None,
    );
    git(
        c.repo,
        &["update-ref", &format!("refs/heads/{branch}"), &sha],
    );
    let mut v = commit(c, &sha);
    v["stats"] = json!({"additions": 1, "deletions": 1, "total": 2});
    v["status"] = Value::Null;
    Resp::json(201, &tmpl, v)
}
