//! An emulated GitHub REST API (2022-11-28) over a real Git repository, for the revert pull requests
//! of `onFailure: rollback`: the Git data routes compute with git itself (`git diff`, `git ls-tree`,
//! a temporary index and `git write-tree` for `POST git/trees`, `git commit-tree`, `git update-ref`),
//! so a test can check the pull request's diff with `git diff`. Routes, as GitHub documents them:
//!
//! - `GET /repos/{o}/{r}`; `GET /repos/{o}/{r}/compare/{base}...{head}` (status by merge base,
//!   `files` with `status` and `previous_filename` from `git diff --name-status -M`);
//! - `GET git/ref/heads/{branch}`, `GET git/trees/{sha}?recursive=1`, `GET git/commits/{sha}`;
//! - `POST git/trees` (`base_tree`, entries with `sha: null` deleting a path), `POST git/commits`,
//!   `POST git/refs` (422 "Reference already exists"), `PATCH git/refs/heads/{branch}`;
//! - `GET pulls?head=owner:branch&state=all`, `POST pulls`, `POST issues/{n}/labels`.
//!
//! Writes need the write token (403 "Resource not accessible by personal access token" otherwise,
//! as GitHub answers a token without the permission); reads take either token. Every response is
//! checked against GitHub's published OpenAPI description (`Served::validate`).

use super::github::{self, Commit, Person, Pull, Repo};
use super::{serve, Req, Resp, Served};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

const T0: &str = "2026-01-01T00:00:00Z";

/// A pull request opened through the API.
#[derive(Clone, Debug)]
pub struct Opened {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub labels: Vec<String>,
}

#[derive(Default)]
pub struct State {
    pub pulls: Vec<Opened>,
    /// `METHOD path token-kind` of every request.
    pub requests: Vec<String>,
}

/// The emulated host; serves until the test ends.
#[derive(Clone)]
pub struct GitHubGit {
    pub url: String,
    pub served: Served,
    pub state: Arc<Mutex<State>>,
    pub repo: PathBuf,
    pub full_name: String,
}

/// `git ARGS` in `repo`; stdout, trimmed; panics with stderr on failure.
pub fn git(repo: &Path, args: &[&str]) -> String {
    git_env(repo, args, &[])
}

fn git_env(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", repo)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
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

impl GitHubGit {
    /// Serves `repo` (a bare repository, or a work tree's) as `full_name`, taking `read_token` for
    /// reads and `write_token` for reads and writes.
    pub fn start(
        served: Served,
        repo: &Path,
        full_name: &str,
        read_token: &str,
        write_token: &str,
    ) -> GitHubGit {
        let state: Arc<Mutex<State>> = Arc::default();
        let base = Arc::new(Mutex::new(String::new()));
        let (handler_state, handler_base) = (Arc::clone(&state), Arc::clone(&base));
        let (repo_path, name) = (repo.to_path_buf(), full_name.to_owned());
        let (read, write) = (read_token.to_owned(), write_token.to_owned());
        let url = serve(
            "github",
            served.clone(),
            Arc::new(move |req| {
                let base = handler_base.lock().unwrap().clone();
                let ctx = Ctx {
                    base: &base,
                    repo: &repo_path,
                    full: &name,
                    read: &read,
                    write: &write,
                };
                Some(route(&ctx, &mut handler_state.lock().unwrap(), req))
            }),
        );
        *base.lock().unwrap() = url.clone();
        GitHubGit {
            url,
            served,
            state,
            repo: repo.to_path_buf(),
            full_name: full_name.to_owned(),
        }
    }

    /// The repository URL Argo CD would hold.
    pub fn repo_url(&self) -> String {
        format!("{}/{}.git", self.url, self.full_name)
    }

    pub fn pulls(&self) -> Vec<Opened> {
        self.state.lock().unwrap().pulls.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

struct Ctx<'a> {
    base: &'a str,
    repo: &'a Path,
    full: &'a str,
    read: &'a str,
    write: &'a str,
}

impl Ctx<'_> {
    fn repo_value(&self) -> Repo {
        let (owner, name) = self.full.split_once('/').unwrap();
        Repo {
            owner: owner.into(),
            name: name.into(),
            private: true,
            default_branch: "main".into(),
            ..Repo::default()
        }
    }

    fn commit_value(&self, sha: &str) -> Commit {
        let parents = git(self.repo, &["log", "-1", "--format=%P", sha]);
        Commit {
            sha: sha.to_owned(),
            parents: parents.split_whitespace().map(str::to_owned).collect(),
            author: Person::new("ann"),
            committer: Person::new("ann"),
            on_default: true,
        }
    }
}

fn route(c: &Ctx, s: &mut State, req: &Req) -> Resp {
    let token = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    let who = match token {
        Some(t) if t == c.write => "write",
        Some(t) if t == c.read => "read",
        Some(_) => "bad",
        None => "none",
    };
    s.requests
        .push(format!("{} {} {who}", req.method, req.path));
    let seg = req.segments();
    let full: Vec<&str> = c.full.split('/').collect();
    let [_, o, r, rest @ ..] = seg.as_slice() else {
        return github::error("/", 404, "Not Found");
    };
    if [*o, *r] != full[..] {
        return github::error("/repos/{owner}/{repo}", 404, "Not Found");
    }
    if matches!(who, "none" | "bad") {
        // A private repository: 404 without valid credentials.
        return github::error("/repos/{owner}/{repo}", 404, "Not Found");
    }
    let writing = req.method != "GET";
    if writing && who != "write" {
        let tmpl = template(rest);
        return github::error(
            &tmpl,
            403,
            "Resource not accessible by personal access token",
        );
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    match (req.method.as_str(), rest) {
        ("GET", []) => Resp::json(
            200,
            "/repos/{owner}/{repo}",
            github::repository(c.base, &c.repo_value()),
        ),
        ("GET", ["compare", basehead]) => compare(c, basehead),
        ("GET", ["git", "ref", "heads", branch @ ..]) => get_ref(c, &branch.join("/")),
        ("GET", ["git", "trees", sha]) => tree(
            c,
            sha,
            req.q("recursive").is_some(),
            200,
            "/repos/{owner}/{repo}/git/trees/{tree_sha}",
        ),
        ("GET", ["git", "commits", sha]) => git_commit(
            c,
            sha,
            200,
            "/repos/{owner}/{repo}/git/commits/{commit_sha}",
        ),
        ("POST", ["git", "trees"]) => new_tree(c, &body),
        ("POST", ["git", "commits"]) => new_commit(c, &body),
        ("POST", ["git", "refs"]) => {
            let tmpl = "/repos/{owner}/{repo}/git/refs";
            let (Some(name), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
                return github::error(tmpl, 422, "Invalid request.");
            };
            if try_git(c.repo, &["rev-parse", "--verify", "--quiet", name]).is_some() {
                return github::error(tmpl, 422, "Reference already exists");
            }
            git(c.repo, &["update-ref", name, sha]);
            ref_value(c, name, 201, tmpl)
        }
        ("PATCH", ["git", "refs", "heads", branch @ ..]) => {
            let name = format!("refs/heads/{}", branch.join("/"));
            git(
                c.repo,
                &["update-ref", &name, body["sha"].as_str().unwrap_or("")],
            );
            ref_value(c, &name, 200, "/repos/{owner}/{repo}/git/refs/{ref}")
        }
        ("GET", ["pulls"]) => {
            let head = req.q("head").unwrap_or("");
            let want = head.split_once(':').map_or(head, |(_, b)| b);
            let pulls: Vec<Value> = s
                .pulls
                .iter()
                .filter(|p| p.head == want)
                .map(|p| github::pull_simple(c.base, &c.repo_value(), &pull_of(c, p)))
                .collect();
            Resp::json(200, "/repos/{owner}/{repo}/pulls", Value::Array(pulls))
        }
        ("POST", ["pulls"]) => {
            let tmpl = "/repos/{owner}/{repo}/pulls";
            let head = body["head"].as_str().unwrap_or("").to_owned();
            if s.pulls.iter().any(|p| p.head == head) {
                return github::error(tmpl, 422, "Validation Failed");
            }
            let opened = Opened {
                number: 100 + s.pulls.len() as u64 + 1,
                title: body["title"].as_str().unwrap_or("").to_owned(),
                body: body["body"].as_str().unwrap_or("").to_owned(),
                head,
                base: body["base"].as_str().unwrap_or("").to_owned(),
                labels: Vec::new(),
            };
            s.pulls.push(opened.clone());
            let mut v = github::pull_full(c.base, &c.repo_value(), &pull_of(c, &opened));
            v["title"] = json!(opened.title);
            v["body"] = json!(opened.body);
            Resp::json(201, tmpl, v)
        }
        ("POST", ["issues", n, "labels"]) => {
            let tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/labels";
            let Some(p) = s.pulls.iter_mut().find(|p| p.number.to_string() == *n) else {
                return github::error(tmpl, 404, "Not Found");
            };
            for l in body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                p.labels.push(l.to_owned());
            }
            let labels: Vec<Value> = p.labels.iter().map(|l| json!({"id": 1, "node_id": "LA_1", "url": format!("{}/repos/{}/labels/{l}", c.base, c.full),
                "name": l, "description": null, "color": "ededed", "default": false})).collect();
            Resp::json(200, tmpl, Value::Array(labels))
        }
        _ => github::error(&template(rest), 404, "Not Found"),
    }
}

fn template(rest: &[&str]) -> String {
    format!("/repos/{{owner}}/{{repo}}/{}", rest.join("/"))
}

fn pull_of(c: &Ctx, p: &Opened) -> Pull {
    let head_sha =
        try_git(c.repo, &["rev-parse", &format!("refs/heads/{}", p.head)]).unwrap_or_default();
    let base_sha =
        try_git(c.repo, &["rev-parse", &format!("refs/heads/{}", p.base)]).unwrap_or_default();
    Pull {
        number: p.number,
        author: "sluice-bot".into(),
        state: "open".into(),
        head_sha,
        head_ref: p.head.clone(),
        base_ref: p.base.clone(),
        base_sha,
        ..Pull::default()
    }
}

fn compare(c: &Ctx, basehead: &str) -> Resp {
    let tmpl = "/repos/{owner}/{repo}/compare/{basehead}";
    let Some((b, h)) = basehead.split_once("...") else {
        return github::error(tmpl, 404, "Not Found");
    };
    let (Some(b), Some(h)) = (
        try_git(c.repo, &["rev-parse", "--verify", b]),
        try_git(c.repo, &["rev-parse", "--verify", h]),
    ) else {
        return github::error(tmpl, 404, "Not Found");
    };
    let merge_base = git(c.repo, &["merge-base", &b, &h]);
    let ahead: Vec<String> = git(c.repo, &["rev-list", "--reverse", &format!("{b}..{h}")])
        .lines()
        .map(str::to_owned)
        .collect();
    let behind = git(c.repo, &["rev-list", "--count", &format!("{h}..{b}")])
        .parse::<usize>()
        .unwrap();
    let status = match (ahead.len(), behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let files: Vec<Value> = git(c.repo, &["diff", "--name-status", "-M", &merge_base, &h])
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            let (status, file, previous) = match parts[0].chars().next().unwrap() {
                'A' => ("added", parts[1], None),
                'D' => ("removed", parts[1], None),
                'R' => ("renamed", parts[2], Some(parts[1])),
                _ => ("modified", parts[1], None),
            };
            let blob = try_git(c.repo, &["rev-parse", &format!("{h}:{file}")]).unwrap_or_else(|| "0".repeat(40));
            let mut e = json!({"sha": blob, "filename": file, "status": status, "additions": 1, "deletions": 1, "changes": 2,
                "blob_url": format!("{}/{}/blob/{h}/{file}", c.base, c.full), "raw_url": format!("{}/{}/raw/{h}/{file}", c.base, c.full),
                "contents_url": format!("{}/repos/{}/contents/{file}?ref={h}", c.base, c.full)});
            if let Some(p) = previous {
                e["previous_filename"] = json!(p);
            }
            e
        })
        .collect();
    let r = c.repo_value();
    let commits: Vec<Value> = ahead
        .iter()
        .map(|sha| github::commit(c.base, &r, &c.commit_value(sha)))
        .collect();
    Resp::json(
        200,
        tmpl,
        json!({
            "url": format!("{}/repos/{}/compare/{basehead}", c.base, c.full), "html_url": format!("{}/{}/compare/{basehead}", c.base, c.full),
            "permalink_url": format!("{}/{}/compare/{basehead}", c.base, c.full), "diff_url": format!("{}/{}/compare/{basehead}.diff", c.base, c.full),
            "patch_url": format!("{}/{}/compare/{basehead}.patch", c.base, c.full), "base_commit": github::commit(c.base, &r, &c.commit_value(&b)),
            "merge_base_commit": github::commit(c.base, &r, &c.commit_value(&merge_base)), "status": status, "ahead_by": ahead.len(),
            "behind_by": behind, "total_commits": ahead.len(), "commits": commits, "files": files,
        }),
    )
}

fn ref_value(c: &Ctx, name: &str, status: u16, tmpl: &str) -> Resp {
    let sha = git(c.repo, &["rev-parse", name]);
    Resp::json(
        status,
        tmpl,
        json!({"ref": name, "node_id": format!("REF_{name}"), "url": format!("{}/repos/{}/git/{name}", c.base, c.full),
        "object": {"type": "commit", "sha": sha, "url": format!("{}/repos/{}/git/commits/{sha}", c.base, c.full)}}),
    )
}

fn get_ref(c: &Ctx, branch: &str) -> Resp {
    let name = format!("refs/heads/{branch}");
    if try_git(c.repo, &["rev-parse", "--verify", "--quiet", &name]).is_none() {
        return github::error("/repos/{owner}/{repo}/git/ref/{ref}", 404, "Not Found");
    }
    ref_value(c, &name, 200, "/repos/{owner}/{repo}/git/ref/{ref}")
}

fn tree(c: &Ctx, sha: &str, recursive: bool, status: u16, tmpl: &str) -> Resp {
    let Some(tree) = try_git(c.repo, &["rev-parse", &format!("{sha}^{{tree}}")]) else {
        return github::error(tmpl, 404, "Not Found");
    };
    let mut args = vec!["ls-tree", "--long"];
    if recursive {
        args.extend(["-r", "-t"]);
    }
    args.push(&tree);
    let entries: Vec<Value> = git(c.repo, &args)
        .lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            let f: Vec<&str> = meta.split_whitespace().collect();
            let mut e = json!({"path": path, "mode": f[0], "type": f[1], "sha": f[2], "url": format!("{}/repos/{}/git/{}s/{}", c.base, c.full, f[1], f[2])});
            if let Ok(size) = f[3].parse::<u64>() {
                e["size"] = json!(size);
            }
            e
        })
        .collect();
    Resp::json(
        status,
        tmpl,
        json!({"sha": tree, "url": format!("{}/repos/{}/git/trees/{tree}", c.base, c.full), "truncated": false, "tree": entries}),
    )
}

fn git_commit(c: &Ctx, sha: &str, status: u16, tmpl: &str) -> Resp {
    let Some(line) = try_git(
        c.repo,
        &[
            "log",
            "-1",
            "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B",
            sha,
        ],
    ) else {
        return github::error(tmpl, 404, "Not Found");
    };
    let f: Vec<&str> = line.splitn(10, '\0').collect();
    let person = |n: &str, e: &str, d: &str| json!({"name": n, "email": e, "date": chrono::DateTime::parse_from_rfc3339(d).map_or_else(|_| T0.to_owned(), |t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))});
    Resp::json(
        status,
        tmpl,
        json!({
            "sha": f[0], "node_id": format!("C_{}", f[0]), "url": format!("{}/repos/{}/git/commits/{}", c.base, c.full, f[0]),
            "html_url": format!("{}/{}/commit/{}", c.base, c.full, f[0]),
            "author": person(f[3], f[4], f[5]), "committer": person(f[6], f[7], f[8]), "message": f[9],
            "tree": {"sha": f[1], "url": format!("{}/repos/{}/git/trees/{}", c.base, c.full, f[1])},
            "parents": f[2].split_whitespace().map(|p| json!({"sha": p, "url": format!("{}/repos/{}/git/commits/{p}", c.base, c.full), "html_url": format!("{}/{}/commit/{p}", c.base, c.full)})).collect::<Vec<_>>(),
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null},
        }),
    )
}

/// `POST git/trees`: the base tree in a temporary index, each entry added (or removed for
/// `sha: null`), written.
fn new_tree(c: &Ctx, body: &Value) -> Resp {
    let tmpl = "/repos/{owner}/{repo}/git/trees";
    let index = tempfile::NamedTempFile::new().unwrap();
    let index_path = index.path().to_str().unwrap().to_owned();
    let env = [("GIT_INDEX_FILE", index_path.as_str())];
    match body["base_tree"].as_str() {
        Some(base) => {
            git_env(c.repo, &["read-tree", base], &env);
        }
        None => {
            git_env(c.repo, &["read-tree", "--empty"], &env);
        }
    }
    for e in body["tree"].as_array().into_iter().flatten() {
        let path = e["path"].as_str().unwrap_or("");
        match e["sha"].as_str() {
            Some(sha) => {
                let info = format!("{},{sha},{path}", e["mode"].as_str().unwrap_or("100644"));
                git_env(
                    c.repo,
                    &["update-index", "--add", "--cacheinfo", &info],
                    &env,
                );
            }
            None => {
                git_env(c.repo, &["update-index", "--force-remove", path], &env);
            }
        }
    }
    let sha = git_env(c.repo, &["write-tree"], &env);
    tree(c, &sha, false, 201, tmpl)
}

fn new_commit(c: &Ctx, body: &Value) -> Resp {
    let tmpl = "/repos/{owner}/{repo}/git/commits";
    let mut args = vec![
        "commit-tree".to_owned(),
        body["tree"].as_str().unwrap_or("").to_owned(),
    ];
    for p in body["parents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        args.push("-p".into());
        args.push(p.to_owned());
    }
    args.push("-m".into());
    args.push(body["message"].as_str().unwrap_or("").to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env = [
        ("GIT_AUTHOR_NAME", "sluice"),
        ("GIT_AUTHOR_EMAIL", "sluice@example.com"),
        ("GIT_COMMITTER_NAME", "sluice"),
        ("GIT_COMMITTER_EMAIL", "sluice@example.com"),
        ("GIT_AUTHOR_DATE", T0),
        ("GIT_COMMITTER_DATE", T0),
    ];
    let sha = git_env(c.repo, &args, &env);
    git_commit(c, &sha, 201, tmpl)
}
