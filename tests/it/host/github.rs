//! An emulated GitHub REST API (version 2022-11-28), serving what sluice's approvals check reads,
//! with GitHub's documented behaviour (GitHub REST docs for each route):
//!
//! - `GET /repos/{o}/{r}/commits/{sha}/pulls` lists the merged pull request that introduced a commit
//!   on the default branch; for a commit **not** on the default branch it lists merged **and open**
//!   pull requests, whose `merge_commit_sha` is a test merge on no branch;
//! - `compare/{base}...{head}`: every commit reachable from head and not from base, oldest first, with
//!   `status`, `ahead_by`, `behind_by`, `total_commits`; paged by `page`/`per_page` with `Link`
//!   headers, and **without paging parameters only the last 250 commits**;
//! - list routes page with `per_page` (at most [`GitHub::max_per_page`], 100 as on GitHub) and `Link:
//!   <…>; rel="next"`;
//! - reviews keep their state; a dismissed review's state is `DISMISSED` (its original state gone);
//! - `pulls/{n}/commits` lists the pull request's own commits, not the rebased copies on the branch;
//! - a private repository answers **404, not 401**, to a request without valid credentials; bad
//!   credentials on a public one get 401;
//! - `POST /app/installations/{id}/access_tokens` and `GET /repos/{o}/{r}/installation` take the App's
//!   RS256 JSON Web Token (checked with the App's public key: `iss`, `exp`, the signature);
//! - faults on demand: a **secondary rate limit** (403 with `Retry-After` while
//!   `X-RateLimit-Remaining` is still above 0) and 5xx answers, each for the next N matching requests.
//!
//! Every response is checked against GitHub's published OpenAPI description (`Served::validate`).

use super::{link, page, serve, Req, Resp, Served};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const DOCS: &str = "https://docs.github.com/rest";
const T0: &str = "2026-01-01T00:00:00Z";

#[derive(Clone, Default)]
pub struct Person {
    pub login: String,
    pub name: String,
    pub email: String,
}

impl Person {
    pub fn new(login: &str) -> Person {
        Person {
            login: login.into(),
            name: format!("{login} (name)"),
            email: format!("{login}@example.com"),
        }
    }
}

#[derive(Clone, Default)]
pub struct Commit {
    pub sha: String,
    pub parents: Vec<String>,
    pub author: Person,
    pub committer: Person,
    /// Reachable from the default branch (decides what `commits/{sha}/pulls` lists).
    pub on_default: bool,
}

#[derive(Clone, Default)]
pub struct Review {
    pub id: u64,
    pub login: String,
    /// APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED.
    pub state: String,
    pub submitted_at: String,
    pub commit_id: String,
}

#[derive(Clone, Default)]
pub struct Pull {
    pub number: u64,
    pub author: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged_at: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub base_sha: String,
    /// The pull request's own commits (`pulls/{n}/commits`).
    pub commits: Vec<String>,
    /// Commits for which `commits/{sha}/pulls` lists this pull request.
    pub associated: Vec<String>,
    pub reviews: Vec<Review>,
    pub files: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub default_branch: String,
    /// In creation order (oldest first).
    pub commits: Vec<Commit>,
    pub pulls: Vec<Pull>,
    /// `rules/branches/{branch}` answers (the same for every branch).
    pub rules: Vec<Value>,
    /// (ref, path) → file content.
    pub files: BTreeMap<(String, String), String>,
}

/// A fault for the next `times` requests whose path contains `path`.
#[derive(Clone)]
pub struct Fault {
    pub path: String,
    pub times: u32,
    pub kind: FaultKind,
}

#[derive(Clone)]
pub enum FaultKind {
    /// 403 with `Retry-After` (seconds) while `X-RateLimit-Remaining` is above 0.
    SecondaryRateLimit(u64),
    /// A 5xx answer with GitHub's error body.
    ServerError(u16),
}

#[derive(Default)]
pub struct State {
    pub repos: BTreeMap<String, Repo>,
    /// `org/team` → member logins.
    pub teams: BTreeMap<String, Vec<String>>,
    /// Tokens accepted as `Authorization: Bearer` (personal tokens, and issued installation tokens).
    pub tokens: Vec<String>,
    /// The GitHub App: id, public key (PKCS#1 DER), installation id.
    pub app: Option<(String, Vec<u8>, u64)>,
    pub faults: Vec<Fault>,
    pub max_per_page: usize,
    /// Requests seen, as `METHOD path?query` with the `Authorization` header's scheme.
    pub requests: Vec<String>,
    /// Every header value seen (to check what sluice sent).
    pub headers: Vec<(String, String)>,
    rate_remaining: u64,
}

/// The emulated API; serves until the test ends.
#[derive(Clone)]
pub struct GitHub {
    pub state: Arc<Mutex<State>>,
    pub served: Served,
    /// `http://127.0.0.1:PORT`: the API's base URL, and the web host of its repositories.
    pub url: String,
}

impl GitHub {
    pub fn start(served: Served) -> GitHub {
        let state = Arc::new(Mutex::new(State {
            max_per_page: 100,
            rate_remaining: 5000,
            ..State::default()
        }));
        let handler_state = Arc::clone(&state);
        let base = Arc::new(Mutex::new(String::new()));
        let handler_base = Arc::clone(&base);
        let url = serve(
            "github",
            served.clone(),
            Arc::new(move |req| {
                let base = handler_base.lock().unwrap().clone();
                Some(handle(&mut handler_state.lock().unwrap(), &base, req))
            }),
        );
        *base.lock().unwrap() = url.clone();
        GitHub { state, served, url }
    }

    /// The repository URL Argo CD would hold for `full_name`.
    pub fn repo_url(&self, full_name: &str) -> String {
        format!("{}/{full_name}.git", self.url)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

// ---- objects in the shapes of GitHub's description ------------------------------------------------

pub(super) fn user(base: &str, login: &str) -> Value {
    let u = format!("{base}/users/{login}");
    json!({
        "login": login, "id": id_of(login), "node_id": format!("U_{login}"),
        "avatar_url": format!("{base}/avatars/{login}"), "gravatar_id": "",
        "url": u, "html_url": format!("{base}/{login}"),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": "User", "site_admin": false,
    })
}

fn id_of(s: &str) -> u64 {
    s.bytes()
        .fold(7u64, |h, b| (h * 31 + u64::from(b)) % 1_000_000_007)
}

pub(super) fn repository(base: &str, r: &Repo) -> Value {
    let full = format!("{}/{}", r.owner, r.name);
    let u = format!("{base}/repos/{full}");
    let h = format!("{base}/{full}");
    json!({
        "id": id_of(&full), "node_id": format!("R_{full}"), "name": r.name, "full_name": full,
        "license": null, "forks": 0, "owner": user(base, &r.owner), "private": r.private,
        "html_url": h, "description": null, "fork": false, "url": u,
        "archive_url": format!("{u}/{{archive_format}}{{/ref}}"), "assignees_url": format!("{u}/assignees{{/user}}"),
        "blobs_url": format!("{u}/git/blobs{{/sha}}"), "branches_url": format!("{u}/branches{{/branch}}"),
        "collaborators_url": format!("{u}/collaborators{{/collaborator}}"), "comments_url": format!("{u}/comments{{/number}}"),
        "commits_url": format!("{u}/commits{{/sha}}"), "compare_url": format!("{u}/compare/{{base}}...{{head}}"),
        "contents_url": format!("{u}/contents/{{+path}}"), "contributors_url": format!("{u}/contributors"),
        "deployments_url": format!("{u}/deployments"), "downloads_url": format!("{u}/downloads"),
        "events_url": format!("{u}/events"), "forks_url": format!("{u}/forks"),
        "git_commits_url": format!("{u}/git/commits{{/sha}}"), "git_refs_url": format!("{u}/git/refs{{/sha}}"),
        "git_tags_url": format!("{u}/git/tags{{/sha}}"), "git_url": format!("git://127.0.0.1/{full}.git"),
        "issue_comment_url": format!("{u}/issues/comments{{/number}}"), "issue_events_url": format!("{u}/issues/events{{/number}}"),
        "issues_url": format!("{u}/issues{{/number}}"), "keys_url": format!("{u}/keys{{/key_id}}"),
        "labels_url": format!("{u}/labels{{/name}}"), "languages_url": format!("{u}/languages"),
        "merges_url": format!("{u}/merges"), "milestones_url": format!("{u}/milestones{{/number}}"),
        "notifications_url": format!("{u}/notifications{{?since,all,participating}}"), "pulls_url": format!("{u}/pulls{{/number}}"),
        "releases_url": format!("{u}/releases{{/id}}"), "ssh_url": format!("git@127.0.0.1:{full}.git"),
        "stargazers_url": format!("{u}/stargazers"), "statuses_url": format!("{u}/statuses/{{sha}}"),
        "subscribers_url": format!("{u}/subscribers"), "subscription_url": format!("{u}/subscription"),
        "tags_url": format!("{u}/tags"), "teams_url": format!("{u}/teams"), "trees_url": format!("{u}/git/trees{{/sha}}"),
        "clone_url": format!("{h}.git"), "mirror_url": null, "hooks_url": format!("{u}/hooks"), "svn_url": h,
        "homepage": null, "language": null, "forks_count": 0, "stargazers_count": 0, "watchers_count": 0,
        "size": 1, "default_branch": r.default_branch, "open_issues_count": 0, "has_issues": true,
        "has_projects": false, "has_wiki": false, "has_pages": false, "has_downloads": true, "archived": false,
        "disabled": false, "visibility": if r.private { "private" } else { "public" },
        "pushed_at": T0, "created_at": T0, "updated_at": T0, "open_issues": 0, "watchers": 0,
    })
}

fn git_user(p: &Person) -> Value {
    json!({"name": p.name, "email": p.email, "date": T0})
}

pub(super) fn commit(base: &str, r: &Repo, c: &Commit) -> Value {
    let full = format!("{}/{}", r.owner, r.name);
    let u = format!("{base}/repos/{full}/commits/{}", c.sha);
    json!({
        "url": u, "sha": c.sha, "node_id": format!("C_{}", c.sha), "html_url": format!("{base}/{full}/commit/{}", c.sha),
        "comments_url": format!("{u}/comments"),
        "commit": {
            "url": format!("{base}/repos/{full}/git/commits/{}", c.sha),
            "author": git_user(&c.author), "committer": git_user(&c.committer),
            "message": format!("change {}", &c.sha[32..]), "comment_count": 0,
            "tree": {"sha": c.sha, "url": format!("{base}/repos/{full}/git/trees/{}", c.sha)},
        },
        "author": user(base, &c.author.login), "committer": user(base, &c.committer.login),
        "parents": c.parents.iter().map(|p| json!({"sha": p, "url": format!("{base}/repos/{full}/commits/{p}"),
            "html_url": format!("{base}/{full}/commit/{p}")})).collect::<Vec<_>>(),
    })
}

fn branch_end(base: &str, r: &Repo, reff: &str, sha: &str) -> Value {
    json!({"label": format!("{}:{reff}", r.owner), "ref": reff, "sha": sha, "user": user(base, &r.owner), "repo": repository(base, r)})
}

pub(super) fn pull_simple(base: &str, r: &Repo, p: &Pull) -> Value {
    let full = format!("{}/{}", r.owner, r.name);
    let u = format!("{base}/repos/{full}/pulls/{}", p.number);
    let html = format!("{base}/{full}/pull/{}", p.number);
    let issue = format!("{base}/repos/{full}/issues/{}", p.number);
    let href = |h: String| json!({"href": h});
    json!({
        "url": u, "id": p.number * 1000, "node_id": format!("PR_{}", p.number), "html_url": html,
        "diff_url": format!("{html}.diff"), "patch_url": format!("{html}.patch"), "issue_url": issue,
        "commits_url": format!("{u}/commits"), "review_comments_url": format!("{u}/comments"),
        "review_comment_url": format!("{base}/repos/{full}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue}/comments"), "statuses_url": format!("{base}/repos/{full}/statuses/{}", p.head_sha),
        "number": p.number, "state": p.state, "locked": false, "title": format!("change #{}", p.number),
        "user": user(base, &p.author), "body": null, "labels": [], "milestone": null,
        "created_at": T0, "updated_at": T0, "closed_at": p.merged_at, "merged_at": p.merged_at,
        "merge_commit_sha": p.merge_commit_sha, "assignee": null, "assignees": [], "requested_reviewers": [],
        "requested_teams": [],
        "head": branch_end(base, r, &p.head_ref, &p.head_sha), "base": branch_end(base, r, &p.base_ref, &p.base_sha),
        "_links": {"self": href(u.clone()), "html": href(html.clone()), "issue": href(issue.clone()),
            "comments": href(format!("{issue}/comments")), "review_comments": href(format!("{u}/comments")),
            "review_comment": href(format!("{base}/repos/{full}/pulls/comments{{/number}}")),
            "commits": href(format!("{u}/commits")), "statuses": href(format!("{base}/repos/{full}/statuses/{}", p.head_sha))},
        "author_association": "MEMBER", "auto_merge": null, "draft": false,
    })
}

pub(super) fn pull_full(base: &str, r: &Repo, p: &Pull) -> Value {
    let mut v = pull_simple(base, r, p);
    let merged = p.merged_at.is_some();
    let extra = json!({
        "merged": merged, "mergeable": null, "rebaseable": null, "mergeable_state": if merged { "unknown" } else { "clean" },
        "merged_by": if merged { user(base, "merger") } else { Value::Null },
        "comments": 0, "review_comments": 0, "maintainer_can_modify": false,
        "commits": p.commits.len(), "additions": 1, "deletions": 0, "changed_files": p.files.len(),
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn review(base: &str, r: &Repo, p: &Pull, rv: &Review) -> Value {
    let full = format!("{}/{}", r.owner, r.name);
    let html = format!(
        "{base}/{full}/pull/{}#pullrequestreview-{}",
        p.number, rv.id
    );
    let pr = format!("{base}/repos/{full}/pulls/{}", p.number);
    json!({
        "id": rv.id, "node_id": format!("PRR_{}", rv.id), "user": user(base, &rv.login), "body": "",
        "state": rv.state, "html_url": html, "pull_request_url": pr,
        "_links": {"html": {"href": html}, "pull_request": {"href": pr}},
        "submitted_at": rv.submitted_at, "commit_id": rv.commit_id, "author_association": "MEMBER",
    })
}

fn diff_entry(base: &str, r: &Repo, path: &str) -> Value {
    let full = format!("{}/{}", r.owner, r.name);
    json!({"sha": "0000000000000000000000000000000000000000", "filename": path, "status": "modified", "additions": 1, "deletions": 0, "changes": 1,
        "blob_url": format!("{base}/{full}/blob/main/{path}"), "raw_url": format!("{base}/{full}/raw/main/{path}"),
        "contents_url": format!("{base}/repos/{full}/contents/{path}")})
}

pub(super) fn error(route: &str, status: u16, message: &str) -> Resp {
    Resp::json(
        status,
        route,
        json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
    )
}

// ---- routes -----------------------------------------------------------------------------------

fn handle(s: &mut State, base: &str, req: &Req) -> Resp {
    s.requests.push(format!(
        "{} {}{} auth={}",
        req.method,
        req.path,
        if req.query.is_empty() {
            String::new()
        } else {
            format!(
                "?{}",
                req.query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            )
        },
        req.header("authorization")
            .map_or("none", |a| a.split(' ').next().unwrap_or(""))
    ));
    s.headers.extend(req.headers.iter().cloned());
    s.rate_remaining = s.rate_remaining.saturating_sub(1);
    let remaining = s.rate_remaining;
    let resp = route(s, base, req);
    resp.header("X-RateLimit-Limit", "5000")
        .header("X-RateLimit-Remaining", remaining.to_string())
        .header("X-RateLimit-Reset", "1893456000")
        .header("X-RateLimit-Resource", "core")
        .header("X-GitHub-Api-Version-Selected", "2022-11-28")
}

fn route(s: &mut State, base: &str, req: &Req) -> Resp {
    let seg = req.segments();
    if let Some(i) = s
        .faults
        .iter()
        .position(|f| f.times > 0 && req.path.contains(&f.path))
    {
        s.faults[i].times -= 1;
        let tmpl = template(&seg);
        return match s.faults[i].kind {
            FaultKind::SecondaryRateLimit(after) => error(&tmpl, 403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
                .header("Retry-After", after.to_string()),
            FaultKind::ServerError(status) => error(&tmpl, status, "Server Error"),
        };
    }
    match (req.method.as_str(), seg.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => access_token(s, req, id),
        ("GET", ["repos", o, r, "installation"]) => installation(s, base, req, &format!("{o}/{r}")),
        ("GET", ["repos", o, r, rest @ ..]) => {
            let full = format!("{o}/{r}");
            let tmpl = template(&seg);
            let Some(repo) = s.repos.get(&full).cloned() else {
                return error(&tmpl, 404, "Not Found");
            };
            match authorized(s, req) {
                Err(()) if repo.private => return error(&tmpl, 404, "Not Found"),
                Err(()) => return error(&tmpl, 401, "Bad credentials"),
                Ok(()) => {}
            }
            repo_route(s, base, req, &repo, rest, &tmpl)
        }
        ("GET", ["orgs", org, "teams", team, "members"]) => {
            let tmpl = "/orgs/{org}/teams/{team_slug}/members";
            match s.teams.get(&format!("{org}/{team}")) {
                Some(members) => {
                    let users: Vec<Value> = members.iter().map(|m| user(base, m)).collect();
                    list(s, base, req, tmpl, &users)
                }
                None => error(tmpl, 404, "Not Found"),
            }
        }
        _ => error("/", 404, "Not Found"),
    }
}

/// The route template of a request path, as GitHub's description names it.
fn template(seg: &[&str]) -> String {
    match seg {
        ["repos", _, _] => "/repos/{owner}/{repo}".into(),
        ["repos", _, _, "compare", _] => "/repos/{owner}/{repo}/compare/{basehead}".into(),
        ["repos", _, _, "commits", _] => "/repos/{owner}/{repo}/commits/{ref}".into(),
        ["repos", _, _, "commits", _, "pulls"] => {
            "/repos/{owner}/{repo}/commits/{commit_sha}/pulls".into()
        }
        ["repos", _, _, "pulls", _] => "/repos/{owner}/{repo}/pulls/{pull_number}".into(),
        ["repos", _, _, "pulls", _, last] => {
            format!("/repos/{{owner}}/{{repo}}/pulls/{{pull_number}}/{last}")
        }
        ["repos", _, _, "contents", ..] => "/repos/{owner}/{repo}/contents/{path}".into(),
        ["repos", _, _, "rules", "branches", ..] => {
            "/repos/{owner}/{repo}/rules/branches/{branch}".into()
        }
        _ => format!("/{}", seg.join("/")),
    }
}

/// The bearer token, when it is one GitHub issued or knows.
fn authorized(s: &State, req: &Req) -> Result<(), ()> {
    let token = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .ok_or(())?;
    s.tokens.iter().any(|t| t == token).then_some(()).ok_or(())
}

/// Checks the App's JSON Web Token: RS256 over `header.claims` with the App's key, `iss` the App's id,
/// not expired.
fn app_jwt(s: &State, req: &Req) -> Result<(), &'static str> {
    let (app_id, key, _) = s.app.as_ref().ok_or("no app")?;
    let jwt = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .ok_or("no bearer")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("not a JWT");
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sig = b64.decode(signature).map_err(|_| "signature")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(format!("{header}.{claims}").as_bytes(), &sig)
        .map_err(|_| "bad signature")?;
    let header: Value =
        serde_json::from_slice(&b64.decode(header).map_err(|_| "header")?).map_err(|_| "header")?;
    let claims: Value =
        serde_json::from_slice(&b64.decode(claims).map_err(|_| "claims")?).map_err(|_| "claims")?;
    let now = chrono::Utc::now().timestamp();
    (header["alg"] == "RS256"
        && claims["iss"] == app_id.as_str()
        && claims["exp"]
            .as_i64()
            .is_some_and(|e| e > now && e <= now + 600))
    .then_some(())
    .ok_or("claims")
}

fn access_token(s: &mut State, req: &Req, id: &str) -> Resp {
    let tmpl = "/app/installations/{installation_id}/access_tokens";
    if app_jwt(s, req).is_err() {
        return error(tmpl, 401, "A JSON web token could not be decoded");
    }
    if s.app.as_ref().map(|a| a.2.to_string()) != Some(id.to_owned()) {
        return error(tmpl, 404, "Not Found");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let token = format!("ghs_emulated{:06}", s.tokens.len() + 1);
    s.tokens.push(token.clone());
    Resp::json(
        201,
        tmpl,
        json!({
            "token": token, "expires_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "permissions": body.get("permissions").cloned().unwrap_or(json!({})), "repository_selection": "all",
        }),
    )
}

fn installation(s: &State, base: &str, req: &Req, full: &str) -> Resp {
    let tmpl = "/repos/{owner}/{repo}/installation";
    if app_jwt(s, req).is_err() {
        return error(tmpl, 401, "A JSON web token could not be decoded");
    }
    let (Some((app_id, _, id)), Some(repo)) = (&s.app, s.repos.get(full)) else {
        return error(tmpl, 404, "Not Found");
    };
    Resp::json(
        200,
        tmpl,
        json!({
            "id": id, "account": user(base, &repo.owner), "repository_selection": "all",
            "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
            "repositories_url": format!("{base}/installation/repositories"), "html_url": format!("{base}/settings/installations/{id}"),
            "app_id": app_id.parse::<u64>().unwrap_or(1), "app_slug": "sluice", "target_id": id_of(&repo.owner), "target_type": "Organization",
            "permissions": {"pull_requests": "read", "contents": "read", "metadata": "read"}, "events": [],
            "created_at": T0, "updated_at": T0, "single_file_name": null, "suspended_by": null, "suspended_at": null,
        }),
    )
}

fn per_page(s: &State, req: &Req, default: usize) -> usize {
    req.q("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
        .min(s.max_per_page)
}

/// A paged list with `Link` headers.
fn list(s: &State, base: &str, req: &Req, tmpl: &str, items: &[Value]) -> Resp {
    let n: usize = req.q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let (items, pages) = page(items, n, per_page(s, req, 30));
    let mut resp = Resp::json(200, tmpl, Value::Array(items));
    if let Some(l) = link(base, &req.path, &req.query, n, pages) {
        resp = resp.header("Link", l);
    }
    resp
}

fn ancestors(r: &Repo, sha: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut todo = vec![sha.to_owned()];
    while let Some(x) = todo.pop() {
        if seen.contains(&x) {
            continue;
        }
        if let Some(c) = r.commits.iter().find(|c| c.sha == x) {
            todo.extend(c.parents.iter().cloned());
        }
        seen.push(x);
    }
    seen
}

fn repo_route(s: &State, base: &str, req: &Req, r: &Repo, rest: &[&str], tmpl: &str) -> Resp {
    let find_pull = |n: &str| r.pulls.iter().find(|p| p.number.to_string() == n);
    match rest {
        [] => Resp::json(200, tmpl, repository(base, r)),
        ["compare", basehead] => {
            let Some((b, h)) = basehead.split_once("...") else {
                return error(tmpl, 404, "Not Found");
            };
            let (from_base, from_head) = (ancestors(r, b), ancestors(r, h));
            let lookup = |x: &str| r.commits.iter().find(|c| c.sha == x);
            let (Some(bc), Some(_)) = (lookup(b), lookup(h)) else {
                return error(tmpl, 404, "Not Found");
            };
            let ahead: Vec<&Commit> = r
                .commits
                .iter()
                .filter(|c| from_head.contains(&c.sha) && !from_base.contains(&c.sha))
                .collect();
            let behind = r
                .commits
                .iter()
                .filter(|c| from_base.contains(&c.sha) && !from_head.contains(&c.sha))
                .count();
            let status = match (ahead.len(), behind) {
                (0, 0) => "identical",
                (_, 0) => "ahead",
                (0, _) => "behind",
                _ => "diverged",
            };
            let all: Vec<Value> = ahead.iter().map(|c| commit(base, r, c)).collect();
            let paged = req.q("page").is_some() || req.q("per_page").is_some();
            let (shown, next) = if paged {
                let n: usize = req.q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let (items, pages) = page(&all, n, per_page(s, req, 30));
                (items, link(base, &req.path, &req.query, n, pages))
            } else {
                // Without paging, GitHub returns at most 250 commits: the last ones of the comparison.
                (
                    all.iter()
                        .skip(all.len().saturating_sub(250))
                        .cloned()
                        .collect(),
                    None,
                )
            };
            let full = format!("{}/{}", r.owner, r.name);
            let mut resp = Resp::json(
                200,
                tmpl,
                json!({
                    "url": format!("{base}/repos/{full}/compare/{basehead}"), "html_url": format!("{base}/{full}/compare/{basehead}"),
                    "permalink_url": format!("{base}/{full}/compare/{basehead}"), "diff_url": format!("{base}/{full}/compare/{basehead}.diff"),
                    "patch_url": format!("{base}/{full}/compare/{basehead}.patch"), "base_commit": commit(base, r, bc),
                    "merge_base_commit": commit(base, r, bc), "status": status, "ahead_by": ahead.len(), "behind_by": behind,
                    "total_commits": ahead.len(), "commits": shown, "files": [],
                }),
            );
            if let Some(l) = next {
                resp = resp.header("Link", l);
            }
            resp
        }
        ["commits", sha] => match r.commits.iter().find(|c| c.sha == *sha) {
            Some(c) => Resp::json(200, tmpl, commit(base, r, c)),
            None => error(tmpl, 422, "No commit found for SHA"),
        },
        ["commits", sha, "pulls"] => {
            let on_default = r
                .commits
                .iter()
                .find(|c| c.sha == *sha)
                .is_some_and(|c| c.on_default);
            // On the default branch: the merged pull request that introduced the commit. Off it:
            // merged and open pull requests that contain it.
            let pulls: Vec<Value> = r
                .pulls
                .iter()
                .filter(|p| p.associated.iter().any(|a| a == sha))
                .filter(|p| !on_default || p.merged_at.is_some())
                .map(|p| pull_simple(base, r, p))
                .collect();
            list(s, base, req, tmpl, &pulls)
        }
        ["pulls", n] => match find_pull(n) {
            Some(p) => Resp::json(200, tmpl, pull_full(base, r, p)),
            None => error(tmpl, 404, "Not Found"),
        },
        ["pulls", n, "reviews"] => match find_pull(n) {
            Some(p) => list(
                s,
                base,
                req,
                tmpl,
                &p.reviews
                    .iter()
                    .map(|rv| review(base, r, p, rv))
                    .collect::<Vec<_>>(),
            ),
            None => error(tmpl, 404, "Not Found"),
        },
        ["pulls", n, "commits"] => match find_pull(n) {
            Some(p) => {
                let commits: Vec<Value> = p
                    .commits
                    .iter()
                    .filter_map(|sha| r.commits.iter().find(|c| &c.sha == sha))
                    .map(|c| commit(base, r, c))
                    .collect();
                list(s, base, req, tmpl, &commits)
            }
            None => error(tmpl, 404, "Not Found"),
        },
        ["pulls", n, "files"] => match find_pull(n) {
            Some(p) => list(
                s,
                base,
                req,
                tmpl,
                &p.files
                    .iter()
                    .map(|f| diff_entry(base, r, f))
                    .collect::<Vec<_>>(),
            ),
            None => error(tmpl, 404, "Not Found"),
        },
        ["contents", path @ ..] => {
            let path = path.join("/");
            let reff = req.q("ref").unwrap_or(&r.default_branch).to_owned();
            match r.files.get(&(reff.clone(), path.clone())) {
                Some(text) => {
                    let full = format!("{}/{}", r.owner, r.name);
                    let u = format!("{base}/repos/{full}/contents/{path}?ref={reff}");
                    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                    // GitHub wraps the base64 content at 60 characters.
                    let wrapped: Vec<String> = encoded
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    Resp::json(
                        200,
                        tmpl,
                        json!({
                            "type": "file", "encoding": "base64", "size": text.len(), "name": path.rsplit('/').next(),
                            "path": path, "content": wrapped.join("\n") + "\n", "sha": "0000000000000000000000000000000000000001", "url": u,
                            "git_url": null, "html_url": null, "download_url": null,
                            "_links": {"git": null, "html": null, "self": u},
                        }),
                    )
                }
                None => error(tmpl, 404, "Not Found"),
            }
        }
        ["rules", "branches", ..] => list(s, base, req, tmpl, &r.rules),
        _ => error(tmpl, 404, "Not Found"),
    }
}

/// A ruleset's pull-request rule as "get rules for a branch" shows it.
pub fn pull_request_rule(
    count: u64,
    dismiss_stale: bool,
    code_owner: bool,
    last_push: bool,
) -> Value {
    json!({
        "type": "pull_request", "ruleset_source_type": "Repository", "ruleset_source": "acme/deploy", "ruleset_id": 42,
        "parameters": {"required_approving_review_count": count, "dismiss_stale_reviews_on_push": dismiss_stale,
            "require_code_owner_review": code_owner, "require_last_push_approval": last_push,
            "required_review_thread_resolution": false, "allowed_merge_methods": ["merge", "squash", "rebase"]},
    })
}
