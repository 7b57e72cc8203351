//! GitLab's REST API v4: which requests tell the approvals of a change, what of each answer the
//! judgment reads, and how the answers read as an [`approval::Change`]. Project paths go into routes
//! `%2F`-encoded (`group%2Fsub%2Fproject`).
//!
//! ```text
//! GET /projects/{p}                                          default branch (when the app tracks HEAD)
//! GET /projects/{p}/repository/compare?from={base}&to={head} the commits, with parent_ids
//!   or GET /projects/{p}/repository/commits/{head}            a first sync: the head alone
//! GET /projects/{p}/repository/commits/{sha}/merge_requests  per commit: the merged MR
//! GET /projects/{p}/merge_requests/{iid}                     merged head, author
//! GET …/merge_requests/{iid}/approvals                       who approves now (a reset on push removes
//!                                                            approvals and leaves no record)
//! GET …/merge_requests/{iid}/versions                        each push: head_commit_sha, created_at
//! GET …/merge_requests/{iid}/notes                           "approved this merge request": when
//! GET …/merge_requests/{iid}/commits                         contributors (name and e-mail only)
//! GET …/merge_requests/{iid}/approval_state                  the rules, code-owner rules among them
//! GET /projects/{p}/approvals                                project settings (reset_approvals_on_push)
//! GET /projects/{p}/merge_request_approval_setting           settings (retain_approvals_on_push: the
//!                                                            opposite sense, same switch)
//! ```
//!
//! GitLab's approvals carry no commit id: an approval counts as given on the head of the MR's latest
//! version created at or before the approval's system note. A commit belongs to the merged MR whose
//! merge commit, squash commit, or (fast-forward) head it is, or to the MR all first-parent commits up
//! to that point are associated with (a rebase).

use super::{keep, keep_each, text, Gather, HostError, Req, Source, Target};
use crate::approval::{
    Change, ChangeCommit, Identity, Owner, PathOwners, Pull, Review, ReviewState,
};
use chrono::{DateTime, FixedOffset};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The system note GitLab writes for an approval.
const APPROVED_NOTE: &str = "approved this merge request";
const UNAPPROVED_NOTE: &str = "unapproved this merge request";

/// `%2F`-encoded project path (and anything else outside unreserved characters).
pub fn project_id(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, &UNRESERVED).to_string()
}

const UNRESERVED: percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn trim_project(v: &Value) -> Value {
    keep(v, &["path_with_namespace", "default_branch"])
}

fn trim_compare(v: &Value) -> Value {
    keep(
        v,
        &["commits[].id", "commits[].parent_ids", "compare_same_ref"],
    )
}

fn trim_commit(v: &Value) -> Value {
    keep(v, &["id", "parent_ids"])
}

fn trim_merge_requests(v: &Value) -> Value {
    keep_each(
        v,
        &[
            "iid",
            "state",
            "merged_at",
            "merge_commit_sha",
            "squash_commit_sha",
            "sha",
            "target_branch",
        ],
    )
}

fn trim_merge_request(v: &Value) -> Value {
    keep(
        v,
        &[
            "iid",
            "web_url",
            "state",
            "author.username",
            "merged_at",
            "sha",
            "merge_commit_sha",
            "squash_commit_sha",
            "target_branch",
        ],
    )
}

fn trim_approvals(v: &Value) -> Value {
    keep(
        v,
        &[
            "approved",
            "approved_by[].user.username",
            "approved_by[].user.name",
        ],
    )
}

fn trim_approval_state(v: &Value) -> Value {
    keep(
        v,
        &[
            "approval_rules_overwritten",
            "rules[].id",
            "rules[].name",
            "rules[].rule_type",
            "rules[].section",
            "rules[].approvals_required",
            "rules[].approved",
            "rules[].approved_by[].username",
            "rules[].eligible_approvers[].username",
        ],
    )
}

fn trim_versions(v: &Value) -> Value {
    keep_each(
        v,
        &["id", "head_commit_sha", "base_commit_sha", "created_at"],
    )
}

/// Only the system notes of approvals are kept: no comment text.
fn trim_notes(v: &Value) -> Value {
    let notes = v.as_array().into_iter().flatten().filter(|n| {
        n.get("system").and_then(Value::as_bool) == Some(true)
            && matches!(text(n, &["body"]), Some(APPROVED_NOTE | UNAPPROVED_NOTE))
    });
    Value::Array(
        notes
            .map(|n| {
                keep(
                    n,
                    &["id", "body", "system", "created_at", "author.username"],
                )
            })
            .collect(),
    )
}

fn trim_mr_commits(v: &Value) -> Value {
    keep_each(
        v,
        &[
            "id",
            "author_name",
            "author_email",
            "committer_name",
            "committer_email",
        ],
    )
}

fn trim_project_approvals(v: &Value) -> Value {
    if v.get("unreadable").is_some() {
        return keep(v, &["unreadable"]);
    }
    keep(
        v,
        &[
            "approvals_before_merge",
            "reset_approvals_on_push",
            "selective_code_owner_removals",
            "disable_overriding_approvers_per_merge_request",
            "merge_requests_author_approval",
            "merge_requests_disable_committers_approval",
            "require_password_to_approve",
        ],
    )
}

fn trim_approval_setting(v: &Value) -> Value {
    if v.get("unreadable").is_some() {
        return keep(v, &["unreadable"]);
    }
    keep(
        v,
        &[
            "allow_author_approval",
            "allow_committer_approval",
            "allow_overrides_to_approver_list_per_merge_request",
            "retain_approvals_on_push",
            "selective_code_owner_removals",
            "require_password_to_approve",
            "require_reauthentication_to_approve",
        ],
    )
}

/// The head alone, as the change.
async fn head_only<S: Source>(
    g: &mut Gather<'_, S>,
    path: String,
) -> Result<Vec<String>, HostError> {
    let c = g.get(Req::one(path.clone()), trim_commit).await?;
    let sha = text(&c, &["id"]).ok_or_else(|| bad(&format!("GET {path}"), "id"))?;
    Ok(vec![sha.to_owned()])
}

fn bad(request: &str, what: &str) -> HostError {
    HostError {
        request: request.to_owned(),
        message: format!("the answer has no {what}"),
        answered: true,
        status: None,
    }
}

fn time(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t).ok()
}

/// Asks GitLab about `t`.
///
/// # Errors
///
/// A request failed or an answer lacks what the judgment needs.
pub async fn gather<S: Source>(g: &mut Gather<'_, S>, t: &Target) -> Result<Change, HostError> {
    let project = format!("/projects/{}", project_id(&t.repository));
    let branch = if let Some(b) = t
        .branch
        .as_deref()
        .filter(|b| !b.is_empty() && *b != "HEAD")
    {
        b.to_owned()
    } else {
        {
            let p = g.get(Req::one(project.clone()), trim_project).await?;
            text(&p, &["default_branch"])
                .ok_or_else(|| bad(&format!("GET {project}"), "default_branch"))?
                .to_owned()
        }
    };
    let shas = first_parents(g, &project, t).await?;
    let mut associated: Vec<Vec<Value>> = Vec::new();
    for sha in &shas {
        let list = g
            .get(
                Req::all(format!(
                    "{project}/repository/commits/{sha}/merge_requests?per_page=100"
                )),
                trim_merge_requests,
            )
            .await?;
        associated.push(
            list.as_array()
                .into_iter()
                .flatten()
                .filter(|m| {
                    text(m, &["state"]) == Some("merged")
                        && text(m, &["target_branch"]) == Some(branch.as_str())
                })
                .cloned()
                .collect(),
        );
    }
    let commits = introduced_by(&shas, &associated);
    let mut iids: Vec<u64> = commits.iter().filter_map(|c| c.pull).collect();
    iids.sort_unstable();
    iids.dedup();
    let mut pulls = Vec::new();
    let mut states = Map::new();
    for iid in iids {
        let (pull, state) = merge_request(g, &project, iid, t.code_owners).await?;
        states.insert(iid.to_string(), state);
        pulls.push(pull);
    }
    let approvals = g
        .get_or_note(
            Req::one(format!("{project}/approvals")),
            trim_project_approvals,
        )
        .await;
    let setting = g
        .get_or_note(
            Req::one(format!("{project}/merge_request_approval_setting")),
            trim_approval_setting,
        )
        .await;
    Ok(Change {
        host: "gitlab".into(),
        repository: t.repository.clone(),
        branch,
        base: t.base.clone(),
        head: t.head.clone(),
        commits,
        pulls,
        rules_in_force: json!({
            "projectApprovals": approvals,
            "approvalSetting": setting,
            "mergeRequestRules": states,
        }),
    })
}

async fn first_parents<S: Source>(
    g: &mut Gather<'_, S>,
    project: &str,
    t: &Target,
) -> Result<Vec<String>, HostError> {
    let head_path = format!("{project}/repository/commits/{}", t.head);
    let Some(base) = t.base.as_deref().filter(|b| *b != t.head) else {
        return head_only(g, head_path).await;
    };
    let path = format!("{project}/repository/compare?from={base}&to={}", t.head);
    let request = format!("GET {path}");
    let cmp = g.get(Req::one(path), trim_compare).await?;
    let listed = cmp
        .get("commits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if listed.len() > t.max_commits {
        return Err(HostError {
            request,
            message: format!(
                "the change has {} commits, more than the {} judged at once (sluice serve --approvals-max-commits); none was judged",
                listed.len(),
                t.max_commits
            ),
            answered: true,
            status: None,
        });
    }
    let parents: BTreeMap<&str, Option<&str>> = listed
        .iter()
        .filter_map(|c| {
            let id = text(c, &["id"])?;
            let first = c.get("parent_ids")?.get(0).and_then(Value::as_str);
            Some((id, first))
        })
        .collect();
    let mut out = Vec::new();
    let mut at = Some(t.head.as_str());
    while let Some(sha) = at {
        if sha == base || out.len() > listed.len() {
            break;
        }
        let Some(parent) = parents.get(sha) else {
            break;
        };
        out.push(sha.to_owned());
        at = *parent;
    }
    if out.is_empty() {
        return head_only(g, head_path).await;
    }
    out.reverse();
    Ok(out)
}

/// The commit at which a merged MR entered the branch: its merge commit, else its squash commit, else
/// (fast-forward) its head.
fn entered_at(mr: &Value) -> Option<&str> {
    text(mr, &["merge_commit_sha"])
        .or_else(|| text(mr, &["squash_commit_sha"]))
        .or_else(|| text(mr, &["sha"]))
}

fn introduced_by(shas: &[String], associated: &[Vec<Value>]) -> Vec<ChangeCommit> {
    let iid = |m: &Value| m.get("iid").and_then(Value::as_u64);
    let lists = |k: usize, n: u64| associated[k].iter().any(|m| iid(m) == Some(n));
    shas.iter()
        .enumerate()
        .map(|(i, sha)| {
            let direct = associated[i]
                .iter()
                .find(|m| {
                    [
                        text(m, &["merge_commit_sha"]),
                        text(m, &["squash_commit_sha"]),
                    ]
                    .contains(&Some(sha.as_str()))
                        || entered_at(m) == Some(sha.as_str())
                })
                .and_then(iid);
            let rebased = || {
                associated[i].iter().find_map(|m| {
                    let n = iid(m)?;
                    let j = shas
                        .iter()
                        .position(|s| Some(s.as_str()) == entered_at(m))?;
                    (j > i && (i..=j).all(|k| lists(k, n))).then_some(n)
                })
            };
            ChangeCommit {
                sha: sha.clone(),
                pull: direct.or_else(rebased),
            }
        })
        .collect()
}

fn identity(c: &Value, who: &str) -> Identity {
    Identity {
        login: None,
        name: text(c, &[&format!("{who}_name")]).map(str::to_owned),
        email: text(c, &[&format!("{who}_email")]).map(str::to_owned),
    }
}

/// One merged MR, and its approval rules (kept among the rules in force).
async fn merge_request<S: Source>(
    g: &mut Gather<'_, S>,
    project: &str,
    iid: u64,
    code_owners: bool,
) -> Result<(Pull, Value), HostError> {
    let path = format!("{project}/merge_requests/{iid}");
    let request = format!("GET {path}");
    let mr = g.get(Req::one(path.clone()), trim_merge_request).await?;
    let head = text(&mr, &["sha"])
        .ok_or_else(|| bad(&request, "sha"))?
        .to_owned();
    let approvals = g
        .get(Req::one(format!("{path}/approvals")), trim_approvals)
        .await?;
    let versions = g
        .get(
            Req::all(format!("{path}/versions?per_page=100")),
            trim_versions,
        )
        .await?;
    let notes = g
        .get(
            Req::all(format!(
                "{path}/notes?sort=asc&order_by=created_at&per_page=100"
            )),
            trim_notes,
        )
        .await?;
    let commits = g
        .get(
            Req::all(format!("{path}/commits?per_page=100")),
            trim_mr_commits,
        )
        .await?;
    let state = g
        .get(
            Req::one(format!("{path}/approval_state")),
            trim_approval_state,
        )
        .await?;
    let reviews = approvals
        .get("approved_by")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let login = text(a, &["user", "username"])?.to_owned();
            let at = approval_time(&notes, &login);
            Some(Review {
                commit: at.as_deref().and_then(|at| head_at(&versions, at)),
                name: text(a, &["user", "name"]).map(str::to_owned),
                login,
                state: ReviewState::Approved,
                at: at.unwrap_or_default(),
            })
        })
        .collect();
    let commits = commits.as_array().cloned().unwrap_or_default();
    let mut contributors: Vec<Identity> = Vec::new();
    for c in &commits {
        for who in ["author", "committer"] {
            let id = identity(c, who);
            if !contributors.contains(&id) {
                contributors.push(id);
            }
        }
    }
    let pushers = commits
        .iter()
        .find(|c| text(c, &["id"]) == Some(head.as_str()))
        .map(|c| {
            let (a, b) = (identity(c, "author"), identity(c, "committer"));
            if a == b {
                vec![a]
            } else {
                vec![a, b]
            }
        })
        .unwrap_or_default();
    let owners = code_owners.then(|| code_owner_rules(&state));
    let rules = state.get("rules").cloned().unwrap_or(Value::Null);
    let pull = Pull {
        number: iid,
        url: text(&mr, &["web_url"]).unwrap_or_default().to_owned(),
        author: text(&mr, &["author", "username"])
            .unwrap_or_default()
            .to_owned(),
        merged_at: text(&mr, &["merged_at"]).unwrap_or_default().to_owned(),
        head,
        reviews,
        contributors,
        pushers,
        owners,
    };
    Ok((pull, rules))
}

/// When `login` last approved, from the system notes (oldest first).
fn approval_time(notes: &Value, login: &str) -> Option<String> {
    notes
        .as_array()?
        .iter()
        .rev()
        .find(|n| {
            text(n, &["body"]) == Some(APPROVED_NOTE)
                && text(n, &["author", "username"]).is_some_and(|u| u.eq_ignore_ascii_case(login))
        })
        .and_then(|n| text(n, &["created_at"]))
        .map(str::to_owned)
}

/// The head of the latest version created at or before `at`.
fn head_at(versions: &Value, at: &str) -> Option<String> {
    let at = time(at)?;
    versions
        .as_array()?
        .iter()
        .filter_map(|v| {
            Some((
                time(text(v, &["created_at"])?)?,
                text(v, &["head_commit_sha"])?,
            ))
        })
        .filter(|(created, _)| *created <= at)
        .max_by_key(|(created, _)| *created)
        .map(|(_, head)| head.to_owned())
}

/// GitLab's code-owner rules of the MR (from CODEOWNERS on the target branch, as GitLab matched them
/// to the changed files): each required section's pattern and who may approve it.
fn code_owner_rules(state: &Value) -> Vec<PathOwners> {
    state
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            text(r, &["rule_type"]) == Some("code_owner")
                && r.get("approvals_required")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    > 0
        })
        .map(|r| {
            let pattern = text(r, &["name"]).unwrap_or("").to_owned();
            let logins: Vec<String> = r
                .get("eligible_approvers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|u| text(u, &["username"]).map(str::to_owned))
                .collect();
            PathOwners {
                owners: vec![Owner {
                    name: format!("the code owners of {pattern}"),
                    logins: Some(logins),
                }],
                path: pattern,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_paths_are_percent_encoded() {
        assert_eq!(
            project_id("group/sub/my.project"),
            "group%2Fsub%2Fmy.project"
        );
    }

    #[test]
    fn an_approval_is_on_the_head_of_the_version_before_it() {
        let versions = json!([
            {"id": 2, "head_commit_sha": "new", "created_at": "2026-01-01T12:00:00.000Z"},
            {"id": 1, "head_commit_sha": "old", "created_at": "2026-01-01T10:00:00.000Z"}
        ]);
        assert_eq!(
            head_at(&versions, "2026-01-01T11:00:00Z").as_deref(),
            Some("old")
        );
        assert_eq!(
            head_at(&versions, "2026-01-01T12:00:00Z").as_deref(),
            Some("new")
        );
        assert_eq!(head_at(&versions, "2026-01-01T09:00:00Z"), None);
        let notes = trim_notes(&json!([
            {"id": 1, "body": "approved this merge request", "system": true, "created_at": "a", "author": {"username": "bob", "email": "x"}},
            {"id": 2, "body": "LGTM", "system": false, "created_at": "b", "author": {"username": "bob"}},
            {"id": 3, "body": "approved this merge request", "system": true, "created_at": "c", "author": {"username": "bob"}}
        ]));
        assert_eq!(notes.as_array().unwrap().len(), 2, "comments are not kept");
        assert_eq!(approval_time(&notes, "BOB").as_deref(), Some("c"));
    }

    #[test]
    fn merge_squash_fast_forward_and_rebase_merges() {
        let mr = |iid: u64, merge: Value, squash: Value, sha: &str| json!({"iid": iid, "state": "merged", "target_branch": "main", "merge_commit_sha": merge, "squash_commit_sha": squash, "sha": sha});
        let shas: Vec<String> = ["m", "s", "f", "r1", "r2", "x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let associated = vec![
            vec![mr(1, json!("m"), Value::Null, "h1")],
            vec![mr(2, Value::Null, json!("s"), "h2")],
            vec![mr(3, Value::Null, Value::Null, "f")],
            vec![mr(4, Value::Null, Value::Null, "r2")],
            vec![mr(4, Value::Null, Value::Null, "r2")],
            vec![],
        ];
        let got: Vec<Option<u64>> = introduced_by(&shas, &associated)
            .iter()
            .map(|c| c.pull)
            .collect();
        assert_eq!(got, [Some(1), Some(2), Some(3), Some(4), Some(4), None]);
    }
}
