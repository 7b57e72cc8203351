//! An emulated GitLab REST API v4, serving what sluice's approvals check reads, with GitLab's
//! documented behaviour (GitLab REST docs: projects, repositories, commits, merge requests, merge
//! request approvals, notes):
//!
//! - a project is addressed by its id or its **`%2F`-encoded** path (`group%2Fsub%2Fproject`); a raw
//!   `/` in the path is another route (404);
//! - `merge_requests/:iid/approvals` lists who approves **now**, with no commit id: a reset on push
//!   (`reset_approvals_on_push`, in `merge_request_approval_setting` the opposite switch
//!   `retain_approvals_on_push`) removes approvals and leaves no record; approving writes the system
//!   note "approved this merge request"; each push makes a new diff version with its
//!   `head_commit_sha`;
//! - merged MRs carry `merge_commit_sha` (a merge commit), `squash_commit_sha` (a squash), or neither
//!   (fast-forward: the MR's `sha` is on the branch);
//! - lists page with `per_page` and `Link` headers (and `X-Next-Page`);
//! - a private project answers 404 without a valid `PRIVATE-TOKEN`; a wrong token is 401.
//!
//! Every response is checked against tests/fixtures/host/gitlab-rest.json (`Served::validate`).

use super::{link, page, serve, Req, Resp, Served};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const T0: &str = "2026-01-01T00:00:00.000Z";

#[derive(Clone, Default)]
pub struct Commit {
    pub id: String,
    pub parent_ids: Vec<String>,
    pub author: (String, String),
    pub committer: (String, String),
}

#[derive(Clone, Default)]
pub struct Version {
    pub id: u64,
    pub head_commit_sha: String,
    pub created_at: String,
}

#[derive(Clone, Default)]
pub struct Note {
    pub id: u64,
    pub body: String,
    pub author: String,
    pub created_at: String,
    pub system: bool,
}

#[derive(Clone, Default)]
pub struct Mr {
    pub iid: u64,
    pub author: String,
    /// opened, merged, closed.
    pub state: String,
    pub merged_at: Option<String>,
    pub sha: String,
    pub merge_commit_sha: Option<String>,
    pub squash_commit_sha: Option<String>,
    pub target_branch: String,
    pub commits: Vec<String>,
    /// Commits whose `commits/:sha/merge_requests` lists this MR.
    pub associated: Vec<String>,
    /// Usernames approving now.
    pub approved_by: Vec<String>,
    pub versions: Vec<Version>,
    pub notes: Vec<Note>,
    /// approval_state rules: (name, rule_type, approvals_required, eligible usernames).
    pub rules: Vec<(String, String, u64, Vec<String>)>,
}

#[derive(Clone, Default)]
pub struct Project {
    pub id: u64,
    pub path: String,
    pub private: bool,
    pub default_branch: String,
    pub commits: Vec<Commit>,
    pub mrs: Vec<Mr>,
    pub reset_approvals_on_push: bool,
    pub author_approval: bool,
}

#[derive(Default)]
pub struct State {
    pub projects: BTreeMap<String, Project>,
    pub tokens: Vec<String>,
    pub requests: Vec<String>,
    pub max_per_page: usize,
}

#[derive(Clone)]
pub struct GitLab {
    pub state: Arc<Mutex<State>>,
    pub served: Served,
    pub url: String,
}

impl GitLab {
    pub fn start(served: Served) -> GitLab {
        let state = Arc::new(Mutex::new(State {
            max_per_page: 100,
            ..State::default()
        }));
        let handler_state = Arc::clone(&state);
        let base = Arc::new(Mutex::new(String::new()));
        let handler_base = Arc::clone(&base);
        let url = serve(
            "gitlab",
            served.clone(),
            Arc::new(move |req| {
                let base = handler_base.lock().unwrap().clone();
                Some(handle(&mut handler_state.lock().unwrap(), &base, req))
            }),
        );
        *base.lock().unwrap() = url.clone();
        GitLab { state, served, url }
    }

    pub fn repo_url(&self, path: &str) -> String {
        format!("{}/{path}.git", self.url)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

fn user(base: &str, username: &str) -> Value {
    json!({"id": username.len() as u64 * 7 + 1, "username": username, "name": format!("{username} (name)"), "state": "active",
        "locked": false, "avatar_url": null, "web_url": format!("{base}/{username}")})
}

fn commit(base: &str, p: &Project, c: &Commit) -> Value {
    json!({"id": c.id, "short_id": &c.id[..8], "created_at": T0, "parent_ids": c.parent_ids, "title": "change",
        "message": "change", "author_name": c.author.0, "author_email": c.author.1, "authored_date": T0,
        "committer_name": c.committer.0, "committer_email": c.committer.1, "committed_date": T0,
        "trailers": {}, "extended_trailers": {}, "web_url": format!("{base}/{}/-/commit/{}", p.path, c.id)})
}

fn mr_basic(base: &str, p: &Project, m: &Mr) -> Value {
    json!({"id": m.iid * 100, "iid": m.iid, "project_id": p.id, "title": format!("change !{}", m.iid), "description": null,
        "state": m.state, "created_at": T0, "updated_at": T0, "merged_at": m.merged_at, "closed_at": null,
        "target_branch": m.target_branch, "source_branch": format!("feature-{}", m.iid), "author": user(base, &m.author),
        "source_project_id": p.id, "target_project_id": p.id, "sha": m.sha, "merge_commit_sha": m.merge_commit_sha,
        "squash_commit_sha": m.squash_commit_sha,
        "references": {"short": format!("!{}", m.iid), "relative": format!("!{}", m.iid), "full": format!("{}!{}", p.path, m.iid)},
        "web_url": format!("{base}/{}/-/merge_requests/{}", p.path, m.iid), "detailed_merge_status": "mergeable",
        "draft": false, "labels": [], "assignees": [], "reviewers": [], "squash": m.squash_commit_sha.is_some()})
}

fn error(route: &str, status: u16, message: &str) -> Resp {
    Resp::json(status, route, json!({"message": message}))
}

fn handle(s: &mut State, base: &str, req: &Req) -> Resp {
    s.requests.push(format!(
        "{} {} token={}",
        req.method,
        req.path,
        req.header("private-token").is_some()
    ));
    let seg = req.segments();
    let ["api", "v4", "projects", id, rest @ ..] = seg.as_slice() else {
        return error("/api/v4", 404, "404 Not Found");
    };
    let tmpl = template(rest);
    // The path must come %2F-encoded: a raw `/` makes other segments.
    let path = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    let Some(p) = s.projects.get(&path).cloned() else {
        return error(&tmpl, 404, "404 Project Not Found");
    };
    let token = req.header("private-token");
    match token {
        Some(t) if !s.tokens.iter().any(|x| x == t) => {
            return error(&tmpl, 401, "401 Unauthorized")
        }
        None if p.private => return error(&tmpl, 404, "404 Project Not Found"),
        _ => {}
    }
    route(s, base, req, &p, rest, &tmpl)
}

fn template(rest: &[&str]) -> String {
    let p = "/api/v4/projects/:id";
    match rest {
        [] => p.into(),
        ["repository", "compare"] => format!("{p}/repository/compare"),
        ["repository", "commits", _] => format!("{p}/repository/commits/:sha"),
        ["repository", "commits", _, "merge_requests"] => {
            format!("{p}/repository/commits/:sha/merge_requests")
        }
        ["merge_requests", _] => format!("{p}/merge_requests/:iid"),
        ["merge_requests", _, last] => format!("{p}/merge_requests/:iid/{last}"),
        other => format!("{p}/{}", other.join("/")),
    }
}

fn list(s: &State, base: &str, req: &Req, tmpl: &str, items: &[Value]) -> Resp {
    let n: usize = req.q("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per = req
        .q("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(20)
        .min(s.max_per_page);
    let (items, pages) = page(items, n, per);
    let mut resp = Resp::json(200, tmpl, Value::Array(items))
        .header("X-Page", n.to_string())
        .header("X-Total-Pages", pages.to_string());
    if let Some(l) = link(base, &req.path, &req.query, n, pages) {
        resp = resp
            .header("Link", l)
            .header("X-Next-Page", (n + 1).to_string());
    }
    resp
}

fn route(s: &State, base: &str, req: &Req, p: &Project, rest: &[&str], tmpl: &str) -> Resp {
    let mr = |iid: &str| p.mrs.iter().find(|m| m.iid.to_string() == iid);
    match rest {
        [] => Resp::json(
            200,
            tmpl,
            json!({"id": p.id, "name": p.path.rsplit('/').next(), "path": p.path.rsplit('/').next(),
            "path_with_namespace": p.path, "default_branch": p.default_branch, "web_url": format!("{base}/{}", p.path),
            "visibility": if p.private { "private" } else { "public" }, "merge_method": "merge"}),
        ),
        ["repository", "compare"] => {
            let (Some(from), Some(to)) = (req.q("from"), req.q("to")) else {
                return error(tmpl, 400, "400 Bad request - from, to are missing");
            };
            let reach = |sha: &str| {
                let mut seen: Vec<String> = Vec::new();
                let mut todo = vec![sha.to_owned()];
                while let Some(x) = todo.pop() {
                    if seen.contains(&x) {
                        continue;
                    }
                    if let Some(c) = p.commits.iter().find(|c| c.id == x) {
                        todo.extend(c.parent_ids.iter().cloned());
                    }
                    seen.push(x);
                }
                seen
            };
            let (a, b) = (reach(from), reach(to));
            let commits: Vec<Value> = p
                .commits
                .iter()
                .filter(|c| b.contains(&c.id) && !a.contains(&c.id))
                .map(|c| commit(base, p, c))
                .collect();
            let head = p
                .commits
                .iter()
                .find(|c| c.id == to)
                .map_or(Value::Null, |c| commit(base, p, c));
            Resp::json(
                200,
                tmpl,
                json!({"commit": head, "commits": commits, "diffs": [], "compare_timeout": false,
                "compare_same_ref": from == to, "web_url": format!("{base}/{}/-/compare/{from}...{to}", p.path)}),
            )
        }
        ["repository", "commits", sha] => match p.commits.iter().find(|c| c.id == *sha) {
            Some(c) => Resp::json(200, tmpl, commit(base, p, c)),
            None => error(tmpl, 404, "404 Commit Not Found"),
        },
        ["repository", "commits", sha, "merge_requests"] => {
            let mrs: Vec<Value> = p
                .mrs
                .iter()
                .filter(|m| m.associated.iter().any(|a| a == sha))
                .map(|m| mr_basic(base, p, m))
                .collect();
            list(s, base, req, tmpl, &mrs)
        }
        ["merge_requests", iid] => match mr(iid) {
            Some(m) => {
                let mut v = mr_basic(base, p, m);
                let first = m
                    .versions
                    .first()
                    .map_or_else(String::new, |v| v.head_commit_sha.clone());
                v["diff_refs"] = json!({"base_sha": first, "head_sha": m.sha, "start_sha": first});
                v["subscribed"] = json!(false);
                v["changes_count"] = json!(m.commits.len().to_string());
                Resp::json(200, tmpl, v)
            }
            None => error(tmpl, 404, "404 Not found"),
        },
        ["merge_requests", iid, "approvals"] => match mr(iid) {
            Some(m) => Resp::json(
                200,
                tmpl,
                json!({"id": m.iid * 100, "iid": m.iid, "project_id": p.id, "title": "change",
                "state": m.state, "created_at": T0, "updated_at": T0, "merge_status": "can_be_merged",
                "approved": !m.approved_by.is_empty(), "approvals_required": 0, "approvals_left": 0,
                "approved_by": m.approved_by.iter().map(|u| json!({"user": user(base, u)})).collect::<Vec<_>>()}),
            ),
            None => error(tmpl, 404, "404 Not found"),
        },
        ["merge_requests", iid, "approval_state"] => match mr(iid) {
            Some(m) => Resp::json(
                200,
                tmpl,
                json!({"approval_rules_overwritten": false, "rules": m.rules.iter().enumerate().map(|(i, (name, kind, req, eligible))| {
                let approved: Vec<&String> = m.approved_by.iter().filter(|u| eligible.contains(u)).collect();
                json!({"id": i + 1, "name": name, "rule_type": kind, "approvals_required": req,
                    "eligible_approvers": eligible.iter().map(|u| user(base, u)).collect::<Vec<_>>(),
                    "users": eligible.iter().map(|u| user(base, u)).collect::<Vec<_>>(), "groups": [],
                    "contains_hidden_groups": false, "section": "default", "overridden": false,
                    "approved_by": approved.iter().map(|u| user(base, u)).collect::<Vec<_>>(),
                    "approved": approved.len() as u64 >= *req, "code_owner": kind == "code_owner"})
            }).collect::<Vec<_>>()}),
            ),
            None => error(tmpl, 404, "404 Not found"),
        },
        ["merge_requests", iid, "versions"] => match mr(iid) {
            Some(m) => {
                // Newest first, as GitLab lists them.
                let versions: Vec<Value> = m.versions.iter().rev().map(|v| json!({"id": v.id, "head_commit_sha": v.head_commit_sha,
                    "base_commit_sha": "0000000000000000000000000000000000000000", "start_commit_sha": "0000000000000000000000000000000000000000",
                    "created_at": v.created_at, "merge_request_id": m.iid * 100, "state": "collected", "real_size": "1"})).collect();
                list(s, base, req, tmpl, &versions)
            }
            None => error(tmpl, 404, "404 Not found"),
        },
        ["merge_requests", iid, "notes"] => match mr(iid) {
            Some(m) => {
                let notes: Vec<Value> = m.notes.iter().map(|n| json!({"id": n.id, "type": null, "body": n.body, "author": user(base, &n.author),
                    "created_at": n.created_at, "updated_at": n.created_at, "system": n.system, "noteable_id": m.iid * 100,
                    "noteable_type": "MergeRequest", "project_id": p.id, "resolvable": false, "confidential": false,
                    "internal": false, "noteable_iid": m.iid})).collect();
                list(s, base, req, tmpl, &notes)
            }
            None => error(tmpl, 404, "404 Not found"),
        },
        ["merge_requests", iid, "commits"] => match mr(iid) {
            Some(m) => {
                let commits: Vec<Value> = m
                    .commits
                    .iter()
                    .filter_map(|sha| p.commits.iter().find(|c| &c.id == sha))
                    .map(|c| commit(base, p, c))
                    .collect();
                list(s, base, req, tmpl, &commits)
            }
            None => error(tmpl, 404, "404 Not found"),
        },
        ["approvals"] => Resp::json(
            200,
            tmpl,
            json!({"approvers": [], "approver_groups": [], "approvals_before_merge": 0,
            "reset_approvals_on_push": p.reset_approvals_on_push, "selective_code_owner_removals": false,
            "disable_overriding_approvers_per_merge_request": false, "merge_requests_author_approval": p.author_approval,
            "merge_requests_disable_committers_approval": false, "require_password_to_approve": false}),
        ),
        ["merge_request_approval_setting"] => {
            let v = |value: bool| json!({"value": value, "locked": false, "inherited_from": null});
            Resp::json(
                200,
                tmpl,
                json!({"allow_author_approval": v(p.author_approval), "allow_committer_approval": v(true),
                "allow_overrides_to_approver_list_per_merge_request": v(true), "retain_approvals_on_push": v(!p.reset_approvals_on_push),
                "selective_code_owner_removals": v(false), "require_password_to_approve": v(false), "require_reauthentication_to_approve": v(false)}),
            )
        }
        _ => error(tmpl, 404, "404 Not found"),
    }
}
